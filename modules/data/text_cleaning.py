"""Text clean-up before tokenizing: IMDB-style HTML markup out, plain text in.

Only real HTML is removed: a tag is `<` directly followed by a known element name (or
`/name`, or `!--` for a comment) and ends at the next `>`. A `<` or `>` that is not part of
such a tag is text and stays: "3 < 5 but 7 > 2", "<3", "a < b", "->". Entities (`&amp;`,
`&#39;`) are decoded after the tags are gone, so an escaped `&lt;b&gt;` stays as the text `<b>`.
"""

from __future__ import annotations

import html
import re

# Bump when the output of strip_html changes: tokenized datasets cached on disk are keyed by it.
STRIP_HTML_VERSION = 2

_INLINE = ("a", "abbr", "b", "big", "cite", "code", "del", "em", "font", "i", "ins", "kbd", "mark", "q", "s",
           "samp", "small", "span", "strike", "strong", "sub", "sup", "tt", "u", "var")
_BLOCK = ("address", "article", "aside", "blockquote", "body", "br", "button", "caption", "center", "col", "dd",
          "div", "dl", "dt", "embed", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
          "head", "header", "hr", "html", "iframe", "img", "input", "label", "li", "link", "main", "meta", "nav",
          "noscript", "object", "ol", "option", "p", "pre", "script", "section", "select", "source", "style",
          "table", "tbody", "td", "textarea", "tfoot", "th", "thead", "title", "tr", "ul", "video", "audio", "wbr")
_ATTRIBUTES = r"""(?:[^<>"']|"[^"]*"|'[^']*')*"""  # linear: no nested repetition


def _tag(names: tuple[str, ...]) -> str:
    return rf"</?(?:{'|'.join(sorted(names, key=len, reverse=True))})(?=[\s/>]){_ATTRIBUTES}>"


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_INLINE_TAG = re.compile(_tag(_INLINE), re.IGNORECASE)
_BLOCK_TAG = re.compile(_tag(_BLOCK), re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def strip_html(text: str) -> str:
    """IMDB reviews carry `<br />` tags and entities; models should see plain text (and every word of it)."""
    text = _COMMENT.sub(" ", text)
    text = _BLOCK_TAG.sub(" ", text)  # <br />, <p>: a break between words
    text = _INLINE_TAG.sub("", text)  # <i>great</i>: markup inside a sentence
    return _SPACES.sub(" ", html.unescape(text)).strip()
