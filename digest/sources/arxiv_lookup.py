"""Given papers from the arXiv API, in ONE request: ``id_list=2601.01234,2602.04101,...``.

For the reader's watchlist (digest/reader/followup.py): the listing announces a new version of a watched
paper but not its comment, where an acceptance or a code link is said. Through the process's shared
:mod:`.arxiv_client` Client, so it keeps the 3 s between requests with the day's search.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import Config
from ..models import Item
from .limits import admit

if TYPE_CHECKING:
    import arxiv

NAME = "arxiv-lookup"
# An id_list this long stays far below the request-line limits servers have (arXiv answered a ~8 KB
# id_list with 414, lukasschwab/arxiv.py#15): 100 ids are about 1.1 KB.
MAX_IDS = 100
MAX_WAIT_SECONDS = 120.0


@dataclass
class Lookup:
    items: dict[str, Item] = field(default_factory=dict)  # versionless id -> the API's record
    requests: int = 0
    error: str = ""  # one line when the request failed
    left_out: list[str] = field(default_factory=list)  # ids past MAX_IDS, asked another day


def _fetch(client: arxiv.Client, ids: list[str], wait: float) -> dict[str, Item]:
    import arxiv

    from . import arxiv_client as api

    search = arxiv.Search(id_list=ids, max_results=len(ids))
    out: dict[str, Item] = {}
    with api.exclusive(client, page_size=len(ids), wait=wait):
        for result in client.results(search):
            found = api.result_to_item(result, source=NAME)
            item = admit(found)[0] if found is not None else None
            if item is not None and item.arxiv_id:
                out[item.arxiv_id] = item
    return out


async def lookup(config: Config, ids: list[str], *, arxiv_client: arxiv.Client | None = None) -> Lookup:
    """The API's records of ``ids`` (at most MAX_IDS of them), in one request; never raises for the API."""
    if not ids:
        return Lookup()
    from . import arxiv_client as api  # the arxiv package loads only when a lookup goes out

    asked, left_out = ids[:MAX_IDS], ids[MAX_IDS:]
    timeout = config.http.timeout_seconds
    client = api.client_for(config.arxiv, timeout, arxiv_client)
    budget = min(MAX_WAIT_SECONDS, (client.num_retries + 1) * (timeout + client.delay_seconds) + 5)
    before = api.request_count(client)
    try:
        items = await asyncio.wait_for(asyncio.to_thread(_fetch, client, asked, budget), budget)
    except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
        error = f"arXiv API lookup timed out after {budget:g}s ({config.arxiv.api_url})"
        return Lookup(requests=api.request_count(client) - before, error=error, left_out=left_out)
    except Exception as e:  # noqa: BLE001 - the package raises requests/lxml/its own errors alike
        error = f"arXiv API lookup failed: {api.describe_error(e)} ({config.arxiv.api_url})"
        return Lookup(requests=api.request_count(client) - before, error=error, left_out=left_out)
    return Lookup(items, api.request_count(client) - before, left_out=left_out)
