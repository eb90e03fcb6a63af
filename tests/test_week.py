"""`digest week`: the 주간 정리 of an announcement week, from the state the daily runs (or a backfill) left.

End to end: the corpus's real days 2026-02-04..06 are run through `digest now` on loopback servers (the
arXiv listing built from the records, Hugging Face's 02-05 fixture, the OpenAI-compatible fake), then
`digest week` for that week (02-02 and 02-03 have no data: a week with missing days). The pure parts
(weeks, merging, ranking, adding up) are checked on hand-built values.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Config
from digest.models import Candidate, DayStats, DayStatus, Scored, TopicMatch
from digest.selection import pick
from digest.selection.matching import TopicMatcher
from digest.sources.arxiv_listing import kept, parse_listing
from digest.state import State
from digest.week import roundup as week
from tests import feedserver, llmserver
from tests.corpusdays import LISTING, listing, records
from tests.corpusdays import write_config as corpus_config
from tests.feedserver import FeedServer
from tests.llmserver import LLMServer, request_items, request_numbers

feed_server = feedserver.feed_server
llm_server = llmserver.llm_server

FIXTURES = Path(__file__).parent / "fixtures"
DAYS = [date(2026, 2, 4), date(2026, 2, 5), date(2026, 2, 6)]
LABELS = {"llm": "LLM", "multimodal": "멀티모달", "dpo": "DPO·정렬", "mamba": "Mamba·SSM"}
BLANK = "\u2800"  # a day without data in a Markdown sparkline




def day_counts(day: date) -> dict[str, int]:
    """The day's topic counts straight from its listing, without the pipeline."""
    parsed = parse_listing(listing(day).encode(), url="test")
    candidates = pick.merge(kept(parsed.items, include_replacements=False))
    counts = dict.fromkeys(LABELS, 0)
    for s in pick.score(candidates, TopicMatcher(Config().topics)):
        for t in s.topics:
            counts[t] += 1
    return counts



@pytest.fixture
def three_days(feed_server: FeedServer, llm_server: LLMServer, tmp_path: Path):
    """The state after `digest now` on 02-04, 02-05 and 02-06; returns (config path, state dir)."""
    feed_server.serve(
        "/hf?date=2026-02-05", FIXTURES / "sources" / "hf-2026-02-05.json", content_type="application/json"
    )
    os.environ["WEEK_TEST_KEY"] = "test-key"
    config = corpus_config(tmp_path, feed_server, llm_server.url, key_env="WEEK_TEST_KEY")
    for day in DAYS:
        feed_server.serve(LISTING, listing(day))
        result = CliRunner().invoke(cli, ["now", "--config", str(config), "--date", day.isoformat()])
        assert result.exit_code == 0, result.output
    yield config, tmp_path / "state"
    os.environ.pop("WEEK_TEST_KEY", None)


def week_cli(config: Path, *args: str):
    result = CliRunner().invoke(cli, ["week", "--config", str(config), "--date", "2026-02-06", *args])
    assert result.exit_code == 0, result.output
    return result


