"""``digest backfill``: the trend's statistics of past announcement days, filled from the arXiv API.

A new state has no history, so the trend block spends its first five days collecting a baseline. The
listing only serves today; the API can approximate any past day by the papers submitted in its
submission window (digest/sources/arxiv_backfill.py). Each day is counted with the code a digest run
uses (selection.merge → selection.score → stats.count_day, ``origin="api"``) and recorded on its own,
so a Ctrl-C keeps the days done so far. No LLM, no digest, nothing marked as shown.

Idempotent: a day already counted is not asked for again (unless ``force``, or unless it was counted by
other rules — the topics' keywords or the matcher changed), and a day counted from its real listing by
today's rules is never replaced (the state refuses); one counted by other rules is counted again, since
its numbers can no longer be compared with today's. A day the API has nothing for is recorded as
missing, never as zero; a day whose request fails is reported and left missing, and the rest go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from .. import calendar
from .._compat import UTC
from ..config import Config
from ..models import DayStats, DayStatus
from ..progress import Progress
from ..selection import pick
from ..selection.matching import TopicMatcher
from ..selection.shortlist import keep_shortlist
from ..state import State
from . import stats
from .phrases import PHRASE_RULES

if TYPE_CHECKING:
    import arxiv

MAX_DAYS = stats.BASELINE_WINDOW  # older days are outside every baseline: counting them buys nothing
# What `digest backfill` fills by default and `digest serve` fills at its start: enough for a full
# baseline and a gap-free sparkline, about a minute of polite requests.
DEFAULT_DAYS = 20
# After a refusal (429, 503) the API is given this long before the next day's request.
COOLDOWN_SECONDS = 30.0
REFUSED = " (refused: the API is busy)"

Status = Literal["counted", "done", "empty", "failed", "untried", "skipped"]


@dataclass(frozen=True)
class DayResult:
    day: date
    # counted now | done before | empty (the API had nothing) | failed | untried (offline) | skipped
    status: Status
    pool: int | None = None
    topics: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    note: str = ""  # why it was skipped or failed, one line


@dataclass
class BackfillReport:
    days: list[DayResult] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: Status) -> int:
        return sum(1 for d in self.days if d.status == status)

    @property
    def requests(self) -> int:
        return sum(d.requests for d in self.days)

    @property
    def failed(self) -> list[DayResult]:
        """The days left missing: failed, or not tried once the network was found down."""
        return [d for d in self.days if d.status in ("failed", "untried")]

    def summary(self) -> str:
        what: list[tuple[Status, str]] = [
            ("counted", "counted"),
            ("done", "already counted"),
            ("empty", "missing (the API had nothing)"),
            ("failed", "failed"),
            ("untried", "not tried"),
            ("skipped", "skipped"),
        ]
        parts = [f"{self.count(s)} {w}" for s, w in what if s == "counted" or self.count(s)]
        head = "backfill interrupted" if self.interrupted else "backfill"
        return f"{head}: {', '.join(parts)}; {self.requests} API requests"


def failed_days_lines(failed: Sequence[DayResult], planned: int) -> list[str]:
    """The days left missing, each reason once: consecutive days that failed alike share a line."""
    if planned == 1:
        head = "the day could not be fetched"
    elif len(failed) == planned:
        head = f"none of the {planned} days could be fetched"
    else:
        head = f"{len(failed)} of the {planned} days could not be fetched"
    lines = [f"{head}; left missing:"]
    groups: list[tuple[str, list[date]]] = []
    for d in failed:
        if groups and groups[-1][0] == d.note:
            groups[-1][1].append(d.day)
        else:
            groups.append((d.note, [d.day]))
    for note, group in groups:
        span = ", ".join(map(str, group))
        if len(group) > 2:
            span = f"{group[0]} to {group[-1]} ({len(group)} days)"
        lines.append(f"{span}: {note}")
    lines.append("run `digest backfill` again later to retry them")
    return lines


# -- what to do (pure) ------------------------------------------------------------------------


def plan(before: date, n: int) -> list[date]:
    """The ``n`` announcement days strictly before ``before``, oldest first."""
    if n < 1:
        return []
    return stats.announcement_days(calendar.previous_announcement_day(before), n)


def current_rules(config: Config) -> dict[str, str]:
    return {k: stats.topic_fingerprint(t) for k, t in config.topics.items()}


def already_done(stored: DayStats | None, rules: dict[str, str], *, force: bool) -> str:
    """Why a day needs no request ("" when it does): counted by today's rules, or counted from its listing
    by today's rules (never replaced), or a listing that said arXiv announced nothing."""
    if stored is None:
        return ""
    if stored.status == DayStatus.NO_ANNOUNCEMENT and stored.origin == "listing":
        return "arXiv announced nothing that day (its listing said so)"
    if not stored.counted:
        return ""
    if stored.origin == "listing" and stored.topic_rules == rules:
        return "counted from its listing"
    same = stored.topic_rules == rules and stored.phrase_rules == PHRASE_RULES
    if same and not force:
        return "counted before"
    return ""


def still_missing(config: Config, state: State, before: date, n: int = DEFAULT_DAYS) -> list[date]:
    """The days of ``plan(before, n)`` a backfill would ask the API for (none when the history is full)."""
    rules = current_rules(config)
    return [d for d in plan(before, n) if not already_done(state.load_day_stats(d), rules, force=False)]


def progress_bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else width
    return "█" * filled + "░" * (width - filled)


# -- the run -------------------------------------------------------------------------------------


