"""A fake export.arxiv.org/api/query on a FeedServer: real HTTP, the API's query syntax and Atom pages.

It holds papers with their v1 submission times and answers ``search_query`` as the API does for the
parts digest uses: ``cat:X OR cat:Y`` (any listed category), ``submittedDate:[YYYYMMDDHHMM TO
YYYYMMDDHHMM]`` (GMT, to the minute, both ends included), ``sortBy=submittedDate``, ``start`` and
``max_results`` paging with ``totalResults``. A window with no paper gets the API's empty feed.

The corpus records carry no submission times (tests/fixtures/corpus/SOURCE.md), so a test places each
day's records in that day's submission window, written out by hand in the test (not computed by
digest's own calendar code, which is what is being checked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from digest._compat import UTC
from tests.feedserver import FeedServer, Reply, Seen
from tests.fixtures.sources.build import build_arxiv_api_atom

PATH = "/api/query"
_RANGE = re.compile(r"submittedDate:\[(\d{12}) TO (\d{12})\]")
_CAT = re.compile(r"cat:([\w.\-]+)")


@dataclass(frozen=True)
class Paper:
    record: dict  # a corpus record: id, title, summary, authors, categories
    submitted: datetime  # aware: the v1 submission time


def spread(records: list[dict], start: datetime, end: datetime) -> list[Paper]:
    """``records`` at even intervals over [start, end): the first exactly at ``start``."""
    step = (end - start) / max(1, len(records))
    return [Paper(r, start + n * step) for n, r in enumerate(records)]


def _minute(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=UTC)


class FakeArxivAPI:
    def __init__(self, server: FeedServer, papers: list[Paper] | None = None) -> None:
        self.server = server
        self.papers: list[Paper] = list(papers or [])
        self.queries: list[dict[str, str]] = []
        server.handle(PATH, self.answer)

    @property
    def url(self) -> str:
        return self.server.url(PATH)

    def add(self, papers: list[Paper]) -> None:
        self.papers += papers

    def matching(self, query: str) -> list[Paper]:
        found = self.papers
        cats = set(_CAT.findall(query))
        if cats:
            found = [p for p in found if cats & set(p.record["categories"])]
        window = _RANGE.search(query)
        if window:
            first, last = _minute(window.group(1)), _minute(window.group(2)) + timedelta(minutes=1)
            found = [p for p in found if first <= p.submitted < last]
        return sorted(found, key=lambda p: (p.submitted, p.record["id"]))

    def answer(self, seen: Seen) -> Reply:
        args = {k: v[0] for k, v in parse_qs(seen.query).items()}
        self.queries.append(args)
        found = self.matching(args.get("search_query", ""))
        start, size = int(args.get("start", 0)), int(args.get("max_results", 10))
        page = found[start : start + size]
        body = build_arxiv_api_atom(
            [p.record for p in page],
            query=args.get("search_query", ""),
            submitted=datetime(2026, 2, 6, tzinfo=UTC),
            times=[p.submitted for p in page],
            total=len(found),
            start=start,
        )
        return Reply(200, body.encode(), {"Content-Type": "application/atom+xml"})
