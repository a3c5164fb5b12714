"""Queue a training workflow on a running ComfyUI server, follow it, optionally cancel it, and print
the trainer's result text. Standard library only: copy it anywhere (see docs/comfyui.md).

    python examples/queue_training_job.py examples/workflows/distilbert_classification.json \
        --server http://127.0.0.1:8188 --set "Train dataset.name=train.csv" [--cancel-after 60]

(train.csv: a file in the server's input folder, e.g. sent with POST /upload/image, type=input.)

The workflow may be an API-format file (Workflow > Export (API)) or a UI-format one (Workflow >
Save); a UI workflow is converted with the server's /object_info (widget values in input order,
links, Reroutes followed, notes and muted nodes left out). --set NODE.input=VALUE (NODE: a node id
or title; VALUE: JSON or a plain string) changes an input before queueing.

It uses ComfyUI's HTTP API: POST /prompt (queue), the websocket /ws?clientId=... (events:
progress, executing, executed, execution_success / _error / _interrupted, and this pack's
per-epoch "hf-text-finetune.node-text"), POST /interrupt (cancel), GET /history/<prompt_id>
(the results). GET /api/jobs/<prompt_id> is shown too where the server has it (newer
ComfyUI; 0.3.64 does not). Exit status: 0 done, 1 failed, 2 refused at queue time, 130 cancelled.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

NODE_TEXT_EVENT = "hf-text-finetune.node-text"  # older ComfyUI: the pack's own event
PROGRESS_TEXT_EVENT = "progress_text"  # ComfyUI's own node text (binary frame), decoded here
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MUTED, BYPASSED = 2, 4


def http(server: str, path: str, data=None, timeout: float = 30):
    """GET (no data) or POST JSON; returns (status, parsed JSON or text)."""
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(server + path, data=body,
                                     headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


class WebSocket:
    """The smallest client of RFC 6455 that reads ComfyUI's event stream (text frames)."""

    def __init__(self, server: str, path: str) -> None:
        url = urllib.parse.urlsplit(server)
        self.sock = socket.create_connection((url.hostname, url.port or 80), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {url.hostname}:{url.port or 80}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1024)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket refused: {head.splitlines()[0]!r}")
        self.buffer = head.split(b"\r\n\r\n", 1)[1]

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the websocket")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)  # control frames < 126

    def receive(self, timeout: float):
        """The next text message as parsed JSON, or None when nothing came within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            first, second = self._read(2)
        except socket.timeout:
            return None
        self.sock.settimeout(30)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack(">H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack(">Q", self._read(8))[0]
        payload, opcode = self._read(size), first & 0x0F
        if opcode == 0x9:  # ping
            self._send(0xA, payload)
        if opcode == 0x8:
            raise ConnectionError("the server closed the websocket")
        if opcode == 0x2:  # binary: a node's progress text (ComfyUI's send_progress_text); preview images skipped
            return _progress_text(payload)
        return json.loads(payload) if opcode == 0x1 else {}

    def close(self) -> None:
        try:
            self._send(0x8)
        finally:
            self.sock.close()


def _widget_names(info: dict) -> list[tuple[str, bool]]:
    """(widget input, followed by a control_after_generate value) in the node's input order."""
    inputs, order = info["input"], info.get("input_order") or {}
    names = []
    for section in ("required", "optional"):
        for name in order.get(section, list(inputs.get(section, {}))):
            spec = inputs[section][name]
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            if isinstance(kind, list) or kind in WIDGET_TYPES:
                control = kind == "INT" and (options.get("control_after_generate") or name in ("seed", "noise_seed"))
                names.append((name, bool(control)))
    return names


