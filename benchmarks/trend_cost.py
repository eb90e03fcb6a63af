"""What the trend statistics cost: CPU of the trend stage against a whole `digest now` of 2,000 papers.

    python benchmarks/trend_cost.py [--papers 2000] [--repeat 3]

The five real corpus days (benchmarks/data, 1,678 papers) are served as one listing, topped up
to ``--papers`` with 2026-02-05's papers under new ids, in a vocabulary and by authors of their own (see
benchmarks/upstreams.py), on loopback, with the other sources
of benchmarks/run.py (that day's Hugging Face papers, the arXiv API fixture, two blog feeds); the LLM is
the suite's fake (no latency). The state holds 20 earlier days of statistics (the corpus days' own
numbers, recorded as a run records them), so the stage does all its work: count the pool's topics and
phrases, store them, read the baseline, score the phrases against it.

The whole run is a `python -m digest now` subprocess, its CPU time (user + system) taken from
getrusage; the trend stage (stage.count_today + build_trend, and the 흐름 request's input) is
timed in this process on the same listing and state. Reported: both medians and the stage's share of
the rest of the run. Timings live here, not in tests.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import HTTP, LLM, Arxiv, Config, HuggingFace  # noqa: E402
from digest.models import SourceReport, SourceStatus  # noqa: E402
from digest.progress import Progress  # noqa: E402
from digest.selection import pick  # noqa: E402
from digest.selection.matching import TopicMatcher  # noqa: E402
from digest.sources.arxiv_listing import kept, parse_listing  # noqa: E402
from digest.state import State  # noqa: E402
from digest.trend import stats  # noqa: E402
from digest.trend.paragraph import flow_input  # noqa: E402
from tests.feedserver import FeedServer  # noqa: E402
from tests.fixtures.sources.build import build_arxiv_rss  # noqa: E402
from tests.llmserver import LLMServer  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import benchdata  # noqa: E402
from upstreams import repeated, vocabulary_rounds  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "sources"
DAY = date(2026, 2, 6)
LISTING = "/rss/cs.CL+cs.LG+cs.CV+cs.AI"


def papers(n: int) -> list[dict]:
    """The corpus's papers, topped up with 2026-02-05's in a vocabulary and by authors of their own (as
    benchmarks/upstreams.py makes its repeats: a real day's papers do not repeat another day's phrases)."""
    records = [r for f in benchdata.arxiv_days(benchdata.DATA) for r in benchdata.records(f)]
    base = [r for r in records if r["announce_day"] == "2026-02-05"]
    rounds = vocabulary_rounds(records)
    i = 0
    while len(records) < n:
        original = base[i % len(base)]
        records.append(dict(original, id=f"2603.{i:05d}", **repeated(original, 1 + i // len(base), rounds)))
        i += 1
    return records[:n]


def count(listing: bytes, day: date, config: Config):
    parsed = parse_listing(listing, url="bench")
    candidates = pick.merge(kept(parsed.items, include_replacements=False))
    scored = pick.score(candidates, TopicMatcher(config.topics))
    return candidates, scored


def seed(state_dir: Path, config: Config) -> None:
    """20 announcement days before DAY, each one of the corpus days' real numbers."""
    days = [r for f in benchdata.arxiv_days(benchdata.DATA) for r in benchdata.records(f)]
    by_day: dict[str, list[dict]] = {}
    for r in days:
        by_day.setdefault(r["announce_day"], []).append(r)
    real = []
    for d, rs in sorted(by_day.items()):
        candidates, scored = count(build_arxiv_rss(rs, date.fromisoformat(d)).encode(), DAY, config)
        real.append(stats.count_day(date.fromisoformat(d), candidates, scored, config.topics))
    with State.open(state_dir) as state:
        for i, d in enumerate(stats.announcement_days(stats.calendar.previous_announcement_day(DAY), 20)):
            src = real[i % len(real)]
            state.record_day_stats(type(src)(**{**src.__dict__, "day": d}))


