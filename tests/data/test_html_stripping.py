"""strip_html removes real HTML tags only: IMDB's markup goes, every word of the review stays,
and a `<` or `>` that is not part of a tag is text."""

from __future__ import annotations

import pytest

from hf_text_finetune.modules.data.text_cleaning import strip_html

MARKUP = [
    ("A great film.<br /><br />I loved it.", "A great film. I loved it."),
    ("<p>First part</p><p>Second part</p>", "First part Second part"),
    ("The <i>best</i> film of <b>1999</b>", "The best film of 1999"),
    ("<BR/>Upper<BR>case", "Upper case"),
    ('<a href="http://www.imdb.com/title/tt0111161/?ref=a&b=c">The Shawshank Redemption</a> is superb',
     "The Shawshank Redemption is superb"),
    ('<br class="x" />spaced<br/ >tags', "spaced tags"),
    ("Tom &amp; Jerry&#39;s &quot;show&quot;", 'Tom & Jerry\'s "show"'),
    ("escaped &lt;b&gt; stays as text", "escaped <b> stays as text"),
    ("<!-- a comment -->visible", "visible"),
    ("<i>a > b</i>", "a > b"),
    ('<a title="x > y">linked</a>', "linked"),
]

NOT_TAGS = [
    "I <3 this film",
    "a < b",
    "3 < 5 but 7 > 2, a fine film",
    "plot -> twist -> ending",
    "<<< wow >>>",
    "x <y and z> w",
    "rated <10/10>",
    "1<2 and 4>3",
    "<> empty",
    "<-- arrow",
]


@pytest.mark.parametrize("text, plain", MARKUP)
def test_real_tags_are_removed_and_entities_decoded(text, plain):
    assert strip_html(text) == plain


@pytest.mark.parametrize("text", NOT_TAGS)
def test_angle_brackets_that_are_not_tags_stay(text):
    assert strip_html(text) == text


def test_a_real_imdb_review_keeps_every_word():
    review = ("I rented I AM CURIOUS-YELLOW from my video store.<br /><br />The plot is centered around a young "
              "Swedish drama student named Lena who wants to learn everything she can about life. In particular "
              "she wants to focus her attentions to making some sort of documentary on what the average Swede "
              "thought about certain political issues such as the Vietnam War &amp; race issues.<br /><br />"
              "My <i>rating</i>: 4 < 5, and that's being kind.")
    plain = strip_html(review)
    assert "<br" not in plain and "<i>" not in plain
    assert "store. The plot" in plain and "Vietnam War & race issues. My rating: 4 < 5, and that's being kind." in plain
    assert plain.split() == review.replace("<br /><br />", " ").replace("<i>", "").replace("</i>", "").replace(
        "&amp;", "&").split()


def test_very_long_text_with_stray_brackets_is_fast():
    import time

    started = time.perf_counter()
    strip_html("<br" + " " * 100_000 + "<i" * 50_000 + '<a "' * 20_000)
    assert time.perf_counter() - started < 2.0


def test_stripping_changes_reach_the_tokenized_cache_key(tiny_bert, tmp_path):
    """Datasets tokenized with the old stripping are not reused: the cache key carries its version."""
    from helpers.nodes import dataset_node, encode_node

    from hf_text_finetune.modules.data import text_cleaning

    path = tmp_path / "reviews.csv"
    path.write_text("text,label\nI <3 this,1\na < b,0\n")
    encode = encode_node(tiny_bert)
    first = dataset_node(path, encode)
    assert first.data["input_ids"][0] == encode.tokenizer("I <3 this")["input_ids"]
    original = text_cleaning.STRIP_HTML_VERSION
    try:
        from hf_text_finetune.modules.data import tokenized

        tokenized.STRIP_HTML_VERSION = original + 1
        assert dataset_node(path, encode).fingerprint != first.fingerprint
    finally:
        tokenized.STRIP_HTML_VERSION = original
