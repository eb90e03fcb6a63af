"""Keyword suggestions for a topic, each previewed on the stored days before it is adopted.

The matcher's recall loss is vocabulary: a paper it misses uses words the topic does not list (evaluation:
docs/evaluation.md). So candidates are the words of the papers the topic is about, measured against the
rest of the same days:

* the topic's **papers**: those the matcher puts in the topic, and its **near misses** -- papers that use
  two or more of the words of one keyword without the keyword as such ("state space" without "state space
  model" for Mamba). Words found in many papers (a tenth of the days' papers or more: "model",
  "learning") say nothing of a topic and do not count towards a near miss;
* a candidate is a phrase of the phrase extractor (2 to 4 words, digest/trend/phrases.py) or a single
  acronym or camel-case name ("SDE", "GraphSAGE") found in two or more of those papers, and scored by how
  much more often it is in them than in the rest: the log-odds z of the trend's emerging terms
  (digest/trend/stats.py), topic papers against the rest instead of today against the baseline, must be
  clear (z >= 2), and half of the papers the term occurs in (as the matcher reads it) must be the
  topic's already: the added papers are only as on-topic as the term's other papers are ("language model"
  is in DPO papers often but in far more others). The share's Wilson lower bound (one-sided 95 %) ranks
  the candidates -- a term in 3 of 4 papers is less sure than one in 30 of 40 -- and one whose bound is
  0.5 or more is **sure**: the topic's more often than not even at the low end of what the days allow;
* a shorter phrase found in about the same papers as a longer one holding it ("recurrent neural" and
  "recurrent neural network") is the longer one's fragment: the longer one is suggested;
* one that a configured keyword already matches adds nothing and is left out.

Each candidate is then **previewed**: the matcher runs with the topic's keywords plus the candidate over
every stored paper, and the papers it adds are counted (``+N편/일``), three of them named, and the papers
the term occurs in are looked at by arXiv category: when most of them are listed outside cs.*, stat.ML and
eess.IV/AS (graph "diffusion" in physics, "state space" in control), the term likely has a sense outside ML
and the preview says so. Only terms that would add a paper are suggested.

Stored days come from corpus files (every paper of each day) or from the state, which keeps each day's
phrase counts over the whole pool and a shortlist of its on-topic papers (digest/selection/shortlist.py):
there the topic's papers are the stored shortlists', the rest is the pool's phrase counts minus them, and
``+N편/일`` is an upper bound for a phrase (papers of the pool with it, less the topic's); its titles and
categories are the shortlists' (papers another topic brought in).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from ..config import Topic
from ..models import Candidate, DayStatus
from ..state import State
from ..trend.phrases import boilerplate, document_phrases, is_breaker, singular
from ..trend.stats import BASELINE_WINDOW, announcement_days, log_odds_z, topic_fingerprint
from .matching import TopicMatcher, clean, compile_term, squash

MIN_PAPERS = 3  # topic papers a candidate must be in
MIN_Z = 2.0  # how much more often than in the rest (log-odds z), at least
PREVIEWED = 40  # candidates previewed (the best by z): each is a matcher run over the stored papers
GENERIC_SHARE = 0.10  # a keyword word in this share of all papers does not make a near miss
NEAR_MISS_WORDS = 2  # words of one keyword a near miss uses (without the keyword as such)
MIN_SHARE = 0.5  # of a candidate's papers, at least this share must be the topic's already
MIN_NOTES_SHARE = 0.3  # the same for a term of the reader's notes (the reader vouches for it), or a new topic
OUTSIDE_ML_SHARE = 0.5  # a term whose papers are mostly listed outside ML gets a warning
EXAMPLES = 3
_COUNTED = (DayStatus.ANNOUNCED, DayStatus.PARTIAL)

_NAME = re.compile(r"(?<![\w-])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?![\w-])")
_CAMEL_OR_ACRONYM = re.compile(r"[A-Z].*[A-Z]|[a-z0-9][A-Z]")
_WORD = re.compile(r"[a-z][a-z0-9]+")
# ML's own categories: computer science, stat.ML, and the two signal-processing ones the matcher counts as ML
# (images, audio and speech). A paper listed anywhere else -- eess.SY, physics.*, math.*, q-bio.* -- is
# read outside ML too.
_ML_CATEGORY = re.compile(r"^(?:cs\.[A-Za-z]{2}|stat\.ML|eess\.(?:IV|AS))$")


@dataclass(frozen=True)
class StoredDays:
    """The days suggestions are drawn from and previewed on."""

    days: tuple[date, ...]
    papers: Mapping[date, Sequence[Candidate]]
    pool: Mapping[date, int]  # papers in each day's pool
    complete: bool = True  # ``papers`` is every paper of each day; False: the state's shortlists only
    # With complete=False: papers of all the days' pools that have each phrase (the state's day_phrases),
    # and each topic's papers a day as the days were counted (the shortlists hold 30 a day at most).
    pool_docs: Callable[[list[str]], dict[str, int]] | None = None
    topic_per_day: Mapping[str, float] = field(default_factory=dict)

    @property
    def pool_papers(self) -> int:
        return sum(self.pool.values())

    def all_papers(self) -> Iterable[tuple[date, Candidate]]:
        for d in self.days:
            for c in self.papers.get(d, ()):
                yield d, c


@dataclass(frozen=True)
class Preview:
    added: int  # papers the topic would match more with the term, over the stored days
    per_day: float
    estimated: bool  # an upper bound from phrase counts (the state keeps no whole pools)
    examples: tuple[str, ...]  # titles of added papers, newest day first
    occurrences: int  # papers the term occurs in as the matcher reads it (any topic, any field)
    in_topic: int  # of those, papers the topic matches already
    outside_ml: int  # of those, listed in a category outside ML's (see _ML_CATEGORY)
    outside_categories: tuple[str, ...]  # the most frequent such categories

    @property
    def warn(self) -> bool:
        return self.occurrences > 0 and self.outside_ml / self.occurrences >= OUTSIDE_ML_SHARE


@dataclass(frozen=True)
class Suggestion:
    term: str
    why: str  # "topic" (over-represented in its papers) or "notes" (the reader's notes)
    topic_papers: int  # papers of the topic (matched or near misses) with the term
    other_papers: int  # the rest of the stored papers with the term
    z: float
    share: float  # lower bound of the share of the term's papers that are the topic's
    preview: Preview

    @property
    def sure(self) -> bool:
        return self.share >= MIN_SHARE


@dataclass
class TopicView:
    """What the stored days say about one topic: its papers, near misses and the rest."""

    key: str
    topic: Topic
    days: StoredDays
    # A new topic: ``topic`` is its name as the one keyword, which says which papers are about it; a term
    # is previewed alone (nothing is configured yet) and none is "covered" by the name.
    new: bool = False
    matched: list[Candidate] = field(default_factory=list)
    near: list[Candidate] = field(default_factory=list)
    rest: list[Candidate] = field(default_factory=list)

    @property
    def matched_per_day(self) -> float:
        if not self.new and self.key in self.days.topic_per_day:
            return self.days.topic_per_day[self.key]
        return len(self.matched) / len(self.days.days) if self.days.days else 0.0


def paper_terms(c: Candidate) -> set[str]:
    """The candidate keywords of one paper: its phrases and its acronyms and camel-case names."""
    terms = {p for p in document_phrases(c.title, c.summary) if not boilerplate(p)}
    for m in _NAME.finditer(clean(f"{c.title} . {c.summary}")):
        tok = m.group(0)
        if 2 <= len(tok) <= 24 and _CAMEL_OR_ACRONYM.search(tok) and sum(ch.isalpha() for ch in tok) >= 2:
            if tok[-1] == "s" and len(tok) >= 3 and tok[:-1].isupper():  # LLMs, RMs
                tok = tok[:-1]
            terms.add(singular(tok))
    return terms


def _keyword_words(topic: Topic) -> list[frozenset[str]]:
    """The content words of each keyword of two or more words."""
    out = []
    for kw in topic.keywords:
        words = frozenset(singular(w) for w in _WORD.findall(kw.lower()) if not is_breaker(w))
        if len(words) >= NEAR_MISS_WORDS:
            out.append(words)
    return out


def _words(c: Candidate) -> set[str]:
    return {singular(w) for w in _WORD.findall(f"{c.title} {c.summary}".lower())}


def view(key: str, topic: Topic, days: StoredDays, *, new: bool = False) -> TopicView:
    """Sort the stored papers into the topic's matches, its near misses and the rest."""
    matcher = TopicMatcher({key: topic})
    out = TopicView(key, topic, days, new=new)
    unmatched: list[tuple[Candidate, set[str]]] = []
    word_docs: Counter[str] = Counter()
    keywords = _keyword_words(topic)
    kw_words = frozenset().union(*keywords)
    total = 0
    for _, c in days.all_papers():
        total += 1
        if matcher.match(c):
            out.matched.append(c)
            continue
        present = _words(c) & kw_words
        word_docs.update(present)
        unmatched.append((c, present))
    # A near miss needs the topic's own words, not words every paper uses: only with whole days is it
    # known which are which (a shortlist is on-topic papers only, and near misses there are another
    # topic's papers).
    specific = {w for w in kw_words if word_docs[w] < GENERIC_SHARE * total} if days.complete else set()
    for c, present in unmatched:
        if any(len(present & words & specific) >= NEAR_MISS_WORDS for words in keywords):
            out.near.append(c)
        else:
            out.rest.append(c)
    return out


