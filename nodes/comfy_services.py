"""The one adapter to ComfyUI's services; without ComfyUI each one degrades to plain Python.

Inside ComfyUI: its progress bar (with previews) on the running node, its Cancel button,
its preferred device, freeing its other models' memory before training, its output folder
and `text_classifiers` models folders, its temp folder for the pictures shown on a node, its
input (and `datasets`) folder and `hf_text_encoders` models folders for the lists, and the
rules every local path of a prompt is held to (`path_rules`: only ComfyUI's folders and those
in $HF_TEXT_FINETUNE_EXTRA_PATHS; remote code only with $HF_TEXT_FINETUNE_TRUST_REMOTE_CODE=1).
Outside (tests, the headless runner): progress goes to the log and to listeners, Ctrl+C
cancels, the output folder is $HF_TEXT_FINETUNE_OUTPUT_DIR or ./output, the models folder
$HF_TEXT_FINETUNE_MODELS_DIR or ./models/text_classifiers, names are looked up in the working
directory, any path may be read, and nodes show no pictures.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import torch

from ..modules.data.local_files import working_directory
from ..modules.host import RuntimeHooks
from ..modules.local_paths import EXTRA_PATHS_ENV, REMOTE_CODE_ENV, Folders, PathRules, outermost
from ..modules.results.plots import render_training_curves

log = logging.getLogger(__name__)
PACK_NAME = "HF Text Fine-Tune"

OUTPUT_DIR_ENV = "HF_TEXT_FINETUNE_OUTPUT_DIR"
MODELS_DIR_ENV = "HF_TEXT_FINETUNE_MODELS_DIR"
MODEL_FOLDER = "text_classifiers"  # ComfyUI models folder type of saved classifiers (extra_model_paths.yaml key)
ENCODER_FOLDER = "hf_text_encoders"  # models folder type of base models: Hugging Face folders holding config.json
DATASETS_FOLDER = "datasets"  # ComfyUI's own training-data folder type, where the running ComfyUI has one
# The server's owner decides these when starting ComfyUI; a queued prompt cannot change them.
EXTRA_ROOTS = tuple(Path(p).expanduser() for p in os.environ.get(EXTRA_PATHS_ENV, "").split(os.pathsep) if p.strip())
REMOTE_CODE_ALLOWED = os.environ.get(REMOTE_CODE_ENV, "").strip().lower() in ("1", "true", "yes")
ProgressListener = Callable[[int, int, Optional[Any]], None]
StatusListener = Callable[[dict], None]  # {"event": "loss", epoch, epochs, train_loss} or {"event": "epoch", text}
NODE_TEXT_EVENT = "hf-text-finetune.node-text"  # web/js/show_node_text.js listens for it


def comfy_available() -> bool:
    try:
        import comfy.model_management  # noqa: F401
        import comfy.utils  # noqa: F401
    except ImportError:
        return False
    return True


def _folder_paths() -> Optional[Any]:
    """ComfyUI's `folder_paths` module, or None outside ComfyUI."""
    try:
        import folder_paths
    except ImportError:
        return None
    return folder_paths


class ComfyHooks(RuntimeHooks):
    wants_previews = True  # ComfyUI shows progress-bar previews (the live training plot)

    def __init__(self, node_id: Optional[str] = None) -> None:
        import comfy.model_management as mm
        import comfy.utils

        self._mm, self._utils, self._node_id = mm, comfy.utils, node_id
        self._bar: Any = None

    def progress(self, done: int, total: int, preview: Optional[Any] = None) -> None:
        if self._bar is None:
            self._bar = self._utils.ProgressBar(total, node_id=self._node_id)
        self._bar.update_absolute(done, total, ("PNG", preview, 800) if preview is not None else None)

    def check_interrupted(self) -> None:
        self._mm.throw_exception_if_processing_interrupted()

    def epoch_finished(self, text: str) -> None:
        """Send the metrics so far to the browser that queued the prompt, as ComfyUI's own node progress
        text (PromptServer.send_progress_text, where the running ComfyUI has it) or else as the pack's
        event; the pack's JS puts them in the node's text box while it trains."""
        server = _prompt_server()
        if server is None or self._node_id is None:
            return
        client = getattr(server, "client_id", None)
        if callable(getattr(server, "send_progress_text", None)):
            server.send_progress_text(text, str(self._node_id), client)
            return
        message = {"node": str(self._node_id), "text": text, "prompt_id": getattr(server, "last_prompt_id", None)}
        server.send_sync(NODE_TEXT_EVENT, message, client)

    def preferred_device(self) -> torch.device:
        return self._mm.get_torch_device()

    def training_preview(self, epochs, step_losses, title):
        return render_training_curves(epochs, step_losses, title)

    def prepare_for_training(self, device: torch.device, bytes_needed: int = 0) -> None:
        """Unload only as many of ComfyUI's models as the run needs room for (all when unknown)."""
        if device.type == "cpu":
            return
        if bytes_needed > 0 and hasattr(self._mm, "free_memory"):
            log.info("asking ComfyUI for %.2f GB of %s memory for training", bytes_needed / 1e9, device)
            self._mm.free_memory(bytes_needed, device)
        else:
            self._mm.unload_all_models()
        self._mm.soft_empty_cache()


