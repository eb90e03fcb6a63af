"""Summarizing: one Korean line per selected item, written by an OpenAI-compatible LLM and cached in SQLite.

Per run: cached lines first (CACHED); the rest go out in balanced batches of at most ``llm.batch_size``
items through the run's :class:`~digest.llm.LLMSession` (format degradation, max_tokens, time budget,
retries and accounting live there), with the messages of :mod:`digest.takeaways.prompt`. Every line is
checked on its own (:func:`digest.takeaways.check.check_takeaway`): near-misses
are repaired (a long line cut at a sentence or clause boundary, stray Markdown removed); a line that is
empty, not Korean, copies the prompt's examples or states a number its abstract does not have is unusable.

Adaptive batching: a batch that fails as a whole (too slow, cut off by max_tokens, not JSON, most lines
unusable) is split and asked again, down to one item, and later batches of the run are no bigger; it is
never re-asked whole. An item whose own line is unusable is re-asked once (a line in English gets a short
Korean-only instruction); whatever is still unusable gets a fallback built from the abstract without the
LLM (FALLBACK, or ERROR when there is no abstract). Nothing is substituted silently: every
:class:`Takeaway` says where it came from and why. A missing key, an unreachable server or a spent time
budget never raises: the items get marked fallbacks and the run reports it in one warning line.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import LLM
from ..llm import PLACEHOLDER_KEY, Answer, DeferredClient, Failure, LLMSession, RequestFailed
from ..llm import make_llm_client as make_llm_client
from ..models import Entry, LLMUsage, Scored, Takeaway, TakeawayStatus
from ..progress import Progress
from ..state import State
from .check import (
    _BATCH_PROBLEMS,
    COPIES_EXAMPLE,
    CUT_OFF,
    MISSING,
    NOT_KOREAN,
    Checked,
    clean_takeaway,
    fallback_text,
    item_source,
    parse_answer,
    pick_takeaways,
)
from .prompt import ANSWER_SCHEMA, PROMPT_VERSION, build_messages, max_tokens, prompt_item

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["PLACEHOLDER_KEY", "PROMPT_VERSION", "make_llm_client", "summarize", "summarize_run"]

# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    index: int  # position in the input
    scored: Scored

    @property
    def key(self) -> str:
        return self.scored.candidate.key

    @property
    def version(self) -> int:
        return self.scored.candidate.version or 0


def _fallback(job: _Job, reason: str) -> Takeaway:
    text = fallback_text(job.scored.candidate.summary)
    if not text:
        return Takeaway("", TakeawayStatus.ERROR, f"{reason}; no abstract to fall back on")
    return Takeaway(text, TakeawayStatus.FALLBACK, f"{reason}; showing the abstract's first sentence")


def balanced(jobs: Sequence[_Job], limit: int) -> list[list[_Job]]:
    """``jobs`` in as few batches of at most ``limit`` as possible, of nearly equal size (10 by 8: 5 + 5)."""
    if not jobs:
        return []
    count = -(-len(jobs) // limit)
    size, extra = divmod(len(jobs), count)
    out, start = [], 0
    for n in range(count):
        end = start + size + (1 if n < extra else 0)
        out.append(list(jobs[start:end]))
        start = end
    return out


_Work = tuple[list[_Job], dict[int, str]]  # jobs, and job index → why its last line was unusable


class _Summarizer:
    """A queue of batches worked by ``llm.concurrency`` workers; a failed batch puts its parts back."""

    def __init__(self, session: LLMSession, llm: LLM, state: State, progress: Progress) -> None:
        self.session = session
        self.llm = llm
        self.state = state
        self.progress = progress
        self.limit = llm.batch_size  # the largest batch still worth sending; halves when one fails whole
        self.results: dict[int, Takeaway] = {}
        self.reasons: dict[int, str] = {}  # job index → why it fell back, for the one warning line
        self.reasked: set[int] = set()  # jobs whose own line was asked again once already
        self.requests = 0
        self.queue: asyncio.Queue[_Work] = asyncio.Queue()

    def fall_back(self, job: _Job, reason: str) -> None:
        self.results[job.index] = _fallback(job, reason)
        self.reasons[job.index] = reason

    def shrink(self, size: int, why: str) -> None:
        smaller = max(1, size // 2)
        if smaller < self.limit:
            self.limit = smaller
            self.progress.log(f"llm: {why}; batches of at most {smaller} from now on")

    def split(self, jobs: list[_Job], problems: Mapping[int, str], like: list[_Job] | None = None) -> None:
        """Ask ``jobs`` again in halves of the batch they came from (``like``, default themselves)."""
        half = max(1, -(-len(like or jobs) // 2))
        for batch in balanced(jobs, half):
            self.put(batch, problems)

    def put(self, jobs: list[_Job], problems: Mapping[int, str] | None = None) -> None:
        known = problems or {}
        if jobs:
            self.queue.put_nowait((jobs, {j.index: known[j.index] for j in jobs if j.index in known}))

    async def run(self, jobs: list[_Job]) -> None:
        for batch in balanced(jobs, self.limit):
            self.put(batch)
        workers = [asyncio.ensure_future(self.worker()) for _ in range(self.llm.concurrency)]
        finished = asyncio.ensure_future(self.queue.join())
        try:
            await asyncio.wait([finished, *workers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (finished, *workers):
                task.cancel()
            await asyncio.gather(finished, *workers, return_exceptions=True)
        for task in workers:  # a worker only ends early on a bug: let it surface with its traceback
            if task.done() and not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]

    async def worker(self) -> None:
        while True:
            jobs, problems = await self.queue.get()
            try:
                if len(jobs) > self.limit:  # formed before a batch failed: split to today's limit
                    for batch in balanced(jobs, self.limit):
                        self.put(batch, problems)
                else:
                    await self.solve(jobs, problems)
            finally:
                self.queue.task_done()

    async def solve(self, jobs: list[_Job], problems: Mapping[int, str]) -> None:
        """One request for ``jobs``; what is unusable goes back on the queue or gets its fallback."""
        korean = bool(problems) and all(problems.get(j.index) == NOT_KOREAN for j in jobs)
        try:
            answer, checked = await self.ask(jobs, problems, korean=korean)
        except RequestFailed as e:
            if len(jobs) > 1 and e.failure == Failure.TIMEOUT:
                # Too slow for this endpoint: smaller batches from now on, this one included.
                self.shrink(len(jobs), f"a batch of {len(jobs)} failed ({e.reason})")
                self.put(jobs, problems)
            elif len(jobs) > 1 and e.failure in (Failure.REFUSED, Failure.GARBLED):
                self.split(jobs, problems)  # too large for the server, or a garbled answer: halve it
            elif e.failure == Failure.GARBLED and jobs[0].index not in self.reasked:
                self.reasked.add(jobs[0].index)
                self.put(jobs, {jobs[0].index: e.reason})
            else:
                for job in jobs:
                    self.fall_back(job, e.reason)
            return

        accepted: list[tuple[str, int, str]] = []
        bad: dict[int, str] = {}
        for job in jobs:
            c = checked[job.index]
            if c.text:
                notes = [n for n in (c.repair, self._reask_note(job, problems)) if n]
                self.results[job.index] = Takeaway(c.text, TakeawayStatus.LLM, "; ".join(notes))
                accepted.append((job.key, job.version, c.text))
            else:
                bad[job.index] = c.problem
        if accepted:
            self.state.store_takeaways(accepted, self.llm.model, PROMPT_VERSION)
        if not bad:
            return
        todo = [job for job in jobs if job.index in bad]
        if len(jobs) > 1:
            spoiled = any(p in _BATCH_PROBLEMS for p in bad.values()) or (
                len(bad) == len(jobs) and all(p == MISSING for p in bad.values())  # wrong ids, say
            )
            if answer.cut_off or (not spoiled and 2 * len(bad) > len(jobs)):
                # Too much for this model at once (it ran into max_tokens, or wrote most lines badly):
                # smaller batches for the rest of the run.
                why = "cut off" if answer.cut_off else "with most lines unusable"
                self.shrink(len(jobs), f"a batch of {len(jobs)} came back {why}")
            if answer.cut_off or spoiled:
                # Lines lost with the broken answer are asked again in smaller batches, not re-asked:
                # their own re-ask is still to come.
                lost = [j for j in todo if bad[j.index] in _BATCH_PROBLEMS or bad[j.index] == MISSING]
                todo = [j for j in todo if j not in lost]
                if answer.cut_off:
                    self.put(lost, problems)  # split by the new limit when taken from the queue
                else:
                    self.split(lost, problems, like=jobs)
        for job in todo:
            if job.index in self.reasked:
                self.fall_back(job, f"LLM line unusable after one re-ask ({bad[job.index]})")
        again = [job for job in todo if job.index not in self.reasked]
        self.reasked.update(job.index for job in again)
        # Each kind of re-ask on its own: the short Korean-only one, the one without the examples, the rest.
        for kind in (NOT_KOREAN, COPIES_EXAMPLE):
            self.put([j for j in again if bad[j.index] == kind], bad)
        self.put([j for j in again if bad[j.index] not in (NOT_KOREAN, COPIES_EXAMPLE)], bad)

    def _reask_note(self, job: _Job, problems: Mapping[int, str]) -> str:
        first = problems.get(job.index)
        return f"accepted on re-ask (first answer: {first})" if first else ""

    async def ask(
        self, jobs: list[_Job], problems: Mapping[int, str], *, korean: bool = False
    ) -> tuple[Answer, dict[int, Checked]]:
        """One request for ``jobs``: the answer and each job's checked line. Raises RequestFailed."""
        # Short per-request ids ("1", "2", …): cheap to copy exactly, and mapped back here, never trusted.
        ids = {str(n): job for n, job in enumerate(jobs, start=1)}
        by_index = {job.index: item_id for item_id, job in ids.items()}
        messages = build_messages(
            [prompt_item(item_id, job.scored) for item_id, job in ids.items()],
            {by_index[i]: p for i, p in problems.items() if i in by_index},
            korean=korean,
            # A small model that copied the examples copies them again when it sees them.
            examples=not problems or any(p != COPIES_EXAMPLE for p in problems.values()),
        )
        self.requests += 1
        kind = " Korean re-ask" if korean else " re-ask" if problems else ""
        label = f"llm: request {self.requests}{kind} ({len(jobs)} item{'s' if len(jobs) != 1 else ''})"
        try:
            answer = await self.session.request(
                messages,
                schema=ANSWER_SCHEMA,
                schema_name="takeaways",
                max_tokens=max_tokens(len(jobs), self.llm),
                label=label,
            )
        except RequestFailed as e:
            self.progress.log(f"{label} failed: {e.reason}")
            raise
        found, problem = parse_answer(answer.content, list(ids))
        if answer.cut_off and not found:
            problem = CUT_OFF
        sources = {item_id: item_source(job.scored) for item_id, job in ids.items()}
        checked = pick_takeaways(found, list(ids), problem, sources)
        bad = Counter(c.problem for c in checked.values() if not c.text)
        cut = ", cut off at max_tokens" if answer.cut_off else ""
        if bad:
            detail = ", ".join(f"{n} {p}" for p, n in bad.items())
            self.progress.log(f"{label} {sum(bad.values())} unusable ({detail}){cut}, {answer.seconds:.1f}s")
        else:
            self.progress.log(f"{label} ok{cut}, {answer.seconds:.1f}s")
        return answer, {job.index: checked[item_id] for item_id, job in ids.items()}


