"""Fixed Digest values for the rendering and delivery tests (built directly, no pipeline)."""

from __future__ import annotations

from datetime import date

from digest.models import (
    Candidate,
    Digest,
    EmergingTerm,
    Entry,
    LLMUsage,
    Scored,
    SourceReport,
    SourceStatus,
    Takeaway,
    TakeawayStatus,
    TopicInfo,
    TopicMatch,
    TopicTrend,
    Trend,
    WeekDigest,
)

TOPICS = [
    TopicInfo("llm", "LLM"),
    TopicInfo("multimodal", "멀티모달"),
    TopicInfo("dpo", "DPO·정렬"),
    TopicInfo("mamba", "Mamba·SSM"),
]
LABELS = {t.key: t.label for t in TOPICS}

HOSTILE_TITLE = '<script>alert(1)</script><img src=x onerror="alert(2)"> Robust & "Safe" LLMs'
LONG_TITLE = "Supercalifragilistic" * 8 + ": An Unbreakable Title With A Very Long Word"


def entry(
    arxiv_id: str,
    title: str,
    takeaway: str,
    topics: tuple[str, ...],
    *,
    url: str | None = None,
    status: TakeawayStatus = TakeawayStatus.LLM,
    category: str = "cs.CL",
    upvotes: int | None = None,
    authors: tuple[str, ...] = ("A. Author",),
    summary: str = "An abstract.",
    comment: str = "",
) -> Entry:
    sources = ("arxiv-listing", "huggingface") if upvotes is not None else ("arxiv-listing",)
    cand = Candidate(
        key=f"arxiv:{arxiv_id}",
        kind="paper",
        title=title,
        url=url if url is not None else f"https://arxiv.org/abs/{arxiv_id}",
        summary=summary,
        authors=authors,
        categories=(category,),
        sources=sources,
        version=1,
        arxiv_id=arxiv_id,
        announce_type="new",
        upvotes=upvotes,
        comment=comment,
    )
    matches = tuple(TopicMatch(t, LABELS[t], 1.0, (t,), ("title",)) for t in topics)
    note = "LLM 응답 없음" if status == TakeawayStatus.FALLBACK else ""
    return Entry(Scored(cand, matches, 1.0), Takeaway(takeaway, status, note))


def fixed_digest() -> Digest:
    """A day with every case the email must handle: groups, a fallback, hostile and long text."""
    entries = [
        entry(
            "2510.00001",
            "Contextual Drag: How Errors in the Context Affect LLM Reasoning",
            "컨텍스트에 남은 실패한 풀이가 다음 추론을 비슷한 오류로 끌고 가는 현상을 11개 모델에서 확인.",
            ("llm",),
            upvotes=42,
            authors=("Yun Cheng", "Xingyu Zhu", "Haoyu Zhao"),
            summary="We study contextual drag. Code: https://github.com/yuncheng/contextual-drag.",
        ),
        entry(
            "2510.00002",
            HOSTILE_TITLE,
            "제목에 <b>태그</b>와 & 기호가 있어도 그대로 글자로 보여야 한다.",
            ("llm",),
            url="javascript:alert(document.cookie)",
            authors=("<b>Eve</b> [x](data:text/html,1)",),
            summary='See https://github.com/eve/x"><script>alert(4)</script> and javascript:alert(5).',
        ),
        entry(
            "2510.00003",
            LONG_TITLE,
            "초록에서 만든 대체 요약: 긴 제목과 긴 URL이 화면 밖으로 넘치지 않는지 확인한다.",
            ("multimodal", "llm"),
            url="https://example.org/" + "very-long-path-segment-" * 12 + "?q=" + "x" * 80,
            status=TakeawayStatus.FALLBACK,
            category="cs.CV",
            authors=("김민준", "Wei Zhang"),
        ),
        entry(
            "2510.00004",
            "PersoDPO: Scalable Preference Optimization for Persona-Grounded Dialogue",
            "여러 LLM의 자동 평가로 persona 선호쌍을 사람 라벨 없이 만들고 DPO로 학습한다.",
            ("dpo",),
            status=TakeawayStatus.CACHED,
            authors=(),
        ),
        entry(
            "2510.00005",
            "Partial Ring Scan: Revisiting Scan Order in Vision State Space Models",
            "vision SSM의 성능이 scan 순서에 크게 좌우됨을 보이고 동심원 ring 단위 scan을 제안했다.",
            ("mamba",),
            category="cs.CV",
            authors=("Yi-Kuan Hsieh",),
            comment=r"Code is at \url{https://github.com/prism-ssm/partial\_ring\_scan}.",
        ),
    ]
    return Digest(
        day=date(2025, 10, 14),
        entries=entries,
        sources=[
            SourceReport("arxiv-listing", SourceStatus.OK, items=412),
            SourceReport("huggingface", SourceStatus.OK, items=36),
            SourceReport("blog:OpenAI News", SourceStatus.FAILED, error="HTTP 503"),
            SourceReport("blog:Lil'Log", SourceStatus.OK, items=3),
            SourceReport("arxiv-search", SourceStatus.DISABLED),
        ],
        topics=TOPICS,
        usage=LLMUsage(model="gpt-4o-mini", calls=2, prompt_tokens=4800, completion_tokens=1000),
        reviewed={"arxiv": 412, "huggingface": 36, "blog": 3},
    )


def fixed_week() -> WeekDigest:
    """A weekly roundup past the cold start, with a missing day, a fallback line and hostile text."""
    from datetime import timedelta

    d = fixed_digest()
    monday = date(2026, 2, 2)
    days = tuple(monday + timedelta(days=i) for i in range(5))

    def line(key: str, label: str, count: int, shares: tuple[float, float], change: float, arrow: str):
        share, base = shares
        e = count / (1 + change)
        z = (count - e) / (e + 1) ** 0.5
        spark = " ▅▆█▇"  # 02-02 without numbers
        return TopicTrend(key, label, count, share, spark, 20, base, e, change, z, arrow)

    trend = Trend(
        day=monday,
        pool=1639,
        topics=(
            line("llm", "LLM", 560, (0.342, 0.33), 0.04, "→"),
            line("multimodal", "멀티모달", 230, (0.14, 0.10), 0.41, "▲"),
            line("dpo", "DPO·정렬", 21, (0.013, 0.024), -0.46, "▼"),
            line("mamba", "Mamba·SSM", 12, (0.007, 0.008), -0.1, "→"),
        ),
        emerging=(
            EmergingTerm("test-time scaling", 14, 12, 0.5, 5.6, 4.1),
            EmergingTerm("<b>x</b> model", 5, 4, 0.0, float("inf"), 3.0, new=True),
        ),
        baseline_days=20,
        spark_days=days,
        flow=Takeaway(
            "이번 주에는 멀티모달 논문이 평소보다 많았고(230편, +41%) DPO·정렬은 적었다. "
            "test-time scaling 언급이 14편으로 늘었다.",
            TakeawayStatus.LLM,
        ),
    )  # fmt: skip
    return WeekDigest(
        start=monday,
        end=days[-1],
        days=days,
        entries=d.entries,
        topics=TOPICS,
        trend=trend,
        seen_on={e.candidate.key: (days[2], days[3]) for e in d.entries},
        candidates=87,
        usage=LLMUsage(model="gpt-4o-mini", calls=2, prompt_tokens=2000, completion_tokens=300),
        notices=["숫자가 없는 발표일: 02-02 (월). 이번 주 통계에서 빠졌습니다."],
        counted=days[1:],
    )
