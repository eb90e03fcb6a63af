"""Reading the reader's notes folders: Markdown with front matter (Jekyll, Obsidian, a plain folder).

Incremental: each file's mtime and size are kept in the state database with what was read from it, so
a re-run stats the folders and reads only what changed. digest's own sections (between its
``digest:start``/``digest:end`` markers, see digest/delivery/notes.py) are cut out before anything is
read, so digest never learns from what it wrote itself.

A note that cannot be used -- unreadable, too big, binary, in an encoding that is not UTF-8 -- and a
folder that loops back on itself through a symlink are each one warning line; the rest is read.
Nothing read here leaves the machine: it goes into the local state database and the ranking only.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from .terms import term_counts

NOTE_RULES = "notes-2"  # stored with each note: a file read under other rules is read again
SUFFIXES = (".md", ".markdown", ".mkd", ".mdown")
MAX_NOTE_BYTES = 1_000_000  # a note larger than this is an export or a log, not the reader's writing
MAX_FILES = 20_000  # per folder: more is a home directory or a whole drive, not a notes folder
MAX_TERMS = 200  # terms kept per note (the most frequent): a long note must not swamp the profile
TITLE_WEIGHT = 3  # a logged paper title counts as much as three mentions in running text

DIGEST_SECTION = re.compile(r"<!-- digest:start [^>]*-->.*?(?:<!-- digest:end -->|\Z)", re.S)
_FRONT = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
LIQUID = re.compile(r"{%.*?%}")
_WIKILINK = re.compile(r"\[\[([^\]|#]+)(?:[^\]]*)\]\]")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
# New-style ids anywhere (2601.01234, 2601.01234v2); old-style ones (cs/0112017, math.AG/0601001) only as
# "arXiv:…" or an arxiv.org link, since "cs/0112017" alone could be any path.
_ARXIV_ID = re.compile(
    r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?![\d])"
    r"|(?:arxiv:\s*|arxiv\.org/(?:abs|pdf)/)([a-z][a-z\-]*(?:\.[a-z]{2})?/\d{7})(?!\d)",
    re.IGNORECASE,
)
# A paper title as people log it: a Markdown link to arXiv/a PDF, or a title in 「」/『』 or quotes.
_LINKED_TITLE = re.compile(r"\[([^\]\n]{8,200})\]\((?:https?://)?(?:www\.)?(?:arxiv\.org|openreview\.net)[^)]*\)")
_QUOTED_TITLE = re.compile(r"[「『“\"]([A-Za-z][^」』”\"\n]{7,200})[」』”\"]")
_DATE_NAME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}(?:\s*\(.\))?$")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]\s+(?:\[.\]\s+)?|\d+[.)]\s+)")
_FRONT_KEY = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:[ \t]*(.*)$")


@dataclass(frozen=True)
class Note:
    """What the profile needs from one note."""

    path: str
    day: date  # front matter date, else the YYYY-MM-DD of its name, else its mtime
    title: str
    terms: dict[str, int]
    arxiv_ids: tuple[str, ...]


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """The simple ``key: value`` lines of YAML front matter and the body after it.

    Only scalars and flow lists are needed (title, date, tags, categories); a full YAML parser would
    also execute tags and anchors from a file anyone could have put in the folder.
    """
    m = _FRONT.match(text)
    if not m:
        return {}, text
    fields: dict[str, str] = {}
    last = ""
    for line in m.group(1).splitlines():
        km = _FRONT_KEY.match(line)
        if km:
            last = km.group(1).lower()
            fields[last] = km.group(2).strip().strip("\"'")
        elif last and line.strip().startswith("- "):  # a block list under the last key
            fields[last] = (fields[last] + " " + line.strip()[2:].strip("\"'")).strip()
    return fields, text[m.end() :]


def _day(fields: dict[str, str], name: str, mtime: float) -> date:
    raw = fields.get("date", "")[:10]
    try:
        return date.fromisoformat(raw)
    except ValueError:
        pass
    m = _DATE_NAME.match(name)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    return datetime.fromtimestamp(mtime).date()


def _first_line(body: str) -> str:
    """The first line of prose: not a heading, not empty; list markers and a closing period dropped."""
    for line in body.splitlines():
        text = _LIST_MARK.sub("", line).strip()
        if text and not line.lstrip().startswith(("#", "---", "<!--", "|")):
            text = text.rstrip(".。:")
            return text if len(text) <= 40 else text[:39].rstrip() + "…"
    return ""


def parse_note(path: str, text: str, mtime: float) -> Note | None:
    """The note in ``text``, or None when nothing of the reader's own is left in it."""
    fields, body = front_matter(text)
    body = DIGEST_SECTION.sub("\n", body)
    body = FENCE.sub("\n", body)  # code is not prose: keywords and variable names are no interest
    body = LIQUID.sub(" ", body)
    body = _WIKILINK.sub(r"\1", body)
    if not body.strip():
        return None
    terms = term_counts(body)
    extra = " ".join(fields.get(k, "") for k in ("title", "tags", "categories", "category"))
    for term, n in term_counts(extra.replace("[", " ").replace("]", " ").replace(",", " . ")).items():
        terms[term] += n * TITLE_WEIGHT
    for title in (*_LINKED_TITLE.findall(body), *_QUOTED_TITLE.findall(body)):
        for term, n in term_counts(title).items():
            terms[term] += n * (TITLE_WEIGHT - 1)  # once already from the body
    if not terms:
        return None
    heading = _HEADING.search(body)
    name = Path(path).name
    title = fields.get("title") or (heading.group(1).strip() if heading else "") or Path(path).stem
    if _DATE_ONLY.match(title):  # a daily log's heading is its date: its first line says what it is about
        title = _first_line(body) or title
    return Note(
        path=path,
        day=_day(fields, name, mtime),
        title=" ".join(title.split())[:80],
        terms=dict(terms.most_common(MAX_TERMS)),
        arxiv_ids=tuple(sorted({new or _old_style(old) for new, old in _ARXIV_ID.findall(body)})),
    )


