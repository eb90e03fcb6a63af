"""The reader stage of a run: read the notes (changed files only), build the profile, boost the day."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ..config import Config
from ..models import Scored
from ..progress import Progress
from ..state import State
from .notes import load_notes
from .ranking import Profile, build_profile, explain, rank


@dataclass(frozen=True)
class Personal:
    """What the day's ranking used: the profile, and its terms' idf in the day's pool."""

    profile: Profile
    idf: dict[str, float]


def personalize_run(
    config: Config, day: date, scored: Sequence[Scored], state: State, progress: Progress
) -> tuple[list[Scored], Personal | None]:
    """``scored`` boosted toward the reader's notes, and what explains it (None when the feature is off).

    A problem with the notes is a warning: the digest ships with today's ranking instead.
    """
    reader = config.reader
    folders = reader.folders(config.notes_dir)
    if not reader.enabled or not folders or reader.weight <= 0:
        return list(scored), None
    started = time.process_time()
    try:
        notes, read = load_notes(state.conn, folders, progress.warn)
    except (OSError, sqlite3.Error) as e:
        progress.warn(f"notes: not read, ranking without them: {e}")
        return list(scored), None
    profile = build_profile(notes, day, reader.half_life_days)
    out, idf = rank(scored, profile, reader.weight)
    boosted = sum(1 for s in out if s.personal > 0)
    progress.log(
        f"reader: {read.notes} notes ({read.read} of {read.files} files read now), "
        f"{len(profile.weights)} profile terms, {boosted} of {len(out)} candidates boosted "
        f"({time.process_time() - started:.2f}s CPU)"
    )
    return out, Personal(profile, idf)


def explain_picks(config: Config, picked: Sequence[Scored], personal: Personal | None) -> list[Scored]:
    """The picks with the reader's note each resembles (for the reason line and stderr)."""
    if personal is None:
        return list(picked)
    return explain(picked, personal.profile, personal.idf, config.reader.weight)
