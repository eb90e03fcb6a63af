"""Real corpus days (tests/fixtures/corpus) as the tests serve them, and the config that points a run at
loopback servers: shared by the multi-day tests (trend days, backfill, the week)."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

from tests.feedserver import FeedServer
from tests.fixtures.sources.build import build_arxiv_rss, guess_cross_ids

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
LISTING = "/rss/cs.CL+cs.LG+cs.CV+cs.AI"


def records(day: date) -> list[dict]:
    """The day's papers in the corpus format."""
    with gzip.open(CORPUS / f"arxiv-{day}.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def listing(day: date) -> str:
    """The day as rss.arxiv.org's listing."""
    rs = records(day)
    return build_arxiv_rss(rs, day, cross_ids=guess_cross_ids(rs, day))


def write_config(
    tmp_path: Path, feed: FeedServer, llm_url: str, *, key_env: str, api_url: str = "", extra: str = ""
) -> Path:
    """digest.toml for a run against ``feed`` (listing, Hugging Face) and the LLM at ``llm_url``: no blogs,
    no search, no retries; state in tmp_path/state."""
    api = f'api_url = "{api_url}"\n' if api_url else ""
    path = tmp_path / "digest.toml"
    path.write_text(
        f"""
state_dir = "{tmp_path / "state"}"
feeds = []
[arxiv]
{api}rss_url = "{feed.url("/rss/")}"
search = false
[huggingface]
url = "{feed.url("/hf")}"
[llm]
base_url = "{llm_url}"
model = "fake-model"
api_key_env = "{key_env}"
max_retries = 0
[http]
retries = 0
{extra}""",
        encoding="utf-8",
    )
    return path
