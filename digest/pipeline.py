"""One daily run: sources → selection → summarizing → rendering, with its state and archive.

The clients (HTTP, LLM, arXiv API) are built at the edge and passed in, so tests and the
sample day point them at loopback servers or bundled files instead of patching anything.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2

from . import calendar
from .config import Config, Render
from .delivery import archive_email
from .delivery.archive import stem as archive_stem
from .delivery.feed import archive_post
from .delivery.notes import as_written, note_path, update_note
from .delivery.post import daily_post
from .errors import AllSourcesFailed, DigestError
from .http import Fetcher, make_http_client
from .llm import DeferredClient
from .models import Digest, Item, SourceReport, SourceStatus, TopicInfo
from .progress import Progress
from .reader.followup import follow_up
from .reader.privacy import for_destination
from .reader.stage import explain_picks, personalize_run
from .redact import redact_url, redact_urls
from .rendering.daily import render_markdown
from .selection import pick
from .selection.matching import TopicMatcher
from .selection.shortlist import keep_shortlist
from .sources import collect
from .state import State, database_error, run_lock
from .takeaways.summarize import make_llm_client, summarize_run
from .trend import stage
from .trend.paragraph import Prepared, write_flow

if TYPE_CHECKING:
    import arxiv  # loaded by the search itself, only when it asks the API
    from openai import AsyncOpenAI


@dataclass
class Clients:
    """Everything a run talks to, built once at the edge."""

    http: httpx2.AsyncClient
    llm: DeferredClient | AsyncOpenAI | None  # tests may pass an SDK client of their own
    arxiv: arxiv.Client | None = None
    llm_off: str = ""  # why ``llm`` is None when it is left out on purpose (the sample day has no LLM)
    flow: Prepared | None = None  # the 흐름 answer written in advance, in place of the LLM's (the sample's)


@dataclass
class RunResult:
    digest: Digest
    markdown: str
    archive_path: Path
    run_id: int
    render: Render = field(default_factory=Render)  # how it was rendered: the email bodies follow it


@asynccontextmanager
async def default_clients(
    config: Config,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    llm: bool = True,
    llm_off: str = "",
) -> AsyncIterator[Clients]:
    """The real clients for ``config``: one httpx2 stack serves feeds and the LLM (``llm`` False: none,
    for the reason ``llm_off`` says)."""
    async with make_http_client(config.http, transport=transport) as http:
        if llm:
            yield Clients(http=http, llm=make_llm_client(config.llm, http))
        else:
            yield Clients(http=http, llm=None, llm_off=llm_off)


def today(config: Config, now: datetime | None = None) -> date:
    return (now or datetime.now(config.tz)).astimezone(config.tz).date()


def anchor(config: Config, day: date, now: datetime | None = None) -> datetime:
    """The moment lookback windows end: now, or the end of ``day`` when it is in the past."""
    end_of_day = datetime.combine(day + timedelta(days=1), dt_time(0), tzinfo=config.tz)
    return min(now or datetime.now(config.tz), end_of_day)


def _notices(day: date, reports: list[SourceReport], has_entries: bool) -> list[str]:
    notices: list[str] = []
    listing = next((r for r in reports if r.name == "arxiv-listing"), None)
    if listing and listing.status == SourceStatus.NO_ANNOUNCEMENT:
        notices.append(f"오늘은 arXiv 발표가 없는 날입니다({calendar.reason(day)}).")
    elif listing and listing.status == SourceStatus.PAST:
        search = next((r for r in reports if r.name == "arxiv-search" and r.status.delivers), None)
        how = "arXiv 검색 결과로" if search else "arXiv 목록 없이"
        notices.append(f"지난 날짜라 그날의 arXiv 목록은 더 이상 받을 수 없어 {how} 골랐습니다.")
    elif listing and listing.status == SourceStatus.STALE:
        notices.append("⚠️ arXiv 목록이 오늘 것이 아닙니다. 오늘 발표된 논문이 빠져 있을 수 있습니다.")
    elif listing and listing.status == SourceStatus.FAILED:
        notices.append("⚠️ arXiv 목록을 가져오지 못했습니다. 오늘 발표된 논문이 빠져 있을 수 있습니다.")
    elif listing and listing.error:
        notices.append(
            f"⚠️ arXiv 목록이 깨져 있어 {listing.items}편만 읽었습니다. 빠진 논문이 있을 수 있습니다."
        )
    if not has_entries:
        if any(r.status.is_failure for r in reports):
            notices.append("선정된 글이 없습니다. 일부 소스를 가져오지 못했으니 아래를 확인하세요.")
        else:
            notices.append("오늘은 관심 주제에 해당하는 새 글이 없습니다.")
    return notices


async def build_digest(
    config: Config,
    day: date,
    *,
    clients: Clients,
    state: State,
    progress: Progress,
    now: datetime | None = None,
    sample: bool = False,
) -> Digest:
    """Collect, select and summarize the items for ``day``. Raises AllSourcesFailed."""
    fetcher = Fetcher(
        clients.http,
        state=state,
        config=config.http,
        on_retry=lambda e: progress.log(
            f"retrying {redact_url(e.url)}: {redact_urls(e.reason)}"
            + (f", waiting {e.wait:g}s as asked" if e.wait else "")
        ),
    )
    replacements: list[Item] = []
    items, reports = await collect(
        config,
        day,
        fetcher=fetcher,
        state=state,
        progress=progress,
        arxiv_client=clients.arxiv,
        now=anchor(config, day, now),
        replacements=replacements,
    )
    # A listing the calendar says does not exist delivers nothing whether or not its feed answered: the
    # day rests on the other sources, and when they all failed there is nothing to build a digest from.
    silent = any(r.status == SourceStatus.NO_ANNOUNCEMENT for r in reports)
    active = [r for r in reports if r.status not in (SourceStatus.DISABLED, SourceStatus.NO_ANNOUNCEMENT)]
    if active and all(r.status.is_failure for r in active):
        # Each reason was reported as the source failed: the error names them, it does not repeat them.
        names = ", ".join(r.name for r in active)
        what = "every source failed"
        if silent:
            why = calendar.reason_en(day)
            what = f"no arXiv announcement for {day} ({why}), and every other source failed"
        raise AllSourcesFailed(f"{what}, so there is no digest for {day} ({names})")

    candidates = pick.merge(items)
    scored = pick.score(candidates, TopicMatcher(config.topics))
    # The day's numbers over its whole pool are recorded before anything can go wrong with the LLM.
    today_stats, trend_note = stage.count_today(
        config, day, candidates, scored, reports, state, progress
    )
    keep_shortlist(state, day, scored, origin="run")  # for the weekly roundup (digest/week/roundup.py)
    # After the day's counts and shortlist: the reader's notes reorder the picks, never what is counted.
    scored, personal = personalize_run(config, day, scored, state, progress)
    shown = state.shown_before([s.candidate.key for s in scored], day)
    picked = pick.select(scored, config.selection, exclude=shown)
    picked = explain_picks(config, state, day, picked, personal, progress)
    # The sample day is not the reader's news: its listing must neither be said nor remembered as said.
    watch = () if sample else await follow_up(
        config,
        day,
        replacements=replacements,
        items=items,
        state=state,
        progress=progress,
        arxiv_client=clients.arxiv,
        notes_read=personal is not None and personal.profile is not None,
    )
    progress.log(
        f"selection: {len(candidates)} candidates, {len(scored)} on topic, "
        f"{len(shown)} shown before, {len(picked)} picked"
    )
    for s in picked:  # why each item is in: what to tune when a pick looks wrong
        progress.log(f"  {s.candidate.key}: {s.reason}")

    entries, usage, session = await summarize_run(
        picked, client=clients.llm, llm=config.llm, state=state, progress=progress, off_reason=clients.llm_off
    )
    trend = stage.no_trend(day, trend_note)
    if today_stats is not None:
        trend = stage.build_trend(config, today_stats, state, progress)
        flow = await write_flow(
            trend,
            entries,
            session=session,
            llm=config.llm,
            state=state,
            progress=progress,
            off_reason=clients.llm_off,
            prepared=clients.flow,
        )
        trend = replace(trend, flow=flow)
    if usage.calls:
        progress.log(f"llm: {usage.summary()}")

    reviewed = {
        "arxiv": sum(1 for c in candidates if any(s.startswith("arxiv") for s in c.sources)),
        "huggingface": sum(1 for c in candidates if "huggingface" in c.sources),
        "blog": sum(1 for c in candidates if c.kind == "post"),
    }
    return Digest(
        day=day,
        entries=entries,
        sources=reports,
        topics=[TopicInfo(k, t.label) for k, t in config.topics.items()],
        usage=usage,
        reviewed=reviewed,
        notices=_notices(day, reports, bool(entries)),
        sample=sample,
        arxiv_announced=calendar.is_announcement_day(day),
        trend=trend,
        watch=watch,
    )


def _last_written(config: Config, state: State, day: date, archived: str | None) -> tuple[str | None, bool]:
    """The section digest last wrote into the day's note, and whether that is recorded: else (a state from
    before the record was kept) the day's previous archive, the Markdown the note was written from."""
    path = note_path(config.markdown, day)
    last = state.note_written(day, path)
    if last is not None:
        return last, True
    return (as_written(path, archived) if archived is not None else None), False


