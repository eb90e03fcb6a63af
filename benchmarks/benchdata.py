"""The benchmarks' real data, shipped in the repository: where a corpus file is, and its text.

A corpus has the layout ``arxiv/arxiv-DAY.jsonl``, ``hf/hf-DAY.json``, ``blogs/NAME.xml`` and
``labels.jsonl``; any of its files may be gzipped (``.gz`` after the name). The default corpus is
``benchmarks/data`` (see its SOURCES.md) together with ``tests/fixtures/corpus``, which already holds
three of its arXiv days for the test suite: each day is stored once. ``--corpus DIR`` in a benchmark
reads another corpus of the same layout instead (the test suite passes a tiny one).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
FIXTURES = ROOT / "tests" / "fixtures" / "corpus"  # flat: arxiv-DAY.jsonl.gz

ARXIV_DAYS = ("2026-01-16", "2026-01-19", "2026-02-04", "2026-02-05", "2026-02-06")


def find(corpus: Path, relative: str) -> Path | None:
    """``corpus/relative`` or its gzipped copy; in the default corpus also the test fixtures' copy."""
    candidates = [corpus / relative, corpus / f"{relative}.gz"]
    if corpus.resolve() == DATA.resolve():
        candidates.append(FIXTURES / f"{Path(relative).name}.gz")
    return next((p for p in candidates if p.is_file()), None)


def read_text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode("utf-8")


def text(corpus: Path, relative: str) -> str | None:
    """The file's text, or None when the corpus does not have it."""
    path = find(corpus, relative)
    return read_text(path) if path else None


def arxiv_path(corpus: Path, day: str) -> Path | None:
    return find(corpus, f"arxiv/arxiv-{day}.jsonl")


def arxiv_days(corpus: Path) -> list[Path]:
    """The corpus's arXiv day files, oldest first (a smaller corpus may lack some days)."""
    return [p for day in ARXIV_DAYS if (p := arxiv_path(corpus, day))]


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_text(path).splitlines() if line.strip()]


def arxiv_records(corpus: Path, day: str) -> list[dict[str, Any]]:
    path = arxiv_path(corpus, day)
    return records(path) if path else []


def hf_text(corpus: Path, day: str) -> str | None:
    return text(corpus, f"hf/hf-{day}.json")


def blog_text(corpus: Path, name: str) -> str | None:
    return text(corpus, f"blogs/{name}.xml")
