"""주간 정리: the announcement week's most important papers, its numbers, and a short paragraph.

The week that holds a day (the reader's date) is its Monday-to-Friday listings. Nothing here is a second
pipeline; it reuses the daily stages on what the state kept:

* candidates: the shortlists every run (and every backfilled day) keeps (selection/shortlist.py), merged per
  work over the week, papers shown before the week left out;
* selection: ``pick.select`` with ``[week] max_items`` and ``max_per_topic`` (topics take turns), over
  scores raised for a paper seen on several days or by several sources, and for a match on a topic that is
  rising this week (▲);
* takeaways: ``summarize`` (cached lines are reused, so a paper a day already showed costs nothing);
* numbers: the week's counted days summed and compared by ``stats.topic_trends`` with the baseline before
  the week, one sparkline block per day, ``stats.emerging_terms`` over the week's phrases;
* paragraph: ``flow.write_flow`` with the week's prompt (prompts/week.*): the code's sentence of the
  week's numbers, and the model's theme under the same checks;
* rendering: digest/week/render.py (templates/week.*); delivery: ``delivery.send_week``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from .. import calendar
from ..config import Config, Render, Selection
from ..delivery import archive_week_email
from ..delivery.feed import archive_post
from ..delivery.post import weekly_post
from ..models import (
    DayStats,
    DayStatus,
    EmergingTerm,
    PhraseCounts,
    Scored,
    TopicInfo,
    Trend,
    WeekDigest,
)
from ..pipeline import Clients, today
from ..progress import Progress
from ..reader.watch import news_between
from ..selection import pick
from ..state import State, run_lock
from ..takeaways.summarize import summarize_run
from ..trend import stats
from ..trend.paragraph import load_prompt, write_flow
from ..trend.phrases import PHRASE_RULES
from ..trend.stage import history_note
from .render import render_week_markdown, short_label

WEEK_PROMPT = load_prompt("이번 주 흐름", "이번 주", "그전 {n}개 발표일", "week.system.txt", "week.user.txt")

# The week's ranking, on top of relevance + popularity (the scale of a topic score: 0.3 is one mention in
# the abstract's first sentences, 1.0 a title and abstract match):
DAY_BONUS = 0.15  # each further day a work was shortlisted (Hugging Face a day after the listing, say)
SOURCE_BONUS = 0.1  # each further source that saw it
MAX_EXTRA = 2  # days or sources past the first that count
RISING_BONUS = 0.2  # a match on a topic marked ▲ this week


# -- the week (pure) -------------------------------------------------------------------------------


def week_of(day: date) -> tuple[date, date]:
    """The Monday and Friday of the announcement week that holds ``day`` (a weekend: the week before it)."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=4)


def listing_days(monday: date, until: date | None = None) -> list[date]:
    """The week's announcement days (Monday to Friday, holidays left out), up to ``until``."""
    days = [monday + timedelta(days=i) for i in range(5)]
    return [d for d in days if calendar.is_announcement_day(d) and (until is None or d <= until)]


def merge_shortlists(
    lists: Mapping[date, Sequence[Scored]],
) -> tuple[list[Scored], dict[str, tuple[date, ...]]]:
    """One Scored per work over the week, and the days each was shortlisted.

    The text and metadata come from the most trusted source that saw it (the listing before Hugging Face,
    pick.source_rank), the latest such day first; the sources are all that saw it, the categories
    all they named, the upvotes the most any day counted, the version the newest, the matches those of
    its best day.
    """
    seen: dict[str, list[tuple[date, Scored]]] = {}
    for day in sorted(lists):
        for s in lists[day]:
            seen.setdefault(s.candidate.key, []).append((day, s))
    merged: list[Scored] = []
    days: dict[str, tuple[date, ...]] = {}
    for key, found in seen.items():
        latest = min(
            reversed([s for _, s in found]),
            key=lambda s: min((pick.source_rank(x) for x in s.candidate.sources), default=(9, "")),
        )
        best = max((s for _, s in found), key=lambda s: s.relevance)  # upvotes are the work's, not a day's
        sources = sorted({x for _, s in found for x in s.candidate.sources}, key=pick.source_rank)
        upvotes = [s.candidate.upvotes for _, s in found if s.candidate.upvotes is not None]
        versions = [s.candidate.version for _, s in found if s.candidate.version is not None]
        categories = list(latest.candidate.categories)
        categories += [c for _, s in found for c in s.candidate.categories if c not in categories]
        candidate = replace(
            latest.candidate,
            sources=tuple(sources),
            categories=tuple(dict.fromkeys(categories)),
            upvotes=max(upvotes) if upvotes else None,
            version=max(versions) if versions else None,
        )
        popularity = pick.popularity(candidate.upvotes)
        merged.append(Scored(candidate, best.matches, best.relevance, popularity))
        days[key] = tuple(d for d, _ in found)
    return merged, days


