"""How fast and frugal `digest now` is: the installed CLI against loopback upstreams, and two references.

    python benchmarks/run.py                      # 500, 2,000 and 10,000 papers/day, 20 feeds (~4 min)
    python benchmarks/run.py --scales 2000 --repeat 5 --json out.json

For each scale, an arXiv day of that many candidate papers is built from benchmarks/data (real papers,
repeated under fresh ids; see benchmarks/upstreams.py) and served on 127.0.0.1 with ``--latency`` per
answer: the RSS listing, the API search, Hugging Face's two days and ``--feeds`` blog feeds, plus an
OpenAI-compatible chat server answering after ``--llm-latency``. Then, each as its own process:

- ``digest now --date 2026-02-05`` on a fresh state (the first run), then again (the same day again);
- the floor and the naive way (benchmarks/references.py);

``--repeat`` times each (the naive way once: it only waits), and the table shows medians. Wall time is
from the start of the process to its exit, CPU time is the process's user + system time, peak RSS its
maximum resident set (all three from wait4). Token counts are what the chat server reported, estimated
the same way for every request (benchmarks/upstreams.py:estimate_tokens). Needs ``pip install -e
'.[test]'`` (the servers come from tests/). Timings are for this command, never for the test suite.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import upstreams as up  # noqa: E402

from digest.config import HOSTED_DEFAULTS  # noqa: E402

MODEL = "bench-model"
KEY_ENV = "DIGEST_BENCH_LLM_KEY"
TARGET_SCALE = 2000
TARGET_RSS_SCALE = 10000


@dataclass
class Measured:
    wall: float
    cpu: float
    rss_mb: float
    returncode: int


@dataclass
class DigestRun:
    measured: Measured
    http: dict[str, dict[int, int]]  # upstream → status → requests
    llm: list[up.LLMCall]  # every LLM request of the run, with its tokens
    items: int
    fallbacks: int
    llm_bodies: list[dict[str, Any]] = field(default_factory=list, repr=False)
    log: str = ""


def measure(cmd: Sequence[str], *, env: dict[str, str], stdout: Path, stderr: Path) -> Measured:
    """Run ``cmd`` to its end: wall time, CPU time (user + system) and peak RSS of that process, as
    benchmarks/launch.py (a small process of its own, see there why) measures them."""
    launcher = [sys.executable, "-S", str(BENCH / "launch.py"), str(stdout), str(stderr), "--", *cmd]
    done = subprocess.run(launcher, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"benchmark: could not run {cmd[0]}: {done.stderr.strip()}")
    return Measured(**json.loads(done.stdout))


def declared_modules() -> list[str]:
    """The project's runtime dependencies, as importable module names (those installed here)."""
    names = []
    for requirement in importlib.metadata.requires("digest") or []:
        if "extra ==" in requirement:
            continue
        name = re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].replace("-", "_").lower()
        if importlib.util.find_spec(name) is not None:
            names.append(name)
    return names


def compile_digest(env: dict[str, str]) -> None:
    """Byte-compile the digest package, as ``pip install`` does for a wheel, and let every run use it.

    An editable install compiles each module on its first import and keeps the result, unless
    PYTHONDONTWRITEBYTECODE is set (some CI images and sandboxes set it): then every run compiles all of
    digest from source again (0.06 s CPU at 2,000 papers), while the floor imports the dependencies' own
    pip-compiled bytecode. Measured runs start from what a user's installed digest has.
    """
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    spec = importlib.util.find_spec("digest")
    if spec is None or not spec.submodule_search_locations:
        return
    for location in spec.submodule_search_locations:
        subprocess.run([sys.executable, "-m", "compileall", "-q", location], env=env, check=False)


def digest_command() -> str:
    found = Path(sys.executable).with_name("digest")
    if found.exists():
        return str(found)
    on_path = shutil.which("digest")
    if on_path is None:
        sys.exit("benchmark: the digest command is not installed here (pip install -e '.[test]')")
    return on_path


def write_config(path: Path, state: Path, server: up.Upstreams, llm_url: str) -> None:
    feeds = "".join(
        f'\n[[feeds]]\nname = "{name}"\nurl = "{server.blog_url(n)}"\n'
        for n, (name, _) in enumerate(server.scaled.blogs)
    )
    path.write_text(
        f'state_dir = "{state}"\n'
        f'[arxiv]\nrss_url = "{server.rss_url}"\napi_url = "{server.api_url}"\n'
        f'[huggingface]\nurl = "{server.hf_url}"\n'
        f'[llm]\nbase_url = "{llm_url}"\nmodel = "{MODEL}"\napi_key_env = "{KEY_ENV}"\n'
        # The fake LLM stands in for a hosted API: a loopback base_url would get the local-server
        # defaults (one item a request, one at a time), which is not what the targets are about.
        + "".join(f"{k} = {v}\n" for k, v in HOSTED_DEFAULTS.items())
        + feeds,
        encoding="utf-8",
    )