def _link_source(nodes: dict, links: dict, link_id: int):
    """[origin id, slot] of a link, through Reroutes; ("value", v) from a PrimitiveNode; None if muted."""
    _, origin, slot = links[link_id][:3]
    node = nodes[origin]
    if node["type"] == "Reroute":
        upstream = node["inputs"][0].get("link")
        return None if upstream is None else _link_source(nodes, links, upstream)
    if node["type"] == "PrimitiveNode":
        return ("value", node["widgets_values"][0])
    if node.get("mode") == BYPASSED:
        raise SystemExit(f"node {origin} is bypassed; export the workflow in API format (Workflow > Export (API))")
    return None if node.get("mode") == MUTED else [str(origin), slot]


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """API prompt of a UI workflow, from the server's node definitions."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY or node.get("mode") in (MUTED, BYPASSED):
            continue
        if node["type"] not in object_info:
            raise SystemExit(f"node {node['id']}: the server has no node type '{node['type']}' (pack not installed?)")
        values, inputs, position = node.get("widgets_values") or [], {}, 0
        for name, control in _widget_names(object_info[node["type"]]):
            if position < len(values):
                inputs[name] = values[position]
            position += 2 if control else 1
        for item in node.get("inputs", []):
            if item.get("link") is not None:
                source = _link_source(nodes, links, item["link"])
                if source is not None:
                    inputs[item["name"]] = source[1] if source[0] == "value" else source
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs,
                                   "_meta": {"title": node.get("title") or node["type"]}}
    return prompt


def apply_setting(prompt: dict, assignment: str) -> None:
    target, _, raw = assignment.partition("=")
    node, _, name = target.rpartition(".")
    matches = [nid for nid, n in prompt.items() if node in (nid, n.get("_meta", {}).get("title"), n["class_type"])]
    if len(matches) != 1 or not name:
        raise SystemExit(f"--set {assignment}: '{node}' matches {len(matches)} nodes; use a node id or title")
    try:
        prompt[matches[0]]["inputs"][name] = json.loads(raw)
    except ValueError:
        prompt[matches[0]]["inputs"][name] = raw


BINARY_TEXT = 3  # ComfyUI's BinaryEventTypes.TEXT: the node's progress text (the trainer's epoch lines)


def _progress_text(payload: bytes) -> dict:
    """A binary frame: event type (4 bytes), then for TEXT the node id's length (4 bytes), the id and the text."""
    if len(payload) < 8 or struct.unpack(">I", payload[:4])[0] != BINARY_TEXT:
        return {}
    size = struct.unpack(">I", payload[4:8])[0]
    node, text = payload[8:8 + size].decode("utf-8"), payload[8 + size:].decode("utf-8", "replace")
    return {"type": PROGRESS_TEXT_EVENT, "data": {"node": node, "text": text}}


class Follower:
    """Prints a job's events as they come; `ended` says how it ended (success, error, interrupted)."""

    def __init__(self, prompt_id: str, prompt: dict) -> None:
        self.prompt_id, self.prompt = prompt_id, prompt
        self.ended = ""
        self.running_since = None
        self._shown: dict[str, float] = {}  # node -> when its progress was last printed

    def title(self, node) -> str:
        meta = self.prompt.get(str(node), {})
        return f"{meta.get('_meta', {}).get('title', meta.get('class_type', '?'))} (node {node})"

    def on(self, kind: str, data: dict) -> None:
        if data.get("prompt_id") not in (None, self.prompt_id):
            return  # another client's job
        if kind == "execution_start":
            self.running_since = time.time()
        elif kind == "executing" and data.get("node"):
            print(f"running {self.title(data['node'])}", flush=True)
        elif kind == "progress":
            self._progress(data)
        elif kind in (NODE_TEXT_EVENT, PROGRESS_TEXT_EVENT) and data.get("text"):
            print(f"  {self.title(data['node'])}: {data['text'].splitlines()[-1]}", flush=True)
        elif kind == "execution_error":
            print(f"failed in {self.title(data.get('node_id'))}: {data.get('exception_message', '').strip()}")
            self.ended = "error"
        elif kind in ("execution_success", "execution_interrupted"):
            self.ended = "success" if kind == "execution_success" else "interrupted"

    def _progress(self, data: dict) -> None:
        node, value, total = data.get("node"), data.get("value", 0), data.get("max", 0)
        if value == total or time.time() - self._shown.get(node, 0) >= 2.0:  # every 2 s and at the end
            self._shown[node] = time.time()
            print(f"  {self.title(node)}: step {value}/{total}", flush=True)