def names_whole(term: str, topic: Topic) -> bool:
    """Whether a keyword of ``topic`` matches the whole term (``preference optimization`` is DPO's), or
    the term ends in one of its keywords cut short: the term is that topic's word."""
    text, lowered, squashed = term, term.lower(), squash(term)
    for k in topic.keywords:
        spans = ((m.start(), m.end()) for m in compile_term(k).finditer(text, lowered, squashed))
        if (0, len(term)) in spans:
            return True
    return _ends_in_piece(lowered, topic)


def _ends_in_piece(lowered: str, topic: Topic) -> bool:
    words = [singular(w) for w in _WORD.findall(lowered)]
    for k in topic.keywords:
        kw = [singular(w) for w in _WORD.findall(k.lower())]
        if any(words[-n:] == kw[:n] for n in range(1, len(kw)) if n <= len(words)):
            return True
    return False


def covered(term: str, topic: Topic) -> bool:
    """Whether a configured keyword already matches the term itself (it would add nothing), or the term
    ends in a keyword cut short ("large language", "multimodal large language" of "large language
    model"; "visual question" of "visual question answering"): the phrase extractor's piece of the
    keyword, which names nothing the keyword does not."""
    text, lowered, squashed = term, term.lower(), squash(term)
    if any(compile_term(k).search(text, lowered, squashed) for k in topic.keywords):
        return True
    return _ends_in_piece(lowered, topic)


