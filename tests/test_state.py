from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from digest._compat import UTC
from digest.errors import StateBusyError
from digest.migrations import MIGRATIONS
from digest.models import Candidate, DayStats, DayStatus, PhraseCounts, Scored, TopicMatch
from digest.state import DB_NAME, State, run_lock


def test_migrations_create_every_table_once(tmp_path):
    State.open(tmp_path).close()
    State.open(tmp_path).close()  # a second open applies nothing twice
    db = sqlite3.connect(tmp_path / DB_NAME)
    tables = {r[0] for r in db.execute("select name from sqlite_master where type = 'table'")}
    assert {"seen", "takeaways", "http_cache", "listings", "runs", "deliveries", "_migrations"} <= tables
    assert "search_cache" in tables
    assert {"day_stats", "day_phrases", "flows"} <= tables
    assert "llm_endpoints" in tables
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


def test_an_existing_database_gains_the_search_cache_in_place(tmp_path):
    with State.open(tmp_path) as state:
        state.store_response("http://x/feed", '"abc"', None, b"<rss/>")
    db = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    db.execute("drop table search_cache")  # as a database from before m004 was
    db.execute("delete from _migrations where name = 'm004_search_cache'")
    db.close()
    with State.open(tmp_path) as state:
        assert state.cached_response("http://x/feed").body == b"<rss/>"  # kept
        start, end = datetime(2026, 2, 3, 10, tzinfo=UTC), datetime(2026, 2, 5, 10, tzinfo=UTC)
        state.store_search("k", start, end, b"[]", end)
        cached = state.cached_search("k")
        assert cached is not None and cached.payload == b"[]"
        assert (cached.window_start, cached.window_end) == (start, end)
        assert state.cached_search("other") is None


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


def test_a_state_from_before_m005_upgrades_in_place(tmp_path):
    """A database written by the previous release (m001 only) keeps its rows and gains m005's parts."""
    db = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    db.execute("create table _migrations (name text primary key, applied_at text)")
    db.execute("begin")
    MIGRATIONS[0](db)
    db.execute("insert into _migrations values ('m001_initial', '2026-01-01T00:00:00+00:00')")
    db.execute(
        "insert into deliveries values "
        "('2026-02-05', 'a@x.test', 'sent', 1, '', '<m@x>', '2026-02-05T02:00:00')"
    )
    db.execute(
        "insert into runs (day, started_at, status, items) values ('2026-02-05', '2026-02-05T01:30', 'ok', 4)"
    )
    db.execute("commit")
    db.close()
    with State.open(tmp_path) as state:
        d = state.delivery(date(2026, 2, 5), "a@x.test")
        assert d is not None and (d.status, d.message_id, d.fallbacks, d.replaces) == ("sent", "<m@x>", 0, "")
        [run] = state.recent_runs()
        assert (run.items, run.delivery) == (4, None)
        assert state.llm_hold(date(2026, 2, 5)) is None


# -- day statistics (the trend) ------------------------------------------------------------------------

RELEASE_DB = Path(__file__).parent / "fixtures" / "state" / "release-b56a1ec.sqlite3"


