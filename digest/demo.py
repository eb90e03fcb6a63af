"""``digest now --demo``: a real digest from a bundled sample day, with no key and no network.

The sample is the arXiv listing of 2026-02-05 (real metadata, rebuilt in the rss.arxiv.org
format) and that day's Hugging Face daily papers, served to the normal pipeline by an
in-process transport, plus Korean takeaways written in advance and loaded as the LLM cache.
Nothing is patched: the same sources, selection, cache and renderer run as on any day.

With a config file, its topics, selection and rendering apply to the sample day; what would
reach the network (sources, LLM, state) is always the sample's. An item the reader's own topics
pick that has no takeaway written in advance gets a marked fallback line: there is no LLM here.

The trend block compares the day with the statistics of the corpus's earlier real days
(2026-01-16, 01-19 and 02-04), counted by digest's own code from their listings
(``trend-history.json``, built by tests/fixtures/sources/build.py --sample-history) and loaded
into the sample's state: three days, so the block shows the cold start it would show a new user
on their fourth day. The 흐름 paragraph is the code's sentence of the day's numbers; its theme needs
the LLM, which the sample does not call (``flow.store_answer`` can seed one written in advance).
"""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2

from .config import LLM, Arxiv, Config, HuggingFace
from .models import DayStats, DayStatus
from .pipeline import RunResult, default_clients, run_digest
from .progress import Progress
from .state import State
from .summarize import PROMPT_VERSION

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_DAY = date(2026, 2, 5)
SAMPLE_NOW = datetime(2026, 2, 5, 10, 30, tzinfo=ZoneInfo("Asia/Seoul"))
BASE = "https://sample.digest.invalid"

# What each sample URL serves, by path (and HF's ?date=).
_FILES = {
    "/rss/cs.CL+cs.LG+cs.CV+cs.AI": ("arxiv-listing-2026-02-05.xml.gz", "application/rss+xml"),
    "/api/daily_papers?date=2026-02-05": ("hf-2026-02-05.json.gz", "application/json"),
    "/api/daily_papers?date=2026-02-04": ("hf-2026-02-04.json.gz", "application/json"),
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
            "huggingface": HuggingFace(url=f"{BASE}/api/daily_papers"),
            "feeds": [],
            # The takeaways come from the shipped cache; an uncached item gets a marked fallback.
            "llm": LLM(model=base.llm.model, api_key_env="DIGEST_SAMPLE_HAS_NO_KEY"),
        }
    )


def sample_takeaways() -> dict[str, str]:
    """arXiv id → the Korean takeaway written in advance for the sample day."""
    return json.loads((SAMPLE_DIR / "takeaways.json").read_text(encoding="utf-8"))


def sample_history() -> list[DayStats]:
    """The earlier real days' statistics the sample day's trend is compared with."""
    rows = json.loads((SAMPLE_DIR / "trend-history.json").read_text(encoding="utf-8"))
    return [
        DayStats(
            day=date.fromisoformat(r["day"]),
            status=DayStatus.ANNOUNCED,
            origin="sample",
            pool=r["pool"],
            topics=r["topics"],
            topic_rules=r["topic_rules"],
            sources=r["sources"],
        )
        for r in rows
    ]


def seed_cache(state: State, config: Config) -> None:
    # Version 0 ("not known") serves the listing's v1 and the versions Hugging Face leaves out alike.
    rows = [(f"arxiv:{i}", 0, text) for i, text in sample_takeaways().items()]
    state.store_takeaways(rows, config.llm.model, PROMPT_VERSION)
    for stats in sample_history():
        state.record_day_stats(stats)


async def run(progress: Progress, base: Config | None = None) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="digest-sample-") as tmp:
        config = sample_config(Path(tmp), base)
        with State.open(config.state_path) as state:
            seed_cache(state, config)
        progress.log(
            f"sample day {SAMPLE_DAY}: bundled arXiv listing and Hugging Face papers, cached takeaways"
        )
        async with default_clients(config, transport=httpx2.MockTransport(_serve), llm=False) as clients:
            result = await run_digest(
                config, SAMPLE_DAY, clients=clients, progress=progress, now=SAMPLE_NOW, sample=True
            )
    if result.digest.fallback_count:
        progress.log(
            f"sample day: {result.digest.fallback_count} picked items have no takeaway written in advance "
            "and the sample runs without an LLM, so they show a marked fallback line"
        )
    return result
