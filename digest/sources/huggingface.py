"""Hugging Face daily papers: the JSON list for day D and D-1 (D's list fills over the day)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ..config import Config
from ..errors import SourceError
from ..http import Fetcher, FetchError
from ..models import Item, SourceStatus
from .common import Outcome, clean_text, error_line, paper_item, split_arxiv_id

NAME = "huggingface"


@dataclass(frozen=True)
class ParsedDay:
    items: list[Item]
    skipped: int  # entries without a usable arXiv id or title


def parse_daily_papers(body: bytes, *, url: str) -> ParsedDay:
    """Parse one day's response. Raises SourceError when the body is not the expected shape."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(NAME, f"not valid JSON from {url}: {error_line(e)}") from None
    if not isinstance(data, list):
        raise SourceError(NAME, f"unexpected JSON from {url}: a list was expected, got {type(data).__name__}")
    items: list[Item] = []
    skipped = 0
    for element in data:
        item = _element_to_item(element)
        if item is None:
            skipped += 1
        else:
            items.append(item)
    if data and not items:
        raise SourceError(NAME, f"unexpected JSON from {url}: none of {len(data)} entries has a paper id")
    return ParsedDay(items, skipped)


def _element_to_item(element: Any) -> Item | None:
    if not isinstance(element, dict) or not isinstance(element.get("paper"), dict):
        return None
    paper: dict[str, Any] = element["paper"]
    raw_id = paper.get("id")
    found = split_arxiv_id(raw_id) if isinstance(raw_id, str) else None
    title = clean_text(_str(paper.get("title")) or _str(element.get("title")))
    if found is None or not title:
        return None
    arxiv_id = found[0]
    upvotes = paper.get("upvotes")
    return paper_item(
        NAME,
        arxiv_id,
        title=title,
        summary=clean_text(_str(paper.get("summary")) or _str(element.get("summary"))),
        authors=_authors(paper.get("authors")),
        published=_iso(_str(paper.get("publishedAt")) or _str(element.get("publishedAt"))),
        upvotes=upvotes if isinstance(upvotes, int) and not isinstance(upvotes, bool) else None,
        # The repository the authors linked on the paper page (rendering checks it is one).
        repository=clean_text(_str(paper.get("githubRepo")) or _str(element.get("githubRepo"))),
    )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _authors(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    names = (clean_text(_str(a.get("name"))) for a in value if isinstance(a, dict))
    return tuple(n for n in names if n)


def _iso(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


async def _fetch_day(config: Config, d: date, fetcher: Fetcher) -> ParsedDay | None:
    """One day's list; None when Hugging Face has no list for that day (404)."""
    try:
        result = await fetcher.get(config.huggingface.url, source=NAME, params={"date": d.isoformat()})
    except FetchError as e:
        if e.status == 404:  # a day with no list yet is normal
            return None
        raise
    return parse_daily_papers(result.body, url=result.url)


async def fetch_daily_papers(config: Config, day: date, *, fetcher: Fetcher) -> Outcome:
    days = (day, day - timedelta(days=1))
    results = await asyncio.gather(*(_fetch_day(config, d, fetcher) for d in days), return_exceptions=True)
    by_key: dict[str, Item] = {}
    problems: list[str] = []
    days_ok = 0
    for result in results:
        if isinstance(result, SourceError):
            problems.append(result.reason)
        elif isinstance(result, BaseException):
            raise result
        elif result is not None:
            days_ok += 1
            for item in result.items:
                by_key.setdefault(item.key, item)  # day D first: its entry is the fresher one
    error = "; ".join(dict.fromkeys(problems))  # offline, both days fail alike: say it once
    if problems and not days_ok:
        return Outcome(status=SourceStatus.FAILED, error=error)
    return Outcome(items=list(by_key.values()), detail=f"{days_ok} of 2 days", error=error)