class HeadlessHooks(RuntimeHooks):
    """Logs progress every 10% (every step of a tiny run would be noise) with the running loss and
    the time left, and tells each listener (the headless runner's progress bar)."""

    def __init__(self, listeners: tuple[ProgressListener, ...] = (),
                 status_listeners: tuple[StatusListener, ...] = ()) -> None:
        self._last_decile = -1
        self._listeners, self._status_listeners = listeners, status_listeners
        self._train_loss: Optional[float] = None
        self._started: Optional[tuple[float, int]] = None  # (time, steps done) at the first report

    def progress(self, done: int, total: int, preview: Optional[Any] = None) -> None:
        for listener in self._listeners:
            listener(done, total, preview)
        if self._started is None:
            self._started = (time.perf_counter(), done)
        decile = int(10 * done / max(total, 1))
        if decile != self._last_decile:
            self._last_decile = decile
            log.info("progress %d/%d steps (%d%%)%s", done, total, 100 * done // max(total, 1),
                     self._loss_and_time_left(done, total))

    def _loss_and_time_left(self, done: int, total: int) -> str:
        text = "" if self._train_loss is None else f", train loss {self._train_loss:.4f}"
        since, first = self._started or (0.0, 0)
        if done > first and done < total:
            left = (time.perf_counter() - since) / (done - first) * (total - done)
            text += f", about {left:.0f} s left"
        return text

    def training_update(self, epoch: int, epochs: int, train_loss: float) -> None:
        self._train_loss = train_loss
        for listener in self._status_listeners:
            listener({"event": "loss", "epoch": epoch, "epochs": epochs, "train_loss": train_loss})

    def epoch_finished(self, text: str) -> None:
        for listener in self._status_listeners:
            listener({"event": "epoch", "text": text})


_headless_listeners: list[ProgressListener] = []


def add_progress_listener(listener: ProgressListener) -> None:
    """The headless runner and tests observe progress through this (runs started afterwards)."""
    _headless_listeners.append(listener)


def remove_progress_listener(listener: ProgressListener) -> None:
    if listener in _headless_listeners:
        _headless_listeners.remove(listener)


_status_listeners: list[StatusListener] = []


def add_status_listener(listener: StatusListener) -> None:
    """The headless runner's bar hears the running loss and each finished epoch through this."""
    _status_listeners.append(listener)


def remove_status_listener(listener: StatusListener) -> None:
    if listener in _status_listeners:
        _status_listeners.remove(listener)


def _prompt_server() -> Optional[Any]:
    """ComfyUI's running PromptServer, or None outside ComfyUI (or before its server exists)."""
    try:
        from server import PromptServer
    except ImportError:
        return None
    return getattr(PromptServer, "instance", None)


def runtime_hooks(node_id: Optional[str] = None) -> RuntimeHooks:
    """ComfyUI's services for the running node, or the headless ones."""
    if comfy_available():
        return ComfyHooks(node_id)
    return HeadlessHooks(tuple(_headless_listeners), tuple(_status_listeners))


def output_directory() -> Path:
    """ComfyUI's output folder; outside ComfyUI $HF_TEXT_FINETUNE_OUTPUT_DIR, else ./output."""
    folder_paths = _folder_paths()
    if folder_paths is None:
        return Path(os.path.abspath(os.environ.get(OUTPUT_DIR_ENV) or "output"))
    return Path(folder_paths.get_output_directory())


def register_model_folder() -> None:
    """Register models/text_classifiers (saved classifiers) and models/hf_text_encoders (base models) with
    ComfyUI, so extra_model_paths.yaml can add folders to them (`text_classifiers: path/to/folder`,
    `hf_text_encoders: ...`). Idempotent; nothing to do outside ComfyUI."""
    folder_paths = _folder_paths()
    if folder_paths is not None:
        for folder_type in (MODEL_FOLDER, ENCODER_FOLDER):
            folder_paths.add_model_folder_path(folder_type, os.path.join(folder_paths.models_dir, folder_type))


def _labelled(folder_type: str, label: str) -> Folders:
    """ComfyUI's folders of one type as (label, folder): `label` for the first, `label_2`, ... after."""
    folder_paths = _folder_paths()
    if folder_paths is None or folder_type not in getattr(folder_paths, "folder_names_and_paths", {}):
        return ()
    return tuple((label if index == 0 else f"{label}_{index + 1}", Path(path))
                 for index, path in enumerate(folder_paths.get_folder_paths(folder_type)))


