from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import pytest

from digest._compat import UTC
from digest.config import HTTP
from digest.http import (
    FAST_BACKOFF,
    Backoff,
    Fetcher,
    FetchError,
    RetryEvent,
    make_http_client,
    parse_retry_after,
)
from digest.state import State
from tests import feedserver
from tests.feedserver import FeedServer, Reply

feed_server = feedserver.feed_server  # the fixture (an assignment, so ruff sees no redefinition)

T = TypeVar("T")
BODY = b"<rss><channel><title>t</title></channel></rss>"


def fetch_with(
    state: State,
    cfg: HTTP,
    use: Callable[[Fetcher], Awaitable[T]],
    *,
    backoff: Backoff = FAST_BACKOFF,
    events: list[RetryEvent] | None = None,
) -> T:
    async def go() -> T:
        async with make_http_client(cfg) as client:
            on_retry = events.append if events is not None else None
            fetcher = Fetcher(client, state=state, config=cfg, backoff=backoff, on_retry=on_retry)
            return await use(fetcher)

    return asyncio.run(go())


@pytest.fixture
def state(tmp_path: Path):
    with State.open(tmp_path / "state") as s:
        yield s


def test_200_returns_the_body_and_stores_the_validators(feed_server: FeedServer, state: State) -> None:
    url = feed_server.serve("/feed", BODY, etag='"v1"', last_modified="Thu, 05 Feb 2026 05:00:00 GMT")
    result = fetch_with(state, HTTP(), lambda f: f.get(url, source="t"))
    assert (result.status, result.body, result.not_modified) == (200, BODY, False)
    cached = state.cached_response(url)
    assert cached is not None
    assert (cached.etag, cached.last_modified, cached.body) == ('"v1"', "Thu, 05 Feb 2026 05:00:00 GMT", BODY)


def test_second_fetch_sends_if_none_match_and_304_yields_the_stored_body(
    feed_server: FeedServer, state: State
) -> None:
    url = feed_server.serve("/feed", BODY, etag='"v1"')
    first = fetch_with(state, HTTP(), lambda f: f.get(url, source="t"))
    second = fetch_with(state, HTTP(), lambda f: f.get(url, source="t"))
    assert second.not_modified and second.status == 304
    assert second.body == first.body == BODY
    seen = feed_server.requests("/feed")
    assert "if-none-match" not in seen[0].headers
    assert seen[1].headers["if-none-match"] == '"v1"'
    assert seen[1].status == 304


def test_last_modified_alone_is_revalidated_with_if_modified_since(
    feed_server: FeedServer, state: State
) -> None:
    stamp = "Wed, 04 Feb 2026 05:00:00 GMT"
    url = feed_server.serve("/feed", BODY, last_modified=stamp)
    fetch_with(state, HTTP(), lambda f: f.get(url, source="t"))
    second = fetch_with(state, HTTP(), lambda f: f.get(url, source="t"))
    assert second.not_modified
    assert feed_server.requests("/feed")[1].headers["if-modified-since"] == stamp


def test_unconditional_get_sends_no_validators(feed_server: FeedServer, state: State) -> None:
    url = feed_server.serve("/feed", BODY, etag='"v1"')
    fetch_with(state, HTTP(), lambda f: f.get(url, source="t"))
    again = fetch_with(state, HTTP(), lambda f: f.get(url, source="t", conditional=False))
    assert not again.not_modified
    assert "if-none-match" not in feed_server.requests("/feed")[1].headers


def test_params_are_part_of_the_url_and_the_cache_key(feed_server: FeedServer, state: State) -> None:
    feed_server.serve("/api?date=2026-02-05", b"[]", etag='"d5"')
    base = feed_server.url("/api")
    result = fetch_with(state, HTTP(), lambda f: f.get(base, source="t", params={"date": "2026-02-05"}))
    assert result.url == base + "?date=2026-02-05"
    assert state.cached_response(base + "?date=2026-02-05") is not None
    assert state.cached_response(base) is None


def test_429_with_retry_after_is_retried_after_the_asked_wait(feed_server: FeedServer, state: State) -> None:
    url = feed_server.serve("/feed", BODY)
    feed_server.script("/feed", Reply(429, b"slow down", {"Retry-After": "1"}))
    events: list[RetryEvent] = []
    backoff = Backoff(initial=0.01, max=0.02, jitter=0, retry_after_cap=0.3)
    result = fetch_with(state, HTTP(), lambda f: f.get(url, source="t"), backoff=backoff, events=events)
    assert result.body == BODY
    assert [s.status for s in feed_server.requests("/feed")] == [429, 200]
    # Retry-After: 1 was read and capped at 0.3 s: far longer than the 0.01 s exponential start.
    assert events == [RetryEvent(url, "HTTP 429", 0.3)]


def test_503_is_retried_then_fails_with_a_one_line_source_error(
    feed_server: FeedServer, state: State
) -> None:
    url = feed_server.serve("/feed", b"down", status=503)
    with pytest.raises(FetchError) as caught:
        fetch_with(state, HTTP(retries=2), lambda f: f.get(url, source="blog:x"))
    err = caught.value
    assert str(err) == f"blog:x: HTTP 503 from {url} (after 3 attempts)"
    assert err.status == 503 and "\n" not in str(err)
    assert feed_server.count("/feed") == 3


