"""The weekly roundup over real SMTP (aiosmtpd on loopback): once per (week, recipient), never colliding
with a day's delivery, kept pending and re-sent from its archive, a permanent failure kept as such."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from digest.cli import cli
from digest.delivery import DeliveryOutcome, Retry, send_pending, send_week
from digest.progress import Progress
from digest.state import State

from .digests import fixed_week
from .smtpserver import Handler, closed_port, smtp_server
from .test_delivery import Sleeps, make_config, unwire, write_config

MONDAY = date(2026, 2, 2)


def send(config, *, force: bool = False, attempts: int = 3) -> list[DeliveryOutcome]:
    with State.open(config.state_path) as state:
        return asyncio.run(
            send_week(
                config,
                state,
                fixed_week(),
                force=force,
                progress=Progress(quiet=True),
                retry=Retry(attempts=attempts, delay=0.01, sleep=Sleeps()),
            )
        )


def test_a_week_is_sent_once_per_recipient_and_never_collides_with_a_day(tmp_path: Path):
    with smtp_server() as server:
        config = make_config(tmp_path, server.port, to=("me@example.com", "lab@example.com"))
        # The Monday's daily digest went out already: its (day, recipient) row is not the week's.
        with State.open(config.state_path) as state:
            state.record_delivery(MONDAY, "me@example.com", "sent", message_id="<daily@x>")
        first = send(config)
        assert [o.status for o in first] == ["sent", "sent"]
        assert len(server.received) == 2
        msg = server.received[0].message
        assert (
            msg["Subject"] == "[주간 정리] 2026-02-02 ~ 02-06 · LLM 2 · 멀티모달 1 · DPO·정렬 1 · Mamba·SSM 1"
        )
        assert msg["Message-ID"].startswith("<digest.week.2026-02-02.")
        text = unwire(msg.get_body(("plain",)).get_content())
        assert text.startswith("주간 정리 — 2026-02-02 (월) ~ 02-06 (금)")
        html = msg.get_body(("html",)).get_content()
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
        # Again: nobody gets it twice.
        again = send(config)
        assert [o.status for o in again] == ["skipped", "skipped"]
        assert again[0].describe().startswith("week 2026-W06 → me@example.com: not sent again")
        assert len(server.received) == 2
        with State.open(config.state_path) as state:
            assert state.delivery(MONDAY, "me@example.com").message_id == "<daily@x>"  # the day's row stays
            assert state.delivery(MONDAY, "me@example.com", weekly=True).status == "sent"
            assert state.deliveries(day=MONDAY) == [state.delivery(MONDAY, "me@example.com")]
        archive = config.state_path / "archive"
        assert {p.name for p in archive.iterdir()} >= {
            "week-2026-W06.html",
            "week-2026-W06.txt",
            "week-2026-W06.json",
        }


def test_a_week_that_could_not_be_sent_is_pending_and_send_pending_delivers_it_once(tmp_path: Path):
    port = closed_port()
    config = make_config(tmp_path, port)
    assert [o.status for o in send(config, attempts=1)] == ["pending"]
    path = write_config(tmp_path, port)
    with smtp_server(port=port) as server:
        result = CliRunner().invoke(cli, ["send", "--pending", "--config", str(path)])
        assert result.exit_code == 0, result.output
        assert "week 2026-W06 → me@example.com: sent" in result.output
        assert len(server.received) == 1
        assert server.received[0].message["Subject"].startswith("[주간 정리] 2026-02-02 ~ 02-06")
        assert CliRunner().invoke(cli, ["send", "--pending", "--config", str(path)]).exit_code == 0
        assert len(server.received) == 1
    with State.open(config.state_path) as state:
        assert state.deliveries(status="pending", weekly=True) == []


def test_a_permanent_failure_is_not_retried_without_force(tmp_path: Path):
    with smtp_server(Handler(bad={"gone@example.com"})) as server:
        config = make_config(tmp_path, server.port, to=("gone@example.com", "me@example.com"))
        assert [o.status for o in send(config)] == ["failed", "sent"]
        again = send(config)
        assert [o.status for o in again] == ["failed", "skipped"]
        assert "failed permanently earlier" in again[0].error
        assert len(server.received) == 1
        with State.open(config.state_path) as state:
            outcomes = asyncio.run(send_pending(config, state, progress=Progress(quiet=True)))
        assert outcomes == []  # a failed week is not pending


def test_force_sends_a_replacement_threaded_to_the_first(tmp_path: Path):
    with smtp_server() as server:
        config = make_config(tmp_path, server.port)
        send(config)
        first = server.received[0].message["Message-ID"]
        [outcome] = send(config, force=True)
        assert outcome.status == "sent" and outcome.replaced == first
        second = server.received[1].message
        assert second["In-Reply-To"] == first
        text = unwire(second.get_body(("plain",)).get_content())
        assert "에 보낸 메일(⚠️ 요약 대체 1개)을 대신하는 메일입니다." in text
