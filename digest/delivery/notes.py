"""The daily-log note: the day's Markdown section written into a notes file (Obsidian, Jekyll, ...).

The section sits between its own HTML-comment markers, which Obsidian, Jekyll and GitHub do not
show. A re-run replaces only that span, so the reader's own lines in the same file stay as
they are and the section never appears twice.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

from ..config import Markdown
from ..errors import DeliveryError

END = "<!-- digest:end -->"


def start_marker(day: date) -> str:
    return f"<!-- digest:start {day.isoformat()} -->"


def note_path(cfg: Markdown, day: date) -> Path:
    """``dir/filename`` with ``{date}``, ``{year}``, ``{month}``, ``{day}`` filled in."""
    try:
        name = cfg.filename.format(
            date=day.isoformat(), year=f"{day.year:04d}", month=f"{day.month:02d}", day=f"{day.day:02d}"
        )
    except (KeyError, IndexError, ValueError) as e:
        raise DeliveryError(
            f"markdown.filename: {cfg.filename!r} is not a valid pattern "
            "(use {date}, {year}, {month}, {day}): " + str(e)
        ) from None
    return Path(cfg.dir).expanduser() / name


def _front_matter(day: date, path: Path) -> str:
    # Jekyll only publishes files in _posts that start with front matter.
    if path.parent.name != "_posts":
        return ""
    return f'---\ntitle: "데일리 트렌드 {day.isoformat()}"\ndate: {day.isoformat()}\n---\n\n'


def merge_section(existing: str | None, day: date, markdown: str, *, front_matter: str = "") -> str:
    """The note's new text: the section added, or its previous version replaced in place."""
    section = f"{start_marker(day)}\n{markdown.rstrip()}\n{END}\n"
    if existing is None:
        return front_matter + section
    start = existing.find(start_marker(day))
    if start < 0:
        if not existing.strip():
            return section
        sep = "" if existing.endswith("\n\n") else "\n" if existing.endswith("\n") else "\n\n"
        return existing + sep + section
    end = existing.find(END, start)
    if end < 0:
        # Replacing to the end of the file could eat the reader's notes: leave it to them.
        raise DeliveryError(
            f"the note has {start_marker(day)} but no {END} after it; fix the markers by hand"
        )
    after = existing[end + len(END) :]
    return existing[:start] + section + after.removeprefix("\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_note(cfg: Markdown, day: date, markdown: str) -> Path:
    """Write the day's section into its note file atomically; returns the file's path."""
    path = note_path(cfg, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Bytes, not read_text(): the reader's line endings must come back exactly as they were.
        existing: str | None = path.read_bytes().decode("utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError) as e:
        raise DeliveryError(f"{path}: cannot read the note: {e}") from None
    text = merge_section(existing, day, markdown, front_matter=_front_matter(day, path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        # mkstemp makes the file 0600; keep the old file's mode, or what the umask gives a new one.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if existing is not None else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
