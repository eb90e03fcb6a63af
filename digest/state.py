"""The SQLite state: seen items, takeaway cache, HTTP validators, listings, runs and deliveries.

One file under ``state_dir``. Every write is its own transaction; SQLite's locking plus a
busy timeout keeps concurrent readers safe, and :func:`run_lock` keeps two runs from
working on the same state at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ._compat import UTC
from .errors import StateBusyError, StateError

DB_NAME = "digest.sqlite3"
LOCK_NAME = "digest.lock"

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []


def _script(db: sqlite3.Connection, sql: str) -> None:
    # executescript() would COMMIT first and break the migration's transaction.
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


migration = MIGRATIONS.append


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        create table seen (
            key text primary key,          -- arxiv:<id> or url:<canonical url>
            version integer,
            title text not null,
            first_shown text not null      -- YYYY-MM-DD of the digest that first showed it
        );
        create table takeaways (
            key text not null,
            version integer not null,      -- 0 for items without versions
            model text not null,
            prompt_version text not null,
            text text not null,
            created_at text not null,
            primary key (key, version, model, prompt_version)
        );
        create table http_cache (
            url text primary key,
            etag text,
            last_modified text,
            body blob not null,            -- zlib-compressed, so a 304 can still yield the items
            fetched_at text not null
        );
        create table listings (
            day text primary key,          -- the digest date the listing was fetched for
            fingerprint text not null,     -- hash of the sorted arXiv ids
            count integer not null,
            feed_date text
        );
        create table runs (
            id integer primary key,
            day text not null,
            started_at text not null,
            finished_at text,
            status text not null,          -- running | ok | partial | failed | abandoned
            items integer not null default 0,
            sources text not null default '{}',   -- json: name -> {status, items, error}
            llm_calls integer not null default 0,
            prompt_tokens integer not null default 0,
            completion_tokens integer not null default 0,
            fallbacks integer not null default 0,
            seconds real
        );
        create table deliveries (
            day text not null,
            recipient text not null,
            status text not null,          -- sent | pending | failed
            attempts integer not null default 0,
            last_error text not null default '',
            message_id text not null default '',
            updated_at text not null,
            primary key (day, recipient)
        );
        """
    )


@migration
def m003_llm_endpoints(db: sqlite3.Connection) -> None:
    # What each LLM endpoint accepts, so a server that rejects json_schema is not asked for it every run.
    _script(
        db,
        """
        create table llm_endpoints (
            base_url text not null,        -- scheme://host:port/path, never userinfo or query
            model text not null,
            response_format text not null, -- json_schema | json_object | text: the best one it accepted
            rejected text not null default '',  -- what it refused and how, e.g. "json_schema: HTTP 500"
            checked_at text not null,
            primary key (base_url, model)
        );
        """
    )


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


class State:
    """Access to the state database. Open with :meth:`open`; close when done."""

    def __init__(self, conn: sqlite3.Connection, directory: Path) -> None:
        self.conn = conn
        self.directory = directory

    @classmethod
    def open(cls, directory: str | Path) -> State:
        directory = Path(directory).expanduser()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(directory / DB_NAME, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("pragma journal_mode=wal")
            conn.execute("pragma busy_timeout=30000")
            state = cls(conn, directory)
            state._migrate()
        except sqlite3.DatabaseError as e:
            raise StateError(f"{directory / DB_NAME}: cannot use the state database: {e}") from None
        except OSError as e:
            raise StateError(f"{directory}: cannot create the state directory: {e}") from None
        return state

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
                (url, etag, last_modified, zlib.compress(body), _now()),
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

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, day: date) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "insert into runs (day, started_at, status) values (?, ?, 'running')",
                (day.isoformat(), _now()),
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
                "update runs set status = 'abandoned', finished_at = ? where status = 'running'", (_now(),)
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
            )
            for r in rows
        ]

    # -- deliveries -------------------------------------------------------------------------

    def delivery(self, day: date, recipient: str) -> Delivery | None:
        row = self.conn.execute(
            "select * from deliveries where day = ? and recipient = ?", (day.isoformat(), recipient)
        ).fetchone()
        return self._delivery(row) if row else None

    def deliveries(self, *, status: str | None = None, day: date | None = None) -> list[Delivery]:
        sql, args = "select * from deliveries where 1=1", list[str]()
        if status:
            sql, args = sql + " and status = ?", [*args, status]
        if day:
            sql, args = sql + " and day = ?", [*args, day.isoformat()]
        return [self._delivery(r) for r in self.conn.execute(sql + " order by day, recipient", args)]

    @staticmethod
    def _delivery(row: sqlite3.Row) -> Delivery:
        return Delivery(
            day=date.fromisoformat(row["day"]),
            recipient=row["recipient"],
            status=row["status"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            message_id=row["message_id"],
            updated_at=row["updated_at"],
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
    ) -> None:
        """Record a send's outcome; ``attempt=False`` claims the send before trying it."""
        step = 1 if attempt else 0
        with self.transaction() as db:
            db.execute(
                """insert into deliveries values (?, ?, ?, ?, ?, ?, ?)
                   on conflict(day, recipient) do update set status = excluded.status,
                   attempts = attempts + excluded.attempts, last_error = excluded.last_error,
                   message_id = case when excluded.message_id != ''
                                     then excluded.message_id else message_id end,
                   updated_at = excluded.updated_at""",
                (day.isoformat(), recipient, status, step, error, message_id, _now()),
            )


@contextmanager
def run_lock(directory: str | Path) -> Iterator[None]:
    """Hold the state directory's run lock; a second run gets a clear StateBusyError."""
    directory = Path(directory).expanduser()
    path = directory / LOCK_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StateError(f"{directory}: cannot create the state directory: {e.strerror or e}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise StateBusyError(
                f"another digest run is in progress ({holder}, lock {path}); try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)
