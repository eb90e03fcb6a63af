"""The state database's schema: each migration once, in the order they are listed here.

A migration's function name is its identity in an existing database (the ``_migrations`` table records
the names applied), so a name never changes once released and a new migration is appended at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

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
        """,
    )


@migration
def m005_llm_holds_and_delivery_records(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        create table llm_holds (
            day text primary key,          -- the digest date held back
            since text not null,           -- when a scheduled run first found the LLM unreachable
            attempts integer not null default 0,
            reason text not null default '',
            outcome text not null default 'waiting'   -- waiting | recovered | sent with fallbacks
        );
        alter table deliveries add column fallbacks integer not null default 0;  -- marked lines in it
        alter table deliveries add column replaces text not null default '';     -- Message-ID it replaced
        alter table runs add column delivery text;  -- json counts when the run sent email, else null
        """,
    )


@migration
def m004_search_cache(db: sqlite3.Connection) -> None:
    # The arXiv API search's results, so a run within the hour does not ask the API again.
    _script(
        db,
        """
        create table search_cache (
            key text primary key,          -- hash: endpoint, queries without their window, max results
            window_start text not null,    -- ISO UTC: the submittedDate window searched
            window_end text not null,
            fetched_at text not null,      -- ISO UTC: when the API answered
            items blob not null            -- zlib-compressed JSON of the items found
        );
        """,
    )


@migration
def m002_day_stats(db: sqlite3.Connection) -> None:
    # The trend's per-day numbers (digest/trend/stats.py). Phrases found in two or more of a day's papers are
    # rows; the far more numerous ones found in a single paper are kept as a sorted array of CRC-32
    # hashes in day_stats.single_phrases (4 bytes each instead of a row each): enough to count them in
    # a baseline and to know a phrase was seen, at a tenth of the size.
    _script(
        db,
        """
        create table day_stats (
            day text primary key,          -- the arXiv listing date (announcement day), YYYY-MM-DD
            status text not null,          -- announced | no_announcement | missing | partial
            origin text not null default '',       -- listing (a digest run) | api (from the arXiv API)
            pool integer,                  -- papers in the pool (new + cross, one per work), null: none
            topics text not null default '{}',     -- json: topic key -> papers of the pool
            topic_rules text not null default '{}',  -- json: topic key -> fingerprint of how it was counted
            sources text not null default '{}',    -- json: source -> {"items": n, topic key: n}
            phrase_rules text not null default '',
            single_phrases blob,           -- sorted little-endian uint32 CRC-32s of phrases in one paper
            note text not null default '',
            updated_at text not null
        );
        create table day_phrases (
            day text not null,
            phrase text not null,          -- normalised (digest/trend/phrases.py)
            docs integer not null,         -- papers of the day's pool with it (2 or more)
            first_authors integer not null,  -- different first authors among them
            primary key (day, phrase)      -- every lookup names its days: no second index needed
        ) without rowid;
        create table flows (
            day text not null,
            input_hash text not null,      -- of the numbers and items the paragraph was written from
            model text not null,
            prompt_version text not null,
            text text not null,
            created_at text not null,
            primary key (day, input_hash, model, prompt_version)
        );
        """,
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


@migration
def m006_day_candidates(db: sqlite3.Connection) -> None:
    # The weekly roundup (week/roundup.py): each day's shortlist of ranked on-topic candidates, with what a
    # takeaway and the week's ranking need (selection/shortlist.py keeps it to 30 a day; rows older than
    # state.CANDIDATE_DAYS are dropped). And the weekly email's deliveries: a table of their own, keyed by the
    # week's Monday, so a week never collides with a day's (day, recipient) row; same columns as deliveries.
    _script(
        db,
        """
        create table day_candidates (
            day text not null,             -- the digest date (arXiv listing date) whose run ranked it
            key text not null,             -- arxiv:<id> or url:<canonical url>
            rank integer not null,         -- 0 = the day's best (selection.rank_key)
            origin text not null,          -- run (a digest run) | api (digest backfill)
            relevance real not null,
            upvotes integer,
            version integer,
            topics text not null,          -- json: matched topic keys, best first
            sources text not null,         -- json: the sources that saw it
            item blob not null,            -- zlib-compressed JSON: the candidate and its matches
            primary key (day, key)
        ) without rowid;
        create table week_deliveries (
            day text not null,             -- the Monday of the announcement week
            recipient text not null,
            status text not null,          -- sent | pending | failed
            attempts integer not null default 0,
            last_error text not null default '',
            message_id text not null default '',
            updated_at text not null,
            fallbacks integer not null default 0,
            replaces text not null default '',
            primary key (day, recipient)
        );
        """,
    )


@migration
def m007_day_stats_input(db: sqlite3.Connection) -> None:
    # What a day's phrases were counted from (trends.phrase_input): a re-run of the day with the same
    # pool and rules reuses them instead of counting and writing thousands of rows again.
    db.execute("alter table day_stats add column phrase_input text not null default ''")


@migration
def m008_run_outcome(db: sqlite3.Connection) -> None:
    # Why a run failed (shown by `digest status`), and which process ran it: a row left 'running' by a
    # process that is gone is shown as interrupted, not as running.
    _script(
        db,
        """
        alter table runs add column error text not null default '';
        alter table runs add column pid integer;
        """,
    )


@migration
def m009_channel_posts(db: sqlite3.Connection) -> None:
    # One row per (digest, chat channel): posted once, a failed post kept for `digest send --pending`.
    _script(
        db,
        """
        create table channel_posts (
            day text not null,             -- the digest's date, or the weekly roundup's Monday
            weekly integer not null default 0,
            channel text not null,         -- the [channels.NAME] it went to
            status text not null,          -- sent | pending | failed
            parts_sent integer not null default 0,  -- messages already accepted: a retry goes on after them
            parts integer not null default 0,       -- messages the post was split into
            attempts integer not null default 0,
            last_error text not null default '',
            fallbacks integer not null default 0,   -- marked fallback lines in what was posted
            destination text not null default '',   -- a hash of where it went: a new webhook is tried again
            updated_at text not null,
            primary key (day, weekly, channel)
        );
        """,
    )


@migration
def m010_reader_notes(db: sqlite3.Connection) -> None:
    # The reader's own notes (digest/reader/notes.py): what was read from each file, keyed by its path,
    # with the mtime and size it had, so a re-run reads only the files that changed.
    _script(
        db,
        """
        create table reader_notes (
            path text primary key,
            mtime_ns integer not null,
            size integer not null,
            day text not null,             -- YYYY-MM-DD of the note, or '' when none of it is the reader's
            title text not null,
            terms text not null,           -- json: {term: count}, the most frequent terms only
            arxiv_ids text not null,       -- json: the arXiv ids it mentions
            rules text not null            -- NOTE_RULES it was read with: under other rules it is read again
        ) without rowid;
        """,
    )


@migration
def m011_reader_feedback(db: sqlite3.Connection) -> None:
    # Edits as feedback (digest/reader/feedback.py): what each shown item was shown with, the reader's
    # judgment of it read from the day's note, and when the reader last reset what was learned.
    _script(
        db,
        """
        create table reader_shown (
            day text not null,             -- the digest date
            url text not null,             -- the item's link, as the note shows it
            features text not null,        -- json: topic:, term:, author:, source:, phrase: features
            primary key (day, url)
        ) without rowid;
        create table reader_feedback (
            day text not null,
            url text not null,
            signal real not null,          -- -1 deleted, 0.5 kept, 1 kept with the reader's own text
            primary key (day, url)
        ) without rowid;
        create table reader_feedback_resets (
            day text not null              -- days up to this one are not learned from
        );
        """,
    )


@migration
def m012_watchlist(db: sqlite3.Connection) -> None:
    # Follow-ups on papers the reader logged (digest/reader/watch.py): the ids added or removed by hand
    # (the notes' ids are read from reader_notes), and each piece of news once said, so it is said once.
    _script(
        db,
        """
        create table watch_list (
            arxiv_id text primary key,     -- without version: 2601.01234 or cs/0112017
            watched integer not null,      -- 1 added by `digest watch ID`, 0 removed (a note's id too)
            day text not null              -- YYYY-MM-DD it was added or removed
        ) without rowid;
        create table watch_news (
            arxiv_id text not null,
            kind text not null,            -- version | code | venue
            value text not null,           -- '3' | 'https://github.com/owner/repo' | 'ICLR 2026'
            day text not null,             -- the digest that said it first (its re-runs say it again)
            title text not null,
            label text not null,           -- what the block shows: 'v3 공개', 'ICLR 2026 채택'
            note_day text not null default '',    -- the note that logged the paper ('' when added by hand)
            note_title text not null default '',
            primary key (arxiv_id, kind, value)
        ) without rowid;
        create table watch_pending (
            arxiv_id text primary key,     -- a new version seen whose comment the API has not given yet
            version integer not null,
            day text not null
        ) without rowid;
        """,
    )


@migration
def m013_notes_written(db: sqlite3.Connection) -> None:
    # The section digest last wrote into each day's note (digest/delivery/notes.py): a same-day re-run
    # replaces it only while the note still holds it as written, and the reader's edits are judged
    # against it (digest/reader/feedback.py) rather than against a later run's archive.
    _script(
        db,
        """
        create table notes_written (
            day text not null,             -- the digest date
            path text not null,            -- the note file it was written into
            section text not null,         -- the text between the day's markers, as written
            written_at text not null,
            primary key (day, path)
        ) without rowid;
        """,
    )
