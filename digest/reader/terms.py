"""The terms a text is compared by: its English words and two-word phrases, normalised alike.

Notes are Korean with English terms in them ("확산 모델(diffusion model)을 다시 정리", "GraphSAGE를
구현"); abstracts are English. What the two share is the English, so only Latin-script runs count:
Hangul (and a particle glued to a term, "GraphSAGE를") ends a run, as punctuation does. Words are
normalised as the phrase extractor does (digest/trend/phrases.py: stop and paper words dropped, the
plural made singular) and lower-cased; a term is a word or two adjacent words of one run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from ..trend.phrases import BREAK, classify

# Everything but English words and the spaces between them (Hangul, punctuation, line ends) ends a run.
_SEPARATOR = re.compile(r"[^A-Za-z0-9'’\- \t]+")
_URL = re.compile(r"(?:https?://|www\.)\S+")


@lru_cache(maxsize=50_000)  # a day's abstracts repeat their words: each is classified once
def _term_word(token: str) -> str:
    w = classify(token)
    return w if w == BREAK else w.lower()


def _sequence(text: str) -> list[str]:
    """The normalised words of ``text`` in order, BREAK where a run ends or a stop or paper word stood."""
    return list(map(_term_word, _SEPARATOR.sub(" | ", _URL.sub(" ", text)).split()))


def term_counts(text: str) -> Counter[str]:
    """How often each term (word or two-word phrase) occurs in ``text``."""
    seq = _sequence(text)
    counts = Counter(w for w in seq if w != BREAK)
    counts.update(f"{a} {b}" for a, b in pairwise(seq) if a != BREAK and b != BREAK)
    return counts


@dataclass(frozen=True)
class Vocabulary:
    """The terms a text is scored on, and the first words of its phrases (to skip building the rest)."""

    terms: frozenset[str]
    firsts: frozenset[str]

    @classmethod
    def of(cls, terms: Iterable[str]) -> Vocabulary:
        ts = frozenset(terms)
        return cls(ts, frozenset(t.split(" ", 1)[0] for t in ts if " " in t))


def counts_in(text: str, vocab: Vocabulary) -> tuple[Counter[str], int]:
    """``term_counts(text)`` restricted to ``vocab``, and the number of all its terms (its length).

    The same numbers as filtering term_counts, without building every phrase of a long abstract.
    """
    seq = _sequence(text)
    pairs = [(a, b) for a, b in pairwise(seq) if a != BREAK and b != BREAK]
    length = len(seq) - seq.count(BREAK) + len(pairs)
    terms = vocab.terms
    counts = Counter(w for w in seq if w in terms)
    firsts = vocab.firsts
    counts.update(p for p in (f"{a} {b}" for a, b in pairs if a in firsts) if p in terms)
    return counts, length
