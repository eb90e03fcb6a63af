"""Follow-ups on papers the reader logged: the watchlist, what counts as news, and what was said already.

The watchlist is every arXiv id in the reader's own notes (read by digest/reader/notes.py into
``reader_notes``), plus the ids added with ``digest watch ID``, less those removed with ``--remove``.

News on a watched paper, from what the run has anyway: a ``replace`` entry in today's listing (a new
version: ``v3 공개``), a code repository (Hugging Face's ``githubRepo``, a link in the new abstract or
comment), an acceptance in the comment (digest/reader/venues.py). The listing carries no comments, so when
a watched paper was replaced the run asks the arXiv API for the comments of all of them in one request
(digest/sources/arxiv_lookup.py); a day on which nothing watched changed costs no request at all.

Each piece of news is kept in ``watch_news`` with the day that said it: a later day does not say it
again, a re-run of that day does (it is the same digest), and the weekly roundup shows its week's.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ..models import Item, PaperNews
from ..rendering.links import repositories
from .venues import acceptance

# A paper id as a reader writes it: 2601.01234, 2601.01234v2, arXiv:2601.01234, cs/0112017, hep-th/9901001v3,
# math.AG/0601001, or an abs/pdf URL of one.
_ID = re.compile(
    r"^(?:arxiv:|https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/)?"
    r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?(?:\.pdf)?/?$",
    re.IGNORECASE,
)


def parse_id(text: str) -> str:
    """The versionless arXiv id ``text`` names; ValueError with one line when it names none."""
    m = _ID.match(text.strip())
    if not m:
        raise ValueError(
            f"{text.strip()!r} is not an arXiv id (like 2601.01234, 2601.01234v2, cs/0112017 or "
            "https://arxiv.org/abs/2601.01234)"
        )
    found = m.group("id")
    if "/" in found:  # old style: the archive is lower case, a subject class upper case (math.AG)
        archive, number = found.split("/")
        name, _, subject = archive.partition(".")
        return f"{name.lower()}{'.' + subject.upper() if subject else ''}/{number}"
    month = int(found[2:4])
    if not 1 <= month <= 12:
        raise ValueError(f"{text.strip()!r} is not an arXiv id: {found[:4]} is no year and month (YYMM)")
    return found


@dataclass(frozen=True)
class Watched:
    """One paper on the watchlist, and where it came from."""

    arxiv_id: str
    note_day: date | None = None  # the first note of the reader's that logged it
    note_title: str = ""
    added: date | None = None  # when `digest watch ID` added it

    @property
    def origin(self) -> str:
        if self.note_day is not None:
            return f"내 글 {self.note_day}" + (f" 「{self.note_title}」" if self.note_title else "")
        return f"digest watch ({self.added})" if self.added else "digest watch"


def watchlist(conn: sqlite3.Connection, *, notes: bool = True) -> dict[str, Watched]:
    """The watched papers: the ids in the reader's notes (when ``notes``), the ids added by hand, less those
    removed; each from the earliest note that logged it."""
    out: dict[str, Watched] = {}
    if notes:
        rows = conn.execute(
            "select day, title, arxiv_ids from reader_notes where day != '' and arxiv_ids != '[]' "
            "order by day, path"
        )
        for day, title, ids in rows:
            for arxiv_id in json.loads(ids):
                if arxiv_id not in out:
                    out[arxiv_id] = Watched(arxiv_id, date.fromisoformat(day), title)
    for arxiv_id, watched, day in conn.execute("select arxiv_id, watched, day from watch_list"):
        if not watched:
            out.pop(arxiv_id, None)
        elif arxiv_id not in out:
            out[arxiv_id] = Watched(arxiv_id, added=date.fromisoformat(day))
    return out


def set_watched(conn: sqlite3.Connection, ids: Iterable[str], watched: bool, day: date) -> None:
    conn.execute("begin immediate")
    try:
        conn.executemany(
            "insert or replace into watch_list (arxiv_id, watched, day) values (?, ?, ?)",
            [(i, int(watched), day.isoformat()) for i in ids],
        )
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


# -- what counts as news --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One piece of news on one paper."""

    arxiv_id: str
    kind: str  # version | code | venue
    value: str  # "3" | the repository URL | "ICLR 2026"
    label: str  # what the block shows
    title: str


def _code_label(url: str) -> str:
    return f"코드 공개({url.split('://', 1)[-1]})"


def _code(*texts: str) -> str:
    for text in texts:
        found = [r for r in repositories(text) if r.label == "코드"]
        if found:
            return found[0].url
    return ""


def news_facts(
    watched: Sequence[str],
    replacements: Iterable[Item],
    items: Iterable[Item],
    details: dict[str, Item],
) -> list[Fact]:
    """What today's sources say that is news on a watched paper (before what was said already is dropped).

    ``replacements`` are the listing's replace entries, ``items`` everything else the sources gave (Hugging
    Face's ``githubRepo``, the API search's comments), ``details`` the API's records of the replaced papers
    (and of those whose comment it did not give on an earlier day).
    """
    ids = set(watched)
    facts: list[Fact] = []
    replaced = {i.arxiv_id: i for i in replacements if i.arxiv_id in ids}
    for arxiv_id in dict.fromkeys([*replaced, *(i for i in details if i in ids)]):
        item, detail = replaced.get(arxiv_id), details.get(arxiv_id)
        title = item.title if item else detail.title if detail else ""
        version = (item.version if item else None) or (detail.version if detail else None)
        if version and version > 1:
            facts.append(Fact(arxiv_id, "version", str(version), f"v{version} 공개", title))
        code = _code(item.summary if item else "", *((detail.comment, detail.summary) if detail else ()))
        if code:
            facts.append(Fact(arxiv_id, "code", code, _code_label(code), title))
        accepted = acceptance(detail.comment) if detail else None
        if accepted:
            facts.append(Fact(arxiv_id, "venue", accepted.venue, accepted.label, title))
    for item in items:
        if item.arxiv_id not in ids:
            continue
        code = _code(item.repository, item.comment)
        if code:
            facts.append(Fact(item.arxiv_id, "code", code, _code_label(code), item.title))
        accepted = acceptance(item.comment) if item.comment else None
        if accepted:
            facts.append(Fact(item.arxiv_id, "venue", accepted.venue, accepted.label, item.title))
    return facts


