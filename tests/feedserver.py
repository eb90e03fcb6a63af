"""A real HTTP server on 127.0.0.1 for source tests: files or bytes per path, ETag /
Last-Modified with 304, scripted replies (429 + Retry-After, 503, slow), request counting.

Use the fixture from another test module by binding it at module level
(``feed_server = feedserver.feed_server``) or with ``pytest_plugins = ["tests.feedserver"]``
in a module that does not import this one first::

    def test_x(feed_server):
        url = feed_server.serve("/rss", Path("listing.xml"), etag='"v1"')
        feed_server.script("/rss", Reply(429, headers={"Retry-After": "1"}))  # then the route
        feed_server.handle("/api", lambda seen: Reply(200, b"..."))  # an answer computed per request
        ...
        assert feed_server.count("/rss") == 2
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest


@dataclass
class Reply:
    """One response. ``declare_length=False`` sends no Content-Length (the body ends at close)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    declare_length: bool = True


@dataclass
class Route:
    body: bytes
    content_type: str = "application/xml"
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    delay: float = 0.0
    declare_length: bool = True


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    status: int  # what the server answered
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)


class FeedServer:
    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._scripts: dict[str, list[Reply]] = {}
        self._handlers: dict[str, Callable[[Seen], Reply]] = {}
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_in_flight = 0  # the most requests this server was answering at one moment
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, target: str) -> str:
        return self.base_url + target

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- configuring ------------------------------------------------------------------------

    def serve(
        self,
        target: str,
        body: bytes | str | Path,
        *,
        content_type: str = "application/xml",
        etag: str | None = None,
        last_modified: str | None = None,
        status: int = 200,
        delay: float = 0.0,
        declare_length: bool = True,
    ) -> str:
        """Serve ``body`` at ``target`` (a path, or a path with its exact query); returns the URL."""
        if isinstance(body, Path):
            body = body.read_bytes()
        elif isinstance(body, str):
            body = body.encode()
        with self._lock:
            self._routes[target] = Route(
                body, content_type, etag, last_modified, status, delay, declare_length
            )
        return self.url(target)

    def script(self, target: str, *replies: Reply) -> None:
        """One-shot replies for ``target``, used in order before its route."""
        with self._lock:
            self._scripts.setdefault(target, []).extend(replies)

    def handle(self, path: str, answer: Callable[[Seen], Reply]) -> str:
        """Answer every request for ``path`` (any query) with ``answer(request)``, after any script."""
        with self._lock:
            self._handlers[path] = answer
        return self.url(path)

    # -- inspecting -------------------------------------------------------------------------

    def requests(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self._seen if path is None or s.path == path or _target(s) == path]

    def count(self, path: str) -> int:
        return len(self.requests(path))

    # -- answering --------------------------------------------------------------------------

    def _answer(self, method: str, raw_target: str, headers: dict[str, str]) -> Reply:
        parts = urlsplit(raw_target)
        with self._lock:
            scripted = self._scripts.get(raw_target) or self._scripts.get(parts.path)
            handler = self._handlers.get(parts.path)
            if handler is None or scripted:
                reply = self._pick(parts.path, raw_target, headers)
                self._seen.append(Seen(method, parts.path, parts.query, headers, reply.status))
                return reply
        # Outside the lock: a handler may be slow (or answer from other routes).
        arrived = Seen(method, parts.path, parts.query, headers, 200)
        reply = handler(arrived)
        with self._lock:
            self._seen.append(Seen(method, parts.path, parts.query, headers, reply.status, arrived.at))
        return reply

    def _pick(self, path: str, target: str, headers: dict[str, str]) -> Reply:
        for key in (target, path):
            if self._scripts.get(key):
                return self._scripts[key].pop(0)
        route = self._routes.get(target) or self._routes.get(path)
        if route is None:
            return Reply(404, b"not found", {"Content-Type": "text/plain"})
        validators: dict[str, str] = {}
        if route.etag:
            validators["ETag"] = route.etag
        if route.last_modified:
            validators["Last-Modified"] = route.last_modified
        fresh = (route.etag and headers.get("if-none-match") == route.etag) or (
            route.last_modified and headers.get("if-modified-since") == route.last_modified
        )
        if fresh and route.status == 200:
            return Reply(304, b"", validators, route.delay)
        headers_out = {"Content-Type": route.content_type, **validators}
        return Reply(route.status, route.body, headers_out, route.delay, route.declare_length)


def _target(seen: Seen) -> str:
    return seen.path + (f"?{seen.query}" if seen.query else "")


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
            headers = {k.lower(): v for k, v in self.headers.items()}
            with server._lock:
                server._in_flight += 1
                server.most_in_flight = max(server.most_in_flight, server._in_flight)
            try:
                self._reply(server._answer("GET", self.path, headers))
            finally:
                with server._lock:
                    server._in_flight -= 1

        def _reply(self, reply: Reply) -> None:
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.declare_length:
                    self.send_header("Content-Length", str(len(reply.body)))
                else:
                    self.close_connection = True
                self.end_headers()
                if reply.status != 304:
                    self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout or a size cap): that is what some tests check

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass

    return Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started FeedServer on 127.0.0.1, stopped after the test."""
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()