def _old_style(found: str) -> str:
    """``MATH.ag/0601001`` as arXiv writes it: ``math.AG/0601001``."""
    archive, number = found.split("/")
    name, _, subject = archive.partition(".")
    return f"{name.lower()}{'.' + subject.upper() if subject else ''}/{number}"


@dataclass(frozen=True)
class _File:
    path: str
    mtime_ns: int
    size: int


def walk(folder: Path, warn: Callable[[str], None]) -> Iterator[_File]:
    """The Markdown files under ``folder``, following symlinks but never into a folder twice."""
    seen: set[tuple[int, int]] = set()
    stack = [folder]
    found = 0
    while stack:
        here = stack.pop()
        try:
            st = here.stat()
            if (st.st_dev, st.st_ino) in seen:
                warn(f"notes: {here} leads back into a folder already read (a symlink loop?); skipped")
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = list(os.scandir(here))
        except OSError as e:
            warn(f"notes: cannot read the folder {here}: {e.strerror or e}")
            continue
        for entry in sorted(entries, key=lambda e: e.name, reverse=True):
            if entry.name.startswith("."):  # .obsidian, .git, editors' temporary files
                continue
            try:
                if entry.is_dir():
                    stack.append(Path(entry.path))
                elif entry.name.lower().endswith(SUFFIXES):
                    est = entry.stat()
                    if stat.S_ISREG(est.st_mode):
                        found += 1
                        if found > MAX_FILES:
                            warn(
                                f"notes: more than {MAX_FILES} Markdown files under {folder}; the rest are "
                                "not read (point [reader] notes at the folders you write in)"
                            )
                            return
                        yield _File(entry.path, est.st_mtime_ns, est.st_size)
            except OSError as e:  # a dangling symlink, a file gone since the listing
                warn(f"notes: cannot read {entry.path}: {e.strerror or e}")


