"""Text clean-up before tokenizing: IMDB-style HTML markup out, plain text in."""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def strip_html(text: str) -> str:
    """IMDB reviews carry `<br />` tags and entities; models should see plain text."""
    return _SPACES.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()
