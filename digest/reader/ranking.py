"""Personal ranking: the day's on-topic candidates scored against the reader's term profile.

The profile is the terms of the reader's notes, each note weighted by its age (a note
``half_life_days`` old counts half), so what they wrote about lately counts most. Candidates are scored
by BM25 with the profile as a weighted query over their title (counted twice) and abstract; the document
frequencies are the day's on-topic candidates', so a term every candidate has ("diffusion" on a day
where the topic is diffusion) tells nothing and weighs nothing.

The boost is ``weight`` times the score over the day's best score: bounded, and added only to what
already matched a topic (digest/selection/pick.py), so it reorders the day's picks but never brings in
an off-topic paper and never changes a topic count. With no notes or ``weight = 0`` every boost is 0.0
and the order is exactly the one without the feature.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from ..models import Candidate, NoteRef, Scored
from .notes import Note
from .terms import Vocabulary, counts_in

PROFILE_TERMS = 400  # the profile's strongest terms: enough for a reader's few fields, cheap to score
K1, B = 1.2, 0.75  # BM25's usual constants
NAME_NOTE_FROM = 1 / 3  # a boost of at least this share of the weight names the note it comes from


@dataclass(frozen=True)
class Profile:
    """The reader's interests: term weights in (0, 1] and the notes they come from."""

    weights: dict[str, float]
    notes: tuple[Note, ...]
    recency: tuple[float, ...]  # per note: 1.0 for today, 0.5 at the half-life
    arxiv_ids: dict[str, int]  # logged arXiv id -> index of the latest note naming it

    def __bool__(self) -> bool:
        return bool(self.weights)


def build_profile(notes: Sequence[Note], day: date, half_life_days: int) -> Profile:
    """The profile as of ``day``: notes dated later are left out (a past day is ranked as it was)."""
    used = tuple(n for n in notes if n.day <= day)
    recency = tuple(0.5 ** ((day - n.day).days / half_life_days) for n in used)
    weights: dict[str, float] = defaultdict(float)
    ids: dict[str, int] = {}
    for i, (note, r) in enumerate(zip(used, recency, strict=True)):
        for term, n in note.terms.items():
            weights[term] += r * (1 + math.log(n))
        for aid in note.arxiv_ids:
            ids[aid] = i
    top = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:PROFILE_TERMS]
    peak = top[0][1] if top else 1.0
    return Profile({t: w / peak for t, w in top}, used, recency, ids)


Doc = tuple[Counter[str], int]  # a candidate's counts of the profile's terms, and its length in terms


def document(c: Candidate, vocab: Vocabulary) -> Doc:
    return counts_in(f"{c.title}. {c.title}. {c.summary}", vocab)


def bm25(docs: Sequence[Doc], query: dict[str, float]) -> tuple[list[float], dict[str, float]]:
    """Each document's BM25 score for the weighted ``query``, and the idf of each query term."""
    n = len(docs)
    if not n:
        return [], {}
    avgdl = sum(length for _, length in docs) / n or 1.0
    df: Counter[str] = Counter()
    for d, _ in docs:
        df.update(t for t in d if t in query)
    idf = {t: math.log(1 + (n - k + 0.5) / (k + 0.5)) for t, k in df.items()}
    scores = []
    for d, length in docs:
        norm = K1 * (1 - B + B * length / avgdl)
        scores.append(
            sum(query[t] * idf[t] * tf * (K1 + 1) / (tf + norm) for t, tf in d.items() if t in idf)
        )
    return scores, idf


def closest_note(doc: Counter[str], profile: Profile, idf: dict[str, float]) -> Note | None:
    """The note sharing the most telling terms with ``doc``, recent notes first among equals."""
    best: tuple[float, int] | None = None
    shared = [t for t in doc if t in idf and t in profile.weights]
    for i, note in enumerate(profile.notes):
        s = sum(idf[t] * (1 + math.log(note.terms[t])) for t in shared if t in note.terms)
        if s > 0:
            s *= 0.5 + 0.5 * profile.recency[i]
            if best is None or s > best[0] or (s == best[0] and note.day >= profile.notes[best[1]].day):
                best = (s, i)
    return profile.notes[best[1]] if best else None


def _ref(note: Note) -> NoteRef:
    return NoteRef(note.day, note.title, note.path)


def personalize(scored: Sequence[Scored], profile: Profile, weight: float) -> list[Scored]:
    """``scored`` with each candidate's boost; :func:`explain` names the notes of the ones picked."""
    return rank(scored, profile, weight)[0]


def rank(scored: Sequence[Scored], profile: Profile, weight: float) -> tuple[list[Scored], dict[str, float]]:
    """:func:`personalize`, and the idf of the profile's terms in the pool (for :func:`explain`)."""
    if not profile or weight <= 0 or not scored:
        return list(scored), {}
    vocab = Vocabulary.of(profile.weights)
    scores, idf = bm25([document(s.candidate, vocab) for s in scored], profile.weights)
    peak = max(scores)
    out = []
    for s, raw in zip(scored, scores, strict=True):
        if profile.arxiv_ids.get(s.candidate.arxiv_id or "") is not None:
            out.append(replace(s, personal=weight))  # a paper the reader wrote about: as close as it gets
        else:
            out.append(replace(s, personal=round(weight * raw / peak, 4) if peak > 0 else 0.0))
    return out, idf


def explain(picked: Sequence[Scored], profile: Profile, idf: dict[str, float], weight: float) -> list[Scored]:
    """``picked`` with the note each one resembles, where its boost is large enough to be worth saying.

    Only the day's picks are explained: comparing every candidate with every note would cost more than
    the rest of the ranking.
    """
    named = [s for s in picked if s.personal > 0 and s.personal >= weight * NAME_NOTE_FROM]
    notes: dict[str, NoteRef] = {}
    for s in named if profile else ():
        logged = profile.arxiv_ids.get(s.candidate.arxiv_id or "")
        doc, _ = document(s.candidate, Vocabulary.of(profile.weights))
        note = profile.notes[logged] if logged is not None else closest_note(doc, profile, idf)
        if note is not None:
            notes[s.candidate.key] = _ref(note)
    return [replace(s, note=notes[s.candidate.key]) if s.candidate.key in notes else s for s in picked]