def follow(ws: WebSocket, server: str, follower: Follower, cancel_after, timeout: float) -> None:
    """Read events until the job ends; POST /interrupt after `cancel_after` s of running, or on Ctrl-C."""
    queued, cancelled = time.time(), False
    while not follower.ended:
        if time.time() - queued > timeout:
            raise SystemExit(f"prompt {follower.prompt_id} did not finish in {timeout:.0f} s")
        started = follower.running_since
        if cancel_after is not None and started and not cancelled and time.time() - started >= cancel_after:
            http(server, "/interrupt", {"prompt_id": follower.prompt_id})
            print(f"cancel sent after {cancel_after:g} s (POST /interrupt)", flush=True)
            cancelled = True
        try:
            message = ws.receive(timeout=0.5)
        except KeyboardInterrupt:
            http(server, "/interrupt", {"prompt_id": follower.prompt_id})
            print("Ctrl-C: cancel sent (POST /interrupt)", flush=True)
            cancel_after, cancelled = 0, True
            continue
        if message:
            follower.on(message.get("type"), message.get("data") or {})


def print_results(server: str, follower: Follower) -> None:
    """The text every output node showed (the trainer's metrics), from GET /history/<prompt_id>."""
    _, history = http(server, f"/history/{follower.prompt_id}")
    entry = history.get(follower.prompt_id, {}) if isinstance(history, dict) else {}
    for node, output in entry.get("outputs", {}).items():
        for text in output.get("text", []):
            print(f"\n{follower.title(node)}:\n{text}")
    status, job = http(server, f"/api/jobs/{follower.prompt_id}")
    if status == 200 and isinstance(job, dict):  # newer ComfyUI only
        print(f"\n/api/jobs: {job.get('status')}")
    print(f"\nprompt {follower.prompt_id}: {follower.ended}")


def queue_prompt(server: str, prompt: dict, client_id: str):
    """POST /prompt; the prompt id, or None after printing why the server refused it."""
    status, answer = http(server, "/prompt", {"prompt": prompt, "client_id": client_id})
    if status == 200:
        print(f"queued prompt {answer['prompt_id']} (number {answer.get('number')})", flush=True)
        return answer["prompt_id"]
    error = answer.get("error", {}) if isinstance(answer, dict) else {"message": str(answer)}
    print(f"refused: {error.get('message')} {error.get('details', '')}".rstrip())
    for node, problem in (answer.get("node_errors") or {}).items() if isinstance(answer, dict) else ():
        for item in problem.get("errors", []):
            print(f"  node {node} ({problem.get('class_type')}): {item.get('message')}: {item.get('details')}")
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Queue a workflow on ComfyUI, follow it, print the results.")
    parser.add_argument("workflow", help="workflow JSON: API format, or UI format (converted with /object_info)")
    parser.add_argument("--server", default="http://127.0.0.1:8188", help="ComfyUI address (default %(default)s)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="NODE.input=VALUE",
                        help="change an input before queueing; NODE is a node id or title (repeatable)")
    parser.add_argument("--cancel-after", type=float, metavar="SECONDS",
                        help="cancel (POST /interrupt) this many seconds after the job starts running")
    parser.add_argument("--timeout", type=float, default=24 * 3600, help="give up after this many seconds")
    args = parser.parse_args(argv)
    server = args.server.rstrip("/")
    with open(args.workflow, encoding="utf-8") as file:
        workflow = json.load(file)
    if isinstance(workflow.get("nodes"), list) and "links" in workflow:
        _, object_info = http(server, "/object_info", timeout=120)
        workflow = ui_to_api(workflow, object_info)
    for assignment in args.settings:
        apply_setting(workflow, assignment)
    client_id = uuid.uuid4().hex
    ws = WebSocket(server, f"/ws?clientId={client_id}")  # before queueing: no event is missed
    try:
        prompt_id = queue_prompt(server, workflow, client_id)
        if prompt_id is None:
            return 2
        follower = Follower(prompt_id, workflow)
        follow(ws, server, follower, args.cancel_after, args.timeout)
    finally:
        ws.close()
    print_results(server, follower)
    return {"success": 0, "error": 1, "interrupted": 130}[follower.ended]


if __name__ == "__main__":
    sys.exit(main())
