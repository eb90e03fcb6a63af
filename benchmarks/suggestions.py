"""The recall that accepted keyword suggestions buy, on the shipped labels (docs/evaluation.md).

    python benchmarks/suggestions.py [--accept 3] [--history DIR] [--config digest.toml]

The five labelled arXiv days (benchmarks/data): for each, the suggestions are drawn from the other four
(leave one day out) -- or, with ``--history DIR``, from the corpus days in DIR (e.g. the shared corpus's
thirty unlabelled history days) -- and the top ``--accept`` are added to each topic; precision and recall
on that day's labelled papers before and after, summed over the days. A measurement, not a timing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import DEFAULT_TOPICS, load_config  # noqa: E402
from digest.selection.evaluation import load_labels, load_papers  # noqa: E402
from digest.selection.suggest import days_from_papers  # noqa: E402
from digest.selection.suggest_eval import format_rows, measure  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import benchdata  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accept", type=int, default=3, help="suggestions accepted per topic")
    parser.add_argument("--history", type=Path, help="draw suggestions from the corpus days in this folder")
    parser.add_argument("--corpus", type=Path, default=benchdata.DATA, help="labelled corpus (default: ours)")
    parser.add_argument("--sure-only", action="store_true", help="accept only the suggestions marked sure")
    parser.add_argument("--config", type=Path, help="topics to measure (default: the built-in topics)")
    args = parser.parse_args()
    topics = load_config(args.config)[0].topics if args.config else DEFAULT_TOPICS
    labels = load_labels(args.corpus / "labels.jsonl")
    papers = load_papers(benchdata.arxiv_days(args.corpus))
    days = days_from_papers((p.day, p.candidate) for p in papers.values())
    history = None
    if args.history:
        files = sorted(args.history.glob("arxiv-*.jsonl*"))
        if not files:
            sys.exit(f"{args.history}: no arxiv-*.jsonl files")
        history = days_from_papers((p.day, p.candidate) for p in load_papers(files).values())
    rows = measure(topics, days, labels, accept=args.accept, history=history, sure_only=args.sure_only)
    source = f"the {len(history.days)} days in {args.history}" if history else ""
    print(format_rows(rows, args.accept, sure_only=args.sure_only, source=source))


if __name__ == "__main__":
    main()