def backfill(
    config: Config,
    days: Sequence[date],
    *,
    state: State,
    progress: Progress,
    client: arxiv.Client | None = None,
    force: bool = False,
    now: datetime | None = None,
    cooldown: float = COOLDOWN_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> BackfillReport:
    """Count ``days`` (announcement days, oldest first) from the API and record each in ``state``.

    Synchronous, as the ``arxiv`` package is: a Ctrl-C stops the request in progress at once, and the
    KeyboardInterrupt propagates once the report has said what was kept.
    """
    from ..sources import arxiv_client

    timeout = config.http.timeout_seconds
    if client is None:  # the process's one Client: it spaces every API request of this process
        client = arxiv_client.shared_client(config.arxiv, timeout)
    else:
        arxiv_client.prepare_client(client, config.arxiv, timeout)
    run = _Backfill(config, client, state, progress, force, now or datetime.now(UTC), cooldown, sleep)
    try:
        run.all(days)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: each day was recorded on its own, so they stay
        run.report.interrupted = True
        progress.warn(f"{run.report.summary()}; the days counted so far are kept")
        raise
    progress.done()
    return run.report


@dataclass
class _Backfill:
    config: Config
    client: arxiv.Client
    state: State
    progress: Progress
    force: bool
    now: datetime
    cooldown: float
    sleep: Callable[[float], None]
    report: BackfillReport = field(default_factory=BackfillReport)

    def all(self, days: Sequence[date]) -> None:
        from ..sources.arxiv_client import NetworkDown

        rules = current_rules(self.config)
        matcher = TopicMatcher(self.config.topics)
        for i, day in enumerate(days):
            self.progress.status(f"backfill {progress_bar(i, len(days))} {i}/{len(days)} · {day} …")
            try:
                result = self.day(day, rules, matcher)
            except NetworkDown as e:  # offline: every further request would fail the same way
                # Not warned here: the report lists the day and its reason once, and the days after it.
                self.report.days.append(DayResult(day, "failed", note=str(e)))
                untried = "not tried: the arXiv API could not be reached"
                self.report.days += [DayResult(d, "untried", note=untried) for d in days[i + 1 :]]
                return
            self.report.days.append(result)
            if result.status == "failed" and result.note.endswith(REFUSED) and i + 1 < len(days):
                self.progress.log(
                    f"backfill: the API refused; waiting {self.cooldown:g}s before the next day"
                )
                self.sleep(self.cooldown)

    def day(self, day: date, rules: dict[str, str], matcher: TopicMatcher) -> DayResult:
        from ..sources import arxiv_backfill, arxiv_client

        stored = self.state.load_day_stats(day)
        done = already_done(stored, rules, force=self.force)
        if done:
            self.progress.log(f"backfill {day}: {done}, not asked again")
            return DayResult(day, "done", stored.pool if stored else None, note=done)
        if not calendar.is_announcement_day(day) or calendar.announcement_time(day) > self.now:
            return DayResult(day, "skipped", note="not announced yet")
        start, end = calendar.submission_window(day)
        started = time.monotonic()
        before = arxiv_client.request_count(self.client)
        try:
            fetched = arxiv_backfill.fetch_window(self.client, self.config.arxiv.categories, start, end)
        except arxiv_client.NetworkDown:
            raise
        except Exception as e:  # noqa: BLE001 - requests, lxml and the package raise alike: one day fails
            note = f"arXiv API: {arxiv_client.describe_error(e)}"
            if getattr(e, "status", None) in (429, 503):
                note += REFUSED
            self._record_missing(day, stored, note)
            self.progress.warn(f"backfill {day}: {note}; left missing (run backfill again to retry it)")
            requests = arxiv_client.request_count(self.client) - before
            return DayResult(day, "failed", requests=requests, seconds=_since(started), note=note)
        seconds = _since(started)
        if not fetched.items:
            note = "the arXiv API returned no papers for its submission window"
            self._record_missing(day, stored, note)
            self.progress.warn(f"backfill {day}: {note}; recorded as missing, not as 0")
            return DayResult(day, "empty", requests=fetched.requests, seconds=seconds, note=note)
        candidates = pick.merge(fetched.items)
        scored = pick.score(candidates, matcher)
        topics = self.config.topics
        day_stats = stats.count_day(
            day, candidates, scored, topics, origin="api", pool_source=arxiv_backfill.NAME
        )
        if not self.state.record_day_stats(day_stats):  # a listing's count arrived meanwhile: it wins
            return DayResult(day, "done", note="counted from its listing meanwhile")
        keep_shortlist(self.state, day, scored, origin="api")  # the week's candidates, if no run kept any
        counts = ", ".join(f"{topics[k].label} {n}" for k, n in day_stats.topics.items())
        what = "request" if fetched.requests == 1 else "requests"
        bad = f"; {fetched.bad} with a bad value dropped" if fetched.bad else ""
        self.progress.log(
            f"backfill {day}: {day_stats.pool} papers ({counts}); "
            f"{fetched.requests} {what}, {seconds:.1f}s{bad}"
        )
        return DayResult(day, "counted", day_stats.pool, dict(day_stats.topics), fetched.requests, seconds)

    def _record_missing(self, day: date, stored: DayStats | None, note: str) -> None:
        # Only where nothing is known yet: a stored row (a failed listing, say) already says as much.
        if stored is None:
            self.state.record_day_stats(DayStats(day=day, status=DayStatus.MISSING, origin="api", note=note))


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
