"""`digest backfill` against a loopback arXiv API (tests/arxivapi.py) serving the corpus's real days.

Each corpus day's records are placed in that day's submission window, written out here by hand (US
Eastern 14:00 deadlines, 19:00 UTC in February), so the windows digest computes are checked, not
assumed. Nothing of digest's own is patched; the LLM is never called.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path

import arxiv
import pytest
from click.testing import CliRunner

from digest._compat import UTC
from digest.cli import cli
from digest.config import Config, parse_config
from digest.models import DayStats, DayStatus
from digest.progress import Progress
from digest.selection import pick
from digest.selection.matching import TopicMatcher
from digest.sources import arxiv_backfill, arxiv_client
from digest.sources.arxiv_listing import kept, parse_listing
from digest.state import State
from digest.trend.backfill import already_done, backfill, current_rules, plan
from tests import feedserver, llmserver
from tests.arxivapi import PATH, FakeArxivAPI, spread
from tests.corpusdays import records
from tests.corpusdays import write_config as corpus_config
from tests.feedserver import FeedServer, Reply
from tests.fixtures.sources.build import build_arxiv_rss, guess_cross_ids

feed_server = feedserver.feed_server
llm_server = llmserver.llm_server

ROOT = Path(__file__).parent.parent


def utc(month: int, day: int, hour: int = 19, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# Each listing's submission window, by hand: 14:00 US Eastern (19:00 UTC) deadlines of the weekday before.
WINDOWS = {
    date(2026, 2, 2): (utc(1, 29), utc(1, 30)),  # Mon: Thu 14:00 – Fri 14:00
    date(2026, 2, 3): (utc(1, 30), utc(2, 2)),  # Tue: Fri 14:00 – Mon 14:00
    date(2026, 2, 4): (utc(2, 2), utc(2, 3)),  # Wed: Mon 14:00 – Tue 14:00
    date(2026, 2, 5): (utc(2, 3), utc(2, 4)),
    date(2026, 2, 6): (utc(2, 4), utc(2, 5)),
}
CORPUS_DAYS = [date(2026, 2, 4), date(2026, 2, 5), date(2026, 2, 6)]



def corpus_papers() -> list:
    # The first record of each day sits exactly on its window's start: the deadline minute of the day before.
    return [p for d in CORPUS_DAYS for p in spread(records(d), *WINDOWS[d])]


def listing_counts(day: date) -> tuple[int, dict[str, int]]:
    """What a `digest now` run counts from the day's real listing (the same records as RSS)."""
    rs = records(day)
    parsed = parse_listing(build_arxiv_rss(rs, day, cross_ids=guess_cross_ids(rs, day)).encode(), url="t")
    candidates = pick.merge(kept(parsed.items, include_replacements=False))
    topics = Config().topics
    counts = dict.fromkeys(topics, 0)
    for s in pick.score(candidates, TopicMatcher(topics)):
        for t in s.topics:
            counts[t] += 1
    return len(candidates), counts


def make_config(tmp_path: Path, api_url: str, **arxiv: object) -> Config:
    return parse_config(
        {
            "state_dir": str(tmp_path / "state"),
            "feeds": [],
            "arxiv": {"api_url": api_url, **arxiv},
            "http": {"timeout_seconds": 5.0},
        }
    )


def loopback_client() -> arxiv.Client:
    return arxiv.Client(page_size=100, delay_seconds=0.0, num_retries=0)


def run(config: Config, days: list[date], **kw):
    with State.open(config.state_path) as state:
        return backfill(config, days, client=loopback_client(), state=state, **kw)


def stored(config: Config) -> dict[date, tuple[str, str, int | None]]:
    with State.open(config.state_path) as state:
        rows = state.day_stats(date(2026, 1, 1), date(2026, 3, 1))
    return {s.day: (str(s.status), s.origin, s.pool) for s in rows}


# -- the CLI, end to end ----------------------------------------------------------------------------



def write_config(tmp_path: Path, feed: FeedServer, api: FakeArxivAPI, llm_url: str = "") -> Path:
    llm = llm_url or feed.url("/llm")
    return corpus_config(tmp_path, feed, llm, key_env="BACKFILL_TEST_KEY", api_url=api.url)