def _warning(reasons: Mapping[int, str], total: int) -> str:
    counts = Counter(reasons.values())
    detail = "; ".join(reason if n == len(reasons) else f"{reason} ×{n}" for reason, n in counts.items())
    return f"llm: {len(reasons)} of {total} takeaways are marked fallbacks: {detail}"


async def summarize_run(
    scored: list[Scored],
    *,
    client: DeferredClient | AsyncOpenAI | None,
    llm: LLM,
    state: State,
    progress: Progress,
    off_reason: str = "",
) -> tuple[list[Entry], LLMUsage, LLMSession | None]:
    """A run's takeaways (:func:`summarize`) through a new session, returned with its usage for the run's
    other requests (the 흐름 paragraph): one time budget, one response format, one count for the run.
    ``off_reason``: why ``client`` is None when the LLM is left out on purpose."""
    usage = LLMUsage(model=llm.model)
    session = None if client is None else LLMSession(client, llm, usage=usage, progress=progress, state=state)
    entries = await summarize(
        scored,
        client=client,
        llm=llm,
        state=state,
        usage=usage,
        progress=progress,
        session=session,
        off_reason=off_reason,
    )
    return entries, usage, session


async def summarize(
    scored: list[Scored],
    *,
    client: DeferredClient | AsyncOpenAI | None,
    llm: LLM,
    state: State,
    usage: LLMUsage,
    progress: Progress,
    session: LLMSession | None = None,
    off_reason: str = "",
) -> list[Entry]:
    """One :class:`Entry` per item, in the same order, each with a Korean line and where it came from.

    ``client`` None means the LLM is off (no key): every uncached item gets a marked fallback.
    ``session`` shares one run's LLM session (budget, format, accounting) with other stages; without it
    one is opened here. ``usage`` gets the requests and tokens, and ``usage.failures`` the items the LLM
    was to write but did not.
    """
    usage.model = llm.model
    if not scored:
        return []
    jobs = [_Job(i, s) for i, s in enumerate(scored)]
    results: dict[int, Takeaway] = {}

    cached = state.cached_takeaways([(j.key, j.version) for j in jobs], llm.model, PROMPT_VERSION)
    for job in jobs:
        # Re-checked because the cache outlives validator changes (and the sample day seeds it by hand).
        text = clean_takeaway(cached.get(job.key), item_source(job.scored))
        if text:
            results[job.index] = Takeaway(text, TakeawayStatus.CACHED)
    todo = [j for j in jobs if j.index not in results]
    if results:
        progress.log(f"llm: {len(results)} cached, {len(todo)} to summarize")
    if not todo:
        return [Entry(s, results[i]) for i, s in enumerate(scored)]

    reasons: dict[int, str]
    if client is None and session is None:
        reason = off_reason or (
            f"no API key (${llm.api_key_env} is not set)" if not llm.api_key else "LLM disabled"
        )
        reasons = {job.index: reason for job in todo}
        for job in todo:
            results[job.index] = _fallback(job, reason)
    else:
        if session is None:
            assert client is not None
            session = LLMSession(client, llm, usage=usage, progress=progress, state=state)
        run = _Summarizer(session, llm, state, progress)
        await run.run(todo)
        results.update(run.results)
        reasons = run.reasons
    usage.failures += len(reasons)
    if reasons:
        progress.warn(_warning(reasons, len(scored)))
    return [Entry(s, results[i]) for i, s in enumerate(scored)]
