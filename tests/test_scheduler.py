"""The always-on service: cron arithmetic, catch-up from SQLite, real firing, clean shutdown."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.triggers.cron import CronTrigger
from click.testing import CliRunner

from digest._compat import UTC
from digest.cli import cli
from digest.config import Config, Email, Schedule
from digest.cron import crontab_weekdays
from digest.service.schedule import (
    HEARTBEAT_NAME,
    heartbeat_problem,
    needs_catch_up,
    next_run_time,
    read_heartbeat,
    scheduled_today,
    write_heartbeat,
)
from digest.service.scheduler import RunSummary, Service
from digest.state import State, run_lock
from tests import chatservers, feedserver, llmserver
from tests.test_check import Sink, free_port

SEOUL = ZoneInfo("Asia/Seoul")
THU = date(2026, 2, 5)  # a Thursday (the sample day)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SEOUL)


def wait_for(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(state_dir=str(tmp_path / "state"))


@pytest.fixture
def state(config: Config) -> Iterator[State]:
    with State.open(config.state_path) as s:
        yield s


def record_run(state: State, day: date, status: str) -> None:
    state.finish_run(state.start_run(day), status=status, items=3)


# -- cron arithmetic ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(THU, 9), at(THU, 10, 30)),  # before today's time: today
        (at(THU, 10, 30), at(THU, 10, 30)),  # exactly at it: now
        (at(THU, 11), at(THU + timedelta(days=1), 10, 30)),  # after: Friday
        (at(THU + timedelta(days=1), 11), at(date(2026, 2, 9), 10, 30)),  # Friday after: Monday
        (at(date(2026, 2, 7), 9), at(date(2026, 2, 9), 10, 30)),  # Saturday: Monday
    ],
)
def test_next_run_time_in_seoul_skips_the_weekend(config: Config, now: datetime, expected: datetime) -> None:
    got = next_run_time(config, now)
    assert got == expected
    assert got is not None and got.utcoffset() == timedelta(hours=9)


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("1-5", "mon,tue,wed,thu,fri"),  # APScheduler 3's from_crontab would read Tuesday-Saturday
        ("0", "sun"),
        ("7", "sun"),
        ("*/2", "tue,thu,sat,sun"),  # crontab: Sunday, Tuesday, Thursday, Saturday
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("6,0", "sat,sun"),
        ("*", "*"),
    ],
)
def test_crontab_weekdays_use_crontab_numbering(field: str, days: str) -> None:
    assert crontab_weekdays(field) == days


@pytest.mark.parametrize("field", ["8", "5-1", "funday", "*/0", "1-5/x"])
def test_crontab_weekdays_rejects_nonsense(field: str) -> None:
    with pytest.raises(ValueError):
        crontab_weekdays(field)


def test_next_run_time_from_a_utc_clock(config: Config) -> None:
    # 01:00 UTC Thursday is 10:00 in Seoul: the run is 30 minutes later, 01:30 UTC.
    got = next_run_time(config, datetime(2026, 2, 5, 1, 0, tzinfo=UTC))
    assert got is not None and got.astimezone(UTC) == datetime(2026, 2, 5, 1, 30, tzinfo=UTC)


def test_scheduled_today_is_none_on_a_weekend(config: Config) -> None:
    trigger = CronTrigger.from_crontab(config.schedule.cron, timezone=SEOUL)
    assert scheduled_today(trigger, at(THU, 23, 59), SEOUL) == at(THU, 10, 30)
    assert scheduled_today(trigger, at(date(2026, 2, 8), 12), SEOUL) is None  # Sunday


# -- catch-up, decided from SQLite ---------------------------------------------------------------


def test_catch_up_after_todays_time_when_nothing_was_done(config: Config, state: State) -> None:
    assert needs_catch_up(at(THU, 11), config, state)


def test_no_catch_up_before_todays_time_or_on_a_weekend(config: Config, state: State) -> None:
    assert not needs_catch_up(at(THU, 10, 29), config, state)
    assert not needs_catch_up(at(date(2026, 2, 7), 15), config, state)  # Saturday


def test_no_catch_up_once_built_but_a_failed_run_is_retried(config: Config, state: State) -> None:
    record_run(state, THU, "failed")
    assert needs_catch_up(at(THU, 11), config, state)
    record_run(state, THU - timedelta(days=1), "ok")  # yesterday's success does not count
    assert needs_catch_up(at(THU, 11), config, state)
    record_run(state, THU, "partial")
    assert not needs_catch_up(at(THU, 11), config, state)


def test_catch_up_with_email_until_every_recipient_is_done(tmp_path: Path) -> None:
    config = Config(state_dir=str(tmp_path / "s"), email=Email(enabled=True, to=["a@x.test", "b@x.test"]))
    with State.open(config.state_path) as state:
        record_run(state, THU, "ok")  # built but not sent: still to do
        assert needs_catch_up(at(THU, 11), config, state)
        state.record_delivery(THU, "a@x.test", "sent")
        state.record_delivery(THU, "b@x.test", "pending", error="451 try later")
        assert needs_catch_up(at(THU, 11), config, state)
        # A permanent failure is final: delivery never retries it without --force.
        state.record_delivery(THU, "b@x.test", "failed", error="550 no such user")
        assert not needs_catch_up(at(THU, 11), config, state)
        state.record_delivery(THU, "b@x.test", "sent")
        assert not needs_catch_up(at(THU, 11), config, state)


# -- the service, running for real --------------------------------------------------------------


class Recorder:
    """An injected job: records each call and can hold the run until released."""

    def __init__(self, hold: bool = False) -> None:
        self.calls: list[datetime] = []
        self.release = threading.Event()
        if not hold:
            self.release.set()

    async def __call__(self, now: datetime) -> RunSummary:
        self.calls.append(now)
        await asyncio.to_thread(self.release.wait, 5)
        return RunSummary(day=now.date(), status="ok", items=1)


class Running:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.code = self.service.run(install_signals=False)

    def __enter__(self) -> Running:
        self.thread.start()
        beat = self.service.directory / HEARTBEAT_NAME
        wait_for(lambda: self.service.scheduler.running and beat.exists(), what="the scheduler to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.service.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


def test_a_near_future_trigger_fires_once_per_slot_and_never_overlaps(config: Config) -> None:
    job = Recorder(hold=True)
    refused = threading.Event()
    saturday = at(date(2026, 2, 7), 12)  # no catch-up, so only the trigger below runs the job
    every_second = CronTrigger(second="*", timezone=SEOUL)
    service = Service(config, job=job, clock=lambda: saturday, trigger=every_second)
    service.scheduler.add_listener(lambda e: refused.set(), EVENT_JOB_MAX_INSTANCES)
    with Running(service) as running:
        wait_for(lambda: job.calls, timeout=2.0, what="the first fire")
        # The next second's fire finds the run still going: max_instances=1 refuses it.
        assert refused.wait(2.0)
        assert len(job.calls) == 1
        daily = service.scheduler.get_job("daily")
        assert (daily.max_instances, daily.coalesce, daily.misfire_grace_time) == (1, True, 3600)
        job.release.set()
    assert running.code == 0
    assert job.calls[0] == saturday


def test_misfire_grace_comes_from_the_config(tmp_path: Path) -> None:
    config = Config(state_dir=str(tmp_path / "s"), schedule=Schedule(misfire_grace_seconds=120))
    service = Service(config, job=Recorder(), clock=lambda: at(date(2026, 2, 7), 12))
    with Running(service):
        assert service.scheduler.get_job("daily").misfire_grace_time == 120


def test_catch_up_runs_once_at_start_then_waits_for_the_schedule(config: Config) -> None:
    job = Recorder()
    service = Service(config, job=job, clock=lambda: at(THU, 11))
    with Running(service):
        wait_for(lambda: job.calls, timeout=2.0, what="the catch-up run")
        wait_for(lambda: service._idle.is_set(), what="the run to end")
        next_daily = service.scheduler.get_job("daily").next_run_time
        # After the catch-up the job is back on the cron schedule, not due again right away.
        assert next_daily == next_run_time(config, datetime.now(SEOUL) + timedelta(seconds=1))
    assert job.calls == [at(THU, 11)]


def test_no_catch_up_when_today_is_already_done(config: Config, state: State) -> None:
    record_run(state, THU, "ok")
    job = Recorder()
    service = Service(config, job=job, clock=lambda: at(THU, 11))
    with Running(service):
        next_daily = service.scheduler.get_job("daily").next_run_time
        assert next_daily is not None and next_daily > datetime.now(SEOUL) + timedelta(seconds=5)
        beat = read_heartbeat(config.state_path)
        assert beat is not None and beat.pid == os.getpid() and beat.next_run == next_daily
    assert job.calls == []
    assert not (config.state_path / HEARTBEAT_NAME).exists()  # a stopped service is not "running"


def test_a_failing_job_is_logged_and_the_service_keeps_going(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom(now: datetime) -> RunSummary:
        raise RuntimeError("the pipeline broke")

    service = Service(config, job=boom, clock=lambda: at(THU, 11))
    with caplog.at_level("INFO", logger="digest.serve"), Running(service):
        wait_for(lambda: "crashed" in caplog.text, what="the crash log line")
        assert service.scheduler.running
    assert "the pipeline broke" in caplog.text
    assert "next run" in caplog.text


# -- heartbeat (the container healthcheck) ----------------------------------------------------


def test_heartbeat_freshness(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    assert "no heartbeat" in (heartbeat_problem(tmp_path, now) or "")
    write_heartbeat(tmp_path, None, now=now - timedelta(seconds=30))
    assert heartbeat_problem(tmp_path, now) is None
    write_heartbeat(tmp_path, None, now=now - timedelta(minutes=10))
    assert "600s old" in (heartbeat_problem(tmp_path, now) or "")


# -- real processes and real signals ------------------------------------------------------------

BLOCKING_SERVICE = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from digest.config import Config, Schedule
    from digest.service.scheduler import Service, configure_logging
    from digest.state import State, run_lock

    state_dir = Path(sys.argv[1])
    # Every minute of every day: today's first slot (00:00) has always passed, so it catches up now.
    config = Config(state_dir=str(state_dir), schedule=Schedule(cron="* * * * *"))

    async def job(now):
        # Like a pipeline run, but it leaves its cleanup to the service.
        with run_lock(state_dir), State.open(state_dir) as state:
            state.start_run(now.date())
            (state_dir / "started").write_text("yes")
            await asyncio.sleep(60)

    configure_logging()
    sys.exit(Service(config, job=job).run())
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_a_run_abandons_it_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    state_dir = tmp_path / "state"
    script = tmp_path / "serve.py"
    script.write_text(BLOCKING_SERVICE)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (state_dir / "started").exists() or proc.poll() is not None, 15, "the run")
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert f"received {sig.name}" in stderr
    assert "abandoned by shutdown" in stderr
    with State.open(state_dir) as state:
        runs = state.recent_runs()
    assert [r.status for r in runs] == ["abandoned"]
    assert runs[0].finished_at is not None
    with run_lock(state_dir):  # raises StateBusyError if the lock were still held
        pass
    assert not (state_dir / HEARTBEAT_NAME).exists()


def test_digest_serve_runs_until_sigterm_and_is_healthy_meanwhile(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    config_file = tmp_path / "digest.toml"
    # Only on New Year's Eve at 23:59, so starting the service never triggers a real run here.
    # No arXiv: the trend history a service fills at start would come from the real API.
    config_file.write_text(
        f'state_dir = "{state_dir}"\n[schedule]\ncron = "59 23 31 12 *"\n[arxiv]\nenabled = false\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (state_dir / HEARTBEAT_NAME).exists() or proc.poll() is not None, 15, "a heartbeat")
        assert proc.poll() is None, proc.communicate()[1]
        healthy = CliRunner().invoke(cli, ["status", "--check", "--config", str(config_file)])
        assert healthy.exit_code == 0, healthy.output
        shown = CliRunner().invoke(cli, ["status", "--config", str(config_file)])
        assert "service: running" in shown.output
        assert "next run: " in shown.output and "23:59 KST" in shown.output
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert stdout == ""  # logs go to stderr
    assert "next run" in stderr and "23:59 KST" in stderr
    assert "digest serve stopped" in stderr
    unhealthy = CliRunner().invoke(cli, ["status", "--check", "--config", str(config_file)])
    assert unhealthy.exit_code == 1


def test_digest_serve_fills_the_missing_trend_days_at_start_once(feed_server, tmp_path: Path) -> None:
    from digest import calendar
    from digest.config import parse_config
    from digest.models import DayStats, DayStatus
    from digest.pipeline import today
    from digest.trend.backfill import DEFAULT_DAYS, current_rules, plan
    from digest.trend.phrases import PHRASE_RULES
    from tests.arxivapi import PATH, FakeArxivAPI, spread
    from tests.corpusdays import records

    api = FakeArxivAPI(feed_server)
    state_dir = tmp_path / "state"
    config_file = tmp_path / "digest.toml"
    config_file.write_text(
        f'state_dir = "{state_dir}"\nfeeds = []\n[schedule]\ncron = "59 23 31 12 *"\n'
        f'[arxiv]\napi_url = "{api.url}"\n'
    )
    config = parse_config({"state_dir": str(state_dir), "arxiv": {"api_url": api.url}})
    days = plan(today(config), DEFAULT_DAYS)
    # A state that has all but the last two days (a service that was down for two days, say).
    with State.open(state_dir) as state:
        for d in days[:-2]:
            state.record_day_stats(
                DayStats(d, DayStatus.ANNOUNCED, "api", 100, dict.fromkeys(config.topics, 1),
                         current_rules(config), phrase_rules=PHRASE_RULES)
            )  # fmt: skip
    corpus = [date(2026, 2, 5), date(2026, 2, 6)]
    for missing, source in zip(days[-2:], corpus, strict=True):
        api.add(spread(records(source), *(t.astimezone(UTC) for t in calendar.submission_window(missing))))

    def serve() -> str:
        cmd = [sys.executable, "-m", "digest", "serve", "--config", str(config_file)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: (state_dir / HEARTBEAT_NAME).exists() or proc.poll() is not None, 60, "a beat")
            assert proc.poll() is None, proc.communicate()[1]
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, stderr
        return stderr

    first = serve()
    assert "2 of the 20 announcement days before today are not counted" in first
    assert "backfill: 2 counted, 18 already counted" not in first  # only the missing days were asked for
    assert "backfill: 2 counted; 2 API requests" in first
    assert feed_server.count(PATH) == 2
    with State.open(state_dir) as state:
        stored = {d: state.load_day_stats(d) for d in days}
    assert all(s is not None and s.counted for s in stored.values())
    assert [stored[d].pool for d in days[-2:]] == [len(records(d)) for d in corpus]

    again = serve()  # idempotent: nothing is asked for again
    assert "the 20 announcement days before today are counted" in again
    assert feed_server.count(PATH) == 2


# -- end to end: the real daily job on the bundled sample day -----------------------------------


@pytest.fixture
def smtp_sink() -> Iterator[tuple[int, Sink]]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, sink
    controller.stop()


FEED = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Lab</title><link>https://blog.test/</link><description>x</description>
<item><title>Scaling large language model reasoning with short chains</title>
<link>https://blog.test/posts/short-chains</link>
<description>We fine-tune a large language model on a new reasoning benchmark dataset.</description>
<pubDate>Thu, 05 Feb 2026 00:30:00 GMT</pubDate></item>
</channel></rss>"""


