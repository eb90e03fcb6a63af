"""The arXiv RSS listing (rss.arxiv.org), in its RSS 2.0 or Atom shape.

Parsing (:func:`parse_listing`) and judging whether the listing is the one for the digest
day (:func:`judge_listing`) are pure; :func:`fetch_listing` adds the fetch and the state.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .. import calendar
from .._compat import UTC
from ..config import Config
from ..errors import SourceError
from ..http import Fetcher
from ..models import Item, SourceStatus
from ..state import Listing, State
from .common import (
    Outcome,
    clean_text,
    paper_item,
    parse_feed,
    split_arxiv_id,
    struct_to_datetime,
)

NAME = "arxiv-listing"
KEPT_TYPES = ("new", "cross")
REPLACEMENT_TYPES = ("replace", "replace-cross")

# "arXiv:2508.13167v1 Announce Type: new \nAbstract: ..." opens every listing summary.
_PREFIX = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedListing:
    items: list[Item]  # every usable entry, replacements included, in feed order
    feed_date: date | None  # the listing date the feed says it is, when it says
    malformed: str = ""  # the XML problem, when entries were recovered from a broken document
    incomplete: int = 0  # entries dropped for missing id/title (or cut off in a broken document)

    @property
    def ids(self) -> list[str]:
        return [i.arxiv_id for i in self.items if i.arxiv_id]


def fingerprint(ids: list[str]) -> str:
    """Identifies a listing by its papers, so yesterday's listing served again is recognised."""
    return hashlib.sha256("\n".join(sorted(set(ids))).encode()).hexdigest()


def parse_listing(body: bytes, *, url: str) -> ParsedListing:
    """Parse a listing body. Raises SourceError when nothing usable is in it.

    A well-formed listing is read as a stream (:func:`_parse_stream`): one entry at a time, so a day of
    10,000 papers never exists as a whole parsed tree, at a fraction of feedparser's time. Anything else
    (broken XML, an unexpected shape) goes to feedparser, which recovers what can be read.
    """
    streamed = _parse_stream(body)
    return streamed if streamed is not None else parse_listing_tolerantly(body, url=url)


def parse_listing_tolerantly(body: bytes, *, url: str) -> ParsedListing:
    """Parse a listing with feedparser, recovering entries from broken XML."""
    # The arXiv listing is plain text in XML: sanitizing and URI resolving only cost time.
    parsed, malformed = parse_feed(
        body, source=NAME, url=url, sanitize_html=False, resolve_relative_uris=False
    )

    items: list[Item] = []
    incomplete = 0
    for entry in parsed.entries:
        item = _entry_to_item(entry, cut_off_possible=bool(malformed))
        if item is None:
            incomplete += 1
        else:
            items.append(item)
    if malformed and not items:
        raise SourceError(NAME, f"malformed XML from {url}: {malformed}")
    return ParsedListing(items, _feed_date(parsed), malformed, incomplete)


# -- the streaming reader --------------------------------------------------------------------------

_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_TEXT = {  # element → the feedparser key _entry_to_item reads, for text elements
    "title": "title",
    "link": "link",
    "description": "summary",
    "guid": "id",
    _ATOM + "title": "title",
    _ATOM + "summary": "summary",
    _ATOM + "id": "id",
    _ARXIV + "announce_type": "arxiv_announce_type",
}
_RSS_DATES = {"pubDate": "published", "lastBuildDate": "updated"}
_ATOM_DATES = {_ATOM + "published": "published", _ATOM + "updated": "updated"}


class _Unexpected(Exception):
    """Something the streaming reader does not read the way feedparser would: feedparser reads it."""


def _parse_stream(body: bytes) -> ParsedListing | None:
    """The listing read entry by entry with the stdlib's expat-based parser, each entry turned into an item
    and dropped at once; None when the document is not a well-formed RSS 2.0 or Atom listing this reader
    knows (then feedparser reads it). Items come out exactly as :func:`parse_listing_tolerantly` makes them.
    """
    import io
    from xml.etree import ElementTree

    items: list[Item] = []
    incomplete = 0
    feed_dates: dict[str, datetime | None] = {}
    first_published: list[datetime | None] = []
    try:
        events = ElementTree.iterparse(io.BytesIO(body), events=("start", "end"))
        _, root = next(events)
        if root.tag not in ("rss", _ATOM + "feed"):
            return None
        atom = root.tag != "rss"
        entry_tag = _ATOM + "entry" if atom else "item"
        dates = _ATOM_DATES if atom else _RSS_DATES
        container = root
        depth = 0
        for event, elem in events:
            if event == "start":
                depth += 1
                if not atom and elem.tag == "channel" and depth == 1:
                    container = elem
                continue
            depth -= 1
            if elem.tag == entry_tag:
                entry = _entry_fields(elem, dates)
                if not first_published:
                    first_published.append(_stamp(entry.get("published_parsed")))
                item = _entry_to_item(entry, cut_off_possible=False)
                if item is None:
                    incomplete += 1
                else:
                    items.append(item)
                container.remove(elem)  # the entry is an item now: its element can go
            elif elem.tag in dates and depth == (0 if atom else 1):  # the feed's own dates
                feed_dates[dates[elem.tag]] = _date(elem.text, atom)
    except (ElementTree.ParseError, _Unexpected, StopIteration, ValueError):
        return None
    stamps = [feed_dates.get("published"), *first_published, feed_dates.get("updated")]
    feed_date = next((calendar.listing_date_of(s) for s in stamps if s is not None), None)
    return ParsedListing(items, feed_date, "", incomplete)


