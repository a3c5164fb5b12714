"""The nodes' side of local files and models: the list widgets, and every local name a prompt gives
turned into a path the process may read (or a hub id), by the rules of the host it runs in.

Inside a ComfyUI server the lists show ComfyUI's input (and `datasets`) folder and its
models/hf_text_encoders folders, and each path must resolve inside the server's folders
(`comfy_services.path_rules`). Queue-time checks and the runs call the same functions, so a
value linked from another node (known only at run time) is held to the same rules.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Optional

from ..modules.data.local_files import list_data_files, listing_depth, resolve_dataset_name
from ..modules.local_paths import check_plain_text, check_remote_code_allowed, confine, list_model_folders
from ..modules.model_folders import check_remote_code
from ..modules.pretrained import normalize_model_name, resolve_model_name
from .comfy_services import EXTRA_PATHS_ENV, EXTRA_ROOTS, data_folders, encoder_folders, path_rules, saved_model_roots
from .widgets import Widget

NO_FILE = "(none: use name)"
NO_MODEL = "(none: use model_name)"
UPLOAD_OPTION = "hf_text_finetune_upload"  # web/js/data_file_upload.js adds the upload button to such a list


def data_file_widget() -> Widget:
    """The data files of ComfyUI's input folder (headless: the working directory), as deep as listing_depth says."""
    return ([NO_FILE] + list_data_files(data_folders(), listing_depth(path_rules())), {
        "default": NO_FILE, UPLOAD_OPTION: True,
        "tooltip": "A data file (csv, tsv, json, jsonl, parquet, txt) or save_to_disk folder from ComfyUI's input "
                   "folder (subfolders included) or its datasets folder; the upload button below puts a file from "
                   "your computer there. When one is picked it is used instead of name."})


def local_model_widget() -> Widget:
    return ([NO_MODEL] + list_model_folders(encoder_folders()), {
        "default": NO_MODEL,
        "tooltip": "A Hugging Face model folder (config.json, weights, tokenizer files) from ComfyUI's "
                   "models/hf_text_encoders folder (extra_model_paths.yaml can add more: hf_text_encoders: path). "
                   "When one is picked it is used instead of model_name; pick the same on the tokenizer and the "
                   "model node, or type its name into the String node that feeds both."})


def dataset_source(name: Optional[str], file: Optional[str] = NO_FILE) -> Optional[str]:
    """The file or folder the dataset node reads (the list's choice, else name), or the hub id."""
    chosen = file if file and file != NO_FILE else name
    return resolve_dataset_name(chosen, data_folders(), path_rules())


def model_source(model_name: Optional[str], local_model: Optional[str] = NO_MODEL) -> Optional[str]:
    """The model folder the tokenizer or model node loads (the list's choice, else model_name), or the hub id."""
    if local_model and local_model != NO_MODEL:
        return resolve_model_name(local_model, encoder_folders(), path_rules(), must_be_local=True)
    return resolve_model_name(model_name, encoder_folders(), path_rules())


def check_model_source(model_name: Optional[str], trust_remote_code: Optional[bool],
                       local_model: Optional[str] = NO_MODEL) -> Optional[str]:
    """Queue time: a model name the node can load (the list's choice, else model_name), remote code only where
    the host allows it, and a local folder that needs its own code refused unless allowed (None: the option is
    not known here). Returns the folder or hub id, resolved once for the node's other checks (None: linked)."""
    picked = bool(local_model) and local_model != NO_MODEL
    name = None
    if model_name is not None or picked:
        name = normalize_model_name(model_source(model_name, local_model))
        if trust_remote_code is not None and os.path.isdir(name):
            check_remote_code(Path(name), bool(trust_remote_code))
    check_remote_code_allowed(trust_remote_code, local_model if picked else model_name, path_rules())
    return name


def allow_remote_code(trust_remote_code: bool, model: str) -> bool:
    check_remote_code_allowed(trust_remote_code, model, path_rules())
    return bool(trust_remote_code)


def readable_folder(path: str, role: str) -> Path:
    """A folder a prompt names (Load's path, a resume checkpoint): `~` expanded, confined inside a server."""
    check_plain_text(path, role)
    return confine(Path(os.path.expanduser(path.strip())), path.strip(), role, path_rules())


def writable_folder(path: str, role: str) -> Path:
    """A folder a prompt asks the pack to write into (the ONNX export's saved folder): inside a server only
    the output folder, the text_classifiers folders and the owner's extra folders, where Save writes too."""
    rules = path_rules()
    if rules.confined:
        roots = tuple(saved_model_roots().items()) + tuple((EXTRA_PATHS_ENV, root) for root in EXTRA_ROOTS)
        rules = replace(rules, allowed=roots)
    check_plain_text(path, role)
    return confine(Path(os.path.expanduser(path.strip())), path.strip(), role, rules)


def resume_source(resume: Optional[str]) -> Optional[str]:
    """The trainer's resume: off and latest unchanged, a checkpoint folder confined like any read."""
    if resume is None or (resume or "off").strip().lower() in ("off", "latest", ""):
        return resume
    return str(readable_folder(resume, "resume folder"))
