"""HF Text Fine-Tune: fine-tune Hugging Face encoders for text classification in ComfyUI."""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .nodes.comfy_services import (CLASHES_ROUTE, PT_WRAPPER_CONVERT_ROUTE, PT_WRAPPER_TYPES_ROUTE, add_json_route,
                                   clash_reports, guard_against_clashing_packs, register_model_folder)
from .runner.core_nodes import CORE_NODES
from .runner.pt_wrapper_browser import browser_reply, their_node_types

register_model_folder()  # models/text_classifiers, so extra_model_paths.yaml can add folders to it
guard_against_clashing_packs(NODE_CLASS_MAPPINGS)  # e.g. ComfyUI-Pt-Wrapper registers 16 of the same ids
# web/js/pt_wrapper.js: Pt-Wrapper workflows converted as they open; the clash warning as a toast
add_json_route(CLASHES_ROUTE, lambda _: clash_reports())
add_json_route(PT_WRAPPER_TYPES_ROUTE, lambda _: {"types": their_node_types()})
add_json_route(PT_WRAPPER_CONVERT_ROUTE, lambda body: browser_reply((body or {}).get("workflow"),
                                                                  {**CORE_NODES, **NODE_CLASS_MAPPINGS}), "post")

WEB_DIRECTORY = "./web/js"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
