"""The two references a digest run is measured against, each run as its own process by benchmarks/run.py.

    python benchmarks/references.py floor PLAN.json
    python benchmarks/references.py naive PLAN.json

``floor``: the work no implementation can skip. A bare interpreter imports the declared libraries (the
project's runtime dependencies), downloads the same bytes as a first run, all at once, and parses them
with feedparser (the arXiv listing and API answer with feedparser's fast flags, as digest does; blogs
with its defaults; Hugging Face with json). One arXiv API request, so no 3-second spacing. The LLM
rounds that cannot be avoided are added by the harness (rounds × latency, see run.py's llm_rounds): they
cost waiting, not CPU.

``naive``: the same downloads one after another, each parsed as it arrives, then one LLM request per
summarized item, in turn, with the run's own system prompt and the item's whole abstract. Prints the
token usage the LLM server reported, as JSON on stdout.

PLAN.json (written by the harness): {"modules": [...], "fetch": [{"url", "kind"}], "llm": {"url",
"model", "requests": [[message, ...], ...]}}
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any


def _import_declared(modules: list[str]) -> None:
    for name in modules:
        importlib.import_module(name)


def _parse(kind: str, body: bytes) -> int:
    import feedparser

    if kind == "json":
        return len(json.loads(body))
    fast = kind in ("listing", "api")  # plain text in XML: sanitizing and URI resolving only cost time
    flags = {"sanitize_html": False, "resolve_relative_uris": False} if fast else {}
    return len(feedparser.parse(body, **flags).entries)


def floor(plan: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    import httpx2

    async def download() -> list[bytes]:
        async with httpx2.AsyncClient(timeout=60) as client:
            replies = await asyncio.gather(*(client.get(f["url"]) for f in plan["fetch"]))
        for r in replies:
            r.raise_for_status()
        return [r.content for r in replies]

    bodies = asyncio.run(download())
    entries = sum(_parse(f["kind"], b) for f, b in zip(plan["fetch"], bodies, strict=True))
    return {"requests": len(bodies), "entries": entries}


def naive(plan: dict[str, Any]) -> dict[str, Any]:
    import httpx2

    entries = 0
    prompt = completion = 0
    with httpx2.Client(timeout=120) as client:
        for f in plan["fetch"]:
            r = client.get(f["url"])
            r.raise_for_status()
            entries += _parse(f["kind"], r.content)
        llm = plan["llm"]
        for messages in llm["requests"]:
            r = client.post(
                llm["url"],
                json={
                    "model": llm["model"],
                    "messages": messages,
                    "response_format": {"type": "json_object"},
                },
                headers={"authorization": "Bearer unused"},
            )
            r.raise_for_status()
            usage = r.json().get("usage") or {}
            prompt += usage.get("prompt_tokens", 0)
            completion += usage.get("completion_tokens", 0)
    return {
        "requests": len(plan["fetch"]),
        "entries": entries,
        "llm_requests": len(plan["llm"]["requests"]),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
    }


def main() -> None:
    mode, plan_path = sys.argv[1], Path(sys.argv[2])
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    _import_declared(plan["modules"])
    result = {"floor": floor, "naive": naive}[mode](plan)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
