"""The reader stage of a run: the notes profile and the edits' feedback boost the day's on-topic candidates.

Both are bounded boosts in ``Scored.personal`` on candidates that already matched a topic; with
``[reader] enabled = false`` the candidates come back untouched and the order is exactly today's.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from ..config import Config
from ..models import Scored
from ..progress import Progress
from ..state import State
from . import feedback
from .notes import load_notes
from .ranking import Profile, build_profile, explain, rank


@dataclass(frozen=True)
class Personal:
    """What the day's ranking used: the profile and its terms' idf in the day's pool, and the edits."""

    profile: Profile | None
    idf: dict[str, float]
    learned: feedback.Learned | None


def _profile(
    config: Config, day: date, scored: Sequence[Scored], state: State, progress: Progress
) -> tuple[list[Scored], Profile | None, dict[str, float]]:
    reader = config.reader
    folders = reader.folders(config.notes_dir)
    if not folders or reader.weight <= 0:
        return list(scored), None, {}
    started = time.process_time()
    try:
        notes, read = load_notes(state.conn, folders, progress.warn)
    except (OSError, sqlite3.Error) as e:
        progress.warn(f"notes: not read, ranking without them: {e}")
        return list(scored), None, {}
    profile = build_profile(notes, day, reader.half_life_days)
    out, idf = rank(scored, profile, reader.weight)
    boosted = sum(1 for s in out if s.personal > 0)
    progress.log(
        f"reader: {read.notes} notes ({read.read} of {read.files} files read now), "
        f"{len(profile.weights)} profile terms, {boosted} of {len(out)} candidates boosted "
        f"({time.process_time() - started:.2f}s CPU)"
    )
    return out, profile, idf


def _feedback(
    config: Config, day: date, scored: list[Scored], state: State, progress: Progress
) -> tuple[list[Scored], feedback.Learned | None]:
    reader = config.reader
    writes_notes = bool(config.notes_dir) and config.markdown.enabled
    if not reader.feedback or reader.feedback_weight <= 0 or not writes_notes:
        return scored, None
    try:
        judged = feedback.collect(state.conn, config, state.archive_dir, day)
        learned = feedback.learn(state.conn, day)
    except sqlite3.Error as e:
        progress.warn(f"feedback: not read, ranking without it: {e}")
        return scored, None
    if not learned:
        return scored, learned
    out = feedback.apply(scored, learned, reader.feedback_weight)
    moved = sum(1 for a, b in zip(scored, out, strict=True) if a is not b)
    progress.log(
        f"feedback: {judged} items judged from your edits, {len(learned.records)} features learned, "
        f"{moved} of {len(out)} candidates moved"
    )
    for line in learned.suggestions(config):
        progress.log(f"feedback: {line}")
    return out, learned


def personalize_run(
    config: Config, day: date, scored: Sequence[Scored], state: State, progress: Progress
) -> tuple[list[Scored], Personal | None]:
    """``scored`` boosted toward the reader's notes and edits, and what explains it (None when off).

    A problem with the notes is a warning: the digest ships with today's ranking instead.
    """
    if not config.reader.enabled:
        return list(scored), None
    out, profile, idf = _profile(config, day, scored, state, progress)
    out, learned = _feedback(config, day, out, state, progress)
    if profile is None and learned is None:
        return out, None
    return out, Personal(profile, idf, learned)


def explain_picks(
    config: Config,
    state: State,
    day: date,
    picked: Sequence[Scored],
    personal: Personal | None,
    progress: Progress,
) -> list[Scored]:
    """The picks with the reader's note each resembles and what their edits said (reason line, stderr).

    What each pick is shown with is kept, so the day's note can be judged on a later day.
    """
    if personal is None:
        return list(picked)
    out = list(picked)
    if personal.profile is not None:
        out = explain(out, personal.profile, personal.idf, config.reader.weight)
    if personal.learned is not None:
        learned = personal.learned
        out = [replace(s, feedback=learned.reason(s)) if learned else s for s in out]
        try:
            feedback.record_shown(state.conn, day, out)
        except sqlite3.Error as e:
            progress.warn(f"feedback: what was shown is not kept (its note cannot be learned from): {e}")
    return out
