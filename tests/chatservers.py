"""Loopback fakes of the three chat APIs, each speaking its real protocol, for tests.

    from tests.chatservers import chat_server  # noqa: F401  (the fixture)

    def test_x(chat_server):
        slack = chat_server("slack")                     # http://127.0.0.1:port/services/T…/B…/<key>
        slack.script(Reply(429, "rate_limited", {"Retry-After": "7"}))   # the next request; then defaults
        ... post with $DIGEST_SLACK_URL = slack.webhook_url ...
        slack.messages                                   # the accepted payloads, in order

What each answers by default is what the real service answers (looked up in their documentation):

- Slack incoming webhook: ``200 ok``; ``400 invalid_payload`` for a body that is not JSON, ``400 no_text``
  for one with neither text nor blocks, ``400 invalid_blocks`` past 50 blocks, 3,000 characters in a
  section's text or 150 in a header's; ``404 no_service`` for a URL that is no (longer a) webhook.
- Discord execute webhook: ``204`` (``200`` and the message with ``?wait=true``); ``401 {"message":
  "Invalid Webhook Token", "code": 50027}``, ``404 {"message": "Unknown Webhook", "code": 10015}``, ``400
  {"message": "Invalid Form Body", "code": 50035, ...}`` past 2,000 characters; GET answers the webhook.
- Telegram Bot API: ``{"ok": true, "result": ...}``; ``401 Unauthorized`` for another token, ``400 Bad
  Request: chat not found``, ``400 Bad Request: message is too long`` past 4,096 characters after the
  markup, ``400 Bad Request: can't parse entities: ...`` for HTML it does not accept; getMe, getChat.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .loopback import LoopbackServer

SLACK_KEY = "T0DIGEST/B0DIGEST/sEcReTsLaCkKeY1234567890"
DISCORD_ID = "1234567890123456789"
DISCORD_TOKEN = "dIsCoRdSeCrEtToKeN_abcdefghijklmnopqrstuvwxyz0123456789"
TELEGRAM_TOKEN = "7654321:AAsEcReTtElEgRaMtOkEn_abcdefghijk"
TELEGRAM_CHAT = "-1001234567890"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict → JSON; str → text/plain
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow channel)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # the parsed JSON, or the raw text when it is not JSON


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _TelegramHTML(HTMLParser):
    """Telegram's HTML parse mode: only its tags, balanced; what remains is the text it counts."""

    ALLOWED = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.ALLOWED:
            self.error = self.error or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = self.error or f'can\'t find end tag corresponding to start tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.text.append(data)