def test_the_week_of_three_real_days_through_the_cli(three_days, llm_server: LLMServer):
    config, state_dir = three_days
    db = sqlite3.connect(state_dir / "digest.sqlite3")
    shown_daily = {r[0] for r in db.execute("select key from seen")}
    before = len(llm_server.requests)
    md = week_cli(config).stdout
    assert md.startswith("## 주간 정리 — 2026-02-02 (월) ~ 02-06 (금)\n")
    # The two days without data are said so, never counted as zero: in one line, as they lack both.
    assert "> 자료가 없는 발표일: 02-02 (월), 02-03 (화). 이번 주 통계와 주요 논문에서 빠졌습니다" in md
    assert "숫자가 없는 발표일" not in md and "후보 논문이 저장되지 않은 날" not in md
    # The numbers: each topic's papers over the three counted days, one block per weekday, blanks first.
    assert "\n기준선 수집 중 (0/5일)\n" in md  # nothing before the week: no averages, no arrows
    assert "| 주제 | 이번 주 | 요일별 추이 (월화수목금) |" in md
    totals = {k: sum(day_counts(d)[k] for d in DAYS) for k in LABELS}
    for key, label in LABELS.items():
        row = re.search(
            rf"^\| {re.escape(label)} \| ([\d,]+)편 \| {BLANK}{BLANK}([▁▂▃▄▅▆▇█]{{3}}) \|$", md, re.M
        )
        assert row, f"no line for {label}:\n{md}"
        assert int(row.group(1).replace(",", "")) == totals[key]
    pool = sum(len(records(d)) for d in DAYS)
    assert f"이번 주 arXiv 논문 {pool:,}편(new·cross, 3개 발표일) 기준" in md
    assert "**이번 주 흐름** — " in md and "흐름 대체" not in md

    # The papers: at most 8, at most 2 per topic, each with its takeaway and when it was seen.
    groups = re.findall(r"^### (.+) · (\d)편$", md, re.M)
    assert groups and all(int(n) <= 2 for _, n in groups)
    items = re.findall(r"^- \*\*\[.+$", md, re.M)
    assert 5 <= len(items) <= 8 and len(items) == sum(int(n) for _, n in groups)
    for line in items:
        assert "요약 대체" not in line
        assert re.search(r" · 02-0[456] \((수|목|금)\)( 외 [12]일)? · \[PDF\]", line), line
    # Hugging Face's 02-05 list is fetched by the runs of 02-05 and 02-06 (a day and the day before).
    assert any("Hugging Face [▲" in line and "02-05 (목) 외 1일" in line for line in items)
    # Takeaways: the lines the days already paid for are reused; only the others are asked for, once.
    asked = [it for body in llm_server.requests[before:] for it in request_items(body)]
    flows = [body for body in llm_server.requests[before:] if request_numbers(body)]
    assert len(flows) == 1
    asked_flow = request_numbers(flows[0])
    assert "이번 주 흐름" in flows[0]["messages"][0]["content"]  # the week's prompt
    assert not re.search(r"\d", json.dumps(asked_flow["movements"]))  # no count to copy
    # The week's theme follows the code's sentence of the week's numbers.
    assert "**이번 주 흐름** — 이번 주" in md and f"{llmserver.FLOW_THEME[:-1]}(예: " in md
    week_keys = set(re.findall(r"\(https://arxiv\.org/abs/([\d.]+)\)", md))
    assert len(asked) == len(week_keys - {k.removeprefix("arxiv:") for k in shown_daily})

    # Archived: Markdown, HTML, text and the meta a resend needs.
    archive = state_dir / "archive"
    assert (archive / "week-2026-W06.md").read_text(encoding="utf-8") == md
    meta = json.loads((archive / "week-2026-W06.json").read_text(encoding="utf-8"))
    assert meta["week"] == "2026-W06" and meta["subject"].startswith("[주간 정리] 2026-02-02 ~ 02-06 · ")
    assert (archive / "week-2026-W06.html").exists() and (archive / "week-2026-W06.txt").exists()
    # Every run rewrote the Atom feed: the days' digests and now the week's.
    import feedparser

    feed = feedparser.parse((archive / "feed.xml").read_bytes())
    assert not feed.bozo
    ids = [e.id for e in feed.entries]
    assert ids[0] == "tag:digest,2026-02-02:week/2026-W06" and "tag:digest,2026-02-05:daily" in ids

    # Again: the same roundup, no LLM call at all (takeaways and paragraph cached).
    calls = llm_server.calls
    again = week_cli(config).stdout
    assert llm_server.calls == calls
    assert again.rsplit("\n", 2)[0] == md.rsplit("\n", 2)[0]  # all but the footer, which says so:
    assert again.endswith(" · 8편 선정 · LLM 호출 없음(저장된 요약)\n")
    # The daily state is untouched: no run row, nothing marked as shown by the week.
    assert {r[0] for r in db.execute("select key from seen")} == shown_daily
    assert db.execute("select count(*) from runs").fetchone()[0] == 3


