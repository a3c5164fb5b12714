"""How the tests check a refusal: the text VALIDATE_INPUTS returns at queue time, or the
error raised at run time, must name the value and the fix (each given part must appear)."""

from __future__ import annotations

import pytest

from hf_text_finetune.modules.errors import UserInputError


def refused(message, *parts) -> None:
    """A queue-time refusal: ComfyUI shows the returned text instead of running anything."""
    assert isinstance(message, str), "VALIDATE_INPUTS accepted a bad value"
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def raises_with(call, *parts, error=UserInputError) -> str:
    """Run `call`, expect `error`, and check its message holds every part; returns the message."""
    with pytest.raises(error) as caught:
        call()
    for part in parts:
        assert part in str(caught.value), f"{part!r} not in {str(caught.value)!r}"
    return str(caught.value)
