"""`digest now` against a real LLM server on a real corpus day, the way a reader with a local model runs it.

    llama-server -m Qwen2.5-7B-Instruct-Q4_K_M.gguf --port 8080 --jinja     # or Ollama, vLLM, ...
    python benchmarks/local_llm.py --day 2026-02-06 --base-url http://127.0.0.1:8080/v1 \
        --model qwen2.5-7b-instruct

The day's arXiv records from the shipped corpus (benchmarks/data) are served as the rss.arxiv.org listing
and its Hugging Face papers as the daily-papers API, on loopback; the config names only what a reader
would write (the feeds' URLs, and [llm] base_url and model, plus any --llm KEY=VALUE given). The real CLI
runs in a subprocess; the script prints the wall time, the machine's load before and after, the LLM lines
from stderr, and every takeaway with where it came from. Timings live here, not in tests.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.feedserver import FeedServer  # noqa: E402
from tests.fixtures.sources.build import build_arxiv_rss  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import benchdata  # noqa: E402

CORPUS = benchdata.DATA
ITEM = re.compile(r"^- \*\*\[(?P<title>.+?)\]\((?P<url>[^)]+)\)\*\* — (?P<rest>.+)$")
FALLBACK = "⚠️ 요약 대체: "


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--llm", action="append", default=[], help="extra [llm] key=value (TOML value)")
    parser.add_argument("--state", help="state directory to use (default: a fresh temporary one)")
    args = parser.parse_args()
    day = date.fromisoformat(args.day)

    records = benchdata.arxiv_records(CORPUS, args.day)
    if not records:
        sys.exit(f"{args.day}: not a day of the shipped corpus ({', '.join(benchdata.ARXIV_DAYS)})")
    feeds = FeedServer().start()
    feeds.serve("/rss/cs.CL+cs.LG+cs.CV+cs.AI", build_arxiv_rss(records, day), etag='"listing"')
    for d in (day, day - timedelta(days=1)):
        body = (benchdata.hf_text(CORPUS, f"{d}") or "[]").encode()
        feeds.serve(f"/hf?date={d}", body, content_type="application/json")

    with tempfile.TemporaryDirectory() as tmp:
        state_dir = args.state or str(Path(tmp) / "state")
        config = Path(tmp) / "digest.toml"
        extra = "".join(f"{kv}\n" for kv in args.llm)
        config.write_text(
            f"""state_dir = "{state_dir}"
feeds = []
[arxiv]
rss_url = "{feeds.url("/rss/")}"
search = false
[huggingface]
url = "{feeds.url("/hf")}"
[llm]
base_url = "{args.base_url}"
model = "{args.model}"
{extra}""",
            encoding="utf-8",
        )
        before = load()
        started = time.monotonic()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-m", "digest", "now", "--config", str(config), "--date", str(day)],
            capture_output=True,
            text=True,
            env=env,
        )
        seconds = time.monotonic() - started
    feeds.stop()

    print(f"digest now --date {day} against {args.base_url} ({args.model})")
    print(f"exit {done.returncode}, {seconds:.0f}s wall; load average before {before}, after {load()}\n")
    for line in done.stderr.splitlines():
        if line.startswith(("llm", "warning")):
            print(f"  {line}")
    entries = [m for m in map(ITEM.match, done.stdout.splitlines()) if m]
    fallbacks = [m for m in entries if m.group("rest").startswith(FALLBACK)]
    own = len(entries) - len(fallbacks)
    print(f"\n{len(entries)} items: {own} lines by the model, {len(fallbacks)} fallbacks\n")
    for m in entries:
        mark = "FALLBACK" if m in fallbacks else "LLM     "
        text = m.group("rest").removeprefix(FALLBACK).split(" `")[0]
        print(f"{mark} {m.group('title')[:70]}\n         {text}")
    footer = [line for line in done.stdout.splitlines() if line.startswith("<sub>")]
    print("\n" + "\n".join(footer))


if __name__ == "__main__":
    main()