def serve_feed(request: Any) -> Any:
    import httpx2

    if request.url.path == "/feed.xml":
        return httpx2.Response(200, content=FEED, headers={"content-type": "application/rss+xml"})
    return httpx2.Response(404)


def test_end_to_end_catch_up_builds_and_mails_the_day_once(
    tmp_path: Path, smtp_sink: tuple[int, Sink]
) -> None:
    import httpx2

    from digest.config import LLM, Arxiv, Feed, HuggingFace
    from digest.progress import QUIET
    from digest.service.scheduler import daily_run

    port, sink = smtp_sink
    config = Config(
        state_dir=str(tmp_path / "state"),
        arxiv=Arxiv(enabled=False),
        huggingface=HuggingFace(enabled=False),
        feeds=[Feed(name="Lab", url="https://blog.test/feed.xml")],
        llm=LLM(api_key_env="DIGEST_TEST_HAS_NO_KEY"),  # no LLM: the item gets a marked fallback line
        email=Email(enabled=True, to=["me@x.test"], smtp_host="127.0.0.1", smtp_port=port, security="none"),
    )
    transport = httpx2.MockTransport(serve_feed)  # the network, replaced under the real HTTP client
    eleven = at(THU, 11)

    async def job(now: datetime) -> RunSummary:
        return await daily_run(config, now, progress=QUIET, transport=transport)

    service = Service(config, job=job, clock=lambda: eleven)
    with Running(service):
        wait_for(lambda: sink.messages == 1, timeout=30, what="the catch-up email")
        wait_for(service._idle.is_set, what="the run to end")
    with State.open(config.state_path) as state:
        runs = state.recent_runs()
        assert [(r.day, r.status, r.items) for r in runs] == [(THU, "ok", 1)]
        assert [d.status for d in state.deliveries(day=THU)] == ["sent"]
        assert not needs_catch_up(eleven, config, state)
    assert "short chains" in (config.state_path / "archive" / f"{THU}.md").read_text(encoding="utf-8")

    # The next tick (or a restart) finds the day done: no rebuild, no second email.
    again = asyncio.run(job(eleven))
    assert again.skipped and again.sent == 1
    assert sink.messages == 1
    with State.open(config.state_path) as state:
        assert len(state.recent_runs()) == 1