def data_folders() -> Folders:
    """Where a bare data file name is looked up and listed from: ComfyUI's input folder (browser uploads
    land there) and its `datasets` folder where it has one; outside ComfyUI the working directory."""
    folder_paths = _folder_paths()
    if folder_paths is None:
        return working_directory()
    return (("input", Path(folder_paths.get_input_directory())),) + _labelled(DATASETS_FOLDER, "datasets")


def encoder_folders() -> Folders:
    """Where base model folders are looked up and listed from: models/hf_text_encoders and what
    extra_model_paths.yaml adds; outside ComfyUI ./models/hf_text_encoders."""
    if _folder_paths() is None:
        return (("models/" + ENCODER_FOLDER, Path(os.path.abspath(os.path.join("models", ENCODER_FOLDER)))),)
    register_model_folder()
    return _labelled(ENCODER_FOLDER, "models/" + ENCODER_FOLDER)


def path_rules() -> PathRules:
    """Inside a ComfyUI server: local paths must resolve into its input, output, temp or models folders, the
    folders of the pack's model types and of `datasets`, or a folder the owner listed in
    $HF_TEXT_FINETUNE_EXTRA_PATHS; remote code only with $HF_TEXT_FINETUNE_TRUST_REMOTE_CODE=1. Outside
    (the headless runner, the user's own process) anything goes."""
    folder_paths = _folder_paths()
    if folder_paths is None:
        return PathRules()
    register_model_folder()
    allowed = (("input", Path(folder_paths.get_input_directory())), ("output", Path(folder_paths.get_output_directory())),
               ("temp", Path(folder_paths.get_temp_directory())), ("models", Path(folder_paths.models_dir)))
    allowed += (_labelled(ENCODER_FOLDER, "models/" + ENCODER_FOLDER) + _labelled(MODEL_FOLDER, "models/" + MODEL_FOLDER)
                + _labelled(DATASETS_FOLDER, "datasets"))
    allowed += tuple((EXTRA_PATHS_ENV, root) for root in EXTRA_ROOTS)
    return PathRules(allowed=outermost(allowed), remote_code=REMOTE_CODE_ALLOWED)


def model_folders() -> list[Path]:
    """Every text_classifiers folder, the one saves go to first: ComfyUI's models/text_classifiers and
    those extra_model_paths.yaml adds; outside ComfyUI $HF_TEXT_FINETUNE_MODELS_DIR or ./models/text_classifiers."""
    folder_paths = _folder_paths()
    if folder_paths is None:
        return [Path(os.path.abspath(os.environ.get(MODELS_DIR_ENV) or os.path.join("models", MODEL_FOLDER)))]
    register_model_folder()
    return [Path(path) for path in folder_paths.get_folder_paths(MODEL_FOLDER)]


def save_root(save_to: str) -> Path:
    """The folder the Save node writes into: the output folder, or the first text_classifiers folder."""
    return model_folders()[0] if save_to == MODEL_FOLDER else output_directory()


def saved_model_roots() -> dict[str, Path]:
    """Folders the Load node lists saved classifiers from: {label: path}. The output folder, then each
    text_classifiers folder: `models` for the first (the label older workflows saved), `models_2`, ..."""
    roots = {"output": output_directory()}
    for index, folder in enumerate(model_folders()):
        roots["models" if index == 0 else f"models_{index + 1}"] = folder
    return roots


def save_preview_images(images: list, prefix: str = "hf_text_finetune") -> list[dict]:
    """Save PIL images to ComfyUI's temp folder, as its Preview Image node does, and return
    the `ui.images` entries that show them on the node; [] outside ComfyUI."""
    folder_paths = _folder_paths()
    if folder_paths is None:
        return []
    temp = folder_paths.get_temp_directory()
    suffix = "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))  # as ComfyUI's
    width, height = images[0].size
    folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(prefix + suffix, temp, width, height)
    entries = []
    for offset, image in enumerate(images):
        name = f"{filename}_{counter + offset:05}_.png"
        image.save(os.path.join(folder, name), compress_level=1)
        entries.append({"filename": name, "subfolder": subfolder, "type": "temp"})
    return entries


# --- other packs registering this pack's node ids ------------------------------------------------------------

_warned_packs: set[str] = set()


def _comfy_node_registry() -> Optional[Mapping[str, type]]:
    """ComfyUI's registry of node classes (its `nodes` module), or None outside ComfyUI. Read from
    sys.modules and never imported: an import could find this pack's own `nodes` package."""
    module = sys.modules.get("nodes")
    if module is None or not hasattr(module, "load_custom_node"):
        return None
    return getattr(module, "NODE_CLASS_MAPPINGS", None)