def last_run(state: Path) -> dict[str, Any]:
    """The run the state recorded last (empty when the run never got as far as the state)."""
    if not (state / "digest.sqlite3").exists():
        return {}
    db = sqlite3.connect(state / "digest.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        row = db.execute("select * from runs order by id desc limit 1").fetchone()
        return dict(row) if row else {}
    finally:
        db.close()


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.digest = digest_command()
        self.llm = up.BenchLLM(args.llm_latency)
        self.env = dict(
            os.environ,
            **{KEY_ENV: "bench-key", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"},
        )
        for name in ("DIGEST_CONFIG", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
            self.env.pop(name, None)
        compile_digest(self.env)
        self.modules = declared_modules()
        self.runs = 0

    def close(self) -> None:
        self.llm.close()

    def digest_run(self, server: up.Upstreams, config: Path, state: Path) -> DigestRun:
        self.runs += 1
        seen, calls, ledger = server.mark(), self.llm.calls, len(self.llm.ledger)
        cmd = [self.digest, "now", "--config", str(config), "--date", server.scaled.day.isoformat()]
        err = self.work / f"run{self.runs}.err"
        m = measure(cmd, env=self.env, stdout=self.work / f"run{self.runs}.md", stderr=err)
        record = last_run(state)
        log = err.read_text(encoding="utf-8", errors="replace")
        if m.returncode != 0:
            print(f"benchmark: digest now exited {m.returncode}:\n{log}", file=sys.stderr)
        return DigestRun(
            measured=m,
            http={k: dict(v) for k, v in server.counts(seen).items()},
            llm=list(self.llm.ledger[ledger:]),
            items=int(record.get("items", 0)),
            fallbacks=int(record.get("fallbacks", 0)),
            llm_bodies=list(self.llm.requests[calls:]),
            log=log,
        )

    def reference(self, mode: str, plan: dict[str, Any]) -> tuple[Measured, dict[str, Any]]:
        self.runs += 1
        plan_path = self.work / f"plan-{mode}.json"
        plan_path.write_text(
            json.dumps({"modules": self.modules, **plan}, ensure_ascii=False), encoding="utf-8"
        )
        out, err = self.work / f"{mode}{self.runs}.json", self.work / f"{mode}{self.runs}.err"
        cmd = [sys.executable, str(BENCH / "references.py"), mode, str(plan_path)]
        m = measure(cmd, env=self.env, stdout=out, stderr=err)
        if m.returncode != 0:
            sys.exit(f"benchmark: the {mode} reference failed:\n{err.read_text(errors='replace')}")
        return m, json.loads(out.read_text(encoding="utf-8"))

    def scale(self, papers: int) -> dict[str, Any]:
        args = self.args
        scaled = up.build_day(args.corpus, papers, args.feeds)
        server = up.Upstreams(scaled, args.latency)
        server.start()
        try:
            firsts: list[DigestRun] = []
            seconds: list[DigestRun] = []
            for r in range(args.repeat):
                state = self.work / f"state-{papers}-{r}"
                config = self.work / f"digest-{papers}-{r}.toml"
                write_config(config, state, server, self.llm.url)
                firsts.append(self.digest_run(server, config, state))
                seconds.append(self.digest_run(server, config, state))
            fetch = fetch_plan(server, max_results=200)
            floors = [self.reference("floor", {"fetch": fetch}) for _ in range(args.repeat)]
            naive_requests = naive_messages(firsts[-1].llm_bodies, scaled.full_text)
            llm_plan = {"url": self.llm.url + "/chat/completions", "model": MODEL, "requests": naive_requests}
            naive = self.reference("naive", {"fetch": fetch, "llm": llm_plan})
        finally:
            server.stop()
        return summarize(papers, args, firsts, seconds, floors, naive)


def fetch_plan(server: up.Upstreams, *, max_results: int) -> list[dict[str, str]]:
    """Every distinct download of a first run, once: what the floor and the naive way fetch."""
    api = f"{server.api_url}?search_query=all&start=0&max_results={max_results}"
    fetch = [{"url": server.listing_url, "kind": "listing"}, {"url": api, "kind": "api"}]
    fetch += [{"url": f"{server.hf_url}?date={d}", "kind": "json"} for d in server.scaled.hf]
    fetch += [{"url": server.blog_url(n), "kind": "blog"} for n in range(len(server.scaled.blogs))]
    return fetch


def naive_messages(bodies: list[dict[str, Any]], full_text: dict[str, str]) -> list[list[dict[str, str]]]:
    """One request per item our run summarized: the run's own messages, cut down to that one item, with
    its whole abstract (the naive way neither batches nor trims)."""
    decoder = json.JSONDecoder()
    out: list[list[dict[str, str]]] = []
    for body in bodies:
        messages = body["messages"]
        user_at = max(i for i, m in enumerate(messages) if m["role"] == "user")
        text = messages[user_at]["content"]
        span = None
        for match in re.finditer(r"[\[{]", text):
            try:
                value, end = decoder.raw_decode(text, match.start())
            except ValueError:
                continue
            if isinstance(value, dict) and "top_items" in value:
                break  # the 흐름 request: its top items have ids to lead with, not lines to write
            items = value.get("items") if isinstance(value, dict) else value
            if isinstance(items, list) and items and all(isinstance(v, dict) and "id" in v for v in items):
                span = (match.start(), end, items)
                break
        if span is None:
            continue
        start, end, items = span
        for item in items:
            one = dict(item, id="1")
            for key in ("abstract", "summary"):
                if key in one:
                    one[key] = full_text.get(str(item.get("title", "")), one[key])
            single = json.dumps([one], ensure_ascii=False, indent=1)
            user = {"role": "user", "content": text[:start] + single + text[end:]}
            out.append([*messages[:user_at], user])
    return out


def llm_rounds(run: DigestRun) -> int:
    """LLM rounds no implementation can avoid: one for the takeaways (every batch can go at once), and
    one for a request written from them (the 오늘의 흐름 paragraph quotes the takeaways), if there is one."""
    takeaways = any(c.items for c in run.llm)
    return int(takeaways) + int(takeaways and any(not c.items for c in run.llm))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def summarize(
    papers: int,
    args: argparse.Namespace,
    firsts: list[DigestRun],
    seconds: list[DigestRun],
    floors: list[tuple[Measured, dict[str, Any]]],
    naive: tuple[Measured, dict[str, Any]],
) -> dict[str, Any]:
    def stats(ms: Sequence[Measured]) -> dict[str, float]:
        return {
            "wall": median([m.wall for m in ms]),
            "cpu": median([m.cpu for m in ms]),
            "rss_mb": median([m.rss_mb for m in ms]),
        }

    rounds = llm_rounds(firsts[-1])
    floor = stats([m for m, _ in floors])
    floor["wall"] += rounds * args.llm_latency
    naive_m, naive_out = naive
    first, second = firsts[-1], seconds[-1]
    return {
        "papers": papers,
        "feeds": args.feeds,
        "latency": args.latency,
        "llm_latency": args.llm_latency,
        "repeat": args.repeat,
        "first": {**stats([r.measured for r in firsts]), **_run_facts(first)},
        "second": {**stats([r.measured for r in seconds]), **_run_facts(second)},
        "floor": {**floor, "llm_rounds": rounds, "requests": floors[-1][1]["requests"]},
        "naive": {
            "wall": naive_m.wall,
            "cpu": naive_m.cpu,
            "rss_mb": naive_m.rss_mb,
            "requests": naive_out["requests"],
            "llm_requests": naive_out["llm_requests"],
            "prompt_tokens": naive_out["prompt_tokens"],
            "completion_tokens": naive_out["completion_tokens"],
            "items": naive_out["llm_requests"],
            "summarized": naive_out["llm_requests"],
        },
        "ok": all(r.measured.returncode == 0 for r in firsts + seconds),
    }


def _run_facts(run: DigestRun) -> dict[str, Any]:
    takeaways = [c for c in run.llm if c.items]
    return {
        "http": run.http,
        "llm_requests": len(run.llm),
        "takeaway_requests": len(takeaways),
        "prompt_tokens": sum(c.prompt_tokens for c in run.llm),
        "completion_tokens": sum(c.completion_tokens for c in run.llm),
        "takeaway_prompt_tokens": sum(c.prompt_tokens for c in takeaways),
        "items": run.items,
        "summarized": sum(c.items for c in takeaways),
        "fallbacks": run.fallbacks,
        "returncode": run.measured.returncode,
    }


# -- the table ------------------------------------------------------------------------------------------


def _http_cell(counts: dict[Any, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "0"
    by = {int(k): v for k, v in counts.items()}
    if set(by) == {200}:
        return str(total)
    return f"{total} (" + ", ".join(f"{v}×{k}" for k, v in sorted(by.items())) + ")"


def _llm_cell(run: dict[str, Any]) -> str:
    other = run["llm_requests"] - run["takeaway_requests"]
    return f"{run['takeaway_requests']}" + (f" + {other} other" if other else "")


def _per_item(run: dict[str, Any]) -> float:
    """Prompt tokens of the takeaway requests per item they summarized (other requests left out)."""
    items = run.get("summarized", run.get("items", 0))
    return run.get("takeaway_prompt_tokens", run["prompt_tokens"]) / items if items else 0.0


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "—"


def table(r: dict[str, Any]) -> str:
    f, s, fl, nv = r["first"], r["second"], r["floor"], r["naive"]
    n = r["papers"]
    rows: list[tuple[str, str, str, str, str]] = []

    def row(label: str, a: object, b: object, c: object = "", d: object = "") -> None:
        rows.append((label, str(a), str(b), str(c), str(d)))

    row("wall time (s)", f"{f['wall']:.2f}", f"{s['wall']:.2f}", f"{fl['wall']:.2f}", f"{nv['wall']:.2f}")
    row("process CPU (s)", f"{f['cpu']:.2f}", f"{s['cpu']:.2f}", f"{fl['cpu']:.2f}", f"{nv['cpu']:.2f}")
    row(
        "peak RSS (MB)",
        f"{f['rss_mb']:.0f}",
        f"{s['rss_mb']:.0f}",
        f"{fl['rss_mb']:.0f}",
        f"{nv['rss_mb']:.0f}",
    )
    row(
        "CPU per paper (ms)",
        f"{1000 * f['cpu'] / n:.3f}",
        f"{1000 * s['cpu'] / n:.3f}",
        f"{1000 * fl['cpu'] / n:.3f}",
        f"{1000 * nv['cpu'] / n:.3f}",
    )
    per_upstream = {"arXiv listing": 1, "arXiv API": 1, "Hugging Face": 2, "blogs": r["feeds"]}
    for name, once in per_upstream.items():
        row(f"HTTP {name}", _http_cell(f["http"][name]), _http_cell(s["http"][name]), once, once)
    row(
        "LLM requests",
        _llm_cell(f),
        _llm_cell(s),
        f"{fl['llm_rounds']} round" + ("s" if fl["llm_rounds"] != 1 else ""),
        nv["llm_requests"],
    )
    row("prompt tokens", f["prompt_tokens"], s["prompt_tokens"], "", nv["prompt_tokens"])
    row("completion tokens", f["completion_tokens"], s["completion_tokens"], "", nv["completion_tokens"])
    per_item, naive_item = _per_item(f), _per_item(nv)
    row("takeaway prompt tokens/item", f"{per_item:.0f}", "—", "", f"{naive_item:.0f}")
    row(
        "items (summarized)",
        f"{f['items']} ({f['summarized']})",
        f"{s['items']} ({s['summarized']})",
        "",
        nv["items"],
    )

    head = ("", "first run", "same day", "floor", "naive")
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(5)]
    lines = [
        f"{n:,} candidate papers/day · {r['feeds']} feeds · upstream latency {1000 * r['latency']:.0f} ms · "
        f"LLM latency {r['llm_latency']:g} s · median of {r['repeat']}",
        "  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(head)),
    ]
    for x in rows:
        lines.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(x)))
    lines.append(
        f"first run against the floor: wall {_ratio(f['wall'], fl['wall'])}, "
        f"CPU {_ratio(f['cpu'], fl['cpu'])}; "
        f"against the naive way: wall {_ratio(f['wall'], nv['wall'])}, "
        f"prompt tokens per item {_ratio(per_item, naive_item)}"
    )
    if f["fallbacks"] or f["returncode"] or s["returncode"]:
        lines.append(f"WARNING: {f['fallbacks']} fallbacks, exit codes {f['returncode']}/{s['returncode']}")
    return "\n".join(lines)


def targets(results: list[dict[str, Any]]) -> str:
    """The issue's targets, checked against this run's numbers."""
    by = {r["papers"]: r for r in results}
    checks: list[tuple[str, bool | None, str]] = []

    def check(name: str, ok: bool | None, shown: str) -> None:
        checks.append((name, ok, shown))

    t = by.get(TARGET_SCALE)
    if t:
        f, s, fl, nv = t["first"], t["second"], t["floor"], t["naive"]
        check("first-run wall ≤ 1.2 × floor", f["wall"] <= 1.2 * fl["wall"], _ratio(f["wall"], fl["wall"]))
        check("first-run CPU ≤ 1.3 × floor CPU", f["cpu"] <= 1.3 * fl["cpu"], _ratio(f["cpu"], fl["cpu"]))
        check("re-run: 0 LLM requests", s["llm_requests"] == 0, str(s["llm_requests"]))
        feeds = {k: v for k, v in s["http"].items() if k != "arXiv API"}
        not_304 = sum(n for c in feeds.values() for st, n in c.items() if int(st) != 304)
        check("re-run: every feed answered 304", not_304 == 0, f"{not_304} not 304")
        api = sum(s["http"]["arXiv API"].values())
        check("re-run: no repeated API search", api == 0, f"{api} requests")
        check("re-run wall ≤ 1.5 s", s["wall"] <= 1.5, f"{s['wall']:.2f} s")
        per_item, naive_item = _per_item(f), _per_item(nv)
        check(
            "prompt tokens per item ≤ 0.5 × naive", per_item <= 0.5 * naive_item, _ratio(per_item, naive_item)
        )
    big = by.get(TARGET_RSS_SCALE)
    if big:
        check(
            "peak RSS ≤ 150 MB at 10,000 papers",
            big["first"]["rss_mb"] <= 150,
            f"{big['first']['rss_mb']:.0f} MB",
        )
    if len(by) > 1:
        per = [(p, by[p]["first"]["cpu"] / p) for p in sorted(by)]
        # "Flat" with 10% of slack for a noisy machine.
        flat = all(b <= 1.1 * a for (_, a), (_, b) in zip(per, per[1:], strict=False))
        shown = " → ".join(f"{1000 * c:.3f}" for _, c in per) + " ms"
        check("per-paper CPU flat or falling", flat, shown)
    lines = ["targets (issue 10):"]
    for name, ok, shown in checks:
        lines.append(f"  {'met    ' if ok else 'NOT MET'}  {name}: {shown}")
    return "\n".join(lines)


def serve(args: argparse.Namespace, work: Path) -> None:
    """The upstreams of one scale until Ctrl-C, e.g. to run ``py-spy record -- digest now ...`` against."""
    llm = up.BenchLLM(args.llm_latency)
    server = up.Upstreams(up.build_day(args.corpus, args.serve, args.feeds), args.latency)
    server.start()
    config = work / "digest.toml"
    write_config(config, work / "state", server, llm.url)
    print(f"serving {args.serve:,} papers/day; state in {work / 'state'} (delete it for a first run)")
    print(f"{KEY_ENV}=x digest now --config {config} --date {server.scaled.day}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill PID` cleans up too
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        llm.close()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None, *, emit: Callable[[str], None] = print) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--scales", default="500,2000,10000", help="candidate papers per day, comma-separated"
    )
    parser.add_argument("--feeds", type=int, default=20, help="blog feeds (default 20)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds each upstream takes to answer")
    parser.add_argument("--llm-latency", type=float, default=1.0, help="seconds the LLM takes per request")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the table shows medians")
    parser.add_argument(
        "--corpus", type=Path, default=up.CORPUS, help="a corpus directory (default: benchmarks/data)"
    )
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    parser.add_argument("--keep", type=Path, help="keep the work directory (configs, states, logs) here")
    parser.add_argument(
        "--serve",
        type=int,
        metavar="PAPERS",
        help="only start the upstreams for one scale and print a config to run digest against (to profile)",
    )
    args = parser.parse_args(argv)
    if not (args.corpus / "arxiv").is_dir():
        sys.exit(f"benchmark: no corpus at {args.corpus} (pass --corpus)")
    scales = [int(s.replace(",", "").replace("_", "")) for s in args.scales.split(",") if s.strip()]

    work = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    if args.serve:
        serve(args, work)
        return []
    bench = Bench(args, work)
    results = []
    try:
        for papers in scales:
            result = bench.scale(papers)
            results.append(result)
            emit(table(result) + "\n")
        emit(targets(results))
    finally:
        bench.close()
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
