"""Drive a real ComfyUI server for the integration tests, through the shared harness.

`comfy_run.py` (../shared/comfy) links the pack into ComfyUI, starts the server, converts
UI workflows to API prompts exactly as the frontend does and runs them. Its console shows
progress only every 2 s, so the tests that need every websocket event (progress per step,
Cancel) queue the converted prompt themselves and record all events here.
Standard library only: it runs under any python3, like the harness.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(os.environ.get("COMFY_HARNESS_DIR", ROOT.parent / "shared" / "comfy"))
STATE_HOME = Path(os.environ.get("COMFY_HARNESS_HOME")
                  or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "comfy-harness")
COMFY_DIR = Path(os.environ.get("COMFY_DIR") or STATE_HOME / "comfyui")  # the ComfyUI work tree the harness runs

def pack_nodes() -> tuple[str, ...]:
    """Every node class the pack registers (the server must register all of them)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import run_workflow

    return tuple(run_workflow.load_pack().NODE_CLASS_MAPPINGS)


PACK_NODES = pack_nodes()

METRIC_LINE = re.compile(r"epoch (\d+)/(\d+) \[(\w+)\]: train loss ([\d.]+)"
                         r"(?:, val loss ([\d.]+), val accuracy ([\d.]+)%)?")


def harness_ready() -> Optional[str]:
    """None where the shared ComfyUI harness is beside the checkout (it bundles its own ComfyUI
    snapshot, so CI runs these tests too), else why the tests are skipped."""
    if not (HARNESS / "comfy_run.py").exists():
        return f"real-ComfyUI test: no ComfyUI harness at {HARNESS}"
    return None


def set_up_harness() -> None:
    """ComfyUI's work tree and venv from the bundled snapshot (or COMFY_MIRROR), then this pack's
    requirements into that venv, as a user does with ComfyUI's Python. Both are no-ops once done."""
    subprocess.run(["bash", str(HARNESS / "comfy_setup.sh")], check=True, capture_output=True)
    venv = Path(os.environ.get("COMFY_VENV") or STATE_HOME / "venv")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements.txt")],
                   check=True, capture_output=True)