# -- what was said already ------------------------------------------------------------------------


def record(conn: sqlite3.Connection, day: date, facts: Sequence[Fact], watched: dict[str, Watched]) -> int:
    """Keep the facts not said before (a version no higher than one said, code once per paper, a venue
    once); returns how many are new."""
    said: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for arxiv_id, kind, value, on in conn.execute("select arxiv_id, kind, value, day from watch_news"):
        said.setdefault((arxiv_id, kind), []).append((value, on))
    rows = []
    for f in facts:
        before = said.get((f.arxiv_id, f.kind), [])
        if f.kind == "version":
            old = any(int(v) >= int(f.value) for v, _ in before)
        elif f.kind == "code":
            old = bool(before)
        else:
            old = any(v.lower() == f.value.lower() for v, _ in before)
        if old:
            continue
        w = watched.get(f.arxiv_id, Watched(f.arxiv_id))
        note_day = w.note_day.isoformat() if w.note_day else ""
        rows.append((f.arxiv_id, f.kind, f.value, day.isoformat(), f.title, f.label, note_day, w.note_title))
        said.setdefault((f.arxiv_id, f.kind), []).append((f.value, day.isoformat()))
    if rows:
        conn.execute("begin immediate")
        try:
            conn.executemany(
                "insert or ignore into watch_news (arxiv_id, kind, value, day, title, label, note_day, "
                "note_title) values (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            conn.execute("rollback")
            raise
        conn.execute("commit")
    return len(rows)


_KIND_ORDER = {"version": 0, "code": 1, "venue": 2}


def news_between(conn: sqlite3.Connection, start: date, end: date) -> tuple[PaperNews, ...]:
    """The news said on the days from ``start`` to ``end``, one entry per paper, in the order first said."""
    rows = conn.execute(
        "select arxiv_id, kind, value, day, title, label, note_day, note_title from watch_news "
        "where day between ? and ? order by day, arxiv_id",
        (start.isoformat(), end.isoformat()),
    ).fetchall()
    papers: dict[str, list[tuple[str, ...]]] = {}
    for row in rows:
        papers.setdefault(row[0], []).append(row)
    out = []
    for arxiv_id, facts in papers.items():
        facts.sort(key=lambda r: (_KIND_ORDER.get(r[1], 9), r[3]))
        versions = [r for r in facts if r[1] == "version"]
        if len(versions) > 1:  # a week with v2 and v3: the latest says it
            facts = [r for r in facts if r[1] != "version" or r is versions[-1]]
        code = next((r[2] for r in facts if r[1] == "code"), "")
        first = facts[0]
        out.append(
            PaperNews(
                arxiv_id=arxiv_id,
                title=next((r[4] for r in facts if r[4]), arxiv_id),
                news=tuple(r[5] for r in facts),
                code_url=code,
                note_day=date.fromisoformat(first[6]) if first[6] else None,
                note_title=first[7],
            )
        )
    return tuple(out)


def versions_said(conn: sqlite3.Connection) -> dict[str, int]:
    """The highest version already said of each paper: a replacement no newer was looked up already."""
    rows = conn.execute(
        "select arxiv_id, max(cast(value as integer)) from watch_news where kind = 'version' "
        "group by arxiv_id"
    )
    return {arxiv_id: version for arxiv_id, version in rows}


# -- waiting for the API --------------------------------------------------------------------------

PENDING_DAYS = 7  # a replaced paper whose comment the API did not give is asked again for a week


def pending(conn: sqlite3.Connection, day: date) -> dict[str, int]:
    since = (day - timedelta(days=PENDING_DAYS)).isoformat()
    rows = conn.execute(
        "select arxiv_id, version from watch_pending where day >= ? and day <= ?", (since, day.isoformat())
    )
    return {arxiv_id: version for arxiv_id, version in rows}


def set_pending(conn: sqlite3.Connection, day: date, waiting: dict[str, int], done: Iterable[str]) -> None:
    """``waiting``: ids whose comment the API did not give (kept from the first day it failed, so a paper
    is asked for a week at most); ``done``: ids it gave."""
    since = (day - timedelta(days=PENDING_DAYS)).isoformat()
    conn.execute("begin immediate")
    try:
        conn.execute("delete from watch_pending where day < ?", (since,))
        conn.executemany("delete from watch_pending where arxiv_id = ?", [(i,) for i in done])
        conn.executemany(
            "insert into watch_pending (arxiv_id, version, day) values (?, ?, ?) "
            "on conflict (arxiv_id) do update set version = excluded.version",
            [(i, v, day.isoformat()) for i, v in waiting.items()],
        )
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")
