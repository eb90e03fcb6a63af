"""Run real corpus days in sequence through `digest now` on one state and print the last day's trend block.

    python benchmarks/trend_days.py [--days 2026-01-16 2026-01-19 ...] [--llm-url URL --model NAME]
                                    [--state DIR] [--format md|text|html]

Each shipped corpus day (benchmarks/data; see benchmarks/benchdata.py) is served as that day's arXiv RSS
listing on loopback (built by tests/fixtures/sources/build.py, as the end-to-end tests do), with the
day's Hugging Face papers when the corpus has them; the arXiv API search and blogs are off. Without
--llm-url there is no LLM: takeaways are the marked fallbacks and the 흐름 paragraph is the code's
sentence of the numbers, which are the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402

from digest.cli import cli  # noqa: E402
from tests.feedserver import FeedServer  # noqa: E402
from tests.fixtures.sources.build import build_arxiv_rss, guess_cross_ids  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import benchdata  # noqa: E402

CORPUS = benchdata.DATA
DAYS = ["2026-01-16", "2026-01-19", "2026-02-04", "2026-02-05", "2026-02-06"]
LISTING = "/rss/cs.CL+cs.LG+cs.CV+cs.AI"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", nargs="+", default=DAYS)
    parser.add_argument("--llm-url", help="an OpenAI-compatible endpoint (e.g. a local llama-server)")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    parser.add_argument("--llm-days", type=int, default=1, help="how many of the last days use the LLM")
    parser.add_argument("--state", type=Path, help="state directory to use (default: a temporary one)")
    parser.add_argument("--format", default="md", choices=["md", "text", "html"])
    args = parser.parse_args()

    feeds = FeedServer().start()
    feeds.serve("/hf", b"[]", content_type="application/json")
    with tempfile.TemporaryDirectory() as tmp:
        state = args.state or Path(tmp) / "state"
        base = (
            f'state_dir = "{state}"\nfeeds = []\n[arxiv]\nrss_url = "{feeds.url("/rss/")}"\nsearch = false\n'
            f'[huggingface]\nurl = "{feeds.url("/hf")}"\n'
        )
        no_llm, with_llm = Path(tmp) / "no-llm.toml", Path(tmp) / "llm.toml"
        no_llm.write_text(base + '[llm]\napi_key_env = "TREND_DAYS_NO_KEY"\n', encoding="utf-8")
        with_llm.write_text(
            base
            # Only what a reader configures: a loopback base_url gets the local-server defaults.
            + f'[llm]\nbase_url = "{args.llm_url}"\nmodel = "{args.model}"\napi_key_env = "TREND_DAYS_KEY"\n',
            encoding="utf-8",
        )
        os.environ["TREND_DAYS_KEY"] = "local"
        for n, text in enumerate(args.days):
            config = with_llm if args.llm_url and n >= len(args.days) - args.llm_days else no_llm
            day = date.fromisoformat(text)
            records = benchdata.arxiv_records(CORPUS, text)
            if not records:
                sys.exit(f"{text}: not a day of the shipped corpus ({', '.join(benchdata.ARXIV_DAYS)})")
            feeds.serve(LISTING, build_arxiv_rss(records, day, cross_ids=guess_cross_ids(records, day)))
            hf = benchdata.hf_text(CORPUS, text)
            if hf is not None:
                feeds.serve(f"/hf?date={day}", hf.encode(), content_type="application/json")
            fmt = args.format if text == args.days[-1] else "md"
            quiet = [] if config is with_llm else ["-q"]  # a day with the LLM says how it went
            result = CliRunner().invoke(
                cli, ["now", "--config", str(config), "--date", text, *quiet, "--format", fmt]
            )
            if quiet == []:
                print(result.stderr, file=sys.stderr, end="")
            if result.exit_code:
                sys.exit(f"{text}: exit {result.exit_code}\n{result.output}")
            print(f"{text}: {len(records)} papers", file=sys.stderr)
    feeds.stop()
    out = result.stdout
    if args.format == "md":
        out = out.split("\n- **", 1)[0].split("\n### ", 1)[0].rstrip("\n") + "\n"  # flat or grouped
    elif args.format == "text":
        out = out.split("\n■", 1)[0] + "\n"
    print(out, end="")


if __name__ == "__main__":
    main()
