"""HF Text Fine-Tune: fine-tune Hugging Face encoders for text classification in ComfyUI."""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .nodes.comfy_services import guard_against_clashing_packs, register_model_folder

register_model_folder()  # models/text_classifiers, so extra_model_paths.yaml can add folders to it
guard_against_clashing_packs(NODE_CLASS_MAPPINGS)  # e.g. ComfyUI-Pt-Wrapper registers 15 of the same ids

WEB_DIRECTORY = "./web/js"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
