"""Faults a reader's machine really has: a preview holding the run lock at the scheduled minute, a killed
run, a damaged or locked state database, a full disk under the archive. Each through the real boundary
(a real service with a controlled clock and a second process, a real `digest now` process, bytes written
into the SQLite file, a tiny tmpfs), each ending in one clear line, never a traceback."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.date import DateTrigger
from click.testing import CliRunner, Result

from digest import demo
from digest.cli import cli
from digest.config import LLM, Arxiv, Config, Email, Feed, HuggingFace
from digest.service.scheduler import RunSummary, Service
from digest.state import DB_NAME, State
from tests import feedserver, llmserver
from tests.feedserver import FeedServer
from tests.test_pipeline import DAY, LISTING, servers
from tests.test_scheduler import SEOUL, THU, Running, at, serve_feed, smtp_sink, wait_for
from tests.test_scheduler import Sink as _Sink

feed_server = feedserver.feed_server
llm_server = llmserver.llm_server
__all__ = ["servers", "smtp_sink"]  # fixtures used here by name


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error: ")]


def one_clear_line(result: Result) -> str:
    """The command failed with exactly one ``Error:`` line and no traceback; returns that line."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a raw exception
    assert "Traceback" not in result.output
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    return lines[0]


def status_rows(config: Path) -> list[str]:
    shown = invoke("status", "--config", str(config))
    assert shown.exit_code == 0, shown.output
    return shown.stdout.splitlines()


# -- 1. a scheduled run that finds the run lock taken waits for it ---------------------------------

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from digest.state import run_lock

    state_dir, release = Path(sys.argv[1]), Path(sys.argv[2])
    with run_lock(state_dir):  # what `digest now` holds for its whole run
        (state_dir / "holding").write_text("yes")
        while not release.exists():
            time.sleep(0.02)
    """
)


@pytest.fixture
def lock_holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A second process holding the state's run lock until ``release`` exists."""
    state_dir, release = tmp_path / "state", tmp_path / "release"
    state_dir.mkdir()
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    proc = subprocess.Popen([sys.executable, str(script), str(state_dir), str(release)], text=True)
    try:
        wait_for(lambda: (state_dir / "holding").exists() or proc.poll() is not None, 30, "the lock holder")
        assert proc.poll() is None
        yield release, proc
    finally:
        release.touch()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("tick", ["catch-up at start", "the cron time"])
def test_a_scheduled_run_that_finds_a_preview_holding_the_lock_waits_and_sends_the_day(
    tmp_path: Path,
    smtp_sink: tuple[int, _Sink],
    lock_holder: tuple[Path, subprocess.Popen[str]],
    caplog: pytest.LogCaptureFixture,
    tick: str,
) -> None:
    import httpx2

    from digest.progress import QUIET
    from digest.service.scheduler import daily_run

    port, sink = smtp_sink
    release, holder = lock_holder
    config = Config(
        state_dir=str(tmp_path / "state"),
        arxiv=Arxiv(enabled=False),
        huggingface=HuggingFace(enabled=False),
        feeds=[Feed(name="Lab", url="https://blog.test/feed.xml")],
        llm=LLM(api_key_env="DIGEST_TEST_HAS_NO_KEY"),
        email=Email(enabled=True, to=["me@x.test"], smtp_host="127.0.0.1", smtp_port=port, security="none"),
    )
    transport = httpx2.MockTransport(serve_feed)
    ticks: list[datetime] = []

    async def job(now: datetime) -> RunSummary:
        ticks.append(now)
        return await daily_run(config, now, progress=QUIET, transport=transport)

    if tick == "catch-up at start":  # the service (re)starts at 11:00 while a preview runs
        clock, trigger = at(THU, 11), None
    else:  # a preview started at 10:29:56 still runs when the 10:30 schedule fires
        clock = at(THU, 10, 29)
        trigger = DateTrigger(run_date=datetime.now(SEOUL) + timedelta(seconds=0.5))
    service = Service(config, job=job, clock=lambda: clock, trigger=trigger, busy_retry=0.2)
    with caplog.at_level("INFO", logger="digest.serve"), Running(service):
        wait_for(lambda: len(ticks) >= 3, timeout=20, what="the run to try again while the lock is held")
        assert sink.messages == 0
        assert "waits for the state: another digest run is in progress" in caplog.text
        release.touch()
        holder.wait(10)
        wait_for(lambda: sink.messages == 1, timeout=30, what="the day's email once the lock was free")
        wait_for(service._idle.is_set, what="the run to end")
    with State.open(config.state_path) as state:
        assert [(r.day, r.status) for r in state.recent_runs()] == [(THU, "ok")]
        assert [d.status for d in state.deliveries(day=THU)] == ["sent"]
    assert "crashed" not in caplog.text and f"run {THU} failed" not in caplog.text
    assert asyncio.run(job(clock)).skipped  # and the day is done: a later tick sends nothing more
    assert sink.messages == 1