def harness_module():
    """comfy_run.py as a module, for its websocket client and HTTP helper."""
    spec = importlib.util.spec_from_file_location("comfy_harness_run", HARNESS / "comfy_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXTRA_PATHS_ENV = "HF_TEXT_FINETUNE_EXTRA_PATHS"  # folders the server may read besides its own (modules/local_paths.py)
REMOTE_CODE_ENV = "HF_TEXT_FINETUNE_TRUST_REMOTE_CODE"


def pytest_temp_root(path: Path) -> Path:
    """The pytest-<N> folder that holds `path` (every tmp_path of the session lies in it), else its parent."""
    path = Path(path).resolve()
    return next((folder for folder in path.parents if re.fullmatch(r"pytest-\d+", folder.name)), path.parent)


def comfy_run(*args: str, timeout: float = 900, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    return subprocess.run([sys.executable, "-B", str(HARNESS / "comfy_run.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def overrides(pairs: dict[str, object]) -> list[str]:
    args = []
    for target, value in pairs.items():
        args += ["--override", f"{target}={value if isinstance(value, str) else json.dumps(value)}"]
    return args


class ComfyServer:
    """One ComfyUI server with the pack linked, started by the harness and kept running.

    Inside a server the pack reads local files only from ComfyUI's folders and those its owner lists in
    $HF_TEXT_FINETUNE_EXTRA_PATHS. The tests' files live in pytest's temp folders, so by default the server
    may also read the session's pytest temp root; `env` replaces or adds variables (an EXTRA_PATHS_ENV of
    "" starts a server confined to its own folders)."""

    def __init__(self, workdir: Path, env: Optional[dict[str, str]] = None, server_args: str = "") -> None:
        self.workdir = Path(workdir)
        self.env = {EXTRA_PATHS_ENV: str(pytest_temp_root(self.workdir)), **(env or {})}
        self.server_args = server_args  # more ComfyUI arguments, e.g. "--input-directory DIR"
        self.url = ""
        self.pid = 0
        self.start_output = ""

    def start(self) -> "ComfyServer":
        started = comfy_run("--ext", str(ROOT), "--expect-nodes", ",".join(PACK_NODES), "--keep-server",
                            "--workdir", str(self.workdir), *(["--server-args", self.server_args] if self.server_args else []),
                            timeout=300, env=self.env)
        self.start_output = started.stdout + started.stderr
        found = re.search(r"server left running: (\S+) \(pid (\d+)\)", self.start_output)
        if found:
            self.url, self.pid = found.group(1), int(found.group(2))
        if started.returncode != 0 or not found:
            self.stop()
            raise RuntimeError(f"ComfyUI did not start with the pack (exit {started.returncode}):\n"
                               + self.start_output[-4000:])
        return self

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """Stop the server the harness started for us (its own pid only)."""
        if not self.pid:
            return
        for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.time() + wait
            while time.time() < deadline:
                try:
                    if os.waitpid(self.pid, os.WNOHANG)[0]:
                        return
                except ChildProcessError:  # not our child: poll for it to vanish
                    if not self.alive():
                        return
                time.sleep(0.2)

    def run_workflow(self, workflow: Path, workdir: Path, settings: dict[str, object],
                     timeout: float = 600) -> subprocess.CompletedProcess:
        """Convert and run a workflow file the way comfy_run.py does, on this server."""
        return comfy_run("--server-url", self.url, "--workflow", str(workflow), "--workdir", str(workdir),
                         "--timeout", str(timeout), *overrides(settings), timeout=timeout + 120)

    def convert(self, workflow: Path, out: Path, settings: dict[str, object]) -> dict:
        """The API prompt the harness (a copy of the frontend's graphToPrompt) makes of a UI workflow."""
        done = comfy_run("--server-url", self.url, "--workflow", str(workflow), "--workdir", str(out.parent),
                         "--convert-only", str(out), *overrides(settings), timeout=120)
        if done.returncode != 0:
            raise RuntimeError(done.stdout[-3000:])
        return json.loads(out.read_text())

    def queue(self, prompt: dict, on_event: Optional[Callable[[str, dict, float], None]] = None,
              timeout: float = 600) -> list[tuple[float, str, dict]]:
        """Queue an API prompt and return every websocket event of it as (seconds, type, data),
        up to execution_success, execution_error or execution_interrupted."""
        harness = harness_module()
        host, port = self.url.split("//")[1].split(":")
        client_id = uuid.uuid4().hex
        socket = harness.WebSocket(host, int(port), f"/ws?clientId={client_id}")
        try:
            status, answer = harness.http(self.url, "/prompt", {"prompt": prompt, "client_id": client_id})
            if status != 200:
                return [(0.0, "prompt_rejected", answer if isinstance(answer, dict) else {"text": answer})]
            prompt_id = answer["prompt_id"]
            started, events = time.time(), []
            while time.time() - started < timeout:
                message = socket.recv(timeout=1.0)
                if message is None or message[0] not in (0x1, 0x2):
                    continue
                if message[0] == 0x2:  # binary: PromptServer.send_progress_text is event type 3
                    kind, data = "progress_text", progress_text_event(message[1])
                    if data is None:
                        continue
                else:
                    parsed = json.loads(message[1])
                    kind, data = parsed.get("type"), parsed.get("data") or {}
                if data.get("prompt_id") not in (None, prompt_id):
                    continue
                now = time.time() - started
                events.append((now, kind, data))
                if on_event:
                    on_event(kind, data, now)
                if kind in ("execution_success", "execution_error", "execution_interrupted"):
                    return events
            raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout} s")
        finally:
            socket.close()

    def interrupt(self) -> None:
        harness_module().http(self.url, "/interrupt", {})

    def get(self, path: str):
        return harness_module().http(self.url, path)

    def upload(self, path: Path, subfolder: str = "", name: Optional[str] = None) -> dict:
        """POST a file to ComfyUI's core /upload/image with type=input, as the browser's upload does."""
        boundary = uuid.uuid4().hex
        fields = [("type", "input")] + ([("subfolder", subfolder)] if subfolder else [])
        body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                        for k, v in fields)
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name or path.name}"\r\n'
                 "Content-Type: text/csv\r\n\r\n").encode() + Path(path).read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(f"{self.url}/upload/image", data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def view(self, image: dict) -> bytes:
        """The bytes of an image a node showed (a `ui.images` entry), fetched as the frontend does."""
        query = urllib.parse.urlencode({k: image.get(k, "") for k in ("filename", "subfolder", "type")})
        with urllib.request.urlopen(f"{self.url}/view?{query}", timeout=30) as answer:
            return answer.read()


def progress_text_event(payload: bytes) -> Optional[dict]:
    """{"node", "text"} of a binary progress-text frame (ComfyUI's BinaryEventTypes.TEXT = 3: event type,
    node id length, node id, text), else None."""
    if len(payload) < 8 or int.from_bytes(payload[:4], "big") != 3:
        return None
    length = int.from_bytes(payload[4:8], "big")
    return {"node": payload[8:8 + length].decode(), "text": payload[8 + length:].decode()}


def metrics_from_text(text: str) -> list[tuple]:
    """(epoch, phase, train loss, val loss, val accuracy %) per epoch line of a trainer's summary;
    timings are left out, so two runs compare equal exactly when their numbers are."""
    return [(int(m.group(1)), m.group(3), float(m.group(4)),
             float(m.group(5)) if m.group(5) else None, float(m.group(6)) if m.group(6) else None)
            for m in METRIC_LINE.finditer(text)]


def trainer_text(history: dict, node_id: str) -> str:
    return "\n".join(history["outputs"][node_id]["text"])
