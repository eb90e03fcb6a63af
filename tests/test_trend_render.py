"""The trend block in the Markdown, the HTML and the text email: the documented conventions, escaping."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import date

import pytest

from digest.models import EmergingTerm, Takeaway, TakeawayStatus, TopicTrend, Trend
from digest.rendering.daily import render_html, render_markdown, render_text
from digest.trend.view import code_span

from .digests import fixed_digest

DAY = date(2025, 10, 14)
SPARK_DAYS = tuple(date(2025, 10, d) for d in (6, 7, 8, 9, 10, 13, 14))


def topic(key, label, count, share, base, change, arrow, spark, expected=100.0) -> TopicTrend:
    return TopicTrend(
        key, label, count, share, spark, baseline_days=20, baseline_share=base, expected=expected,
        change=change, z=3.0 if arrow != "→" else 0.5, arrow=arrow,
    )  # fmt: skip


def moving_trend(**kw) -> Trend:
    values = {
        "day": DAY,
        "pool": 322,
        "topics": (
            topic("llm", "LLM", 129, 0.40, 0.37, 0.08, "→", "▅▆▅▇▆▅█", expected=119.0),
            topic("multimodal", "멀티모달", 57, 0.18, 0.13, 0.38, "▲", "▂▃ ▄▃▅█", expected=41.3),
            topic("dpo", "DPO·정렬", 8, 0.025, 0.03, -0.17, "→", "▃▂▄▂▃▂▂", expected=9.7),
        ),
        "emerging": (
            EmergingTerm("test-time scaling", 9, 8, 1.2, 7.0, 4.1),
            EmergingTerm("diffusion language model", 5, 5, 0.0, float("inf"), 2.8, new=True),
        ),
        "baseline_days": 20,
        "spark_days": SPARK_DAYS,
        "flow": Takeaway(
            "멀티모달 논문이 평소보다 많았다(57편). test-time scaling 언급도 눈에 띄게 늘었다.",
            TakeawayStatus.LLM,
        ),
    }
    values.update(kw)
    return Trend(**values)


def cold_trend() -> Trend:
    return Trend(
        day=DAY,
        pool=322,
        topics=(
            TopicTrend("llm", "LLM", 96, 0.30, "▆█", baseline_days=2),
            TopicTrend("multimodal", "멀티모달", 40, 0.12, " █", baseline_days=1),
        ),
        baseline_days=2,
        spark_days=SPARK_DAYS[-2:],
        flow=Takeaway(
            "오늘 arXiv 논문 322편 중 LLM 논문이 96편, 멀티모달 논문이 40편이었고, "
            "기준선을 모으는 중이라(2/5일) 평소와는 아직 비교하지 않았다.",
            TakeawayStatus.FALLBACK,
            "no key",
        ),
    )


def digest_with(trend: Trend | None):
    return replace(fixed_digest(), trend=trend)


def block(markdown: str) -> str:
    """The lines between the title (and notices) and the first item."""
    head = markdown.split("\n- **", 1)[0]
    return head.split("\n", 2)[2]


def test_markdown_block_keeps_the_documented_conventions():
    md = render_markdown(digest_with(moving_trend()))
    b = block(md)
    assert b.startswith("**오늘의 흐름** — 멀티모달 논문이 평소보다 많았다(57편). `test-time scaling` 언급도")
    rows = [line for line in b.splitlines() if line.startswith("| ") and "편" in line]
    assert rows == [
        "| LLM | 129편 (40%) | 37% | → +8% | ▅▆▅▇▆▅█ |",
        "| 멀티모달 | 57편 (18%) | 13% | ▲ +38% | ▂▃\u2800▄▃▅█ |",
        "| DPO·정렬 | 8편 (2%) | 3% | → | ▃▂▄▂▃▂▂ |",  # 9.7 expected: no percentage for noise
    ]
    for row in rows:  # each topic's line starts with its label and gives today's count as N편
        assert re.match(r"^\| [^|]+ \| \d[\d,]*편", row)
    assert (
        "떠오르는 말: `test-time scaling` 9편 (평소 하루 1편) · `diffusion language model` 5편 (처음 등장)"
        in b
    )
    assert "최근 20개 발표일" in b
    # the block comes before the items, after the title
    assert md.index("오늘의 흐름") < md.index("- **[")


def test_cold_start_says_so_in_one_line_and_shows_no_average_percentage_or_arrow():
    md = render_markdown(digest_with(cold_trend()))
    b = block(md)
    assert "기준선 수집 중 (2/5일)" in b
    assert "| LLM | 96편 | ▆█ |" in b
    assert "| 멀티모달 | 40편 | \u2800█ |" in b  # a leading blank survives the table cell
    assert "%" not in b and "▲" not in b and "▼" not in b and "→" not in b and "평균" not in b
    # Without the LLM the paragraph is the numbers' sentence: complete and true, shown as it is.
    assert "**오늘의 흐름** — 오늘 arXiv 논문 322편 중" in b and "흐름 대체" not in md


def test_text_email_has_one_line_per_topic_without_aligned_columns():
    text = render_text(digest_with(moving_trend()))
    lines = text.splitlines()
    assert "멀티모달 ▂▃ ▄▃▅█ 57편 (+38%) ▲" in lines
    assert "LLM ▅▆▅▇▆▅█ 129편 (+8%) →" in lines
    assert "DPO·정렬 ▃▂▄▂▃▂▂ 8편 →" in lines
    assert any(line.startswith("오늘의 흐름: 멀티모달 논문이") for line in lines)
    assert (
        "떠오르는 말: `test-time scaling` 9편 (평소 하루 1편) · `diffusion language model` 5편 (처음 등장)"
        in lines
    )
    assert not any("  " in line for line in lines if "편" in line and "▁" in line)
    cold = render_text(digest_with(cold_trend())).splitlines()
    assert "기준선 수집 중 (2/5일)" in cold and "LLM ▆█ 96편" in cold
    assert any(line.startswith("오늘의 흐름: 오늘 arXiv 논문 322편 중") for line in cold)


def test_html_block_is_a_table_with_inline_styles_and_a_monospace_sparkline():
    html = render_html(digest_with(moving_trend()))
    # No SVG and no data: images (Gmail and Outlook drop them); escaped feed text may say "data:".
    assert "<svg" not in html and not re.search(r"""(?:src|href)=["']?data:|url\(\s*["']?data:""", html)
    table = re.search(r'<table class="trend-table"[^>]*>.*?</table>', html, re.S).group(0)
    assert table.count("<tr") == 4
    assert re.search(r'<td class="trend-td trend-label" style="[^"]+">멀티모달</td>', table)
    spark = re.search(r'<span class="spark" style="([^"]+)">▂▃(?:&nbsp;|\u00a0)▄▃▅█</span>', table)
    assert spark and "monospace" in spark.group(1)
    assert '<code class="term"' in html and "test-time scaling</code> 9편 (평소 하루 1편)" in html
    assert html.index("오늘의 흐름") < html.index('class="item"')


def test_feed_and_llm_text_cannot_break_the_block():
    hostile = moving_trend(
        topics=(topic("x", "<b>Evil</b> | `label`", 5, 0.02, 0.02, 0.0, "→", "▁▁▁▁▁▁█", expected=6.0),),
        emerging=(EmergingTerm("evil`phrase", 4, 4, 0.1, 9.0, 3.0),),
        flow=Takeaway(
            "<script>alert(1)</script> 오늘은 evil`phrase | 가 늘었다 [link](javascript:x)",
            TakeawayStatus.LLM,
        ),
    )
    md = render_markdown(digest_with(hostile))
    b = block(md)
    row = next(line for line in b.splitlines() if "Evil" in line)
    assert row.count("|") - row.count("\\|") == 6  # five cells: the label's pipe is escaped
    assert "\\<b\\>Evil\\</b\\>" in row and "\\`label\\`" in row
    assert "``evil`phrase`` 4편" in b  # the backtick stays inside its code span
    assert "<script>" not in md and "](javascript" not in md.replace("\\](javascript", "")
    html = render_html(digest_with(hostile))
    assert "<script>alert" not in html and "<b>Evil</b>" not in html
    assert "&lt;b&gt;Evil&lt;/b&gt;" in html


def test_code_span_survives_any_backticks():
    assert code_span("test-time scaling") == "`test-time scaling`"
    assert code_span("a`b") == "``a`b``"
    assert code_span("``x") == "``` ``x ```"


def test_a_day_without_numbers_says_why_and_no_trend_means_no_block():
    note = Trend(
        day=DAY, pool=None, note="arXiv 목록을 가져오지 못해 오늘의 주제 추이는 계산하지 않았습니다."
    )
    md = render_markdown(digest_with(note))
    assert "arXiv 목록을 가져오지 못해 오늘의 주제 추이는 계산하지 않았습니다." in block(md)
    assert "|---|" not in md and "오늘의 흐름" not in md
    assert render_markdown(digest_with(None)) == render_markdown(fixed_digest())


def test_the_block_fits_a_375px_screen_in_a_real_browser(tmp_path):
    from .test_browser import ARTIFACTS, WIDTH, chromium, run_chromium, wrapper

    binary = chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium)")
    page = tmp_path / "wrapper.html"
    page.write_text(wrapper(render_html(digest_with(moving_trend()))), encoding="utf-8")
    dumped = run_chromium(binary, tmp_path, "--window-size=500,2400", "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="result">(.*?)</pre>', dumped.stdout, re.S)
    assert found, f"chromium printed no DOM: {dumped.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    assert result["innerWidth"] == WIDTH
    assert result["fits"] and result["wide"] == [], result
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "email-trend-375.png"
    shot.unlink(missing_ok=True)
    run_chromium(binary, tmp_path, "--window-size=500,2400", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000
