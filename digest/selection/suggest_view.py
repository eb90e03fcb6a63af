"""How ``digest topics suggest`` prints suggestions and their previews."""

from __future__ import annotations

from collections.abc import Sequence

from .suggest import Suggestion, TopicView


def _per_day(s: Suggestion) -> str:
    p = s.preview
    sign = "최대 +" if p.estimated else "+"
    return f"{sign}{p.per_day:.1f}편/일"


def header(v: TopicView, *, new: bool) -> str:
    days = len(v.days.days)
    where = f"저장된 발표일 {days}일" if not v.days.complete else f"논문 파일 {days}일치"
    if new:
        name_only = f"이름만으로 하루 평균 {v.matched_per_day:.1f}편; +N편/일은 그 말 하나로 잡히는 편수"
        return f"새 주제 {v.topic.label} ({v.key}): {where}, {name_only}"
    line = f"{v.topic.label} ({v.key}): {where}, 지금 하루 평균 {v.matched_per_day:.1f}편"
    if not v.days.complete:  # the state keeps each day's phrase counts and shortlist, not its papers
        line += "\n  (state에는 그날 논문 전체가 남지 않아 +N편/일은 구절 통계로 센 상한입니다)"
    return line


def lines(
    suggestions: Sequence[Suggestion], start: int = 1, *, new: bool = False, complete: bool = True
) -> list[str]:
    """Numbered suggestions, each with its preview (for a new topic: what the term alone would match)."""
    out: list[str] = []
    width = max((len(s.term) for s in suggestions), default=0)
    for i, s in enumerate(suggestions, start):
        p = s.preview
        if complete:
            already = "이미 잡힘" if new else "벌써 주제"
            source = f"이 말이 든 {p.occurrences}편 중 {p.in_topic}편이 {already}"
        else:  # the pools' phrase counts: the topic's stored papers against the rest of the pools
            source = f"이 구절이 든 {s.topic_papers + s.other_papers}편 중 {s.topic_papers}편이 주제 후보"
        if s.why == "notes":
            source = "내 글"
        if s.why != "notes" and not s.sure:
            source += ", 근거 적음"
        out.append(f"{i:3d}. {s.term:<{width}}  {_per_day(s)}  ({source})")
        out += [f"       · {t[:100]}" for t in p.examples]
        if p.warn:
            cats = ", ".join(p.outside_categories)
            out.append(
                f"       ! ML 밖에서도 쓰는 말: 이 말이 든 {p.occurrences}편 중 {p.outside_ml}편이 "
                f"ML 밖 분야({cats})에도 올라 있습니다"
            )
    return out