# -- the LLM is unreachable: hold the digest, retry with backoff, send at the deadline ------------

feed_server = feedserver.feed_server
llm_server = llmserver.llm_server


@pytest.fixture
def held_setup(
    tmp_path: Path, feed_server: feedserver.FeedServer, llm_server: llmserver.LLMServer, smtp_sink: Any
) -> Iterator[tuple[Config, llmserver.LLMServer, Sink]]:
    from digest.config import HTTP, LLM, Arxiv, Feed, HuggingFace

    port, sink = smtp_sink
    feed_server.serve("/feed.xml", FEED, content_type="application/rss+xml")
    config = Config(
        state_dir=str(tmp_path / "state"),
        arxiv=Arxiv(enabled=False),
        huggingface=HuggingFace(enabled=False),
        feeds=[Feed(name="Lab", url=feed_server.url("/feed.xml"))],
        llm=LLM(
            base_url=llm_server.url, model="fake-model", api_key_env="DIGEST_TEST_LLM_KEY", max_retries=0
        ),
        email=Email(enabled=True, to=["me@x.test"], smtp_host="127.0.0.1", smtp_port=port, security="none"),
        http=HTTP(retries=0),
        schedule=Schedule(llm_wait=2 * 3600),
    )
    os.environ["DIGEST_TEST_LLM_KEY"] = "not-a-secret"
    yield config, llm_server, sink
    os.environ.pop("DIGEST_TEST_LLM_KEY", None)