def test_the_week_leaves_out_papers_shown_before_it(three_days):
    config, state_dir = three_days
    first = re.search(r"^- \*\*\[.+?\]\((https://arxiv\.org/abs/[\d.]+)\)", week_cli(config).stdout, re.M)
    assert first
    key = f"arxiv:{first.group(1).rsplit('/', 1)[1]}"
    # As if a digest of the week before had shown it (the days of this week showed it first, 02-05).
    db = sqlite3.connect(state_dir / "digest.sqlite3")
    with db:
        assert db.execute("update seen set first_shown = '2026-01-30' where key = ?", (key,)).rowcount == 1
    db.close()
    assert first.group(1) not in week_cli(config).stdout


def test_text_and_html_bodies(three_days):
    config, _ = three_days
    text = week_cli(config, "--format", "text").stdout
    assert text.startswith("주간 정리 — 2026-02-02 (월) ~ 02-06 (금)\n")
    assert re.search(r"^LLM   [▁▂▃▄▅▆▇█]{3} [\d,]+편$", text, re.M)
    assert "이번 주 흐름: " in text and "<" not in text.split("--")[0].replace("<1%", "")
    html = week_cli(config, "--format", "html").stdout
    assert "<h1" in html and "주간 정리 · 2026-W06" in html and "style=" in html
    assert "<script" not in html


# -- the pure parts ------------------------------------------------------------------------------------


def test_a_week_is_monday_to_friday_and_a_weekend_belongs_to_the_week_before():
    assert week.week_of(date(2026, 2, 4)) == (date(2026, 2, 2), date(2026, 2, 6))
    assert week.week_of(date(2026, 2, 7)) == (date(2026, 2, 2), date(2026, 2, 6))  # Saturday
    assert week.week_of(date(2026, 2, 8)) == (date(2026, 2, 2), date(2026, 2, 6))  # Sunday
    assert week.week_of(date(2026, 2, 9)) == (date(2026, 2, 9), date(2026, 2, 13))
    # MLK Day 2026: no listing dated Tue 20 Jan, so that week has four announcement days.
    assert week.listing_days(date(2026, 1, 19)) == [
        date(2026, 1, 19),
        *(date(2026, 1, d) for d in (21, 22, 23)),
    ]
    assert week.listing_days(date(2026, 2, 2), until=date(2026, 2, 4)) == [
        date(2026, 2, d) for d in (2, 3, 4)
    ]


def _scored(
    key: str, relevance: float, topic: str = "llm", *, upvotes: int | None = None, sources=("arxiv-listing",)
):
    c = Candidate(
        key=key, kind="paper", title=key, url=f"https://arxiv.org/abs/{key[6:]}", summary="s", authors=(),
        categories=("cs.CL",), sources=tuple(sources), version=1, arxiv_id=key[6:], upvotes=upvotes,
    )  # fmt: skip
    return Scored(
        c,
        (TopicMatch(topic, topic, relevance, ("t",), ("title",)),),
        relevance,
        pick.popularity(upvotes),
    )


def test_merging_the_week_keeps_every_source_the_most_upvotes_and_the_days():
    mon, tue = date(2026, 2, 2), date(2026, 2, 3)
    a_listing = _scored("arxiv:1", 0.9)
    a_hf = _scored("arxiv:1", 0.7, upvotes=120, sources=("huggingface",))
    merged, days = week.merge_shortlists({mon: [a_listing, _scored("arxiv:2", 0.5)], tue: [a_hf]})
    one = next(s for s in merged if s.candidate.key == "arxiv:1")
    assert one.candidate.sources == ("arxiv-listing", "huggingface")
    assert one.candidate.upvotes == 120 and one.popularity == pick.popularity(120)
    assert one.relevance == 0.9  # the best day's match
    assert days == {"arxiv:1": (mon, tue), "arxiv:2": (mon,)}


