"""What a source may hand on: every item passes :func:`admit` at the sources' edge.

A feed or API is untrusted, and one entry's bad value must cost only that entry. Numbers are checked
against what the real sources can say (an ``upvotes`` of 2**63 or a version ``v9223372036854775808`` is
not data, and SQLite cannot even store it): an entry with one is dropped, and its source reports how many
were, once. Text is capped with an ellipsis (a 200,000-character title would otherwise go whole into the
Markdown, the email and the LLM prompt); a link too long to be one drops the entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ..models import Item
from ..text import truncate

# arXiv allows 1920 characters of abstract and titles far below 300; Hugging Face repeats arXiv's.
MAX_TITLE_CHARS = 300
MAX_SUMMARY_CHARS = 2000
# Rendering shows the first author or two ("Minjun Kim et al.") and the trend counts first authors: the
# rest of a 3,000-author collaboration carries nothing, and a name longer than this is not a name.
MAX_AUTHORS = 50
MAX_AUTHOR_CHARS = 100
MAX_CATEGORIES = 20
MAX_CATEGORY_CHARS = 40
MAX_COMMENT_CHARS = 500  # the arXiv comment ("Code: https://github.com/..., 12 pages")
MAX_SHORT_CHARS = 300  # a repository link, a feed's announce type
MAX_URL_CHARS = 2000  # what browsers and mail clients keep as one link
# arXiv versions run to a few dozen; the most upvoted Hugging Face papers have a few thousand.
MAX_VERSION = 1000
MAX_UPVOTES = 1_000_000
TOO_LONG = 10**20  # what a number of more than 20 digits is read as


def _number(name: str, value: int | None, low: int, high: int) -> str:
    if value is None or low <= value <= high:
        return ""
    # A number too long to read (common.split_arxiv_id) arrives as TOO_LONG.
    return f"{name} {'10**20 or more' if value >= TOO_LONG else value} out of range"


def _capped(values: tuple[str, ...], count: int, chars: int) -> tuple[str, ...]:
    return tuple(truncate(v, chars) for v in values[:count])


def admit(item: Item) -> tuple[Item | None, str]:
    """``item`` with its text capped, or None and why it was dropped."""
    problem = (
        _number("version", item.version, 1, MAX_VERSION)
        or _number("upvotes", item.upvotes, 0, MAX_UPVOTES)
        or (f"a link of more than {MAX_URL_CHARS} characters" if len(item.url) > MAX_URL_CHARS else "")
    )
    if problem:
        return None, problem
    changes: dict[str, object] = {}
    for name, limit in (
        ("title", MAX_TITLE_CHARS),
        ("summary", MAX_SUMMARY_CHARS),
        ("comment", MAX_COMMENT_CHARS),
        ("repository", MAX_SHORT_CHARS),
    ):
        text: str = getattr(item, name)
        if len(text) > limit:
            changes[name] = truncate(text, limit)
    if item.announce_type is not None and len(item.announce_type) > MAX_SHORT_CHARS:
        changes["announce_type"] = truncate(item.announce_type, MAX_SHORT_CHARS)
    if len(item.authors) > MAX_AUTHORS or any(len(a) > MAX_AUTHOR_CHARS for a in item.authors):
        changes["authors"] = _capped(item.authors, MAX_AUTHORS, MAX_AUTHOR_CHARS)
    if len(item.categories) > MAX_CATEGORIES or any(len(c) > MAX_CATEGORY_CHARS for c in item.categories):
        changes["categories"] = _capped(item.categories, MAX_CATEGORIES, MAX_CATEGORY_CHARS)
    return (dataclasses.replace(item, **changes) if changes else item), ""  # type: ignore[arg-type]


def admit_all(items: Iterable[Item]) -> tuple[list[Item], str]:
    """The admitted items, and one line on those dropped ("" when none was)."""
    kept: list[Item] = []
    dropped: list[str] = []
    for item in items:
        admitted, problem = admit(item)
        if admitted is None:
            dropped.append(f"{truncate(item.key, 80)}: {problem}")
        else:
            kept.append(admitted)
    if not dropped:
        return kept, ""
    first = dropped[0] + (f"; and {len(dropped) - 1} more" if len(dropped) > 1 else "")
    entries = "entry" if len(dropped) == 1 else "entries"
    return kept, f"{len(dropped)} {entries} with a bad value dropped ({first})"