def child_cpu(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """The run's CPU seconds and wall seconds, and the CPU its trend stage logged for itself."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    logged = sum(float(m) for m in re.findall(r"^trend: .*?([0-9.]+)s CPU$", done.stderr, re.M))
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall, logged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    records = papers(args.papers)
    listing = build_arxiv_rss(records, DAY).encode()
    feeds = FeedServer().start()
    llm = LLMServer()
    feeds.serve(LISTING, listing)
    hf = benchdata.hf_text(benchdata.DATA, f"{DAY}") or "[]"
    feeds.serve(f"/hf?date={DAY}", hf.encode(), content_type="application/json")
    feeds.serve("/hf", b"[]", content_type="application/json")
    feeds.serve("/api", FIXTURES / "arxiv-api-2026-02-05.xml", content_type="application/atom+xml")
    feeds.serve("/blog/a.xml", FIXTURES / "blog-lilianweng.xml")
    feeds.serve("/blog/b.xml", FIXTURES / "blog-openai-research.xml")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config_kw = dict(
            arxiv=Arxiv(rss_url=feeds.url("/rss/"), search=False),
            huggingface=HuggingFace(url=feeds.url("/hf")),
            feeds=[],
            llm=LLM(base_url=llm.url, model="fake-model", api_key_env="BENCH_KEY"),
            http=HTTP(retries=0),
        )
        seeded = work / "seeded"
        seed(seeded, Config(state_dir=str(seeded), **config_kw))

        runs = []
        for n in range(args.repeat):
            state_dir = work / f"run{n}"
            shutil.copytree(seeded, state_dir)
            toml = work / f"run{n}.toml"
            toml.write_text(
                f'state_dir = "{state_dir}"\n[arxiv]\nrss_url = "{feeds.url("/rss/")}"\n'
                f'api_url = "{feeds.url("/api")}"\n[huggingface]\nurl = "{feeds.url("/hf")}"\n'
                f'[[feeds]]\nname = "A"\nurl = "{feeds.url("/blog/a.xml")}"\n'
                f'[[feeds]]\nname = "B"\nurl = "{feeds.url("/blog/b.xml")}"\n'
                f'[llm]\nbase_url = "{llm.url}"\nmodel = "fake-model"\napi_key_env = "BENCH_KEY"\n'
                "[http]\nretries = 0\n",
                encoding="utf-8",
            )
            env = {**os.environ, "BENCH_KEY": "x", "PYTHONPATH": str(ROOT)}
            cmd = [
                sys.executable,
                "-m",
                "digest",
                "now",
                "--config",
                str(toml),
                "--date",
                DAY.isoformat(),
            ]
            runs.append(child_cpu(cmd, env))
        feeds.stop()
        llm.close()

        config = Config(state_dir=str(seeded), **config_kw)
        candidates, scored = count(listing, DAY, config)
        reports = [SourceReport("arxiv-listing", SourceStatus.OK, items=len(candidates))]
        stage = []
        for n in range(args.repeat):
            state_dir = work / f"stage{n}"
            shutil.copytree(seeded, state_dir)
            with State.open(state_dir) as state:
                started = time.process_time()
                today, _ = stage.count_today(
                    config, DAY, candidates, scored, reports, state, Progress(quiet=True)
                )
                assert today is not None
                trend = stage.build_trend(config, today, state)
                flow_input(trend, [])
                stage.append(time.process_time() - started)

    run_cpu = statistics.median(c for c, _, _ in runs)
    run_wall = statistics.median(w for _, w, _ in runs)
    logged = statistics.median(t for _, _, t in runs)
    stage_cpu = statistics.median(stage)
    print(
        f"digest now --date {DAY}: {len(candidates)} papers in the pool, 20 days before, {args.repeat} runs"
    )
    print(f"{'whole run (subprocess)':<34}{run_cpu:>8.2f} s CPU{run_wall:>8.2f} s wall")
    print(f"{'trend stage, as the run logs it':<34}{logged:>8.2f} s CPU")
    print(f"{'trend stage (in process)':<34}{stage_cpu:>8.2f} s CPU")
    print(f"{'logged stage / rest of the run':<34}{100 * logged / (run_cpu - logged):>7.1f} %")
    print(f"{'in-process stage / rest':<34}{100 * stage_cpu / (run_cpu - stage_cpu):>7.1f} %")
    print(f"emerging terms: {', '.join(f'{t.phrase} ({t.count})' for t in trend.emerging) or 'none'}")


if __name__ == "__main__":
    main()
