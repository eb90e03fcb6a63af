"""The ``arxiv`` package's side of the API search: its Client, a timeout, and its results as items.

Imported only when a search really goes to the API (a search answered from the state's cache, or a
run with the search off, never loads ``arxiv``, ``requests`` and ``lxml``).

The ``arxiv`` package is synchronous and sets no request timeout (lukasschwab/arxiv.py PR #213
is still open), so its session gets a default timeout and every search runs in a thread under
``asyncio.wait_for``. One Client is shared per endpoint: it spaces its requests by
``api_delay_seconds``, which only holds when the same instance makes them all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import arxiv
import requests

from ..config import Arxiv
from ..http import network_down
from ..models import Item
from .common import clean_text, error_line, paper_item, split_arxiv_id

NAME = "arxiv-search"
# The API serves up to 2000 results per request: one page holds them all, so a search is one request
# and never waits out arXiv's 3 s between requests for a second page.
MAX_PAGE = 2000


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


_clients: dict[tuple[str, float, int], arxiv.Client] = {}
_clients_lock = threading.Lock()
# The arxiv Client keeps its last-request time unguarded: one search at a time.
_search_lock = threading.Lock()


def shared_client(cfg: Arxiv, timeout: float) -> arxiv.Client:
    """The process's one Client for ``cfg.api_url`` (≥ 3 s between requests, few retries)."""
    page = min(MAX_PAGE, cfg.api_max_results)
    key = (cfg.api_url, cfg.api_delay_seconds, page)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = arxiv.Client(page_size=page, delay_seconds=cfg.api_delay_seconds, num_retries=2)
            _clients[key] = client
    prepare_client(client, cfg, timeout)
    return client


def client_for(cfg: Arxiv, timeout: float, injected: arxiv.Client | None = None) -> arxiv.Client:
    """The client a search or lookup uses: ``injected`` (tests) pointed at the configured endpoint, or the
    process's shared one."""
    if injected is None:
        return shared_client(cfg, timeout)
    prepare_client(injected, cfg, timeout)
    return injected


def prepare_client(client: arxiv.Client, cfg: Arxiv, timeout: float) -> None:
    """Point ``client`` at the configured endpoint and give its session a timeout."""
    client.query_url_format = cfg.api_url + "?{}"
    session = getattr(client, "_session", None)
    if isinstance(session, TimeoutSession):
        session.timeout = timeout
    else:
        client._session = TimeoutSession(timeout)  # private, but the only way to set a timeout


def request_count(client: arxiv.Client) -> int:
    session = getattr(client, "_session", None)
    return session.count if isinstance(session, TimeoutSession) else 0


@contextmanager
def exclusive(client: arxiv.Client, *, page_size: int, wait: float) -> Iterator[arxiv.Client]:
    """``client`` for one caller at a time (its spacing of requests only holds so), with pages of
    ``page_size`` results for as long as the caller holds it (a backfill asks for the API's largest)."""
    if not _search_lock.acquire(timeout=wait):
        raise TimeoutError("an earlier arXiv API search is still running")
    before = client.page_size
    client.page_size = page_size
    try:
        yield client
    finally:
        client.page_size = before
        _search_lock.release()


def result_to_item(result: arxiv.Result, source: str = NAME) -> Item | None:
    found = split_arxiv_id(result.entry_id)
    title = clean_text(result.title)
    if found is None or not title:
        return None
    arxiv_id, version = found
    categories = [result.primary_category] if result.primary_category else []
    categories += [c for c in result.categories if c not in categories]
    return paper_item(
        source,
        arxiv_id,
        title=title,
        summary=clean_text(result.summary),
        authors=tuple(n for n in (clean_text(a.name) for a in result.authors) if n),
        categories=tuple(clean_text(c) for c in categories if clean_text(c)),
        published=result.published,
        version=version,
        comment=clean_text(result.comment or ""),
    )


def run_searches(client: arxiv.Client, queries: list[str], max_results: int, wait: float) -> list[Item]:
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