def preview(v: TopicView, term: str) -> Preview:
    """What adding ``term`` to the topic would do on the stored days (for a new topic: the term alone)."""
    t = compile_term(term)
    keywords = [term] if v.new else [*v.topic.keywords, term]
    extended = Topic(label=v.topic.label, keywords=keywords, exclude=v.topic.exclude)
    matcher = TopicMatcher({v.key: extended})
    matched_keys = {c.key for c in v.matched}
    already = set() if v.new else matched_keys
    topic_keys = matched_keys
    added: list[tuple[date, str]] = []
    occurrences = outside = 0
    categories: Counter[str] = Counter()
    with_term_in_topic = in_topic = 0
    for d, c in v.days.all_papers():
        title, summary = clean(c.title), clean(c.summary)
        text = f"{title}\0{summary}"
        if not t.present(text, squash(text)) or not t.search(text, text.lower(), squash(text)):
            continue
        occurrences += 1
        foreign = [x for x in c.categories if not _ML_CATEGORY.match(x)]
        if foreign:
            outside += 1
            categories.update(foreign)
        if c.key in topic_keys:
            in_topic += 1
        if c.key in already:
            with_term_in_topic += 1
        elif matcher.match(c):
            added.append((d, c.title))
    n_days = len(v.days.days) or 1
    count, estimated = len(added), False
    if not v.days.complete and v.days.pool_docs is not None and " " in term:
        pool = v.days.pool_docs([term]).get(term, 0)
        if pool - with_term_in_topic > count:
            count, estimated = pool - with_term_in_topic, True
    added.sort(key=lambda x: x[0], reverse=True)
    return Preview(
        added=count,
        per_day=count / n_days,
        estimated=estimated,
        examples=tuple(" ".join(title.split()) for _, title in added[:EXAMPLES]),
        occurrences=occurrences,
        in_topic=in_topic,
        outside_ml=outside,
        outside_categories=tuple(c for c, _ in categories.most_common(3)),
    )