def _entry_fields(elem: Any, dates: dict[str, str]) -> dict[str, Any]:
    """One entry element as the feedparser-style dict that _entry_to_item reads."""
    entry: dict[str, Any] = {}
    tags: list[dict[str, str]] = []
    authors: list[dict[str, str]] = []
    for child in elem:
        tag = child.tag
        if tag in _TEXT:
            if len(child):  # markup inside (XHTML content): feedparser's way of flattening it is its own
                raise _Unexpected(tag)
            entry.setdefault(_TEXT[tag], child.text or "")
        elif tag == "category":
            tags.append({"term": child.text or ""})
        elif tag == _ATOM + "category":
            tags.append({"term": child.get("term") or ""})
        elif tag == _ATOM + "link":
            if child.get("rel", "alternate") == "alternate":
                entry.setdefault("link", child.get("href") or "")
        elif tag == _DC + "creator":
            authors.append({"name": child.text or ""})
        elif tag == _ATOM + "author":
            authors += [{"name": n.text or ""} for n in child if n.tag == _ATOM + "name"]
        elif tag in dates and dates[tag] == "published":
            published = _date(child.text, tag.startswith(_ATOM))
            entry["published_parsed"] = published.timetuple() if published else None
    if tags:
        entry["tags"] = tags
    if authors:
        entry["authors"] = authors
    return entry


@functools.lru_cache(maxsize=1024)
def _label(text: str | None) -> str:
    """A category or announce type, cleaned once: a day repeats a few dozen of them thousands of times, and
    every paper then shares the same string objects."""
    return clean_text(text)


@functools.lru_cache(maxsize=256)  # every entry of a listing carries the same stamp
def _date(text: str | None, iso: bool) -> datetime | None:
    """A UTC datetime to the second, as feedparser's *_parsed values are; _Unexpected when unreadable."""
    if not text or not text.strip():
        return None
    text = text.strip()
    try:
        if iso:
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        else:
            when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise _Unexpected(text) from None
    if when.tzinfo is None:  # feedparser's reading of a zone-less stamp is its own
        raise _Unexpected(text)
    return when.astimezone(UTC).replace(microsecond=0)


def _stamp(value: Any) -> datetime | None:
    return struct_to_datetime(value) if value else None


def _entry_to_item(entry: Any, *, cut_off_possible: bool) -> Item | None:
    found = split_arxiv_id(entry.get("id")) or split_arxiv_id(entry.get("link"))
    title = clean_text(entry.get("title"))
    raw_summary = entry.get("summary") or ""
    # A document cut off mid-entry leaves an entry without its abstract or announce type.
    cut_off = cut_off_possible and not (raw_summary and entry.get("arxiv_announce_type"))
    if found is None or not title or cut_off:
        return None
    arxiv_id, version = found
    prefix = _PREFIX.match(raw_summary)
    announce = entry.get("arxiv_announce_type") or (prefix.group("type") if prefix else None)
    summary = raw_summary[prefix.end() :] if prefix else raw_summary
    return paper_item(
        NAME,
        arxiv_id,
        title=title,
        summary=clean_text(summary),
        authors=_authors(entry),
        categories=tuple(t for t in (_label(tag.get("term")) for tag in entry.get("tags", [])) if t),
        published=struct_to_datetime(entry.get("published_parsed")),
        version=version,
        announce_type=_label(announce.lower()) if announce else None,
    )


def _authors(entry: Any) -> tuple[str, ...]:
    # dc:creator holds every author in one comma-separated string.
    names: list[str] = []
    for author in entry.get("authors") or [{"name": entry.get("author", "")}]:
        for name in re.split(r",|\band\b", author.get("name") or ""):
            name = clean_text(name)
            if name:
                names.append(name)
    return tuple(names)


def _feed_date(parsed: Any) -> date | None:
    feed = parsed.get("feed", {})
    stamps = [struct_to_datetime(feed.get("published_parsed"))]
    stamps += [struct_to_datetime(e.get("published_parsed")) for e in parsed.entries[:1]]
    stamps.append(struct_to_datetime(feed.get("updated_parsed")))
    for stamp in stamps:
        if stamp is not None:
            return calendar.listing_date_of(stamp)
    return None


