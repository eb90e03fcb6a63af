"""When the service runs and what `digest status` says: the schedule's triggers, whether a day or a week
still has to go out (decided from the state), the status report, and the heartbeat the healthcheck reads."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from .._compat import UTC
from ..addresses import mailbox_key
from ..config import Config
from ..cron import crontab_trigger
from ..state import RunRecord, State, run_is_alive

HEARTBEAT_NAME = "heartbeat.json"
HEARTBEAT_SECONDS = 60
# Several missed beats, so a short host sleep or a busy disk does not mark the service unhealthy.
HEARTBEAT_MAX_AGE = 300


def hhmm(when: datetime | None) -> str:
    return when.strftime("%H:%M") if when else "?"


def make_trigger(config: Config) -> CronTrigger:
    return crontab_trigger(config.schedule.cron, config.tz)


def weekly_trigger(config: Config) -> CronTrigger | None:
    """The weekly roundup's schedule, or None when ``[schedule].weekly_cron`` is off."""
    return crontab_trigger(config.schedule.weekly_cron, config.tz) if config.schedule.weekly_cron else None


def next_run_time(config: Config, now: datetime) -> datetime | None:
    """The first scheduled time at or after ``now``, in the configured timezone."""
    return make_trigger(config).get_next_fire_time(None, now)


def scheduled_today(trigger: BaseTrigger, now: datetime, tz: Any) -> datetime | None:
    """The first fire time on ``now``'s local date, or None when today is not a cron day."""
    local = now.astimezone(tz)
    midnight = datetime(local.year, local.month, local.day, tzinfo=tz)
    fire = trigger.get_next_fire_time(None, midnight)
    if fire is None or fire.astimezone(tz).date() != local.date():
        return None
    return fire


def has_successful_run(state: State, day: date) -> bool:
    row = state.conn.execute(
        "select 1 from runs where day = ? and status in ('ok', 'partial') limit 1", (day.isoformat(),)
    ).fetchone()
    return row is not None


def day_done(config: Config, state: State, day: date) -> bool:
    """The day's digest needs no more work: sent to every recipient (or built, with email off).

    A recipient whose delivery failed permanently counts as done too: delivery never retries it
    without --force, so rebuilding the digest for it would only cost fetches.
    """
    posted = _channels_done(config, state, day, weekly=False)
    if config.email.enabled:
        rows = state.deliveries(day=day)
        final = {mailbox_key(d.recipient) for d in rows if d.status in ("sent", "failed")}
        return all(mailbox_key(r) in final for r in config.email.to) and posted
    if _channel_names(config, weekly=False):
        return posted
    return has_successful_run(state, day)


def _channel_names(config: Config, *, weekly: bool) -> list[str]:
    return [n for n, c in config.channels.items() if c.enabled and (c.weekly if weekly else c.daily)]


def _channels_done(config: Config, state: State, day: date, *, weekly: bool) -> bool:
    """Every chat channel has the post, or refused it for good (as a permanently failed recipient)."""
    final = {p.channel for p in state.channel_posts(day=day) if p.weekly == weekly and p.status != "pending"}
    return all(n in final for n in _channel_names(config, weekly=weekly))


def needs_catch_up(now: datetime, config: Config, state: State) -> bool:
    """True when today is a cron day, its scheduled time has passed and its digest is not done."""
    fire = scheduled_today(make_trigger(config), now, config.tz)
    if fire is None or now < fire:
        return False
    return not day_done(config, state, now.astimezone(config.tz).date())


def week_done(config: Config, state: State, monday: date) -> bool:
    """The week's roundup needs no more work: sent (or failed for good) to every recipient, or, with email
    off, archived."""
    posted = _channels_done(config, state, monday, weekly=True)
    if config.email.enabled:
        rows = state.deliveries(day=monday, weekly=True)
        final = {mailbox_key(d.recipient) for d in rows if d.status in ("sent", "failed")}
        return all(mailbox_key(r) in final for r in config.email.to) and posted
    if _channel_names(config, weekly=True):
        return posted
    from ..models import iso_week

    return (state.archive_dir / f"week-{iso_week(monday)}.md").is_file()


def needs_weekly_catch_up(
    now: datetime, config: Config, state: State, trigger: BaseTrigger | None = None
) -> bool:
    """True when the weekly schedule fired earlier today and that week's roundup is not done."""
    trigger = trigger or weekly_trigger(config)
    fire = scheduled_today(trigger, now, config.tz) if trigger else None
    if fire is None or now < fire:
        return False
    from ..week.roundup import week_of

    return not week_done(config, state, week_of(now.astimezone(config.tz).date())[0])


def delivery_counts(state: State, day: date, *, weekly: bool = False) -> dict[str, int]:
    counts = {"sent": 0, "pending": 0, "failed": 0}
    for d in state.deliveries(day=day, weekly=weekly):
        counts[d.status] = counts.get(d.status, 0) + 1
    return counts


def format_when(when: datetime | None, tz: Any) -> str:
    if when is None:
        return "never (the cron expression matches no future time)"
    return when.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


def _run_email(delivery: dict[str, int] | None) -> tuple[str, str, str]:
    """The sent / pending / failed cells of one run: empty unless that run emailed someone."""
    if not delivery or not any(delivery.get(k) for k in ("sent", "pending", "failed")):
        return "", "", ""
    return str(delivery.get("sent", 0)), str(delivery.get("pending", 0)), str(delivery.get("failed", 0))


