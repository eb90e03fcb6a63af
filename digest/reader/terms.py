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

from ..trend.phrases import BREAK, classify

# A run of English words with only spaces between them; anything else (Hangul, punctuation) ends it.
_RUN = re.compile(r"[A-Za-z][A-Za-z0-9'’\-]*(?:[ \t]+[A-Za-z0-9][A-Za-z0-9'’\-]*)*")
_URL = re.compile(r"(?:https?://|www\.)\S+")


def words(run: str) -> list[str]:
    """The normalised words of one run, with BREAK where a stop or paper word stood."""
    return [w if w == BREAK else w.lower() for w in (classify(t) for t in run.split())]


def term_counts(text: str) -> Counter[str]:
    """How often each term (word or two-word phrase) occurs in ``text``."""
    counts: Counter[str] = Counter()
    for run in _RUN.findall(_URL.sub(" ", text)):
        ws = words(run)
        prev = BREAK
        for w in ws:
            if w != BREAK:
                counts[w] += 1
                if prev != BREAK:
                    counts[f"{prev} {w}"] += 1
            prev = w
    return counts