def _docs(papers: Iterable[Candidate]) -> Counter[str]:
    docs: Counter[str] = Counter()
    for c in papers:
        docs.update(paper_terms(c))
    return docs


def suggest(
    key: str,
    topic: Topic,
    days: StoredDays,
    *,
    limit: int = 10,
    extra: Mapping[str, str] | None = None,
    new: bool = False,
    others: Sequence[Topic] = (),
) -> tuple[TopicView, list[Suggestion]]:
    """The best ``limit`` terms to add to ``topic``, previewed, best first. A term that a keyword of one of
    ``others`` (the other configured topics) names whole is that topic's: its papers are shown there.

    ``extra`` maps more candidate terms to where they come from ("notes": the reader's notes): they are
    previewed like the others and kept when they would add a paper and at least MIN_NOTES_SHARE of their
    papers are the topic's. For a ``new`` topic (``topic`` holds its name as the one keyword) those come
    first, and the topic's papers the stored days' terms are measured against are then what the name and
    the kept note terms match: the reader's own words say what the topic is, more than its name alone.
    """
    if not (new and extra):
        return _suggest(key, topic, days, limit=limit, extra=extra, new=new, others=others)
    v, from_notes = _suggest(
        key, topic, days, limit=limit, extra=extra, new=True, only_extra=True, others=others
    )
    words = [s.term for s in from_notes]
    widened = Topic(label=topic.label, keywords=[*topic.keywords, *words], exclude=topic.exclude)
    _, more = _suggest(key, widened, days, limit=limit, extra=None, new=True, others=others)
    taken = {w.casefold() for w in [*words, *topic.keywords]}
    return v, from_notes + [s for s in more if s.term.casefold() not in taken]


def _suggest(
    key: str,
    topic: Topic,
    days: StoredDays,
    *,
    limit: int,
    extra: Mapping[str, str] | None,
    new: bool,
    only_extra: bool = False,
    others: Sequence[Topic] = (),
) -> tuple[TopicView, list[Suggestion]]:
    v = view(key, topic, days, new=new)
    positive = v.matched + v.near
    pos_docs = _docs(positive)
    n_pos = len(positive)
    if days.complete:
        rest_docs = _docs(v.rest)
        n_rest = len(v.rest)
    else:
        n_rest = max(days.pool_papers - n_pos, 0)
        rest_docs = Counter()
    scored: list[_Scored] = []
    extra = dict(extra or {})
    wanted = [] if only_extra else [t for t, n in pos_docs.items() if n >= MIN_PAPERS]
    wanted += [t for t in extra if t not in wanted]
    wanted = [
        t
        for t in dict.fromkeys(wanted)
        if (new or not covered(t, topic)) and not any(names_whole(t, o) for o in others)
    ]
    if not days.complete and days.pool_docs is not None:
        pool = days.pool_docs([t for t in wanted if " " in t])
        for t in wanted:
            rest_docs[t] = max(pool.get(t, 0) - pos_docs[t], 0)
    for t in wanted:
        y, y_rest = pos_docs[t], rest_docs[t]
        if not days.complete and " " not in t and t not in extra:
            continue  # a single name: the state keeps no pool counts of it to compare with
        z = log_odds_z(y, n_pos, y_rest, n_rest, float(max(n_pos, 1))) if n_pos else 0.0
        why = extra.get(t, "topic")
        share = wilson_lower(y, y + y_rest)
        # A first cut on the phrase counts (half the bar: the matcher's reading of the term, in the
        # preview, decides).
        if why == "topic" and (z < MIN_Z or y < MIN_SHARE / 2 * (y + y_rest)):
            continue
        scored.append((share, t, y, y_rest, why, z if math.isfinite(z) else 0.0))
    scored.sort(key=lambda s: (s[4] == "topic", -s[0], s[1]))
    scored = _drop_fragments(scored[: PREVIEWED * 3])  # the best: fragments are compared pairwise
    out: list[Suggestion] = []
    for _, t, y, y_rest, why, z in scored[:PREVIEWED]:
        p = preview(v, t)
        if p.added == 0:
            continue
        # The term as the matcher reads it (hyphens, plurals, case) is what will be added: its share is
        # measured on its hits, in whole days; the shortlists hold no rest to measure it on.
        k, n = (p.in_topic, p.occurrences) if days.complete else (y, y + y_rest)
        share = wilson_lower(k, n)
        # A new topic's papers are only what its name and the reader's words match so far: a lower bar.
        if why == "topic" and n and k / n < (MIN_NOTES_SHARE if new else MIN_SHARE):
            continue  # the topic's less often than not ("language model" for DPO)
        if why != "topic" and n and k / n < MIN_NOTES_SHARE:
            continue  # the reader's word, but mostly in papers about something else (the tag "study")
        out.append(Suggestion(t, why, y, y_rest, round(z, 2), round(share, 3), p))
    out.sort(key=lambda s: (s.why == "topic", -s.share, s.term))
    return v, out[:limit]


