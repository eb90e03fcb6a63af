"""The demos show the whole product from real shipped data: a full trend block, a real paragraph, a week.

Parts are asserted, not prose: momentum with shares against a full baseline, gap-free sparklines, emerging
terms, a 흐름 paragraph that is not the marked fallback, and no number the sample does not hold.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest import calendar, demo
from digest.cli import cli
from digest.trend import stats
from digest.trend.view import MD_BLANK

BLOCKS = re.escape(stats.SPARK_BLOCKS)
DEFAULT_LABELS = ("LLM", "멀티모달", "DPO·정렬", "Mamba·SSM")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def rows(markdown: str) -> dict[str, list[str]]:
    """The trend table's rows by topic label: the cells after the label."""
    out = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 5 and cells[1].endswith(("편", "%)")):
            out[cells[0]] = cells[1:]
    return out


def test_the_demo_shows_the_complete_trend_block() -> None:
    result = invoke("now", "--demo")
    assert result.exit_code == 0, result.output
    md = result.stdout
    assert "기준선 수집 중" not in md and "기록 없음" not in md  # a full baseline, no cold start
    table = rows(md)
    assert set(table) == set(DEFAULT_LABELS)
    for label, (today, usual, change, spark) in table.items():
        # today's count with its share, the baseline's share, an arrow (and a change when it is worth one)
        assert re.fullmatch(r"\d+편 \(\d+%\)", today), (label, today)
        assert re.fullmatch(r"\d+%", usual), (label, usual)
        assert re.fullmatch(r"[▲▼→]( [+-]\d+%)?", change), (label, change)
        # seven announcement days, every one with data: no blank, no no-break space
        assert re.fullmatch(f"[{BLOCKS}]{{{stats.SPARK_DAYS}}}", spark), (label, spark)
    assert "최근 20개 발표일의 비율" in md  # the baseline is full
    terms = next(line for line in md.splitlines() if line.startswith("떠오르는 말: "))
    assert len(re.findall(r"`[^`]+` \d+편", terms)) >= 1
    flow = next(line for line in md.splitlines() if line.startswith("**오늘의 흐름** — "))
    assert "⚠️" not in md  # no marked fallback anywhere
    # the paragraph is more than the numbers sentence: the theme written in advance follows it
    assert len(re.findall(r"다\.", flow)) >= 2 and "MLLM" in flow
    assert "0 fallbacks, 0 LLM calls" in result.stderr


def test_the_demo_says_what_the_sample_holds_and_invents_no_upvotes() -> None:
    md = invoke("now", "--demo", "-q").stdout
    header = next(line for line in md.splitlines() if line.startswith("> 샘플 데이터("))
    assert "실제 통계" in header and "Hugging Face 자료는 없음" in header
    assert "huggingface.co/papers" not in md and not re.search(r"▲\d", md)
    assert "Hugging Face" not in md.splitlines()[-1]  # the footer reviews arXiv only


def test_the_sample_history_is_full_before_the_sample_day() -> None:
    days = {h.day for h in demo.sample_history()}
    spark_days = stats.announcement_days(demo.SAMPLE_DAY, stats.SPARK_DAYS)
    earlier = [d for d in days if d < demo.SAMPLE_DAY]
    assert len(earlier) >= stats.BASELINE_DAYS
    assert set(spark_days[:-1]) <= days  # the sparkline's six earlier days are all there
    assert all(calendar.is_announcement_day(d) for d in days)
    assert all(h.origin == "sample" and h.phrases and h.phrases.docs for h in demo.sample_history())


def test_the_sample_stays_small() -> None:
    """The wheel ships statistics, one listing and the week's shortlists: not the papers."""
    size = sum(p.stat().st_size for p in demo.SAMPLE_DIR.iterdir())
    assert size < 500_000, size
    assert not list(demo.SAMPLE_DIR.glob("hf-*"))  # no generated Hugging Face numbers in the wheel


def test_the_week_demo_shows_the_sample_week() -> None:
    result = invoke("week", "--demo")
    assert result.exit_code == 0, result.output
    md = result.stdout
    assert md.startswith("## 주간 정리 — 2026-03-16 (월) ~ 03-20 (금)")
    assert "Hugging Face 자료는 없음" in md
    table = rows(md)
    assert set(table) == set(DEFAULT_LABELS)
    for label, (_, usual, change, spark) in table.items():
        assert re.fullmatch(r"\d+%", usual) and re.fullmatch(r"[▲▼→]( [+-]\d+%)?", change), label
        assert re.fullmatch(f"[{BLOCKS}]{{5}}", spark), (label, spark)  # Monday to Friday, no gap
    assert "떠오르는 말: `" in md
    assert "**이번 주 흐름** — " in md and "⚠️" not in md
    assert "이번 주가 아직 끝나지 않았습니다" not in md  # the whole week
    items = [line for line in md.splitlines() if line.startswith("- **[")]
    assert len(items) == 8  # [week] max_items, each with its takeaway written in advance
    assert "0 fallbacks, 0 LLM calls" in result.stderr


def test_the_week_demo_refuses_topics_it_has_no_candidates_for(tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    config.write_text('[topics.agents]\nlabel = "에이전트"\nkeywords = ["agent"]\n', encoding="utf-8")
    result = invoke("week", "--demo", "--config", str(config))
    assert result.exit_code == 2  # a config the command cannot use, as any config error
    assert "built-in topics only" in result.output and "digest now --demo --config" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["now"], ["preview"], ["week"]])
def test_date_with_demo_is_refused_in_one_line(command: list[str]) -> None:
    result = invoke(*command, "--demo", "--date", "2026-03-18")
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "--date cannot be used with --demo" in errors[0]


def test_a_readers_topic_the_sample_never_counted_has_todays_number_and_says_so(tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(
        '[topics.agents]\nlabel = "에이전트"\nkeywords = ["agent", "agentic"]\n'
        "[topics.llm]\n"
        'label = "LLM"\n'
        'keywords = ["large language model", "LLM", "language model", "MLLM", "LVLM", '
        '"large vision-language model", "large reasoning model"]\n',
        encoding="utf-8",
    )
    result = invoke("now", "--demo", "--config", str(config))
    assert result.exit_code == 0, result.output
    md = result.stdout
    table = rows(md)
    today, usual, change, spark = table["에이전트"]
    assert re.fullmatch(r"\d+편", today) and int(today[:-1]) > 0  # today's number, no share claimed
    assert usual == "비교할 기록 없음" and change == ""
    # one block today, blanks for the days before: no history, not zeros
    assert spark == MD_BLANK * (len(spark) - 1) + stats.SPARK_BLOCKS[-1]
    assert f"| {spark} |" in md
    assert re.fullmatch(r"\d+편 \(\d+%\)", table["LLM"][0])  # the built-in topic keeps its history
    notice = "> 샘플의 이전 발표일 통계에는 에이전트 주제가 없어"
    assert any(line.startswith(notice) for line in md.splitlines())
    # No request was made: nothing "failed", and no internal names reach the reader.
    assert "LLM 호출 실패" not in md and "LLM 호출 없음" in md
    output = md + result.stderr
    assert "$" not in output and "DIGEST_" not in output and "api_key_env" not in output
    assert "the sample runs without an LLM" in result.stderr


def test_history_and_show_after_a_demo_say_why_nothing_is_archived(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
    assert invoke("now", "--demo", "-q", "--config", str(config)).exit_code == 0
    history = invoke("history", "--config", str(config))
    assert history.exit_code == 0 and "archives nothing" in history.output
    show = invoke("show", "latest", "--config", str(config))
    assert show.exit_code == 1 and "archives nothing" in show.output