def tick(config: Config, now: datetime) -> RunSummary:
    from digest.progress import QUIET
    from digest.service.scheduler import daily_run

    return asyncio.run(daily_run(config, now, progress=QUIET))


def test_model_not_pulled_yet_holds_the_digest_then_sends_it_once_the_llm_answers(
    held_setup: tuple[Config, llmserver.LLMServer, Sink],
) -> None:
    config, llm, sink = held_setup
    llm.default = "404"  # Ollama's answer while the model is still being pulled
    first = tick(config, at(THU, 11))
    assert first.status == "held" and "LLM endpoint or model not found" in first.held
    assert (first.retry_at, first.deadline) == (at(THU, 11, 2), at(THU, 13))
    assert "trying again at 11:02" in first.line(1.0) and "at 13:00 at the latest" in first.line(1.0)
    second = tick(config, at(THU, 11, 2))
    assert second.retry_at == at(THU, 11, 6)  # backoff: 2, 4, 8, ... minutes
    assert sink.messages == 0
    with State.open(config.state_path) as state:
        assert needs_catch_up(at(THU, 11, 3), config, state)  # a restart now tries again too
        hold = state.llm_hold(THU)
        assert hold is not None and (hold.attempts, hold.since, hold.outcome) == (2, at(THU, 11), "waiting")

    llm.default = "ok"  # the pull finished
    third = tick(config, at(THU, 11, 6))
    assert third.status == "ok" and third.held == "" and third.retry_at is None
    assert (third.fallbacks, third.sent) == (0, 1)
    assert sink.messages == 1
    with State.open(config.state_path) as state:
        assert [r.status for r in reversed(state.recent_runs())] == ["held", "held", "ok"]
        assert state.llm_hold(THU).outcome == "recovered"  # type: ignore[union-attr]
    # Later ticks find the day done.
    assert tick(config, at(THU, 12)).skipped
    assert sink.messages == 1