def test_404_is_not_retried(feed_server: FeedServer, state: State) -> None:
    url = feed_server.url("/missing")
    with pytest.raises(FetchError) as caught:
        fetch_with(state, HTTP(retries=3), lambda f: f.get(url, source="t"))
    assert caught.value.status == 404
    assert caught.value.reason == f"HTTP 404 from {url}"
    assert feed_server.count("/missing") == 1


def test_body_over_max_bytes_is_refused_by_content_length(feed_server: FeedServer, state: State) -> None:
    url = feed_server.serve("/big", b"x" * 5000)
    with pytest.raises(FetchError, match=r"larger than 1024 bytes"):
        fetch_with(state, HTTP(max_bytes=1024), lambda f: f.get(url, source="t"))
    assert feed_server.count("/big") == 1
    assert state.cached_response(url) is None


def test_body_over_max_bytes_is_cut_off_while_streaming(feed_server: FeedServer, state: State) -> None:
    url = feed_server.serve("/big", b"y" * 200_000, declare_length=False)
    with pytest.raises(FetchError, match=r"larger than 1024 bytes"):
        fetch_with(state, HTTP(max_bytes=1024), lambda f: f.get(url, source="t"))


def test_slow_response_times_out_and_is_retried(feed_server: FeedServer, state: State) -> None:
    url = feed_server.serve("/slow", BODY, delay=0.6)
    with pytest.raises(FetchError) as caught:
        fetch_with(state, HTTP(timeout_seconds=0.15, retries=1), lambda f: f.get(url, source="t"))
    assert caught.value.reason == f"timed out after 0.15s fetching {url} (after 2 attempts)"
    assert feed_server.count("/slow") == 2


def test_connection_refused_is_a_source_error(state: State) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed"
    with pytest.raises(FetchError, match=r"connection failed .* fetching http://127\.0\.0\.1"):
        fetch_with(state, HTTP(retries=1), lambda f: f.get(url, source="t"))


def test_concurrency_is_bounded_by_config(feed_server: FeedServer, state: State) -> None:
    urls = [feed_server.serve(f"/f{i}", BODY, delay=0.2) for i in range(4)]

    async def all_four(f: Fetcher) -> list[bytes]:
        results = await asyncio.gather(*(f.get(u, source="t") for u in urls))
        return [r.body for r in results]

    bodies = fetch_with(state, HTTP(concurrency=2), all_four)
    assert bodies == [BODY] * 4
    # Each answer takes 0.2 s, so without the limit all four would be in flight together.
    assert feed_server.most_in_flight == 2


def test_the_limit_is_per_host(state: State) -> None:
    # Two servers whose answers wait for each other: with one request at a time per host, both are in
    # flight together; with one at a time overall, the first would wait in vain and fail.
    meeting = threading.Barrier(2, timeout=5)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
            try:
                meeting.wait()
                status = 200
            except threading.BrokenBarrierError:
                status = 500
            self.send_response(status)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    urls = [f"http://127.0.0.1:{s.server_address[1]}/feed" for s in servers]

    async def both(f: Fetcher) -> list[bytes]:
        return [r.body for r in await asyncio.gather(*(f.get(u, source="t") for u in urls))]

    try:
        assert fetch_with(state, HTTP(concurrency=1, retries=0), both) == [BODY, BODY]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_requests_are_counted_per_source(feed_server: FeedServer, state: State) -> None:
    url = feed_server.serve("/feed", BODY)
    feed_server.script("/feed", Reply(503), Reply(503))

    async def use(f: Fetcher) -> int:
        await f.get(url, source="a")
        return f.requests["a"]

    assert fetch_with(state, HTTP(retries=3), use) == 3


def test_client_sends_the_configured_user_agent(feed_server: FeedServer, state: State) -> None:
    url = feed_server.serve("/feed", BODY)
    fetch_with(state, HTTP(user_agent="digest-test/1"), lambda f: f.get(url, source="t"))
    assert feed_server.requests("/feed")[0].headers["user-agent"] == "digest-test/1"


def test_parse_retry_after() -> None:
    now = datetime(2026, 2, 5, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Thu, 05 Feb 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 05 Feb 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_a_name_that_does_not_resolve_fails_at_once_without_retries(state: State) -> None:
    # .invalid never resolves (RFC 6761): what every host looks like on a machine that is offline.
    url = "https://feeds.invalid/feed.xml"
    events: list[RetryEvent] = []

    async def use(f: Fetcher) -> tuple[str, int]:
        try:
            await f.get(url, source="t")
        except FetchError as e:
            return e.reason, f.requests["t"]
        raise AssertionError("fetched a .invalid host")

    reason, requests = fetch_with(state, HTTP(retries=3), use, events=events)
    assert reason.startswith("cannot resolve feeds.invalid (")
    assert reason.endswith("offline or a DNS failure)")
    assert (requests, events) == (1, [])


def test_the_suite_resolves_no_name_but_this_machine():
    # tests/conftest.py: no test reaches the internet, not even with a DNS query.
    import socket

    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("export.arxiv.org", 443)
    assert socket.getaddrinfo("127.0.0.1", 80) and socket.getaddrinfo("localhost", 80)
