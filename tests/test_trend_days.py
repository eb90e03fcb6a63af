"""Consecutive real arXiv days through the CLI on one state: what the trend block says on the last day.

Each corpus day (tests/fixtures/corpus, real metadata) is served as that day's RSS listing on loopback,
the LLM is the OpenAI-compatible fake; nothing of digest's own is patched.
"""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Config
from digest.models import DayStatus
from digest.selection import pick
from digest.selection.matching import TopicMatcher
from digest.sources.arxiv_listing import kept, parse_listing
from digest.state import State
from digest.trend import stats
from digest.trend.phrases import count_phrases
from tests import feedserver, llmserver
from tests.corpusdays import LISTING, listing, records, write_config
from tests.feedserver import FeedServer
from tests.fixtures.sources.build import build_arxiv_rss
from tests.llmserver import LLMServer

feed_server = feedserver.feed_server
llm_server = llmserver.llm_server

DAYS = [date(2026, 2, 4), date(2026, 2, 5), date(2026, 2, 6)]
LABELS = {"llm": "LLM", "multimodal": "멀티모달", "dpo": "DPO·정렬", "mamba": "Mamba·SSM"}




@pytest.fixture
def setup(feed_server: FeedServer, llm_server: LLMServer, tmp_path: Path):
    feed_server.serve("/hf", b"[]", content_type="application/json")
    config = write_config(tmp_path, feed_server, llm_server.url, key_env="TREND_TEST_KEY")
    os.environ["TREND_TEST_KEY"] = "test-key"
    yield feed_server, llm_server, config, tmp_path / "state"
    os.environ.pop("TREND_TEST_KEY", None)


def run_day(feed: FeedServer, config: Path, day: date, *args: str):
    feed.serve(LISTING, listing(day))
    result = CliRunner().invoke(cli, ["now", "--config", str(config), "--date", day.isoformat(), *args])
    assert result.exit_code == 0, result.output
    return result


def block(markdown: str) -> str:
    return markdown.split("\n- **", 1)[0]


def expected_counts(day: date) -> tuple[int, dict[str, int]]:
    """The day's pool and topic counts computed straight from the records, without the pipeline."""
    topics = Config().topics
    parsed = parse_listing(listing(day).encode(), url="test")
    candidates = pick.merge(kept(parsed.items, include_replacements=False))
    matcher = TopicMatcher(topics)
    counts = dict.fromkeys(topics, 0)
    for c in candidates:
        for m in matcher.match(c):
            counts[m.topic] += 1
    return len(candidates), counts


