"""The daily-log note: the day's Markdown section written into a notes file (Obsidian, Jekyll, ...).

The section sits between its own HTML-comment markers, which Obsidian, Jekyll and GitHub do not
show. A re-run replaces only that span, so the reader's own lines in the same file stay as
they are and the section never appears twice -- and only while the span is still as digest last
wrote it (:func:`update_note`): what the reader did inside it is feedback, and theirs.

A note inside a Jekyll ``_posts`` folder is made a post Jekyll builds: named ``YYYY-MM-DD-slug.md``
(Jekyll skips any other name without a word), with front matter, dated with the run's time and
offset (a bare date is midnight in the site's zone, which can still be "the future" when the site
runs on UTC, and Jekyll skips future posts), and with the feed text inside ``{% raw %}``: Jekyll
runs Liquid over posts, and a title with ``{% ... %}`` in it would otherwise break the whole build.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from pathlib import Path

from .._compat import UTC
from ..config import Markdown
from ..errors import DeliveryError

END = "<!-- digest:end -->"
JEKYLL_FOLDER = "_posts"
JEKYLL_FILENAME = "{date}-daily-trend.md"  # used in _posts when markdown.filename is not set
# What Jekyll reads as a post's name (its Document::DATE_FILENAME_MATCHER, for Markdown files).
_JEKYLL_NAME = re.compile(r"^\d{2,4}-\d{1,2}-\d{1,2}-.+\.(?:md|markdown|mkdown|mkdn|mkd)$")


def start_marker(day: date) -> str:
    return f"<!-- digest:start {day.isoformat()} -->"


def _in_jekyll_posts(cfg: Markdown) -> bool:
    return JEKYLL_FOLDER in Path(cfg.dir).expanduser().parts


def writes_jekyll_posts(cfg: Markdown) -> bool:
    """Whether the notes are posts of a Jekyll site (a blog: published, not private)."""
    return _in_jekyll_posts(cfg) or JEKYLL_FOLDER in Path(cfg.filename).parts


def note_path(cfg: Markdown, day: date) -> Path:
    """``dir/filename`` with ``{date}``, ``{year}``, ``{month}``, ``{day}`` filled in."""
    jekyll = writes_jekyll_posts(cfg)
    pattern = cfg.filename
    if jekyll and "filename" not in cfg.model_fields_set:
        pattern = JEKYLL_FILENAME
    try:
        name = pattern.format(
            date=day.isoformat(), year=f"{day.year:04d}", month=f"{day.month:02d}", day=f"{day.day:02d}"
        )
    except (KeyError, IndexError, ValueError) as e:
        raise DeliveryError(
            f"markdown.filename: {cfg.filename!r} is not a valid pattern "
            "(use {date}, {year}, {month}, {day}): " + str(e)
        ) from None
    path = Path(cfg.dir).expanduser() / name
    if jekyll and not _JEKYLL_NAME.match(path.name):
        raise DeliveryError(
            f"markdown.filename: {path.name!r} in a Jekyll {JEKYLL_FOLDER} folder would be skipped by "
            f"Jekyll, which builds only YYYY-MM-DD-title.md; use filename = {JEKYLL_FILENAME!r}"
        )
    return path


def is_jekyll_post(path: Path) -> bool:
    return JEKYLL_FOLDER in path.parts


def front_matter(day: date, stamp: datetime) -> str:
    """A Jekyll post's front matter, as ``jekyll new`` writes it (layout, title, date with offset)."""
    title = json.dumps(f"데일리 트렌드 {day.isoformat()}", ensure_ascii=False)  # a YAML double-quoted string
    return f"---\nlayout: post\ntitle: {title}\ndate: {stamp:%Y-%m-%d %H:%M:%S %z}\n---\n\n"


def post_time(day: date, tz: tzinfo, now: datetime | None = None) -> datetime:
    """When the post is dated: now, when the digest is today's; noon of ``day`` for a past day."""
    now = (now or datetime.now(UTC)).astimezone(tz)
    return now if now.date() == day else datetime.combine(day, time(12), tzinfo=tz)


