"""The sources stage: every enabled source runs concurrently; one failing never stops the others.

Each source yields :class:`~digest.models.Item` values and one
:class:`~digest.models.SourceReport`, and logs one plain line to the progress stream.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TYPE_CHECKING

from .._compat import UTC
from ..config import Config, Feed
from ..errors import SourceError
from ..http import Fetcher
from ..models import Item, SourceReport, SourceStatus
from ..progress import Progress
from ..redact import redact_urls
from ..state import State
from . import arxiv_listing, arxiv_search, blogs, huggingface
from .common import Outcome, error_line
from .limits import admit_all

if TYPE_CHECKING:
    import arxiv

log = logging.getLogger(__name__)

__all__ = ["collect"]

Job = Callable[[], Awaitable[tuple[Outcome, int | None]]]


async def collect(
    config: Config,
    day: date,
    *,
    fetcher: Fetcher,
    state: State,
    progress: Progress,
    arxiv_client: arxiv.Client | None = None,
    now: datetime | None = None,
    replacements: list[Item] | None = None,
) -> tuple[list[Item], list[SourceReport]]:
    """Run every enabled source for digest day ``day``; items in source order, one report each.

    ``replacements``, when given, gets the listing's replacement entries (new versions of older papers),
    which are not in the pool unless ``selection.include_replacements`` says so."""
    now = now or datetime.now(UTC)
    jobs: list[tuple[str, Job | None]] = []

    async def listing() -> tuple[Outcome, int | None]:
        return await arxiv_listing.fetch_listing(config, day, fetcher=fetcher, state=state, now=now), None

    async def search() -> tuple[Outcome, int | None]:
        return await arxiv_search.search_arxiv(config, day, arxiv_client=arxiv_client, state=state, now=now)

    async def hf() -> tuple[Outcome, int | None]:
        return await huggingface.fetch_daily_papers(config, day, fetcher=fetcher), None

    def blog(feed: Feed) -> Job:
        async def run() -> tuple[Outcome, int | None]:
            return await blogs.fetch_blog(config, feed, fetcher=fetcher, now=now), None

        return run

    jobs.append((arxiv_listing.NAME, listing if config.arxiv.enabled else None))
    jobs.append((arxiv_search.NAME, search if config.arxiv.enabled and config.arxiv.search else None))
    jobs.append((huggingface.NAME, hf if config.huggingface.enabled else None))
    for feed in config.feeds:
        jobs.append((blogs.source_name(feed), blog(feed) if feed.enabled else None))

    waiting = [name for name, job in jobs if job is not None]

    async def tracked(name: str, job: Job | None) -> tuple[list[Item], SourceReport]:
        result = await _run(name, job, fetcher, progress, replacements)
        if name in waiting:
            waiting.remove(name)
        if waiting:  # the live line on a terminal: what the run is still waiting for
            more = " …" if len(waiting) > 3 else ""
            progress.status(f"sources: waiting for {', '.join(waiting[:3])}{more}")
        return result

    progress.status(f"sources: fetching {len(waiting)} sources")
    results = await asyncio.gather(*(tracked(name, job) for name, job in jobs))
    items = [item for found, _ in results for item in found]
    return items, [report for _, report in results]


async def _run(
    name: str,
    job: Job | None,
    fetcher: Fetcher,
    progress: Progress,
    replacements: list[Item] | None = None,
) -> tuple[list[Item], SourceReport]:
    if job is None:
        return [], SourceReport(name=name, status=SourceStatus.DISABLED)
    started = time.monotonic()
    requests: int | None = None
    try:
        outcome, requests = await job()
    except SourceError as e:
        outcome = Outcome(status=SourceStatus.FAILED, error=e.reason)
    except sqlite3.DatabaseError:
        # The state, not the source: locked by another process or damaged, every other source would
        # wait out the busy timeout on it too. The run stops; the State says why in one line.
        raise
    except Exception as e:  # noqa: BLE001 - a bug in one source must not sink the digest
        # Logged at debug level: the user sees the one-line report, not a traceback.
        log.debug("source %s crashed", name, exc_info=True)
        outcome = Outcome(
            status=SourceStatus.FAILED, error=f"internal error: {type(e).__name__}: {error_line(e)}"
        )
    seconds = round(time.monotonic() - started, 2)
    count = fetcher.requests[name] if requests is None else requests
    items, dropped = admit_all(outcome.items) if outcome.status.delivers else ([], "")
    if replacements is not None and outcome.status.delivers and outcome.replacements:
        replacements.extend(admit_all(outcome.replacements)[0])
    report = SourceReport(
        name=name,
        status=outcome.status,
        items=len(items),
        seconds=seconds,
        # A URL in an error (a feed's, the API's) may carry a token: this line goes to stderr and the footer.
        error=redact_urls("; ".join(e for e in (outcome.error, dropped) if e)),
        requests=count,
    )
    line = log_line(report, redact_urls(outcome.detail))
    # A problem is said here, once, with its reason (also under -q); the run's end only names the sources.
    if report.status.is_failure or (report.error and report.status.delivers):
        progress.warn(line)
    else:
        progress.log(line)
    return items, report


def log_line(report: SourceReport, detail: str = "") -> str:
    """The one plain line a source leaves on stderr."""
    seconds = f"{report.seconds:.1f}s"
    if report.status == SourceStatus.DISABLED:
        return f"{report.name}: disabled"
    if report.status == SourceStatus.FAILED:
        return f"{report.name}: failed — {report.error}"
    if report.status == SourceStatus.STALE:
        return f"{report.name}: stale — {report.error}"
    if report.status in (SourceStatus.NO_ANNOUNCEMENT, SourceStatus.PAST):
        return f"{report.name}: {detail or report.status}, {seconds}"
    extra = "; ".join(p for p in (detail, f"problem: {report.error}" if report.error else "") if p)
    return f"{report.name}: {report.items} items{f' ({extra})' if extra else ''}, {seconds}"
