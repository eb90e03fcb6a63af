"""Offline evaluation of the personal ranking: what is shown with and without the reader's notes.

Reader labels are JSON lines ``{"id": "2602.05435", "relevant": true}``: whether this reader wants the
paper, for the on-topic papers of a day. For each day with labels, ``select`` runs over the day's
on-topic candidates twice, without and with the profile built from the notes as of that day, and
precision@k (k = ``max_items``) is the share of the shown papers labelled relevant. The day's topic
counts (papers per topic over the whole day, the trend block's numbers) are compared too: the profile
must leave them exactly as they are.

Feedback is measured the same way, by simulation: on each labelled day the reader's edits are simulated
on the *other* labelled days -- of the papers shown there (with the profile), every one labelled unwanted
is deleted and every one labelled wanted gets a line of the reader's own under it -- and what
:mod:`feedback` learns from those judgments is added to the profile's ranking of the day. No day's own
labels reach its own ranking.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from ..config import Config
from ..errors import InputError
from ..migrations import MIGRATIONS
from ..models import Scored
from ..selection.evaluation import _lines, _record, _table, load_papers
from ..selection.matching import TopicMatcher
from ..selection.pick import rank_key, score, select
from . import feedback
from .notes import load_notes
from .ranking import build_profile, personalize


@dataclass(frozen=True)
class PersonalDay:
    day: str
    on_topic: int  # the day's on-topic papers
    relevant: int  # of those, labelled relevant for the reader
    shown: int
    hits_without: int  # relevant papers shown without the profile
    hits_with: int
    counts_identical: bool  # per-topic counts of the day with the profile == without
    ap_without: float | None = None  # average precision of the whole on-topic order (selection.rank_key)
    ap_with: float | None = None
    hits_ceiling: int = 0  # relevant papers shown with a perfect boost of the same size (wanted +weight)
    auc: float | None = None  # how often the profile's boost puts a wanted paper above an unwanted one

    def precision(self, hits: int) -> float | None:
        return hits / self.shown if self.shown else None


@dataclass(frozen=True)
class FeedbackDay:
    """A day ranked with the profile, and with the profile plus what edits on the other days taught."""

    day: str
    shown: int
    annotated: int  # simulated judgments on the other days: wanted papers written under
    deleted: int  # unwanted papers deleted
    hits_profile: int
    hits_feedback: int
    counts_identical: bool
    ap_profile: float | None = None
    ap_feedback: float | None = None

    def precision(self, hits: int) -> float | None:
        return hits / self.shown if self.shown else None


@dataclass(frozen=True)
class PersonalReport:
    labels_path: str
    notes: int
    k: int
    weight: float
    days: tuple[PersonalDay, ...]
    feedback_weight: float = 0.0
    feedback: tuple[FeedbackDay, ...] = ()

    @property
    def hits_without(self) -> int:
        return sum(d.hits_without for d in self.days)

    @property
    def hits_with(self) -> int:
        return sum(d.hits_with for d in self.days)

    @property
    def shown(self) -> int:
        return sum(d.shown for d in self.days)


def average_precision(order: Sequence[Scored], labels: dict[str, bool]) -> float | None:
    """How high the relevant papers stand in ``order``: the mean of precision at each relevant one."""
    hits, total = 0, 0.0
    for i, s in enumerate(order, 1):
        if labels.get(s.candidate.arxiv_id or "", False):
            hits += 1
            total += hits / i
    return total / hits if hits else None


def boost_auc(pool: Sequence[Scored], labels: dict[str, bool]) -> float | None:
    """The share of (wanted, unwanted) pairs whose boosts are in the right order (ties count half)."""
    wanted = [s.personal for s in pool if labels.get(s.candidate.arxiv_id or "") is True]
    unwanted = [s.personal for s in pool if labels.get(s.candidate.arxiv_id or "") is False]
    if not wanted or not unwanted:
        return None
    right = sum(1.0 if w > u else 0.5 if w == u else 0.0 for w in wanted for u in unwanted)
    return right / (len(wanted) * len(unwanted))


def perfect_boost(pool: Sequence[Scored], labels: dict[str, bool], weight: float) -> list[Scored]:
    """The pool as a boost of the same size would leave it if it knew the labels: the ceiling of P@k."""
    return [
        replace(s, personal=weight if labels.get(s.candidate.arxiv_id or "", False) else 0.0) for s in pool
    ]


def load_reader_labels(path: Path) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for n, line in _lines(path):
        rec = _record(path, n, line, "reader label")
        if not isinstance(rec.get("relevant"), bool):
            raise InputError(f'{path}:{n}: not a reader label ("relevant" must be true or false)')
        out[str(rec["id"])] = rec["relevant"]
    return out


def evaluate_personal(
    labels_path: Path,
    papers_paths: Sequence[Path],
    notes_folders: Sequence[Path],
    config: Config,
    *,
    weight: float | None = None,
    warn: Callable[[str], None] = lambda _: None,
) -> PersonalReport:
    labels = load_reader_labels(Path(labels_path))
    day_ids: dict[str, set[str]] = {}
    papers = load_papers([Path(p) for p in papers_paths], None, day_ids)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    next(m for m in MIGRATIONS if m.__name__ == "m010_reader_notes")(conn)  # the notes table only
    notes, _ = load_notes(conn, [Path(f).expanduser() for f in notes_folders], warn)
    conn.close()
    w = config.reader.weight if weight is None else weight
    matcher = TopicMatcher(config.topics)
    days = []
    pools: dict[str, list[Scored]] = {}  # each labelled day's on-topic candidates, with the profile's boost
    for day in sorted(day_ids):
        if not day_ids[day] & labels.keys():
            continue
        scored = score((papers[pid].candidate for pid in sorted(day_ids[day])), matcher)
        profile = build_profile(notes, date.fromisoformat(day), config.reader.half_life_days)
        boosted = personalize(scored, profile, w)
        pools[day] = boosted
        plain_pick = select(scored, config.selection)
        own_pick = select(boosted, config.selection)

        days.append(
            PersonalDay(
                day=day,
                on_topic=len(scored),
                relevant=_hits(scored, labels),
                shown=len(own_pick),
                hits_without=_hits(plain_pick, labels),
                hits_with=_hits(own_pick, labels),
                counts_identical=_counts(scored) == _counts(boosted) and len(plain_pick) == len(own_pick),
                ap_without=average_precision(sorted(scored, key=rank_key), labels),
                ap_with=average_precision(sorted(boosted, key=rank_key), labels),
                hits_ceiling=_hits(select(perfect_boost(scored, labels, w), config.selection), labels),
                auc=boost_auc(boosted, labels),
            )
        )
    fw = config.reader.feedback_weight
    return PersonalReport(
        str(labels_path), len(notes), config.selection.max_items, w, tuple(days),
        fw, tuple(simulate_feedback(pools, labels, config, fw)),
    )  # fmt: skip


def _hits(picked: Sequence[Scored], labels: dict[str, bool]) -> int:
    return sum(labels.get(s.candidate.arxiv_id or "", False) for s in picked)


def _counts(pool: Sequence[Scored]) -> Counter[str]:
    return Counter(t for s in pool for t in s.topics)


def simulated_edits(shown: Sequence[Scored], labels: dict[str, bool]) -> list[tuple[float, Scored]]:
    """What the reader of the labels does with a day's note: deletes the papers they do not want and
    writes under the ones they want. As in a real note, deleting every item teaches nothing."""
    judged = [
        (feedback.ANNOTATED if labels[s.candidate.arxiv_id or ""] else feedback.DELETED, s)
        for s in shown
        if (s.candidate.arxiv_id or "") in labels
    ]
    return judged if any(signal > 0 for signal, _ in judged) else []


def simulate_feedback(
    pools: dict[str, list[Scored]], labels: dict[str, bool], config: Config, weight: float
) -> list[FeedbackDay]:
    """Each day ranked with what the simulated edits of the other days taught (leave one day out)."""
    shown = {day: select(pool, config.selection) for day, pool in pools.items()}
    edits = {day: simulated_edits(picked, labels) for day, picked in shown.items()}
    out = []
    for day, pool in pools.items():
        judged = [(signal, s) for other, e in edits.items() if other != day for signal, s in e]
        learned = feedback.learned_from((signal, feedback.features(s)) for signal, s in judged)
        taught = feedback.apply(pool, learned, weight)
        picked = select(taught, config.selection)

        out.append(
            FeedbackDay(
                day=day,
                shown=len(picked),
                annotated=sum(1 for signal, _ in judged if signal > 0),
                deleted=sum(1 for signal, _ in judged if signal < 0),
                hits_profile=_hits(shown[day], labels),
                hits_feedback=_hits(picked, labels),
                counts_identical=_counts(pool) == _counts(taught) and len(picked) == len(shown[day]),
                ap_profile=average_precision(sorted(pool, key=rank_key), labels),
                ap_feedback=average_precision(sorted(taught, key=rank_key), labels),
            )
        )
    return out


def _p(x: float | None) -> str:
    return "   -" if x is None else f"{x:4.2f}"


def _mean(values: Iterable[float | None]) -> str:
    present = [v for v in values if v is not None]
    return _p(sum(present) / len(present) if present else None)


def format_personal(report: PersonalReport) -> str:
    k = report.k
    out = [
        f"Personal ranking ({report.notes} notes, weight {report.weight:g}; reader labels: "
        f"{report.labels_path})"
    ]
    rows = [
        [
            d.day, str(d.on_topic), str(d.relevant), str(d.shown),
            _p(d.precision(d.hits_without)), _p(d.precision(d.hits_with)), _p(d.ap_without), _p(d.ap_with),
            _p(d.precision(d.hits_ceiling)), _p(d.auc), "identical" if d.counts_identical else "CHANGED",
        ]
        for d in report.days
    ]  # fmt: skip
    total = report.shown
    rows.append(
        [
            "all", str(sum(d.on_topic for d in report.days)), str(sum(d.relevant for d in report.days)),
            str(total), _p(report.hits_without / total if total else None),
            _p(report.hits_with / total if total else None), _mean(d.ap_without for d in report.days),
            _mean(d.ap_with for d in report.days),
            _p(sum(d.hits_ceiling for d in report.days) / total if total else None),
            _mean(d.auc for d in report.days),
            "identical" if all(d.counts_identical for d in report.days) else "CHANGED",
        ]
    )  # fmt: skip
    out += _table(
        ["day", "on topic", "relevant", "shown", f"P@{k} without", f"P@{k} with", "AP without", "AP with",
         f"P@{k} ceiling", "boost AUC", "topic counts"],
        rows,
        {1, 2, 3, 4, 5, 6, 7, 8, 9},
    )  # fmt: skip
    out.append(
        f"P@{k}: the share of the shown papers the reader wants; AP: how high they stand in the whole "
        "on-topic order (before the per-topic turns)."
    )
    out.append(
        f"P@{k} ceiling: with a boost of the same size that knew the labels; boost AUC: how often the "
        "profile's boost ranks a wanted paper above an unwanted one."
    )
    if report.feedback:
        out += ["", *format_feedback(report)]
    return "\n".join(out)


def format_feedback(report: PersonalReport) -> list[str]:
    k, days = report.k, report.feedback
    out = [
        f"Feedback (simulated edits on the other labelled days: each shown paper the reader does not want "
        f"deleted, a line written under each one they want; feedback_weight {report.feedback_weight:g})"
    ]
    rows = [
        [
            d.day, f"{d.annotated}/{d.deleted}", str(d.shown), _p(d.precision(d.hits_profile)),
            _p(d.precision(d.hits_feedback)), _p(d.ap_profile), _p(d.ap_feedback),
            "identical" if d.counts_identical else "CHANGED",
        ]
        for d in days
    ]  # fmt: skip
    total = sum(d.shown for d in days)
    rows.append(
        [
            "all", "", str(total), _p(sum(d.hits_profile for d in days) / total if total else None),
            _p(sum(d.hits_feedback for d in days) / total if total else None),
            _mean(d.ap_profile for d in days), _mean(d.ap_feedback for d in days),
            "identical" if all(d.counts_identical for d in days) else "CHANGED",
        ]
    )  # fmt: skip
    out += _table(
        ["day", "taught (kept/deleted)", "shown", f"P@{k} profile", f"P@{k} +feedback", "AP profile",
         "AP +feedback", "topic counts"],
        rows,
        {1, 2, 3, 4, 5, 6},
    )  # fmt: skip
    return out
