"""Delivery over real SMTP (aiosmtpd on loopback): security, AUTH, retries, idempotency, pending."""

from __future__ import annotations

import asyncio
import io
import json
import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Config, Email
from digest.delivery import DeliveryOutcome, Retry, check_sendable, send_digest, send_pending
from digest.errors import ConfigError
from digest.progress import Progress
from digest.state import State

from .digests import fixed_digest
from .smtpserver import HOST, Handler, closed_port, self_signed_cert, smtp_server

SECRET = "s3cret-Pa55word"
DAY = fixed_digest().day


class Sleeps:
    """The retry waits, recorded instead of slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_config(
    tmp_path: Path, port: int, *, to: tuple[str, ...] = ("me@example.com",), **email: object
) -> Config:
    settings: dict[str, object] = {
        "enabled": True,
        "from_": "데일리 트렌드 <digest@example.com>",
        "to": list(to),
        "reply_to": "owner@example.com",
        "smtp_host": HOST,
        "smtp_port": port,
        "security": "none",
        "timeout_seconds": 5.0,
    }
    return Config(state_dir=str(tmp_path / "state"), email=Email(**(settings | email)))


def send(
    config: Config, *, force: bool = False, retry: Retry | None = None, **kw: object
) -> list[DeliveryOutcome]:
    with State.open(config.state_path) as state:
        return asyncio.run(
            send_digest(
                config,
                state,
                fixed_digest(),
                force=force,
                progress=kw.pop("progress", Progress(quiet=True)),  # type: ignore[arg-type]
                retry=retry or Retry(attempts=3, delay=0.01, sleep=Sleeps()),
                **kw,  # type: ignore[arg-type]
            )
        )


def pending(config: Config, **kw: object) -> list[DeliveryOutcome]:
    with State.open(config.state_path) as state:
        return asyncio.run(
            send_pending(
                config, state, progress=Progress(quiet=True), retry=Retry(attempts=1, sleep=Sleeps()), **kw
            )  # type: ignore[arg-type]
        )


def unwire(text: str) -> str:
    """A body as sent (CRLF line ends, final newline) compared as text."""
    return text.replace("\r\n", "\n").rstrip("\n")


def statuses(outcomes: list[DeliveryOutcome]) -> dict[str, str]:
    return {o.recipient: o.status for o in outcomes}


def test_sends_one_message_per_recipient_and_archives_first(tmp_path):
    with smtp_server() as server:
        config = make_config(tmp_path, server.port, to=("a@example.com", "b@example.com"))
        outcomes = send(config)
    assert statuses(outcomes) == {"a@example.com": "sent", "b@example.com": "sent"}
    # Each recipient gets its own message: nobody sees the other addresses.
    assert [(r.mail_from, r.rcpt_tos) for r in server.received] == [
        ("digest@example.com", ["a@example.com"]),
        ("digest@example.com", ["b@example.com"]),
    ]
    msg = server.received[0].message
    assert msg["To"] == "a@example.com"
    assert msg["Reply-To"] == "owner@example.com"
    assert msg["Subject"].startswith("[데일리 트렌드] 2025-10-14 (화)")
    assert msg["Message-ID"] == outcomes[0].message_id
    # The client's unsubscribe button writes to the sender, who runs the digest.
    assert msg["List-Unsubscribe"] == "<mailto:digest@example.com?subject=unsubscribe>"

    archive = config.state_path / "archive"
    meta = json.loads((archive / "2025-10-14.json").read_text(encoding="utf-8"))
    assert meta["subject"] == msg["Subject"]
    html_part = msg.get_body(("html",))
    assert html_part is not None
    assert unwire(html_part.get_content()) == unwire(
        (archive / "2025-10-14.html").read_text(encoding="utf-8")
    )
    with State.open(config.state_path) as state:
        rows = {d.recipient: (d.status, d.message_id) for d in state.deliveries(day=DAY)}
    assert rows == {o.recipient: ("sent", o.message_id) for o in outcomes}


def test_auth_uses_the_password_from_the_environment_and_never_logs_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", SECRET)
    log = io.StringIO()
    with smtp_server(auth=("digest-user", SECRET)) as server:
        config = make_config(tmp_path, server.port, username="digest-user")
        outcomes = send(config, progress=Progress(log))
    assert statuses(outcomes) == {"me@example.com": "sent"}
    assert server.auth is not None and server.auth.logins == ["digest-user"]
    assert len(server.received) == 1
    assert SECRET not in log.getvalue()


def test_rejected_credentials_are_pending_and_not_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "wrong")
    sleeps = Sleeps()
    with smtp_server(auth=("digest-user", SECRET)) as server:
        config = make_config(tmp_path, server.port, username="digest-user")
        [outcome] = send(config, retry=Retry(attempts=3, delay=0.01, sleep=sleeps))
    assert (outcome.status, outcome.attempts) == ("pending", 1)
    assert "AUTH rejected: SMTP 535" in outcome.error
    assert "wrong" not in outcome.error
    assert sleeps.waits == [] and server.received == []


def test_missing_password_is_a_clear_error_before_any_work(tmp_path):
    config = make_config(tmp_path, closed_port(), username="digest-user")
    with pytest.raises(ConfigError, match="DIGEST_SMTP_PASSWORD is not set"):
        check_sendable(config)
    # The library itself never connects without it either.
    [outcome] = send(config)
    assert outcome.status == "pending"
    assert "needs a password in $DIGEST_SMTP_PASSWORD" in outcome.error


def test_email_disabled_is_refused_by_check_sendable(tmp_path):
    with pytest.raises(ConfigError, match="email.enabled"):
        check_sendable(make_config(tmp_path, 25, enabled=False))


def test_second_send_is_skipped_and_force_sends_again(tmp_path):
    with smtp_server() as server:
        config = make_config(tmp_path, server.port)
        first = send(config)
        second = send(config)
        assert len(server.received) == 1
        forced = send(config, force=True)
    assert [o.status for o in first + second + forced] == ["sent", "skipped", "sent"]
    assert "already sent" in second[0].error
    assert len(server.received) == 2
    # A forced resend is a new message, not a duplicate of the first one.
    ids = [r.message["Message-ID"] for r in server.received]
    assert ids[0] != ids[1]


def test_temporary_refusal_is_retried_with_backoff(tmp_path):
    sleeps = Sleeps()
    with smtp_server(Handler(tempfail_rcpt=1, tempfail_data=1)) as server:
        config = make_config(tmp_path, server.port)
        [outcome] = send(config, retry=Retry(attempts=4, delay=0.5, factor=2, sleep=sleeps))
    assert (outcome.status, outcome.attempts) == ("sent", 3)
    assert server.handler.refusals == ["451 me@example.com", "451 DATA"]
    assert sleeps.waits == [0.5, 1.0]
    assert len(server.received) == 1


def test_server_down_is_pending_then_send_pending_delivers_once(tmp_path):
    port = closed_port()
    config = make_config(tmp_path, port, to=("a@example.com", "b@example.com"))
    sleeps = Sleeps()
    outcomes = send(config, retry=Retry(attempts=3, delay=0.01, sleep=sleeps))
    assert statuses(outcomes) == {"a@example.com": "pending", "b@example.com": "pending"}
    assert all(o.attempts == 3 and "ConnectionRefused" in o.error for o in outcomes)
    assert len(sleeps.waits) == 4  # two waits per recipient
    with State.open(config.state_path) as state:
        assert [d.status for d in state.deliveries(day=DAY)] == ["pending", "pending"]

    with smtp_server(port=port) as server:
        resent = pending(config)
        again = pending(config)
        rerun = send(config)  # e.g. the scheduler firing after the manual resend
    assert statuses(resent) == {"a@example.com": "sent", "b@example.com": "sent"}
    assert again == []
    assert [o.status for o in rerun] == ["skipped", "skipped"]
    assert len(server.received) == 2
    # The retry keeps the Message-ID of the unconfirmed first try.
    assert {o.message_id for o in outcomes} == {r.message["Message-ID"] for r in server.received}


def test_resend_comes_from_the_archive_without_rebuilding(tmp_path):
    port = closed_port()
    config = make_config(tmp_path, port)
    send(config, retry=Retry(attempts=1))
    archive = config.state_path / "archive"
    # Whatever is in the archive is what goes out: nothing is rendered, fetched or summarized again.
    (archive / "2025-10-14.html").write_text("<p>archived copy</p>", encoding="utf-8")
    (archive / "2025-10-14.txt").write_text("archived copy\n", encoding="utf-8")
    with smtp_server(port=port) as server:
        [outcome] = pending(config)
    assert outcome.status == "sent"
    msg = server.received[0].message
    assert unwire(msg.get_body(("html",)).get_content()) == "<p>archived copy</p>"  # type: ignore[union-attr]
    assert unwire(msg.get_body(("plain",)).get_content()) == "archived copy"  # type: ignore[union-attr]
    with State.open(config.state_path) as state:
        assert state.recent_runs() == []  # no pipeline run happened


def test_bad_address_fails_for_that_recipient_only(tmp_path):
    handler = Handler(bad={"nobody@example.com"})
    sleeps = Sleeps()
    with smtp_server(handler) as server:
        config = make_config(tmp_path, server.port, to=("nobody@example.com", "me@example.com"))
        outcomes = send(config, retry=Retry(attempts=3, delay=0.01, sleep=sleeps))
        rerun = send(config)
    assert statuses(outcomes) == {"nobody@example.com": "failed", "me@example.com": "sent"}
    failed = outcomes[0]
    assert failed.attempts == 1 and sleeps.waits == []  # a permanent refusal is not retried
    assert "SMTP 550" in failed.error and "User unknown" in failed.error
    assert "FAILED" in failed.describe() and "nobody@example.com" in failed.describe()
    assert [r.rcpt_tos for r in server.received] == [["me@example.com"]]
    # A later send does not try the bad address again, and does not pretend it was delivered either.
    assert statuses(rerun) == {"nobody@example.com": "failed", "me@example.com": "skipped"}
    assert "failed permanently earlier: SMTP 550" in rerun[0].error and "--force" in rerun[0].error
    with State.open(config.state_path) as state:
        assert state.delivery(DAY, "nobody@example.com").status == "failed"  # type: ignore[union-attr]


def test_starttls_is_never_downgraded(tmp_path):
    with smtp_server() as server:  # offers no STARTTLS
        config = make_config(tmp_path, server.port, security="starttls")
        [outcome] = send(config)
    assert (outcome.status, outcome.attempts) == ("pending", 1)
    assert "does not offer STARTTLS" in outcome.error
    assert server.received == []


@pytest.fixture
def tls(tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    made = self_signed_cert(tmp_path)
    if made is None:
        pytest.skip("no openssl CLI to make a test certificate")
    cert, key = made
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    return server_ctx, ssl.create_default_context(cafile=str(cert))


def test_starttls_and_ssl_send_encrypted_with_auth(tmp_path, monkeypatch, tls):
    server_ctx, client_ctx = tls
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", SECRET)
    with smtp_server(starttls=server_ctx, auth=("u", SECRET)) as server:
        config = make_config(tmp_path / "a", server.port, security="starttls", username="u")
        [outcome] = send(config, tls_context=client_ctx)
    assert outcome.status == "sent" and len(server.received) == 1
    with smtp_server(implicit_tls=server_ctx) as server:
        config = make_config(tmp_path / "b", server.port, security="ssl")
        [outcome] = send(config, tls_context=client_ctx)
        assert outcome.status == "sent" and len(server.received) == 1
        # An untrusted certificate is our setup problem: no retries, no clear-text fallback.
        [untrusted] = send(make_config(tmp_path / "c", server.port, security="ssl"))
    assert untrusted.status == "pending" and "TLS failed" in untrusted.error


def write_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(
        f"""state_dir = "{tmp_path / "state"}"