def test_backfill_through_the_cli_counts_each_day_like_its_listing_and_spaces_requests(
    feed_server: FeedServer, llm_server, tmp_path: Path, monkeypatch
):
    api = FakeArxivAPI(feed_server, corpus_papers())
    config_path = write_config(tmp_path, feed_server, api, llm_server.url)
    result = CliRunner().invoke(
        cli, ["backfill", "--config", str(config_path), "--days", "5", "--date", "2026-02-07"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "backfill: 3 counted, 2 missing (the API had nothing); 5 API requests\n"
    assert "backfill 2026-02-06: 399 papers (LLM " in result.stderr
    assert "2026-02-02: the arXiv API returned no papers" in result.stderr

    # One request per day, each for that day's categories and exact window, at least 3 s apart.
    queries = [q["search_query"] for q in api.queries]
    assert queries[0] == (
        "(cat:cs.CL OR cat:cs.LG OR cat:cs.CV OR cat:cs.AI) AND submittedDate:[202601291900 TO 202601301859]"
    )
    assert queries[2].endswith("submittedDate:[202602021900 TO 202602031859]")  # Wed 02-04
    assert [q["max_results"] for q in api.queries] == ["2000"] * 5
    assert all(q["sortBy"] == "submittedDate" for q in api.queries)
    times = [s.at for s in feed_server.requests(PATH)]
    assert len(times) == 5 and all(b - a >= 3.0 for a, b in zip(times, times[1:], strict=False))

    config = make_config(tmp_path, api.url)
    got = stored(config)
    assert got[date(2026, 2, 2)] == ("missing", "api", None)  # nothing from the API: missing, not 0
    assert got[date(2026, 2, 3)] == ("missing", "api", None)
    with State.open(config.state_path) as state:
        for day in CORPUS_DAYS:
            stats = state.load_day_stats(day)
            pool, counts = listing_counts(day)
            # The API's approximation of a corpus day is exactly what its listing counts (the corpus
            # has no late cross-lists or moderation holds, the two ways the approximation differs).
            assert (stats.status, stats.origin, stats.pool) == (DayStatus.ANNOUNCED, "api", len(records(day)))
            assert (stats.pool, stats.topics) == (pool, counts)
            assert stats.phrases and stats.phrases.docs
        assert state.shown_before([f"arxiv:{records(CORPUS_DAYS[0])[0]['id']}"], date(2026, 3, 1)) == set()
        assert state.recent_runs() == []  # no digest run, nothing shown
        # Each counted day keeps its shortlist for the weekly roundup: 30, spread over the topics.
        lists = state.day_candidates(date(2026, 2, 2), date(2026, 2, 6))
        assert sorted(lists) == CORPUS_DAYS
        for best in lists.values():
            assert len(best) == 30 and len({s.candidate.key for s in best}) == 30
            assert {s.topics[0] for s in best} >= {"llm", "multimodal"}
            assert all(s.candidate.summary and s.candidate.sources == ("arxiv-api",) for s in best)

    # Then the week on the same state: the backfilled days' numbers and shortlists, takeaways by the LLM.
    monkeypatch.setenv("BACKFILL_TEST_KEY", "test-key")
    week = CliRunner().invoke(cli, ["week", "--config", str(config_path), "--date", "2026-02-06"])
    assert week.exit_code == 0, week.output
    md = week.stdout
    pool = sum(len(records(d)) for d in CORPUS_DAYS)
    assert f"이번 주 arXiv 논문 {pool:,}편(new·cross, 3개 발표일) 기준" in md
    assert "이번 주 3일은 arXiv API로 채운 숫자" in md  # the small print says where the numbers came from
    assert "> 자료가 없는 발표일: 02-02 (월), 02-03 (화)." in md
    llm_total = sum(listing_counts(d)[1]["llm"] for d in CORPUS_DAYS)
    assert f"| LLM | {llm_total}편 | \u2800\u2800" in md
    items = [line for line in md.splitlines() if line.startswith("- **[")]
    assert 5 <= len(items) <= 8
    assert all("요약 대체" not in line and re.search(r"arXiv `cs\.\w\w`", line) for line in items)
    # A loopback LLM is a local server: one item per request (none were cached), then the paragraph.
    assert llm_server.calls == len(items) + 1


def test_a_rerun_asks_only_for_the_days_still_missing_and_force_recounts(feed_server: FeedServer, tmp_path):
    api = FakeArxivAPI(feed_server, corpus_papers())
    config = make_config(tmp_path, api.url)
    days = plan(date(2026, 2, 7), 5)
    assert days == sorted(WINDOWS)
    first = run(config, days, progress=Progress(quiet=True))
    assert [d.status for d in first.days] == ["empty", "empty", "counted", "counted", "counted"]
    assert first.requests == 5

    api.add(spread(records(date(2026, 2, 5))[:50], *WINDOWS[date(2026, 2, 3)]))  # Tuesday now has papers
    again = run(config, days, progress=Progress(quiet=True))
    assert [d.status for d in again.days] == ["empty", "counted", "done", "done", "done"]
    assert again.requests == 2
    assert stored(config)[date(2026, 2, 3)] == ("announced", "api", 50)

    forced = run(config, days, progress=Progress(quiet=True), force=True)
    assert forced.requests == 5 and forced.count("counted") == 4


def test_a_day_counted_from_its_listing_is_never_asked_for_or_replaced(feed_server: FeedServer, tmp_path):
    api = FakeArxivAPI(feed_server, corpus_papers())
    config = make_config(tmp_path, api.url)
    day = date(2026, 2, 5)
    rules = current_rules(config)
    with State.open(config.state_path) as state:
        state.record_day_stats(
            DayStats(
                day=day, status=DayStatus.ANNOUNCED, origin="listing", pool=500, topics={"llm": 1},
                topic_rules=rules,
            )
        )
        state.record_day_stats(
            DayStats(day=date(2026, 2, 4), status=DayStatus.NO_ANNOUNCEMENT, origin="listing")
        )
    report = run(config, [date(2026, 2, 4), day], progress=Progress(quiet=True), force=True)
    assert [d.status for d in report.days] == ["done", "done"] and report.requests == 0
    assert stored(config)[day] == ("announced", "listing", 500)
    assert stored(config)[date(2026, 2, 4)] == ("no_announcement", "listing", None)


def test_days_counted_by_other_topic_rules_are_counted_again():
    rules = {"llm": "new"}
    old = DayStats(
        day=date(2026, 2, 5), status=DayStatus.ANNOUNCED, origin="api", pool=3, topic_rules={"llm": "old"}
    )
    assert already_done(old, rules, force=False) == ""
    listing = DayStats(day=old.day, status=DayStatus.ANNOUNCED, origin="listing", pool=3, topic_rules=rules)
    assert already_done(listing, rules, force=True) == "counted from its listing"
    # a listing counted by other rules (edited keywords, a newer matcher) compares with nothing now
    old_listing = DayStats(day=old.day, status=DayStatus.ANNOUNCED, origin="listing", pool=3, topic_rules={})
    assert already_done(old_listing, rules, force=False) == ""
    missing = DayStats(day=old.day, status=DayStatus.MISSING, origin="listing")
    assert already_done(missing, rules, force=False) == ""  # a failed listing is what backfill is for


# -- faults ----------------------------------------------------------------------------------------


def fail_request(api: FakeArxivAPI, number: int, reply: Reply) -> None:
    """The API answers its ``number``-th request (from 1) with ``reply``, every other one as usual."""
    answer = api.answer

    def maybe(seen):
        if len(api.queries) + 1 == number:
            api.queries.append({})
            return reply
        return answer(seen)

    api.server.handle(PATH, maybe)


def test_a_refused_day_is_left_missing_and_the_rest_go_on_after_a_pause(feed_server: FeedServer, tmp_path):
    api = FakeArxivAPI(feed_server, corpus_papers())
    config = make_config(tmp_path, api.url)
    fail_request(api, 2, Reply(503, b"busy"))
    pauses: list[float] = []
    report = run(config, [date(2026, 2, 3), *CORPUS_DAYS], progress=Progress(quiet=True), sleep=pauses.append)
    assert [d.status for d in report.days] == ["empty", "failed", "counted", "counted"]
    assert report.days[1].note.startswith("arXiv API: HTTP 503")
    assert pauses == [30.0]  # a refusal: the API gets time before the next day
    got = stored(config)
    assert got[date(2026, 2, 4)] == ("missing", "api", None)
    assert got[date(2026, 2, 6)] == ("announced", "api", len(records(date(2026, 2, 6))))


def test_a_timeout_fails_that_day_only(feed_server: FeedServer, tmp_path):
    api = FakeArxivAPI(feed_server, corpus_papers())
    config = make_config(tmp_path, api.url)
    config = config.model_copy(update={"http": config.http.model_copy(update={"timeout_seconds": 0.3})})
    fail_request(api, 1, Reply(200, b"", delay=2.0))
    pauses: list[float] = []
    report = run(config, CORPUS_DAYS[:2], progress=Progress(quiet=True), sleep=pauses.append)
    assert [(d.status, d.note) for d in report.days] == [
        ("failed", "arXiv API: timed out"),
        ("counted", ""),
    ]
    assert pauses == []  # not a refusal: no pause


def test_offline_stops_at_once_and_says_which_days_were_not_tried(tmp_path):
    # .invalid never resolves (RFC 6761): what every host looks like on a machine that is offline.
    config = make_config(tmp_path, "https://export.arxiv.invalid/api/query")
    report = run(config, CORPUS_DAYS, progress=Progress(quiet=True))
    assert [d.status for d in report.days] == ["failed", "untried", "untried"]
    assert report.days[0].note.startswith("cannot resolve export.arxiv.invalid")
    assert report.requests == 0  # counted only for days that were tried: the first one
    assert stored(config) == {}  # offline says nothing about the days
    assert report.summary() == "backfill: 0 counted, 1 failed, 2 not tried; 0 API requests"


@pytest.mark.parametrize(
    ("n", "untried"),
    [(1, ""), (3, "2026-02-04, 2026-02-05"), (4, "2026-02-03 to 2026-02-05 (3 days)")],
)
def test_offline_through_the_cli_says_each_reason_once_with_the_right_count(tmp_path, n, untried):
    config = tmp_path / "digest.toml"
    api = "https://export.arxiv.invalid/api/query"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[arxiv]\napi_url = "{api}"\n')
    args = ["backfill", "--config", str(config), "--days", str(n), "--date", "2026-02-06"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    err = result.stderr
    assert err.count("cannot resolve export.arxiv.invalid") == 1, err
    assert "remaining" not in err
    first = plan(date(2026, 2, 6), n)[0]
    head = "the day could not be fetched" if n == 1 else f"none of the {n} days could be fetched"
    assert f"Error: {head}; left missing:\n       {first}: cannot resolve" in err
    if untried:
        assert f"       {untried}: not tried: the arXiv API could not be reached\n" in err


def test_a_refused_connection_fails_each_day_and_keeps_going(tmp_path):
    from tests.smtpserver import closed_port

    config = make_config(tmp_path, f"http://127.0.0.1:{closed_port()}/api/query")
    report = run(config, CORPUS_DAYS, progress=Progress(quiet=True))
    assert [(d.status, d.note) for d in report.days] == [("failed", "arXiv API: cannot connect")] * 3
    assert set(stored(config).values()) == {("missing", "api", None)}


def test_the_cli_reports_failed_days_with_exit_1(feed_server: FeedServer, tmp_path):
    api = FakeArxivAPI(feed_server, corpus_papers())
    config_path = write_config(tmp_path, feed_server, api)
    feed_server.script(PATH, *[Reply(429, b"slow down")] * 3)  # the shared client tries 3 times
    result = CliRunner().invoke(
        cli, ["backfill", "--config", str(config_path), "--days", "1", "--date", "2026-02-05"]
    )
    assert result.exit_code == 1, result.output
    assert "Error: the day could not be fetched; left missing:" in result.stderr
    assert "2026-02-04: arXiv API: HTTP 429" in result.stderr
    assert feed_server.count(PATH) == 3


def test_paging_asks_for_the_next_page_until_the_total(feed_server: FeedServer):
    api = FakeArxivAPI(feed_server, corpus_papers())
    start, end = WINDOWS[date(2026, 2, 6)]
    client = loopback_client()
    arxiv_client.prepare_client(client, Config().arxiv.model_copy(update={"api_url": api.url}), 5.0)
    fetched = arxiv_backfill.fetch_window(
        client, ["cs.CL", "cs.LG", "cs.CV", "cs.AI"], start, end, page_size=150
    )
    assert len(fetched.items) == len(records(date(2026, 2, 6))) == 399
    assert fetched.requests == 3
    assert [q["start"] for q in api.queries] == ["0", "150", "300"]
    assert {i.announce_type for i in fetched.items} == {"new"}  # every corpus primary is one of the four
    assert client.page_size == 100  # the client's own page size is back for the search


def test_ctrl_c_keeps_the_days_done_so_far(feed_server: FeedServer, tmp_path: Path):
    """A real SIGINT to a real `digest backfill` process, while its third request is in flight."""
    api = FakeArxivAPI(feed_server, corpus_papers())
    config_path = write_config(tmp_path, feed_server, api)
    answer = api.answer
    release = threading.Event()
    arrived: list[float] = []

    def slow_third(seen):
        arrived.append(seen.at)
        if len(arrived) == 3:
            release.wait(60)  # the third answer waits until the process has been interrupted
        return answer(seen)

    feed_server.handle(PATH, slow_third)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", "backfill", "--config", str(config_path), "--days", "3",
         "--date", "2026-02-07"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(arrived) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # say where it hung instead of leaving it running
        release.set()
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running 30 s after SIGINT ({len(arrived)} requests arrived); stderr:\n{err}")
    release.set()
    assert proc.returncode == 130, err
    assert "backfill interrupted: 2 counted" in err and "the days counted so far are kept" in err
    config = make_config(tmp_path, api.url)
    got = stored(config)
    assert got == {
        date(2026, 2, 4): ("announced", "api", len(records(date(2026, 2, 4)))),
        date(2026, 2, 5): ("announced", "api", len(records(date(2026, 2, 5)))),
    }


# -- the first run says how to get a baseline ----------------------------------------------------------


def test_a_first_digest_run_suggests_backfill_and_a_later_one_does_not(feed_server: FeedServer, tmp_path):
    api = FakeArxivAPI(feed_server)
    feed_server.serve("/hf", b"[]", content_type="application/json")
    config_path = write_config(tmp_path, feed_server, api)
    hints = []
    for day in (date(2026, 2, 5), date(2026, 2, 6)):
        rs = records(day)
        listing = build_arxiv_rss(rs, day, cross_ids=guess_cross_ids(rs, day))
        feed_server.serve("/rss/cs.CL+cs.LG+cs.CV+cs.AI", listing)
        result = CliRunner().invoke(cli, ["now", "--config", str(config_path), "--date", day.isoformat()])
        assert result.exit_code == 0, result.output
        hints.append([line for line in result.stderr.splitlines() if "digest backfill" in line])
    assert hints[0] == [
        "trend: no earlier days to compare with yet (0/5); `digest backfill --days 20` fills them "
        "from the arXiv API (about a minute, no LLM)"
    ]
    assert hints[1] == []  # the second day has one earlier day


OLD_DAYS = [date(2026, 1, 29), date(2026, 1, 30), date(2026, 2, 2), date(2026, 2, 3), date(2026, 2, 4)]
RECOUNT_HINT = (
    "trend: earlier days were counted by other topic rules (LLM, 멀티모달, DPO·정렬, Mamba·SSM: keywords "
    "changed or a newer digest); `digest backfill --days 20` counts them again (no LLM)"
)


def _run_after_older_rules(feed_server: FeedServer, tmp_path: Path, old_days: list[date]):
    """`digest now` for 2026-02-05 on a state from an older digest (or with edited keywords): ``old_days``
    counted from the listing by other rules."""
    api = FakeArxivAPI(feed_server, corpus_papers())
    feed_server.serve("/hf", b"[]", content_type="application/json")
    config_path = write_config(tmp_path, feed_server, api)
    config = make_config(tmp_path, api.url)
    old_rules = {k: "older-matcher" for k in config.topics}
    with State.open(config.state_path) as state:
        for d in old_days:
            topics = dict.fromkeys(config.topics, 10)
            stats = DayStats(d, DayStatus.ANNOUNCED, "listing", 300, topics=topics, topic_rules=old_rules)
            state.record_day_stats(stats)
    day = date(2026, 2, 5)
    rs = records(day)
    listing = build_arxiv_rss(rs, day, cross_ids=guess_cross_ids(rs, day))
    feed_server.serve("/rss/cs.CL+cs.LG+cs.CV+cs.AI", listing)
    result = CliRunner().invoke(cli, ["now", "--config", str(config_path), "--date", day.isoformat()])
    assert result.exit_code == 0, result.output
    return result, config, config_path, day


def test_before_a_baseline_days_counted_by_other_rules_are_not_counted_towards_it(
    feed_server: FeedServer, tmp_path
):
    # three older days: "기준선 수집 중 (3/5일)" would promise a baseline in two days that is not there
    result, *_ = _run_after_older_rules(feed_server, tmp_path, OLD_DAYS[2:])
    assert "기준선 수집 중 (0/5일)" in result.stdout and "(3/5일)" not in result.stdout
    assert [line for line in result.stderr.splitlines() if "digest backfill" in line] == [RECOUNT_HINT]


def test_after_the_counting_rules_change_a_run_says_so_and_backfill_counts_the_days_again(
    feed_server: FeedServer, tmp_path
):
    result, config, config_path, day = _run_after_older_rules(feed_server, tmp_path, OLD_DAYS)
    old_days = OLD_DAYS
    assert "| 비교할 기록 없음 |" in result.stdout  # each topic: nothing comparable, so no arrows
    assert [line for line in result.stderr.splitlines() if "digest backfill" in line] == [RECOUNT_HINT]

    result = CliRunner().invoke(
        cli, ["backfill", "--config", str(config_path), "--days", "5", "--date", day.isoformat()]
    )
    assert result.exit_code == 0, result.output
    got = stored(config)
    # The day the API can serve is counted again by today's rules; the others keep their old numbers
    # (a request that finds nothing never turns a counted day into a missing one).
    assert got[date(2026, 2, 4)] == ("announced", "api", len(records(date(2026, 2, 4))))
    assert all(got[d] == ("announced", "listing", 300) for d in old_days[:-1])
    with State.open(config.state_path) as state:
        assert state.load_day_stats(date(2026, 2, 4)).topic_rules == current_rules(config)


@pytest.mark.parametrize("n", [0, 41])
def test_the_number_of_days_is_checked(tmp_path, n):
    result = CliRunner().invoke(cli, ["backfill", "--days", str(n)], env={"DIGEST_CONFIG": ""})
    assert result.exit_code == 2


def test_a_terminal_gets_a_live_progress_bar(feed_server: FeedServer, tmp_path):
    import io

    api = FakeArxivAPI(feed_server, corpus_papers())
    config = make_config(tmp_path, api.url)
    stream = io.StringIO()
    run(config, CORPUS_DAYS, progress=Progress(stream, live=True))
    out = stream.getvalue()
    assert "\r\x1b[2K[" in out and "backfill ░░░░░░░░░░░░░░░░░░░░ 0/3 · 2026-02-04 …" in out
    assert f"backfill {'█' * 13}{'░' * 7} 2/3 · 2026-02-06 …" in out  # redrawn in place, day by day
    plain = io.StringIO()
    run(config, CORPUS_DAYS, progress=Progress(plain, live=False), force=True)
    assert "\r" not in plain.getvalue() and plain.getvalue().count("\n") == 3  # one plain line a day