def kept(items: list[Item], include_replacements: bool) -> list[Item]:
    """new and cross announcements; replacements (old papers) only when asked for."""
    allowed = KEPT_TYPES + (REPLACEMENT_TYPES if include_replacements else ())
    return [i for i in items if i.announce_type is None or i.announce_type in allowed]


def judge_listing(
    parsed: ParsedListing, day: date, *, previous: Listing | None, now: datetime | None = None
) -> tuple[SourceStatus, str]:
    """Whether the parsed listing is the one dated ``day``: (status, one-line message)."""
    ids = parsed.ids
    same_as_previous = (
        previous is not None and previous.day < day and fingerprint(ids) == previous.fingerprint
    )
    if not calendar.is_announcement_day(day):
        # The holiday table can be wrong: a fresh listing dated ``day`` is used all the same.
        if ids and parsed.feed_date == day and not same_as_previous:
            return SourceStatus.OK, f"arXiv announced on {day} although the calendar lists no announcement"
        return SourceStatus.NO_ANNOUNCEMENT, f"no arXiv announcement for {day} ({calendar.reason(day)})"

    if parsed.feed_date is not None and parsed.feed_date > day:
        return SourceStatus.PAST, (
            f"the RSS feed now serves the listing of {parsed.feed_date}; the listing of {day} is no longer"
            " served (the arXiv API search covers that day)"
        )
    early = ""
    if now is not None and now < calendar.announcement_time(day):
        at = calendar.announcement_time(day).astimezone(now.tzinfo)
        early = f"; the listing dated {day} is announced at {at:%Y-%m-%d %H:%M %Z}, later than this run"
    if not ids:
        hint = early or "; an unscheduled arXiv holiday?"
        return SourceStatus.STALE, f"arXiv listing is empty on an announcement day ({day}){hint}"
    if parsed.feed_date is not None and parsed.feed_date != day:
        return SourceStatus.STALE, f"arXiv listing is dated {parsed.feed_date}, not {day}{early}"
    if same_as_previous:
        assert previous is not None
        return SourceStatus.STALE, (
            f"arXiv listing has the same {len(set(ids))} papers as the listing for {previous.day}{early}"
        )
    return SourceStatus.OK, ""


async def fetch_listing(
    config: Config, day: date, *, fetcher: Fetcher, state: State, now: datetime | None = None
) -> Outcome:
    url = config.arxiv.listing_url
    try:
        result = await fetcher.get(url, source=NAME)
        parsed = parse_listing(result.body, url=url)
    except SourceError as e:
        if calendar.is_announcement_day(day):
            raise
        # The calendar already says there is no listing for this day: an unreachable feed changes nothing.
        why = f"{calendar.reason_en(day)}; the feed was not reachable: {e.reason}"
        return Outcome(status=SourceStatus.NO_ANNOUNCEMENT, detail=f"no arXiv announcement for {day} ({why})")
    status, message = judge_listing(parsed, day, previous=state.listing_before(day), now=now)
    if status != SourceStatus.OK:
        return Outcome(status=status, error=message if status.is_failure else "", detail=message)

    items = kept(parsed.items, config.selection.include_replacements)
    problem = ""
    if parsed.malformed:
        # What was read is used, but a cut-off listing must not pass for the whole day, and must not
        # become the fingerprint tomorrow's listing is compared with.
        problem = f"malformed XML, only {len(parsed.items)} entries could be read ({parsed.malformed})"
    else:
        feed_date = parsed.feed_date.isoformat() if parsed.feed_date else None
        state.record_listing(day, fingerprint(parsed.ids), len(set(parsed.ids)), feed_date)
    return Outcome(
        items=items,
        replacements=[i for i in parsed.items if i.announce_type in REPLACEMENT_TYPES],
        status=SourceStatus.NOT_MODIFIED if result.not_modified else SourceStatus.OK,
        detail=_detail(parsed, items, result.not_modified, message),
        error=problem,
    )


def _detail(parsed: ParsedListing, items: list[Item], not_modified: bool, note: str) -> str:
    counts = Counter(i.announce_type or "unknown" for i in items)
    parts = [", ".join(f"{t} {n}" for t, n in counts.items())]
    skipped = len(parsed.items) - len(items)
    if skipped:
        parts.append(f"{skipped} replacements skipped")
    if parsed.malformed:
        parts.append(f"recovered from malformed XML: {parsed.malformed}")
    if parsed.incomplete:
        parts.append(f"{parsed.incomplete} incomplete entries dropped")
    if not_modified:
        parts.append("not modified, from the stored copy")
    if note:
        parts.append(note)
    return "; ".join(p for p in parts if p)