def pack_of(cls: type) -> str:
    """The custom_nodes folder a node class was loaded from (ComfyUI records it after loading)."""
    module = getattr(cls, "RELATIVE_PYTHON_MODULE", None) or getattr(cls, "__module__", "") or "?"
    if module.startswith("custom_nodes."):
        return module.split(".", 2)[1]
    if module.split(".")[0] in ("nodes", "comfy_extras", "comfy_api_nodes"):
        return "ComfyUI core"
    # loaded from its folder's path, with '.' written as '_x_' (ComfyUI's module name)
    return os.path.basename(module.split(".")[0]).replace("_x_", ".")


def find_clashing_packs(ours: Mapping[str, type], registered: Mapping[str, type]) -> dict[str, list[str]]:
    """{pack: [node ids]} of the registered classes that hold one of our ids but are not ours."""
    clashes: dict[str, list[str]] = {}
    for node_id, cls in ours.items():
        other = registered.get(node_id)
        if other is not None and other is not cls:
            clashes.setdefault(pack_of(other), []).append(node_id)
    return clashes


def clash_message(pack: str, node_ids: list[str], ours_replace_theirs: bool) -> str:
    winner = (f"this pack's nodes replace {pack}'s" if ours_replace_theirs
              else f"{pack}'s nodes replace this pack's")
    return (f"{PACK_NAME}: the custom node pack '{pack}' registers {len(node_ids)} of the same node ids "
            f"({', '.join(node_ids)}) with other inputs. ComfyUI keeps one class per id, the one loaded last: "
            f"here {winner}, so workflows made for the other pack break. Keep only one of the two: disable the "
            f"other (ComfyUI-Manager > Disable, or rename its custom_nodes folder to end in .disabled) and "
            f"restart ComfyUI. {PACK_NAME} implements ComfyUI-Pt-Wrapper's fine-tuning nodes; its workflows "
            f"convert with: python run_workflow.py --convert-pt-wrapper IN.json OUT.json (docs/comfyui.md).")


_clash_reports: dict[str, dict[str, Any]] = {}  # pack -> what the browser shows (GET CLASHES_ROUTE)


def warn_about_clashing_packs(ours: Mapping[str, type], ours_replace_theirs: bool = True) -> dict[str, list[str]]:
    """Log one warning per other pack that registers any of our node ids, and keep it for the browser;
    {pack: ids} found."""
    registry = _comfy_node_registry()
    if registry is None:
        return {}
    clashes = find_clashing_packs(ours, registry)
    for pack, node_ids in clashes.items():
        if pack not in _warned_packs:
            _warned_packs.add(pack)
            message = clash_message(pack, node_ids, ours_replace_theirs)
            log.warning(message)
            _clash_reports[pack] = {"pack": pack, "count": len(node_ids), "ids": list(node_ids), "message": message}
    return clashes


def clash_reports() -> dict[str, Any]:
    """The clash warnings logged so far, for the pack's frontend extension (a toast once per session)."""
    return {"clashes": list(_clash_reports.values())}


# --- routes the pack's frontend extension calls -------------------------------------------------------------

CLASHES_ROUTE = "/hf_text_finetune/clashes"
PT_WRAPPER_TYPES_ROUTE = "/hf_text_finetune/pt_wrapper/types"
PT_WRAPPER_CONVERT_ROUTE = "/hf_text_finetune/pt_wrapper/convert"


def add_json_route(path: str, handler: Callable[[Optional[dict]], dict], method: str = "get") -> bool:
    """Serve `handler` (the request's JSON body, or None for GET -> a JSON-able dict) at `path` on
    ComfyUI's server; False outside ComfyUI."""
    server = _prompt_server()
    routes = getattr(server, "routes", None)
    if routes is None:
        return False
    from aiohttp import web

    async def serve(request):
        body = None
        if method == "post":
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"error": "the request body is not JSON"}, status=400)
        return web.json_response(handler(body))

    getattr(routes, method)(path)(serve)
    return True


def guard_against_clashing_packs(ours: Mapping[str, type]) -> None:
    """At import: warn about packs loaded before this one (ours replace their nodes), and once the
    server starts, after every pack has loaded, about those loaded later (theirs replace ours)."""
    warn_about_clashing_packs(ours)
    server = sys.modules.get("server")
    app = getattr(getattr(getattr(server, "PromptServer", None), "instance", None), "app", None)
    if app is None or _comfy_node_registry() is None:
        return

    async def check_after_loading(_app) -> None:
        warn_about_clashing_packs(ours, ours_replace_theirs=False)

    app.on_startup.append(check_after_loading)
