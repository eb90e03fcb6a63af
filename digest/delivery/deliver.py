"""One way a digest reaches every destination: each email recipient and each chat channel.

A :class:`Destination` knows one place: its name, what the state says it already has (``earlier``) and how
to send it the archived digest (``send``, which claims and records its own state row). :func:`deliver` owns
everything else, the same for all of them:

- once per (digest, destination): a digest the place has had is ``skipped``, one it refused for good (and
  whose address has not changed since) stays ``failed`` without a request; ``force`` sends again;
- :func:`attempt`, the retry loop every send goes through: a temporary failure is retried with backoff or
  the ``Retry-After`` the other side asked for, never past the destination's deadline; a permanent one is
  not retried; what is still failing when the attempts run out is left ``pending`` for
  ``digest send --pending``;
- one line per destination in the log, a warning for what did not arrive; a failing destination never
  keeps the others from theirs;
- the report: :func:`counts` for the runs table, :func:`check` for the one error naming every miss.

:func:`archive_and_deliver` writes the digest's archive under the state directory's run lock first, so a
failed send is retried from it without fetching or calling the LLM again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from ..errors import DeliveryError
from ..models import iso_week
from ..progress import Progress
from ..state import run_lock

Status = Literal["sent", "skipped", "pending", "failed"]
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """One request's outcome as the other side tells it."""

    ok: bool
    error: str = ""  # one line, never a secret
    retry_after: float | None = None  # seconds the other side asked for (429)
    permanent: bool = False  # the destination refuses this for good (400/401/403/404/410, SMTP 5xx)
    fix: str = ""  # what the user should do, for a permanent failure
    retry: bool = True  # whether trying again now could help (not for our own setup: a missing password)


@dataclass(frozen=True)
class Retry:
    """How hard to try one message before leaving it pending for the next run."""

    attempts: int = 3
    delay: float = 2.0
    factor: float = 3.0
    max_delay: float = 30.0
    # A Retry-After longer than this (or than the deadline left) is not waited for: pending.
    retry_after_cap: float = 120.0
    pace: float = 1.0  # between two messages of one post: Slack and Telegram take about one a second
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def wait(self, attempt: int) -> float:
        return min(self.delay * self.factor ** (attempt - 1), self.max_delay)


async def attempt(
    call: Callable[[], Awaitable[Answer]], retry: Retry, *, deadline: float | None = None
) -> tuple[Answer, int]:
    """``call`` until it succeeds, fails for good or runs out of attempts; the last answer and the tries.

    ``deadline`` (the event loop's clock) is when the destination's time is up: a wait that would end after
    it is not begun."""
    loop = asyncio.get_running_loop()
    tries = 0
    while True:
        tries += 1
        answer = await call()
        if answer.ok or answer.permanent or not answer.retry or tries >= retry.attempts:
            return answer, tries
        wait = answer.retry_after if answer.retry_after is not None else retry.wait(tries)
        if wait > retry.retry_after_cap or (deadline is not None and wait >= deadline - loop.time()):
            return Answer(False, f"{answer.error}; asked to wait {wait:g}s, more than this run waits"), tries
        await retry.sleep(wait)


class Outcome:
    """What one destination's delivery came to; each kind adds what it has to say (its ``describe``)."""

    day: date  # the digest's day, or the week's Monday
    status: Status
    weekly: bool

    @property
    def ok(self) -> bool:
        return self.status in ("sent", "skipped")

    @property
    def label(self) -> str:
        return f"week {iso_week(self.day)}" if self.weekly else self.day.isoformat()

    @property
    def warning(self) -> bool:
        """Whether the log shows it as a warning."""
        return not self.ok

    def describe(self) -> str:
        raise NotImplementedError


Out = TypeVar("Out", bound=Outcome)
O_co = TypeVar("O_co", bound=Outcome, covariant=True)


class Destination(Protocol[O_co]):
    """One place a digest goes: an email recipient, a chat channel."""

    area: str  # the log's prefix: "email", "channel"

    def settled(self, force: bool) -> O_co | None:
        """The outcome when an earlier delivery settles this one (see :func:`settles`), else None."""

    async def send(self, force: bool) -> O_co:
        """Claim, send through :func:`attempt`, record; never raises for the other side's failures."""


def settles(earlier: str | None, *, force: bool, same_place: bool = True) -> Status | None:
    """Whether the earlier delivery's status settles this one without a request: the place has it
    (``skipped``), or refused it for good and still points where it did (``failed``)."""
    if force or earlier is None:
        return None
    if earlier == "sent":
        return "skipped"
    if earlier == "failed" and same_place:
        return "failed"
    return None


async def deliver(
    destinations: Iterable[Destination[Out]], *, force: bool, progress: Progress, parallel: bool = False
) -> list[Out]:
    """Each destination's delivery, in the given order; ``parallel``: side by side, so a slow one holds
    up no other (each bounds itself by its deadline)."""

    async def one(d: Destination[Out]) -> Out:
        outcome = d.settled(force)
        if outcome is None:
            outcome = await d.send(force)
        (progress.warn if outcome.warning else progress.log)(f"{d.area}: {outcome.describe()}")
        return outcome

    if parallel:
        return list(await asyncio.gather(*(one(d) for d in destinations)))
    return [await one(d) for d in destinations]


async def archive_and_deliver(
    directory: Path,
    archive: Callable[[], T],
    destinations: Callable[[T], Sequence[Destination[Out]]],
    *,
    force: bool,
    progress: Progress,
    parallel: bool = False,
) -> list[Out]:
    """Archive the digest, then deliver it, under the state directory's run lock (``directory``): a manual
    send and a scheduler tick never send the same digest twice."""
    with run_lock(directory):
        archived = archive()
        return await deliver(destinations(archived), force=force, progress=progress, parallel=parallel)


def by_digest(rows: Iterable[T], key: Callable[[T], tuple[date, bool]]) -> list[tuple[date, bool, list[T]]]:
    """Pending rows grouped by their digest (day, weekly), oldest first: each digest is loaded once."""
    groups: dict[tuple[date, bool], list[T]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return [(day, weekly, groups[(day, weekly)]) for day, weekly in sorted(groups)]


def counts(outcomes: Iterable[Outcome]) -> dict[str, int]:
    """Destinations per status, for the runs table."""
    found = {"sent": 0, "pending": 0, "failed": 0, "skipped": 0}
    for o in outcomes:
        found[o.status] += 1
    return found


def check(outcomes: Sequence[Outcome], what: str) -> None:
    """Raise one DeliveryError naming every destination that did not get the digest; ``what`` is the
    header's wording: "email not delivered to {bad} of {all} recipient(s):"."""
    bad = [o for o in outcomes if not o.ok]
    if bad:
        lines = [what.format(bad=len(bad), all=len(outcomes))]
        lines += [o.describe() for o in bad]
        raise DeliveryError("\n".join(lines))