[email]
enabled = true
from = "digest@example.com"
to = ["me@example.com"]
smtp_host = "{HOST}"
smtp_port = {port}
security = "none"
timeout_seconds = 5.0
""",
        encoding="utf-8",
    )
    return path


def test_cli_send_pending(tmp_path):
    port = closed_port()
    config = make_config(tmp_path, port)
    send(config, retry=Retry(attempts=1))
    path = write_config(tmp_path, port)
    runner = CliRunner()
    with smtp_server(port=port) as server:
        result = runner.invoke(cli, ["send", "--pending", "--config", str(path)])
        assert result.exit_code == 0, result.output
        assert "2025-10-14 → me@example.com: sent" in result.output
        assert len(server.received) == 1
        assert runner.invoke(cli, ["send", "--pending", "--config", str(path)]).exit_code == 0
        assert len(server.received) == 1


def test_cli_send_reports_undelivered_recipients_with_exit_1(tmp_path):
    port = closed_port()
    send(make_config(tmp_path, port), retry=Retry(attempts=1))
    result = CliRunner().invoke(cli, ["send", "--pending", "--config", str(write_config(tmp_path, port))])
    assert result.exit_code == 1
    assert "Error: email not delivered to 1 of 1 recipient(s):" in result.output
    assert "me@example.com: not sent yet" in result.output


def test_cli_send_needs_pending(tmp_path):
    result = CliRunner().invoke(cli, ["send"])
    assert result.exit_code == 2
    assert "--pending" in result.output


def test_cli_now_demo_send_emails_the_printed_run(tmp_path):
    with smtp_server() as server:
        path = write_config(tmp_path, server.port)
        runner = CliRunner()
        result = runner.invoke(
            cli, ["now", "--demo", "--send", "--format", "html", "-q", "--config", str(path)]
        )
        assert result.exit_code == 0, result.output
        again = runner.invoke(cli, ["now", "--demo", "--send", "-q", "--config", str(path)])
        assert again.exit_code == 0, again.output
    # Sample digests are for trying the setup: marked as such, and sent every time.
    assert len(server.received) == 2
    msg = server.received[0].message
    assert msg["Subject"].startswith("[데일리 트렌드 · 샘플] 2026-03-19 (목)")
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert unwire(html) == unwire(result.stdout)  # the same run that was printed, not a second one
    assert (tmp_path / "state" / "archive" / "sample-2026-03-19.json").is_file()


def test_cli_preview_demo_writes_an_html_file(tmp_path):
    out = tmp_path / "preview.html"
    result = CliRunner().invoke(cli, ["preview", "--demo", "-q", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == out.resolve().as_uri()
    assert "데일리 트렌드 · 샘플" in out.read_text(encoding="utf-8")


def without_fallbacks():
    import dataclasses

    from digest.models import Takeaway, TakeawayStatus

    d = fixed_digest()
    entries = [
        dataclasses.replace(e, takeaway=Takeaway("LLM이 다시 쓴 요약 문장입니다.", TakeawayStatus.LLM))
        if e.takeaway.is_fallback
        else e
        for e in d.entries
    ]
    return dataclasses.replace(d, entries=entries)


def send_this(config: Config, d, *, force: bool = False, stream: io.StringIO | None = None):
    with State.open(config.state_path) as state:
        return asyncio.run(
            send_digest(
                config,
                state,
                d,
                force=force,
                progress=Progress(stream or io.StringIO(), quiet=True),
                retry=Retry(attempts=1, sleep=Sleeps()),
            )
        )


def test_force_replaces_a_fallback_email_and_says_what_it_replaces(tmp_path):
    with smtp_server() as server:
        config = make_config(tmp_path, server.port)
        [first] = send_this(config, fixed_digest())  # one marked fallback line: the LLM was down
        # Without --force, a better run is not sent, but even a quiet run says how to replace it.
        warnings = io.StringIO()
        [skipped] = send_this(config, without_fallbacks(), stream=warnings)
        assert skipped.status == "skipped" and len(server.received) == 1
        assert "with 1 marked fallbacks (this run has 0: `digest now --send --force` replaces it)" in (
            warnings.getvalue()
        )
        [replaced] = send_this(config, without_fallbacks(), force=True)
    assert replaced.status == "sent" and replaced.replaced == first.message_id
    assert "sent as a replacement" in replaced.describe()
    assert len(server.received) == 2
    old, new = (r.message for r in server.received)
    # The reader's client threads it with the first one, and the first line says what it is.
    assert new["In-Reply-To"] == new["References"] == old["Message-ID"]
    assert new["Message-ID"] != old["Message-ID"] and new["Subject"] == old["Subject"]
    text = new.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "에 보낸 메일(⚠️ 요약 대체 1개)을 대신하는 메일입니다." in text
    assert "대신하는" in new.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "대신하는" not in old.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    with State.open(config.state_path) as state:
        row = state.delivery(DAY, "me@example.com")
    assert row is not None
    assert (row.status, row.message_id, row.replaces) == ("sent", new["Message-ID"], old["Message-ID"])
    assert (row.fallbacks, row.attempts) == (0, 2)


def test_force_resend_without_fallbacks_says_it_is_sent_again(tmp_path):
    with smtp_server() as server:
        config = make_config(tmp_path, server.port)
        send_this(config, without_fallbacks())
        send_this(config, without_fallbacks(), force=True)
    text = server.received[1].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "에 보낸 메일을 다시 보냅니다." in text


# -- addresses: display names, Hangul domains and local parts, one mailbox written several ways --------


def test_a_korean_display_name_reaches_a_server_without_smtputf8(tmp_path):
    """'김철수 <kim@example.com>' used to be refused ("require internationalized email support") and kept
    pending for ever: the envelope carries the address alone and the header encodes the name."""
    with smtp_server() as server:
        config = make_config(tmp_path, server.port, to=("김철수 <kim@example.com>",))
        outcomes = send(config)
    assert statuses(outcomes) == {"김철수 <kim@example.com>": "sent"}
    [mail] = server.received
    assert mail.rcpt_tos == ["kim@example.com"] and mail.mail_from == "digest@example.com"
    assert "SMTPUTF8" not in mail.mail_options
    head = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"To: =?utf-8?b?" in head
    assert str(mail.message["To"]) == "김철수 <kim@example.com>"
    assert str(mail.message["From"]) == "데일리 트렌드 <digest@example.com>"


def test_a_hangul_domain_goes_as_its_ascii_form(tmp_path):
    with smtp_server() as server:
        config = make_config(tmp_path, server.port, to=("kim@예시.kr",))
        assert statuses(send(config)) == {"kim@예시.kr": "sent"}
    [mail] = server.received
    assert mail.rcpt_tos == ["kim@xn--vv4b11d.kr"] and "SMTPUTF8" not in mail.mail_options
    assert str(mail.message["To"]) == "kim@xn--vv4b11d.kr"


def test_a_hangul_mailbox_uses_smtputf8_where_offered_and_fails_for_good_where_not(tmp_path):
    config_dir = tmp_path / "with"
    with smtp_server(smtputf8=True) as server:
        config = make_config(config_dir, server.port, to=("철수@example.com", "me@example.com"))
        assert statuses(send(config)) == {"철수@example.com": "sent", "me@example.com": "sent"}
    hangul, ascii_only = server.received
    assert hangul.rcpt_tos == ["철수@example.com"] and "SMTPUTF8" in hangul.mail_options
    assert str(hangul.message["To"]) == "철수@example.com"
    assert ascii_only.rcpt_tos == ["me@example.com"] and "SMTPUTF8" not in ascii_only.mail_options

    sleeps = Sleeps()
    with smtp_server() as server:
        config = make_config(tmp_path / "without", server.port, to=("철수@example.com", "me@example.com"))
        first = send(config, retry=Retry(attempts=3, delay=0.01, sleep=sleeps))
        later = pending(config)
        again = send(config)
    assert statuses(first) == {"철수@example.com": "failed", "me@example.com": "sent"}
    refused = first[0]
    assert refused.attempts == 1 and sleeps.waits == []  # permanent: not retried
    assert "SMTPUTF8" in refused.error and "cannot be delivered" in refused.error
    # Not pending, so no later run retries it; a rerun says it failed for good, once per send.
    assert later == []
    assert statuses(again) == {"철수@example.com": "failed", "me@example.com": "skipped"}
    assert [m.rcpt_tos for m in server.received] == [["me@example.com"]]


def test_one_mailbox_written_three_ways_gets_one_copy(tmp_path):
    spellings = ("a@example.com", "A@EXAMPLE.COM", "김철수 <a@example.com>")
    stream = io.StringIO()
    with smtp_server() as server:
        config = make_config(tmp_path, server.port, to=spellings)
        outcomes = send(config, progress=Progress(stream, live=False))
        # The config rewritten with another spelling first: still the same mailbox, already sent.
        config = make_config(tmp_path, server.port, to=tuple(reversed(spellings)))
        rerun = send(config)
    assert [o.status for o in outcomes] == ["sent"] and [o.status for o in rerun] == ["skipped"]
    assert [m.rcpt_tos for m in server.received] == [["a@example.com"]]
    log = stream.getvalue()
    assert "A@EXAMPLE.COM is the same mailbox as a@example.com: sent once" in log
    assert "김철수 <a@example.com> is the same mailbox as a@example.com: sent once" in log
    with State.open(config.state_path) as state:
        assert [d.recipient for d in state.deliveries(day=DAY)] == ["a@example.com"]


def test_pending_rows_of_one_mailbox_under_two_spellings_are_sent_once(tmp_path):
    """Rows kept before recipients were compared by mailbox: send --pending sends one copy for both."""
    port = closed_port()
    config = make_config(tmp_path, port, to=("a@example.com",))
    send(config, retry=Retry(attempts=1))
    with State.open(config.state_path) as state:
        state.record_delivery(DAY, "김철수 <A@EXAMPLE.COM>", "pending", error="not confirmed", attempt=False)
    with smtp_server(port=port) as server:
        resent = pending(config)
        again = pending(config)
    assert statuses(resent) == {"a@example.com": "sent"} and again == []
    assert [m.rcpt_tos for m in server.received] == [["a@example.com"]]
    with State.open(config.state_path) as state:
        rows = {d.recipient: (d.status, d.last_error) for d in state.deliveries(day=DAY)}
    assert rows == {
        "a@example.com": ("sent", ""),
        "김철수 <A@EXAMPLE.COM>": ("sent", "same mailbox as a@example.com"),
    }