def _write_note(
    config: Config,
    state: State,
    day: date,
    markdown: str,
    progress: Progress,
    now: datetime | None = None,
    *,
    archived: str | None = None,
) -> None:
    # The digest is archived already: a note that cannot be written is a warning, not a failed run.
    try:
        last, recorded = _last_written(config, state, day, archived)
        done = update_note(
            config.markdown, day, markdown, last=last, recorded=recorded, tz=config.tz, now=now
        )
    except (OSError, DigestError) as e:
        progress.warn(f"note not written: {e}")
        return
    archive = state.archive_dir / f"{archive_stem(day, sample=False)}.md"
    if done.kept == "edited":
        progress.warn(
            f"note: {done.path}: you edited the {day} section since digest wrote it; left as you have it "
            f"(this run's section: {archive})"
        )
    elif done.kept == "removed":
        progress.warn(f"note: {done.path}: you removed the {day} section; not written again ({archive})")
    elif done.section is not None:
        state.record_note_written(day, done.path, done.section)
        progress.log(f"note: {done.path}")


def _archived_markdown(state: State, day: date) -> str | None:
    """The day's Markdown as archived by an earlier run (read before this run archives its own)."""
    try:
        return (state.archive_dir / f"{archive_stem(day, sample=False)}.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def failure_reason(e: BaseException, state: State) -> str:
    """The one line `digest status` shows for a run that did not finish."""
    if isinstance(e, asyncio.CancelledError):
        return "stopped by the service's shutdown"
    if isinstance(e, KeyboardInterrupt):
        return "stopped (Ctrl-C or SIGTERM)"
    if isinstance(e, sqlite3.DatabaseError):
        text = str(database_error(state.path, e, state.busy_timeout))
    elif isinstance(e, DigestError):
        text = str(e)
    else:  # a bug: its type says more than its message
        text = f"{type(e).__name__}: {e}"
    first, *rest = [line.strip().removeprefix("- ") for line in text.splitlines() if line.strip()] or [""]
    text = " ".join([first, "; ".join(rest)]) if rest else first
    return text if len(text) <= 500 else text[:499] + "…"


def _record_failure(state: State, run_id: int, e: BaseException, seconds: float) -> None:
    status = "abandoned" if isinstance(e, asyncio.CancelledError | KeyboardInterrupt) else "failed"
    if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
        return  # the write would wait out the busy timeout again; `digest status` sees the run gone
    try:
        state.finish_run(run_id, status=status, seconds=seconds, error=failure_reason(e, state))
    except sqlite3.DatabaseError:
        pass  # the state cannot take it (a full disk): the error that stopped the run is the one to tell


def _run_status(d: Digest) -> str:
    return "partial" if d.problem_sources else "ok"


async def run_digest(
    config: Config,
    day: date,
    *,
    clients: Clients,
    progress: Progress,
    now: datetime | None = None,
    sample: bool = False,
    state_dir: Path | None = None,
) -> RunResult:
    """The whole run under the state lock: build, render, archive, record."""
    directory = state_dir or config.state_path
    started = time.monotonic()
    with run_lock(directory), State.open(directory) as state:
        state.abandon_unfinished_runs()
        run_id = state.start_run(day)
        try:
            d = await build_digest(
                config, day, clients=clients, state=state, progress=progress, now=now, sample=sample
            )
            markdown = render_markdown(for_destination(d, config, "notes"), config.render)
            archived = _archived_markdown(state, day) if config.notes_dir and not sample else None
            # The Markdown and the email's bodies in one set, sent or not (`digest show DATE --format
            # html|text` works for any day): all of them or, on a full disk, none and the earlier set kept.
            archive_email(state, for_destination(d, config, "email"), config.render, markdown=markdown)
            path = state.archive_dir / f"{archive_stem(day, sample=sample)}.md"
            if not d.sample:
                post = daily_post(for_destination(d, config, "channels"), config.render)
                archive_post(state.archive_dir, post)  # the channels' and the feed's
            if config.notes_dir and config.markdown.enabled and not sample:
                _write_note(config, state, day, markdown, progress, now, archived=archived)
            state.mark_shown(
                [(e.candidate.key, e.candidate.version, e.candidate.title) for e in d.entries], day
            )
        except BaseException as e:
            _record_failure(state, run_id, e, round(time.monotonic() - started, 2))
            raise
        state.finish_run(
            run_id,
            status=_run_status(d),
            items=len(d.entries),
            llm_calls=d.usage.calls,
            prompt_tokens=d.usage.prompt_tokens,
            completion_tokens=d.usage.completion_tokens,
            fallbacks=d.fallback_count,
            seconds=round(time.monotonic() - started, 2),
            sources={
                r.name: {"status": str(r.status), "items": r.items, "error": r.error} for r in d.sources
            },
        )
    return RunResult(digest=d, markdown=markdown, archive_path=path, run_id=run_id, render=config.render)
