"""Helpers shared by the sources: untrusted feed text to plain text, arXiv ids, outcomes.

Everything a feed says is untrusted. It is carried as plain text (rendering escapes it);
here it only loses control and bidi-override characters and collapses whitespace.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import feedparser

from .._compat import UTC
from ..errors import SourceError
from ..models import Item, SourceStatus
from ..text import one_line
from .limits import TOO_LONG

# New-style ids (2602.04271) and old-style ones (cs/0112017, math.AG/0601001), with an
# optional version; anchored after "arXiv:", "abs/", "oai:arXiv.org:" or the start.
ARXIV_ID = re.compile(
    r"(?:^|arxiv\.org:|arxiv:|/abs/|/pdf/)"
    r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})"
    r"(?:v(?P<version>\d+))?",
    re.IGNORECASE,
)
ARXIV_ABS_LINK = re.compile(
    r"https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/"
    r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})",
    re.IGNORECASE,
)


clean_text = one_line  # the sources' name for it: feed text made one plain line


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template"})
    _BREAK = frozenset({"p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BREAK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str | None) -> str:
    """Plain text of an HTML fragment (tags dropped, entities decoded), as one line."""
    if not markup:
        return ""
    if "<" not in markup:
        return clean_text(html.unescape(markup))
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return clean_text("".join(parser.parts))


def paper_item(source: str, arxiv_id: str, *, title: str, **fields: Any) -> Item:
    """An arXiv paper as ``source`` saw it: keyed and linked by its id without the version."""
    return Item(
        key=f"arxiv:{arxiv_id}",
        source=source,
        kind="paper",
        title=title,
        url=f"https://arxiv.org/abs/{arxiv_id}",
        arxiv_id=arxiv_id,
        **fields,
    )


def split_arxiv_id(text: str | None) -> tuple[str, int | None] | None:
    """(id without version, version) from an id, guid or abs URL; None when there is none."""
    if not text:
        return None
    m = ARXIV_ID.search(text.strip())
    if not m:
        return None
    version = m.group("version")
    if not version:
        return m.group("id"), None
    # Python refuses to read an integer of thousands of digits: such a version is read as one too large
    # to be real, which the sources' edge (limits.admit) turns away with its entry.
    return m.group("id"), int(version) if len(version) <= 20 else TOO_LONG


def struct_to_datetime(value: time.struct_time | None) -> datetime | None:
    """feedparser's *_parsed values are UTC struct_times; make them aware datetimes."""
    if not value:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def parse_feed(body: bytes, *, source: str, url: str, **flags: bool) -> tuple[Any, str]:
    """feedparser's result and, when entries were recovered from broken XML, what was broken.

    Raises SourceError when nothing usable is in the body."""
    parsed = feedparser.parse(body, **flags)
    if not parsed.entries and (parsed.get("bozo") or not parsed.get("version")):
        exc = parsed.get("bozo_exception")
        reason = error_line(exc) if exc else "not an RSS or Atom feed"
        raise SourceError(source, f"malformed XML from {url}: {reason}")
    return parsed, error_line(parsed["bozo_exception"]) if parsed.get("bozo") else ""


def error_line(e: BaseException) -> str:
    """An exception as one line of text, for a source's report."""
    return one_line(str(e)) or type(e).__name__


@dataclass
class Outcome:
    """What one source produced; :func:`digest.sources.collect` turns it into a SourceReport."""

    items: list[Item] = field(default_factory=list)
    status: SourceStatus = SourceStatus.OK
    # The listing's replacement entries, left out of the pool but read for the reader's watchlist
    # (digest/reader/watch.py): a new version of a paper they logged is news.
    replacements: list[Item] = field(default_factory=list)
    detail: str = ""  # the log line's parenthesised part, e.g. "new 301, cross 111"
    error: str = ""  # one line, for STALE/FAILED (or a partial problem worth reporting)
