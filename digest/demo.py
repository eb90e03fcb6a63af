"""``digest now --demo`` and ``digest week --demo``: real digests from bundled sample data, offline, no key.

The sample day is the arXiv listing of 2026-03-19 (real metadata, rebuilt in the rss.arxiv.org format),
served to the normal pipeline by an in-process transport. Its trend block is compared with the
statistics of the 30 real announcement days 2026-02-09 .. 2026-03-20, counted by digest's own code as a
run or ``digest backfill`` records a day and loaded into the demo's temporary state
(``history.json.gz``; tests/fixtures/sources/build.py --sample): 27 days before the sample day, so the
baseline is full and the sparklines have no gaps. The sample has no Hugging Face data (the corpus's
upvotes are not real), so it shows none.

The Korean takeaways and the 흐름 paragraphs' theme sentences were written in advance and are loaded as the
LLM's cache (``takeaways.json``, ``flow.json``): nothing is patched, the same sources, selection, cache and
renderer run as on any day. The sample week (2026-03-16 .. 03-20) is built from the shortlists its days
keep (``week-shortlists.json.gz``) and the same statistics.

With a config file, its topics, selection and rendering apply to the sample day; what would reach the
network (sources, LLM, state) is always the sample's. A topic the sample's statistics never counted shows
today's number and no history; an item the reader's own topics pick that has no takeaway written in
advance gets a marked fallback line: there is no LLM here.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx2

from .config import LLM, Arxiv, Config, HuggingFace
from .errors import ConfigError
from .models import DayStats, DayStatus, PhraseCounts, Scored, Trend
from .pipeline import RunResult, default_clients, run_digest
from .progress import Progress
from .state import State, _scored_from_json
from .takeaways.summarize import PROMPT_VERSION
from .trend import stats
from .trend.paragraph import NOT_PREPARED_FOR, Prepared
from .trend.phrases import phrase_hash
from .week.render import render_week_markdown
from .week.roundup import WeekResult, run_week, week_of

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_DAY = date(2026, 3, 19)
SEOUL = ZoneInfo("Asia/Seoul")
SAMPLE_NOW = datetime(2026, 3, 19, 10, 30, tzinfo=SEOUL)
SAMPLE_WEEK_NOW = datetime(2026, 3, 21, 10, 30, tzinfo=SEOUL)  # the Saturday after: the whole week
BASE = "https://sample.digest.invalid"
NO_LLM = "the sample runs without an LLM"
# What the demo's header and stderr say the sample holds.
HOLDS = (
    "arXiv listing of one real day, 30 real days of statistics, takeaways written in advance, no Hugging Face"
)

# What each sample URL serves, by path.
_FILES = {
    "/rss/cs.CL+cs.LG+cs.CV+cs.AI": (f"arxiv-listing-{SAMPLE_DAY}.xml.gz", "application/rss+xml"),
}


def _serve(request: httpx2.Request) -> httpx2.Response:
    target = request.url.path + (f"?{request.url.query.decode()}" if request.url.query else "")
    found = _FILES.get(target)
    if found is None:
        return httpx2.Response(404, text="not in the sample")
    name, content_type = found
    body = gzip.decompress((SAMPLE_DIR / name).read_bytes())
    return httpx2.Response(200, content=body, headers={"content-type": content_type})


def sample_config(state_dir: Path, base: Config | None = None) -> Config:
    """``base`` (the reader's config) with everything that would reach out replaced by the sample."""
    base = base or Config()
    return base.model_copy(
        update={
            "state_dir": str(state_dir),
            "timezone": "Asia/Seoul",  # the sample's day and "now" are Seoul's
            # The sample is one listing of these four categories; the API search needs the network.
            "arxiv": Arxiv(rss_url=f"{BASE}/rss/", search=False),
            # The corpus's Hugging Face upvotes are generated, not real: a demo shows no invented numbers.
            "huggingface": HuggingFace(enabled=False),
            "feeds": [],
            # The takeaways come from the shipped cache; an uncached item gets a marked fallback.
            "llm": LLM(model=base.llm.model),
        }
    )


def sample_takeaways() -> dict[str, str]:
    """arXiv id → the Korean takeaway written in advance (the sample day's and the sample week's picks)."""
    data: dict[str, str] = json.loads((SAMPLE_DIR / "takeaways.json").read_text(encoding="utf-8"))
    return data


def sample_themes() -> dict[str, dict[str, Any]]:
    """The 흐름 paragraphs' theme sentences written in advance: {"day"|"week": {"theme", "items"}}."""
    data: dict[str, dict[str, Any]] = json.loads((SAMPLE_DIR / "flow.json").read_text(encoding="utf-8"))
    return data


def sample_history() -> list[DayStats]:
    """The 30 real days' statistics, as the state stores them (phrases: those the sample's trends ask for)."""
    data = json.loads(gzip.decompress((SAMPLE_DIR / "history.json.gz").read_bytes()))
    phrases: list[str] = data["phrases"]
    out = []
    for r in data["days"]:
        docs = {phrases[i]: n for i, n, _ in r["phrases"]}
        authors = {phrases[i]: a for i, _, a in r["phrases"]}
        single = sorted(phrase_hash(phrases[i]) for i in r["single"])
        out.append(
            DayStats(
                day=date.fromisoformat(r["day"]),
                status=DayStatus.ANNOUNCED,
                origin="sample",
                pool=r["pool"],
                topics=r["topics"],
                topic_rules=r["topic_rules"],
                sources=r["sources"],
                phrase_rules=r["phrase_rules"],
                phrases=PhraseCounts(r["pool"], docs, authors, single),
            )
        )
    return out


def seed(state: State, config: Config, *, through: date) -> None:
    """The sample's takeaways, and its days' statistics up to ``through`` (excluded: it is counted live)."""
    # Version 0 ("not known") serves the listing's v1 and the shortlists' versions alike.
    rows = [(f"arxiv:{i}", 0, text) for i, text in sample_takeaways().items()]
    state.store_takeaways(rows, config.llm.model, PROMPT_VERSION)
    for day_stats in sample_history():
        if day_stats.day < through:
            state.record_day_stats(day_stats)


def prepared(kind: str) -> Prepared:
    """The 흐름 answer written in advance for the sample ``kind`` ("day" or "week"), for its top items."""
    theme = sample_themes()[kind]
    answer = {"theme": theme["theme"], "lead": theme.get("lead", "")}
    return Prepared(tuple(theme["items"]), answer)


def no_history_notice(trend: Trend | None) -> str:
    """The plain line for the reader's topics the sample's history never counted (Korean, for the digest)."""
    if trend is None or trend.pool is None:
        return ""
    fresh = [t.label for t in trend.topics if t.baseline_days == 0]
    if not fresh:
        return ""
    labels = ", ".join(fresh)
    return (
        f"샘플의 이전 발표일 통계에는 {labels} 주제가 없어 오늘 숫자만 보여 줍니다(이전 기록 없음). "
        "직접 실행할 때는 digest backfill 명령으로 이전 발표일을 채울 수 있습니다."
    )


async def _run_day(config: Config, progress: Progress) -> RunResult:
    transport = httpx2.MockTransport(_serve)
    async with default_clients(config, transport=transport, llm=False, llm_off=NO_LLM) as clients:
        clients.flow = prepared("day")
        return await run_digest(
            config, SAMPLE_DAY, clients=clients, progress=progress, now=SAMPLE_NOW, sample=True
        )


async def run(progress: Progress, base: Config | None = None) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="digest-sample-") as tmp:
        config = sample_config(Path(tmp), base)
        with State.open(config.state_path) as state:
            seed(state, config, through=SAMPLE_DAY)
        progress.log(f"sample day {SAMPLE_DAY}: {HOLDS}")
        result = await _run_day(config, progress)
    flow = result.digest.trend.flow if result.digest.trend else None
    if flow is not None and flow.note == NOT_PREPARED_FOR:
        progress.log(
            "sample day: the 흐름 theme sentence was written for the built-in topics' top items; "
            "with your topics the paragraph has the numbers only"
        )
    notice = no_history_notice(result.digest.trend)
    if notice:
        result = _with_notice(result, notice)
    if result.digest.fallback_count:
        progress.log(
            f"sample day: {result.digest.fallback_count} picked items have no takeaway written in advance "
            "and the sample runs without an LLM, so they show a marked fallback line"
        )
    return result


