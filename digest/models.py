"""Plain values passed between the stages: sources → selection → summarizing → rendering → delivery."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from ._compat import StrEnum

Kind = Literal["paper", "post"]


@dataclass(frozen=True)
class Item:
    """One work as one source saw it."""

    key: str  # "arxiv:2602.04288" (no version) or "url:<canonical url>"
    source: str  # "arxiv-listing", "arxiv-search", "huggingface", "blog:<feed name>"
    kind: Kind
    title: str
    url: str
    summary: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # arXiv categories, primary first
    published: datetime | None = None
    arxiv_id: str | None = None  # without version
    version: int | None = None
    announce_type: str | None = None  # new | cross | replace | replace-cross (arXiv listing only)
    upvotes: int | None = None  # Hugging Face daily papers
    feed_name: str | None = None  # blog feed's configured name
    comment: str = ""  # the arXiv comment ("Code: https://github.com/..."; arXiv API only)
    repository: str = ""  # the code repository a source names (Hugging Face's githubRepo)


@dataclass(frozen=True)
class Candidate:
    """One work after merging what every source said about it."""

    key: str
    kind: Kind
    title: str
    url: str
    summary: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    sources: tuple[str, ...]  # every source that saw it, in a stable order
    version: int | None = None
    arxiv_id: str | None = None
    announce_type: str | None = None
    upvotes: int | None = None
    published: datetime | None = None
    feed_name: str | None = None
    comment: str = ""
    repository: str = ""

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None


@dataclass(frozen=True)
class TopicMatch:
    """Why a candidate belongs to one topic."""

    topic: str  # config key, e.g. "dpo"
    label: str  # display label, e.g. "DPO·정렬"
    score: float
    terms: tuple[str, ...]  # matched keywords, as configured
    where: tuple[str, ...]  # "title", "abstract"


@dataclass(frozen=True)
class NoteRef:
    """One of the reader's own notes, as a reason names it."""

    day: date
    title: str
    path: str


@dataclass(frozen=True)
class PaperNews:
    """News on a paper the reader logged (digest/reader/watch.py): 지난 일지 논문 소식."""

    arxiv_id: str
    title: str
    news: tuple[str, ...]  # "v3 공개", "코드 공개(github.com/a/b)", "ICLR 2026 채택", in that order
    code_url: str = ""  # the repository the code news names
    note_day: date | None = None  # the reader's note that logged it; None when added with `digest watch`
    note_title: str = ""

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"


@dataclass(frozen=True)
class Scored:
    """A candidate with its topic matches and ranking signals."""

    candidate: Candidate
    matches: tuple[TopicMatch, ...]
    relevance: float
    popularity: float = 0.0  # the ranking bonus from Hugging Face upvotes (selection.popularity)
    personal: float = 0.0  # the bounded boost from the reader's own notes (digest/reader/ranking.py)
    note: NoteRef | None = None  # the reader's note it is closest to, when the boost is worth saying
    feedback: str = ""  # what the reader's edits say of items like it ("이 키워드(DPO)의 항목을 최근 …")

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(m.topic for m in self.matches)

    @property
    def reason(self) -> str:
        parts = [f"{m.label}: {', '.join(m.terms)} ({'/'.join(m.where)})" for m in self.matches]
        if self.popularity:
            parts.append(f"Hugging Face ▲{self.candidate.upvotes} (+{self.popularity:g})")
        if self.personal:
            near = f" near {self.note.day} {self.note.title!r}" if self.note else ""
            parts.append(f"reader's notes (+{self.personal:g}){near}")
        if self.feedback:
            parts.append(f"edits: {self.feedback}")
        return "; ".join(parts)


class TakeawayStatus(StrEnum):
    LLM = "llm"  # written by the LLM in this run
    CACHED = "cached"  # written by the LLM in an earlier run (or shipped with the sample)
    FALLBACK = "fallback"  # built without the LLM; marked as such for the reader
    ERROR = "error"  # nothing usable; the item is listed without a line


@dataclass(frozen=True)
class Takeaway:
    """The Korean line for one item, and where it came from."""

    text: str
    status: TakeawayStatus
    note: str = ""  # why it is a fallback or error, for stderr and the footer

    @property
    def is_fallback(self) -> bool:
        return self.status in (TakeawayStatus.FALLBACK, TakeawayStatus.ERROR)


@dataclass(frozen=True)
class Entry:
    """One line of the digest."""

    scored: Scored
    takeaway: Takeaway

    @property
    def candidate(self) -> Candidate:
        return self.scored.candidate