def run_state(run: RunRecord, directory: Path) -> tuple[str, str]:
    """The status `digest status` shows for a run, and why when it did not end well.

    A row still 'running' whose process is gone (killed, the machine stopped) is 'interrupted': the
    next run marks it abandoned, but until then the reader must not be told it is running."""
    if run.status == "running":
        if run_is_alive(run, directory):
            return "running", ""
        who = f"pid {run.pid}" if run.pid else "its process"
        why = (
            f"{who} ended without finishing it (killed, the machine stopped, or the state could not be "
            "written); the next run marks it abandoned"
        )
        return "interrupted", why
    if run.status in ("failed", "abandoned") and run.error:
        return run.status, run.error
    return run.status, ""


def status_report(config: Config, state: State, now: datetime, limit: int = 10) -> str:
    """Last runs, what waits (held digests, pending mail), the next run and the service's state."""
    runs = state.recent_runs(limit)
    lines: list[str] = []
    if not runs:
        lines.append("No runs yet. Try `digest now`.")
    else:
        lines.append(
            f"{'day':<12}{'status':<10}{'items':>6}{'fallb.':>7}{'calls':>6}{'tokens':>9}"
            f"{'sent':>6}{'pend.':>6}{'fail':>6}  started"
        )
    for r in runs:
        started = datetime.fromisoformat(r.started_at).astimezone(config.tz).strftime("%m-%d %H:%M")
        sent, pending, failed = _run_email(r.delivery)
        shown, reason = run_state(r, config.state_path)
        lines.append(
            f"{r.day.isoformat():<12}{shown:<10}{r.items:>6}{r.fallbacks:>7}{r.llm_calls:>6}"
            f"{r.prompt_tokens + r.completion_tokens:>9}{sent:>6}{pending:>6}{failed:>6}  {started}"
        )
        if reason:
            lines.append(f"  ↳ {reason}")
    if runs:
        lines.append("(sent / pend. / fail: what that run's email did; empty when it sent none)")
    lines.append("")
    hold = state.llm_hold(now.astimezone(config.tz).date())
    if hold and hold.outcome == "waiting":
        lines.append(
            f"held: {hold.day} is kept back while the LLM is unreachable ({hold.reason}); "
            f"{hold.attempts} tries since {hold.since.astimezone(config.tz):%H:%M}, sent with marked "
            f"fallbacks at {hold_deadline(config, hold.since):%H:%M} at the latest"
        )
    pending_now = state.deliveries(status="pending") + state.deliveries(status="pending", weekly=True)
    if pending_now:
        from ..models import iso_week

        labels = {f"week {iso_week(d.day)}" if d.weekly else d.day.isoformat() for d in pending_now}
        days = ", ".join(sorted(labels))
        lines.append(f"pending: {len(pending_now)} email(s) of {days} (`digest send --pending`)")
    for status, what in (("pending", "`digest send --pending`"), ("failed", "refused for good: see the fix")):
        posts = state.channel_posts(status=status)
        if posts:
            from ..models import iso_week

            shown = ", ".join(
                f"{p.channel} ({f'week {iso_week(p.day)}' if p.weekly else p.day.isoformat()}"
                + (f": {p.last_error}" if status == "failed" else "") + ")"
                for p in posts[-5:]
            )
            lines.append(f"{status} chat posts: {len(posts)}: {shown} ({what})")
    lines.append(
        f"next run: {format_when(next_run_time(config, now), config.tz)} "
        f"(schedule {config.schedule.cron!r}, {config.timezone})"
    )
    weekly = weekly_trigger(config)
    if weekly is not None:
        lines.append(
            f"next weekly roundup: {format_when(weekly.get_next_fire_time(None, now), config.tz)} "
            f"(weekly_cron {config.schedule.weekly_cron!r})"
        )
    beat = read_heartbeat(config.state_path)
    if beat is None:
        lines.append("service: not running (start it with `digest serve`)")
    else:
        problem = heartbeat_problem(config.state_path, now)
        age = (now - beat.at).total_seconds()
        lines.append(f"service: {problem or 'running'} (pid {beat.pid}, last heartbeat {age:.0f}s ago)")
    return "\n".join(lines)


@dataclass(frozen=True)
class Heartbeat:
    pid: int
    at: datetime
    next_run: datetime | None


def write_heartbeat(directory: Path, next_run: datetime | None, now: datetime | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "pid": os.getpid(),
        "at": (now or datetime.now(UTC)).isoformat(),
        "next_run": next_run.isoformat() if next_run else None,
    }
    path = directory / HEARTBEAT_NAME
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a file


def read_heartbeat(directory: Path) -> Heartbeat | None:
    try:
        data = json.loads((directory / HEARTBEAT_NAME).read_text(encoding="utf-8"))
        return Heartbeat(
            pid=int(data["pid"]),
            at=datetime.fromisoformat(data["at"]),
            next_run=datetime.fromisoformat(data["next_run"]) if data.get("next_run") else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def heartbeat_problem(directory: Path, now: datetime, max_age: float = HEARTBEAT_MAX_AGE) -> str | None:
    """Why the service looks unhealthy, or None when its heartbeat is fresh."""
    beat = read_heartbeat(directory)
    if beat is None:
        return f"no heartbeat in {directory} (is `digest serve` running with this state_dir?)"
    age = (now - beat.at).total_seconds()
    if age > max_age:
        return f"heartbeat is {age:.0f}s old (more than {max_age:.0f}s): the scheduler looks stuck"
    return None


def clear_heartbeat(directory: Path) -> None:
    (directory / HEARTBEAT_NAME).unlink(missing_ok=True)


def hold_deadline(config: Config, since: datetime) -> datetime:
    """When a held digest goes out anyway: ``llm_wait`` after the first held run, within its day."""
    local = since.astimezone(config.tz)
    end_of_day = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=config.tz)
    return min(local + timedelta(seconds=config.schedule.llm_wait), end_of_day - timedelta(minutes=1))
