from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import date

import pytest

from digest.errors import StateBusyError
from digest.state import DB_NAME, MIGRATIONS, State, run_lock


def test_migrations_create_every_table_once(tmp_path):
    State.open(tmp_path).close()
    State.open(tmp_path).close()  # a second open applies nothing twice
    db = sqlite3.connect(tmp_path / DB_NAME)
    tables = {r[0] for r in db.execute("select name from sqlite_master where type = 'table'")}
    assert {"seen", "takeaways", "http_cache", "listings", "runs", "deliveries", "llm_endpoints"} <= tables
    assert db.execute("select count(*) from _migrations").fetchone()[0] == len(MIGRATIONS)
    cols = [r[1] for r in db.execute("pragma table_info(takeaways)")]
    assert cols == ["key", "version", "model", "prompt_version", "text", "created_at"]


def test_a_database_from_before_the_llm_endpoints_table_upgrades_in_place(tmp_path):
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("create table _migrations (name text primary key, applied_at text)")
    MIGRATIONS[0](db)  # m001_initial: the schema before m003_llm_endpoints
    db.execute("insert into _migrations values ('m001_initial', '2026-01-01T00:00:00+00:00')")
    db.execute("insert into runs (day, started_at, status) values ('2026-01-01', 'x', 'ok')")
    db.commit()
    db.close()
    with State.open(tmp_path) as state:
        assert len(state.recent_runs()) == 1  # kept
        assert state.llm_endpoint("http://127.0.0.1:8080/v1", "m") is None
        state.remember_llm_endpoint("http://127.0.0.1:8080/v1", "m", "json_object", "json_schema: HTTP 500")
        known = state.llm_endpoint("http://127.0.0.1:8080/v1", "m")
        assert known is not None and known.response_format == "json_object" and known.age_days < 1


def test_shown_before_ignores_same_day_and_versions(tmp_path):
    with State.open(tmp_path) as state:
        state.mark_shown([("arxiv:2602.04288", 1, "Contextual Drag")], date(2026, 2, 5))
        assert state.shown_before(["arxiv:2602.04288"], date(2026, 2, 5)) == set()
        assert state.shown_before(["arxiv:2602.04288", "arxiv:1"], date(2026, 2, 6)) == {"arxiv:2602.04288"}
        # v2 of the same paper is the same key: still "shown before"
        state.mark_shown([("arxiv:2602.04288", 2, "Contextual Drag")], date(2026, 2, 9))
        assert state.shown_before(["arxiv:2602.04288"], date(2026, 2, 10)) == {"arxiv:2602.04288"}


def test_http_cache_round_trips_the_body(tmp_path):
    with State.open(tmp_path) as state:
        body = "<rss>한</rss>".encode()
        state.store_response("http://x/feed", '"abc"', "Wed, 04 Feb 2026 00:00:00 GMT", body)
        cached = state.cached_response("http://x/feed")
        assert cached is not None
        assert (cached.etag, cached.body) == ('"abc"', body)
        assert state.cached_response("http://x/other") is None


def _hold_lock(path, ready, release):
    with run_lock(path):
        ready.set()
        release.wait(10)


def test_second_run_gets_a_clear_busy_error(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(20)
        with pytest.raises(StateBusyError, match=r"another digest run is in progress \(pid \d+"):
            with run_lock(tmp_path):
                pass
    finally:
        release.set()
        holder.join(10)
    with run_lock(tmp_path):  # released when the holder exits
        pass


def test_unfinished_runs_are_marked_abandoned(tmp_path):
    with State.open(tmp_path) as state:
        run_id = state.start_run(date(2026, 2, 5))
        assert state.abandon_unfinished_runs() == 1
        assert state.recent_runs()[0].status == "abandoned"
        state.finish_run(run_id, status="ok", items=3, sources={"huggingface": {"status": "ok"}})
        run = state.recent_runs()[0]
        assert (run.status, run.items, run.sources) == ("ok", 3, {"huggingface": {"status": "ok"}})


def test_delivery_attempts_accumulate(tmp_path):
    with State.open(tmp_path) as state:
        day = date(2026, 2, 5)
        state.record_delivery(day, "a@example.com", "pending", error="451 try later")
        state.record_delivery(day, "a@example.com", "sent", message_id="<m@x>")
        d = state.delivery(day, "a@example.com")
        assert d is not None
        assert (d.status, d.attempts, d.message_id) == ("sent", 2, "<m@x>")
        assert [x.recipient for x in state.deliveries(status="sent")] == ["a@example.com"]


def test_takeaway_cache_bridges_an_unknown_version(tmp_path):
    with State.open(tmp_path) as state:
        state.store_takeaways([("arxiv:1", 0, "허깅페이스에서 본 줄"), ("arxiv:2", 2, "v2의 줄")], "m", "p1")
        assert state.cached_takeaways([("arxiv:1", 1)], "m", "p1") == {"arxiv:1": "허깅페이스에서 본 줄"}
        assert state.cached_takeaways([("arxiv:1", 2)], "m", "p1") == {}  # a real new version is new
        assert state.cached_takeaways([("arxiv:2", 0)], "m", "p1") == {"arxiv:2": "v2의 줄"}
        assert state.cached_takeaways([("arxiv:2", 3)], "m", "p1") == {}
        assert state.cached_takeaways([("arxiv:2", 2)], "m", "p2") == {}  # another prompt version
