"""A past announcement day's papers from the arXiv API, for ``digest backfill``.

The listing (rss.arxiv.org) only serves today, so a past day is approximated by the API: every paper in
the configured categories whose first version was submitted in the day's submission window
(:func:`digest.calendar.submission_window`; the API's ``submittedDate`` is that v1 time, in GMT). One
query per day, sorted by submission time, in the API's largest pages (2000 results), through the shared
:mod:`.arxiv_client` Client, which spaces every request by ``api_delay_seconds``.

What the approximation misses or adds against the day's real listing (see docs/trend.md):

* a cross-list added later to an older paper (the listing shows it as ``cross``) is not in the window;
* a submission held for moderation is announced later than its window, so it lands a day or more off;
* replacements are left out, as in the listing's pool (their v1 is older).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import arxiv

from .._compat import UTC
from ..models import Item
from . import arxiv_client
from .limits import admit

NAME = "arxiv-api"
PAGE_SIZE = 2000  # the API's largest page: a weekday of the four default categories fits in one
MAX_RESULTS = 10_000  # more than any one day holds: a query that finds more is cut, never endless
LOCK_WAIT_SECONDS = 300.0


def build_query(categories: Iterable[str], start: datetime, end: datetime) -> str:
    """The API query for papers in ``categories`` submitted in [start, end).

    The API's range is to the minute and includes both ends, so it ends one minute before ``end``; a
    paper submitted in the deadline's minute still belongs to the next window, and results are checked
    against the exact window anyway.
    """
    cats = " OR ".join(f"cat:{c}" for c in categories)
    first = start.astimezone(UTC)
    last = (end - timedelta(minutes=1)).astimezone(UTC)
    return f"({cats}) AND submittedDate:[{first:%Y%m%d%H%M} TO {last:%Y%m%d%H%M}]"


@dataclass(frozen=True)
class Fetched:
    items: list[Item]  # one per paper, in submission order
    requests: int  # HTTP requests made (pages and retries)
    outside: int = 0  # results the API returned outside the exact window (dropped)
    bad: int = 0  # results with a value no paper has (limits.admit): dropped


def fetch_window(
    client: arxiv.Client,
    categories: list[str],
    start: datetime,
    end: datetime,
    *,
    page_size: int = PAGE_SIZE,
) -> Fetched:
    """Every paper the API has in ``categories`` with its v1 submitted in [start, end), as items.

    Synchronous (the ``arxiv`` package is): a Ctrl-C stops it mid-request. Raises what the package
    raises (``arxiv.HTTPError`` after its retries, ``requests`` errors, :class:`arxiv_client.NetworkDown`).
    A paper whose primary category is one of ``categories`` is a ``new`` announcement, any other a
    ``cross`` one, as the listing would say.
    """
    search = arxiv.Search(
        query=build_query(categories, start, end),
        max_results=MAX_RESULTS,
        sort_by=arxiv.SortCriterion.SubmittedDate,
        sort_order=arxiv.SortOrder.Ascending,
    )
    wanted = set(categories)
    items: dict[str, Item] = {}
    outside = bad = 0
    before = arxiv_client.request_count(client)
    with arxiv_client.exclusive(client, page_size=page_size, wait=LOCK_WAIT_SECONDS):
        for result in client.results(search):
            item = arxiv_client.result_to_item(result, source=NAME)
            if item is None:
                continue
            item, _ = admit(item)
            if item is None:
                bad += 1
                continue
            if item.published is None or not start <= item.published < end:
                outside += 1
                continue
            kind = "new" if item.categories[:1] and item.categories[0] in wanted else "cross"
            items.setdefault(item.key, replace(item, announce_type=kind))
    return Fetched(list(items.values()), arxiv_client.request_count(client) - before, outside, bad)
