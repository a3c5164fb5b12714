"""Save and Load nodes: a trained classifier as a folder under ComfyUI's output (or models) directory."""

from __future__ import annotations

from pathlib import Path

from ..modules.errors import UserInputError
from ..modules.results.loading import load_classifier, saved_folder
from ..modules.results.onnx_export import check_exporter, export_saved_folder
from ..modules.results.prediction import split_texts
from ..modules.results.saved_folder import (MANIFEST_FILE, STATE_FILE, find_saved_classifiers, resolve_saved_choice,
                                            split_prefix)
from ..modules.results.saving import save_classifier
from ..modules.training.checkpoints import remove_finished_run
from ..modules.training.distributed import is_main_process
from .comfy_services import MODEL_FOLDER, save_root, saved_model_roots
from .local_sources import readable_folder, writable_folder
from .widgets import category, validation

EXPORT_ROLE = "saved folder to export"

NO_CHOICE = "(none: use path)"
SAVE_ROOTS = ("output", MODEL_FOLDER)


class PtSaveClassificationModel:
    DESCRIPTION = ("Saves a trained classifier to a new folder <prefix>_00001, <prefix>_00002, ... in ComfyUI's "
                   "output directory or its models/text_classifiers folder (save_to): safetensors weights, "
                   "config with label names, tokenizer, training settings, metrics history and a model card. "
                   "With the hf_sequence_classification head the folder works with transformers.pipeline; every "
                   "folder reloads with Pt Load Classification Model. Once saved, the checkpoints of the run that "
                   "trained the model are removed (unless its trainer keeps finished checkpoints); a full or "
                   "read-only disk is one message, and the model stays ready to save again.")
    CATEGORY = category("model")
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("folder",)
    OUTPUT_TOOLTIPS = ("Path of the saved folder (connect it to Pt Load Classification Model's path).",)
    FUNCTION = "save"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("PTMODEL", {"tooltip": "The trained model (trainer output) to save."}),
                "filename_prefix": ("STRING", {"default": "text_classifier",
                                               "tooltip": "Folder name inside the save_to folder; a counter is "
                                                          "added (_00001). Subfolders like runs/imdb are allowed; "
                                                          "absolute paths and '..' are refused."}),
            },
            "optional": {
                "save_training_state": ("BOOLEAN", {"default": False,
                                                    "tooltip": "Also save the optimizer state and epoch count so "
                                                               "training can resume exactly (about twice the "
                                                               "model's size on disk)."}),
                "save_to": (list(SAVE_ROOTS), {"default": SAVE_ROOTS[0],
                                                "tooltip": "output = ComfyUI's output folder (for trying things); "
                                                           "text_classifiers = its models/text_classifiers folder "
                                                           "(for models you keep; extra_model_paths.yaml can "
                                                           "point it elsewhere). Pt Load lists both."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix=None):
        return validation(lambda: filename_prefix is None or split_prefix(filename_prefix))

    def save(self, model, filename_prefix, save_training_state=False, save_to=SAVE_ROOTS[0]):
        if not is_main_process():  # rank 1.. of a torchrun job: rank 0 saves the (identical) model
            return {"ui": {"text": ["saved by rank 0"]}, "result": ("",)}
        saved = save_classifier(model, save_root(save_to), filename_prefix, save_training_state)
        lines = [f"saved to {saved.folder}"] + saved.notes
        if remove_finished_run(model.checkpoint_run):  # the disk budget: a saved run needs no checkpoint
            lines.append(f"removed the run's checkpoints in {model.checkpoint_run} (the saved folder replaces them)")
        return {"ui": {"text": ["\n".join(lines)]}, "result": (str(saved.folder),)}


def _listed() -> list[str]:
    return [NO_CHOICE] + find_saved_classifiers(saved_model_roots())


def _chosen_folder(saved_model: str, path: str) -> Path:
    """The folder to load: path when given, else the list's choice; confined inside a ComfyUI server."""
    if path and path.strip():
        return readable_folder(path, "saved model folder")
    if not saved_model or saved_model == NO_CHOICE:
        raise UserInputError("no saved model chosen: pick one in saved_model, or give a folder in path")
    return readable_folder(str(resolve_saved_choice(saved_model, saved_model_roots())), "saved model folder")


class PtLoadClassificationModel:
    DESCRIPTION = ("Loads a classifier saved by Pt Save Classification Model: ready to predict, evaluate or train "
                   "further. When the folder holds training state, training resumes from it: optimizer state "
                   "restored and epochs counted on from the saved run.")
    CATEGORY = category("model")
    RETURN_TYPES = ("PTMODEL", "STRING")
    RETURN_NAMES = ("model", "info")
    OUTPUT_TOOLTIPS = ("The loaded classifier, with its tokenizer and label names.",
                       "What was loaded: head, labels, base model, epochs trained.")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "saved_model": (_listed(), {"default": NO_CHOICE,
                                            "tooltip": "Saved classifiers found in ComfyUI's output folder and in "
                                                       "its text_classifiers models folders (models/text_classifiers "
                                                       "and any extra_model_paths.yaml adds)."}),
            },
            "optional": {
                "path": ("STRING", {"default": "",
                                    "tooltip": "A saved folder's path; when given it is used instead of the list. "
                                               "Connect Pt Save Classification Model's folder output here to load "
                                               "what was just saved."}),
                "restore_training_state": ("BOOLEAN", {"default": True,
                                                       "tooltip": "If the folder holds training state, the next "
                                                                  "trainer resumes it (epochs counts the whole run). "
                                                                  "Off: training starts a new run."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, saved_model=None, path=None):
        def check() -> None:
            if path is None or (saved_model is None and not (path or "").strip()):
                return  # linked: known only at run time
            saved_folder(_chosen_folder(saved_model, path))  # a file, or nothing there: said now

        return validation(check)

    @classmethod
    def IS_CHANGED(cls, saved_model=None, path=None, restore_training_state=True):
        """Reload when the folder was saved again (its description or state file changed)."""
        try:
            folder = _chosen_folder(saved_model or "", path or "")
        except UserInputError:
            return ""
        stamps = [str((folder / name).stat().st_mtime_ns) for name in (MANIFEST_FILE, STATE_FILE)
                  if (folder / name).is_file()]
        return f"{folder}|{'|'.join(stamps)}"

    def load(self, saved_model, path="", restore_training_state=True):
        folder = _chosen_folder(saved_model, path)
        model = load_classifier(folder, restore_training_state)
        return (model, f"loaded {folder}\n{model.describe()}")


class PtExportClassificationModelOnnx:
    DESCRIPTION = ("Exports a saved classifier folder to ONNX: onnx/model.onnx (fp32, dynamic batch and sequence "
                   "length) and, when asked, onnx/model_int8.onnx, plus onnx/export.json and an ONNX section in the "
                   "folder's model card with a program that runs it with onnxruntime, tokenizers and numpy alone (no "
                   "PyTorch). Checked on the spot: ONNX Runtime's logits must equal PyTorch's within 1e-4 on sample "
                   "texts. Predict and Evaluate then use it with backend auto or onnxruntime. Exporting again "
                   "replaces the files (the fix for a damaged one). Needs the optional packages onnxruntime, onnx "
                   "and onnxscript.")
    CATEGORY = category("model")
    RETURN_TYPES = ("STRING", "STRING")
    RETURN_NAMES = ("onnx_folder", "report")
    OUTPUT_TOOLTIPS = ("Path of the folder holding model.onnx (the saved folder's onnx/).",
                       "What was written and the measured difference from PyTorch.")
    FUNCTION = "export"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "folder": ("STRING", {"default": "",
                                      "tooltip": "A folder written by Pt Save Classification Model (connect its "
                                                 "folder output here). The export goes into its onnx/ folder."}),
            },
            "optional": {
                "int8": ("BOOLEAN", {"default": False,
                                     "tooltip": "Also write onnx/model_int8.onnx (ONNX Runtime's dynamic int8: "
                                                "about 2x faster on CPUs without native bf16; labels can differ "
                                                "from fp32's near the threshold)."}),
                "sample_texts": ("STRING", {"default": "", "multiline": True,
                                            "tooltip": "Texts (one per line) the export is checked on; empty = a "
                                                       "few built-in ones. A pair model pairs each with another."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, folder=None):
        return validation(check_exporter,
                          lambda: folder is None or saved_folder(str(writable_folder(folder, EXPORT_ROLE))))

    def export(self, folder, int8=False, sample_texts=""):
        if not is_main_process():
            return {"ui": {"text": ["exported by rank 0"]}, "result": ("", "")}
        folder = str(writable_folder(folder, EXPORT_ROLE))  # a linked value is checked here
        result = export_saved_folder(folder, int8, split_texts(sample_texts) or None)
        report = result.summary()
        return {"ui": {"text": [report]}, "result": (str(result.folder), report)}
