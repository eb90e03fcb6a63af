"""The SQLite state: seen items, takeaway cache, HTTP validators, listings, runs, deliveries, day statistics.

One file under ``state_dir``. Every write is its own transaction; SQLite's locking plus a
busy timeout keeps concurrent readers safe, and :func:`run_lock` keeps two runs from
working on the same state at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sqlite3
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

from ._compat import UTC
from .errors import StateBusyError, StateDamagedError, StateError, StateLockedError
from .migrations import MIGRATIONS
from .models import Candidate, DayStats, DayStatus, PhraseCounts, Scored, TopicMatch
from .trend.phrases import phrase_hash

DB_NAME = "digest.sqlite3"
LOCK_NAME = "digest.lock"
SERVICE_LOCK_NAME = "serve.lock"
BACKFILL_LOCK_NAME = "backfill.lock"
# How long a statement waits for another process's write lock (a backup or sync tool, a second copy of
# digest on a synced folder) before the run stops with one clear line instead of hanging on.
BUSY_TIMEOUT = 20.0

CANDIDATE_DAYS = 60  # days of shortlists kept: the weekly roundup reads one week


# The reason an abandoned run's row is given when nobody recorded one: its process is gone.
_INTERRUPTED = "interrupted: its process was stopped, or could not write the state, before the run ended"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class CachedResponse:
    url: str
    etag: str | None
    last_modified: str | None
    body: bytes
    fetched_at: str


@dataclass(frozen=True)
class CachedSearch:
    key: str
    window_start: datetime
    window_end: datetime
    fetched_at: datetime
    payload: bytes  # what the search stored (its items, serialized by the search)


@dataclass(frozen=True)
class Listing:
    day: date
    fingerprint: str
    count: int
    feed_date: str | None


@dataclass(frozen=True)
class RunRecord:
    id: int
    day: date
    started_at: str
    finished_at: str | None
    status: str
    items: int
    sources: dict[str, Any]
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    fallbacks: int
    seconds: float | None
    delivery: dict[str, int] | None = None  # what this run's email did; None: it sent none
    error: str = ""  # why it failed or was abandoned, one line
    pid: int | None = None  # the process that ran it (None: recorded before digest kept it)


@dataclass(frozen=True)
class EndpointFormat:
    """The response format an LLM endpoint last accepted, and what it refused before."""

    response_format: str
    rejected: str
    checked_at: str  # ISO time in UTC

    @property
    def age_days(self) -> float:
        try:
            then = datetime.fromisoformat(self.checked_at)
        except ValueError:
            return float("inf")
        return (datetime.now(UTC) - then).total_seconds() / 86400


@dataclass(frozen=True)
class Delivery:
    day: date
    recipient: str
    status: str
    attempts: int
    last_error: str
    message_id: str
    updated_at: str
    fallbacks: int = 0  # marked fallback lines in the email last sent (or tried)
    replaces: str = ""  # the Message-ID of the earlier email a forced resend replaced
    weekly: bool = False  # a weekly roundup's: ``day`` is the week's Monday


@dataclass(frozen=True)
class ChannelPost:
    """A digest's post to one chat channel (``day`` is the Monday for a weekly roundup's)."""

    day: date
    channel: str
    status: str  # sent | pending | failed
    parts_sent: int
    parts: int
    attempts: int
    last_error: str
    fallbacks: int
    updated_at: str
    weekly: bool = False
    destination: str = ""


@dataclass(frozen=True)
class LLMHold:
    """A day whose digest scheduled runs keep back while the LLM cannot be reached."""

    day: date
    since: datetime
    attempts: int
    reason: str
    outcome: str  # waiting | recovered | sent with fallbacks


class State:
    """Access to the state database. Open with :meth:`open`; close when done."""

    def __init__(self, conn: sqlite3.Connection, directory: Path) -> None:
        self.conn = conn
        self.directory = directory
        self.busy_timeout = BUSY_TIMEOUT

    @classmethod
    def open(cls, directory: str | Path, *, busy_timeout: float = BUSY_TIMEOUT) -> State:
        """Open (and upgrade) the state; a damaged or locked database is a StateError in one line."""
        directory = ensure_directory(Path(directory).expanduser())
        path = directory / DB_NAME
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"pragma busy_timeout={int(busy_timeout * 1000)}")
            conn.execute("pragma journal_mode=wal")
            # One read of every page (about 0.1 s for a 40 MB state): found here, a damaged page is one
            # clear line before any work, not a traceback from whichever query first touches it.
            problem = integrity_problem(conn)
            if problem:
                raise StateDamagedError(damaged_message(path, problem))
            state = cls(conn, directory)
            state.busy_timeout = busy_timeout
            state._migrate()
        except sqlite3.DatabaseError as e:
            if conn is not None:
                conn.close()
            raise database_error(path, e, busy_timeout) from None
        except StateError:
            if conn is not None:
                conn.close()
            raise
        return state

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close()
        # A query in the block that met a damaged page, a full disk or a lock held too long: one line
        # that says what and how to recover, wherever the query was.
        if isinstance(exc, sqlite3.DatabaseError):
            raise database_error(self.path, exc, self.busy_timeout) from None

    @property
    def path(self) -> Path:
        return self.directory / DB_NAME

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("begin immediate")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("rollback")
            raise
        else:
            self.conn.execute("commit")

    def _migrate(self) -> None:
        with self.transaction() as db:
            db.execute("create table if not exists _migrations (name text primary key, applied_at text)")
            done = {r[0] for r in db.execute("select name from _migrations")}
            for fn in MIGRATIONS:
                if fn.__name__ not in done:
                    fn(db)
                    db.execute("insert into _migrations values (?, ?)", (fn.__name__, _now()))

    @property
    def archive_dir(self) -> Path:
        return self.directory / "archive"

    # -- seen items -------------------------------------------------------------------------

    def shown_before(self, keys: list[str], day: date) -> set[str]:
        """Keys shown in a digest for a day before ``day``; a re-run of the same day shows them again."""
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = self.conn.execute(
                f"select key from seen where first_shown < ? and key in ({','.join('?' * len(chunk))})",
                [day.isoformat(), *chunk],
            )
            found.update(r[0] for r in rows)
        return found

    def mark_shown(self, items: list[tuple[str, int | None, str]], day: date) -> None:
        with self.transaction() as db:
            db.executemany(
                "insert into seen (key, version, title, first_shown) values (?, ?, ?, ?) "
                "on conflict(key) do update set version = excluded.version",
                [(k, v, t, day.isoformat()) for k, v, t in items],
            )

    # -- the daily-log note -----------------------------------------------------------------

    def note_written(self, day: date, path: Path) -> str | None:
        """The section digest last wrote into ``path`` for ``day``, as written; None if it never did."""
        row = self.conn.execute(
            "select section from notes_written where day = ? and path = ?", (day.isoformat(), str(path))
        ).fetchone()
        return str(row[0]) if row else None

    def record_note_written(self, day: date, path: Path, section: str) -> None:
        with self.transaction() as db:
            db.execute(
                "insert or replace into notes_written (day, path, section, written_at) values (?, ?, ?, ?)",
                (day.isoformat(), str(path), section, _now()),
            )

    # -- takeaway cache ---------------------------------------------------------------------

    def cached_takeaways(
        self, keys: list[tuple[str, int]], model: str, prompt_version: str
    ) -> dict[str, str]:
        """Cached lines by key. Version 0 means "not known" (a paper seen only on Hugging Face): it
        matches the paper's first version, and asking with 0 takes the newest version cached, so
        the same paper is never paid for twice just because one source omits its version."""
        out: dict[str, str] = {}
        for key, version in keys:
            row = self.conn.execute(
                "select text from takeaways where key = ? and model = ? and prompt_version = ?"
                " and (version = ? or (version = 0 and ? <= 1) or ? = 0)"
                " order by version desc limit 1",
                (key, model, prompt_version, version, version, version),
            ).fetchone()
            if row:
                out[key] = row[0]
        return out

    def store_takeaways(self, rows: list[tuple[str, int, str]], model: str, prompt_version: str) -> None:
        with self.transaction() as db:
            db.executemany(
                "insert or replace into takeaways values (?, ?, ?, ?, ?, ?)",
                [(k, v, model, prompt_version, text, _now()) for k, v, text in rows],
            )

    # -- LLM endpoints ----------------------------------------------------------------------

    def llm_endpoint(self, base_url: str, model: str) -> EndpointFormat | None:
        row = self.conn.execute(
            "select * from llm_endpoints where base_url = ? and model = ?", (base_url, model)
        ).fetchone()
        if row is None:
            return None
        return EndpointFormat(row["response_format"], row["rejected"], row["checked_at"])

    def remember_llm_endpoint(self, base_url: str, model: str, response_format: str, rejected: str) -> None:
        with self.transaction() as db:
            db.execute(
                "insert or replace into llm_endpoints values (?, ?, ?, ?, ?)",
                (base_url, model, response_format, rejected, _now()),
            )

    # -- HTTP validators --------------------------------------------------------------------

    def cached_response(self, url: str) -> CachedResponse | None:
        row = self.conn.execute("select * from http_cache where url = ?", (url,)).fetchone()
        if row is None:
            return None
        try:
            body = zlib.decompress(row["body"])
        except zlib.error:
            return None
        return CachedResponse(url, row["etag"], row["last_modified"], body, row["fetched_at"])

    def store_response(self, url: str, etag: str | None, last_modified: str | None, body: bytes) -> None:
        with self.transaction() as db:
            db.execute(
                "insert or replace into http_cache values (?, ?, ?, ?, ?)",
                # Level 1: a 20 MB listing compresses in a tenth of the default level's time, and the
                # stored copy is only read back on a 304.
                (url, etag, last_modified, zlib.compress(body, 1), _now()),
            )

    # -- arXiv API search results -----------------------------------------------------------

    def cached_search(self, key: str) -> CachedSearch | None:
        row = self.conn.execute("select * from search_cache where key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            payload = zlib.decompress(row["items"])
            return CachedSearch(
                key,
                datetime.fromisoformat(row["window_start"]),
                datetime.fromisoformat(row["window_end"]),
                datetime.fromisoformat(row["fetched_at"]),
                payload,
            )
        except (zlib.error, ValueError):
            return None

    def store_search(
        self, key: str, window_start: datetime, window_end: datetime, payload: bytes, fetched_at: datetime
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "insert or replace into search_cache values (?, ?, ?, ?, ?)",
                (
                    key,
                    window_start.isoformat(),
                    window_end.isoformat(),
                    fetched_at.isoformat(),
                    zlib.compress(payload, 1),
                ),
            )

    # -- arXiv listings (stale detection) ---------------------------------------------------

    def listing_before(self, day: date) -> Listing | None:
        row = self.conn.execute(
            "select * from listings where day < ? order by day desc limit 1", (day.isoformat(),)
        ).fetchone()
        return self._listing(row)

    def listing_for(self, day: date) -> Listing | None:
        row = self.conn.execute("select * from listings where day = ?", (day.isoformat(),)).fetchone()
        return self._listing(row)

    @staticmethod
    def _listing(row: sqlite3.Row | None) -> Listing | None:
        if row is None:
            return None
        return Listing(date.fromisoformat(row["day"]), row["fingerprint"], row["count"], row["feed_date"])

    def record_listing(self, day: date, fingerprint: str, count: int, feed_date: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "insert or replace into listings values (?, ?, ?, ?)",
                (day.isoformat(), fingerprint, count, feed_date),
            )

    # -- day statistics (the trend) ---------------------------------------------------------

    def record_day_stats(self, stats: DayStats) -> bool:
        """Store one day's numbers, replacing that day's row (and phrases); returns whether it was stored.

        A counted day is never replaced by a day without numbers: a failed fetch on a re-run, a cut-off
        listing, does not erase what an earlier run counted. Nor is a day counted from its listing replaced
        by one counted another way (the arXiv API's approximation of it, the sample's bundled numbers) --
        unless the listing's numbers were counted by other topic rules (changed keywords, a newer matcher):
        those can no longer be compared with anything, and the approximation can.
        Phrases counted from the same input by the same rules as the stored ones (``phrase_input``) are
        the stored ones: they are not written again, and a row that says the same is left as it is.
        """
        day = stats.day.isoformat()
        numbers = (
            str(stats.status),
            stats.origin,
            stats.pool,
            json.dumps(stats.topics, sort_keys=True),
            json.dumps(stats.topic_rules, sort_keys=True),
            json.dumps(stats.sources, sort_keys=True),
            stats.note,
        )
        with self.transaction() as db:
            old = db.execute(
                "select status, origin, pool, topics, topic_rules, sources, note, phrase_rules, phrase_input"
                " from day_stats where day = ?",
                (day,),
            ).fetchone()
            if old and old[0] == DayStatus.ANNOUNCED:
                if stats.status != DayStatus.ANNOUNCED:
                    return False
                same_rules = json.loads(old["topic_rules"]) == stats.topic_rules
                if old[1] == "listing" and stats.origin != "listing" and same_rules:
                    return False
            if (
                old
                and stats.phrases is not None
                and stats.phrase_input
                and (old["phrase_rules"], old["phrase_input"]) == (stats.phrase_rules, stats.phrase_input)
            ):
                if tuple(old)[:7] != numbers:
                    db.execute(
                        "update day_stats set status = ?, origin = ?, pool = ?, topics = ?, topic_rules = ?,"
                        " sources = ?, note = ?, updated_at = ? where day = ?",
                        (*numbers, _now(), day),
                    )
                return True
            singles = pack_hashes(single_hashes(stats.phrases)) if stats.phrases else None
            db.execute(
                "insert or replace into day_stats (day, status, origin, pool, topics, topic_rules, sources,"
                " note, phrase_rules, single_phrases, phrase_input, updated_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (day, *numbers, stats.phrase_rules, singles, stats.phrase_input, _now()),
            )
            if old:
                db.execute("delete from day_phrases where day = ?", (day,))
            if stats.phrases:
                p = stats.phrases
                db.executemany(
                    "insert into day_phrases values (?, ?, ?, ?)",
                    ((day, k, p.docs[k], n) for k, n in p.first_authors.items() if p.docs.get(k, 0) >= 2),
                )
        return True

    def day_stats(self, start: date, end: date) -> list[DayStats]:
        """The stored days from ``start`` to ``end`` (both included), oldest first, without their phrases."""
        rows = self.conn.execute(
            "select * from day_stats where day between ? and ? order by day",
            (start.isoformat(), end.isoformat()),
        )
        return [self._day_stats(r) for r in rows]

    def first_stats_day(self) -> date | None:
        """The earliest day with a row: before it this state has no history (not gaps)."""
        row = self.conn.execute("select min(day) from day_stats").fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    def load_day_stats(self, day: date) -> DayStats | None:
        """One stored day, with its phrases."""
        row = self.conn.execute("select * from day_stats where day = ?", (day.isoformat(),)).fetchone()
        if row is None:
            return None
        stats = self._day_stats(row)
        cursor = self.conn.cursor()
        cursor.row_factory = None  # plain tuples: a day has thousands of rows
        rows = cursor.execute(
            "select phrase, docs, first_authors from day_phrases where day = ?", (day.isoformat(),)
        ).fetchall()
        phrases = PhraseCounts(
            papers=stats.pool or 0,
            docs=dict(map(itemgetter(0, 1), rows)),
            first_authors=dict(map(itemgetter(0, 2), rows)),
            single=unpack_hashes(row["single_phrases"]),
        )
        return DayStats(**{**stats.__dict__, "phrases": phrases})

    @staticmethod
    def _day_stats(row: sqlite3.Row) -> DayStats:
        return DayStats(
            day=date.fromisoformat(row["day"]),
            status=DayStatus(row["status"]),
            origin=row["origin"],
            pool=row["pool"],
            topics=json.loads(row["topics"]),
            topic_rules=json.loads(row["topic_rules"]),
            sources=json.loads(row["sources"]),
            phrase_rules=row["phrase_rules"],
            note=row["note"],
            phrase_input=row["phrase_input"],
        )

    def phrase_counts(self, phrases: list[str], days: list[date]) -> dict[str, int]:
        """Papers with each phrase over ``days``: its rows, plus one for each day whose single-paper hashes
        hold it."""
        if not phrases or not days:
            return {}
        counts = dict.fromkeys(phrases, 0)
        day_args = [d.isoformat() for d in days]
        day_marks = ",".join("?" * len(day_args))
        for i in range(0, len(phrases), 400):
            chunk = phrases[i : i + 400]
            # One statement for every day: a primary-key lookup per (day, phrase), 30 % less than a
            # statement per day (20 days × 3,700 candidates: 21 ms).
            rows = self.conn.execute(
                f"select phrase, docs from day_phrases where day in ({day_marks})"
                f" and phrase in ({','.join('?' * len(chunk))})",
                [*day_args, *chunk],
            )
            for phrase, n in rows:
                counts[phrase] += n
        by_hash: dict[int, list[str]] = {}
        for phrase, h in zip(phrases, map(zlib.crc32, map(str.encode, phrases)), strict=True):
            by_hash.setdefault(h, []).append(phrase)
        wanted = set(by_hash)
        for (blob,) in self.conn.execute(
            f"select single_phrases from day_stats where day in ({','.join('?' * len(day_args))})", day_args
        ):
            for h in wanted.intersection(unpack_hashes(blob)):
                for phrase in by_hash[h]:
                    counts[phrase] += 1
        return counts

    def phrases_seen_before(self, phrases: list[str], day: date) -> set[str]:
        """Those of ``phrases`` found on any stored day before ``day``."""
        seen: set[str] = set()
        if not phrases:
            return seen
        rows = self.conn.execute(
            # CROSS JOIN keeps day_stats as the outer loop: one primary-key lookup per stored day.
            "select distinct p.phrase from day_stats s cross join day_phrases p on p.day = s.day"
            f" where s.day < ? and p.phrase in ({','.join('?' * len(phrases))})",
            [day.isoformat(), *phrases],
        )
        seen.update(r[0] for r in rows)
        rest = {p: crc(p) for p in phrases if p not in seen}
        if rest:
            for (blob,) in self.conn.execute(
                "select single_phrases from day_stats where day < ? and single_phrases is not null",
                (day.isoformat(),),
            ):
                singles = unpack_hashes(blob)
                seen.update(p for p, h in rest.items() if _sorted_contains(singles, h))
        return seen

    def cached_flow(self, day: date, input_hash: str, model: str) -> str | None:
        """The paragraph shown for this day's input with ``model``, whichever prompt wrote it: what was
        shown is shown again (an upgrade's new prompt writes only days not shown yet)."""
        row = self.conn.execute(
            "select text from flows where day = ? and input_hash = ? and model = ?"
            " order by created_at desc, rowid desc limit 1",
            (day.isoformat(), input_hash, model),
        ).fetchone()
        return row[0] if row else None

    def store_flow(self, day: date, input_hash: str, model: str, prompt_version: str, text: str) -> None:
        with self.transaction() as db:
            db.execute(
                "insert or replace into flows values (?, ?, ?, ?, ?, ?)",
                (day.isoformat(), input_hash, model, prompt_version, text, _now()),
            )

    # -- day shortlists (the weekly roundup) --------------------------------------------------

    def record_day_candidates(self, day: date, scored: list[Scored], origin: str) -> bool:
        """Store ``day``'s shortlist (best first), replacing the day's rows; returns whether it was stored.

        A backfill's shortlist (origin "api") never replaces a digest run's, and an empty one never
        replaces anything. Shortlists older than CANDIDATE_DAYS before ``day`` are dropped.
        """
        if not scored:
            return False
        key = day.isoformat()
        rows = [
            (
                key,
                s.candidate.key,
                rank,
                origin,
                s.relevance,
                s.candidate.upvotes,
                s.candidate.version,
                json.dumps(list(s.topics)),
                json.dumps(list(s.candidate.sources)),
                zlib.compress(json.dumps(_scored_to_json(s), ensure_ascii=False).encode(), 6),
            )
            for rank, s in enumerate(scored)
        ]
        with self.transaction() as db:
            if origin == "api":
                other = db.execute(
                    "select 1 from day_candidates where day = ? and origin != 'api' limit 1", (key,)
                ).fetchone()
                if other:
                    return False
            db.execute("delete from day_candidates where day = ?", (key,))
            db.executemany("insert into day_candidates values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            oldest = (day - timedelta(days=CANDIDATE_DAYS)).isoformat()
            db.execute("delete from day_candidates where day < ?", (oldest,))
        return True

    def day_candidates(self, start: date, end: date) -> dict[date, list[Scored]]:
        """The stored shortlists from ``start`` to ``end`` (both included), by day, best first."""
        out: dict[date, list[Scored]] = {}
        rows = self.conn.execute(
            "select day, item from day_candidates where day between ? and ? order by day, rank",
            (start.isoformat(), end.isoformat()),
        )
        for day, blob in rows:
            try:
                scored = _scored_from_json(json.loads(zlib.decompress(blob)))
            except (zlib.error, ValueError, KeyError, TypeError):
                continue  # unreadable (written by another version): that one item is left out
            out.setdefault(date.fromisoformat(day), []).append(scored)
        return out

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, day: date) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "insert into runs (day, started_at, status, pid) values (?, ?, 'running', ?)",
                (day.isoformat(), _now(), os.getpid()),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, *, status: str, **fields: Any) -> None:
        allowed = {
            "items",
            "llm_calls",
            "prompt_tokens",
            "completion_tokens",
            "fallbacks",
            "seconds",
            "sources",
            "error",
        }
        sets = {k: (json.dumps(v, ensure_ascii=False) if k == "sources" else v) for k, v in fields.items()}
        unknown = set(sets) - allowed
        if unknown:
            raise ValueError(f"unknown run fields: {unknown}")
        cols = ", ".join(f"{k} = ?" for k in sets)
        with self.transaction() as db:
            db.execute(
                f"update runs set status = ?, finished_at = ?{', ' + cols if cols else ''} where id = ?",
                (status, _now(), *sets.values(), run_id),
            )

    def abandon_unfinished_runs(self) -> int:
        """Mark runs left 'running' by a killed process; called while holding the run lock."""
        with self.transaction() as db:
            cur = db.execute(
                "update runs set status = 'abandoned', finished_at = ?, "
                "error = case when error = '' then ? else error end where status = 'running'",
                (_now(), _INTERRUPTED),
            )
            return cur.rowcount

    def recent_runs(self, limit: int = 10) -> list[RunRecord]:
        rows = self.conn.execute("select * from runs order by id desc limit ?", (limit,)).fetchall()
        return [
            RunRecord(
                id=r["id"],
                day=date.fromisoformat(r["day"]),
                started_at=r["started_at"],
                finished_at=r["finished_at"],
                status=r["status"],
                items=r["items"],
                sources=json.loads(r["sources"] or "{}"),
                llm_calls=r["llm_calls"],
                prompt_tokens=r["prompt_tokens"],
                completion_tokens=r["completion_tokens"],
                fallbacks=r["fallbacks"],
                seconds=r["seconds"],
                delivery=json.loads(r["delivery"]) if r["delivery"] else None,
                error=r["error"],
                pid=r["pid"],
            )
            for r in rows
        ]

    def record_run_delivery(self, run_id: int, counts: dict[str, int]) -> None:
        """What the email of run ``run_id`` did (sent, pending, failed, skipped per recipient)."""
        with self.transaction() as db:
            db.execute("update runs set delivery = ? where id = ?", (json.dumps(counts), run_id))

    def set_run_status(self, run_id: int, status: str) -> None:
        with self.transaction() as db:
            db.execute("update runs set status = ? where id = ?", (status, run_id))

    # -- LLM holds (scheduled runs waiting for the LLM) ---------------------------------------

    def llm_hold(self, day: date) -> LLMHold | None:
        row = self.conn.execute("select * from llm_holds where day = ?", (day.isoformat(),)).fetchone()
        if row is None:
            return None
        return LLMHold(
            day=date.fromisoformat(row["day"]),
            since=datetime.fromisoformat(row["since"]),
            attempts=row["attempts"],
            reason=row["reason"],
            outcome=row["outcome"],
        )

    def hold_for_llm(self, day: date, since: datetime, reason: str) -> LLMHold:
        """Count one more held attempt for ``day`` (the first one sets ``since``); returns the hold."""
        with self.transaction() as db:
            db.execute(
                """insert into llm_holds (day, since, attempts, reason) values (?, ?, 1, ?)
                   on conflict(day) do update set attempts = attempts + 1, reason = excluded.reason,
                   outcome = 'waiting'""",
                (day.isoformat(), since.isoformat(), reason),
            )
        hold = self.llm_hold(day)
        assert hold is not None
        return hold

    def end_llm_hold(self, day: date, outcome: str) -> None:
        with self.transaction() as db:
            db.execute("update llm_holds set outcome = ? where day = ?", (outcome, day.isoformat()))

    # -- deliveries -------------------------------------------------------------------------

    # A weekly roundup's deliveries (``weekly=True``) are keyed by the week's Monday in a table of their own.

    def delivery(self, day: date, recipient: str, *, weekly: bool = False) -> Delivery | None:
        sql = f"select * from {_deliveries(weekly)} where day = ? and recipient = ?"
        row = self.conn.execute(sql, (day.isoformat(), recipient)).fetchone()
        return self._delivery(row, weekly) if row else None

    def deliveries(
        self, *, status: str | None = None, day: date | None = None, weekly: bool = False
    ) -> list[Delivery]:
        sql, args = f"select * from {_deliveries(weekly)} where 1=1", list[str]()
        if status:
            sql, args = sql + " and status = ?", [*args, status]
        if day:
            sql, args = sql + " and day = ?", [*args, day.isoformat()]
        return [self._delivery(r, weekly) for r in self.conn.execute(sql + " order by day, recipient", args)]

    @staticmethod
    def _delivery(row: sqlite3.Row, weekly: bool = False) -> Delivery:
        return Delivery(
            day=date.fromisoformat(row["day"]),
            recipient=row["recipient"],
            status=row["status"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            message_id=row["message_id"],
            updated_at=row["updated_at"],
            fallbacks=row["fallbacks"],
            replaces=row["replaces"],
            weekly=weekly,
        )

    def record_delivery(
        self,
        day: date,
        recipient: str,
        status: str,
        *,
        error: str = "",
        message_id: str = "",
        attempt: bool = True,
        fallbacks: int | None = None,
        replaces: str | None = None,
        weekly: bool = False,
    ) -> None:
        """Record a send's outcome; ``attempt=False`` claims the send before trying it.

        ``fallbacks`` and ``replaces`` are kept as they are when not given.
        """
        step = 1 if attempt else 0
        with self.transaction() as db:
            db.execute(
                f"""insert into {_deliveries(weekly)}
                       (day, recipient, status, attempts, last_error, message_id, updated_at,
                        fallbacks, replaces)
                   values (?, ?, ?, ?, ?, ?, ?, coalesce(?, 0), coalesce(?, ''))
                   on conflict(day, recipient) do update set status = excluded.status,
                   attempts = attempts + excluded.attempts, last_error = excluded.last_error,
                   message_id = case when excluded.message_id != ''
                                     then excluded.message_id else message_id end,
                   updated_at = excluded.updated_at,
                   fallbacks = coalesce(?, fallbacks), replaces = coalesce(?, replaces)""",
                (
                    day.isoformat(),
                    recipient,
                    status,
                    step,
                    error,
                    message_id,
                    _now(),
                    fallbacks,
                    replaces,
                    fallbacks,
                    replaces,
                ),
            )


    # -- chat channel posts -------------------------------------------------------------------

    def channel_post(self, day: date, channel: str, *, weekly: bool = False) -> ChannelPost | None:
        row = self.conn.execute(
            "select * from channel_posts where day = ? and weekly = ? and channel = ?",
            (day.isoformat(), int(weekly), channel),
        ).fetchone()
        return self._channel_post(row) if row else None

    def channel_posts(self, *, status: str | None = None, day: date | None = None) -> list[ChannelPost]:
        sql, args = "select * from channel_posts where 1=1", list[Any]()
        if status:
            sql, args = sql + " and status = ?", [*args, status]
        if day:
            sql, args = sql + " and day = ?", [*args, day.isoformat()]
        rows = self.conn.execute(sql + " order by day, weekly, channel", args)
        return [self._channel_post(r) for r in rows]

    @staticmethod
    def _channel_post(row: sqlite3.Row) -> ChannelPost:
        return ChannelPost(
            day=date.fromisoformat(row["day"]),
            channel=row["channel"],
            status=row["status"],
            parts_sent=row["parts_sent"],
            parts=row["parts"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            fallbacks=row["fallbacks"],
            updated_at=row["updated_at"],
            weekly=bool(row["weekly"]),
            destination=row["destination"],
        )

    def record_channel_post(
        self,
        day: date,
        channel: str,
        status: str,
        *,
        parts_sent: int,
        parts: int,
        error: str = "",
        attempts: int = 0,
        fallbacks: int = 0,
        destination: str = "",
        weekly: bool = False,
    ) -> None:
        """Record where a post stands; ``attempts`` (HTTP requests made) add up over the runs."""
        with self.transaction() as db:
            db.execute(
                """insert into channel_posts
                       (day, weekly, channel, status, parts_sent, parts, attempts, last_error, fallbacks,
                        destination, updated_at)
                   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   on conflict(day, weekly, channel) do update set status = excluded.status,
                   parts_sent = excluded.parts_sent, parts = excluded.parts,
                   attempts = attempts + excluded.attempts, last_error = excluded.last_error,
                   fallbacks = excluded.fallbacks, destination = excluded.destination,
                   updated_at = excluded.updated_at""",
                (day.isoformat(), int(weekly), channel, status, parts_sent, parts, attempts, error, fallbacks,
                 destination, _now()),  # fmt: skip
            )


def _scored_to_json(s: Scored) -> dict[str, Any]:
    c = s.candidate
    return {
        "candidate": {
            **{k: getattr(c, k) for k in _CANDIDATE_FIELDS},
            "published": c.published.isoformat() if c.published else None,
        },
        "matches": [
            {"topic": m.topic, "label": m.label, "score": m.score, "terms": m.terms, "where": m.where}
            for m in s.matches
        ],
        "relevance": s.relevance,
        "popularity": s.popularity,
    }


_CANDIDATE_FIELDS = (
    "key", "kind", "title", "url", "summary", "authors", "categories", "sources", "version", "arxiv_id",
    "announce_type", "upvotes", "feed_name", "comment", "repository",
)  # fmt: skip
_TUPLES = ("authors", "categories", "sources")


def _scored_from_json(data: dict[str, Any]) -> Scored:
    c = dict(data["candidate"])
    for k in _TUPLES:
        c[k] = tuple(c[k])
    c["published"] = datetime.fromisoformat(c["published"]) if c.get("published") else None
    matches = tuple(
        TopicMatch(m["topic"], m["label"], float(m["score"]), tuple(m["terms"]), tuple(m["where"]))
        for m in data["matches"]
    )
    return Scored(Candidate(**c), matches, float(data["relevance"]), float(data.get("popularity", 0.0)))


def _deliveries(weekly: bool) -> str:
    return "week_deliveries" if weekly else "deliveries"


crc = phrase_hash


def single_hashes(phrases: PhraseCounts) -> Sequence[int]:
    """The sorted hashes of the phrases found in one paper."""
    # Counted and loaded counts carry them in ``single`` already; a hand-built ``docs`` may hold more.
    several = phrases.first_authors
    more = [p for p, n in phrases.docs.items() if n < 2 or p not in several]
    if not more:
        return phrases.single
    return sorted(set(map(zlib.crc32, map(str.encode, more))).union(phrases.single))


def pack_hashes(hashes: Sequence[int]) -> bytes:
    a = array("I", hashes)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def unpack_hashes(blob: bytes | None) -> array[int]:
    a = array("I")
    if blob:
        a.frombytes(blob)
        if sys.byteorder == "big":
            a.byteswap()
    return a


def _sorted_contains(values: array[int], x: int) -> bool:
    i = bisect_left(values, x)
    return i < len(values) and values[i] == x


assert array("I").itemsize == 4, "the phrase hashes are stored as 4-byte integers"


def directory_error(directory: Path, e: OSError) -> StateError:
    """The one wording every command uses for a state_dir it cannot use."""
    reason = e.strerror or str(e)
    if directory.exists() and not directory.is_dir():
        return StateError(f"{directory}: the state directory is not a directory (state_dir)")
    if not directory.exists():
        return StateError(f"{directory}: cannot create the state directory: {reason}")
    return StateError(f"{directory}: cannot write in the state directory: {reason}")


def _is_locked(e: sqlite3.DatabaseError) -> bool:
    return isinstance(e, sqlite3.OperationalError) and ("locked" in str(e) or "busy" in str(e))


def integrity_problem(conn: sqlite3.Connection) -> str | None:
    """None when ``quick_check`` finds the file sound; else which tables are damaged (or what it said)."""
    try:
        problems = [r[0] for r in conn.execute("pragma quick_check(20)")]
    except sqlite3.DatabaseError as e:  # a page so broken the check itself stops on it
        if _is_locked(e):
            raise
        problems = [str(e)]
    if problems == ["ok"]:
        return None
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
    except sqlite3.DatabaseError:
        tables = []  # the schema itself is damaged
    damaged = []
    for table in tables:  # only on this rare path: one check per table names the damaged ones
        try:
            quoted = table.replace('"', '""')
            sound = [r[0] for r in conn.execute(f'pragma quick_check("{quoted}")')] == ["ok"]
        except sqlite3.DatabaseError:
            sound = False
        if not sound:
            damaged.append(table)
    if damaged and len(damaged) < len(tables):
        return "damaged pages in " + ", ".join(damaged)
    return problems[0].strip() or "database disk image is malformed"


def damaged_message(path: Path, what: str) -> str:
    """What a user reads for a damaged state file: what is damaged, how to recover, what is lost."""
    return (
        f"the state database {path} is damaged ({what}); digest stopped before using it. To recover, run "
        "`digest repair`: it moves the file aside and starts a new state with every row that can still be "
        f"read, and lists what was lost (every digest stays in {path.parent / 'archive'}; or move the "
        f"file aside yourself, mv {path} {path}.damaged, and start empty: a paper shown before may show "
        "again, cached takeaways are paid again, `digest backfill` refills the trend's days)"
    )


def database_error(path: Path, e: sqlite3.DatabaseError, busy_timeout: float = BUSY_TIMEOUT) -> StateError:
    """The one line for an SQLite error: a lock held too long, a full disk, a damaged file, or other."""
    text = str(e)
    if _is_locked(e):
        return StateLockedError(
            f"the state database {path} stayed locked by another process for more than {busy_timeout:g}s "
            "(a backup or sync tool, or a second copy of digest using this state_dir); "
            "stopped without waiting longer: run again once that process is done"
        )
    if "disk is full" in text or "disk I/O error" in text:
        try:
            full = "disk is full" in text or shutil.disk_usage(path.parent).free < 1 << 20
        except OSError:
            full = False
        if full:  # SQLite says "disk I/O error" when the WAL cannot grow
            return StateError(f"the disk holding the state database {path} is full ({text}); "
                              "free some space and run again")  # fmt: skip
        return StateError(f"cannot write the state database {path}: {text} (the disk reported an error)")
    if isinstance(e, sqlite3.OperationalError) and "unable to open" in text:
        return StateError(f"{path}: cannot open the state database: {text}")
    if isinstance(e, sqlite3.OperationalError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return StateError(f"{path}: cannot use the state database: {text}")
    return StateDamagedError(damaged_message(path, text))


def ensure_directory(directory: Path) -> Path:
    """``directory``, created if needed and writable, or a StateError in the shared wording."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise directory_error(directory, e) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise directory_error(directory, PermissionError(13, "Permission denied"))
    return directory


# What a second holder is told; {holder} is "pid N", {path} the lock file, {directory} the state_dir.
_RUN_BUSY = "another digest run is in progress ({holder}, lock {path}); try again when it has finished"
_BACKFILL_BUSY = "another `digest backfill` is running on {directory} ({holder}, lock {path}); let it finish"
_SERVICE_BUSY = (
    "another `digest serve` is already running on {directory} ({holder}, lock {path}); "
    "stop it first, or give this one its own state_dir"
)


@contextmanager
def _exclusive(directory: str | Path, name: str, busy: str) -> Iterator[None]:
    """Hold an flock on ``directory/name`` with our pid written in it; ``busy`` is the message when taken."""
    directory = ensure_directory(Path(directory).expanduser())
    path = directory / name
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise directory_error(directory, e) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise StateBusyError(busy.format(holder=holder, path=path, directory=directory)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)


def run_lock(directory: str | Path) -> AbstractContextManager[None]:
    """Hold the state directory's run lock; a second run gets a clear StateBusyError."""
    return _exclusive(directory, LOCK_NAME, _RUN_BUSY)


def service_lock(directory: str | Path) -> AbstractContextManager[None]:
    """Held by `digest serve` while it runs: two services on one state would each send the digest."""
    return _exclusive(directory, SERVICE_LOCK_NAME, _SERVICE_BUSY)


def backfill_lock(directory: str | Path) -> AbstractContextManager[None]:
    """Held by `digest backfill`: two at once would ask the arXiv API for the same days. (Not the run
    lock: a backfill takes minutes, and the daily run must not wait for it.)"""
    return _exclusive(directory, BACKFILL_LOCK_NAME, _BACKFILL_BUSY)


def run_lock_holder(directory: str | Path) -> int | None:
    """The pid written in the run lock by its last holder (the lock file is never emptied on release)."""
    try:
        text = (Path(directory).expanduser() / LOCK_NAME).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.fullmatch(r"pid (\d+)", text.strip())
    return int(m.group(1)) if m else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def run_is_alive(run: RunRecord, directory: str | Path) -> bool:
    """Whether a run recorded as 'running' still is: its process lives and holds the run lock.

    A run holds the lock from before its row is written until after it is finished, and the lock file
    names the holder, so a live process that is named there is the run's (a reused pid is not)."""
    holder = run_lock_holder(directory)
    if run.pid is None:  # a row from before the pid was kept: the lock's last holder is all there is
        return holder is not None and pid_alive(holder)
    return holder == run.pid and pid_alive(run.pid)