class SourceStatus(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"  # 304: items came from the stored copy
    NO_ANNOUNCEMENT = "no_announcement"  # arXiv did not announce on this day (weekend, holiday)
    PAST = "past"  # a past day's listing is no longer served: not an error, the API search covers it
    STALE = "stale"  # the listing is not today's: reported as an error
    FAILED = "failed"
    DISABLED = "disabled"

    @property
    def is_failure(self) -> bool:
        return self in (SourceStatus.FAILED, SourceStatus.STALE)

    @property
    def delivers(self) -> bool:
        return self in (SourceStatus.OK, SourceStatus.NOT_MODIFIED)


@dataclass(frozen=True)
class SourceReport:
    """What one source did in this run."""

    name: str  # "arxiv-listing", "arxiv-search", "huggingface", "blog:<name>"
    status: SourceStatus
    items: int = 0
    seconds: float = 0.0
    error: str = ""  # one line, for stderr and the footer
    requests: int = 0


@dataclass
class LLMUsage:
    """LLM requests and tokens of one run.

    ``calls`` counts every request sent, answered or not (a retry and a format the server refused are
    requests too); ``failed_calls`` those that got no answer; the tokens come from each answer's usage.
    """

    model: str = ""
    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: int = 0  # items the LLM was asked for (or could not be asked for) that got no line from it
    response_format: str = ""  # what the endpoint answered with: json_schema | json_object | text
    # Set when the endpoint could not be reached at all (connection refused, model not found, timeouts)
    # and no request of the run got an answer: waiting may fix it, so a scheduled run keeps the digest
    # pending instead of sending fallbacks. Cleared by the first answered request.
    unreachable: str = ""

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        """One answered request."""
        self.calls += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens

    def add_failed(self) -> None:
        """One request that got no answer (an HTTP error, a timeout, no connection)."""
        self.calls += 1
        self.failed_calls += 1

    def summary(self) -> str:
        """``8 requests (2 failed), 5123 prompt + 900 completion tokens``: for stderr."""
        failed = f" ({self.failed_calls} failed)" if self.failed_calls else ""
        return (
            f"{self.calls} request{'s' if self.calls != 1 else ''}{failed}, "
            f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens"
        )


@dataclass(frozen=True)
class TopicInfo:
    key: str
    label: str


# -- the trend: per-day statistics and what the block shows -----------------------------------------


class DayStatus(StrEnum):
    """What is known about one arXiv announcement day. Missing data is never a zero."""

    ANNOUNCED = "announced"  # the whole day's pool was counted
    NO_ANNOUNCEMENT = "no_announcement"  # arXiv announced nothing (weekend, holiday)
    MISSING = "missing"  # the listing could not be fetched, or was not the day's
    PARTIAL = "partial"  # only part of the listing could be read: counted, but never compared


@dataclass
class PhraseCounts:
    """Phrases of one pool of papers: in how many papers each occurs, and by how many first authors.

    Counted (trend/phrases.py) or loaded from the state alike, ``docs`` holds the phrases found in two or
    more papers, and ``single`` the sorted CRC-32 hashes of those found in one (phrases.phrase_hash):
    most of a day's phrases are in a single paper, and their text is not needed to count them in a
    baseline. ``first_authors`` is given for the phrases in two or more papers (in one paper it is 1).
    A hand-built ``docs`` may hold single-paper phrases too: the state stores them as hashes.
    """

    papers: int = 0
    docs: dict[str, int] = field(default_factory=dict)
    first_authors: dict[str, int] = field(default_factory=dict)
    single: Sequence[int] = ()  # sorted CRC-32 of the phrases with docs == 1 (an array("I") when counted)


@dataclass(frozen=True)
class DayStats:
    """One announcement day's numbers over the whole pool (new + cross, one per work), as stored."""

    day: date  # the arXiv listing date
    status: DayStatus
    origin: str = ""  # "listing" (a digest run) or "api" (filled from the arXiv API)
    pool: int | None = None  # papers in the pool; None unless counted
    topics: dict[str, int] = field(default_factory=dict)  # topic key -> papers
    topic_rules: dict[str, str] = field(default_factory=dict)  # topic key -> fingerprint of how it counted
    sources: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> {"items": n, topic: n}
    phrase_rules: str = ""
    phrases: PhraseCounts | None = None
    note: str = ""
    # What the phrases were counted from (trends.phrase_input): the same input counts the same, so a
    # same-day re-run reuses the stored phrases instead of counting and writing them again.
    phrase_input: str = ""

    @property
    def counted(self) -> bool:
        return self.status == DayStatus.ANNOUNCED and self.pool is not None


@dataclass(frozen=True)
class TopicTrend:
    """One topic's line: today's count, and (past the cold start) how it compares with the baseline."""

    key: str
    label: str
    count: int
    share: float  # count / today's pool
    spark: str  # one block character per recent announcement day, oldest first; " " = no data
    baseline_days: int = 0  # comparable days in this topic's baseline
    baseline_share: float | None = None  # past count / past pool; None in the cold start
    expected: float | None = None  # E = pool × (past count + 1) / (past pool + 1)
    change: float | None = None  # (count − E) / E
    z: float | None = None  # (count − E) / √(E + 1)
    arrow: str = ""  # ▲ ▼ → ; "" in the cold start


@dataclass(frozen=True)
class EmergingTerm:
    phrase: str
    count: int  # today's papers with it
    first_authors: int
    usual: float  # papers per baseline day
    ratio: float  # today's share / the baseline's share (inf when the baseline has none)
    z: float  # the log-odds z-score (Monroe et al. 2008)
    new: bool = False  # never seen in the stored history


@dataclass(frozen=True)
class Trend:
    """The trend block of one digest: a plain value the renderers read."""

    day: date
    pool: int | None  # today's papers; None when today has no counted pool (see ``note``)
    topics: tuple[TopicTrend, ...] = ()
    emerging: tuple[EmergingTerm, ...] = ()
    baseline_days: int = 0  # announced days in the baseline (up to BASELINE_DAYS)
    needed_days: int = 5
    spark_days: tuple[date, ...] = ()  # the days the sparklines cover, oldest first
    flow: Takeaway | None = None  # 오늘의 흐름: LLM or CACHED; FALLBACK is the numbers' sentence alone
    note: str = ""  # Korean, for the reader: why there are no numbers today
    history_note: str = ""  # Korean: where the history came from, when not from this state's runs

    @property
    def cold_start(self) -> bool:
        return self.baseline_days < self.needed_days

    @property
    def collected_days(self) -> int:
        """The earlier days a topic can be compared with: the most any topic has. Fewer than
        ``baseline_days`` when days were counted by other rules (an upgrade, edited keywords)."""
        return max((t.baseline_days for t in self.topics), default=self.baseline_days)

    @property
    def moved(self) -> bool:
        return any(t.arrow in ("▲", "▼") for t in self.topics) or bool(self.emerging)


@dataclass
class Digest:
    """Everything rendering needs: a pure value."""

    day: date
    entries: list[Entry]
    sources: list[SourceReport]
    topics: list[TopicInfo]
    usage: LLMUsage = field(default_factory=LLMUsage)
    reviewed: dict[str, int] = field(default_factory=dict)  # "arxiv", "huggingface", "blog" -> count
    notices: list[str] = field(default_factory=list)  # Korean lines for the reader (no announcement, ...)
    sample: bool = False  # built from the bundled sample day
    arxiv_announced: bool = True
    trend: Trend | None = None  # the trend block; None renders none
    watch: tuple[PaperNews, ...] = ()  # 지난 일지 논문 소식: news on papers the reader logged

    @property
    def failed_sources(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status.is_failure]

    @property
    def problem_sources(self) -> list[SourceReport]:
        """Failed sources, and those that delivered only part of their data (a cut-off feed, say)."""
        return [s for s in self.sources if s.status.is_failure or (s.error and s.status.delivers)]

    @property
    def fallback_count(self) -> int:
        return sum(1 for e in self.entries if e.takeaway.is_fallback)

    def count_by_topic(self) -> dict[str, int]:
        """Items per primary topic (the one that picked each): at most max_per_topic, summing to the items."""
        counts = {t.key: 0 for t in self.topics}
        for e in self.entries:
            if e.scored.topics:
                counts[e.scored.topics[0]] = counts.get(e.scored.topics[0], 0) + 1
        return counts


@dataclass
class WeekDigest:
    """The weekly roundup (주간 정리) of one announcement week, Monday to Friday: a pure value."""

    start: date  # the Monday
    end: date  # the Friday
    days: tuple[date, ...]  # the week's announcement days (a holiday is not one), up to today
    entries: list[Entry]
    topics: list[TopicInfo]
    trend: Trend | None  # the week's numbers: day=start, pool over its counted days, one spark block a day
    seen_on: dict[str, tuple[date, ...]] = field(default_factory=dict)  # work key → days it was shortlisted
    candidates: int = 0  # distinct works on the week's shortlists
    counted: tuple[date, ...] = ()  # the days whose numbers the trend adds up
    usage: LLMUsage = field(default_factory=LLMUsage)
    notices: list[str] = field(default_factory=list)  # Korean lines for the reader (missing days, ...)
    watch: tuple[PaperNews, ...] = ()  # the week's news on papers the reader logged

    @property
    def week_id(self) -> str:
        return iso_week(self.start)

    @property
    def fallback_count(self) -> int:
        return sum(1 for e in self.entries if e.takeaway.is_fallback)


def iso_week(day: date) -> str:
    """``2026-W06``: the ISO week of ``day``, as the weekly archive's file names say it."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
