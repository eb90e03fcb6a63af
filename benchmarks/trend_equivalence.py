"""Dump everything the trend stage shows and stores, to compare two versions of the code.

    python benchmarks/trend_equivalence.py OUT.json [--code DIR] [--history 20] [--scales 2000,10000]
    python benchmarks/trend_equivalence.py --compare BEFORE.json AFTER.json

A state is seeded with ``--history`` announcement days before the corpus's first day (each counted from
the corpus's January days, 2026-01-16 and 01-19, in turn, recorded the way a run records its day: so the
February days have terms that emerge against them), then the
five real days run through `digest now` (the CLI, in process, no LLM: the 흐름 paragraph is the code's
sentence of the numbers) in order, each twice (the second run is a same-day re-run). Written:
every run's Markdown trend block, every stored day_stats row (less its time stamp), every day_phrases
row and the single-paper hashes, phrase_counts over the baseline for the last day's candidates, and the
stored form of the benchmark's scaled days (benchmarks/upstreams.py) counted by stats.count_day.

``--code DIR`` puts DIR first on sys.path, so the digest package of another checkout (say ``git archive
main digest | tar -x -C /tmp/ref``) is the one measured; the harness (servers, corpus tools) stays this
checkout's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import traceback
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import benchdata  # noqa: E402

CORPUS = benchdata.DATA
DAYS = ["2026-01-16", "2026-01-19", "2026-02-04", "2026-02-05", "2026-02-06"]
LISTING = "/rss/cs.CL+cs.LG+cs.CV+cs.AI"


def dump_state(state_dir: Path) -> dict[str, Any]:
    import sqlite3

    from digest.state import DB_NAME

    db = sqlite3.connect(state_dir / DB_NAME)
    # updated_at is when, phrase_input (migration m007) what the phrases were counted from: not numbers
    cols = [
        r[1] for r in db.execute("pragma table_info(day_stats)") if r[1] not in ("updated_at", "phrase_input")
    ]
    stats = {}
    for row in db.execute(f"select {', '.join(cols)} from day_stats order by day"):
        rec = dict(zip(cols, row, strict=True))
        blob = rec.pop("single_phrases")
        rec["single_phrases"] = hashlib.sha256(blob or b"").hexdigest()[:16] + f" ({len(blob or b'') // 4})"
        stats[rec["day"]] = rec
    phrases: dict[str, list[Any]] = {}
    for day, phrase, docs, authors in db.execute(
        "select day, phrase, docs, first_authors from day_phrases order by day, phrase"
    ):
        phrases.setdefault(day, []).append([phrase, docs, authors])
    db.close()
    return {
        "day_stats": stats,
        "day_phrases": {
            d: {"rows": len(rows), "sha256": hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]}
            for d, rows in phrases.items()
        },
    }


def run(out: Path, history: int, scales: list[int]) -> None:
    from click.testing import CliRunner

    from digest.cli import cli
    from digest.config import Config
    from digest.selection import pick
    from digest.selection.matching import TopicMatcher
    from digest.sources.arxiv_listing import kept, parse_listing
    from digest.state import State
    from digest.trend import stats
    from tests.feedserver import FeedServer
    from tests.fixtures.sources.build import build_arxiv_rss, guess_cross_ids

    result: dict[str, Any] = {"code": str(Path(stats.__file__).parent)}
    listings = {}
    for text in DAYS:
        day = date.fromisoformat(text)
        records = benchdata.arxiv_records(CORPUS, text)
        listings[text] = build_arxiv_rss(records, day, cross_ids=guess_cross_ids(records, day))

    feeds = FeedServer().start()
    feeds.serve("/hf", b"[]", content_type="application/json")
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        config = Path(tmp) / "digest.toml"
        config.write_text(
            f'state_dir = "{state_dir}"\nfeeds = []\n[arxiv]\nrss_url = "{feeds.url("/rss/")}"\n'
            f'search = false\n[huggingface]\nurl = "{feeds.url("/hf")}"\n'
            '[llm]\napi_key_env = "TREND_EQUIVALENCE_NO_KEY"\n',
            encoding="utf-8",
        )
        topics = Config().topics
        real = []
        for text in DAYS[:2]:
            parsed = parse_listing(listings[text].encode(), url="equivalence")
            candidates = pick.merge(kept(parsed.items, include_replacements=False))
            scored = pick.score(candidates, TopicMatcher(topics))
            real.append(stats.count_day(date.fromisoformat(text), candidates, scored, topics))
        first = date.fromisoformat(DAYS[0])
        seeded = stats.announcement_days(stats.calendar.previous_announcement_day(first), history)
        with State.open(state_dir) as state:
            for i, d in enumerate(seeded):
                src = real[i % len(real)]
                state.record_day_stats(type(src)(**{**src.__dict__, "day": d}))

        blocks: dict[str, list[str]] = {}
        for text in DAYS:
            day = date.fromisoformat(text)
            feeds.serve(LISTING, listings[text])
            hf = benchdata.hf_text(CORPUS, text)
            if hf is not None:
                feeds.serve(f"/hf?date={day}", hf.encode(), content_type="application/json")
            for _ in range(2):  # the first run of the day, then the same day again
                done = CliRunner().invoke(cli, ["now", "--config", str(config), "--date", text, "-q"])
                if done.exit_code:
                    detail = "".join(traceback.format_exception(done.exception)) if done.exception else ""
                    sys.exit(f"{text}: exit {done.exit_code}\n{done.output}{detail}")
                blocks.setdefault(text, []).append(done.stdout.split("\n- **", 1)[0])
            print(f"{text}: {blocks[text][0].count(chr(10))} block lines", file=sys.stderr)
        result["blocks"] = blocks
        result["state"] = dump_state(state_dir)
        with State.open(state_dir) as state:
            last = state.load_day_stats(date.fromisoformat(DAYS[-1]))
            assert last is not None and last.phrases is not None
            wanted = stats.term_candidates(last.phrases)
            base = stats.baseline(state.day_stats(seeded[0], date.fromisoformat(DAYS[-1])), last.day)
            counts = state.phrase_counts(wanted, [h.day for h in base])
            result["phrase_counts"] = {
                "candidates": len(wanted),
                "sha256": hashlib.sha256(json.dumps(sorted(counts.items())).encode()).hexdigest()[:16],
                "sum": sum(counts.values()),
            }
            result["seen_before"] = sorted(state.phrases_seen_before(wanted[:200], last.day))
    feeds.stop()

    if scales:
        sys.path.insert(1, str(ROOT / "benchmarks"))
        import upstreams as up

        from digest.config import DEFAULT_TOPICS

        result["scaled"] = {}
        for n in scales:
            scaled = up.build_day(CORPUS, n, 0)
            parsed = parse_listing(scaled.listing, url="equivalence")
            candidates = pick.merge(kept(parsed.items, include_replacements=False))
            scored = pick.score(candidates, TopicMatcher(DEFAULT_TOPICS))
            with tempfile.TemporaryDirectory() as tmp:
                with State.open(tmp) as state:
                    state.record_day_stats(stats.count_day(scaled.day, candidates, scored, DEFAULT_TOPICS))
                result["scaled"][str(n)] = dump_state(Path(tmp))
            print(f"scaled {n}: counted", file=sys.stderr)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")


def compare(a: Path, b: Path) -> int:
    before, after = (json.loads(p.read_text(encoding="utf-8")) for p in (a, b))
    print(f"before: {before['code']}\nafter:  {after['code']}")
    bad = 0
    for key in ("blocks", "state", "phrase_counts", "seen_before", "scaled"):
        same = before.get(key) == after.get(key)
        bad += not same
        print(f"  {'same     ' if same else 'DIFFERENT'}  {key}")
    for day, runs in after["blocks"].items():
        if len(set(runs)) != 1:
            bad += 1
            print(f"  DIFFERENT  {day}: the same-day re-run's block differs from the first run's")
    terms = [
        line for runs in after["blocks"].values() for line in runs[0].splitlines() if "떠오르는 말" in line
    ]
    last = terms[-1] if terms else "-"
    print(f"  {len(terms)} of {len(after['blocks'])} days show emerging terms; the last day's: {last}")
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--code", type=Path, help="a directory holding the digest package to measure")
    parser.add_argument("--history", type=int, default=20, help="seeded announcement days before the corpus")
    parser.add_argument("--scales", default="2000,10000", help="benchmark days to count ('' for none)")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if args.out is None:
        parser.error("OUT is needed (or --compare BEFORE AFTER)")
    sys.path.insert(0, str(ROOT))
    if args.code:
        sys.path.insert(0, str(args.code.resolve()))
    run(args.out, args.history, [int(s) for s in args.scales.split(",") if s.strip()])


if __name__ == "__main__":
    main()