def boosted(s: Scored, days_seen: int, rising: set[str]) -> Scored:
    """``s`` with the week's signals added to its relevance and to each topic's match score."""
    extra = DAY_BONUS * min(MAX_EXTRA, max(0, days_seen - 1))
    extra += SOURCE_BONUS * min(MAX_EXTRA, max(0, len(s.candidate.sources) - 1))
    matches = tuple(
        replace(m, score=round(m.score + extra + (RISING_BONUS if m.topic in rising else 0.0), 4))
        for m in s.matches
    )
    rise = RISING_BONUS if any(m.topic in rising for m in s.matches) else 0.0
    return replace(s, matches=matches, relevance=round(s.relevance + extra + rise, 4))


def aggregate(days: Sequence[DayStats], monday: date, rules: Mapping[str, str]) -> DayStats | None:
    """The week's counted days as one pool (dated its Monday), or None when none counts.

    Only days counted by today's rules for every topic: a number counted another way is not added in.
    """
    used = [d for d in days if d.counted and d.topic_rules == dict(rules)]
    if not used:
        return None
    topics = {k: sum(d.topics.get(k, 0) for d in used) for k in rules}
    return DayStats(
        day=monday,
        status=DayStatus.ANNOUNCED,
        origin="week",
        pool=sum(d.pool or 0 for d in used),
        topics=topics,
        topic_rules=dict(rules),
        phrase_rules=PHRASE_RULES,
    )


def spark(days: Sequence[date], by_day: Mapping[date, DayStats], topic: str) -> str:
    """One block per day of the week: the topic's share that day; a blank for a day without numbers."""
    values: list[float | None] = []
    for d in days:
        s = by_day.get(d)
        values.append((s.topics.get(topic, 0) / s.pool) if s is not None and s.pool else None)
    return stats.sparkline(values)


def week_phrases(days: Sequence[DayStats], weekly_docs: Mapping[str, int], papers: int) -> PhraseCounts:
    """The week's phrase counts: ``weekly_docs`` (exact, from the state) with first authors added up per
    day (a phrase in one paper on a day has one); the same first author on two days counts twice."""
    authors: dict[str, int] = {}
    for phrase, n in weekly_docs.items():
        in_rows = sum(d.phrases.docs.get(phrase, 0) for d in days if d.phrases)
        fa = sum(d.phrases.first_authors.get(phrase, 0) for d in days if d.phrases)
        authors[phrase] = fa + max(0, n - in_rows)
    return PhraseCounts(papers=papers, docs=dict(weekly_docs), first_authors=authors)


# -- the week's numbers (reads the state) ------------------------------------------------------------


@dataclass(frozen=True)
class WeekNumbers:
    trend: Trend | None
    counted: tuple[date, ...]  # the days whose numbers are in it
    other_rules: tuple[date, ...]  # counted, but by other topic rules: left out


def week_numbers(config: Config, days: Sequence[date], monday: date, state: State) -> WeekNumbers:
    rules = {k: stats.topic_fingerprint(t) for k, t in config.topics.items()}
    stored = {s.day: s for s in state.day_stats(monday, monday + timedelta(days=4)) if s.day in days}
    comparable = {d: s for d, s in stored.items() if s.counted and s.topic_rules == rules}
    other = tuple(d for d, s in stored.items() if s.counted and d not in comparable)
    week = aggregate(list(comparable.values()), monday, rules)
    if week is None:
        return WeekNumbers(None, (), other)
    history = state.day_stats(stats.window_start(monday), monday - timedelta(days=1))
    topics = [TopicInfo(k, t.label) for k, t in config.topics.items()]
    lines, baseline_days = stats.topic_trends(week, history, topics, [])
    lines = tuple(replace(t, spark=spark(days, comparable, t.key)) for t in lines)
    base = stats.baseline(history, monday)
    trend = Trend(
        day=monday,
        pool=week.pool,
        topics=lines,
        baseline_days=baseline_days,
        needed_days=stats.MIN_BASELINE_DAYS,
        spark_days=tuple(days),
        history_note=_origin_note(list(comparable.values()), base),
    )
    if not trend.cold_start:
        trend = replace(trend, emerging=_emerging(state, list(comparable), base))
    return WeekNumbers(trend, tuple(sorted(comparable)), other)