def liquid_safe(markdown: str) -> str:
    """The section with everything below its heading inside ``{% raw %}``, so Liquid never reads feed
    text. Escaped Markdown has no ``%}`` to end the block early; any that slipped in is made ``%\\}``.
    The heading stays outside: Jekyll's excerpt (the first paragraph) must not cut a raw block."""
    head, sep, rest = markdown.partition("\n\n")
    if not head.startswith("#") or "\n" in head:
        head, sep, rest = "", "", markdown
    body = rest.replace("%}", "%\\}").rstrip("\n")
    return f"{head}{sep}{{% raw %}}\n{body}\n{{% endraw %}}\n"


def merge_section(existing: str | None, day: date, markdown: str, *, front_matter: str = "") -> str:
    """The note's new text: the section added, or its previous version replaced in place."""
    section = f"{start_marker(day)}\n{markdown.rstrip()}\n{END}\n"
    if existing is None:
        return front_matter + section
    start = existing.find(start_marker(day))
    if start < 0:
        if not existing.strip():
            return front_matter + section
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


def section_text(note: str, day: date) -> str | None:
    """The text between the day's markers in ``note`` (to the end if its end marker is gone); None if
    the note has no section for ``day``."""
    start = note.find(start_marker(day))
    if start < 0:
        return None
    end = note.find(END, start)
    return note[start + len(start_marker(day)) : end if end >= 0 else len(note)]


def as_written(path: Path, markdown: str) -> str:
    """The section's text as :func:`write_note` puts it between the markers of ``path``."""
    return (liquid_safe(markdown) if is_jekyll_post(path) else markdown).rstrip()


def same_section(a: str, b: str) -> bool:
    """The same lines, whatever the line endings, indentation of blank lines or trailing spaces an
    editor leaves when it saves a note nobody changed."""
    return _lines(a) == _lines(b)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines() if line.strip()]


def _read(path: Path) -> str | None:
    try:
        # Bytes, not read_text(): the reader's line endings must come back exactly as they were.
        return path.read_bytes().decode("utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError) as e:
        raise DeliveryError(f"{path}: cannot read the note: {e}") from None


@dataclass(frozen=True)
class NoteUpdate:
    """What :func:`update_note` did: wrote ``section`` into ``path``, or left the note (``kept`` says why)."""

    path: Path
    section: str | None  # the text now between the day's markers, as written; None when left alone
    kept: str = ""  # "edited": the reader changed digest's section; "removed": they took it out


def update_note(
    cfg: Markdown,
    day: date,
    markdown: str,
    *,
    last: str | None,
    recorded: bool = True,
    tz: tzinfo = UTC,
    now: datetime | None = None,
) -> NoteUpdate:
    """Write the day's section unless the reader has made it theirs since digest last wrote it.

    ``last`` is the section digest last wrote into this note for ``day`` (None: it never did, or that is
    not known). A section that is no longer as written was edited -- the reader's edits are feedback
    and their own text: a re-run leaves it alone. A section the reader took out is not put back -- when
    ``recorded`` says digest did write into this very file (``last`` may only be what it would have
    written: then a note without the section is one it never reached, and it gets the section).
    """
    path = note_path(cfg, day)
    if last is not None:
        existing = _read(path)
        if existing is not None:
            current = section_text(existing, day)
            if current is None and recorded:
                return NoteUpdate(path, None, "removed")
            if current is not None and not same_section(current, last):
                return NoteUpdate(path, None, "edited")
    write_note(cfg, day, markdown, tz=tz, now=now)
    return NoteUpdate(path, as_written(path, markdown))


def write_note(
    cfg: Markdown, day: date, markdown: str, *, tz: tzinfo = UTC, now: datetime | None = None
) -> Path:
    """Write the day's section into its note file atomically; returns the file's path.

    ``tz`` and ``now`` date a Jekyll post (the configured timezone, the run's clock)."""
    path = note_path(cfg, day)
    jekyll = is_jekyll_post(path)
    if jekyll:
        markdown = liquid_safe(markdown)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = _read(path)
    header = front_matter(day, post_time(day, tz, now)) if jekyll else ""
    text = merge_section(existing, day, markdown, front_matter=header)
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
