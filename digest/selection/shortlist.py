"""Each day's shortlist, kept for the weekly roundup (week/roundup.py): the day's best on-topic candidates.

The state keeps only the shown items' keys otherwise, and a week's most important papers are not always
the ones a day showed (a paper a busier day crowded out, one Hugging Face found later in the week). So
every run — and every backfilled day — stores its top candidates, picked like the day's items (topics take
turns, so one busy topic does not fill the list) but many more of them and without leaving out papers
shown before. Bounded: KEEP a day, the last state.CANDIDATE_DAYS days.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ..config import Selection
from ..models import Scored
from ..state import State
from . import pick

KEEP = 30


def shortlist(scored: Sequence[Scored], keep: int = KEEP) -> list[Scored]:
    """The best ``keep`` of ``scored``, spread over the topics, best first."""
    picked = pick.select(scored, Selection(max_items=keep, max_per_topic=keep))
    return sorted(picked, key=pick.rank_key)


def keep_shortlist(state: State, day: date, scored: Sequence[Scored], origin: str) -> int:
    """Store ``day``'s shortlist; returns how many were kept (0: none, or a digest run's stays)."""
    best = shortlist(scored)
    return len(best) if state.record_day_candidates(day, best, origin) else 0
