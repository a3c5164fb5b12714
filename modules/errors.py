"""Errors meant for the person using the nodes, not for a developer reading a traceback."""

from __future__ import annotations


class UserInputError(ValueError):
    """A value the user gave cannot work; the message names the value and the fix."""


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the input model is untouched, nothing is lost."""


# ComfyUI titles an error with its class's module path (".../custom_nodes/<folder>.modules.errors");
# a short, stable name reads better in the error dialog.
for _error in (UserInputError, TrainingDivergedError):
    _error.__module__ = "hf_text_finetune"


def closest_names(name: str, candidates: list[str], limit: int = 3) -> list[str]:
    """Candidates that look like a misspelling of `name` (for 'did you mean' hints)."""
    import difflib

    return difflib.get_close_matches(name, candidates, n=limit, cutoff=0.5)