def decode(raw: bytes) -> tuple[str | None, str]:
    """The text of ``raw`` and a problem to report ("" when none)."""
    if b"\0" in raw[:8192]:
        return None, "a binary file, not a note"
    try:
        return raw.decode("utf-8-sig"), ""
    except UnicodeDecodeError:
        pass
    try:  # a note from an older Korean editor; read, but said, since a wrong guess reads as noise
        return raw.decode("cp949"), "not UTF-8; read as CP949 (EUC-KR)"
    except UnicodeDecodeError:
        return None, "neither UTF-8 nor CP949 text"


def read_file(f: _File, warn: Callable[[str], None], max_bytes: int = MAX_NOTE_BYTES) -> Note | None:
    if f.size > max_bytes:
        limit = f"{max_bytes / 1e6:g} MB"
        warn(f"notes: {f.path} is {f.size / 1e6:.1f} MB, larger than a note ({limit}); skipped")
        return None
    try:
        with open(f.path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as e:
        warn(f"notes: cannot read {f.path}: {e.strerror or e}")
        return None
    text, problem = decode(raw)
    if problem:
        warn(f"notes: {f.path}: {problem}" + ("" if text is not None else "; skipped"))
    if text is None:
        return None
    return parse_note(f.path, text, f.mtime_ns / 1e9)


@dataclass(frozen=True)
class ReadStats:
    files: int  # Markdown files found
    read: int  # files read in this run (new or changed)
    notes: int  # notes with the reader's own text


def load_notes(
    conn: sqlite3.Connection, folders: Iterable[Path], warn: Callable[[str], None]
) -> tuple[list[Note], ReadStats]:
    """Every note under ``folders``, reading only the files whose mtime or size changed since last time.

    The table ``reader_notes`` (digest/state.py, m008) holds one row per file seen, a skipped or empty
    one too, so an unusable file is reported once, when it changes, not on every run.
    """
    files: dict[str, _File] = {}
    for folder in folders:
        if not folder.is_dir():
            warn(f"notes: {folder} is not a folder; skipped")
            continue
        for f in walk(folder, warn):
            files.setdefault(f.path, f)
    known = {
        row[0]: row
        for row in conn.execute(
            "select path, mtime_ns, size, day, title, terms, arxiv_ids, rules from reader_notes"
        )
    }
    notes: list[Note] = []
    changed: list[tuple[_File, Note | None]] = []
    for path, f in files.items():
        row = known.get(path)
        if row is not None and (row[1], row[2], row[7]) == (f.mtime_ns, f.size, NOTE_RULES):
            if row[3]:
                day = date.fromisoformat(row[3])
                notes.append(Note(path, day, row[4], json.loads(row[5]), tuple(json.loads(row[6]))))
            continue
        note = read_file(f, warn)
        changed.append((f, note))
        if note is not None:
            notes.append(note)
    gone = [p for p in known if p not in files]
    if changed or gone:
        conn.execute("begin immediate")
        try:
            conn.executemany("delete from reader_notes where path = ?", [(p,) for p in gone])
            conn.executemany(
                "insert or replace into reader_notes "
                "(path, mtime_ns, size, day, title, terms, arxiv_ids, rules) values (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        f.path, f.mtime_ns, f.size,
                        n.day.isoformat() if n else "", n.title if n else "",
                        json.dumps(n.terms, ensure_ascii=False) if n else "{}",
                        json.dumps(n.arxiv_ids) if n else "[]", NOTE_RULES,
                    )
                    for f, n in changed
                ],
            )  # fmt: skip
        except BaseException:
            conn.execute("rollback")
            raise
        conn.execute("commit")
    notes.sort(key=lambda n: (n.day, n.path))
    return notes, ReadStats(files=len(files), read=len(changed), notes=len(notes))