class ChatServer(LoopbackServer):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.received: list[Received] = []
        self.messages: list[dict[str, Any]] = []  # accepted posts
        self.queue: deque[Reply | Callable[[Received], Reply]] = deque()
        self.lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return self.base_url

    @property
    def webhook_url(self) -> str:
        if self.kind == "slack":
            return f"{self.url}/services/{SLACK_KEY}"
        return f"{self.url}/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}"

    @property
    def posts(self) -> list[Received]:
        """The requests that tried to post a message (not getMe / getChat / a webhook GET)."""
        return [
            r for r in self.received if r.method == "POST" and not r.path.endswith(("/getMe", "/getChat"))
        ]

    def script(self, *replies: Reply | Callable[[Received], Reply]) -> None:
        self.queue.extend(replies)

    # -- the protocols ----------------------------------------------------------------------------

    def answer(self, r: Received) -> Reply:
        with self.lock:
            self.received.append(r)
            scripted = self.queue.popleft() if self.queue else None
        if scripted is not None:
            return scripted(r) if callable(scripted) else scripted
        return {"slack": self._slack, "discord": self._discord, "telegram": self._telegram}[self.kind](r)

    def _accept(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.messages.append(body)

    def _slack(self, r: Received) -> Reply:
        if r.path != f"/services/{SLACK_KEY}":
            return Reply(404, "no_service")
        body = r.body
        if not isinstance(body, dict):
            return Reply(400, "invalid_payload")
        blocks = body.get("blocks") or []
        if not body.get("text") and not blocks:
            return Reply(400, "no_text")
        if len(blocks) > 50:
            return Reply(400, "invalid_blocks")
        for b in blocks:
            texts = [b.get("text", {}).get("text", "")] + [e.get("text", "") for e in b.get("elements", [])]
            limit = 150 if b.get("type") == "header" else 3000
            if any(len(t) > limit for t in texts):
                return Reply(400, "invalid_blocks")
        self._accept(body)
        return Reply(200, "ok")

    def _discord(self, r: Received) -> Reply:
        m = re.fullmatch(r"/api/webhooks/(\d+)/([^/]+)", r.path)
        if not m or m[1] != DISCORD_ID:
            return Reply(404, {"message": "Unknown Webhook", "code": 10015})
        if m[2] != DISCORD_TOKEN:
            return Reply(401, {"message": "Invalid Webhook Token", "code": 50027})
        if r.method == "GET":
            return Reply(
                200,
                {
                    "type": 1,
                    "id": DISCORD_ID,
                    "name": "digest",
                    "channel_id": "555",
                    "guild_id": "777",
                    "token": DISCORD_TOKEN,
                },
            )
        body = r.body
        content = body.get("content", "") if isinstance(body, dict) else ""
        if not isinstance(body, dict) or not (content or body.get("embeds")):
            return Reply(400, {"message": "Cannot send an empty message", "code": 50006})
        if utf16_len(content) > 2000:
            errors = {
                "content": {
                    "_errors": [
                        {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
                    ]
                }
            }
            return Reply(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})
        self._accept(body)
        if r.query.get("wait") == ["true"]:
            return Reply(
                200,
                {
                    "id": str(len(self.messages)),
                    "type": 0,
                    "content": content,
                    "channel_id": "555",
                    "webhook_id": DISCORD_ID,
                },
            )
        return Reply(204)

    def _telegram(self, r: Received) -> Reply:
        m = re.fullmatch(r"/bot([^/]+)/(\w+)", r.path)
        if not m:
            return Reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if m[1] != TELEGRAM_TOKEN:
            return Reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        method, body = m[2], r.body if isinstance(r.body, dict) else {}
        if method == "getMe":
            return Reply(
                200,
                {
                    "ok": True,
                    "result": {
                        "id": 7654321,
                        "is_bot": True,
                        "first_name": "Digest",
                        "username": "digest_study_bot",
                    },
                },
            )
        if str(body.get("chat_id")) != TELEGRAM_CHAT:
            return Reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        if method == "getChat":
            return Reply(
                200,
                {
                    "ok": True,
                    "result": {"id": int(TELEGRAM_CHAT), "title": "논문 스터디", "type": "supergroup"},
                },
            )
        if method != "sendMessage":
            return Reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        text = str(body.get("text", ""))
        visible = text
        if body.get("parse_mode") == "HTML":
            parser = _TelegramHTML()
            parser.feed(text)
            parser.close()
            if parser.error or parser.stack:
                error = parser.error or f'can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
                return Reply(
                    400,
                    {
                        "ok": False,
                        "error_code": 400,
                        "description": f"Bad Request: can't parse entities: {error}",
                    },
                )
            visible = "".join(parser.text)
        if not visible.strip():
            return Reply(
                400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
            )
        if utf16_len(visible) > 4096:
            return Reply(
                400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
            )
        self._accept(body)
        return Reply(
            200,
            {
                "ok": True,
                "result": {
                    "message_id": len(self.messages),
                    "date": int(time.time()),
                    "chat": {"id": int(TELEGRAM_CHAT), "type": "supergroup"},
                    "text": html.unescape(visible),
                },
            },
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _handle(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                reply = server.answer(Received(method, parts.path, parse_qs(parts.query), body))
                if reply.delay:
                    time.sleep(reply.delay)
                if isinstance(reply.body, dict | list):
                    data, kind = json.dumps(reply.body).encode(), "application/json"
                else:
                    data, kind = (reply.body or "").encode(), "text/plain; charset=utf-8"
                if reply.status == 204:
                    data = b""
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_POST(self) -> None:
                self._handle("POST")

            def do_GET(self) -> None:
                self._handle("GET")

        return Handler


@pytest.fixture
def chat_server() -> Iterator[Callable[[str], ChatServer]]:
    servers: list[ChatServer] = []

    def make(kind: str) -> ChatServer:
        servers.append(ChatServer(kind))
        return servers[-1]

    try:
        yield make
    finally:
        for s in servers:
            s.close()