def test_three_real_days_in_a_row_the_last_one_in_cold_start(setup):
    feed, llm, config, state_dir = setup
    for day in DAYS:
        result = run_day(feed, config, day)
    md = result.stdout
    b = block(md)
    pool, counts = expected_counts(DAYS[-1])
    assert pool == len(records(DAYS[-1])) == 399
    # Two earlier days: still collecting, so no averages, percentages or arrows.
    assert "\n기준선 수집 중 (2/5일)\n" in b
    assert "%" not in b.split("기준선 수집 중", 1)[1] and not re.search("[▲▼→]", b)
    for key, label in LABELS.items():
        row = re.search(rf"^\| {re.escape(label)} \| (\d+)편 \| ([▁▂▃▄▅▆▇█]{{3}}) \|$", b, re.M)
        assert row, f"no line for {label}:\n{b}"
        assert int(row.group(1)) == counts[key]  # the whole day's pool, not the 10 items shown
    assert counts["llm"] > 10
    assert f"오늘 arXiv 논문 {pool}편(new·cross) 기준" in b
    # The paragraph: the day's numbers as the code writes them (busiest first), then the (fake) LLM's theme.
    listed = ", ".join(f"{LABELS[k]} 논문이 {n}편" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    assert f"**오늘의 흐름** — 오늘 arXiv 논문 {pool}편 중 {listed}이었고, 기준선을 모으는 중이라(2/5일)" in b
    assert f"{llmserver.FLOW_THEME[:-1]}(예: " in b
    assert "흐름 대체" not in md

    db = sqlite3.connect(state_dir / "digest.sqlite3")
    rows = db.execute("select day, status, pool from day_stats order by day").fetchall()
    assert rows == [(d.isoformat(), "announced", len(records(d))) for d in DAYS]

    # A re-run of the day: the same block, no LLM call, no second row, and the day's phrases are the
    # stored ones (same pool, same rules), not counted and written again.
    calls = llm.calls
    phrases = db.execute("select * from day_phrases order by day, phrase").fetchall()
    singles = db.execute("select single_phrases from day_stats order by day").fetchall()
    again = run_day(feed, config, DAYS[-1])
    assert block(again.stdout) == b
    assert llm.calls == calls
    assert db.execute("select count(*) from day_stats").fetchone()[0] == 3
    assert re.search(
        r"^trend: 399 papers in the pool, \d+ phrases in two or more \(counted before\)", again.stderr, re.M
    )
    assert db.execute("select * from day_phrases order by day, phrase").fetchall() == phrases
    assert db.execute("select single_phrases from day_stats order by day").fetchall() == singles
    text = run_day(feed, config, DAYS[-1], "--format", "text").stdout
    assert f"오늘의 흐름: 오늘 arXiv 논문 {pool}편 중 {listed}" in text and re.search(
        rf"^LLM [▁▂▃▄▅▆▇█]{{3}} {counts['llm']}편$", text, re.M
    )


def test_weekend_and_failed_days_are_recorded_as_such_never_as_zero(setup):
    feed, llm, config, state_dir = setup
    run_day(feed, config, DAYS[-1])
    feed.serve(LISTING, build_arxiv_rss([], date(2026, 2, 7)))
    weekend = CliRunner().invoke(cli, ["now", "--config", str(config), "--date", "2026-02-07"])
    assert weekend.exit_code == 0, weekend.output
    assert "기준선" not in weekend.stdout and "오늘의 흐름" not in weekend.stdout
    feed.serve(LISTING, b"down", status=503)
    failed = CliRunner().invoke(cli, ["now", "--config", str(config), "--date", "2026-02-09"])
    assert failed.exit_code == 0, failed.output
    assert "arXiv 목록을 가져오지 못해 오늘의 주제 추이는 계산하지 않았습니다." in failed.stdout
    with State.open(state_dir) as state:
        got = {s.day: (s.status, s.pool) for s in state.day_stats(date(2026, 2, 6), date(2026, 2, 9))}
    assert got == {
        date(2026, 2, 6): (DayStatus.ANNOUNCED, 399),
        date(2026, 2, 7): (DayStatus.NO_ANNOUNCEMENT, None),
        date(2026, 2, 9): (DayStatus.MISSING, None),
    }
    # The failed Monday re-run once the listing is back replaces the missing row with the counts.
    feed.serve(LISTING, build_arxiv_rss(records(DAYS[0]), date(2026, 2, 9)))
    back = CliRunner().invoke(cli, ["now", "--config", str(config), "--date", "2026-02-09"])
    assert back.exit_code == 0, back.output
    assert "기준선 수집 중 (1/5일)" in back.stdout
    # 02-06 then a blank for the weekend? No: weekends are not announcement days, so they are not gaps.
    assert re.search(r"^\| LLM \| \d+편 \| [▁▂▃▄▅▆▇█]{2} \|$", back.stdout, re.M)


def test_a_past_date_served_by_the_api_search_records_nothing(setup):
    feed, llm, config, state_dir = setup
    # The feed has moved on to 02-06: the run of 02-05 is a past day (the API search is off here).
    feed.serve(LISTING, listing(DAYS[-1]))
    result = CliRunner().invoke(cli, ["now", "--config", str(config), "--date", "2026-02-05"])
    assert result.exit_code == 0, result.output
    assert "지난 날짜라 그날의 전체 arXiv 목록이 없어 주제 추이는 계산하지 않았습니다." in result.stdout
    with State.open(state_dir) as state:
        assert state.day_stats(date(2026, 2, 1), date(2026, 2, 28)) == []


def seed_history(state_dir: Path, days: list[date]) -> None:
    """Hand-built history made of real days' numbers: the counts and phrases of 02-04 and 02-05,
    alternating, recorded for ``days`` the way a run records its day."""
    topics = Config().topics
    real = []
    for source in DAYS[:2]:
        parsed = parse_listing(listing(source).encode(), url="test")
        candidates = pick.merge(kept(parsed.items, include_replacements=False))
        scored = pick.score(candidates, TopicMatcher(topics))
        real.append(stats.count_day(source, candidates, scored, topics))
    with State.open(state_dir) as state:
        for i, d in enumerate(days):
            src = real[i % 2]
            state.record_day_stats(type(src)(**{**src.__dict__, "day": d}))


def test_beyond_the_cold_start_with_a_hand_built_history(setup):
    feed, llm, config, state_dir = setup
    history = stats.announcement_days(date(2026, 2, 5), 20)
    seed_history(state_dir, history)
    result = run_day(feed, config, DAYS[-1])
    b = block(result.stdout)
    assert "기준선 수집 중" not in b
    assert "| 주제 | 오늘 | 최근 평균 | 변화 | 최근 발표일 추이 |" in b
    pool, counts = expected_counts(DAYS[-1])
    for key, label in LABELS.items():
        row = re.search(
            rf"^\| {re.escape(label)} \| (\d+)편 \((?:\d+|<1)%\) \| (?:\d+|<1)% \| ([▲▼→])", b, re.M
        )
        assert row and int(row.group(1)) == counts[key], b
    assert "최근 20개 발표일의 비율" in b
    terms = re.search(r"^떠오르는 말: (.+)$", b, re.M)
    assert terms, b
    found = re.findall(r"`([^`]+)` (\d+)편 \((평소 하루 [^)]+|처음 등장)\)", terms.group(1))
    assert 1 <= len(found) <= 5
    today = count_phrases((r["authors"][0], r["title"], r["summary"]) for r in records(DAYS[-1]))
    for phrase, n, _ in found:
        assert today.docs[phrase] == int(n) >= 3  # the count is the phrase's papers today
