"""`digest check` against real loopback servers: HTTP sources, an OpenAI-style /models, SMTP."""

from __future__ import annotations

import json
import socket
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner

from digest.check import Probe, exit_code, format_table, probe_smtp
from digest.cli import cli
from digest.config import Email
from digest.llm import endpoint_key
from digest.state import State

KEY = "sk-test-key"
MODEL = "test-model"

# path -> (status, content type, body)
ROUTES: dict[str, tuple[int, str, bytes]] = {
    "/rss/cs.CL+cs.LG": (200, "application/rss+xml", b"<rss><channel><title>cs</title></channel></rss>"),
    "/api/query": (200, "application/atom+xml", b"<feed xmlns='http://www.w3.org/2005/Atom'/>"),
    "/api/daily_papers": (200, "application/json", b"[]"),
    "/blog.xml": (200, "application/rss+xml", b"<rss/>"),
    "/broken.xml": (500, "text/plain", b"oops"),
}


class Handler(BaseHTTPRequestHandler):
    seen: list[str] = []
    posted: list[dict[str, Any]] = []
    chat = "ok"  # "ok" | "no_schema" (500 on json_schema, like llama-cpp-python) | "refuse_all"

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        self.seen.append(self.path)
        self.posted.append(body)
        fmt = (body.get("response_format") or {}).get("type", "text")
        if self.path != "/v1/chat/completions":
            self._send(404, "application/json", b'{"error": "no such path"}')
        elif self.chat == "refuse_all" or (self.chat == "no_schema" and fmt == "json_schema"):
            self._send(500, "application/json", b'{"error": {"message": "internal error"}}')
        else:
            message = {"role": "assistant", "content": '{"ok": true}'}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            answer = {"object": "chat.completion", "choices": [choice], "usage": {}}
            self._send(200, "application/json", json.dumps(answer).encode())

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.seen.append(self.path)
        path = self.path.split("?")[0]
        if path == "/v1/models":
            if self.headers.get("authorization") != f"Bearer {KEY}":
                self._send(401, "application/json", b'{"error": "invalid api key"}')
                return
            body = json.dumps({"object": "list", "data": [{"id": MODEL}, {"id": "other"}]}).encode()
            self._send(200, "application/json", body)
            return
        self._send(*ROUTES.get(path, (404, "text/plain", b"not found")))

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    Handler.seen = []
    Handler.posted = []
    Handler.chat = "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    # aiosmtpd's Controller cannot take port 0: it connects to the configured port to confirm startup.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages += 1
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"digest", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=True would mean "already answered"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Sink]]:
    sink = Sink()
    port = free_port()
    with warnings.catch_warnings():
        # AUTH without TLS is what a loopback test server is for; aiosmtpd warns about it.
        warnings.simplefilter("ignore")
        controller = Controller(
            sink, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False
        )
        controller.start()
    yield port, sink
    controller.stop()


def write_config(tmp_path: Path, base: str, smtp_port: int, *, feeds: list[tuple[str, str]]) -> Path:
    feed_tables = "".join(f'\n[[feeds]]\nname = "{name}"\nurl = "{base}{path}"\n' for name, path in feeds)
    path = tmp_path / "digest.toml"
    path.write_text(
        f"""
state_dir = "{tmp_path / "state"}"

[arxiv]
categories = ["cs.CL", "cs.LG"]
rss_url = "{base}/rss/"
api_url = "{base}/api/query"

[huggingface]
url = "{base}/api/daily_papers"

[llm]
base_url = "{base}/v1"
model = "{MODEL}"

[email]
enabled = true
to = ["me@example.test"]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
security = "none"
username = "digest"
{feed_tables}
""",
        encoding="utf-8",
    )
    return path


def run_check(config: Path) -> Any:
    return CliRunner().invoke(cli, ["check", "--config", str(config), "--timeout", "5"])


def row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line[2:].startswith(name + " "))