def _with_notice(result: RunResult, notice: str) -> RunResult:
    from .rendering.daily import render_markdown

    d = result.digest
    d.notices = [*d.notices, notice]
    return replace(result, markdown=render_markdown(d, result.render))


def date_conflict(period: str = "day") -> str:
    """Why ``--date`` cannot go with ``--demo`` (instead of silently showing the sample anyway)."""
    monday, friday = week_of(SAMPLE_DAY)
    what = f"day, {SAMPLE_DAY}" if period == "day" else f"week, {monday} to {friday}"
    return f"--date cannot be used with --demo: the sample is one bundled {what} (without --demo: any date)"


# -- the sample week --------------------------------------------------------------------------------

WEEK_NOTICE = (
    "샘플 데이터(arXiv {start} – {end}의 실제 통계와 그 주 발표일마다 저장된 후보 논문, 미리 써 둔 요약 · "
    "Hugging Face 자료는 없음)로 만든 예시입니다."
)


def sample_shortlists() -> dict[date, list[Scored]]:
    """The shortlist each day of the sample week kept (for the built-in topics), best first."""
    data = json.loads(gzip.decompress((SAMPLE_DIR / "week-shortlists.json.gz").read_bytes()))
    return {date.fromisoformat(d): [_scored_from_json(s) for s in rows] for d, rows in data.items()}