def test_a_run_still_locked_out_at_midnight_gives_up_with_one_error_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from digest.errors import StateBusyError

    tries: list[datetime] = []

    async def locked_out(now: datetime) -> RunSummary:
        tries.append(now)
        raise StateBusyError("another digest run is in progress (pid 1, lock digest.lock)")

    config = Config(state_dir=str(tmp_path / "state"))
    service = Service(config, job=locked_out, clock=lambda: at(THU, 23, 59), busy_retry=60)
    with caplog.at_level("INFO", logger="digest.serve"), Running(service):
        wait_for(lambda: "gave up" in caplog.text, what="the give-up line")
        assert service.scheduler.get_job("daily-busy") is None  # no retry past the day
    assert len(tries) == 1
    assert f"run {THU}: gave up at the end of its day, the state stayed busy since 23:59" in caplog.text


@pytest.mark.slow
def test_a_service_started_while_a_backup_holds_the_database_still_catches_up(
    tmp_path: Path, smtp_sink: tuple[int, _Sink], caplog: pytest.LogCaptureFixture
) -> None:
    import httpx2

    from digest.progress import QUIET
    from digest.service.scheduler import daily_run

    port, sink = smtp_sink
    config = Config(
        state_dir=str(tmp_path / "state"),
        arxiv=Arxiv(enabled=False),
        huggingface=HuggingFace(enabled=False),
        feeds=[Feed(name="Lab", url="https://blog.test/feed.xml")],
        llm=LLM(api_key_env="DIGEST_TEST_HAS_NO_KEY"),
        email=Email(enabled=True, to=["me@x.test"], smtp_host="127.0.0.1", smtp_port=port, security="none"),
    )
    with State.open(config.state_path):
        pass
    transport = httpx2.MockTransport(serve_feed)

    async def job(now: datetime) -> RunSummary:
        return await daily_run(config, now, progress=QUIET, transport=transport)

    locker = tmp_path / "locker.py"
    locker.write_text(WRITE_LOCKER)
    locked, release = tmp_path / "locked", tmp_path / "release"
    db = config.state_path / DB_NAME
    holder = subprocess.Popen([sys.executable, str(locker), str(db), str(locked), str(release)])
    service = Service(config, job=job, clock=lambda: at(THU, 11), busy_retry=0.2)
    thread = threading.Thread(target=service.run, kwargs={"install_signals": False}, daemon=True)
    try:
        wait_for(locked.exists, 30, "the write lock")
        with caplog.at_level("INFO", logger="digest.serve"):
            thread.start()
            decided = "trying it, today's time has passed"
            wait_for(lambda: decided in caplog.text, 120, "the catch-up decision")
            release.touch()
            holder.wait(10)
            wait_for(lambda: sink.messages == 1, 60, "the day's email once the database was free")
            wait_for(service._idle.is_set, what="the run to end")
    finally:
        release.touch()
        service.stop()
        thread.join(30)
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    with State.open(config.state_path) as state:
        assert [(r.day, r.status) for r in state.recent_runs()] == [(THU, "ok")]


# -- 6 and issue 19: a killed run is "interrupted", a failed one says why ------------------------