def wilson_lower(k: int, n: int, z: float = 1.64) -> float:
    """The lower bound of a share k/n (Wilson score interval, one-sided 95 %)."""
    if n <= 0:
        return 0.0
    p = k / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max((centre - margin) / denom, 0.0)


_Scored = tuple[float, str, int, int, str, float]


def _drop_fragments(scored: list[_Scored], close: float = 0.8) -> list[_Scored]:
    """Without a phrase found in about the same papers as a longer candidate that holds it."""
    out = []
    for s in scored:
        t, y, y_rest = s[1], s[2], s[3]
        padded = f" {t} "
        if any(
            o[1] != t
            and padded in f" {o[1]} "
            and o[2] >= close * y
            and o[3] >= close * y_rest
            for o in scored
        ):
            continue
        out.append(s)
    return out


def days_from_papers(papers: Iterable[tuple[str, Candidate]]) -> StoredDays:
    """Whole days from corpus papers (``(announce_day, candidate)``): every paper of each day."""
    by_day: dict[date, list[Candidate]] = {}
    for day, c in papers:
        by_day.setdefault(date.fromisoformat(day), []).append(c)
    return StoredDays(tuple(sorted(by_day)), by_day, {d: len(v) for d, v in by_day.items()})


def days_from_state(
    state: State, end: date, topics: Mapping[str, Topic] | None = None, n: int = BASELINE_WINDOW
) -> StoredDays:
    """The state's counted days among the last ``n`` announcement days up to ``end`` (the trend's window:
    what a backfill fills): their pools' phrase counts and their stored shortlists. The state keeps no
    whole pools, so these are not complete days."""
    start = announcement_days(end, n)[0]
    counted = [s for s in state.day_stats(start, end) if s.pool and s.status in _COUNTED]
    shortlists = state.day_candidates(start, end)
    days = tuple(s.day for s in counted)
    papers = {d: [s.candidate for s in shortlists.get(d, [])] for d in days}
    per_day: dict[str, float] = {}
    for key, topic in (topics or {}).items():
        # Only days counted by the topic's present keywords: others counted something else.
        same = [s.topics[key] for s in counted if s.topic_rules.get(key) == topic_fingerprint(topic)]
        if same:
            per_day[key] = sum(same) / len(same)
    return StoredDays(
        days,
        papers,
        {s.day: s.pool or 0 for s in counted},
        complete=False,
        pool_docs=lambda phrases: state.phrase_counts(phrases, list(days)),
        topic_per_day=per_day,
    )
