"""The trend stage at the pipeline's edge: count today, store it, read the history, compute the block.

The numbers come from the pure functions in digest/trend/stats.py; this module only decides what the run may
record and reads what the state holds:

* a run that read the whole listing records the day (a re-run replaces its row, never adds to it);
* a day arXiv did not announce is recorded as such, a failed or stale listing as missing (never as 0);
* a past ``--date`` run, served by the API search (only papers matching the keywords, over a submission
  window), records nothing: that pool would be a biased sample. It shows the day's stored numbers when an
  earlier run (or a backfill) counted it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from ..config import Config
from ..models import Candidate, DayStats, DayStatus, Scored, SourceReport, SourceStatus, TopicInfo, Trend
from ..progress import Progress
from ..state import State
from . import stats
from .phrases import PHRASE_RULES

NOTE_MISSING = "arXiv 목록을 가져오지 못해 오늘의 주제 추이는 계산하지 않았습니다."
NOTE_PARTIAL = "arXiv 목록을 일부만 읽어 오늘의 주제 추이는 계산하지 않았습니다."
NOTE_PAST = "지난 날짜라 그날의 전체 arXiv 목록이 없어 주제 추이는 계산하지 않았습니다."


def count_today(
    config: Config,
    day: date,
    candidates: Sequence[Candidate],
    scored: Sequence[Scored],
    reports: Sequence[SourceReport],
    state: State,
    progress: Progress,
) -> tuple[DayStats | None, str]:
    """Today's counted numbers (fresh, or stored by an earlier run of the day), or None and why not.

    Records what this run may record. The note is "" when the day simply has no trend block (no
    announcement, or no arXiv source configured).
    """
    status = stats.listing_status(reports)
    if status in (DayStatus.ANNOUNCED, DayStatus.PARTIAL):
        started = time.process_time()
        day_stats = stats.count_day(day, candidates, scored, config.topics, status=status, with_phrases=False)
        members = stats.pool(candidates)
        key = stats.phrase_input(members)
        # A re-run of the day over the same pool: its phrases are the stored ones (the topic counts are
        # cheap and counted again, they may have other sources' papers).
        stored = state.load_day_stats(day) if status == DayStatus.ANNOUNCED else None
        reused = None
        if stored and stored.counted and (stored.phrase_rules, stored.phrase_input) == (PHRASE_RULES, key):
            reused = stored.phrases
        phrases = reused if reused is not None else stats.pool_phrases(members)
        day_stats = replace(day_stats, phrases=phrases, phrase_input=key)
        state.record_day_stats(day_stats)
        progress.log(
            f"trend: {day_stats.pool} papers in the pool, {len(phrases.docs)} phrases in two or more"
            f"{' (counted before)' if reused is not None else ''}, {time.process_time() - started:.2f}s CPU"
        )
        if status == DayStatus.PARTIAL:
            return None, NOTE_PARTIAL
        return day_stats, ""
    if status in (DayStatus.NO_ANNOUNCEMENT, DayStatus.MISSING):
        state.record_day_stats(DayStats(day=day, status=status, origin="listing"))
    stored = state.load_day_stats(day)
    if stored is not None and stored.counted:
        return stored, ""
    if status == DayStatus.MISSING:
        return None, NOTE_MISSING
    if status is None and any(r.name == stats.LISTING and r.status == SourceStatus.PAST for r in reports):
        return None, NOTE_PAST
    return None, ""


# Where a day's numbers came from, when not from a digest run on this state (Korean, for the basis line).
ORIGIN_NOTES = {
    "sample": "이전 발표일 {n}일은 샘플에 함께 넣은 실제 arXiv 통계",
    "api": "이전 발표일 {n}일은 arXiv API로 채운 숫자",
}


def history_note(days: Sequence[DayStats]) -> str:
    notes = []
    for origin, text in ORIGIN_NOTES.items():
        n = sum(1 for h in days if h.origin == origin)
        if n:
            notes.append(text.format(n=n))
    return " · ".join(notes)


def build_trend(config: Config, today: DayStats, state: State, progress: Progress | None = None) -> Trend:
    """The block's numbers for a counted day, against the stored history before it."""
    started = time.process_time()
    trend = _build_trend(config, today, state)
    if progress is not None:
        progress.log(
            f"trend: baseline {trend.baseline_days} days, {len(trend.emerging)} emerging terms, "
            f"{time.process_time() - started:.2f}s CPU"
        )
    return trend


def _build_trend(config: Config, today: DayStats, state: State) -> Trend:
    day = today.day
    spark_days = stats.announcement_days(day, stats.SPARK_DAYS)
    start = min(stats.window_start(day), spark_days[0])
    history = [h for h in state.day_stats(start, day) if h.day < day]
    # Days before this state's history began are not gaps: a new user's sparkline starts on their first
    # day. A day missed after that is a gap, a blank.
    first = state.first_stats_day() or day
    spark_days = [d for d in spark_days if d >= first]
    topics = [TopicInfo(k, t.label) for k, t in config.topics.items()]
    lines, baseline_days = stats.topic_trends(today, history, topics, spark_days)
    used = stats.baseline(history, day) + [h for h in history if h.day in spark_days]
    trend = Trend(
        day=day,
        pool=today.pool,
        topics=lines,
        baseline_days=baseline_days,
        needed_days=stats.MIN_BASELINE_DAYS,
        spark_days=tuple(spark_days),
        history_note=history_note(list({h.day: h for h in used}.values())),
    )
    if trend.cold_start or today.phrases is None:
        return trend
    base = [h for h in stats.baseline(history, day) if h.phrase_rules == today.phrase_rules]
    past_papers = sum(h.pool or 0 for h in base)
    # Only the candidates some baseline count could let through are looked up in the stored days.
    candidates = stats.could_emerge(stats.term_candidates(today.phrases), today.phrases, past_papers)
    past = state.phrase_counts(candidates, [h.day for h in base])
    terms = stats.emerging_terms(today.phrases, past, past_papers, len(base))
    seen = state.phrases_seen_before([t.phrase for t in terms], day)
    return replace(trend, emerging=tuple(replace(t, new=t.phrase not in seen) for t in terms))


def no_trend(day: date, note: str) -> Trend | None:
    """The block of a day without numbers: one line saying why, or nothing when there is nothing to say."""
    return Trend(day=day, pool=None, note=note) if note else None
