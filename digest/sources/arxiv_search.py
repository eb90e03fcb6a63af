"""arXiv API search: every topic keyword in as few queries as possible, over the lookback window.

The queries are one request each (the whole result set fits in one page), and their results are kept
in the state for an hour: a run again within the hour (a re-run, a catch-up) does not ask the API
again. The API only changes at the daily announcement (a search from before it is not reused after
it), and a window moved by less than an hour holds the same announced papers. The ``arxiv`` package
itself is in :mod:`.arxiv_client`, imported only when a search goes to the API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from .. import calendar
from .._compat import UTC
from ..config import Config
from ..models import Item, SourceStatus
from ..state import State
from .common import Outcome, clean_text

if TYPE_CHECKING:
    import arxiv

NAME = "arxiv-search"
MAX_QUERIES = 3
# A query's length in the request URL (percent-encoded), for fifty-odd keywords in one query. Servers refuse
# request lines past about 8 KB (arXiv answered a ~8 KB id_list with 414, lukasschwab/arxiv.py#15): half
# of that leaves room for the rest of the URL.
MAX_QUERY_URL_CHARS = 4000
MAX_WAIT_SECONDS = 300.0
# A search answered less than this long ago, for a window that ends within this much of the new one, is
# used again instead of asking the API.
CACHE_SECONDS = 3600.0


def keywords(config: Config) -> list[str]:
    """Every topic's keywords as the search needs them, in config order.

    arXiv's search matches words, in any case, with hyphens as spaces: a keyword whose words contain
    another keyword's words in a row finds nothing that one does not ("large language model" within
    "language model", "state-space model" within "state space model"), so it is left out of the query.
    """
    seen: set[tuple[str, ...]] = set()
    unique: list[tuple[str, tuple[str, ...]]] = []
    for topic in config.topics.values():
        for keyword in topic.keywords:
            k = clean_text(keyword.replace('"', " "))
            words = _words(k)
            if words and words not in seen:
                seen.add(words)
                unique.append((k, words))
    return [
        k for k, words in unique if not any(other != words and _within(other, words) for _, other in unique)
    ]


def _words(keyword: str) -> tuple[str, ...]:
    return tuple(w for w in re.split(r"[^0-9a-z]+", keyword.lower()) if w)


def _within(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    n = len(short)
    return any(long[i : i + n] == short for i in range(len(long) - n + 1))


def window(now: datetime, lookback_hours: int) -> tuple[datetime, datetime]:
    end = now.astimezone(UTC)
    return end - timedelta(hours=lookback_hours), end


def build_queries(
    terms: Iterable[str], categories: Iterable[str], start: datetime, end: datetime
) -> tuple[list[str], int]:
    """At most MAX_QUERIES query strings covering ``terms``; returns them and how many terms did not fit."""
    cats = " OR ".join(f"cat:{c}" for c in categories)
    tail = (f" AND ({cats})" if cats else "") + (
        f" AND submittedDate:[{start.astimezone(UTC):%Y%m%d%H%M} TO {end.astimezone(UTC):%Y%m%d%H%M}]"
    )
    groups: list[list[str]] = []
    for term in terms:
        clause = f'ti:"{term}" OR abs:"{term}"'
        if groups and _url_length(_query(groups[-1] + [clause], tail)) <= MAX_QUERY_URL_CHARS:
            groups[-1].append(clause)
        else:
            groups.append([clause])
    left_out = sum(len(g) for g in groups[MAX_QUERIES:])
    return [_query(g, tail) for g in groups[:MAX_QUERIES]], left_out


def _query(clauses: list[str], tail: str) -> str:
    return f"({' OR '.join(clauses)}){tail}"


def _url_length(query: str) -> int:
    return len(urlencode({"search_query": query}))


def cache_key(api_url: str, queries: list[str], max_results: int) -> str:
    """What makes two searches the same, apart from their submission-date window."""
    windowless = [_WINDOW.sub("", q) for q in queries]
    return hashlib.sha256(json.dumps([api_url, max_results, windowless]).encode()).hexdigest()


_WINDOW = re.compile(r"submittedDate:\[\d+ TO \d+\]")


def items_to_json(items: list[Item]) -> bytes:
    rows = []
    for item in items:
        row = dataclasses.asdict(item)
        row["published"] = item.published.isoformat() if item.published else None
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False).encode()


def items_from_json(payload: bytes) -> list[Item] | None:
    """The stored items; None when they were stored by a version of digest with other Item fields."""
    try:
        items = []
        for row in json.loads(payload):
            row["authors"], row["categories"] = tuple(row["authors"]), tuple(row["categories"])
            row["published"] = datetime.fromisoformat(row["published"]) if row["published"] else None
            items.append(Item(**row))
        return items
    except (TypeError, ValueError, KeyError):
        return None


def cached_items(
    state: State, key: str, end: datetime, clock: datetime
) -> tuple[list[Item], datetime] | None:
    """The items of a search made within the hour for a window ending within the hour of ``end``."""
    cached = state.cached_search(key)
    if cached is None:
        return None
    age = (clock - cached.fetched_at).total_seconds()
    moved = abs((cached.window_end - end).total_seconds())
    if not (0 <= age <= CACHE_SECONDS and moved <= CACHE_SECONDS) or announced_between(
        cached.fetched_at, clock
    ):
        return None
    items = items_from_json(cached.payload)
    return (items, cached.fetched_at) if items is not None else None


def announced_between(start: datetime, end: datetime) -> bool:
    """Whether arXiv announced new papers after ``start`` and by ``end`` (the API's answers change then)."""
    latest = calendar.listing_date_of(end)  # its announcement is the latest 20:00 Eastern at or before end
    return calendar.is_announcement_day(latest) and start < calendar.announcement_time(latest) <= end


async def search_arxiv(
    config: Config,
    day: date,
    *,
    arxiv_client: arxiv.Client | None = None,
    state: State | None = None,
    now: datetime | None = None,
    clock: datetime | None = None,
) -> tuple[Outcome, int]:
    """Run the searches (or take them from the state's cache); returns the outcome and the HTTP requests made.

    ``now`` is where the window ends (the run's anchor); ``clock`` is the real time, for the cache's age.
    """
    start, end = window(now or datetime.now(UTC), config.selection.lookback_hours)
    queries, left_out = build_queries(keywords(config), config.arxiv.categories, start, end)
    max_results = config.arxiv.api_max_results
    detail = f"{len(queries)} {'query' if len(queries) == 1 else 'queries'}, since {start:%Y-%m-%d %H:%M} UTC"
    if left_out:
        detail += f"; {left_out} keywords did not fit in {MAX_QUERIES} queries"
    key = cache_key(config.arxiv.api_url, queries, max_results)
    clock = clock or datetime.now(UTC)
    hit = cached_items(state, key, end, clock) if state is not None else None
    if hit is not None:
        items, fetched_at = hit
        detail += f"; from the search of {fetched_at.astimezone(UTC):%H:%M} UTC, not repeated within the hour"
        return Outcome(items=items, detail=detail), 0

    from . import arxiv_client as api  # the arxiv package loads only for a search that goes out

    timeout = config.http.timeout_seconds
    client = api.client_for(config.arxiv, timeout, arxiv_client)
    pages = math.ceil(max_results / max(1, client.page_size))
    attempts = len(queries) * pages * (client.num_retries + 1)
    budget = min(MAX_WAIT_SECONDS, attempts * (timeout + client.delay_seconds) + 5)
    before = api.request_count(client)
    try:
        items = await asyncio.wait_for(
            asyncio.to_thread(api.run_searches, client, queries, max_results, budget), budget
        )
    except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
        error = f"arXiv API search timed out after {budget:g}s ({config.arxiv.api_url})"
        return Outcome(status=SourceStatus.FAILED, error=error), api.request_count(client) - before
    except Exception as e:  # noqa: BLE001 - the package raises requests/lxml/its own errors alike
        error = f"arXiv API search failed: {api.describe_error(e)} ({config.arxiv.api_url})"
        return Outcome(status=SourceStatus.FAILED, error=error), api.request_count(client) - before
    if state is not None:
        state.store_search(key, start, end, items_to_json(items), clock)
    return Outcome(items=items, detail=detail), api.request_count(client) - before
