"""Pure PyTorch / Hugging Face logic of HF Text Fine-Tune.

Nothing in this package imports ComfyUI: ComfyUI services reach it through the
small `RuntimeHooks` interface in `host.py`, so every function here is testable
in a plain Python process.
"""