@pytest.mark.slow
def test_a_killed_run_shows_as_interrupted_not_running(servers: Any, tmp_path: Path) -> None:
    feed, llm, config = servers
    llm.default = llmserver.answer(llmserver.korean_line, delay=30)  # the run sits in the LLM call
    cmd = [sys.executable, "-m", "digest", "now", "--config", str(config), "--date", DAY, "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: llm.calls or proc.poll() is not None, 120, "the run to reach the LLM")
        assert proc.poll() is None, proc.communicate()
        assert status_rows(config)[1].split()[:2] == [DAY, "running"]
        proc.kill()  # SIGKILL: no handler runs, the row stays 'running'
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rows = status_rows(config)
    assert rows[1].split()[:2] == [DAY, "interrupted"]
    assert rows[2].strip() == (
        f"↳ pid {proc.pid} ended without finishing it (killed, the machine stopped, or the state could "
        "not be written); the next run marks it abandoned"
    )
    llm.default = "ok"
    assert invoke("now", "--config", str(config), "--date", DAY, "-q").exit_code == 0
    rows = status_rows(config)
    assert [r.split()[:2] for r in rows[1:3]] == [[DAY, "ok"], [DAY, "abandoned"]]
    assert rows[3].strip() == (
        "↳ interrupted: its process was stopped, or could not write the state, before the run ended"
    )


def test_a_failed_run_says_why_in_status(feed_server: FeedServer, tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[arxiv]\nenabled = false\n[huggingface]\nenabled = false\n'
        f'[[feeds]]\nname = "Lab"\nurl = "{feed_server.url("/gone.xml")}"\n[http]\nretries = 0\n',
        encoding="utf-8",
    )
    failed = invoke("now", "--config", str(config), "--date", DAY, "-q")
    assert failed.exit_code == 1
    rows = status_rows(config)
    assert rows[1].split()[:2] == [DAY, "failed"]
    assert rows[2].strip() == f"↳ every source failed, so there is no digest for {DAY} (blog:Lab)"


# -- 4. a damaged state database ----------------------------------------------------------------


def fill_state(state_dir: Path) -> None:
    """A state with rows in each of the tables a run and the commands read."""
    with State.open(state_dir) as state:
        state.finish_run(state.start_run(THU), status="ok", items=1)
        state.mark_shown([(f"arxiv:2602.{i:05d}", 1, f"Paper {i}") for i in range(20)], THU)
        state.store_takeaways([(f"arxiv:2602.{i:05d}", 1, "한 줄 요약") for i in range(20)], "m", "v1")
        state.record_delivery(THU, "me@x.test", "pending", error="451 try later")


def damage(db: Path, table: str) -> None:
    """Write garbage over the header of ``table``'s root page, as a failing disk or a bad copy would."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("pragma page_size").fetchone()[0]
    (root,) = conn.execute("select rootpage from sqlite_master where name = ?", (table,)).fetchone()
    conn.close()
    assert not db.with_name(db.name + "-wal").exists()  # everything is in the main file
    with db.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * 64)


@pytest.fixture
def damaged_config(tmp_path: Path, servers: Any) -> Iterator[tuple[Path, FeedServer]]:
    feed, llm, config = servers
    with config.open("a", encoding="utf-8") as f:
        f.write('[email]\nenabled = true\nto = ["me@x.test"]\nsmtp_host = "127.0.0.1"\nsmtp_port = 1\n')
    fill_state(tmp_path / "state")
    yield config, feed


COMMANDS = {
    "now": ["now", "--date", DAY, "-q"],
    "status": ["status"],
    "history": ["history"],
    "send --pending": ["send", "--pending", "-q"],
}


@pytest.mark.parametrize("table", ["deliveries", "takeaways", "seen", "runs"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_damaged_table_is_one_line_that_says_how_to_recover(
    damaged_config: tuple[Path, FeedServer], tmp_path: Path, table: str, command: str
) -> None:
    config, feed = damaged_config
    db = tmp_path / "state" / DB_NAME
    damage(db, table)
    line = one_clear_line(invoke(*COMMANDS[command], "--config", str(config)))
    assert line.startswith(f"Error: the state database {db} is damaged (damaged pages in {table});")
    assert "To recover, run `digest repair`" in line and f"mv {db} {db}.damaged" in line
    assert f"every digest stays in {tmp_path / 'state' / 'archive'}" in line
    assert feed.count(LISTING) == 0  # found before any work


def test_a_damaged_database_from_a_real_process_prints_no_traceback(
    damaged_config: tuple[Path, FeedServer], tmp_path: Path
) -> None:
    config, _ = damaged_config
    damage(tmp_path / "state" / DB_NAME, "runs")
    for args in (["status"], ["history"]):
        cmd = [sys.executable, "-m", "digest", *args, "--config", str(config)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: the state database ")
    # Moved aside as the line says, the next run starts a new state and works.
    db = tmp_path / "state" / DB_NAME
    db.rename(db.with_name(db.name + ".damaged"))
    assert invoke("status", "--config", str(config)).exit_code == 0


def test_repair_keeps_every_readable_row_and_names_what_was_lost(
    damaged_config: tuple[Path, FeedServer], tmp_path: Path
) -> None:
    config, feed = damaged_config
    state_dir = tmp_path / "state"
    damage(state_dir / DB_NAME, "takeaways")
    repaired = invoke("repair", "--config", str(config))
    assert repaired.exit_code == 0, repaired.output
    lines = repaired.stdout.splitlines()
    copies = list(state_dir.glob(f"{DB_NAME}.damaged-*"))
    assert [p.name for p in copies if not p.name.endswith(("-wal", "-shm"))] == [lines[0].rsplit("/", 1)[1]]
    assert lines[0].startswith(f"moved the damaged database to {state_dir / DB_NAME}.damaged-")
    assert "deliveries (1 rows)" in lines[1] and "runs (1 rows)" in lines[1] and "seen (20 rows)" in lines[1]
    assert lines[2].startswith("damaged: takeaways: kept 0 rows read before the damage (")
    assert lines[2].endswith("); those cached takeaways are paid for once more")
    # The kept rows work: the run is in `digest status`, the pending email is still pending.
    assert status_rows(config)[1].split()[:2] == [str(THU), "ok"]
    with State.open(state_dir) as state:
        assert [d.status for d in state.deliveries(day=THU)] == ["pending"]
        assert len(state.shown_before([f"arxiv:2602.{i:05d}" for i in range(20)], THU.replace(day=6))) == 20
    # A sound database is left alone.
    again = invoke("repair", "--config", str(config))
    assert again.exit_code == 0 and again.stdout.startswith("nothing to repair: ")
    assert len(list(state_dir.glob(f"{DB_NAME}.damaged-*"))) == len(copies)


def test_a_file_that_is_not_a_database_at_all(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / DB_NAME).write_bytes(b"this was overwritten by something else entirely" * 100)
    config = tmp_path / "digest.toml"
    config.write_text(f'state_dir = "{state_dir}"\n', encoding="utf-8")
    line = one_clear_line(invoke("status", "--config", str(config)))
    assert "is damaged (file is not a database)" in line and "run `digest repair`" in line


# -- 4. another process holding the database's write lock ---------------------------------------

WRITE_LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    from pathlib import Path

    db, locked, release = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    conn = sqlite3.connect(db, isolation_level=None, timeout=60)
    conn.execute("begin immediate")  # a backup or sync tool's write lock
    locked.write_text("yes")
    while not release.exists():
        time.sleep(0.05)
    conn.execute("rollback")
    """
)