def check_week_topics(config: Config) -> None:
    """The week is built from shortlists and counts of the built-in topics: other topics cannot be shown."""
    rules = {k: stats.topic_fingerprint(t) for k, t in config.topics.items()}
    shipped = {k: stats.topic_fingerprint(t) for k, t in Config().topics.items()}
    if rules != shipped:
        raise ConfigError(
            "digest week --demo shows the sample week for the built-in topics only (it ships that week's "
            "statistics and candidates, not its papers); your own topics: digest now --demo --config FILE"
        )


async def _run_week(config: Config, progress: Progress) -> WeekResult:
    async with default_clients(config, llm=False, llm_off=NO_LLM) as clients:
        clients.flow = prepared("week")
        return await run_week(config, SAMPLE_DAY, clients=clients, progress=progress, now=SAMPLE_WEEK_NOW)


async def run_week_demo(progress: Progress, base: Config | None = None) -> WeekResult:
    """The 주간 정리 of the sample day's week, from the shipped statistics and shortlists."""
    monday, friday = week_of(SAMPLE_DAY)
    with tempfile.TemporaryDirectory(prefix="digest-sample-") as tmp:
        config = sample_config(Path(tmp), base)
        check_week_topics(config)
        with State.open(config.state_path) as state:
            seed(state, config, through=friday + timedelta(days=1))
            for day, scored in sample_shortlists().items():
                state.record_day_candidates(day, scored, origin="run")
        progress.log(
            f"sample week {monday} – {friday}: 30 real days of statistics, the shortlists its days kept, "
            "takeaways written in advance, no Hugging Face"
        )
        result = await _run_week(config, progress)
    w = result.week
    w.notices = [WEEK_NOTICE.format(start=monday, end=f"{friday:%m-%d}"), *w.notices]
    return replace(result, markdown=render_week_markdown(w, result.render))
