"""A small OpenAI-compatible server on 127.0.0.1 for tests: real HTTP, replies scripted per call.

    from tests.llmserver import llm_server  # noqa: F401  (the fixture)

    def test_x(llm_server):
        llm_server.script("429", "ok")         # first call rate-limited, second answered
        ... LLM(base_url=llm_server.url) ...
        assert llm_server.calls == 2
        llm_server.requests[0]["response_format"]  # parsed request bodies

A behaviour is a name ("ok", "garbage", "broken", "wrong_ids", "empty", "no_usage", "runaway", "endless",
"huge", "401", "404", "429", "500"), a :class:`Reply`, or a function from the request body to a Reply (see
:func:`answer`, :func:`refusing`). Queued behaviours are used one per chat call; when the queue is empty,
``server.default`` answers.

Like a real server it honours ``max_tokens`` where a model would (``runaway`` writes until the cap and
says ``finish_reason: "length"``), and it can trickle a body that never ends (``endless``).

The 오늘의 흐름 request (the day's movements and top items as one JSON object) is answered by every
:func:`answer` with a valid lead and theme (:func:`flow_answer`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from .loopback import LoopbackServer

MODEL = "fake-model"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; str/bytes → sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to overlap concurrent requests)
    chunks: Iterable[bytes] | None = None  # sent chunked (after ``body``), one every ``chunk_delay`` s
    chunk_delay: float = 0.0


Behaviour = str | Reply | Callable[[dict[str, Any]], Reply]


def request_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The items a request asks for: the first JSON array of objects with an "id" in its user message
    (none in the 오늘의 흐름 request, whose top items have ids to lead with)."""
    if request_numbers(body):
        return []
    text = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            value = value.get("items")
        if isinstance(value, list) and value and all(isinstance(v, dict) and "id" in v for v in value):
            return value
    return []


def korean_line(item: dict[str, Any]) -> str:
    """A valid takeaway that names its item (by title), so a test can tell which line went where."""
    return (
        f"{item.get('title', '')[:30]} 연구는 새로운 방법을 제안하고 "
        "여러 벤치마크에서 기존 방법보다 성능을 높였다고 보고한다."
    )


