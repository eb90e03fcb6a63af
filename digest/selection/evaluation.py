"""Offline evaluation of matching and selection against hand-labelled papers.

Two questions, answered separately because they fail differently:

* the matcher: per topic, over every labelled paper, precision and recall of "matches topic T";
* the digest: per announcement day, ``select`` runs over that day's labelled papers with the
  configured limits, and every (paper, shown topic) pair that would reach the reader is checked
  against the labels. This is the precision that matters: a wrong label in the digest is seen, a
  missed paper mostly is not;
* the counts: for each day whose papers are all labelled (every paper of that day in the papers
  files has a label), the number of papers the matcher puts in each topic -- the "멀티모달 57편" the
  trend block states -- against the hand count. Here a missed paper is an error as much as a wrong one.

Input formats are the repository corpus's (benchmarks/data, tests/fixtures/corpus): labels are JSON
lines ``{"id", "topics", ...}``; papers are JSON lines ``{"id", "title", "summary", "authors",
"categories", "announce_day", ...}``, plain or gzipped.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ARXIV_CATEGORY, Config
from ..errors import InputError
from ..models import Candidate, Scored
from .matching import TopicMatcher
from .pick import score, select


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Paper:
    candidate: Candidate
    day: str  # announce_day


@dataclass(frozen=True)
class TopicStats:
    topic: str
    label: str
    support: int  # labelled papers with this topic
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.support)


@dataclass(frozen=True)
class ShownPair:
    day: str
    paper_id: str
    title: str
    topic: str
    correct: bool


@dataclass(frozen=True)
class DayStats:
    day: str
    labelled: int  # labelled papers announced that day
    shown: int  # papers that reach the digest
    pairs: int
    correct_pairs: int
    correct_papers: int


# How far a stated count may be from the hand count: a quarter of it, but never less than a few papers
# (a topic with 8 papers a day cannot be held to +-2).
COUNT_TOLERANCE = 0.25
COUNT_TOLERANCE_MIN = 4


@dataclass(frozen=True)
class TopicCount:
    """One topic on one fully labelled day: the stated count against the hand count."""

    topic: str
    label: str
    hand: int  # papers labelled with the topic
    counted: int  # papers the matcher puts in the topic
    tp: int

    @property
    def error(self) -> int:
        return self.counted - self.hand

    @property
    def error_pct(self) -> float | None:
        return _ratio(self.error, self.hand)

    @property
    def tolerance(self) -> float:
        return max(COUNT_TOLERANCE * self.hand, COUNT_TOLERANCE_MIN)

    @property
    def within(self) -> bool:
        return abs(self.error) <= self.tolerance

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.counted)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.hand)


@dataclass(frozen=True)
class DayCounts:
    day: str
    papers: int  # every paper of the day, all labelled
    topics: tuple[TopicCount, ...]


@dataclass(frozen=True)
class EvalReport:
    labels_path: str
    labelled: int
    missing: tuple[str, ...]  # labelled ids not found in the papers files
    topics: tuple[TopicStats, ...]
    days: tuple[DayStats, ...]
    shown: tuple[ShownPair, ...] = field(default=())
    max_items: int = 0
    max_per_topic: int = 0
    full_days: tuple[DayCounts, ...] = field(default=())
    unknown_topics: tuple[str, ...] = ()  # topic keys in the labels that the config does not have

    @property
    def pairs(self) -> int:
        return sum(d.pairs for d in self.days)

    @property
    def correct_pairs(self) -> int:
        return sum(d.correct_pairs for d in self.days)

    @property
    def shown_papers(self) -> int:
        return sum(d.shown for d in self.days)

    @property
    def correct_papers(self) -> int:
        return sum(d.correct_papers for d in self.days)

    @property
    def pair_precision(self) -> float | None:
        return self.correct_pairs / self.pairs if self.pairs else None

    @property
    def paper_precision(self) -> float | None:
        return self.correct_papers / self.shown_papers if self.shown_papers else None

    @property
    def micro(self) -> TopicStats:
        return TopicStats(
            topic="all",
            label="(micro)",
            support=sum(t.support for t in self.topics),
            tp=sum(t.tp for t in self.topics),
            fp=sum(t.fp for t in self.topics),
            fn=sum(t.fn for t in self.topics),
        )


def load_labels(path: Path) -> dict[str, frozenset[str]]:
    labels: dict[str, frozenset[str]] = {}
    for n, line in _lines(path):
        rec = _record(path, n, line, "label")
        topics = rec.get("topics") or []
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise InputError(f"{path}:{n}: not a label record (topics must be a list of topic keys)")
        labels[str(rec["id"])] = frozenset(topics)
    return labels


def _record(path: Path, n: int, line: str, kind: str) -> dict[str, Any]:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{n}: not a {kind} record ({e})") from None
    if not isinstance(rec, dict) or "id" not in rec:
        raise InputError(f'{path}:{n}: not a {kind} record (a JSON object with an "id")')
    return rec


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """The numbered non-blank lines of a JSONL file, plain or gzipped (``.gz``, as corpus days are kept);
    one that cannot be read is the user's to fix."""
    try:
        data = path.read_bytes()
        text = (gzip.decompress(data) if path.name.endswith(".gz") else data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as e:
        raise InputError(f"{path}: cannot be read as UTF-8 text ({e})") from None
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield n, line


def paper_candidate(rec: dict[str, Any]) -> Candidate:
    """A corpus record as the arXiv listing source would have produced it."""
    pid = str(rec["id"])
    # arXiv category ids only: the API also returns ACM/MSC class strings ("H.3.3; I.2.8") in the same list.
    cleaned = (str(x).strip() for x in rec.get("categories") or ())
    categories = tuple(c for c in cleaned if ARXIV_CATEGORY.fullmatch(c))
    authors = tuple(str(a) for a in rec.get("authors") or ())
    return Candidate(
        key=f"arxiv:{pid}",
        kind="paper",
        title=str(rec.get("title") or ""),
        url=f"https://arxiv.org/abs/{pid}",
        summary=str(rec.get("summary") or ""),
        authors=authors,
        categories=categories,
        sources=("arxiv-listing",),
        arxiv_id=pid,
        announce_type="new",
    )


def load_papers(
    paths: Iterable[Path], wanted: set[str] | None = None, day_ids: dict[str, set[str]] | None = None
) -> dict[str, Paper]:
    """The papers (only the ``wanted`` ids, if given); ``day_ids`` is filled with every id of each day."""
    papers: dict[str, Paper] = {}
    for path in paths:
        for n, line in _lines(path):
            rec = _record(path, n, line, "paper")
            pid = str(rec["id"])
            day = str(rec.get("announce_day") or path.stem)
            if day_ids is not None and pid not in papers:
                day_ids.setdefault(day, set()).add(pid)
            if wanted is not None and pid not in wanted:
                continue
            papers.setdefault(pid, Paper(paper_candidate(rec), day))
    return papers


def evaluate(labels_path: Path, papers_paths: Sequence[Path], config: Config) -> EvalReport:
    labels_path = Path(labels_path)
    labels = load_labels(labels_path)
    day_ids: dict[str, set[str]] = {}
    papers = load_papers((Path(p) for p in papers_paths), set(labels), day_ids)
    missing = tuple(sorted(set(labels) - set(papers)))
    matcher = TopicMatcher(config.topics)

    scored: dict[str, Scored] = {
        s.candidate.arxiv_id or "": s for s in score((p.candidate for p in papers.values()), matcher)
    }
    topic_stats = []
    for key, topic in config.topics.items():
        tp = fp = fn = support = 0
        for pid in papers:
            gold = key in labels[pid]
            pred = pid in scored and key in scored[pid].topics
            support += gold
            tp += gold and pred
            fp += pred and not gold
            fn += gold and not pred
        topic_stats.append(TopicStats(key, topic.label, support, tp, fp, fn))

    by_day: dict[str, list[Scored]] = defaultdict(list)
    labelled_by_day: dict[str, int] = defaultdict(int)
    for pid, paper in papers.items():
        labelled_by_day[paper.day] += 1
        if pid in scored:
            by_day[paper.day].append(scored[pid])
    days: list[DayStats] = []
    shown: list[ShownPair] = []
    for day in sorted(labelled_by_day):
        picked = select(by_day[day], config.selection)
        pairs = correct_pairs = correct_papers = 0
        for s in picked:
            pid = s.candidate.arxiv_id or ""
            truth = labels[pid]
            hits = [t for t in s.topics if t in truth]
            pairs += len(s.topics)
            correct_pairs += len(hits)
            correct_papers += bool(hits)
            shown.extend(ShownPair(day, pid, s.candidate.title, t, t in truth) for t in s.topics)
        days.append(DayStats(day, labelled_by_day[day], len(picked), pairs, correct_pairs, correct_papers))
    full_days = tuple(
        _day_counts(day, sorted(ids), labels, scored, config)
        for day, ids in sorted(day_ids.items())
        if ids <= labels.keys()
    )
    return EvalReport(
        labels_path=str(labels_path),
        labelled=len(labels),
        missing=missing,
        topics=tuple(topic_stats),
        days=tuple(days),
        shown=tuple(shown),
        max_items=config.selection.max_items,
        max_per_topic=config.selection.max_per_topic,
        full_days=full_days,
        unknown_topics=tuple(sorted(set().union(*labels.values()) - config.topics.keys())),
    )


def _day_counts(
    day: str, ids: Sequence[str], labels: dict[str, frozenset[str]], scored: dict[str, Scored], config: Config
) -> DayCounts:
    """Per topic, the day's count as the digest states it (papers whose matches include the topic)."""
    counts = []
    for key, topic in config.topics.items():
        hand = sum(key in labels[pid] for pid in ids)
        predicted = [pid for pid in ids if pid in scored and key in scored[pid].topics]
        tp = sum(key in labels[pid] for pid in predicted)
        counts.append(TopicCount(key, topic.label, hand, len(predicted), tp))
    return DayCounts(day, len(ids), tuple(counts))


def _pct(x: float | None) -> str:
    return "   -" if x is None else f"{x:4.2f}"


def _width(text: str) -> int:
    """Columns on a terminal: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(
            _pad(c, w, i in right) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def format_report(report: EvalReport) -> str:
    """A plain-text report: the matcher per topic, the digest per day, and the wrong shown labels."""
    out = [
        f"Labels: {report.labels_path} ({report.labelled} papers"
        + (f", {len(report.missing)} not found in the papers files" if report.missing else "")
        + ")",
    ]
    if report.unknown_topics:  # a label file for other topics (or a typo in a key) is not measured silently
        unknown = ", ".join(report.unknown_topics)
        out.append(f"Labels name topics the config does not have, left out: {unknown}")
    out += ["", "Matcher, all labelled papers"]
    rows = [
        [t.topic, t.label, str(t.support), str(t.tp), str(t.fp), str(t.fn), _pct(t.precision), _pct(t.recall)]
        for t in (*report.topics, report.micro)
    ]
    out += _table(
        ["topic", "label", "support", "TP", "FP", "FN", "precision", "recall"], rows, {2, 3, 4, 5, 6, 7}
    )
    for d in report.full_days:
        out += ["", f"Counts, {d.day} (all {d.papers} papers labelled)"]
        rows = [
            [
                t.topic,
                t.label,
                str(t.hand),
                str(t.counted),
                f"{t.error:+d}",
                "-" if t.error_pct is None else f"{t.error_pct:+.0%}",
                f"±{t.tolerance:.0f}",
                "yes" if t.within else "NO",
                _pct(t.precision),
                _pct(t.recall),
            ]
            for t in d.topics
        ]
        out += _table(
            ["topic", "label", "hand", "counted", "error", "error %", "tolerance", "within", "precision",
             "recall"],
            rows,
            {2, 3, 4, 5, 6, 8, 9},
        )  # fmt: skip
    out += [
        "",
        f"Digest (max_items {report.max_items}, max_per_topic {report.max_per_topic}), per announce_day",
    ]
    rows = [
        [
            d.day,
            str(d.labelled),
            str(d.shown),
            str(d.pairs),
            str(d.correct_pairs),
            _pct(d.correct_pairs / d.pairs if d.pairs else None),
            _pct(d.correct_papers / d.shown if d.shown else None),
        ]
        for d in report.days
    ]
    rows.append(
        [
            "all",
            str(sum(d.labelled for d in report.days)),
            str(report.shown_papers),
            str(report.pairs),
            str(report.correct_pairs),
            _pct(report.pair_precision),
            _pct(report.paper_precision),
        ]
    )
    out += _table(
        ["day", "labelled", "shown", "pairs", "correct", "pair P", "paper P"], rows, {1, 2, 3, 4, 5, 6}
    )
    wrong = [p for p in report.shown if not p.correct]
    if wrong:
        out += ["", "Shown with a topic the labels do not give"]
        out += [f"  {p.day}  {p.paper_id}  {p.topic:<10}  {p.title[:70]}" for p in wrong]
    return "\n".join(out)
