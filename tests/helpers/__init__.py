"""Shared builders for the tests (tests/conftest.py puts tests/ on sys.path, so `import helpers.x`):

models: tiny Hugging Face models of four architectures, weight snapshots;
data: small csv / jsonl files like users' own;
nodes: nodes called as ComfyUI calls them, and the example workflow's node pipeline;
classifiers: classifiers built and trained directly with modules/, without nodes;
workflows: the example workflows run headless on the tiny models;
checks: refusals checked for the value and the fix they name.
"""