def _columns(db: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table' order by name")]
    return {t: [c[1] for c in db.execute(f"pragma table_info({t})")] for t in tables}


def _rows(db: sqlite3.Connection, columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    # Only the given columns: a later migration may add some, and that loses nothing.
    return {
        t: sorted(db.execute(f"select {', '.join(c)} from {t}").fetchall(), key=repr)
        for t, c in columns.items()
    }


def test_a_release_state_database_upgrades_in_place_and_keeps_everything(tmp_path):
    """The state file of digest as released (made by commit b56a1ec's own code: one real run of
    2026-02-05, two deliveries) opens with today's code: every row is still there and still used."""
    shutil.copy(RELEASE_DB, tmp_path / DB_NAME)
    release = sqlite3.connect(tmp_path / DB_NAME)
    columns = _columns(release)
    before = _rows(release, columns)
    release.close()
    assert [r[0] for r in before["_migrations"]] == ["m001_initial"]
    assert before["seen"] and before["takeaways"] and before["runs"] and before["deliveries"]

    with State.open(tmp_path) as state:
        day = date(2026, 2, 5)
        key = before["seen"][0][0]
        # What a reader has is still served: shown items, cached lines, deliveries, the listing.
        assert state.shown_before([key], date(2026, 2, 6)) == {key}
        t_key, t_version, t_model, t_prompt = before["takeaways"][0][:4]
        assert state.cached_takeaways([(t_key, t_version)], t_model, t_prompt)
        assert state.delivery(day, "me@example.com").status == "sent"
        assert state.listing_for(day) is not None
        assert state.recent_runs()[0].status == "ok"
        assert state.day_stats(day, day) == []  # the new tables exist, empty
        state.record_day_stats(DayStats(day=day, status=DayStatus.ANNOUNCED, pool=1, topics={"llm": 1}))

    upgraded = sqlite3.connect(tmp_path / DB_NAME)
    after = _rows(upgraded, columns)
    assert {"day_stats", "day_phrases", "flows"} <= set(_columns(upgraded))
    for table, rows in before.items():
        if table != "_migrations":
            assert after[table] == rows, f"{table} changed"
    assert after["_migrations"][: len(before["_migrations"])] == before["_migrations"]
    applied = [r[0] for r in upgraded.execute("select name from _migrations order by rowid")]
    assert applied == [m.__name__ for m in MIGRATIONS]


def _stats(day: date, pool: int, docs: dict[str, int], status=DayStatus.ANNOUNCED) -> DayStats:
    phrases = PhraseCounts(papers=pool, docs=docs, first_authors=dict(docs))
    return DayStats(
        day=day,
        status=status,
        origin="listing",
        pool=pool,
        topics={"llm": pool // 2},
        topic_rules={"llm": "r"},
        phrase_rules="p",
        phrases=phrases,
    )


def test_a_rerun_of_a_day_replaces_its_row_never_doubles_it(tmp_path):
    day = date(2026, 2, 5)
    with State.open(tmp_path) as state:
        state.record_day_stats(_stats(day, 300, {"flow matching": 4, "rare phrase": 1}))
        state.record_day_stats(_stats(day, 322, {"flow matching": 5, "other phrase": 1}))
        [row] = state.day_stats(day, day)
        assert (row.pool, row.topics, row.status) == (322, {"llm": 161}, DayStatus.ANNOUNCED)
        assert state.phrase_counts(["flow matching", "rare phrase", "other phrase"], [day]) == {
            "flow matching": 5,
            "rare phrase": 0,
            "other phrase": 1,
        }
        loaded = state.load_day_stats(day)
        assert loaded is not None and loaded.phrases is not None
        assert loaded.phrases.docs == {"flow matching": 5}  # single-paper phrases are kept as hashes
        assert len(loaded.phrases.single) == 1


def test_a_failed_fetch_never_erases_a_counted_day(tmp_path):
    day = date(2026, 2, 5)
    with State.open(tmp_path) as state:
        assert state.record_day_stats(_stats(day, 322, {"flow matching": 5}))
        assert not state.record_day_stats(DayStats(day=day, status=DayStatus.MISSING))
        assert not state.record_day_stats(DayStats(day=day, status=DayStatus.PARTIAL, pool=100))
        assert state.day_stats(day, day)[0].pool == 322
        # The other way round a counted run replaces a missing day.
        other = date(2026, 2, 6)
        state.record_day_stats(DayStats(day=other, status=DayStatus.MISSING))
        assert state.day_stats(other, other)[0].pool is None
        state.record_day_stats(_stats(other, 399, {}))
        assert state.day_stats(other, other)[0].pool == 399


def test_phrases_seen_before_looks_at_every_earlier_day_and_its_single_paper_phrases(tmp_path):
    with State.open(tmp_path) as state:
        state.record_day_stats(_stats(date(2025, 6, 2), 300, {"old phrase": 1}))
        state.record_day_stats(_stats(date(2026, 2, 4), 300, {"recent phrase": 3}))
        state.record_day_stats(_stats(date(2026, 2, 5), 300, {"today phrase": 3}))
        asked = ["old phrase", "recent phrase", "today phrase", "never phrase"]
        assert state.phrases_seen_before(asked, date(2026, 2, 5)) == {"old phrase", "recent phrase"}


def test_a_day_counted_from_its_listing_is_not_replaced_by_an_approximation(tmp_path):
    day = date(2026, 2, 5)
    with State.open(tmp_path) as state:
        state.record_day_stats(_stats(day, 322, {}))
        api = DayStats(
            day=day, status=DayStatus.ANNOUNCED, origin="api", pool=300, topics={"llm": 1},
            topic_rules={"llm": "r"},
        )
        assert not state.record_day_stats(api)
        assert state.day_stats(day, day)[0].pool == 322
        # counted by other topic rules, the listing's numbers compare with nothing: the approximation may
        recounted = replace(api, topic_rules={"llm": "r2"})
        assert state.record_day_stats(recounted)
        assert state.day_stats(day, day)[0].pool == 300
        other = date(2026, 2, 4)
        assert state.record_day_stats(DayStats(day=other, status=DayStatus.ANNOUNCED, origin="api", pool=500))
        assert state.record_day_stats(_stats(other, 509, {}))  # the listing's own count wins
        assert state.day_stats(other, other)[0].pool == 509


# -- day shortlists and weekly deliveries (m006) ------------------------------------------------------


def _scored(key: str, relevance: float, **fields) -> Scored:
    candidate = Candidate(
        key=key,
        kind="paper",
        title=f"Title of {key}",
        url=f"https://arxiv.org/abs/{key.removeprefix('arxiv:')}",
        summary="An abstract, with “quotes”, 한글 and <tags>.",
        authors=("Minjun Kim", "Wei Zhang"),
        categories=("cs.CL", "cs.AI"),
        sources=("arxiv-listing", "huggingface"),
        version=2,
        arxiv_id=key.removeprefix("arxiv:"),
        announce_type="new",
        upvotes=42,
        published=datetime(2026, 2, 4, 18, 30, tzinfo=UTC),
        comment="Code: https://github.com/a/b",
        **fields,
    )
    match = TopicMatch("llm", "LLM", relevance, ("large language model",), ("title", "abstract"))
    return Scored(candidate, (match,), relevance, 0.31)


def test_a_day_shortlist_round_trips_and_a_backfill_never_replaces_a_run(tmp_path):
    day = date(2026, 2, 4)
    run = [_scored("arxiv:2602.00001", 1.0), _scored("arxiv:2602.00002", 0.6)]
    with State.open(tmp_path) as state:
        assert state.record_day_candidates(day, run, origin="run")
        assert state.day_candidates(day, day) == {day: run}  # every field, in rank order
        assert not state.record_day_candidates(day, [_scored("arxiv:2602.00003", 0.9)], origin="api")
        assert not state.record_day_candidates(day, [], origin="run")  # an empty run keeps what was there
        assert state.day_candidates(day, day) == {day: run}
        # A run replaces a backfill's list; a re-run replaces its own.
        other = date(2026, 2, 5)
        assert state.record_day_candidates(other, [_scored("arxiv:2602.00003", 0.9)], origin="api")
        assert state.record_day_candidates(other, run[:1], origin="run")
        assert state.day_candidates(other, other) == {other: run[:1]}
        # Bounded: a day's rows go once they are CANDIDATE_DAYS older than the latest day stored.
        later = date(2026, 4, 30)
        state.record_day_candidates(later, run, origin="run")
        assert set(state.day_candidates(date(2026, 1, 1), later)) == {later}


def test_a_state_from_before_m006_gains_the_shortlists_and_weekly_deliveries_in_place(tmp_path):
    day = date(2026, 2, 5)
    with State.open(tmp_path) as state:
        state.mark_shown([("arxiv:2602.04288", 1, "Contextual Drag")], day)
        state.record_delivery(day, "me@example.com", "sent", message_id="<m@x>")
        state.record_day_stats(DayStats(day=day, status=DayStatus.ANNOUNCED, origin="listing", pool=9))
    db = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    db.execute("drop table day_candidates")  # as a database from before m006 was
    db.execute("drop table week_deliveries")
    db.execute("delete from _migrations where name = 'm006_day_candidates'")
    db.close()
    with State.open(tmp_path) as state:
        assert state.shown_before(["arxiv:2602.04288"], date(2026, 2, 6)) == {"arxiv:2602.04288"}
        assert state.delivery(day, "me@example.com").message_id == "<m@x>"
        assert state.load_day_stats(day).pool == 9
        assert state.day_candidates(day, day) == {}
        assert state.record_day_candidates(day, [_scored("arxiv:2602.00001", 1.0)], origin="run")
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("select name from _migrations order by rowid desc limit 1").fetchone() == (
        "m006_day_candidates",
    )
    cols = [r[1] for r in db.execute("pragma table_info(week_deliveries)")]
    assert cols == [r[1] for r in db.execute("pragma table_info(deliveries)")]


def test_phrases_counted_from_the_same_input_are_not_written_again(tmp_path):
    day = date(2026, 2, 5)
    first = replace(_stats(day, 322, {"flow matching": 5, "rare phrase": 1}), phrase_input="pool-a")
    with State.open(tmp_path) as state:
        state.record_day_stats(first)
        # The same day again, the same pool: nothing to write, the row stays as it is.
        loaded = state.load_day_stats(day)
        assert loaded is not None and loaded.phrase_input == "pool-a"
        changes = state.conn.total_changes
        assert state.record_day_stats(replace(first, phrases=loaded.phrases))
        assert state.conn.total_changes == changes
        # Other topic counts (say Hugging Face's papers changed) over the same pool: the row changes,
        # the phrases are the stored ones, untouched.
        again = replace(first, topics={"llm": 170}, phrases=PhraseCounts(papers=322))
        assert state.record_day_stats(again)
        assert state.conn.total_changes == changes + 1  # the one row
        assert state.day_stats(day, day)[0].topics == {"llm": 170}
        assert state.phrase_counts(["flow matching", "rare phrase"], [day]) == {
            "flow matching": 5,
            "rare phrase": 1,
        }
        # Another pool: counted and written again.
        other = replace(_stats(day, 330, {"other phrase": 2}), phrase_input="pool-b")
        assert state.record_day_stats(other)
        assert state.phrase_counts(["flow matching", "other phrase"], [day]) == {
            "flow matching": 0,
            "other phrase": 2,
        }
        # Other phrase rules over the same pool: written again too.
        rules = replace(
            other,
            phrase_rules="q",
            phrases=PhraseCounts(papers=330, docs={"x y": 3}, first_authors={"x y": 3}),
        )
        assert state.record_day_stats(rules)
        assert state.phrase_counts(["x y", "other phrase"], [day]) == {"x y": 3, "other phrase": 0}