def _origin_note(days: list[DayStats], base: list[DayStats]) -> str:
    """Where the week's numbers came from, when not from digest runs (the block's small print)."""
    notes = [
        f"이번 주 {n}일은 {WEEK_ORIGINS[o]}" for o in WEEK_ORIGINS if (n := sum(d.origin == o for d in days))
    ]
    return " · ".join([*notes, *filter(None, [history_note(base)])])


WEEK_ORIGINS = {"api": "arXiv API로 채운 숫자", "sample": "샘플에 함께 넣은 실제 arXiv 통계"}


def _emerging(state: State, days: list[date], base: list[DayStats]) -> tuple[EmergingTerm, ...]:
    loaded = [s for s in (state.load_day_stats(d) for d in days) if s and s.phrase_rules == PHRASE_RULES]
    if not loaded:
        return ()
    papers = sum(s.pool or 0 for s in loaded)
    # Candidates: the phrases in two or more papers on some day (stored as text); a phrase in one paper a
    # day is stored only as a hash, so one found once on each of three days is not a candidate.
    phrases = sorted({p for s in loaded if s.phrases for p in s.phrases.docs})
    upper = {p: sum(s.phrases.docs.get(p, 1) for s in loaded if s.phrases) for p in phrases}
    phrases = [p for p in phrases if upper[p] >= stats.MIN_PAPERS]
    week = week_phrases(loaded, state.phrase_counts(phrases, [s.day for s in loaded]), papers)
    candidates = stats.term_candidates(week)
    base = [h for h in base if h.phrase_rules == PHRASE_RULES]
    past = state.phrase_counts(candidates, [h.day for h in base])
    terms = stats.emerging_terms(week, past, sum(h.pool or 0 for h in base), len(base))
    seen = state.phrases_seen_before([t.phrase for t in terms], min(days))
    return tuple(replace(t, new=t.phrase not in seen) for t in terms)


# -- the run -----------------------------------------------------------------------------------------


def _notices(
    monday: date, days: Sequence[date], numbers: WeekNumbers, lists: Mapping[date, object], until: date
) -> list[str]:
    """What the reader must know about the week's data, in Korean: never a silent gap."""
    notes: list[str] = []
    friday = monday + timedelta(days=4)
    if until < friday:
        notes.append(f"이번 주가 아직 끝나지 않았습니다: {short_label(until)}까지의 정리입니다.")
    holidays = [monday + timedelta(days=i) for i in range(5)]
    holidays = [d for d in holidays if calendar.is_holiday(d) and d <= until]
    if holidays:
        notes.append(f"arXiv 휴일(발표 없음): {_days(holidays)}.")
    missing = [d for d in days if d not in numbers.counted and d not in numbers.other_rules]
    no_list = [d for d in days if d not in lists]
    # A day without either is one line, not two about the same days.
    neither = [d for d in missing if d in no_list] if len(no_list) < len(days) else []
    if neither:
        notes.append(
            f"자료가 없는 발표일: {_days(neither)}. 이번 주 통계와 주요 논문에서 빠졌습니다"
            "(digest backfill 명령으로 채울 수 있습니다)."
        )
    if only_numbers := [d for d in missing if d not in neither]:
        notes.append(
            f"숫자가 없는 발표일: {_days(only_numbers)}. 이번 주 통계에서 빠졌습니다"
            "(digest backfill 명령으로 채울 수 있습니다)."
        )
    if numbers.other_rules:
        other = _days(numbers.other_rules)
        notes.append(f"지금과 다른 주제 규칙으로 센 날: {other}. 이번 주 통계에 더하지 않았습니다.")
    if days and len(no_list) == len(days):
        notes.append(
            "이번 주에 저장된 후보 논문이 없습니다. 매일 digest now를 실행하면 그날의 후보가 쌓입니다."
        )
    elif only_list := [d for d in no_list if d not in neither]:
        notes.append(f"후보 논문이 저장되지 않은 날: {_days(only_list)}.")
    return notes


