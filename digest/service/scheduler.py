"""``digest serve``: the always-on service that runs the daily digest on its cron schedule.

An APScheduler 3 ``BlockingScheduler`` fires one job at ``[schedule].cron`` in the configured
timezone. Whether today's digest still has to go out is decided from the SQLite state, never
from APScheduler's memory (its job store forgets everything on restart), so a service that
starts late catches up once and a restart after a sent digest does nothing.

Shutdown (SIGTERM from Docker, SIGINT from a terminal) cancels the run in progress: the
pipeline marks its run 'abandoned' and its ``run_lock`` is released as the task unwinds.

With ``[schedule].weekly_cron`` set (off by default; e.g. ``"0 9 * * 6"``) a second job sends the weekly
roundup (``digest week --send``) of the announcement week that holds the tick's day, once per (week,
recipient); it too catches up once when started after its time on its day. The two jobs never run at
once: a tick waits for the other to finish.

A scheduled run never mails a digest whose LLM could not be reached (a local model still being
pulled, a server restarting): the run is recorded 'held', and the service tries again with
backoff until ``[schedule].llm_wait`` after the first such run (at the latest the end of the day),
then sends what it has, with its fallback lines marked. The hold lives in SQLite, so a restart
keeps the same deadline.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ..config import Config
from ..errors import DigestError, StateBusyError, StateLockedError
from ..models import Digest
from ..progress import Progress
from ..state import State, run_lock, service_lock
from .schedule import (
    HEARTBEAT_SECONDS,
    clear_heartbeat,
    day_done,
    delivery_counts,
    format_when,
    hhmm,
    hold_deadline,
    make_trigger,
    needs_catch_up,
    needs_weekly_catch_up,
    scheduled_today,
    week_done,
    weekly_trigger,
    write_heartbeat,
)

if TYPE_CHECKING:
    import httpx2


log = logging.getLogger("digest.serve")

DAILY_JOB_ID = "daily"
RETRY_JOB_ID = "llm-retry"
WEEKLY_JOB_ID = "weekly"
BUSY_JOB_IDS = {DAILY_JOB_ID: "daily-busy", WEEKLY_JOB_ID: "weekly-busy"}
# How often a scheduled run that found the state busy (a `digest now` preview, a manual send, a backup
# tool holding the database) tries again, until the end of its day.
BUSY_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class LLMBackoff:
    """Waits between held runs: 2, 4, 8, 16 min, then every 20 min, never past the deadline."""

    first: float = 120.0
    factor: float = 2.0
    max: float = 1200.0

    def wait(self, attempt: int) -> timedelta:
        return timedelta(seconds=min(self.first * self.factor ** max(0, attempt - 1), self.max))


@dataclass
class RunSummary:
    """What one tick did, for the one log line per run."""

    day: date
    skipped: str = ""  # why nothing was built, e.g. already sent
    status: str = ""  # the run's status in the runs table
    items: int = 0
    llm_calls: int = 0
    tokens: int = 0
    fallbacks: int = 0
    failed_sources: int = 0
    retried: int = 0  # pending deliveries from earlier ticks that were retried
    sent: int = 0
    pending: int = 0
    failed: int = 0
    held: str = ""  # why the digest was kept back (the LLM could not be reached)
    retry_at: datetime | None = None  # when the held digest is tried again
    deadline: datetime | None = None  # when it is sent even without the LLM
    label: str = ""  # what the line calls the run: "run 2026-02-05" unless set ("week 2026-W06")

    def line(self, seconds: float) -> str:
        delivery = f"sent {self.sent} / pending {self.pending} / failed {self.failed}"
        retried = f", retried {self.retried} pending" if self.retried else ""
        what = self.label or f"run {self.day}"
        if self.skipped:
            return f"{what}: skipped ({self.skipped}); {delivery}{retried}; {seconds:.1f}s"
        if self.held:
            return (
                f"run {self.day}: held, {self.items} items, not sent: {self.held}; trying again at "
                f"{hhmm(self.retry_at)}, sending with marked fallbacks at {hhmm(self.deadline)} at the "
                f"latest ([schedule] llm_wait); {seconds:.1f}s"
            )
        return (
            f"{what}: {self.status or 'done'}, {self.items} items, "
            f"{self.failed_sources} failed sources, {self.fallbacks} fallbacks, "
            f"{self.llm_calls} LLM calls ({self.tokens} tokens); "
            f"{delivery}{retried}; {seconds:.1f}s"
        )


# A job gets the tick's time and returns what it did (None: nothing worth a summary).
Job = Callable[[datetime], Awaitable[RunSummary | None]]


# -- schedule arithmetic (pure) ---------------------------------------------------------------


# -- `digest status` -----------------------------------------------------------------------------


# -- heartbeat (what the container healthcheck reads) ----------------------------------------


# -- the daily job ------------------------------------------------------------------------------


class LoggingProgress(Progress):
    """Pipeline progress as timestamped log lines (a service has no terminal to redraw)."""

    def __init__(self) -> None:
        super().__init__(live=False)

    def log(self, message: str) -> None:
        if not self.quiet:
            log.info(message)

    def warn(self, message: str) -> None:
        # Timestamped like every other line of the service (a failed source, say).
        log.warning(message)


async def daily_run(
    config: Config,
    now: datetime,
    *,
    progress: Progress,
    transport: httpx2.AsyncBaseTransport | None = None,
    backoff: LLMBackoff = LLMBackoff(),  # noqa: B008 - frozen dataclass, safe as a default
) -> RunSummary:
    """One tick, the code path of ``digest now --send``: retry pending mail, build, send.

    Unlike ``digest now --send``, a digest built while the LLM was unreachable is held back (see the
    module docstring) and the summary says when to try again. ``transport`` replaces the network
    under the HTTP client (the sample day, tests).
    """
    # Imported here so `digest status` and the healthcheck do not load the whole pipeline.
    from .. import delivery
    from ..pipeline import default_clients, run_digest, today

    day = today(config, now)
    summary = RunSummary(day=day)
    with State.open(config.state_path) as state:
        # Before today's build: a day whose only gap was an SMTP outage is then done. Only recent
        # days: a burst of stale digests after a long outage waits for `digest send --pending`.
        retried = await delivery.send_pending_everywhere(config, state, progress=progress, today=day)
        summary.retried = retried.count
        if day_done(config, state, day):
            summary.skipped = "already sent to every recipient" if config.email.enabled else "already built"
            _fill_deliveries(summary, state)
            return summary

    async with default_clients(config, transport=transport) as clients:
        result = await run_digest(config, day, clients=clients, progress=progress, now=now)
    d = result.digest
    summary.status = "partial" if d.failed_sources else "ok"
    summary.items = len(d.entries)
    summary.llm_calls = d.usage.calls
    summary.tokens = d.usage.prompt_tokens + d.usage.completion_tokens
    summary.fallbacks = d.fallback_count
    summary.failed_sources = len(d.failed_sources)

    with State.open(config.state_path) as state:
        if _hold(config, state, result.run_id, d, now, backoff, summary):
            return summary
        # After the hold above: nothing is mailed or posted while the LLM is being waited for.
        sent = await delivery.send_everywhere(config, state, d, progress=progress)
        if config.email.enabled:
            state.record_run_delivery(result.run_id, delivery.outcome_counts(sent.email))
        _fill_deliveries(summary, state)
    rebuild_site(config)
    return summary


async def weekly_run(
    config: Config,
    now: datetime,
    *,
    progress: Progress,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> RunSummary:
    """One weekly tick, the code path of ``digest week --send``: retry pending mail, build, send once."""
    from .. import delivery
    from ..models import iso_week
    from ..pipeline import default_clients, today
    from ..week.roundup import run_week, week_of

    day = today(config, now)
    monday = week_of(day)[0]
    summary = RunSummary(day=monday, label=f"week {iso_week(monday)}")
    with State.open(config.state_path) as state:
        retried = await delivery.send_pending_everywhere(config, state, progress=progress, today=day)
        summary.retried = retried.count
        if week_done(config, state, monday):
            summary.skipped = "already sent to every recipient" if config.email.enabled else "already built"
            _fill_deliveries(summary, state, weekly=True)
            return summary
    async with default_clients(config, transport=transport) as clients:
        result = await run_week(config, day, clients=clients, progress=progress, now=now)
    w = result.week
    summary.status = "ok"
    summary.items = len(w.entries)
    summary.llm_calls = w.usage.calls
    summary.tokens = w.usage.prompt_tokens + w.usage.completion_tokens
    summary.fallbacks = w.fallback_count
    if w.usage.unreachable and w.fallback_count:
        # Unlike the daily digest the week is not held (most of its lines were cached by the days), but
        # the reader is told in the log as in the email: the fallback lines are marked.
        log.warning("the LLM is unreachable (%s): the weekly roundup goes out with %d marked fallbacks",
                    w.usage.unreachable, w.fallback_count)  # fmt: skip
    with State.open(config.state_path) as state:
        await delivery.send_everywhere(config, state, w, progress=progress)
        _fill_deliveries(summary, state, weekly=True)
    rebuild_site(config)
    return summary


def rebuild_site(config: Config) -> None:
    """With ``[site] dir`` set, the web archive is rebuilt after a run (a failure is a warning, not a failed
    run: the digest is built and sent already)."""
    if not config.site.dir:
        return
    from ..site import build_site

    target = Path(config.site.dir).expanduser()
    try:
        written = build_site(config, target)
    except (OSError, DigestError) as e:
        log.warning("site: not rebuilt in %s: %s", target, e)
        return
    log.info("site: %d files in %s", len(written), target)


def _hold(
    config: Config,
    state: State,
    run_id: int,
    d: Digest,
    now: datetime,
    backoff: LLMBackoff,
    summary: RunSummary,
) -> bool:
    """Keep the digest back when its LLM was unreachable and the wait is not over; True when held."""
    earlier = state.llm_hold(d.day)
    if not d.usage.unreachable:
        if earlier and earlier.outcome == "waiting":
            state.end_llm_hold(d.day, "recovered")
            log.info("the LLM answers again after %d held run(s): sending the full digest", earlier.attempts)
        return False
    since = earlier.since if earlier else now
    deadline = hold_deadline(config, since)
    if config.schedule.llm_wait <= 0 or not d.entries or now >= deadline:
        if earlier and earlier.outcome == "waiting":
            state.end_llm_hold(d.day, "sent with fallbacks")
        if config.schedule.llm_wait > 0 and d.entries:
            log.warning(
                "the LLM is still unreachable %s after the first try (%s): sending with %d marked fallbacks",
                format_duration_short(now - since),
                d.usage.unreachable,
                d.fallback_count,
            )
        return False
    hold = state.hold_for_llm(d.day, since, d.usage.unreachable)
    state.set_run_status(run_id, "held")
    summary.status = "held"
    summary.held = f"the LLM is unreachable ({d.usage.unreachable})"
    summary.deadline = deadline
    summary.retry_at = min(now + backoff.wait(hold.attempts), deadline)
    return True


def format_duration_short(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _fill_deliveries(summary: RunSummary, state: State, *, weekly: bool = False) -> None:
    counts = delivery_counts(state, summary.day, weekly=weekly)
    summary.sent, summary.pending, summary.failed = counts["sent"], counts["pending"], counts["failed"]


# -- the service ------------------------------------------------------------------------------


class Service:
    """The scheduler around one job. ``job``, ``clock`` and ``trigger`` are injectable for tests."""

    def __init__(
        self,
        config: Config,
        *,
        job: Job | None = None,
        clock: Callable[[], datetime] | None = None,
        trigger: BaseTrigger | None = None,
        stop_timeout: float = 25.0,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        weekly_job: Job | None = None,
        weekly: BaseTrigger | None = None,
        busy_retry: float = BUSY_RETRY_SECONDS,
    ) -> None:
        self.config = config
        self.directory = config.state_path
        self.clock = clock or (lambda: datetime.now(config.tz))
        self.trigger = trigger or make_trigger(config)
        self.job: Job = job or self._default_job
        # The weekly roundup: off unless [schedule].weekly_cron is set (or a test passes a trigger).
        self.weekly = weekly or weekly_trigger(config)
        self.weekly_job: Job = weekly_job or self._default_weekly_job
        self._one_tick = threading.Lock()  # the daily and the weekly job never run at once
        self.stop_timeout = stop_timeout
        self.heartbeat_seconds = heartbeat_seconds
        self.busy_retry = busy_retry
        # job id -> when a tick first found the state busy, and how many tries since
        self._busy_since: dict[str, tuple[datetime, int]] = {}
        self.scheduler = self.build_scheduler()
        # Set when a run was still going when the stop timeout ran out: the caller must then exit
        # without joining the worker thread (os._exit), leaving the run for the next start to mark.
        self.stuck = False
        self._lock = threading.Lock()
        self._stopping = False
        self._current: tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._stop_requested = threading.Event()
        self._signal = ""

    async def _default_job(self, now: datetime) -> RunSummary:
        return await daily_run(self.config, now, progress=LoggingProgress())

    async def _default_weekly_job(self, now: datetime) -> RunSummary:
        return await weekly_run(self.config, now, progress=LoggingProgress())

    def build_scheduler(self) -> BlockingScheduler:
        return BlockingScheduler(
            timezone=self.config.tz,
            # Through job_defaults: as scheduler keywords these are silently ignored. APScheduler's
            # own 1 s grace would drop a run that starts late because the host was busy or asleep.
            job_defaults={
                "misfire_grace_time": self.config.schedule.misfire_grace_seconds,
                "coalesce": True,
                "max_instances": 1,
            },
        )

    # -- lifecycle --------------------------------------------------------------------------

    def run(self, *, install_signals: bool = True, before: Callable[[], None] | None = None) -> int:
        """Block until stopped; 0 after a clean stop. A second service on the same state is refused.

        ``before`` runs once under the service lock, before anything is scheduled (the CLI fills the trend
        history there) and before the service's signal handlers: Ctrl-C or SIGTERM stops it as they stop
        any command."""
        with service_lock(self.directory):
            if before is not None:
                before()
            return self._run(install_signals)

    def _run(self, install_signals: bool) -> int:
        if install_signals:
            threading.Thread(target=self._stopper, name="digest-stopper", daemon=True).start()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        self.recover()
        now = self.clock()
        catch_up = self._catch_up(now)
        # APScheduler lives in real time even when a test injects the clock that decides.
        extra: dict[str, Any] = {"next_run_time": datetime.now(self.config.tz)} if catch_up else {}
        self.scheduler.add_job(self._tick, self.trigger, id=DAILY_JOB_ID, name="daily digest", **extra)
        weekly_catch_up = False
        if self.weekly is not None:
            weekly_catch_up = self._catch_up(now, weekly=True)
            due: dict[str, Any] = {"next_run_time": datetime.now(self.config.tz)} if weekly_catch_up else {}
            self.scheduler.add_job(
                self._tick,
                self.weekly,
                args=[self.weekly_job],
                id=WEEKLY_JOB_ID,
                name="weekly roundup",
                **due,
            )
        self.scheduler.add_job(
            self._beat,
            IntervalTrigger(seconds=self.heartbeat_seconds),
            id="heartbeat",
            name="heartbeat",
            next_run_time=datetime.now(self.config.tz),  # the first beat as soon as the scheduler runs
        )
        scheduled = self.trigger.get_next_fire_time(None, now)
        log.info(
            "digest serve: schedule %r (%s), state %s; next run %s",
            self.config.schedule.cron,
            self.config.timezone,
            self.directory,
            format_when(scheduled, self.config.tz),
        )
        if catch_up:
            log.info("today's digest is not done and its time has passed: catching up now")
        if self.weekly is not None:
            log.info(
                "weekly roundup: schedule %r; next %s",
                self.config.schedule.weekly_cron,
                format_when(self.weekly.get_next_fire_time(None, now), self.config.tz),
            )
        if weekly_catch_up:
            log.info("this week's roundup is not done and its time today has passed: catching up now")
        with self._lock:
            if self._stopping:  # a signal arrived during setup
                return self._finish()
        self.scheduler.start()  # blocks until stop()
        return self._finish()

    def stop(self) -> None:
        """Stop scheduling and cancel the run in progress. Safe from any thread, not a signal handler."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            current = self._current
        if current is not None:
            loop, task = current
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the run's loop closed in the meantime: nothing to cancel
                pass
        try:
            self.scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # The handler runs on the main thread between two bytecodes, possibly while that thread holds a
        # non-reentrant lock (ThreadPoolExecutor.submit holds one): calling stop() here can deadlock.
        # So it only records the signal; the stopper thread does the work.
        self._signal = signal.Signals(signum).name
        self._stop_requested.set()

    def _stopper(self) -> None:
        self._stop_requested.wait()
        log.info("received %s: shutting down", self._signal)
        self.stop()

    def _finish(self) -> int:
        if not self._idle.wait(self.stop_timeout):
            log.error(
                "the run in progress did not stop within %.0fs; leaving it to be marked abandoned "
                "at the next start",
                self.stop_timeout,
            )
            self.stuck = True
            return 1
        self.recover()
        clear_heartbeat(self.directory)
        log.info("digest serve stopped")
        return 0

    def _catch_up(self, now: datetime, *, weekly: bool = False) -> bool:
        try:
            with State.open(self.directory) as state:
                if weekly:
                    return needs_weekly_catch_up(now, self.config, state, self.weekly)
                return needs_catch_up(now, self.config, state)
        except StateLockedError as e:
            # Held by a backup tool at start: run the tick if its time today has passed; the tick reads
            # whether the day is done once it can, and waits for the state like any busy tick.
            trigger = self.weekly if weekly else make_trigger(self.config)
            fire = scheduled_today(trigger, now, self.config.tz) if trigger else None
            due = fire is not None and now >= fire
            log.warning("cannot read the state to decide on a catch-up run (%s)%s", e,
                        ": trying it, today's time has passed" if due else "")  # fmt: skip
            return due
        except DigestError as e:
            log.error("cannot read the state to decide on a catch-up run: %s", e)
            return False

    def recover(self) -> int:
        """Mark runs a killed or cancelled process left 'running' as abandoned (needs the run lock)."""
        try:
            with run_lock(self.directory), State.open(self.directory) as state:
                n = state.abandon_unfinished_runs()
        except StateBusyError:
            return 0  # a run is in progress elsewhere (e.g. `digest now`): its rows are not leftovers
        except DigestError as e:
            log.error("cannot tidy the state: %s", e)
            return 0
        if n:
            log.warning("marked %d unfinished run(s) as abandoned", n)
        return n

    # -- jobs -------------------------------------------------------------------------------

    def next_scheduled(self) -> datetime | None:
        """The next run: the daily schedule's, or a held digest's retry when that comes first."""
        times = []
        for job_id in (DAILY_JOB_ID, RETRY_JOB_ID, WEEKLY_JOB_ID, *BUSY_JOB_IDS.values()):
            # A job added before start() has no next_run_time attribute yet.
            when = getattr(self.scheduler.get_job(job_id), "next_run_time", None)
            if when is not None:
                times.append(when)
        if times:
            return min(times)
        return self.trigger.get_next_fire_time(None, self.clock())

    def _beat(self) -> None:
        if self._stopping:
            # A stop that landed between run()'s last check and start(): the first beat ends it.
            try:
                self.scheduler.shutdown(wait=False)
            except SchedulerNotRunningError:
                pass
            return
        try:
            write_heartbeat(self.directory, self.next_scheduled())
        except OSError as e:
            log.warning("cannot write the heartbeat: %s", e)

    def _tick(self, job: Job | None = None) -> None:
        with self._one_tick:  # a weekly tick waits for a daily one (and the other way round)
            if self._stopping:
                return
            self._run_tick(job or self.job)

    def _job_id(self, job: Job) -> str:
        return WEEKLY_JOB_ID if job is self.weekly_job and job is not self.job else DAILY_JOB_ID

    def _run_tick(self, job: Job) -> None:
        now = self.clock()
        started = time.monotonic()
        self._idle.clear()
        job_id = self._job_id(job)
        busy = False
        try:
            summary = asyncio.run(self._guarded(now, job))
        except (StateBusyError, StateLockedError) as e:
            # A `digest now` preview started a minute before the schedule, or a backup tool holding the
            # database: the day's run must not be lost to it. Try again shortly, until the day is over.
            busy = True
            self._retry_busy(job_id, job, now, e)
        except asyncio.CancelledError:
            log.warning("run %s abandoned by shutdown after %.1fs", now.date(), time.monotonic() - started)
        except DigestError as e:
            log.error("run %s failed after %.1fs: %s", now.date(), time.monotonic() - started, e)
        except Exception:
            log.exception("run %s crashed after %.1fs", now.date(), time.monotonic() - started)
        else:
            if summary is not None:
                log.info(summary.line(time.monotonic() - started))
                if summary.retry_at is not None and not self._stopping:
                    self._schedule_retry(summary.retry_at - now)
        finally:
            if not busy:
                self._busy_since.pop(job_id, None)
            self._idle.set()
        if not self._stopping:
            self._beat()
            log.info("next run %s", format_when(self.next_scheduled(), self.config.tz))

    def _schedule_retry(
        self, wait: timedelta, job: Job | None = None, job_id: str = RETRY_JOB_ID, name: str = "held digest"
    ) -> None:
        # The injected clock decides what is due; APScheduler itself lives in real time.
        when = datetime.now(self.config.tz) + max(wait, timedelta(0))
        self.scheduler.add_job(
            self._tick,
            DateTrigger(run_date=when),
            args=[job] if job is not None else [],
            id=job_id,
            name=name,
            replace_existing=True,
        )

    def _retry_busy(self, job_id: str, job: Job, now: datetime, e: DigestError) -> None:
        what = "weekly roundup" if job_id == WEEKLY_JOB_ID else f"run {now.date()}"
        first, tries = self._busy_since.get(job_id, (now, 0))
        self._busy_since[job_id] = (first, tries + 1)
        local = first.astimezone(self.config.tz)
        tomorrow = local.date() + timedelta(days=1)
        end_of_day = datetime.combine(tomorrow, datetime.min.time(), tzinfo=self.config.tz)
        wait = timedelta(seconds=self.busy_retry)
        if self._stopping:
            return
        if now + wait >= end_of_day:
            self._busy_since.pop(job_id, None)
            log.error("%s: gave up at the end of its day, the state stayed busy since %s: %s",
                      what, hhmm(local), e)  # fmt: skip
            return
        if not tries:
            log.warning(
                "%s waits for the state: %s (the service tries again every %gs until the end of the day)",
                what, e, self.busy_retry,
            )  # fmt: skip
        elif tries % 20 == 0:  # every ten minutes or so, not every try
            log.info("%s still waits for the state (busy since %s, %d tries)", what, hhmm(local), tries)
        self._schedule_retry(wait, job, BUSY_JOB_IDS[job_id], f"{what} (state busy)")

    async def _guarded(self, now: datetime, job: Job) -> RunSummary | None:
        task = asyncio.current_task()
        assert task is not None
        with self._lock:
            if self._stopping:
                raise asyncio.CancelledError
            self._current = (asyncio.get_running_loop(), task)
        try:
            return await job(now)
        finally:
            with self._lock:
                self._current = None


def configure_logging(level: int = logging.INFO) -> None:
    # force: the CLI's main() has already set up plain, WARNING-only logging for one-shot commands;
    # a service wants every line timestamped.
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S %z",  # the host's zone, said out loud: containers often run in UTC
        force=True,
    )
    # One "HTTP Request: ..." line per fetch drowns the per-run lines.
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # APScheduler logs every job start at INFO; our own per-run line says more.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
