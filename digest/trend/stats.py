"""The trend stage: per-day statistics, topic momentum, emerging terms and sparklines. Pure functions.

Every number here is over the day's whole **pool** — the arXiv listing's ``new`` and ``cross``
announcements, one per work — not over the ten items the digest shows, so "멀티모달 57편" means 57
of the day's papers. Days are arXiv listing dates (digest/calendar.py).

Momentum compares **shares**, not raw counts: daily volume swings (a Monday listing holds the
weekend's submissions), so a topic's expected count today is its past share of the baseline's
papers applied to today's pool, E = pool × (past count + 1) / (past pool + 1); change = (c − E)/E,
z = (c − E)/√(E + 1). ▲ needs change ≥ +30 % and z ≥ 2, ▼ change ≤ −30 % and z ≤ −2. The baseline
is up to the last 20 counted days (weekends, holidays and missing days are skipped, not zeros)
within the last 40 announcement days; with fewer than 5 such days it is a cold start and no
average, percentage or arrow is claimed.

Emerging terms are phrases (digest/trend/phrases.py) scored against the same baseline with the log-odds
ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words"),
counted in papers: a phrase in y of today's n papers against y' of the baseline's n' papers, the
prior α_i = α0 · (y + y')/(n + n') with α0 = n (worth one day of papers):

    δ = log((y + α_i)/(n + α0 − y − α_i)) − log((y' + α_i)/(n' + α0 − y' − α_i)),
    z = δ / √(1/(y + α_i) + 1/(y' + α_i)).

A phrase never seen before has a tiny α_i, so its variance stays large: 2 papers against 0 is
not a burst, while 3 against 1 in a month can be.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from .. import calendar
from ..config import Topic
from ..models import (
    Candidate,
    DayStats,
    DayStatus,
    EmergingTerm,
    PhraseCounts,
    Scored,
    SourceReport,
    SourceStatus,
    TopicInfo,
    TopicTrend,
)
from .phrases import PHRASE_RULES, boilerplate, contains, count_phrases, reads_as_term

# How papers are counted into topics: part of each topic's fingerprint, so a day counted by other
# rules is never compared with today. Bump it when digest/selection/matching.py changes what a match is.
COUNT_RULES = "count-5"  # bump when the matcher's rules change: older counts are not compared

BASELINE_DAYS = 20  # counted days in the baseline, at most
MIN_BASELINE_DAYS = 5  # fewer is a cold start
BASELINE_WINDOW = 40  # announcement days looked back over: older numbers are not "recent"
SPARK_DAYS = 7  # announcement days a sparkline covers, today included

UP, DOWN, FLAT = "▲", "▼", "→"
ARROW_CHANGE = 0.30
ARROW_Z = 2.0

# Emerging terms.
MIN_PAPERS = 3
MIN_FIRST_AUTHORS = 2
MIN_RATIO = 2.0
MIN_Z = 2.5
FLOOD_SHARE = 0.02  # a phrase in more than 2 % of the baseline's papers is the topic momentum's business
MAX_TERMS = 5
COVERED = 0.8  # a shorter phrase found at most 1/0.8 as often as a longer one containing it is covered

LISTING = "arxiv-listing"
_POOL_TYPES = (None, "new", "cross")

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
NO_DATA = " "


# -- what a day is ----------------------------------------------------------------------------------


def listing_status(reports: Iterable[SourceReport]) -> DayStatus | None:
    """What this run can say about the day's listing; None when it may not say anything.

    A past day's listing is no longer served (the run used the API search, which only returns papers
    that match the topics' keywords), so a past run records nothing: its pool would be a biased sample.
    """
    report = next((r for r in reports if r.name == LISTING), None)
    if report is None or report.status in (SourceStatus.DISABLED, SourceStatus.PAST):
        return None
    if report.status == SourceStatus.NO_ANNOUNCEMENT:
        return DayStatus.NO_ANNOUNCEMENT
    if report.status.is_failure:
        return DayStatus.MISSING
    return DayStatus.PARTIAL if report.error else DayStatus.ANNOUNCED


def pool(candidates: Iterable[Candidate], source: str = LISTING) -> list[Candidate]:
    """The day's pool: the new and cross announcements ``source`` saw (one candidate per work already).

    A digest run counts the listing; a backfill counts the API's answer for the day's submission window.
    """
    return [c for c in candidates if source in c.sources and c.announce_type in _POOL_TYPES]


def topic_fingerprint(topic: Topic) -> str:
    """Identifies how a topic counts: its keywords and exclusions and the matcher's rules."""
    text = "\n".join([COUNT_RULES, *sorted(topic.keywords), "--", *sorted(topic.exclude)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _topic_counts(
    members: Iterable[Candidate], matched: Mapping[str, Scored], keys: Iterable[str]
) -> dict[str, int]:
    counts = dict.fromkeys(keys, 0)
    for c in members:
        s = matched.get(c.key)
        for t in s.topics if s else ():
            if t in counts:
                counts[t] += 1
    return counts


def count_day(
    day: date,
    candidates: Sequence[Candidate],
    scored: Iterable[Scored],
    topics: Mapping[str, Topic],
    *,
    status: DayStatus = DayStatus.ANNOUNCED,
    origin: str = "listing",
    pool_source: str = LISTING,
    with_phrases: bool = True,
) -> DayStats:
    """One day's statistics from its merged candidates and the topic matcher's results over all of them.

    ``status`` other than ANNOUNCED or PARTIAL gives an empty record (a day without numbers).
    """
    if status not in (DayStatus.ANNOUNCED, DayStatus.PARTIAL):
        return DayStats(day=day, status=status, origin=origin)
    matched = {s.candidate.key: s for s in scored}
    members = pool(candidates, pool_source)
    groups: dict[str, list[Candidate]] = {pool_source: members}
    for c in candidates:
        if "huggingface" in c.sources:
            groups.setdefault("huggingface", []).append(c)
        if c.kind == "post":
            groups.setdefault("blog", []).append(c)
    sources = {
        name: {"items": len(group), **_topic_counts(group, matched, topics)} for name, group in groups.items()
    }
    phrases = pool_phrases(members) if with_phrases else None
    return DayStats(
        day=day,
        status=status,
        origin=origin,
        pool=len(members),
        topics=_topic_counts(members, matched, topics),
        topic_rules={k: topic_fingerprint(t) for k, t in topics.items()},
        sources=sources,
        phrase_rules=PHRASE_RULES,
        phrases=phrases,
        phrase_input=phrase_input(members) if with_phrases else "",
    )


def pool_phrases(members: Iterable[Candidate]) -> PhraseCounts:
    """The phrases of a day's pool: of each paper's first author, title and abstract."""
    return count_phrases((c.authors[0] if c.authors else "", c.title, c.summary) for c in members)


def phrase_input(members: Iterable[Candidate]) -> str:
    """Identifies what :func:`pool_phrases` counts (every paper's first author, title and abstract, in
    order) and how (PHRASE_RULES): equal for equal counts, and a few milliseconds for 2,000 papers."""
    h = hashlib.sha256(PHRASE_RULES.encode())
    for c in members:
        h.update(f"{c.authors[0] if c.authors else ''}\x1f{c.title}\x1f{c.summary}\x1e".encode())
    return h.hexdigest()[:24]


# -- the baseline -------------------------------------------------------------------------------


def announcement_days(end: date, n: int) -> list[date]:
    """The last ``n`` announcement days up to and including ``end`` (counted as one whatever the
    calendar says: the holiday table can be wrong), oldest first."""
    days = [end]
    while len(days) < n:
        days.append(calendar.previous_announcement_day(days[-1]))
    return days[::-1]


def window_start(day: date) -> date:
    """The oldest day the baseline may use for ``day``."""
    return announcement_days(calendar.previous_announcement_day(day), BASELINE_WINDOW)[0]


def baseline(history: Iterable[DayStats], day: date) -> list[DayStats]:
    """The counted days before ``day`` within the window, newest first, at most BASELINE_DAYS."""
    start = window_start(day)
    days = sorted(
        (h for h in history if h.counted and start <= h.day < day), key=lambda h: h.day, reverse=True
    )
    return days[:BASELINE_DAYS]


def expected(count_today_pool: int, past_count: int, past_pool: int) -> float:
    """E = today's pool × (past count + 1) / (past pool + 1): the past share applied to today."""
    return count_today_pool * (past_count + 1) / (past_pool + 1)


def momentum(count: int, today_pool: int, past_count: int, past_pool: int) -> tuple[float, float, float, str]:
    """(E, change, z, arrow) for a topic with ``count`` of ``today_pool`` papers against its baseline."""
    e = expected(today_pool, past_count, past_pool)
    change = (count - e) / e if e > 0 else 0.0
    z = (count - e) / math.sqrt(e + 1)
    if change >= ARROW_CHANGE and z >= ARROW_Z:
        arrow = UP
    elif change <= -ARROW_CHANGE and z <= -ARROW_Z:
        arrow = DOWN
    else:
        arrow = FLAT
    return e, change, z, arrow


def sparkline(values: Sequence[float | None]) -> str:
    """One block per value, scaled from 0 to the largest (so small wiggles stay small); None is a blank."""
    present = [v for v in values if v is not None]
    top = max(present, default=0.0)
    out = []
    for v in values:
        if v is None:
            out.append(NO_DATA)
        elif top <= 0:
            out.append(SPARK_BLOCKS[0])
        else:
            out.append(SPARK_BLOCKS[min(len(SPARK_BLOCKS) - 1, round(v / top * (len(SPARK_BLOCKS) - 1)))])
    return "".join(out)


def topic_trends(
    today: DayStats, history: Iterable[DayStats], topics: Sequence[TopicInfo], spark_days: Sequence[date]
) -> tuple[tuple[TopicTrend, ...], int]:
    """Each topic's line for ``today`` (a counted day), and how many days the baseline has."""
    assert today.pool is not None
    days = baseline(history, today.day)
    by_day = {h.day: h for h in history if h.counted}
    by_day[today.day] = today
    lines: list[TopicTrend] = []
    for t in topics:
        rules = today.topic_rules.get(t.key)
        comparable = [h for h in days if h.topic_rules.get(t.key) == rules and t.key in h.topics]
        count = today.topics.get(t.key, 0)
        share = count / today.pool if today.pool else 0.0
        spark = sparkline(
            [
                (h.topics[t.key] / h.pool if h.pool else 0.0)
                if (h := by_day.get(d)) is not None
                and h.topic_rules.get(t.key) == rules
                and t.key in h.topics
                else None
                for d in spark_days
            ]
        )
        line = TopicTrend(t.key, t.label, count, share, spark, baseline_days=len(comparable))
        if len(comparable) >= MIN_BASELINE_DAYS:
            past_count = sum(h.topics[t.key] for h in comparable)
            past_pool = sum(h.pool or 0 for h in comparable)
            e, change, z, arrow = momentum(count, today.pool, past_count, past_pool)
            line = TopicTrend(
                t.key,
                t.label,
                count,
                share,
                spark,
                baseline_days=len(comparable),
                baseline_share=past_count / past_pool if past_pool else 0.0,
                expected=e,
                change=change,
                z=z,
                arrow=arrow,
            )
        lines.append(line)
    return tuple(lines), len(days)


# -- emerging terms -----------------------------------------------------------------------------


def term_candidates(today: PhraseCounts) -> list[str]:
    """Phrases in enough of today's papers, by enough different first authors, neither boilerplate nor a
    fragment of a term, to be considered at all."""
    frequent = [p for p, n in today.docs.items() if n >= MIN_PAPERS]
    authors = today.first_authors
    return sorted(p for p in frequent if authors.get(p, 0) >= MIN_FIRST_AUTHORS and _term(p))


def _term(phrase: str) -> bool:
    return not boilerplate(phrase) and reads_as_term(phrase)


def could_emerge(candidates: Sequence[str], today: PhraseCounts, past_papers: int) -> list[str]:
    """Those of ``candidates`` that some count in the baseline would let through the gates of
    :func:`emerging_terms` (flood share, ratio, z): the others need not be looked up in the history.

    Whether a count can pass depends only on today's count y, so it is decided once per y, by trying every
    baseline count from 0 up while the flood share and the ratio (both monotone in it) still allow one:
    the same expressions as emerging_terms, so nothing it would show is left out.
    """
    if not today.papers or not past_papers:
        return []
    n, alpha0 = today.papers, float(today.papers)
    possible: dict[int, bool] = {}

    def passes(y: int) -> bool:
        y_past = 0
        while y_past / past_papers <= FLOOD_SHARE:
            ratio = (y / n) / (y_past / past_papers) if y_past else math.inf
            if ratio < MIN_RATIO:
                return False
            if log_odds_z(y, n, y_past, past_papers, alpha0) >= MIN_Z:
                return True
            y_past += 1
        return False

    out = []
    for phrase in candidates:
        y = today.docs.get(phrase, 0)
        if y not in possible:
            possible[y] = passes(y)
        if possible[y]:
            out.append(phrase)
    return out


def log_odds_z(y: int, n: int, y_past: int, n_past: int, alpha0: float) -> float:
    """The z-score of the log-odds ratio with an informative Dirichlet prior (see the module docstring)."""
    pooled = (y + y_past) / (n + n_past) if n + n_past else 0.0
    a = alpha0 * pooled
    if a <= 0:
        return 0.0
    delta = math.log((y + a) / (n + alpha0 - y - a)) - math.log((y_past + a) / (n_past + alpha0 - y_past - a))
    return delta / math.sqrt(1 / (y + a) + 1 / (y_past + a))


def emerging_terms(
    today: PhraseCounts, past: Mapping[str, int], past_papers: int, past_days: int
) -> list[EmergingTerm]:
    """Today's emerging terms, best first, at most MAX_TERMS; ``past`` maps the candidates
    (:func:`term_candidates`) to their papers in the baseline.

    ``new`` is left False: whether a term was ever seen is a question for the whole stored history.
    """
    if not today.papers or not past_papers or not past_days:
        return []
    n, alpha0 = today.papers, float(today.papers)
    passing: list[EmergingTerm] = []
    for phrase, y_past in past.items():
        y = today.docs.get(phrase, 0)
        if y < MIN_PAPERS or today.first_authors.get(phrase, 0) < MIN_FIRST_AUTHORS or not _term(phrase):
            continue
        if y_past / past_papers > FLOOD_SHARE:
            continue
        ratio = (y / n) / (y_past / past_papers) if y_past else math.inf
        z = log_odds_z(y, n, y_past, past_papers, alpha0)
        if ratio >= MIN_RATIO and z >= MIN_Z:
            passing.append(
                EmergingTerm(phrase, y, today.first_authors.get(phrase, 0), y_past / past_days, ratio, z)
            )
    passing.sort(key=lambda t: (-t.z, -t.count, t.phrase))
    return _uncovered(passing)[:MAX_TERMS]


def _uncovered(terms: list[EmergingTerm]) -> list[EmergingTerm]:
    """One phrase of each nested family: the longer one when it covers the shorter (found nearly as
    often), else the shorter one, of which the longer is then just a special case."""
    dropped: set[str] = set()
    for a in terms:
        for b in terms:
            if a.phrase in dropped or b.phrase in dropped or not contains(b.phrase, a.phrase):
                continue
            # a is inside b
            dropped.add(a.phrase if b.count >= COVERED * a.count else b.phrase)
    return [t for t in terms if t.phrase not in dropped]


# -- the numbers as the block states them (and the 흐름 paragraph may quote) ------------------------


def share_text(share: float) -> str:
    """A share as a whole percentage; "<1%" for a share that would round to 0 but is not 0."""
    if 0 < share < 0.005:
        return "<1%"
    return f"{round(share * 100)}%"


def change_text(change: float) -> str:
    """A change as a signed whole percentage: "+38%", "-12%", "+0%"."""
    n = round(change * 100)
    return f"{'+' if n >= 0 else '-'}{abs(n)}%"


def usual_text(per_day: float) -> str:
    """Papers per baseline day: "1편 미만" below one, else the nearest whole number."""
    if per_day <= 0:
        return "0편"
    if per_day < 1:
        return "1편 미만"
    return f"{round(per_day)}편"


def shows_change(t: TopicTrend) -> bool:
    """Whether a topic's change is worth a percentage: an arrow, or enough papers expected that the
    percentage is not noise (10 expected: one paper more or less is 10 %)."""
    return t.change is not None and (t.arrow in (UP, DOWN) or (t.expected or 0) >= SHOWN_CHANGE_MIN_EXPECTED)


SHOWN_CHANGE_MIN_EXPECTED = 10