def test_everything_reachable_is_all_ticks(
    tmp_path: Path, http_base: str, smtp_server: tuple[int, Sink], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "s3cret")
    port, sink = smtp_server
    result = run_check(write_config(tmp_path, http_base, port, feeds=[("Blog", "/blog.xml")]))
    assert result.exit_code == 0, result.output
    for name in ("config", "state", "arxiv listing", "arxiv api", "huggingface", "feed: Blog", "llm", "smtp"):
        assert row(result.output, name).startswith("✓"), result.output
    llm = row(result.output, "llm")
    assert "model 'test-model' available" in llm
    assert "answers with response_format json_schema · one small request" in llm
    assert "AUTH as digest" in row(result.output, "smtp")
    assert "✗" not in result.output
    assert sink.messages == 0  # a probe never sends mail
    # One tiny API query, not a search; the LLM got GET /models and one small chat request.
    api = next(p for p in Handler.seen if p.startswith("/api/query"))
    assert "max_results=1" in api
    [chat] = Handler.posted
    assert chat["model"] == MODEL and chat["max_tokens"] <= 16


def test_down_smtp_and_a_500_feed_fail_with_reasons(
    tmp_path: Path, http_base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "s3cret")
    config = write_config(tmp_path, http_base, free_port(), feeds=[("Broken", "/broken.xml")])
    result = run_check(config)
    assert result.exit_code == 1, result.output
    feed = row(result.output, "feed: Broken")
    assert feed.startswith("✗") and "HTTP 500" in feed and "(not essential)" in feed
    smtp = row(result.output, "smtp")
    assert smtp.startswith("✗") and "cannot connect" in smtp and "refused" in smtp.lower()
    assert row(result.output, "arxiv listing").startswith("✓")
    assert "essential check(s) failed: smtp" in result.output


def test_a_failing_optional_feed_alone_does_not_fail_the_check(
    tmp_path: Path, http_base: str, smtp_server: tuple[int, Sink], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "s3cret")
    port, _ = smtp_server
    result = run_check(write_config(tmp_path, http_base, port, feeds=[("Broken", "/broken.xml")]))
    assert result.exit_code == 0, result.output
    assert row(result.output, "feed: Broken").startswith("✗")
    assert "1 optional source(s) failing" in result.output


def test_wrong_key_missing_model_and_bad_password(
    tmp_path: Path, http_base: str, smtp_server: tuple[int, Sink], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "nope")
    port, _ = smtp_server
    result = run_check(write_config(tmp_path, http_base, port, feeds=[]))
    assert result.exit_code == 1
    assert "HTTP 401: the key in $OPENAI_API_KEY was refused" in row(result.output, "llm")
    assert "authentication failed: 535" in row(result.output, "smtp")

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    config = tmp_path / "digest.toml"
    config.write_text(config.read_text().replace(f'model = "{MODEL}"', 'model = "absent-model"'))
    result = run_check(config)
    assert "model 'absent-model' not among the 2 models listed" in row(result.output, "llm")


def test_missing_smtp_password_is_reported_without_connecting(
    tmp_path: Path, http_base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    result = run_check(write_config(tmp_path, http_base, free_port(), feeds=[]))
    assert result.exit_code == 1
    assert "$DIGEST_SMTP_PASSWORD is not set" in row(result.output, "smtp")
    assert row(result.output, "config").startswith("✗")


def test_offline_check_still_says_the_key_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing answers (a closed port stands for no network): the missing key is still a finding.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    closed = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, closed, free_port(), feeds=[])
    text = config.read_text().replace(f'base_url = "{closed}/v1"', 'base_url = "https://api.openai.com/v1"')
    config.write_text(text)
    result = run_check(config)
    assert result.exit_code == 1
    assert "$OPENAI_API_KEY is not set: api.openai.com needs a key" in row(result.output, "llm")

    # Another hosted provider cannot be reached: the row says so, and that its key is missing too.
    config.write_text(text.replace("https://api.openai.com/v1", "https://llm.invalid/v1"))
    llm = row(run_check(config).output, "llm")
    assert "cannot connect" in llm and "$OPENAI_API_KEY is not set either" in llm
    # A local server needs no key: nothing is said about one.
    config.write_text(text.replace("https://api.openai.com/v1", f"{closed}/v1"))
    assert "OPENAI_API_KEY" not in row(run_check(config).output, "llm")


def test_smtp_is_skipped_when_email_is_off() -> None:
    probe = probe_smtp(Email(enabled=False), timeout=1)
    assert probe.ok is None and probe.mark == "–" and not probe.essential


