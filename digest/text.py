"""Plain-text hygiene shared by every stage: feed and LLM text is untrusted and must stay one line."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls (tab and newline are whitespace, collapsed below), line/paragraph separators,
# zero-width characters and the bidi overrides that can make a title display as something else.
CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]"
)
SPACE = re.compile(r"\s+")


def strip_controls(text: str) -> str:
    return CONTROL.sub("", text)


def one_line(text: str | None) -> str:
    """NFC-normalised text with controls dropped and whitespace collapsed: it cannot break a line."""
    text = unicodedata.normalize("NFC", text or "")
    # split() and SPACE agree on what whitespace is (str.isspace); split/join is twice as fast.
    return " ".join(strip_controls(text).split())


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"
