"""The benchmark harness keeps working, on a tiny corpus made of the test fixtures: no timings here.

What it checks is behaviour the benchmark reports and a user relies on: the installed `digest now`, run
twice on one state against real loopback upstreams, makes one arXiv API request, then answers the same
day again with every feed revalidated (304), no API search and no LLM call.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "sources"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("digest_benchmark_run", ROOT / "benchmarks" / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_the_cli_and_a_same_day_run_costs_nothing(tmp_path: Path) -> None:
    if not Path(sys.executable).with_name("digest").exists() and shutil.which("digest") is None:
        pytest.skip("the digest command is not installed")
    corpus = tmp_path / "corpus"
    for sub in ("arxiv", "hf", "blogs"):
        (corpus / sub).mkdir(parents=True)
    shutil.copy(FIX / "arxiv-records-2026-02-05.jsonl", corpus / "arxiv" / "arxiv-2026-02-05.jsonl")
    shutil.copy(FIX / "hf-2026-02-05.json", corpus / "hf" / "hf-2026-02-05.json")
    shutil.copy(FIX / "blog-lilianweng.xml", corpus / "blogs" / "lilianweng.xml")
    shutil.copy(FIX / "blog-openai-research.xml", corpus / "blogs" / "openai-research.xml")
    printed: list[str] = []
    argv = ["--scales", "60", "--feeds", "3", "--latency", "0", "--llm-latency", "0", "--repeat", "1"]
    results = _load_benchmark().main([*argv, "--corpus", str(corpus)], emit=printed.append)

    [r] = results
    first, second, naive = r["first"], r["second"], r["naive"]
    assert r["ok"] and first["returncode"] == second["returncode"] == 0
    assert first["http"]["arXiv listing"] == {200: 1} and first["http"]["arXiv API"] == {200: 1}
    assert first["http"]["Hugging Face"] == {200: 2} and first["http"]["blogs"] == {200: 3}
    assert first["items"] > 0 and first["summarized"] == first["items"] and first["fallbacks"] == 0
    # The same day again: everything revalidated, nothing searched or summarized twice.
    assert second["http"]["arXiv listing"] == {304: 1} and second["http"]["Hugging Face"] == {304: 2}
    assert second["http"]["blogs"] == {304: 3} and second["http"]["arXiv API"] == {}
    assert second["llm_requests"] == 0 and second["items"] == first["items"]
    # The naive way asks once per item the run summarized, and pays the instructions every time.
    assert naive["llm_requests"] == first["summarized"]
    assert naive["prompt_tokens"] / naive["items"] > first["takeaway_prompt_tokens"] / first["summarized"]
    assert "60 candidate papers/day" in printed[0] and "floor" in printed[0] and "naive" in printed[0]
    assert printed[-1].startswith("targets (issue 10):")


def test_a_run_imports_the_openai_sdk_only_for_a_request() -> None:
    # A same-day re-run sends no LLM request; importing openai was a tenth of its CPU (benchmarks/README.md).
    import subprocess

    code = (
        "import sys, digest.cli, digest.pipeline, digest.week, digest.check\n"
        "from digest.config import LLM\n"
        "from digest.llm import make_llm_client\n"
        "client = make_llm_client(LLM(base_url='http://127.0.0.1:9/v1', model='m'))\n"
        "assert 'openai' not in sys.modules, 'imported before a request'\n"
        "assert client is not None and client.chat is not None and 'openai' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
