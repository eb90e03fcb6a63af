"""arXiv API search: every topic keyword in as few queries as possible, over the lookback window.

The ``arxiv`` package is synchronous and sets no request timeout (lukasschwab/arxiv.py PR #213
is still open), so its session gets a default timeout and every search runs in a thread under
``asyncio.wait_for``. One Client is shared per endpoint: it spaces its requests by
``api_delay_seconds``, which only holds when the same instance makes them all.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import arxiv
import requests

from .._compat import UTC
from ..config import Arxiv, Config
from ..http import network_down
from ..models import Item, SourceStatus
from .common import Outcome, clean_text, error_line, paper_item, split_arxiv_id

NAME = "arxiv-search"
MAX_QUERIES = 3
# Long enough for a dozen or two keywords; arXiv answers very long query URLs with errors.
MAX_QUERY_CHARS = 1200
MAX_WAIT_SECONDS = 300.0


class NetworkDown(Exception):
    """Offline or DNS broken. Not a requests error, so the arxiv package does not retry it."""


class TimeoutSession(requests.Session):
    """A requests Session whose requests time out by default, and which counts them."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout
        self.count = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        self.count += 1
        try:
            return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]  # as requests types it
        except requests.exceptions.ConnectionError as e:
            down = network_down(e, url if isinstance(url, str) else url.decode())
            if down:
                raise NetworkDown(down) from None
            raise


_clients: dict[tuple[str, float], arxiv.Client] = {}
_clients_lock = threading.Lock()
# The arxiv Client keeps its last-request time unguarded: one search at a time.
_search_lock = threading.Lock()


def shared_client(cfg: Arxiv, timeout: float) -> arxiv.Client:
    """The process's one Client for ``cfg.api_url`` (≥ 3 s between requests, few retries)."""
    key = (cfg.api_url, cfg.api_delay_seconds)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = arxiv.Client(
                page_size=min(100, cfg.api_max_results),
                delay_seconds=cfg.api_delay_seconds,
                num_retries=2,
            )
            _clients[key] = client
    prepare_client(client, cfg, timeout)
    return client


def prepare_client(client: arxiv.Client, cfg: Arxiv, timeout: float) -> None:
    """Point ``client`` at the configured endpoint and give its session a timeout."""
    client.query_url_format = cfg.api_url + "?{}"
    session = getattr(client, "_session", None)
    if isinstance(session, TimeoutSession):
        session.timeout = timeout
    else:
        client._session = TimeoutSession(timeout)  # private, but the only way to set a timeout


def keywords(config: Config) -> list[str]:
    """Every topic's keywords, deduplicated case-insensitively, in config order."""
    seen: set[str] = set()
    out: list[str] = []
    for topic in config.topics.values():
        for keyword in topic.keywords:
            k = clean_text(keyword.replace('"', " "))
            if k and k.lower() not in seen:
                seen.add(k.lower())
                out.append(k)
    return out


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
        if groups and len(_query(groups[-1] + [clause], tail)) <= MAX_QUERY_CHARS:
            groups[-1].append(clause)
        else:
            groups.append([clause])
    left_out = sum(len(g) for g in groups[MAX_QUERIES:])
    return [_query(g, tail) for g in groups[:MAX_QUERIES]], left_out


def _query(clauses: list[str], tail: str) -> str:
    return f"({' OR '.join(clauses)}){tail}"


def result_to_item(result: arxiv.Result) -> Item | None:
    found = split_arxiv_id(result.entry_id)
    title = clean_text(result.title)
    if found is None or not title:
        return None
    arxiv_id, version = found
    categories = [result.primary_category] if result.primary_category else []
    categories += [c for c in result.categories if c not in categories]
    return paper_item(
        NAME,
        arxiv_id,
        title=title,
        summary=clean_text(result.summary),
        authors=tuple(n for n in (clean_text(a.name) for a in result.authors) if n),
        categories=tuple(clean_text(c) for c in categories if clean_text(c)),
        published=result.published,
        version=version,
        comment=clean_text(result.comment or ""),
    )


def _run_searches(client: arxiv.Client, queries: list[str], max_results: int, wait: float) -> list[Item]:
    if not _search_lock.acquire(timeout=wait):
        raise TimeoutError("an earlier arXiv API search is still running")
    try:
        items: dict[str, Item] = {}
        for query in queries:
            search = arxiv.Search(
                query=query,
                max_results=max_results,
                sort_by=arxiv.SortCriterion.SubmittedDate,
                sort_order=arxiv.SortOrder.Descending,
            )
            for result in client.results(search):
                item = result_to_item(result)
                if item is not None:
                    items.setdefault(item.key, item)
        return list(items.values())
    finally:
        _search_lock.release()


async def search_arxiv(
    config: Config,
    day: date,
    *,
    arxiv_client: arxiv.Client | None = None,
    now: datetime | None = None,
) -> tuple[Outcome, int]:
    """Run the searches; returns the outcome and the number of HTTP requests made."""
    timeout = config.http.timeout_seconds
    if arxiv_client is None:
        client = shared_client(config.arxiv, timeout)
    else:
        client = arxiv_client
        prepare_client(client, config.arxiv, timeout)
    start, end = window(now or datetime.now(UTC), config.selection.lookback_hours)
    queries, left_out = build_queries(keywords(config), config.arxiv.categories, start, end)

    pages = math.ceil(config.arxiv.api_max_results / max(1, client.page_size))
    attempts = len(queries) * pages * (client.num_retries + 1)
    budget = min(MAX_WAIT_SECONDS, attempts * (timeout + client.delay_seconds) + 5)
    session = client._session
    before = session.count if isinstance(session, TimeoutSession) else 0
    try:
        items = await asyncio.wait_for(
            asyncio.to_thread(_run_searches, client, queries, config.arxiv.api_max_results, budget), budget
        )
    except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
        error = f"arXiv API search timed out after {budget:g}s ({config.arxiv.api_url})"
        return Outcome(status=SourceStatus.FAILED, error=error), _count(session, before)
    except Exception as e:  # noqa: BLE001 - the package raises requests/lxml/its own errors alike
        error = f"arXiv API search failed: {describe_error(e)} ({config.arxiv.api_url})"
        return Outcome(status=SourceStatus.FAILED, error=error), _count(session, before)
    detail = f"{len(queries)} {'query' if len(queries) == 1 else 'queries'}, since {start:%Y-%m-%d %H:%M} UTC"
    if left_out:
        detail += f"; {left_out} keywords did not fit in {MAX_QUERIES} queries"
    return Outcome(items=items, detail=detail), _count(session, before)


def describe_error(e: Exception) -> str:
    """One short line: requests' messages repeat the whole query URL, which is kilobytes long."""
    if isinstance(e, NetworkDown):
        return str(e)
    if isinstance(e, arxiv.HTTPError):
        return f"HTTP {e.status}"
    if isinstance(e, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(e, requests.exceptions.ConnectionError):
        return "cannot connect"
    if isinstance(e, arxiv.UnexpectedEmptyPageError):
        return "empty page from the API"
    return error_line(e)[:200] or type(e).__name__


def _count(session: object, before: int) -> int:
    return session.count - before if isinstance(session, TimeoutSession) else 0