def _days(days: Sequence[date]) -> str:
    return ", ".join(short_label(d) for d in days)


async def build_week(
    config: Config,
    day: date,
    *,
    clients: Clients,
    state: State,
    progress: Progress,
    now: datetime | None = None,
) -> WeekDigest:
    """The week that holds ``day``: pick, summarize, count, write its paragraph."""
    monday, friday = week_of(day)
    until = min(friday, max(day, today(config, now)))
    days = listing_days(monday, until)
    numbers = week_numbers(config, days, monday, state)
    trend = numbers.trend
    lists = state.day_candidates(monday, friday)
    merged, seen_on = merge_shortlists(lists)
    shown = state.shown_before([s.candidate.key for s in merged], monday)
    rising = {t.key for t in trend.topics if t.arrow == stats.UP} if trend else set()
    scored = [boosted(s, len(seen_on[s.candidate.key]), rising) for s in merged]
    cfg = Selection(max_items=config.week.max_items, max_per_topic=config.week.max_per_topic)
    picked = pick.select(scored, cfg, exclude=shown)
    progress.log(
        f"week {monday} – {friday}: {len(merged)} candidates over {len(lists)} days, "
        f"{len(shown)} shown before the week, {len(picked)} picked; numbers of {len(numbers.counted)} days"
    )
    entries, usage, session = await summarize_run(
        picked, client=clients.llm, llm=config.llm, state=state, progress=progress, off_reason=clients.llm_off
    )
    if trend is not None:
        context = {
            "from": monday.isoformat(),
            "to": friday.isoformat(),
            "days_counted": len(numbers.counted),
            "days_missing": [d.isoformat() for d in days if d not in numbers.counted],
        }
        flow = await write_flow(
            trend,
            entries,
            session=session,
            llm=config.llm,
            state=state,
            progress=progress,
            prompt=WEEK_PROMPT,
            context=context,
            off_reason=clients.llm_off,
            prepared=clients.flow,
        )
        trend = replace(trend, flow=flow)
    return WeekDigest(
        start=monday,
        end=friday,
        days=tuple(days),
        entries=entries,
        topics=[TopicInfo(k, t.label) for k, t in config.topics.items()],
        trend=trend,
        seen_on={e.candidate.key: seen_on[e.candidate.key] for e in entries},
        candidates=len(merged),
        counted=numbers.counted,
        usage=usage,
        notices=_notices(monday, days, numbers, lists, until),
        # What the week's dailies said of the reader's logged papers (a weekend run's too).
        watch=news_between(state.conn, monday, monday + timedelta(days=6)) if config.reader.watch else (),
    )


@dataclass
class WeekResult:
    week: WeekDigest
    markdown: str
    archive_path: Path
    render: Render


def archive_name(w: WeekDigest, suffix: str) -> str:
    return f"week-{w.week_id}{suffix}"


async def run_week(
    config: Config,
    day: date,
    *,
    clients: Clients,
    progress: Progress,
    now: datetime | None = None,
    state_dir: Path | None = None,
) -> WeekResult:
    """Build the week under the state's run lock, render it and archive every body (before any send)."""
    directory = state_dir or config.state_path
    started = time.monotonic()
    with run_lock(directory), State.open(directory) as state:
        w = await build_week(config, day, clients=clients, state=state, progress=progress, now=now)
        markdown = render_week_markdown(w, config.render)
        # The Markdown with the email's bodies: all of the week's set or none of it.
        archive_week_email(state, w, config.render, markdown=markdown)
        path = state.archive_dir / archive_name(w, ".md")
        archive_post(state.archive_dir, weekly_post(w, config.render))  # the channels' and the feed's
    u = w.usage
    progress.log(
        f"week: {len(w.entries)} items, {w.fallback_count} fallbacks, {u.calls} LLM calls "
        f"({u.prompt_tokens}+{u.completion_tokens} tokens), archived {path}, "
        f"{time.monotonic() - started:.1f}s"
    )
    return WeekResult(w, markdown, path, config.render)
