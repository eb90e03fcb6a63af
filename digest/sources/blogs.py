"""Research blog feeds: each enabled ``[[feeds]]`` entry is its own source, fetched concurrently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..config import Config, Feed
from ..errors import SourceError
from ..http import Fetcher
from ..models import Item, SourceStatus
from ..text import truncate
from .common import (
    ARXIV_ABS_LINK,
    Outcome,
    clean_text,
    html_to_text,
    parse_feed,
    struct_to_datetime,
)

SUMMARY_CHARS = 1000
_TRACKING_PARAMS = ("utm_", "mc_", "fbclid", "gclid")


def source_name(feed: Feed) -> str:
    return f"blog:{feed.name}"


def canonical_url(url: str) -> str:
    """The URL a post is known by: lowercase scheme/host, no fragment, no tracking params,
    no trailing slash (except the root), default ports dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    path = parts.path.rstrip("/") or "/"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.startswith(_TRACKING_PARAMS)
    ]
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


@dataclass(frozen=True)
class ParsedFeed:
    items: list[Item]
    undated: int  # entries without a usable date: skipped
    old: int  # entries outside the lookback window
    unusable: int  # entries without a link or a title
    malformed: str = ""  # the XML problem, when entries were recovered anyway


def parse_blog_feed(body: bytes, *, feed: Feed, url: str, now: datetime, lookback: timedelta) -> ParsedFeed:
    """Parse one blog feed and keep the posts published within ``lookback`` of ``now``."""
    name = source_name(feed)
    # Blog feeds carry arbitrary HTML: feedparser's default sanitizing stays on.
    parsed, malformed = parse_feed(body, source=name, url=url)

    items: list[Item] = []
    undated = old = unusable = 0
    since = now - lookback
    for entry in parsed.entries:
        stamp = _entry_time(entry)
        if stamp is None:
            undated += 1
            continue
        if not (since <= stamp <= now + timedelta(hours=1)):  # an hour of clock skew is tolerated
            old += 1
            continue
        item = _entry_to_item(entry, feed=feed, published=stamp)
        if item is None:
            unusable += 1
        else:
            items.append(item)
    if malformed and not any(_recognisable(e) for e in parsed.entries):
        raise SourceError(name, f"malformed XML from {url}: {malformed}")
    return ParsedFeed(items, undated, old, unusable, malformed)


def _recognisable(entry: Any) -> bool:
    return bool(entry.get("link") and entry.get("title"))


def _entry_time(entry: Any) -> datetime | None:
    return struct_to_datetime(entry.get("published_parsed")) or struct_to_datetime(
        entry.get("updated_parsed")
    )


def _entry_to_item(entry: Any, *, feed: Feed, published: datetime) -> Item | None:
    link = clean_text(entry.get("link"))
    title = html_to_text(entry.get("title"))
    if not link.startswith(("http://", "https://")) or not title:
        return None
    url = canonical_url(link)
    body = entry.get("summary") or ""
    if not body and entry.get("content"):
        body = entry["content"][0].get("value") or ""
    arxiv = ARXIV_ABS_LINK.search(link) or ARXIV_ABS_LINK.search(body)
    authors = tuple(a for a in (clean_text(x.get("name")) for x in entry.get("authors", [])) if a)
    return Item(
        key=f"url:{url}",
        source=source_name(feed),
        kind="post",
        title=title,
        url=url,
        summary=truncate(html_to_text(body), SUMMARY_CHARS),
        authors=authors,
        published=published,
        arxiv_id=arxiv.group("id") if arxiv else None,
        feed_name=feed.name,
    )


async def fetch_blog(config: Config, feed: Feed, *, fetcher: Fetcher, now: datetime) -> Outcome:
    result = await fetcher.get(feed.url, source=source_name(feed))
    parsed = parse_blog_feed(
        result.body,
        feed=feed,
        url=feed.url,
        now=now,
        lookback=timedelta(hours=config.selection.lookback_hours),
    )
    notes = [f"{parsed.old} outside the {config.selection.lookback_hours}h window"] if parsed.old else []
    if parsed.undated:
        notes.append(f"{parsed.undated} undated skipped")
    if parsed.unusable:
        notes.append(f"{parsed.unusable} without link or title")
    problem = ""
    if parsed.malformed:
        problem = f"malformed XML, {len(parsed.items)} posts read ({parsed.malformed})"
    if result.not_modified:
        notes.append("not modified")
    status = SourceStatus.NOT_MODIFIED if result.not_modified else SourceStatus.OK
    return Outcome(items=parsed.items, status=status, detail=", ".join(notes), error=problem)
