"""Selection: merge what the sources saw into one candidate per work, score it, pick the day's items.

Picking is a round-robin over the topics: each topic in turn takes its best remaining item, so one
busy topic (every other paper mentions LLMs) cannot crowd out the quieter ones. An item is charged
only to the topic whose turn picked it: a DPO paper about LLMs uses a DPO slot, not an LLM slot too.
Charging it to every topic it matches would let the broad topic's quota, filled early by such
overlapping items, block the narrow topics' best papers. So ``max_per_topic`` bounds how many items
each topic *picks*; an item still shows every topic it matches, so a label may appear on more items.

Hugging Face upvotes weigh in as a bonus on the topic scores (:func:`popularity`): log-scaled, zero for
a handful of upvotes and capped, and only ever added to a candidate that already matched a topic, so
no number of upvotes brings in a paper off the reader's topics.

The reader's own notes weigh in the same way (``Scored.personal``, digest/reader/ranking.py): a bounded
bonus on candidates that already matched, zero when the feature is off, so the order is then exactly the
one without it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial

from ..config import Selection
from ..models import Candidate, Item, Scored
from .matching import TopicMatcher

# Which source's text and metadata win when sources disagree: the arXiv listing is the paper as
# announced; the API search has the same text; Hugging Face and blogs are second-hand.
_SOURCE_RANK = {"arxiv-listing": 0, "arxiv-search": 1, "huggingface": 2}
_BLOG_RANK = 3


def source_rank(source: str) -> tuple[int, str]:
    return (_SOURCE_RANK.get(source, _BLOG_RANK), source)


def _arxiv_base(arxiv_id: str) -> tuple[str, int | None]:
    """ "2602.04288v3" -> ("2602.04288", 3)."""
    head, sep, tail = arxiv_id.strip().rpartition("v")
    if sep and head and tail.isdigit() and head[-1:].isdigit():
        return head, int(tail)
    return arxiv_id.strip(), None


def work_key(item: Item) -> str:
    """One key per work: the arXiv id without version for papers, the canonical URL otherwise."""
    if item.arxiv_id:
        return "arxiv:" + _arxiv_base(item.arxiv_id)[0]
    if item.key.startswith("arxiv:"):
        return "arxiv:" + _arxiv_base(item.key.removeprefix("arxiv:"))[0]
    return item.key


def _looks_cut(text: str) -> bool:
    return text.rstrip().endswith(("...", "…"))


def _best_text(texts: Sequence[tuple[str, str]]) -> str:
    """The text to keep from (source, text) pairs: the most trusted source's, unless it is empty or was
    cut short (Hugging Face feeds cut abstracts to ~200 characters) and a fuller one exists."""
    present = [(s, t.strip()) for s, t in texts if t and t.strip()]
    if not present:
        return ""
    longest = max(len(t) for _, t in present)
    # A text counts as complete when it is not marked as cut and not much shorter than the longest.
    complete = [(s, t) for s, t in present if not _looks_cut(t) and len(t) >= 0.6 * longest]
    pool = complete or present
    return min(pool, key=lambda st: (source_rank(st[0]), -len(st[1])))[1]


def _merge_group(key: str, items: Sequence[Item]) -> Candidate:
    by_rank = sorted(items, key=lambda i: source_rank(i.source))  # stable: ties keep input order
    first = by_rank[0]
    categories: list[str] = []
    for item in by_rank:  # the listing's order first, so its primary category stays first
        categories.extend(c for c in item.categories if c not in categories)
    sources = tuple(sorted({i.source for i in items}, key=source_rank))
    versions = [v for v in (i.version for i in items) if v is not None]
    versions += [v for v in (_arxiv_base(i.arxiv_id)[1] for i in items if i.arxiv_id) if v is not None]
    upvotes = [i.upvotes for i in items if i.upvotes is not None]
    arxiv_id = next((_arxiv_base(i.arxiv_id)[0] for i in by_rank if i.arxiv_id), None)
    if arxiv_id is None and key.startswith("arxiv:"):
        arxiv_id = key.removeprefix("arxiv:")
    return Candidate(
        key=key,
        kind="paper" if any(i.kind == "paper" for i in items) else first.kind,
        title=_best_text([(i.source, i.title) for i in by_rank]),
        url=next((i.url for i in by_rank if i.url), ""),
        summary=_best_text([(i.source, i.summary) for i in by_rank]),
        authors=next((i.authors for i in by_rank if i.authors), ()),
        categories=tuple(categories),
        sources=sources,
        version=max(versions) if versions else None,
        arxiv_id=arxiv_id,
        announce_type=next((i.announce_type for i in by_rank if i.announce_type), None),
        upvotes=max(upvotes) if upvotes else None,
        published=next((i.published for i in by_rank if i.published), None),
        feed_name=next((i.feed_name for i in by_rank if i.feed_name), None),
        comment=next((i.comment for i in by_rank if i.comment), ""),
        repository=next((i.repository for i in by_rank if i.repository), ""),
    )


def merge(items: Iterable[Item]) -> list[Candidate]:
    """One candidate per work, in the order each work was first seen."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(work_key(item), []).append(item)
    return [_merge_group(key, group) for key, group in groups.items()]