@pytest.mark.slow
def test_a_write_lock_taken_during_a_run_stops_it_with_one_line(servers: Any, tmp_path: Path) -> None:
    from digest.state import BUSY_TIMEOUT

    feed, llm, config = servers
    feed.serve(LISTING, (Path(__file__).parent / "fixtures/sources/arxiv-listing-2026-02-05.xml"), delay=1.5)
    db = tmp_path / "state" / DB_NAME
    locker = tmp_path / "locker.py"
    locker.write_text(WRITE_LOCKER)
    locked, release = tmp_path / "locked", tmp_path / "release"
    cmd = [sys.executable, "-m", "digest", "now", "--config", str(config), "--date", DAY, "-q"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    holder: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: feed.count(LISTING) or run.poll() is not None, 60, "the run to fetch")
        holder = subprocess.Popen([sys.executable, str(locker), str(db), str(locked), str(release)])
        wait_for(locked.exists, 30, "the write lock")
        out, err = run.communicate(timeout=BUSY_TIMEOUT * 3 + 60)
    finally:
        release.touch()
        for proc in (run, holder):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert run.returncode == 1
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("Error: ")] == [
        f"Error: the state database {db} stayed locked by another process for more than {BUSY_TIMEOUT:g}s "
        "(a backup or sync tool, or a second copy of digest using this state_dir); stopped without "
        "waiting longer: run again once that process is done"
    ]
    assert out == ""
    # Released, the next run goes through; the stopped one is not shown as still running.
    assert invoke("now", "--config", str(config), "--date", DAY, "-q").exit_code == 0
    assert "running" not in "\n".join(status_rows(config)[1:4])