def test_every_source_failing_is_essential_even_if_each_is_optional() -> None:
    probes = [
        Probe("config", True, "ok"),
        Probe("huggingface", False, "HTTP 503", essential=False, source=True),
        Probe("feed: x", False, "HTTP 500", essential=False, source=True),
    ]
    assert exit_code(probes) == 1
    table = format_table(probes)
    assert "✗ every source failed: no digest could be built" in table
    assert "essential check(s) failed" not in table  # the optional ones are not called essential
    probes[2] = Probe("feed: x", True, "HTTP 200", essential=False, source=True)
    assert exit_code(probes) == 0


def check_with_chat(
    chat: str, tmp_path: Path, base: str, smtp_port: int, monkeypatch: pytest.MonkeyPatch
) -> Any:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "s3cret")
    Handler.chat = chat
    return run_check(write_config(tmp_path, base, smtp_port, feeds=[]))


def test_llm_probe_says_which_response_format_the_server_accepts(
    tmp_path: Path, http_base: str, smtp_server: tuple[int, Sink], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = check_with_chat("no_schema", tmp_path, http_base, smtp_server[0], monkeypatch)
    assert result.exit_code == 0, result.output
    llm = row(result.output, "llm")
    assert llm.startswith("✓")
    assert "answers with response_format json_object (refused json_schema: HTTP 500)" in llm
    # ...and the run remembers it: it will not ask this endpoint for json_schema again.
    with State.open(tmp_path / "state") as state:
        known = state.llm_endpoint(endpoint_key(f"{http_base}/v1"), MODEL)
    assert known is not None and known.response_format == "json_object"


def test_a_server_that_lists_the_model_but_refuses_every_request_fails(
    tmp_path: Path, http_base: str, smtp_server: tuple[int, Sink], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = check_with_chat("refuse_all", tmp_path, http_base, smtp_server[0], monkeypatch)
    assert result.exit_code == 1
    llm = row(result.output, "llm")
    assert llm.startswith("✗") and "but a small request failed" in llm and "HTTP 500" in llm
    assert "essential check(s) failed: llm" in result.output


def test_a_url_with_credentials_is_shown_without_them_by_check_and_config(
    tmp_path: Path, http_base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`digest check` printed base_url with its userinfo and query in its table, and `digest config`
    echoed it; a failing feed's URL with a token went into its error line the same way."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "s3cret")
    feeds = [("Private", "/broken.xml?token=FEEDTOKEN")]
    config = write_config(tmp_path, http_base, free_port(), feeds=feeds)
    host = http_base.removeprefix("http://")
    text = config.read_text(encoding="utf-8").replace(
        f'base_url = "{http_base}/v1"', f'base_url = "http://user:HUNTER2@{host}/v1?api-key=APIKEY&x=1"'
    )
    config.write_text(text, encoding="utf-8")
    checked = run_check(config)
    shown = [
        checked.output,
        CliRunner().invoke(cli, ["config", "--config", str(config)]).output,
        CliRunner().invoke(cli, ["config", "--json", "--config", str(config)]).output,
    ]
    for output in shown:
        assert "HUNTER2" not in output and "APIKEY" not in output and "user:" not in output, output
    assert "FEEDTOKEN" not in checked.output
    assert f"[http://***@{host}/v1?api-key=***&x=1/models]" in row(checked.output, "llm")
    assert f"[{http_base}/broken.xml?token=***]" in row(checked.output, "feed: Private")
    assert f'base_url = "http://***@{host}/v1?api-key=***&x=1"' in shown[1]
    assert "# URLs without their userinfo and secret query values (***)" in shown[1]
    assert json.loads(shown[2])["llm"]["base_url"] == f"http://***@{host}/v1?api-key=***&x=1"


def test_smtp_without_smtputf8_is_named_when_a_recipient_needs_it() -> None:
    from tests.smtpserver import smtp_server

    email = {"enabled": True, "smtp_host": "127.0.0.1", "security": "none"}
    with smtp_server() as server:
        fine = probe_smtp(Email(**email, smtp_port=server.port, to=["김철수 <kim@example.com>"]), 5.0)
        hangul = probe_smtp(Email(**email, smtp_port=server.port, to=["me@x.test", "철수@example.com"]), 5.0)
    with smtp_server(smtputf8=True) as server:
        offered = probe_smtp(Email(**email, smtp_port=server.port, to=["철수@example.com"]), 5.0)
    assert fine.ok and offered.ok
    assert hangul.ok is False and "no SMTPUTF8, which 철수@example.com needs" in hangul.detail
    assert server.received == []  # a probe never sends mail
