"""The weekly roundup rendered: pure functions from a :class:`WeekDigest` to Markdown, HTML and text.

The same pieces as the daily digest (render.py): each item is render.entry_view plus when it was seen
this week, the numbers are the trend block (trend_view) in the week's words, the templates are
templates/week.*.j2 around the daily item macros (templates/_items.*) and email page. Everything shown
comes from feeds or the LLM and is escaped exactly as in the daily digest.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from ..config import Render
from ..models import Digest, WeekDigest
from ..rendering.daily import (
    FALLBACK_MARK,
    Part,
    context,
    day_label,
    entry_view,
    group_entries,
    md_escape,
    preheader,
    render_template,
    topic_summary,
)
from ..rendering.watch import watch_view
from ..text import one_line
from ..trend import stats
from ..trend.view import TrendView, trend_view

WEEKDAYS = "월화수목금토일"


def short_label(d: date) -> str:
    """``02-04 (수)``."""
    return f"{d:%m-%d} ({WEEKDAYS[d.weekday()]})"


def range_label(w: WeekDigest) -> str:
    """``2026-02-02 (월) ~ 02-06 (금)``."""
    return f"{day_label(w.start)} ~ {short_label(w.end)}"


def seen_part(days: tuple[date, ...]) -> Part | None:
    """``02-04 (수)`` for a work shortlisted on one day, ``02-04 (수) 외 2일`` for three."""
    if not days:
        return None
    if len(days) == 1:
        return Part("", prefix=short_label(days[0]))
    # The date as a prefix, so the HTML keeps the part on one line (never "02-" at a line's end).
    return Part(f"외 {len(days) - 1}일", prefix=f"{short_label(days[0])} ")


def week_trend_view(w: WeekDigest) -> TrendView | None:
    """The trend block in the week's words: its paragraph, its columns, what its numbers are over."""
    view = trend_view(w.trend, md=md_escape)
    if view is None or w.trend is None:
        return view
    t = w.trend
    letters = "".join(WEEKDAYS[d.weekday()] for d in t.spark_days)
    basis = ""
    if t.pool is not None:
        basis = f"이번 주 arXiv 논문 {t.pool:,}편(new·cross, {len(w.counted)}개 발표일) 기준"
        if not t.cold_start:
            basis += f" · 최근 평균: 이번 주 전 {t.baseline_days}개 발표일의 비율 · ▲▼: ±30% 이상, z ≥ 2"
        basis += f" · 추이: {letters} 요일별 비율"
        if any(stats.NO_DATA in r.spark for r in t.topics):
            basis += "(빈칸: 자료 없음)"
        if t.history_note:
            basis += f" · {one_line(t.history_note)}"
    return replace(
        view,
        flow_label="이번 주 흐름",
        count_header="이번 주",
        spark_header=f"요일별 추이 ({letters})",
        spark_header_short="요일별",
        basis=basis,
    )


def _llm_line(w: WeekDigest) -> str:
    """The footer's word on the LLM, in the daily footer's own wording (render.context) for the week's
    requests, lines and paragraph."""
    d = Digest(day=w.start, entries=w.entries, sources=[], topics=w.topics, usage=w.usage, trend=w.trend)
    return str(context(d)["llm"])


def week_context(w: WeekDigest, options: Render | None = None) -> dict[str, object]:
    """Everything templates/week.*.j2 show, computed once."""
    options = options or Render()
    views = []
    for e in w.entries:
        view = entry_view(e, options)
        part = seen_part(w.seen_on.get(e.candidate.key, ()))
        if part is not None:
            at = next((i for i, p in enumerate(view.meta) if p.text == "PDF"), len(view.meta))
            view = replace(view, meta=(*view.meta[:at], part, *view.meta[at:]))
        views.append(view)
    groups = group_entries(w.topics, w.entries, views)
    notices = [one_line(n) for n in w.notices]
    return {
        "title": f"주간 정리 — {range_label(w)}",
        "range_label": range_label(w),
        "week_id": w.week_id,
        "sample": False,
        "entries": views,
        "groups": groups,
        "grouped_markdown": options.markdown_layout == "grouped",
        "topic_summary": topic_summary(groups),
        "preheader": preheader(views, notices),
        "notices": notices,
        "reviewed": f"이번 주 후보 {w.candidates:,}편 검토",
        "selected": f"{len(views)}편 선정",
        "llm": _llm_line(w),
        "fallbacks": w.fallback_count,
        "fallback_mark": FALLBACK_MARK,
        "trend": week_trend_view(w),
        "watch": watch_view(w.watch),
    }


def render_week_markdown(w: WeekDigest, options: Render | None = None) -> str:
    return render_template("week.md.j2", week_context(w, options))


def render_week_html(w: WeekDigest, options: Render | None = None) -> str:
    return render_template("week.html.j2", week_context(w, options), html=True)


def render_week_text(w: WeekDigest, options: Render | None = None) -> str:
    return render_template("week.txt.j2", week_context(w, options))


def week_subject(w: WeekDigest) -> str:
    """``[주간 정리] 2026-02-02 ~ 02-06 · LLM 2 · 멀티모달 2 · DPO·정렬 2``."""
    summary = str(week_context(w)["topic_summary"]) or "새 글 없음"
    return one_line(f"[주간 정리] {w.start.isoformat()} ~ {w.end:%m-%d} · {summary}")
