"""What the reader's notes cost a run: reading the notes (first and re-run) and the personal ranking.

    python benchmarks/reader_cost.py [--notes 3000] [--papers 2000] [--repeat 5] [--run-cpu 1.48]

Notes: the 20 fixture notes of tests/fixtures/reader/notes copied ``--notes`` times over (each copy a
file of its own, dated a day apart, a few words changed), in an Obsidian folder and a Jekyll _posts
folder, read through a real state database. The first read parses every file; a re-run stats them and
reads none; "one edited" changes one file between runs. The ranking: the three corpus days of
tests/fixtures/corpus topped up to ``--papers`` under new ids, scored by the default topics, then the
profile built and every on-topic candidate scored against it (digest/reader/stage.py's work).

CPU is this process's (time.process_time), median of ``--repeat``. The share is against ``--run-cpu``,
the CPU of a whole first `digest now` of 2,000 papers (benchmarks/README.md: 1.48 s on the reference
machine); the target is 10 % for a re-run's notes reading. The ranking's share is printed beside it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import Config  # noqa: E402
from digest.reader.notes import load_notes  # noqa: E402
from digest.reader.ranking import build_profile, personalize  # noqa: E402
from digest.reader.terms import _term_word  # noqa: E402
from digest.selection.evaluation import paper_candidate  # noqa: E402
from digest.selection.matching import TopicMatcher  # noqa: E402
from digest.selection.pick import score  # noqa: E402
from digest.state import State  # noqa: E402

NOTES = ROOT / "tests" / "fixtures" / "reader" / "notes"
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
DAY = date(2026, 2, 6)


def make_notes(folder: Path, n: int) -> list[Path]:
    sources = sorted(NOTES.rglob("*.md"))
    paths = []
    for i in range(n):
        src = sources[i % len(sources)]
        day = DAY - timedelta(days=i % 900)
        sub = folder / ("blog/_posts" if "_posts" in src.parts else "vault/daily")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{day.isoformat()}-{i:05d}.md"
        path.write_text(src.read_text(encoding="utf-8") + f"\n- note {i} topic{i % 97}\n", encoding="utf-8")
        paths.append(path)
    return paths


def pool(papers: int) -> list:
    recs = []
    for f in sorted(CORPUS.glob("arxiv-*.jsonl.gz")):
        recs += [json.loads(line) for line in gzip.open(f, "rt", encoding="utf-8")]
    out = [paper_candidate(r) for r in recs]
    base = list(out)
    i = 0
    while len(out) < papers:
        c = base[i % len(base)]
        out.append(replace(c, key=f"{c.key}-{i}", arxiv_id=f"{c.arxiv_id}-{i}"))
        i += 1
    return out[:papers]


def cpu(fn: Any) -> tuple[float, Any]:
    started = time.process_time()
    result = fn()
    return time.process_time() - started, result


def one_round(n: int, scored: list, config: Config, warnings: list[str]) -> tuple[float, float, float, float]:
    """CPU of: the first read of ``n`` notes, a re-run, a re-run after one edit, the profile + ranking."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "notes"
        paths = make_notes(folder, n)
        with State.open(Path(tmp) / "state") as state:
            read = partial(load_notes, state.conn, [folder], warnings.append)
            first, _ = cpu(read)
            rerun, (notes, stats) = cpu(read)
            assert stats.read == 0, stats
            paths[0].write_text(paths[0].read_text(encoding="utf-8") + "\n- edited\n", encoding="utf-8")
            edited, (_, stats) = cpu(read)
            assert stats.read == 1, stats
            _term_word.cache_clear()  # a run is a fresh process: no word classified yet
            ranking, _ = cpu(lambda: personalize(scored, build_profile(notes, DAY, 60), config.reader.weight))
        shutil.rmtree(folder)
    return first, rerun, edited, ranking


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notes", type=int, default=3000)
    ap.add_argument("--papers", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--run-cpu", type=float, default=1.48)
    args = ap.parse_args(argv)
    config = Config()
    candidates = pool(args.papers)
    scored = score(candidates, TopicMatcher(config.topics))
    warnings: list[str] = []
    rounds = [one_round(args.notes, scored, config, warnings) for _ in range(args.repeat)]
    first, rerun, edited, ranking = (list(x) for x in zip(*rounds, strict=True))
    med = statistics.median
    reading = med(rerun) / args.run_cpu
    total = (med(rerun) + med(ranking)) / args.run_cpu
    on_topic = f"{len(scored)} on the default topics"
    print(f"{args.notes} notes, {args.papers} papers ({on_topic}), median of {args.repeat}")
    print(f"  notes, first read        {med(first):6.3f} s CPU")
    print(f"  notes, re-run (0 read)   {med(rerun):6.3f} s CPU")
    print(f"  notes, re-run (1 edited) {med(edited):6.3f} s CPU")
    print(f"  profile + ranking        {med(ranking):6.3f} s CPU")
    run = f"a {args.run_cpu:g} s CPU first run of 2,000 papers"
    verdict = "met" if reading <= 0.10 else "NOT met"
    print(f"  notes reading on a re-run = {reading:.1%} of {run} ({verdict}: ≤ 10 %)")
    print(f"  with the ranking          = {total:.1%} of {run}")
    if warnings:
        print(f"  warnings: {len(warnings)} (first: {warnings[0]})")


if __name__ == "__main__":
    main()