# -- 5. a full disk under the archive -----------------------------------------------------------


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where``: a real ENOSPC from the kernel (needs root)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB filesystem under state/archive only: the database has room, the archive does not."""
    with tmpfs(tmp_path / "state" / "archive", "1m") as where:
        yield where


def fill_up(where: Path, leave: int) -> Path:
    """Leave about ``leave`` bytes free on ``where``'s filesystem."""
    filler = where / ".filler"
    st = os.statvfs(where)
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


def snapshot(where: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_ino, p.read_bytes()) for p in where.iterdir() if p.name != ".filler"}


def test_a_full_disk_writes_no_half_archive_and_records_why(
    servers: Any, tmp_path: Path, tiny_disk: Path
) -> None:
    feed, llm, config = servers
    assert invoke("now", "--config", str(config), "--date", DAY, "-q").exit_code == 0
    before = snapshot(tiny_disk)
    day_set = [f"{DAY}.{suffix}" for suffix in ("html", "json", "md", "post.json", "txt")]
    assert sorted(before) == [*day_set, "feed.xml"]
    md_size = len(before[f"{DAY}.md"][1])
    # Room for the Markdown, not for the HTML after it: the old code replaced the .md, then died.
    filler = fill_up(tiny_disk, leave=md_size + 8192)

    line = one_clear_line(invoke("now", "--config", str(config), "--date", DAY, "-q"))
    assert line.startswith(f"Error: cannot write the archive of {DAY} in {tiny_disk}: No space left on")
    assert "nothing of it was written and the files there before are unchanged" in line
    assert snapshot(tiny_disk) == before  # same files, same inodes, same bytes: no .tmp debris
    rows = status_rows(config)
    assert rows[1].split()[:2] == [DAY, "failed"]
    assert rows[2].strip().startswith(f"↳ cannot write the archive of {DAY} in {tiny_disk}: No space left")

    filler.unlink()  # space again: the next run writes the whole set
    assert invoke("now", "--config", str(config), "--date", DAY, "-q").exit_code == 0
    after = snapshot(tiny_disk)
    assert sorted(after) == sorted(before)
    assert all(after[name][0] != before[name][0] for name in after)  # each one written anew


def test_a_full_disk_under_the_preview_leaves_no_temporary_file(tmp_path: Path, tiny_disk: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
    fill_up(tiny_disk, leave=4096)
    line = one_clear_line(invoke("preview", "--demo", "-q", "--config", str(config)))
    assert f"cannot write the preview of {demo.SAMPLE_DAY}" in line and "No space left on device" in line
    assert [p.name for p in tiny_disk.iterdir()] == [".filler"]



def test_a_full_disk_under_the_database_is_one_line(servers: Any, tmp_path: Path) -> None:
    feed, llm, config = servers
    with tmpfs(tmp_path / "state", "4m") as state_dir:
        assert invoke("now", "--config", str(config), "--date", DAY, "-q").exit_code == 0
        filler = fill_up(state_dir, leave=0)
        feed.serve("/blog/openai.xml", b"<rss version='2.0'><channel><title>x</title></channel></rss>")
        line = one_clear_line(invoke("now", "--config", str(config), "--date", DAY, "-q"))
        assert line.startswith(f"Error: the disk holding the state database {state_dir / DB_NAME} is full (")
        assert line.endswith("); free some space and run again")
        filler.unlink()
        assert invoke("now", "--config", str(config), "--date", DAY, "-q").exit_code == 0
        assert not [p.name for p in (state_dir / "archive").iterdir() if p.name.endswith(".tmp")]
