"""Time a full `digest now` against loopback servers and print a table.

    python benchmarks/run.py [--day 2026-02-05] [--llm-delay 0.5]

A real arXiv day from ../shared/corpus (or the bundled sample day) is served as the arXiv RSS listing,
its Hugging Face papers as the daily-papers API, the arXiv API fixture and two blog feeds from tests/,
and the LLM is the test suite's OpenAI-compatible fake answering after ``--llm-delay`` seconds (a
stand-in for a real model's latency). Runs twice on one state: a cold run and the same day again.
Timings live here, not in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import HTTP, LLM, Arxiv, Config, Feed, HuggingFace  # noqa: E402
from digest.pipeline import default_clients, run_digest  # noqa: E402
from digest.progress import Progress  # noqa: E402
from tests.feedserver import FeedServer  # noqa: E402
from tests.fixtures.sources.build import build_arxiv_rss  # noqa: E402
from tests.llmserver import LLMServer, answer, korean_line  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE = ROOT / "digest" / "sample"
FIXTURES = ROOT / "tests" / "fixtures" / "sources"


def day_data(day: date) -> tuple[bytes, bytes]:
    """The listing XML and Hugging Face JSON for ``day``: from the corpus, else the bundled sample."""
    papers = CORPUS / "arxiv" / f"arxiv-{day}.jsonl"
    if papers.exists():
        records = [json.loads(line) for line in papers.open(encoding="utf-8")]
        listing = build_arxiv_rss(records, day).encode()
    else:
        listing = gzip.decompress((SAMPLE / f"arxiv-listing-{day}.xml.gz").read_bytes())
    hf = CORPUS / "hf" / f"hf-{day}.json"
    hf_body = hf.read_bytes() if hf.exists() else gzip.decompress((SAMPLE / f"hf-{day}.json.gz").read_bytes())
    return listing, hf_body


async def one_run(config: Config, day: date) -> tuple[float, object]:
    started = time.perf_counter()
    async with default_clients(config) as clients:
        result = await run_digest(config, day, clients=clients, progress=Progress(quiet=True))
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", default="2026-02-05")
    parser.add_argument("--llm-delay", type=float, default=0.5, help="seconds the fake LLM takes per call")
    args = parser.parse_args()
    day = date.fromisoformat(args.day)

    listing, hf = day_data(day)
    feeds = FeedServer().start()
    llm = LLMServer()
    llm.default = answer(korean_line, delay=args.llm_delay)
    feeds.serve("/rss/cs.CL+cs.LG+cs.CV+cs.AI", listing, etag='"bench"')
    feeds.serve(f"/hf?date={day}", hf, content_type="application/json", etag='"hf"')
    feeds.serve("/hf", b"[]", content_type="application/json")
    feeds.serve("/api", FIXTURES / "arxiv-api-2026-02-05.xml", content_type="application/atom+xml")
    feeds.serve("/blog/a.xml", FIXTURES / "blog-lilianweng.xml", etag='"a"')
    feeds.serve("/blog/b.xml", FIXTURES / "blog-openai-research.xml", etag='"b"')

    with tempfile.TemporaryDirectory() as state_dir:
        config = Config(
            state_dir=state_dir,
            arxiv=Arxiv(rss_url=feeds.url("/rss/"), api_url=feeds.url("/api")),
            huggingface=HuggingFace(url=feeds.url("/hf")),
            feeds=[
                Feed(name="A", url=feeds.url("/blog/a.xml")),
                Feed(name="B", url=feeds.url("/blog/b.xml")),
            ],
            llm=LLM(base_url=llm.url, model="fake-model", api_key_env="BENCH_NO_KEY_NEEDED"),
            http=HTTP(retries=0),
        )
        rows = []
        for label in ("cold run", "same day again"):
            calls_before = llm.calls
            seconds, result = asyncio.run(one_run(config, day))
            d = result.digest  # type: ignore[attr-defined]
            rows.append((label, seconds, d, llm.calls - calls_before))

    feeds.stop()
    llm.close()

    print(
        f"digest now --date {day} against loopback servers (fake LLM latency {args.llm_delay:g}s per call)\n"
    )
    cold, warm = rows[0][2].sources, rows[1][2].sources
    print(f"{'source':<16}{'items':>7}{'cold status':>14}{'s':>6}{'again status':>15}{'s':>6}")
    for a, b in zip(cold, warm, strict=True):
        print(f"{a.name:<16}{a.items:>7}{a.status:>14}{a.seconds:>6.2f}{b.status:>15}{b.seconds:>6.2f}")
    print("(the arXiv API search waits out arXiv's 3 s between requests when run again at once)\n")
    print(
        f"{'run':<18}{'seconds':>9}{'picked':>8}{'llm calls':>11}"
        f"{'prompt tok':>12}{'compl. tok':>12}{'fallbacks':>11}"
    )
    for label, seconds, d, calls in rows:
        u = d.usage
        print(
            f"{label:<18}{seconds:>9.2f}{len(d.entries):>8}{calls:>11}{u.prompt_tokens:>12}"
            f"{u.completion_tokens:>12}{d.fallback_count:>11}"
        )


if __name__ == "__main__":
    main()