chat_server = chatservers.chat_server


def test_nothing_is_posted_to_a_channel_while_the_digest_is_held(
    held_setup: tuple[Config, llmserver.LLMServer, Sink],
    chat_server: Callable[[str], chatservers.ChatServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from digest.config import Channel

    config, llm, sink = held_setup
    discord = chat_server("discord")
    monkeypatch.setenv("STUDY_DISCORD_URL", discord.webhook_url)
    study = Channel(kind="discord", url_env="STUDY_DISCORD_URL")
    config = config.model_copy(update={"channels": {"study": study}})
    llm.default = "404"
    assert tick(config, at(THU, 11)).status == "held"
    assert discord.received == [] and sink.messages == 0
    llm.default = "ok"
    assert tick(config, at(THU, 11, 2)).status == "ok"
    assert len(discord.messages) >= 1 and sink.messages == 1
    posted = len(discord.messages)
    with State.open(config.state_path) as state:
        assert [(p.channel, p.status) for p in state.channel_posts(day=THU)] == [("study", "sent")]
    # The day is done for the email and the channel: a later tick (or a restart) posts nothing again.
    assert tick(config, at(THU, 12)).skipped
    assert len(discord.messages) == posted



def test_a_post_pending_for_a_channel_since_removed_is_named_by_every_tick(
    held_setup: tuple[Config, llmserver.LLMServer, Sink],
    chat_server: Callable[[str], chatservers.ChatServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from digest.config import Channel
    from digest.progress import Progress
    from digest.service.scheduler import daily_run

    config, llm, sink = held_setup
    discord = chat_server("discord")
    monkeypatch.setenv("STUDY_DISCORD_URL", discord.webhook_url)
    study = Channel(kind="discord", url_env="STUDY_DISCORD_URL", deadline_seconds=1)
    discord.script(*[chatservers.Reply(503, {"message": "down"})] * 8)  # every try of this run
    assert tick(config.model_copy(update={"channels": {"study": study}}), at(THU, 11)).status == "ok"
    with State.open(config.state_path) as state:
        assert [(p.channel, p.status) for p in state.channel_posts(day=THU)] == [("study", "pending")]
    # The channel is taken out of the config: the pending post is not dropped in silence.
    log = io.StringIO()
    asyncio.run(daily_run(config, at(THU, 12), progress=Progress(log, quiet=True)))
    named = f"channel: study is pending for {THU} but no longer an enabled channel: left pending"
    assert named in log.getvalue()


def test_serve_rebuilds_the_site_after_a_run(
    held_setup: tuple[Config, llmserver.LLMServer, Sink], tmp_path: Path
) -> None:
    from digest.config import Site

    config, llm, sink = held_setup
    config = config.model_copy(update={"site": Site(dir=str(tmp_path / "public"))})
    assert tick(config, at(THU, 11)).status == "ok"
    day_page = tmp_path / "public" / "d" / f"{THU.isoformat()}.html"
    assert day_page.is_file() and "데일리 트렌드" in day_page.read_text(encoding="utf-8")
    assert (tmp_path / "public" / "index.html").is_file() and (tmp_path / "public" / "feed.xml").is_file()


def test_llm_still_down_at_the_deadline_sends_with_the_marks(
    held_setup: tuple[Config, llmserver.LLMServer, Sink], tmp_path: Path
) -> None:
    from digest.config import LLM

    config, llm, sink = held_setup
    # Nothing listens there: connection refused, as while a local server restarts.
    down = config.model_copy(
        update={"llm": LLM(base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0)}
    )
    assert tick(down, at(THU, 10, 30)).status == "held"
    late = tick(down, at(THU, 11, 50))
    assert late.retry_at == at(THU, 11, 54)
    # At the deadline, from a fresh process (the hold is in SQLite), it goes out with the marks.
    final = tick(down, at(THU, 12, 30))
    assert final.status == "ok" and final.sent == 1 and final.fallbacks == 1
    assert sink.messages == 1
    with State.open(down.state_path) as state:
        assert state.llm_hold(THU).outcome == "sent with fallbacks"  # type: ignore[union-attr]
        row = state.delivery(THU, "me@x.test")
        assert row is not None and row.fallbacks == 1  # so a later --force knows what it replaces


def test_llm_wait_zero_sends_at_once(held_setup: tuple[Config, llmserver.LLMServer, Sink]) -> None:
    config, llm, sink = held_setup
    llm.default = "404"
    now_config = config.model_copy(update={"schedule": Schedule(llm_wait=0)})
    summary = tick(now_config, at(THU, 11))
    assert summary.status == "ok" and summary.sent == 1 and summary.fallbacks == 1


def test_the_deadline_never_passes_midnight() -> None:
    from digest.service.schedule import hold_deadline

    config = Config(schedule=Schedule(llm_wait=3 * 3600))
    assert hold_deadline(config, at(THU, 22, 30)) == at(THU, 23, 59)
    assert hold_deadline(config, at(THU, 10, 30)) == at(THU, 13, 30)


def test_the_service_retries_a_held_digest_on_its_own(
    held_setup: tuple[Config, llmserver.LLMServer, Sink],
) -> None:
    """`docker compose up` before the model is pulled: the catch-up is held, the retry sends it."""
    from digest.progress import QUIET
    from digest.service.scheduler import LLMBackoff, daily_run

    config, llm, sink = held_setup
    llm.default = "404"
    fast = LLMBackoff(first=0.3, max=0.3)
    summaries: list[RunSummary] = []

    async def job(now: datetime) -> RunSummary:
        summary = await daily_run(config, now, progress=QUIET, backoff=fast)
        summaries.append(summary)
        if summary.status == "held" and len(summaries) == 2:
            llm.default = "ok"  # pulled while the second try waited
        return summary

    service = Service(config, job=job, clock=lambda: at(THU, 11))
    with Running(service):
        wait_for(lambda: sink.messages == 1, timeout=30, what="the email after the LLM came back")
        wait_for(service._idle.is_set, what="the run to end")
    assert [s.status for s in summaries] == ["held", "held", "ok"]
    assert summaries[-1].fallbacks == 0


def test_status_says_a_digest_is_held(held_setup: tuple[Config, llmserver.LLMServer, Sink]) -> None:
    from digest.service.schedule import status_report

    config, llm, sink = held_setup
    llm.default = "404"
    tick(config, at(THU, 11))
    with State.open(config.state_path) as state:
        report = status_report(config, state, at(THU, 11, 1))
    assert "held: 2026-02-05 is kept back while the LLM is unreachable" in report
    assert "1 tries since 11:00, sent with marked fallbacks at 13:00 at the latest" in report
    assert report.splitlines()[1].split()[:2] == ["2026-02-05", "held"]


# -- one service per state directory ------------------------------------------------------------


def test_a_second_service_on_the_same_state_is_refused(config: Config) -> None:
    from digest.errors import StateBusyError

    first = Service(config, job=Recorder(), clock=lambda: at(date(2026, 2, 7), 12))
    with Running(first):
        second = Service(config, job=Recorder(), clock=lambda: at(date(2026, 2, 7), 12))
        with pytest.raises(StateBusyError, match=r"another `digest serve` is already running on .*state"):
            second.run(install_signals=False)
    # Once the first has stopped, the state is free again.
    third = Service(config, job=Recorder(), clock=lambda: at(date(2026, 2, 7), 12))
    with Running(third):
        pass


def test_digest_serve_twice_the_second_exits_with_a_clear_message(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    config_file = tmp_path / "digest.toml"
    # No arXiv: the trend history a service fills at start would come from the real API.
    config_file.write_text(
        f'state_dir = "{state_dir}"\n[schedule]\ncron = "59 23 31 12 *"\n[arxiv]\nenabled = false\n'
    )
    cmd = [sys.executable, "-m", "digest", "serve", "--config", str(config_file)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (state_dir / HEARTBEAT_NAME).exists() or first.poll() is not None, 15, "a heartbeat")
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        errors = [line for line in second.stderr.splitlines() if line.startswith("Error: ")]
        assert errors == [
            f"Error: another `digest serve` is already running on {state_dir} (pid {first.pid}, lock "
            f"{state_dir / 'serve.lock'}); stop it first, or give this one its own state_dir"
        ]
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first one is untouched
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=15)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0


# -- the weekly roundup ([schedule].weekly_cron) -----------------------------------------------------

SAT = date(2026, 2, 7)


def test_weekly_cron_is_off_by_default_and_validated(tmp_path: Path) -> None:
    from digest.errors import ConfigError

    assert Schedule().weekly_cron == ""
    assert Service(Config(state_dir=str(tmp_path / "a")), job=Recorder()).weekly is None
    path = tmp_path / "digest.toml"
    path.write_text('[schedule]\nweekly_cron = "every saturday"\n', encoding="utf-8")
    from digest.config import load_config

    with pytest.raises(ConfigError, match="schedule.weekly_cron: not a valid crontab expression"):
        load_config(path)
    path.write_text('[schedule]\nweekly_cron = "@weekly"\n', encoding="utf-8")
    assert load_config(path)[0].schedule.weekly_cron == "@weekly"


def test_the_weekly_job_catches_up_once_on_its_day_and_waits_for_a_daily_run(tmp_path: Path) -> None:
    config = Config(state_dir=str(tmp_path / "state"), schedule=Schedule(weekly_cron="0 9 * * 6"))
    daily, weekly = Recorder(hold=True), Recorder(hold=True)
    every_second = CronTrigger(second="*", timezone=SEOUL)
    # Saturday 10:00: the weekly time (09:00) has passed and the week is not done; the daily fires now.
    service = Service(config, job=daily, weekly_job=weekly, clock=lambda: at(SAT, 10), trigger=every_second)
    with Running(service):
        wait_for(lambda: daily.calls or weekly.calls, what="a first run")
        time.sleep(0.5)
        # Whichever started first, the other waits: never two runs at once on one state.
        assert len(daily.calls) + len(weekly.calls) == 1
        daily.release.set()
        weekly.release.set()
        wait_for(lambda: weekly.calls and daily.calls, what="both runs, one after the other")
        assert service.scheduler.get_job("weekly").next_run_time.astimezone(SEOUL).weekday() == 5
    assert weekly.calls[0] == at(SAT, 10)


def test_no_weekly_catch_up_when_the_week_is_archived_or_not_its_day(tmp_path: Path) -> None:
    from digest.service.schedule import needs_weekly_catch_up

    config = Config(state_dir=str(tmp_path / "state"), schedule=Schedule(weekly_cron="0 9 * * 6"))
    with State.open(config.state_path) as state:
        assert needs_weekly_catch_up(at(SAT, 10), config, state)
        assert not needs_weekly_catch_up(at(SAT, 8), config, state)  # before its time
        assert not needs_weekly_catch_up(at(THU, 10), config, state)  # not its day
        (state.archive_dir).mkdir(parents=True, exist_ok=True)
        (state.archive_dir / "week-2026-W06.md").write_text("x", encoding="utf-8")
        assert not needs_weekly_catch_up(at(SAT, 10), config, state)  # email off: archived is done


def test_the_weekly_run_mails_the_week_once(tmp_path: Path, smtp_sink: tuple[int, Sink]) -> None:
    from digest.config import LLM
    from digest.progress import QUIET
    from digest.service.schedule import status_report
    from digest.service.scheduler import weekly_run

    from .test_state import _scored

    port, sink = smtp_sink
    config = Config(
        state_dir=str(tmp_path / "state"),
        llm=LLM(api_key_env="DIGEST_TEST_HAS_NO_KEY"),  # no LLM: a marked fallback line
        email=Email(enabled=True, to=["me@x.test"], smtp_host="127.0.0.1", smtp_port=port, security="none"),
        schedule=Schedule(weekly_cron="0 9 * * 6"),
    )
    with State.open(config.state_path) as state:
        state.record_day_candidates(THU, [_scored("arxiv:2602.00001", 1.0)], origin="run")
        state.record_delivery(date(2026, 2, 2), "me@x.test", "sent")  # Monday's daily digest
    first = asyncio.run(weekly_run(config, at(SAT, 9), progress=QUIET))
    assert (first.label, first.items, first.sent) == ("week 2026-W06", 1, 1)
    assert first.line(1.0).startswith("week 2026-W06: ok, 1 items")
    assert sink.messages == 1
    again = asyncio.run(weekly_run(config, at(SAT, 9, 30), progress=QUIET))
    assert again.skipped == "already sent to every recipient" and sink.messages == 1
    with State.open(config.state_path) as state:
        report = status_report(config, state, at(SAT, 10))
    assert "next weekly roundup: Sat 2026-02-14 09:00 KST (weekly_cron '0 9 * * 6')" in report


def test_after_an_smtp_outage_the_service_does_not_send_a_burst_of_stale_days(
    tmp_path: Path, smtp_sink: tuple[int, Sink]
) -> None:
    """Three days of an SMTP outage used to come out as four emails in one tick (three old digests and
    today's): the service sends what is at most email.pending_max_days old; the rest waits for
    `digest send --pending`, which sends it."""
    import dataclasses
    import io

    import httpx2

    from digest import delivery
    from digest.config import LLM, Arxiv, Feed, HuggingFace
    from digest.progress import QUIET, Progress
    from digest.service.scheduler import daily_run
    from tests.digests import fixed_digest
    from tests.smtpserver import closed_port

    port, sink = smtp_sink
    settings = {"enabled": True, "to": ["me@x.test"], "smtp_host": "127.0.0.1", "security": "none"}
    config = Config(
        state_dir=str(tmp_path / "state"),
        arxiv=Arxiv(enabled=False),
        huggingface=HuggingFace(enabled=False),
        feeds=[Feed(name="Lab", url="https://blog.test/feed.xml")],
        llm=LLM(api_key_env="DIGEST_TEST_HAS_NO_KEY"),
        email=Email(**settings, smtp_port=port),  # type: ignore[arg-type]
    )
    down = config.model_copy(update={"email": Email(**settings, smtp_port=closed_port())})  # type: ignore[arg-type]
    outage = [THU - timedelta(days=n) for n in (3, 2, 1)]  # Monday to Wednesday
    with State.open(config.state_path) as state:
        for day in outage:
            retry = delivery.Retry(attempts=1)
            digest = dataclasses.replace(fixed_digest(), day=day)
            asyncio.run(delivery.send_digest(down, state, digest, progress=QUIET, retry=retry))
        assert len(state.deliveries(status="pending")) == 3

    log = io.StringIO()
    transport = httpx2.MockTransport(serve_feed)
    progress = Progress(log, live=False)
    summary = asyncio.run(daily_run(config, at(THU, 11), progress=progress, transport=transport))
    # Wednesday's (a day old) and Thursday's: not Monday's and Tuesday's.
    assert sink.messages == 2 and summary.retried == 1
    assert (
        "2 pending email(s) of 2026-02-02, 2026-02-03, older than email.pending_max_days = 1, "
        "not sent automatically: `digest send --pending` sends them"
    ) in log.getvalue()
    with State.open(config.state_path) as state:
        assert [d.day for d in state.deliveries(status="pending")] == outage[:2]
        # Asked for, they go.
        sent = asyncio.run(delivery.send_pending(config, state, progress=QUIET))
    assert [o.status for o in sent] == ["sent", "sent"] and sink.messages == 4
