"""The Korean-text toolkit every model answer goes through: is it Korean, its sentences, plain text from
markup, a line cut to fit, numbers as a sentence writes them, how much of one text another repeats.

Pure functions, no I/O, nothing model-specific: the takeaway check (takeaways/check.py) and the
흐름 paragraph (trend/paragraph.py) decide with these what they show.
"""

from __future__ import annotations

import html
import re
import unicodedata
from difflib import SequenceMatcher

from .text import CONTROL, SPACE

# A line the digest shows, at least and at most: the takeaways ask for 40–160, with a little slack either way
# before a line is repaired or re-asked; cut_to_fit keeps at least MIN_CHARS.
MIN_CHARS, MAX_CHARS = 30, 200

MIN_HANGUL_RATIO = 0.3  # of the letters: a line of mostly Korean words
MIN_KOREAN_WORDS = 0.5  # of the words: Korean dense with English terms ("reasoning process와 …를 비교해")

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")

_ACTIVE_BLOCK = re.compile(r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>", re.I | re.S)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
FENCE = re.compile(r"```[A-Za-z0-9_+-]*")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_LINE_PREFIX = re.compile(r"^\s*(?:#{1,6}\s+|>\s?|[-*+•]\s+|\d{1,2}[.)]\s+)", re.M)
_MD_STRONG = re.compile(r"(\*\*|__|~~)(.+?)\1")
_MD_EM = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_MD_STRAY = re.compile(r"\*\*|__|~~|(?<!\w)\*(?!\w)|^#+\s*|\s#+$")
# "요약:", "Takeaway:", "한 줄 요약 -": a label the model put before its line.
_LABEL = re.compile(r"^(?:(?:한\s?줄\s?)?요약|핵심|takeaway|korean|summary|한국어|답)\s*[:：\-–]\s*", re.I)

_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)\]])")
_QUOTES = "\"'“”‘’「」『』"

_MATH = re.compile(r"\$([^$]{1,60})\$")
_TEX = {"\\%": "%", "\\times": "×", "\\sim": "~", "\\approx": "≈", "\\pm": "±", "\\leq": "≤",
        "\\geq": "≥", "\\le": "≤", "\\ge": "≥", "\\&": "&", "\\_": "_", "\\#": "#"}  # fmt: skip
_TEX_COMMAND = re.compile("|".join(rf"{re.escape(k)}(?![A-Za-z])" for k in _TEX))  # \le, not \left


def _latex(text: str) -> str:
    """``$3.46\\%$`` → ``3.46%``: the inline math arXiv abstracts carry (and models copy from them)."""
    text = _MATH.sub(lambda m: m.group(1).replace("{", "").replace("}", ""), text)
    return _TEX_COMMAND.sub(lambda m: _TEX[m.group(0)], text)


def hangul_ratio(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _HANGUL.match(ch)) / len(letters)


def korean_word_ratio(text: str) -> float:
    """The share of words with Hangul in them: an English term with a Korean particle counts as Korean."""
    words = [w for w in text.split() if any(ch.isalpha() for ch in w)]
    if not words:
        return 0.0
    return sum(1 for w in words if _HANGUL.search(w)) / len(words)


def is_korean(text: str) -> bool:
    """A Korean sentence, however many English terms it carries; not an English one with a Korean word."""
    return hangul_ratio(text) >= MIN_HANGUL_RATIO or korean_word_ratio(text) >= MIN_KOREAN_WORDS


def strip_markup(text: str) -> str:
    """Plain text from what a model may wrap a line in: HTML tags, Markdown, code fences, backticks."""
    text = html.unescape(unicodedata.normalize("NFC", text))
    text = CONTROL.sub(" ", text)
    text = _ACTIVE_BLOCK.sub(" ", text)
    text = FENCE.sub(" ", text)
    text = _MD_IMAGE.sub(" ", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = _MD_LINE_PREFIX.sub("", text)
    text = _MD_STRONG.sub(r"\2", text)
    text = _MD_EM.sub(r"\1", text)
    text = text.replace("`", "")
    text = _latex(text)
    text = SPACE.sub(" ", text).strip()
    text = _MD_STRAY.sub("", text).strip()  # an unpaired ** or a trailing # left over
    text = _LABEL.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)  # "<b>X</b>, y" became "X , y" above
    if len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:  # the whole line quoted
        text = text[1:-1].strip()
    return text


# -- repairs: cutting a long line --------------------------------------------------------------------

# A sentence ends at . ! ? (or 。) followed by a space, when what precedes is not a lone capital or a
# number ("U.S. ", "Fig. 3", "87.1%" have no space or a capital before the dot).
SENTENCE_END = re.compile(r"(?<=[^\sA-Z0-9][.!?。])\s+|(?<=[가-힣][.!?])(?=\S)")
# Clause boundaries inside a Korean sentence: a comma, or a connective ending (…하며, …하고, …하지만,
# …해서, …으로) followed by a space.
CLAUSE_END = re.compile(r"(?<=[,;])\s+|(?<=[가-힣](?:며|고|만|서|여|면|해|나|써))\s+")
_FINAL_PUNCT = ".!?。"


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def ends_sentence(text: str) -> bool:
    return text.rstrip()[-1:] in _FINAL_PUNCT or text.rstrip()[-1:] in ")]" and len(text) > 1


def cut_to_fit(text: str, limit: int = MAX_CHARS, *, unfinished: bool = False) -> str | None:
    """``text`` cut to at most ``limit`` characters at a sentence boundary (whole sentences, at least
    MIN_CHARS), else at a clause boundary with an ellipsis; None when neither works.

    ``unfinished``: the text was cut off mid-way (max_tokens), so its last sentence is dropped even when
    the whole would fit."""
    parts = sentences(text)
    if unfinished and parts and not ends_sentence(parts[-1]):
        parts = parts[:-1]
    kept = ""
    for part in parts:
        candidate = f"{kept} {part}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    if len(kept) >= MIN_CHARS:
        return kept
    first = parts[0] if parts else ("" if unfinished else text)
    if unfinished and not parts:
        first = text
    best = None
    for m in CLAUSE_END.finditer(first[: limit - 1]):
        head = first[: m.start()].rstrip(" ,;")
        if len(head) >= MIN_CHARS:
            best = head
    return f"{best}…" if best else None

def normal_number(number: str) -> str:
    """A number as written, normalised: 1,234 → 1234, 05 → 5, 2.50 → 2.5."""
    n = number.replace(",", "")
    if "." in n:
        n = n.rstrip("0").rstrip(".") or "0"
    return n.lstrip("0") or "0"

def compact_text(text: str) -> str:
    """Lower case without spaces or punctuation: what :func:`shared_run` compares."""
    return re.sub(r"[\s\W_]+", "", text.lower())

def shared_run(compact: str, other: str) -> int:
    """The longest run of characters two compacted texts (see :func:`compact_text`) share."""
    if other in compact:
        return len(other)
    return (
        SequenceMatcher(None, compact, other, autojunk=False)
        .find_longest_match(0, len(compact), 0, len(other))
        .size
    )

REPEAT = re.compile(r"(.{8,}?)(?:\s*\1){2,}", re.S)


def repeats(text: str) -> bool:
    """A phrase of 8+ characters three times in a row: a model stuck in a loop."""
    return bool(REPEAT.search(text))

# A number as a sentence writes it: 1,234 / 38 / 2.5 (signs and units are not part of it).
NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def numbers(text: str) -> set[str]:
    """The numbers in ``text``, normalised (1,234 → 1234, 05 → 5, 2.50 → 2.5)."""
    return {normal_number(m.group(0)) for m in NUMBER.finditer(text)}

