"""HTTP fetching for the sources: timeouts, a size cap, retries that honour Retry-After, and
conditional GET backed by the state's HTTP cache.

The ``httpx2.AsyncClient`` is built once at the edge (:func:`make_http_client`) and injected,
so tests and the sample day can point it at a loopback server or an in-process transport.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx2
import stamina

from ._compat import UTC
from .config import HTTP
from .errors import SourceError
from .state import State

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def make_http_client(cfg: HTTP, *, transport: httpx2.AsyncBaseTransport | None = None) -> httpx2.AsyncClient:
    """The one client a run uses for feeds (and, through openai, the LLM)."""
    return httpx2.AsyncClient(
        timeout=cfg.timeout_seconds,
        follow_redirects=True,
        headers={"user-agent": cfg.user_agent},
        transport=transport,
    )


@dataclass(frozen=True)
class Backoff:
    """How long to wait between attempts. Tests inject a tiny one instead of sleeping for real."""

    initial: float = 1.0
    max: float = 30.0
    jitter: float = 1.0
    # A server asking for more than this is answered by giving up sooner rather than hanging a run.
    retry_after_cap: float = 60.0


FAST_BACKOFF = Backoff(initial=0.01, max=0.05, jitter=0.0, retry_after_cap=0.1)


@dataclass(frozen=True)
class FetchResult:
    url: str  # the requested URL, with its query
    status: int  # 200, or 304 when the body came from the state's cache
    body: bytes
    content_type: str
    not_modified: bool = False


@dataclass(frozen=True)
class RetryEvent:
    url: str
    reason: str  # "HTTP 429", "timed out", ...
    wait: float | None  # seconds asked for by Retry-After (capped); None: exponential backoff


class FetchError(SourceError):
    """A fetch that failed for good; ``status`` is the last HTTP status, if any."""

    def __init__(self, source: str, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(source, message)
        self.url = url
        self.status = status


class _Retryable(Exception):
    """One failed attempt worth another try."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None when unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Fetcher:
    """GETs with the run's limits. One instance per run; it counts requests per source.

    ``http.concurrency`` bounds the requests in flight to one host: politeness is owed per server,
    and a run's two dozen sources on as many hosts all go out at once.
    """

    def __init__(
        self,
        client: httpx2.AsyncClient,
        *,
        state: State | None,
        config: HTTP,
        backoff: Backoff = Backoff(),  # noqa: B008 - frozen dataclass, safe as a default
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        self.client = client
        self.state = state
        self.config = config
        self.backoff = backoff
        self.on_retry = on_retry
        self.requests: Counter[str] = Counter()
        self._per_host: dict[str, asyncio.Semaphore] = {}

    async def get(
        self,
        url: str,
        *,
        source: str,
        conditional: bool = True,
        params: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """GET ``url``; raises FetchError (a SourceError) with one line naming status and URL."""
        full_url = str(httpx2.URL(url, params=params)) if params else url
        cached = self.state.cached_response(full_url) if (conditional and self.state) else None
        headers: dict[str, str] = {}
        if cached and cached.etag:
            headers["if-none-match"] = cached.etag
        if cached and cached.last_modified:
            headers["if-modified-since"] = cached.last_modified

        last: _Retryable | None = None
        try:
            async for attempt in stamina.retry_context(
                on=self._backoff_hook(full_url),
                attempts=self.config.retries + 1,
                timeout=None,  # each attempt has its own deadline; attempts bound the total
                wait_initial=self.backoff.initial,
                wait_max=self.backoff.max,
                wait_jitter=self.backoff.jitter,
            ):
                with attempt:
                    try:
                        response = await self._attempt(full_url, headers, source)
                    except _Retryable as e:
                        last = e
                        raise
        except _Retryable:
            assert last is not None
            raise self._give_up(source, full_url, last) from None

        status, body, resp_headers = response
        if status == 304:
            if cached is None:
                raise FetchError(
                    source, f"HTTP 304 from {full_url} without a cached copy", url=full_url, status=304
                )
            return FetchResult(full_url, 304, cached.body, "", not_modified=True)
        if conditional and self.state:
            etag, modified = resp_headers.get("etag"), resp_headers.get("last-modified")
            # Without validators the stored copy could never be revalidated, so it is not kept.
            if etag or modified:
                self.state.store_response(full_url, etag, modified, body)
        return FetchResult(full_url, status, body, resp_headers.get("content-type", ""))

    def _backoff_hook(self, url: str) -> Callable[[BaseException], bool | float]:
        def hook(exc: BaseException) -> bool | float:
            if not isinstance(exc, _Retryable):
                return False
            wait = None if exc.retry_after is None else min(exc.retry_after, self.backoff.retry_after_cap)
            if self.on_retry:
                self.on_retry(RetryEvent(url, exc.reason, wait))
            # A float becomes stamina's wait; True keeps its exponential backoff.
            return True if wait is None else wait

        return hook

    async def _attempt(
        self, url: str, headers: dict[str, str], source: str
    ) -> tuple[int, bytes, httpx2.Headers]:
        host = urlsplit(url).netloc.lower()
        limit = self._per_host.setdefault(host, asyncio.Semaphore(self.config.concurrency))
        async with limit:
            self.requests[source] += 1
            try:
                # The client's timeout is per read; this deadline also stops a server that drips.
                return await asyncio.wait_for(self._stream(url, headers, source), self.config.timeout_seconds)
            except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
                raise _Retryable(f"timed out after {self.config.timeout_seconds:g}s") from None
            except httpx2.TimeoutException:
                raise _Retryable(f"timed out after {self.config.timeout_seconds:g}s") from None
            except (httpx2.ConnectError, httpx2.RemoteProtocolError, httpx2.ReadError) as e:
                down = network_down(e, url)
                if down:  # offline: every retry would fail the same way, each with its own log line
                    raise FetchError(source, down, url=url) from None
                raise _Retryable(f"connection failed ({_one_line(e) or type(e).__name__})") from None
            except httpx2.HTTPError as e:
                raise FetchError(
                    source, f"request to {url} failed: {_one_line(e) or type(e).__name__}", url=url
                ) from None

    async def _stream(
        self, url: str, headers: dict[str, str], source: str
    ) -> tuple[int, bytes, httpx2.Headers]:
        limit = self.config.max_bytes
        async with self.client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status in RETRY_STATUSES:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                raise _Retryable(f"HTTP {status}", status=status, retry_after=retry_after)
            if status == 304:
                return status, b"", response.headers
            if status >= 400 or status < 200:
                raise FetchError(source, f"HTTP {status} from {url}", url=url, status=status)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise self._too_big(source, url)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise self._too_big(source, url)
                chunks.append(chunk)
            return status, b"".join(chunks), response.headers

    def _too_big(self, source: str, url: str) -> FetchError:
        return FetchError(
            source,
            f"response from {url} is larger than {self.config.max_bytes} bytes (http.max_bytes)",
            url=url,
        )

    def _give_up(self, source: str, url: str, last: _Retryable) -> FetchError:
        tries = self.config.retries + 1
        after = f" (after {tries} attempts)" if tries > 1 else ""
        if last.status is not None:
            return FetchError(source, f"HTTP {last.status} from {url}{after}", url=url, status=last.status)
        return FetchError(source, f"{last.reason} fetching {url}{after}", url=url)


def network_down(exc: BaseException, url: str) -> str | None:
    """Why no retry can help now: the host name does not resolve, or there is no network at all.

    A refused connection or a reset is left to the retries (a server restarting); these two mean
    the machine is offline or its DNS is broken, which seconds of backoff do not fix.
    """
    host = httpx2.URL(url).host or url
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:  # httpx2 → httpcore2 → socket; requests → urllib3
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            why = cause.strerror or "name resolution failed"
            return f"cannot resolve {host} ({why}; offline or a DNS failure)"
        if isinstance(cause, OSError) and cause.errno == errno.ENETUNREACH:
            return f"cannot reach {host}: the network is unreachable (offline?)"
        cause = cause.__cause__ or cause.__context__
    return None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())
