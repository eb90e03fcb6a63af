"""Time the topic matcher over a day's whole pool, as the trend statistics run it.

    python benchmarks/matching.py [--papers FILE.jsonl[.gz] ...] [-n 10000]

The papers (corpus JSONL, plain or gzipped; by default the five shipped days, benchmarks/data) are
repeated up to ``-n`` candidates and matched with the default topics; the best of three passes is printed
as CPU seconds.
Timings live here, not in tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import DEFAULT_TOPICS  # noqa: E402
from digest.selection.evaluation import load_papers  # noqa: E402
from digest.selection.matching import TopicMatcher  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import benchdata  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", nargs="+", type=Path, default=benchdata.arxiv_days(benchdata.DATA))
    parser.add_argument("-n", type=int, default=10_000, help="candidates to match (papers are repeated)")
    args = parser.parse_args()
    if not args.papers:
        sys.exit(f"no papers: pass --papers FILE.jsonl ... ({benchdata.DATA} has none)")
    papers = [p.candidate for p in load_papers(args.papers).values()]
    candidates = (papers * (args.n // len(papers) + 1))[: args.n]
    matcher = TopicMatcher(DEFAULT_TOPICS)
    for c in papers[:200]:  # warm the compiled-pattern caches
        matcher.match(c)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        matched = sum(bool(matcher.match(c)) for c in candidates)
        best = min(best, time.process_time() - start)
    print(f"{len(candidates)} candidates ({len(papers)} distinct papers), {matched} on a topic")
    print(f"matching: {best:.2f} s CPU, {best / len(candidates) * 1e6:.0f} µs per candidate (best of 3)")


if __name__ == "__main__":
    main()
