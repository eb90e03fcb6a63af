"""The trend block as the templates show it (templates/_trend.*.j2): strings computed once from a Trend.

The documented conventions (tests, other tools and readers parse them): each topic's line starts with its
label and gives today's count as ``N편``; the sparkline is one of ▁▂▃▄▅▆▇█ per announcement day, oldest
first, a blank for a day without data: U+2800 (BRAILLE PATTERN BLANK) in Markdown, which no renderer trims
from a table cell's edge as markdown-it does a no-break space, and which a terminal shows one column wide; a
no-break space in the email's HTML, whose monospace fonts all have one; a space in plain text. Emerging
terms are inline code spans followed by their count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..models import TopicTrend, Trend
from ..text import one_line
from . import stats

NBSP = "\u00a0"
MD_BLANK = "\u2800"  # not whitespace to any Markdown parser (Unicode "So"), yet shows as a blank


@dataclass(frozen=True)
class TopicRow:
    label: str
    count: str  # "57편"
    today: str  # "57편 (18%)"; just the count in the cold start
    usual: str  # "13%"; "" in the cold start
    change: str  # "+38%"; "" when not worth a percentage (see stats.shows_change)
    arrow: str  # ▲ ▼ →; "" in the cold start
    arrow_class: str  # "up", "down", "flat", ""
    spark: str  # blanks as spaces (plain text)
    spark_md: str  # blanks as MD_BLANK (Markdown table cells)
    spark_html: str  # blanks as no-break spaces (HTML)
    waiting: str  # "기준선 수집 중 (3/5일)" for a topic whose own baseline is short (its rules changed),
    # "비교할 기록 없음" for one with no comparable day at all


@dataclass(frozen=True)
class TermView:
    phrase: str
    code_md: str  # the phrase as a Markdown code span
    count: str  # "9편"
    detail: str  # "평소 하루 1편", "처음 등장"


@dataclass(frozen=True)
class Segment:
    text: str
    term: bool  # an emerging term: a code span in Markdown, <code> in HTML


@dataclass(frozen=True)
class TrendView:
    note: str  # why there are no numbers today ("" when there are)
    cold_start: bool
    cold_line: str
    rows: tuple[TopicRow, ...]
    terms: tuple[TermView, ...]
    flow_text: str
    flow_md: str
    flow_segments: tuple[Segment, ...]
    basis: str
    # What the block calls its period: the daily block's words; the weekly roundup (week/roundup.py) its own.
    flow_label: str = "오늘의 흐름"
    count_header: str = "오늘"
    spark_header: str = "최근 발표일 추이"  # the Markdown table's column
    spark_header_short: str = "추이"  # the HTML table's column (a phone's width)


def code_span(text: str) -> str:
    """``text`` as one CommonMark code span, whatever backticks it holds: the fence is one backtick
    longer than the longest run inside, with a space of padding when the text starts or ends with one."""
    text = one_line(text)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def segments(text: str, terms: list[str]) -> tuple[Segment, ...]:
    """``text`` cut at the emerging terms it mentions (whole words, case-insensitive)."""
    if not terms:
        return (Segment(text, False),)
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + r")(?![\w-])",
        re.IGNORECASE,
    )
    out: list[Segment] = []
    pos = 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            out.append(Segment(text[pos : m.start()], False))
        out.append(Segment(m.group(0), True))
        pos = m.end()
    if pos < len(text):
        out.append(Segment(text[pos:], False))
    return tuple(out)


def _spaced(md: Callable[[str], str], text: str) -> str:
    """``md(text)`` keeping one space at either end where ``text`` has one (md trims like one_line)."""
    inner = md(text)
    if not inner:
        return " " if text[:1].isspace() else ""
    return (" " if text[:1].isspace() else "") + inner + (" " if text[-1:].isspace() else "")


def _waiting(days: int, needed: int) -> str:
    # A topic with no comparable day at all (new, or its keywords changed, or a sample that never counted it):
    # nothing is being compared, whether or not days will be collected.
    return "비교할 기록 없음" if days == 0 else f"기준선 수집 중 ({days}/{needed}일)"


def _row(t: TopicTrend, cold: bool, needed: int) -> TopicRow:
    count = f"{t.count:,}편"
    spark = t.spark
    common = {
        "label": one_line(t.label),
        "count": count,
        "spark": spark,
        "spark_md": spark.replace(" ", MD_BLANK),
        "spark_html": spark.replace(" ", NBSP),
    }
    if cold or not t.arrow:
        waiting = "" if cold else _waiting(t.baseline_days, needed)
        return TopicRow(**common, today=count, usual="", change="", arrow="", arrow_class="", waiting=waiting)
    return TopicRow(
        **common,
        today=f"{count} ({stats.share_text(t.share)})",
        usual=stats.share_text(t.baseline_share or 0.0),
        change=stats.change_text(t.change or 0.0) if stats.shows_change(t) else "",
        arrow=t.arrow,
        arrow_class={stats.UP: "up", stats.DOWN: "down"}.get(t.arrow, "flat"),
        waiting="",
    )


def trend_view(trend: Trend | None, *, md: Callable[[str], str]) -> TrendView | None:
    """The block's strings; ``md`` escapes plain text for Markdown (render.md_escape)."""
    if trend is None:
        return None
    cold = trend.cold_start
    terms = tuple(
        TermView(
            phrase=one_line(e.phrase),
            code_md=code_span(e.phrase),
            count=f"{e.count}편",
            detail="처음 등장" if e.new else f"평소 하루 {stats.usual_text(e.usual)}",
        )
        for e in trend.emerging
    )
    flow = trend.flow
    text = one_line(flow.text) if flow else ""
    parts = segments(text, [t.phrase for t in terms])
    basis = ""
    if trend.pool is not None:
        basis = f"오늘 arXiv 논문 {trend.pool:,}편(new·cross) 기준"
        if not cold:
            basis += f" · 최근 평균: 최근 {trend.collected_days}개 발표일의 비율 · ▲▼: ±30% 이상, z ≥ 2"
        basis += f" · 추이: 최근 {len(trend.spark_days)}개 발표일의 비율"
        if any(stats.NO_DATA in t.spark for t in trend.topics):
            basis += "(빈칸: 자료 없음)"
        if trend.history_note:
            basis += f" · {one_line(trend.history_note)}"
    return TrendView(
        note=one_line(trend.note),
        cold_start=cold,
        cold_line=f"기준선 수집 중 ({trend.collected_days}/{trend.needed_days}일)",
        rows=tuple(_row(t, cold, trend.needed_days) for t in trend.topics),
        terms=terms,
        flow_text=text,
        flow_md="".join(code_span(p.text) if p.term else _spaced(md, p.text) for p in parts),
        flow_segments=parts,
        basis=basis,
    )
