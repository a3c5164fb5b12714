"""Run this pack's workflows headless, in-process, the way ComfyUI's executor would."""
