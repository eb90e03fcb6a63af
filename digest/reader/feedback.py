"""Edits as feedback: what the reader did with the daily-log sections digest wrote on earlier days.

For each earlier day digest wrote into the notes target, the section as written (the archive,
``archive/YYYY-MM-DD.md``, is the same Markdown) is compared with the section in the note now:

* an item whose link is gone is a **deletion** (negative);
* an item with the reader's own text under it (or its line edited, or moved under another heading) is
  **annotated** (positive); an item left as it was, in a section the reader did edit, is **kept** (mildly
  positive: they went through the list and let it stand);
* a section exactly as digest wrote it was never edited (perhaps never opened): nothing is learned from it,
  and nothing from a section the reader removed whole either (that says nothing about any one item).

What each shown item had -- its topics, matched keywords, first author, source, title phrases -- is kept
when it is shown (``reader_shown``), so a day is judged by the features it was shown with. Each feature's
record over the last ``FEEDBACK_DAYS`` gives a small value in (-1, 1); a candidate's feedback boost is
``feedback_weight`` times the squashed sum of its features' values: bounded, and zero for a reader who never
edits. After repeated deletions with no keep, an ``exclude`` is suggested -- never applied.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from ..config import Config
from ..delivery.notes import END, note_path, start_marker
from ..errors import DigestError
from ..models import Scored
from ..rendering.daily import safe_url
from ..trend.phrases import boilerplate, document_phrases

FEEDBACK_DAYS = 60  # days of edits that count
EVIDENCE = 2  # pseudo-count: a feature needs a few judgments before it moves anything
SUGGEST_AFTER = 3  # deletions with no keep before an exclude is suggested
SAY_AFTER = 3  # judgments of a feature before the reason line mentions it

DELETED, KEPT, ANNOTATED = -1.0, 0.5, 1.0

_ITEM = re.compile(r"^- \*\*\[.*\]\((?P<url>[^)\s]+)\)\*\*")
_LIQUID = frozenset(("{% raw %}", "{% endraw %}"))


@dataclass
class _Item:
    heading: str
    line: str
    below: list[str] = field(default_factory=list)


def items(markdown: str) -> dict[str, _Item]:
    """The items of a digest section by link, with their heading and the lines under them."""
    out: dict[str, _Item] = {}
    heading = ""
    current: _Item | None = None
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if line.strip() in _LIQUID:
            continue
        if line.startswith("#"):
            heading, current = line.lstrip("#").split(" · ")[0].strip(), None
            continue
        m = _ITEM.match(line)
        if m:
            current = out.setdefault(m["url"], _Item(heading, line))
        elif current is not None and line.strip():
            current.below.append(line.strip())
    return out


def _section(note: str, day: date) -> str | None:
    start = note.find(start_marker(day))
    if start < 0:
        return None
    end = note.find(END, start)
    return note[start + len(start_marker(day)) : end if end >= 0 else len(note)]


def _plain(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and line.strip() not in _LIQUID]


def judge(written: str, note: str, day: date) -> dict[str, float]:
    """Each shown item's signal (by link) from the day's section as written and the note now; {} if none."""
    section = _section(note, day)
    if section is None or _plain(section) == _plain(written):
        return {}
    before, after = items(written), items(section)
    if not after:
        return {}
    signals = {}
    for url, item in before.items():
        now = after.get(url)
        if now is None:
            signals[url] = DELETED
        elif now.line != item.line or now.heading != item.heading or set(now.below) - set(item.below):
            signals[url] = ANNOTATED
        else:
            signals[url] = KEPT
    return signals


def features(s: Scored) -> list[str]:
    """What an item is judged by: its topics, matched keywords, first author, source and title phrases."""
    c = s.candidate
    out = [f"topic:{m.topic}" for m in s.matches]
    out += [f"term:{t}" for m in s.matches for t in m.terms]
    if c.authors:
        out.append(f"author:{c.authors[0]}")
    if c.sources:
        out.append(f"source:{c.sources[0]}")
    out += sorted(f"phrase:{p}" for p in document_phrases(c.title, "") if not boilerplate(p))
    return list(dict.fromkeys(out))


def _link(s: Scored) -> str:
    return safe_url(s.candidate.url) or s.candidate.url  # as the note shows it


def record_shown(conn: sqlite3.Connection, day: date, picked: Sequence[Scored]) -> None:
    """Keep what each of the day's items was shown with, for judging the day's note later."""
    rows = [
        (day.isoformat(), _link(s), json.dumps(features(s), ensure_ascii=False)) for s in picked
    ]
    # Added to the day's earlier runs, not replacing them: a same-day re-run may leave the note as the reader
    # edited it (digest/delivery/notes.py), and its items are judged by what they were shown with.
    conn.execute("begin immediate")
    try:
        conn.executemany("insert or replace into reader_shown (day, url, features) values (?, ?, ?)", rows)
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


def collect(conn: sqlite3.Connection, config: Config, archive_dir: Path, day: date) -> int:
    """Judge the notes of the days before ``day`` (since the last reset); returns the items judged."""
    if not config.notes_dir or not config.markdown.enabled:
        return 0
    since = max(day - timedelta(days=FEEDBACK_DAYS), _reset_day(conn) + timedelta(days=1))
    shown_days = [
        date.fromisoformat(r[0])
        for r in conn.execute(
            "select distinct day from reader_shown where day >= ? and day < ?",
            (since.isoformat(), day.isoformat()),
        )
    ]
    rows: list[tuple[str, str, float]] = []
    for d in shown_days:
        try:
            path = note_path(config.markdown, d)
            note = path.read_bytes().decode("utf-8")
            # What the note was written with; before that was recorded, the archive's Markdown (the same,
            # unless a re-run left the reader's edited section alone and archived its own).
            written = _written(conn, d, path) or (archive_dir / f"{d}.md").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, DigestError):
            continue  # no note or no archive for the day: nothing to judge
        rows += [(d.isoformat(), url, signal) for url, signal in judge(written, note, d).items()]
    conn.execute("begin immediate")
    try:
        conn.executemany("delete from reader_feedback where day = ?", [(d.isoformat(),) for d in shown_days])
        conn.executemany("insert into reader_feedback (day, url, signal) values (?, ?, ?)", rows)
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")
    return len(rows)


def _written(conn: sqlite3.Connection, day: date, path: Path) -> str | None:
    row = conn.execute(
        "select section from notes_written where day = ? and path = ?", (day.isoformat(), str(path))
    ).fetchone()
    return str(row[0]) if row else None


def _reset_day(conn: sqlite3.Connection) -> date:
    row = conn.execute("select max(day) from reader_feedback_resets").fetchone()
    return date.fromisoformat(row[0]) if row and row[0] else date.min


def reset(conn: sqlite3.Connection, day: date) -> int:
    """Forget what was learned: the judgments so far, and the days up to ``day`` from now on."""
    n = conn.execute("select count(*) from reader_feedback").fetchone()[0]
    conn.execute("begin immediate")
    conn.execute("delete from reader_feedback")
    conn.execute("insert into reader_feedback_resets (day) values (?)", (day.isoformat(),))
    conn.execute("commit")
    return int(n)


@dataclass(frozen=True)
class Record:
    """One feature's record: items with it kept (annotated among them) and deleted."""

    feature: str
    kept: int
    annotated: int
    deleted: int
    score: float  # sum of the signals

    @property
    def value(self) -> float:
        """In (-1, 1): how much the reader wants items with this feature, damped while evidence is thin."""
        return self.score / (self.kept + self.deleted + EVIDENCE)

    @property
    def judged(self) -> int:
        return self.kept + self.deleted


