"""The archive: one home for its file names and for writing a day's files all or nothing.

A day's set is ``archive/2026-02-05.md`` (the Markdown section), ``.html`` and ``.txt`` (the email's
bodies) and ``.json`` (the email's subject and what a resend needs; written last, it marks a complete
set). A weekly roundup's set is ``week-2026-W06.*``, a sample day's ``sample-2026-02-05.*`` (never
mistaken for, or written over, a real day's).

:func:`write_set` writes every file of a set to a temporary file beside it first; only when all of them
are written and flushed are they renamed over the old ones. A full disk or any other write error
removes the temporary files and leaves the previous set as it was, and is an :class:`ArchiveError`
in one line.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from ..errors import ArchiveError
from ..models import iso_week

# The files of one day by the CLI's --format names; the email's metadata comes with them.
SUFFIXES = {"md": ".md", "html": ".html", "text": ".txt"}
META_SUFFIX = ".json"


def stem(day: date, *, sample: bool = False, weekly: bool = False) -> str:
    """The name every file of a day's (or a week's) set starts with."""
    if weekly:
        return f"week-{iso_week(day)}"
    return f"sample-{day.isoformat()}" if sample else day.isoformat()


def preview_name(day: date, *, sample: bool = False) -> str:
    return f"{stem(day, sample=sample)}.preview.html"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


def write_set(directory: Path, files: Mapping[str, str], *, what: str) -> list[Path]:
    """Write ``files`` (name -> text) into ``directory`` all or nothing, in the order given.

    ``what`` names the set in the error ("the archive of 2026-02-05"). Returns the paths written."""
    temps: list[tuple[Path, Path]] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        mode = 0o666 & ~_umask()
        for name, text in files.items():
            fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
            temps.append((Path(tmp_name), directory / name))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                f.flush()
                # On disk before any rename: a crash after the renames never leaves an empty file.
                os.fsync(f.fileno())
            os.chmod(tmp_name, mode)  # mkstemp makes 0600; the archive reads like any file the user writes
    except OSError as e:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)
        where = e.filename or directory
        raise ArchiveError(
            f"cannot write {what} in {directory}: {_reason(e)} ({where}); nothing of it was written "
            "and the files there before are unchanged"
        ) from None
    done: list[Path] = []
    try:
        for temp, path in temps:
            os.replace(temp, path)
            done.append(path)
    except OSError as e:  # a rename needs no space; this is a directory made unwritable meanwhile
        for temp, _ in temps[len(done) :]:
            temp.unlink(missing_ok=True)
        raise ArchiveError(f"cannot finish writing {what} in {directory}: {_reason(e)}") from None
    return done


def write_file(path: Path, text: str, *, what: str) -> Path:
    """One file written all or nothing (a preview, an --out copy)."""
    write_set(path.parent, {path.name: text}, what=what)
    return path
