"""How much recall accepted keyword suggestions buy, on hand labels of days they were not drawn from.

For each labelled day, suggestions are drawn from the other stored days only (leave one day out; or from
separate history days), the top ``accept`` of them are added to the topic, and the topic's precision and
recall on that day's labelled papers are compared with the configured keywords'. The sums over the days
give one row per topic. No label is looked at when suggestions are drawn: the acceptance is the plain
policy "take the first N", so the numbers say what a reader who trusts the list gets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from ..config import Topic
from ..models import Candidate
from .matching import TopicMatcher
from .suggest import StoredDays, suggest


@dataclass
class SuggestRow:
    topic: str
    support: int = 0  # labelled papers of the topic on the measured days
    tp_before: int = 0
    fp_before: int = 0
    tp_after: int = 0
    fp_after: int = 0
    accepted: dict[str, int] = field(default_factory=dict)  # term -> measured days it was accepted on

    @staticmethod
    def _p(tp: int, fp: int) -> float | None:
        return tp / (tp + fp) if tp + fp else None

    @property
    def precision_before(self) -> float | None:
        return self._p(self.tp_before, self.fp_before)

    @property
    def precision_after(self) -> float | None:
        return self._p(self.tp_after, self.fp_after)

    @property
    def recall_before(self) -> float | None:
        return self.tp_before / self.support if self.support else None

    @property
    def recall_after(self) -> float | None:
        return self.tp_after / self.support if self.support else None


def measure(
    topics: Mapping[str, Topic],
    days: StoredDays,
    labels: Mapping[str, frozenset[str]],
    *,
    accept: int = 3,
    history: StoredDays | None = None,
    sure_only: bool = False,
) -> list[SuggestRow]:
    """Per topic, labelled precision and recall before and after accepting the top ``accept`` suggestions.

    Measured days are those of ``days`` with labelled papers; suggestions for each come from ``history``
    when given, else from the other days of ``days``.
    """
    rows = {k: SuggestRow(k) for k in topics}
    drawn: dict[str, list[str]] = {}  # from the history: the same for every measured day
    for day in days.days:
        test = [c for c in days.papers[day] if (c.arxiv_id or "") in labels]
        if not test:
            continue
        train = history or _without(days, day)
        for key, topic in topics.items():
            terms = drawn.get(key) if history else None
            if terms is None:
                others = [o for k, o in topics.items() if k != key]
                found = suggest(key, topic, train, limit=accept if not sure_only else 100, others=others)[1]
                terms = [s.term for s in found if s.sure or not sure_only][:accept]
                drawn[key] = terms
            extended = Topic(label=topic.label, keywords=[*topic.keywords, *terms], exclude=topic.exclude)
            row = rows[key]
            for t in terms:
                row.accepted[t] = row.accepted.get(t, 0) + 1
            before, after = TopicMatcher({key: topic}), TopicMatcher({key: extended})
            for c in test:
                gold = key in labels[c.arxiv_id or ""]
                row.support += gold
                if before.match(c):
                    row.tp_before += gold
                    row.fp_before += not gold
                if after.match(c):
                    row.tp_after += gold
                    row.fp_after += not gold
    return list(rows.values())


def _without(days: StoredDays, day: date) -> StoredDays:
    kept = tuple(d for d in days.days if d != day)
    papers: dict[date, Sequence[Candidate]] = {d: days.papers[d] for d in kept}
    return StoredDays(kept, papers, {d: days.pool[d] for d in kept})


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def format_rows(rows: Sequence[SuggestRow], accept: int, *, sure_only: bool = False, source: str = "") -> str:
    which = "sure suggestions" if sure_only else "suggestions"
    out = [
        f"Top {accept} {which} accepted per topic, drawn from {source or 'the other labelled days'}",
        "",
        "| topic | labelled | recall before | recall after | precision before | precision after "
        "| terms accepted |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ranked = sorted(r.accepted.items(), key=lambda x: -x[1])
        terms = ", ".join(f"{t} ×{n}" if n > 1 else t for t, n in ranked)
        out.append(
            f"| {r.topic} | {r.support} | {_pct(r.recall_before)} | {_pct(r.recall_after)} | "
            f"{_pct(r.precision_before)} | {_pct(r.precision_after)} | {terms or '-'} |"
        )
    return "\n".join(out)