def test_the_week_ranks_up_what_was_seen_again_and_what_rises():
    once = _scored("arxiv:1", 0.8)
    twice = _scored("arxiv:2", 0.7, sources=("arxiv-listing", "huggingface"))
    assert week.boosted(twice, 2, set()).relevance > week.boosted(once, 1, set()).relevance
    quiet = _scored("arxiv:9", 0.75, topic="dpo")
    assert week.boosted(quiet, 1, {"dpo"}).relevance > week.boosted(once, 1, {"dpo"}).relevance
    # At most max_per_topic a topic, best first.
    many = [week.boosted(_scored(f"arxiv:{i}", 1 - i / 10), 1, set()) for i in range(1, 6)]
    picked = pick.select(many + [week.boosted(quiet, 1, set())], Config().selection.model_copy(
        update={"max_items": 8, "max_per_topic": 2}))  # fmt: skip
    assert [s.candidate.key for s in picked] == ["arxiv:1", "arxiv:2", "arxiv:9"]


def test_adding_up_a_week_skips_missing_days_and_days_counted_by_other_rules():
    rules = {"llm": "r"}

    def day(d: int, pool: int | None, status=DayStatus.ANNOUNCED, topic_rules=rules) -> DayStats:
        return DayStats(
            date(2026, 2, d), status, "listing", pool, {"llm": (pool or 0) // 2}, dict(topic_rules)
        )

    days = [day(2, None, DayStatus.MISSING), day(3, 100), day(4, 300), day(5, 50, topic_rules={"llm": "old"})]
    total = week.aggregate(days, date(2026, 2, 2), rules)
    assert (total.pool, total.topics, total.day) == (400, {"llm": 200}, date(2026, 2, 2))
    assert week.aggregate(days[:1], date(2026, 2, 2), rules) is None  # nothing counted: no numbers, not zeros
    by_day = {d.day: d for d in days[1:3]}
    spark = week.spark([date(2026, 2, d) for d in range(2, 7)], by_day, "llm")
    assert spark == " ██  "  # a blank for each day without numbers; equal shares, equal blocks


def test_a_week_in_progress_says_so(tmp_path):
    numbers = week.WeekNumbers(None, (), ())
    notes = week._notices(
        date(2026, 2, 2), [date(2026, 2, 2), date(2026, 2, 3)], numbers, {}, date(2026, 2, 3)
    )
    assert notes[0] == "이번 주가 아직 끝나지 않았습니다: 02-03 (화)까지의 정리입니다."
    assert "이번 주에 저장된 후보 논문이 없습니다." in notes[-1]


def test_a_day_without_numbers_or_candidates_is_one_notice_each_other_gap_its_own():
    days = [date(2026, 2, d) for d in range(2, 7)]
    # 02-02 has nothing, 02-03 only its shortlist, 02-05 only its numbers.
    numbers = week.WeekNumbers(None, (days[2], days[3], days[4]), ())
    lists = {days[1]: (), days[2]: (), days[4]: ()}
    notes = week._notices(days[0], days, numbers, lists, days[-1])
    assert notes == [
        "자료가 없는 발표일: 02-02 (월). 이번 주 통계와 주요 논문에서 빠졌습니다"
        "(digest backfill 명령으로 채울 수 있습니다).",
        "숫자가 없는 발표일: 02-03 (화). 이번 주 통계에서 빠졌습니다"
        "(digest backfill 명령으로 채울 수 있습니다).",
        "후보 논문이 저장되지 않은 날: 02-05 (목).",
    ]


def test_the_week_candidates_store_their_days_shortlist_bounded(three_days):
    _, state_dir = three_days
    with State.open(state_dir) as state:
        lists = state.day_candidates(DAYS[0], DAYS[-1])
    assert sorted(lists) == DAYS
    assert all(len(v) == 30 for v in lists.values())
    hf = {s.candidate.key for s in lists[DAYS[1]] if "huggingface" in s.candidate.sources}
    assert hf, "the Hugging Face papers of 02-05 are on that day's shortlist"


def test_week_send_through_the_cli_sends_once_per_recipient(three_days, tmp_path: Path):
    from tests.smtpserver import HOST, smtp_server

    config, _ = three_days
    with smtp_server() as server:
        text = config.read_text(encoding="utf-8") + (
            f'\n[email]\nenabled = true\nfrom = "digest@example.com"\nto = ["me@example.com"]\n'
            f'smtp_host = "{HOST}"\nsmtp_port = {server.port}\nsecurity = "none"\ntimeout_seconds = 5.0\n'
        )
        config.write_text(text, encoding="utf-8")
        first = week_cli(config, "--send")
        assert "week 2026-W06 → me@example.com: sent" in first.stderr
        assert len(server.received) == 1
        msg = server.received[0].message
        assert msg["Subject"].startswith("[주간 정리] 2026-02-02 ~ 02-06 · LLM 2 · 멀티모달 2")
        assert first.stdout.startswith("## 주간 정리")
        again = week_cli(config, "--send")
        assert "week 2026-W06 → me@example.com: not sent again" in again.stderr
        assert len(server.received) == 1
    bad = CliRunner().invoke(cli, ["week", "--config", str(config), "--force"])
    assert bad.exit_code == 2 and "--force only makes sense with --send" in bad.output


def test_a_week_past_the_cold_start_with_a_hand_built_history(feed_server, llm_server, tmp_path: Path):
    """Twenty announcement days before the week, made of real days' numbers (tests/test_trend_days.py),
    then the three corpus days: the week compares shares, arrows, and names its emerging terms with
    their papers over the week."""
    from digest.trend import stats
    from digest.trend.phrases import count_phrases
    from tests.test_trend_days import seed_history

    state_dir = tmp_path / "state"
    seed_history(state_dir, stats.announcement_days(date(2026, 1, 30), 20))
    os.environ["WEEK_TEST_KEY"] = "test-key"
    try:
        config = corpus_config(tmp_path, feed_server, llm_server.url, key_env="WEEK_TEST_KEY")
        feed_server.serve("/hf", b"[]", content_type="application/json")
        for day in DAYS:
            feed_server.serve(LISTING, listing(day))
            result = CliRunner().invoke(
                cli, ["now", "--config", str(config), "--date", day.isoformat(), "-q"]
            )
            assert result.exit_code == 0, result.output
        md = week_cli(config).stdout
    finally:
        os.environ.pop("WEEK_TEST_KEY", None)
    assert "기준선 수집 중" not in md
    assert "| 주제 | 이번 주 | 최근 평균 | 변화 | 요일별 추이 (월화수목금) |" in md
    totals = {k: sum(day_counts(d)[k] for d in DAYS) for k in LABELS}
    for key, label in LABELS.items():
        row = re.search(
            rf"^\| {re.escape(label)} \| ([\d,]+)편 \((?:\d+|<1)%\) \| (?:\d+|<1)% \| ([▲▼→])", md, re.M
        )
        assert row and int(row.group(1).replace(",", "")) == totals[key], md
    assert "최근 평균: 이번 주 전 20개 발표일의 비율" in md
    terms = re.search(r"^떠오르는 말: (.+)$", md, re.M)
    assert terms, md
    found = re.findall(r"`([^`]+)` (\d+)편 \((평소 하루 [^)]+|처음 등장)\)", terms.group(1))
    assert 1 <= len(found) <= 5
    week_docs = count_phrases((r["authors"][0], r["title"], r["summary"]) for d in DAYS for r in records(d))
    for phrase, n, _ in found:
        assert week_docs.docs[phrase] == int(n) >= 3  # the phrase's papers over the whole week


def test_a_week_theme_with_a_number_is_left_out_and_the_numbers_sentence_stands_alone(three_days, llm_server):
    from tests.llmserver import answer, completion

    config, _ = three_days
    normal = answer()

    def inventive(body):
        if request_numbers(body):  # the week's theme: a number it computed (9999) is not the code's to state
            return completion('{"lead": "p1", "theme": "이번 주에는 논문 9999편이 나왔다."}', body)
        return normal(body)

    llm_server.default = inventive
    before = len(llm_server.requests)
    md = week_cli(config).stdout
    # Asked once more, then the week's numbers as the code writes them: complete, true, and not marked.
    assert "**이번 주 흐름** — 이번 주" in md and "9999" not in md and "흐름 대체" not in md
    assert sum(1 for body in llm_server.requests[before:] if request_numbers(body)) == 2
