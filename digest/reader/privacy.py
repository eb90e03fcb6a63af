"""Where the reason line may name the reader's note: its title, or only its date.

The reason line (``내 글 2026-01-25 「Message passing으로 보는 GNN」과 가까움``) goes wherever the digest
goes, and a note's title can say more than the reader means to share. ``[reader] show_note_titles``:

* ``"private"`` (the default): titles where only the reader reads them -- the daily-log note in a vault or a
  plain folder, and an email to a single address (one's own inbox); not in a Jekyll post (a blog is
  published) nor in an email to several addresses;
* ``true``: everywhere the reason line goes; ``false``: nowhere.

Where titles are not shown the line reads ``내 글 2026-01-25와 가까움``. Chat posts, the Atom feed and the
site carry no reason line at all; their digest is stripped all the same, so a reason added to them later
cannot carry a title unless ``show_note_titles = true``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from ..config import Config
from ..delivery.notes import writes_jekyll_posts
from ..models import Digest

Destination = Literal["notes", "email", "channels"]


def shows_titles(config: Config, destination: Destination) -> bool:
    setting = config.reader.show_note_titles
    if isinstance(setting, bool):
        return setting
    if destination == "notes":
        return not writes_jekyll_posts(config.markdown)
    if destination == "email":
        return len({a.strip().lower() for a in config.email.to}) <= 1
    return False  # a channel posts to a group


def without_note_titles(d: Digest) -> Digest:
    """``d`` with its items' notes named by date only."""
    entries = [
        replace(e, scored=replace(e.scored, note=replace(e.scored.note, title=""))) if e.scored.note else e
        for e in d.entries
    ]
    return replace(d, entries=entries)


def for_destination(d: Digest, config: Config, destination: Destination) -> Digest:
    """``d`` as ``destination`` may show it."""
    return d if shows_titles(config, destination) else without_note_titles(d)