@dataclass(frozen=True)
class Learned:
    records: dict[str, Record]

    def __bool__(self) -> bool:
        return bool(self.records)

    def boost(self, s: Scored, weight: float) -> float:
        total = sum(self.records[f].value for f in features(s) if f in self.records)
        return round(weight * math.tanh(total), 4)

    def reason(self, s: Scored) -> str:
        """``이 키워드(DPO)의 항목을 최근 5번 남기고 1번 지움``: the best-evidenced feature of ``s``."""
        known = [self.records[f] for f in features(s) if f in self.records]
        said = [r for r in known if r.judged >= SAY_AFTER and r.feature.split(":")[0] in _WHAT]
        if not said:
            return ""
        # The most telling feature; between equals the most specific (a keyword before its topic).
        r = max(said, key=lambda r: (round(abs(r.value), 6), r.judged, _SPECIFIC[r.feature.split(":")[0]]))
        kind, _, name = r.feature.partition(":")
        if kind == "topic":
            name = next((m.label for m in s.matches if m.topic == name), name)
        if r.kept and r.deleted:
            done = f"{r.kept}번 남기고 {r.deleted}번 지움"
        else:
            done = f"{r.kept}번 남김" if r.kept else f"{r.deleted}번 지움"
        return f"{_WHAT[kind]}({name})의 항목을 최근 {done}"

    def suggestions(self, config: Config) -> list[str]:
        """Keywords and title phrases deleted ``SUGGEST_AFTER`` times or more and never kept."""
        out = []
        for r in sorted(self.records.values(), key=lambda r: (-r.deleted, r.feature)):
            kind, _, name = r.feature.partition(":")
            if r.kept or r.deleted < SUGGEST_AFTER:
                continue
            if kind == "phrase":
                out.append(
                    f'you deleted all {r.deleted} items whose title has "{name}": to stop them, add it '
                    "to the topic's exclude list"
                )
            elif kind == "term":
                topics = [k for k, t in config.topics.items() if name in t.keywords]
                where = f" of [topics.{topics[0]}]" if topics else ""
                out.append(
                    f'you deleted all {r.deleted} items matched by the keyword "{name}"{where}: consider '
                    "removing it from keywords, or adding the phrases you do not want to exclude"
                )
        return out


