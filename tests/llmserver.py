"""A small OpenAI-compatible server on 127.0.0.1 for tests: real HTTP, replies scripted per call.

    from tests.llmserver import llm_server  # noqa: F401  (the fixture)

    def test_x(llm_server):
        llm_server.script("429", "ok")         # first call rate-limited, second answered
        ... LLM(base_url=llm_server.url) ...
        assert llm_server.calls == 2
        llm_server.requests[0]["response_format"]  # parsed request bodies

The 오늘의 흐름 request (the day's numbers as one JSON object) is answered by every :func:`answer` with a
valid Korean paragraph (:func:`flow_paragraph`).

A behaviour is a name ("ok", "garbage", "broken", "wrong_ids", "empty", "no_usage", "401", "404", "429",
"500"), a :class:`Reply`, or a function from the request body to a Reply (see :func:`answer`). Queued
behaviours are used one per chat call; when the queue is empty, ``server.default`` answers.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

MODEL = "fake-model"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; str/bytes → sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to overlap concurrent requests)


Behaviour = str | Reply | Callable[[dict[str, Any]], Reply]


def request_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The items a request asks for: the first JSON array of objects with an "id" in its user message."""
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
    """A valid takeaway that names its item, so a test can tell which line went where."""
    return (
        f"항목 {item['id']}번 {item.get('title', '')[:30]} 연구는 새로운 방법을 제안하고 "
        "여러 벤치마크에서 기존 방법보다 성능을 높였다고 보고한다."
    )


def request_numbers(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of a 오늘의 흐름 request (the day's numbers), or {} for any other request."""
    text = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
    start = text.find("{")
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start) if start >= 0 else ({}, 0)
    except ValueError:
        return {}
    return value if isinstance(value, dict) and "top_items" in value else {}


def flow_paragraph(numbers: dict[str, Any]) -> str:
    """A valid 오늘의 흐름 paragraph that only quotes numbers of its input."""
    topics = sorted(numbers.get("topics", []), key=lambda t: -t.get("papers", 0))
    busiest = "관심 주제 논문은 없었다"
    if topics:
        busiest = f"{topics[0]['topic']} 논문이 {topics[0]['papers']}편으로 가장 많았다"
    return (
        f"오늘 arXiv에는 논문 {numbers.get('papers')}편이 나왔고 {busiest}. "
        "주요 논문들은 새로운 방법을 제안하고 여러 벤치마크에서 성능을 보고했다."
    )


def completion(content: str | None, body: dict[str, Any], *, usage: bool = True, delay: float = 0.0) -> Reply:
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
                "finish_reason": "stop",
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
    usage: bool = True,
    ids: Callable[[str], str] = str,
) -> Callable[[dict[str, Any]], Reply]:
    """Answer each requested item with ``write(item)`` under the id ``ids(its id)``; None leaves it out."""

    def reply(body: dict[str, Any]) -> Reply:
        numbers = request_numbers(body)
        if numbers:  # the one 오늘의 흐름 request of a run: plain text
            return completion(flow_paragraph(numbers), body, usage=usage, delay=delay)
        items = [{"id": ids(it["id"]), "takeaway": write(it)} for it in request_items(body)]
        content = json.dumps(
            {"items": [it for it in items if it["takeaway"] is not None]}, ensure_ascii=False
        )
        return completion(content, body, usage=usage, delay=delay)

    return reply


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
}


class LLMServer:
    """The running server: ``url`` (ends in /v1), ``calls``, ``requests``, ``script()``, ``default``."""

    def __init__(self) -> None:
        self.default: Behaviour = "ok"
        self.requests: list[dict[str, Any]] = []  # parsed bodies of every chat request, in arrival order
        self.headers: list[dict[str, str]] = []  # request headers, in the same order
        self.usage: list[dict[str, int] | None] = []  # the usage each chat reply reported (None: none)
        self.max_in_flight = 0
        self._in_flight = 0
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def calls(self) -> int:
        return len(self.requests)

    def script(self, *behaviours: Behaviour) -> None:
        """Queue one behaviour per coming chat call (after any still queued)."""
        with self._lock:
            self._queue.extend(behaviours)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

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
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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
                    time.sleep(reply.delay)
                    self._send(reply)
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