# Hugging Face upvotes → ranking bonus. Up to POPULARITY_FLOOR upvotes a paper gets nothing (a few
# colleagues clicking; the count still breaks ties), POPULARITY_CAP or more gets the whole
# POPULARITY_WEIGHT, and in between it grows with the logarithm: 30 upvotes is a small nudge, 300 a
# lot. The weight is on the topic-score scale (0.3 = one opening-sentence mention ... 1.0 = title and
# abstract), so the day's most-discussed paper that passes a topic on its abstract alone ranks with the
# papers that name the topic in their title, and a paper with a few dozen upvotes does not.
POPULARITY_FLOOR = 10
POPULARITY_CAP = 500
POPULARITY_WEIGHT = 0.8


def popularity(upvotes: int | None) -> float:
    """The ranking bonus for ``upvotes``: 0 up to the floor, POPULARITY_WEIGHT from the cap on."""
    if not upvotes or upvotes <= POPULARITY_FLOOR:
        return 0.0
    share = math.log(upvotes / POPULARITY_FLOOR) / math.log(POPULARITY_CAP / POPULARITY_FLOOR)
    return round(POPULARITY_WEIGHT * min(1.0, share), 4)


def score(candidates: Iterable[Candidate], matcher: TopicMatcher) -> list[Scored]:
    """The candidates that match at least one topic, with their matches, relevance and popularity."""
    out: list[Scored] = []
    for c in candidates:
        matches = matcher.match(c)
        if matches:  # only here: upvotes never make an off-topic paper a candidate
            out.append(
                Scored(
                    candidate=c,
                    matches=matches,
                    relevance=matcher.relevance(matches),
                    popularity=popularity(c.upvotes),
                )
            )
    return out


def rank_key(s: Scored) -> tuple[float, int, int, str]:
    """Most important first: relevance plus popularity, then Hugging Face upvotes, then how many sources
    saw it; the key makes the order total, so equal items always come out the same way."""
    c = s.candidate
    return (-(s.relevance + s.popularity + s.personal), -(c.upvotes or 0), -len(c.sources), c.key)


def _topic_key(s: Scored, *, topic: str) -> tuple[float, tuple[float, int, int, str]]:
    return topic_rank_key(s, topic)


def topic_rank_key(s: Scored, topic: str) -> tuple[float, tuple[float, int, int, str]]:
    """Order within one topic's list: how strongly it is about that topic, then the overall order."""
    own = next((m.score for m in s.matches if m.topic == topic), 0.0)
    return (-(own + s.popularity + s.personal), rank_key(s))


@dataclass
class _Queue:
    """One topic's ranked items and how many it has picked."""

    topic: str
    items: list[Scored]
    taken: int = 0
    pos: int = 0

    def next_free(self, chosen: dict[str, Scored]) -> Scored | None:
        while self.pos < len(self.items) and self.items[self.pos].candidate.key in chosen:
            self.pos += 1
        return self.items[self.pos] if self.pos < len(self.items) else None


def select(scored: Iterable[Scored], cfg: Selection, *, exclude: Iterable[str] = frozenset()) -> list[Scored]:
    """The day's items in display order (most important first).

    ``exclude`` holds keys already shown on an earlier day. Topics take turns, each picking its best
    remaining item by its own topic score, until ``max_items`` are chosen or no topic can pick: a topic
    stops at ``max_per_topic`` picks (see the module docstring for how multi-topic items count).
    """
    excluded = set(exclude)
    pool: dict[str, Scored] = {}
    for s in scored:
        if s.matches and s.candidate.key not in excluded and s.candidate.key not in pool:
            pool[s.candidate.key] = s
    items = sorted(pool.values(), key=rank_key)
    topics = sorted({t for s in items for t in s.topics})
    queues = [
        _Queue(t, sorted((s for s in items if t in s.topics), key=partial(_topic_key, topic=t)))
        for t in topics
    ]

    chosen: dict[str, Scored] = {}
    while len(chosen) < cfg.max_items:
        offers: list[tuple[tuple[float, tuple[float, int, int, str]], str, _Queue]] = []
        for q in queues:
            nxt = q.next_free(chosen)
            if q.taken < cfg.max_per_topic and nxt is not None:
                offers.append((topic_rank_key(nxt, q.topic), q.topic, q))
        if not offers:
            break
        # Within a round the topic whose next item ranks highest goes first, so when the overall limit
        # cuts a round short it is the weaker picks that are left out.
        for _, _, q in sorted(offers, key=lambda o: (o[0], o[1])):
            if len(chosen) >= cfg.max_items:
                break
            nxt = q.next_free(chosen)  # an earlier topic in this round may have taken its first choice
            if nxt is None:
                continue
            chosen[nxt.candidate.key] = _led_by(nxt, q.topic)
            q.taken += 1
    return display_order(chosen.values())


def _led_by(s: Scored, topic: str) -> Scored:
    """``s`` with the topic that picked it first: its primary topic, where it is counted and shown."""
    lead = tuple(m for m in s.matches if m.topic == topic)
    return replace(s, matches=lead + tuple(m for m in s.matches if m.topic != topic))


def display_order(picked: Iterable[Scored]) -> list[Scored]:
    """Grouped by primary topic, the group with the most important item first; ranked within a group."""
    ranked = sorted(picked, key=rank_key)
    groups: dict[str, list[Scored]] = {}
    for s in ranked:
        groups.setdefault(s.topics[0], []).append(s)
    return [s for group in groups.values() for s in group]