_WHAT = {"term": "이 키워드", "topic": "이 주제", "author": "이 저자", "source": "이 출처"}
_SPECIFIC = {"term": 3, "author": 2, "topic": 1, "source": 0}


def learn(conn: sqlite3.Connection, day: date) -> Learned:
    """Every feature's record from the judgments of the ``FEEDBACK_DAYS`` before ``day``."""
    since = (day - timedelta(days=FEEDBACK_DAYS)).isoformat()
    rows = conn.execute(
        "select f.signal, s.features from reader_feedback f join reader_shown s using (day, url) "
        "where f.day >= ? and f.day < ?",
        (since, day.isoformat()),
    )
    return learned_from((float(signal), json.loads(feats)) for signal, feats in rows)


def learned_from(judgments: Iterable[tuple[float, Sequence[str]]]) -> Learned:
    """Every feature's record from judgments (signal, the judged item's features)."""
    kept: Counter[str] = Counter()
    annotated: Counter[str] = Counter()
    deleted: Counter[str] = Counter()
    score: dict[str, float] = {}
    for signal, feats in judgments:
        for feature in feats:
            score[feature] = score.get(feature, 0.0) + signal
            if signal < 0:
                deleted[feature] += 1
            else:
                kept[feature] += 1
                annotated[feature] += signal >= ANNOTATED
    return Learned(
        {
            f: Record(f, kept[f], annotated[f], deleted[f], score[f])
            for f in set(kept) | set(deleted)
        }
    )


def apply(scored: Sequence[Scored], learned: Learned, weight: float) -> list[Scored]:
    """``scored`` with each candidate's feedback boost added to its ``personal`` boost."""
    out = []
    for s in scored:
        boost = learned.boost(s, weight)
        out.append(replace(s, personal=round(s.personal + boost, 4)) if boost else s)
    return out


def describe(learned: Learned, limit: int = 20) -> Iterable[str]:
    """The strongest learned features, one line each, for `digest feedback`."""
    ranked = sorted(learned.records.values(), key=lambda r: (-abs(r.value), -r.judged, r.feature))
    for r in ranked[:limit]:
        yield f"{r.value:+.2f}  {r.feature}  (kept {r.kept}, with notes {r.annotated}, deleted {r.deleted})"