def request_numbers(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of a 오늘의 흐름 request (movements and top items), or {} for any other request."""
    text = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
    start = text.find("{")
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start) if start >= 0 else ({}, 0)
    except ValueError:
        return {}
    return value if isinstance(value, dict) and "top_items" in value else {}


FLOW_THEME = "주요 논문들은 새로운 방법을 제안하고 여러 벤치마크에서 성능을 보고했다."


def flow_answer(request: dict[str, Any]) -> dict[str, str]:
    """A valid 오늘의 흐름 answer: the first id it may lead with, and a theme sentence without digits."""
    ids = [m["id"] for m in request.get("movements", [])] + [it["id"] for it in request.get("top_items", [])]
    return {"lead": ids[0], "theme": FLOW_THEME} if ids else {"theme": FLOW_THEME}


def answer_key(body: dict[str, Any]) -> str:
    """The field the request's JSON schema asks for besides "id" (what a model constrained by it writes)."""
    fmt = body.get("response_format") or {}
    try:
        props = fmt["json_schema"]["schema"]["properties"]["items"]["items"]["properties"]
        return next(k for k in props if k != "id")
    except (KeyError, TypeError, StopIteration):
        return "korean"


def max_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_tokens", body.get("max_completion_tokens"))
    return value if isinstance(value, int) else None


def completion(
    content: str | None,
    body: dict[str, Any],
    *,
    usage: bool = True,
    delay: float = 0.0,
    finish_reason: str = "stop",
) -> Reply:
    """A chat.completion envelope around ``content``, with token counts derived from the sizes."""
    reply: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", MODEL),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage:
        prompt = len(json.dumps(body.get("messages", []), ensure_ascii=False)) // 4
        done = len(content or "") // 2 + 1
        reply["usage"] = {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}
    return Reply(body=reply, delay=delay)


def answer(
    write: Callable[[dict[str, Any]], str | None] = korean_line,
    *,
    delay: float = 0.0,
    delay_per_item: float = 0.0,
    usage: bool = True,
    ids: Callable[[str], str] = str,
) -> Callable[[dict[str, Any]], Reply]:
    """Answer each requested item with ``write(item)`` under the id ``ids(its id)``; None leaves it out.

    ``delay_per_item`` makes a batch of n take n times as long, like a model writing n lines.
    """

    def reply(body: dict[str, Any]) -> Reply:
        numbers = request_numbers(body)
        if numbers:  # the one 오늘의 흐름 request of a run: its two fields, in any mode
            content = json.dumps(flow_answer(numbers), ensure_ascii=False)
            return completion(content, body, usage=usage, delay=delay)
        key = answer_key(body)
        asked = request_items(body)
        items = [{"id": ids(it["id"]), key: write(it)} for it in asked]
        content = json.dumps({"items": [it for it in items if it[key] is not None]}, ensure_ascii=False)
        return completion(content, body, usage=usage, delay=delay + delay_per_item * len(asked))

    return reply


def refusing(
    kind: str, code: int = 500, then: Callable[[dict[str, Any]], Reply] | None = None
) -> Callable[[dict[str, Any]], Reply]:
    """A server that answers ``code`` to every request whose response_format is ``kind`` (as
    llama-cpp-python's server answers json_schema with 500), and ``then`` (default: "ok") otherwise."""

    def reply(body: dict[str, Any]) -> Reply:
        fmt = (body.get("response_format") or {}).get("type", "text")
        if fmt == kind:
            return status(code, message=f"response_format {kind} is not supported")
        return (then or answer())(body)

    return reply


def runaway(body: dict[str, Any]) -> Reply:
    """A model that never closes its line: it writes until max_tokens (finish_reason "length"), and
    without a cap the server never stops sending."""
    cap = max_tokens(body)
    if cap is None:
        return endless(body)
    start = json.dumps({"items": [{"id": "1", answer_key(body): ""}]}, ensure_ascii=False)[:-4]
    content = start + "그리고 같은 말을 반복한다 " * (cap // 8)  # ~8 tokens a phrase
    return completion(content, body, finish_reason="length")


def endless(body: dict[str, Any]) -> Reply:
    """A 200 whose body never ends: the start of a completion, then more content every 50 ms."""
    head = b'{"id": "chatcmpl-fake", "object": "chat.completion", "choices": [{"index": 0, '
    head += b'"message": {"role": "assistant", "content": "'
    return Reply(body=head, chunks=iter(lambda: "끝나지 않는 답 ".encode(), None), chunk_delay=0.05)


def huge(body: dict[str, Any]) -> Reply:
    """A complete completion with a 5 MB line: a server that ignores max_tokens."""
    return completion("가" * 5_000_000, body)


def status(code: int, *, retry_after: str | None = None, message: str = "scripted error") -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(code, {"error": {"message": message, "type": "fake", "code": str(code)}}, headers)


def _unauthorized(key: str) -> Reply:
    # Real servers echo (part of) the key; echoing all of it lets a test show that digest never repeats it.
    return status(401, message=f"Incorrect API key provided: {key}")


NAMED: dict[str, Callable[[dict[str, Any]], Reply]] = {
    "ok": answer(),
    "no_usage": answer(usage=False),
    "garbage": lambda body: completion("죄송합니다. 요청을 이해하지 못했습니다. <html>", body),
    "broken": lambda body: Reply(200, "this is not json {", {"Content-Type": "application/json"}),
    "wrong_ids": answer(korean_line, ids=lambda item_id: f"x{item_id}"),
    "empty": lambda body: completion('{"items": []}', body),
    "404": lambda body: status(404, message="model not found"),
    "429": lambda body: status(429, retry_after="0", message="rate limited"),
    "500": lambda body: status(500, message="internal error"),
    "502": lambda body: status(502, message="bad gateway"),
    "runaway": runaway,
    "endless": endless,
    "huge": huge,
}


class LLMServer(LoopbackServer):
    """The running server: ``url`` (ends in /v1), ``calls``, ``requests``, ``script()``, ``default``."""

    def __init__(self) -> None:
        self.default: Behaviour = "ok"
        self.requests: list[dict[str, Any]] = []  # parsed bodies of every chat request, in arrival order
        self.headers: list[dict[str, str]] = []  # request headers, in the same order
        self.usage: list[dict[str, int] | None] = []  # the usage each chat reply reported (None: none)
        self.max_in_flight = 0
        self.disconnects = 0  # chunked bodies the client hung up on
        self.closing = threading.Event()
        self._in_flight = 0
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def calls(self) -> int:
        return len(self.requests)

    def script(self, *behaviours: Behaviour) -> None:
        """Queue one behaviour per coming chat call (after any still queued)."""
        with self._lock:
            self._queue.extend(behaviours)

    def close(self) -> None:
        self.closing.set()
        super().close()

    def _next(self, body: dict[str, Any], key: str) -> Reply:
        with self._lock:
            self.requests.append(body)
            behaviour = self._queue.popleft() if self._queue else self.default
        if behaviour == "401":
            behaviour = _unauthorized(key)
        if isinstance(behaviour, str):
            behaviour = NAMED[behaviour]
        reply = behaviour if isinstance(behaviour, Reply) else behaviour(body)
        with self._lock:
            self.usage.append(reply.body.get("usage") if isinstance(reply.body, dict) else None)
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:
                pass  # keep pytest's output clean

            def _send(self, reply: Reply) -> None:
                body = reply.body
                data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else b""
                if isinstance(body, dict | list):
                    data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                if reply.chunks is None:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return  # a client that hung up raises here; do_POST counts it
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._chunk(data)
                for chunk in reply.chunks:  # until the client hangs up (do_POST counts it) or the end
                    if server.closing.wait(reply.chunk_delay):
                        break
                    self._chunk(chunk)
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, data: bytes) -> None:
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(Reply(body={"object": "list", "data": [{"id": MODEL, "object": "model"}]}))
                else:
                    self._send(status(404, message="no such path"))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/chat/completions":
                    self._send(status(404, message="no such path"))
                    return
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                with server._lock:
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                try:
                    reply = server._next(json.loads(raw), key)
                    server.closing.wait(reply.delay)
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    server.disconnects += 1  # the client gave up waiting
                finally:
                    with server._lock:
                        server._in_flight -= 1

        return Handler


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    server = LLMServer()
    try:
        yield server
    finally:
        server.close()
