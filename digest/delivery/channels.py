"""Posting a digest to the chat channels of ``[channels]``: Slack, Discord and Telegram (docs/channels.md).

The same guarantees as the email: the post is archived first (``archive/<day>.post.json``), then each
channel gets it once per (digest, channel), recorded in the state's ``channel_posts`` table. A post split
into several messages records each message as it is accepted, so a retry (``digest send --pending``) goes
on after the last one the channel took and never posts one twice. 429 and 5xx are retried, honouring the
channel's Retry-After; a channel that refuses for good (400/401/403/404/410: a deleted webhook, a revoked
token) is reported once with the fix and not tried again until its webhook or token changes. Channels are
posted to side by side, each bounded by its own deadline, so a slow or broken one holds up no other.

Webhook URLs and bot tokens come from the environment only; every message that could hold one (an error
from the HTTP stack, say) goes through the channel's redactor before it is shown or stored.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx2

from ..config import Channel, Config, check_secrets
from ..errors import ConfigError, DeliveryError
from ..models import Digest, WeekDigest, iso_week
from ..progress import Progress
from ..state import ChannelPost, State, run_lock
from . import discord, slack, telegram
from .feed import write_feed
from .post import Answer, ChatPost, daily_post, load_post, weekly_post, write_post

Status = Literal["sent", "skipped", "pending", "failed"]

RENDER: dict[str, Callable[[ChatPost], list[dict[str, Any]]]] = {
    "slack": slack.render,
    "discord": discord.render,
    "telegram": telegram.render,
}
INTERPRET: dict[str, Callable[[httpx2.Response], Answer]] = {
    "slack": slack.interpret,
    "discord": discord.interpret,
    "telegram": telegram.interpret,
}


@dataclass(frozen=True)
class ChatRetry:
    """How hard to try one message before leaving the post pending for the next run."""

    attempts: int = 4
    delay: float = 2.0
    factor: float = 3.0
    max_delay: float = 30.0
    # A Retry-After longer than this (or than the channel's deadline left) is not waited for: pending.
    retry_after_cap: float = 120.0
    pace: float = 1.0  # between two messages of one post: Slack and Telegram take about one a second
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def wait(self, attempt: int) -> float:
        return min(self.delay * self.factor ** (attempt - 1), self.max_delay)


@dataclass(frozen=True)
class ChannelOutcome:
    day: date
    channel: str  # the [channels.NAME]
    kind: str
    status: Status
    attempts: int = 0  # HTTP requests in this call
    error: str = ""
    fix: str = ""  # what to do about a permanent failure
    parts_sent: int = 0
    parts: int = 0
    weekly: bool = False

    @property
    def ok(self) -> bool:
        return self.status in ("sent", "skipped")

    @property
    def label(self) -> str:
        return f"week {iso_week(self.day)}" if self.weekly else self.day.isoformat()

    def describe(self) -> str:
        what = {
            "sent": "posted" + (f" ({self.parts} messages)" if self.parts > 1 else ""),
            "skipped": "not posted again",
            "pending": "not posted yet, will retry (digest send --pending)",
            "failed": "FAILED",
        }[self.status]
        if self.status == "pending" and self.parts_sent:
            what += f"; {self.parts_sent} of {self.parts} messages posted"
        text = f"{self.label} → {self.kind} {self.channel}: {what}"
        if self.error:
            text += f" ({self.error})"
        if self.fix:
            text += f"; fix: {self.fix}"
        return text


def enabled_channels(config: Config, *, weekly: bool = False) -> dict[str, Channel]:
    return {name: c for name, c in config.channels.items() if c.enabled and (c.weekly if weekly else c.daily)}


def _secret_problem(channel: Channel) -> str:
    """Why the channel's secret cannot be used ("" when it can); never says what the secret is."""
    secret = channel.secret
    if not secret:
        return f"environment variable {channel.secret_env} is not set"
    if channel.kind == "telegram":
        if any(c.isspace() or c == "/" for c in secret):
            return f"${channel.secret_env} does not hold a bot token (123456:ABC-…)"
        return ""
    parts = urlsplit(secret)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"${channel.secret_env} does not hold a webhook URL (https://…)"
    return ""


def check_channels(config: Config, *, weekly: bool = False) -> None:
    """Fail before any work when a channel to post to has no usable webhook URL or token."""
    problems = [
        f"channels.{name}: {problem}"
        for name, c in enabled_channels(config, weekly=weekly).items()
        if (problem := _secret_problem(c))
    ]
    if problems:
        raise ConfigError("\n".join(problems))


def check_sendable_any(config: Config, *, weekly: bool = False) -> None:
    """``--send`` with somewhere to send to: the email and/or the chat channels, each set up."""
    channels = enabled_channels(config, weekly=weekly)
    if not config.email.enabled and not channels:
        raise ConfigError(
            "nothing to send to: set [email] enabled = true (smtp_host, to), or add a chat channel "
            "([channels.NAME], see docs/channels.md)"
        )
    if config.email.enabled:
        check_secrets(config, email=True)
    check_channels(config, weekly=weekly)


def redactor(channel: Channel) -> Callable[[str], str]:
    """Removes the channel's secret (and a webhook URL's path, which is its key) from a message."""
    secret = channel.secret or ""
    hidden = [secret]
    if channel.kind != "telegram" and secret:
        path = urlsplit(secret).path
        if len(path) > 8:
            hidden.append(path)
    hidden = sorted((h for h in hidden if len(h) >= 6), key=len, reverse=True)
    mask = f"[${channel.secret_env}]"

    def redact(text: str) -> str:
        for h in hidden:
            text = text.replace(h, mask)
        return text

    return redact


def destination(channel: Channel) -> str:
    """A hash of where posts go (kind, secret, chat): a permanent failure is tried again once it changes."""
    raw = "\n".join((channel.kind, channel.secret or "", channel.chat_id, channel.api_url))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def target(channel: Channel) -> str:
    """Where the channel posts, for `digest check` and the logs: never the secret."""
    if channel.kind == "telegram":
        return f"chat {channel.chat_id}"
    return urlsplit(channel.secret or "").hostname or ""


def _request(channel: Channel, payload: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, str]]:
    secret = channel.secret or ""
    if channel.kind == "telegram":
        url = f"{channel.api_url.rstrip('/')}/bot{secret}/sendMessage"
        return url, {"chat_id": channel.chat_id, **payload}, {}
    if channel.kind == "discord":
        return secret, payload, {"wait": "true"}  # a 200 with the message: Discord confirms it was posted
    return secret, payload, {}


async def post_message(client: httpx2.AsyncClient, channel: Channel, payload: dict[str, Any]) -> Answer:
    """One request; never raises for HTTP or network errors (their text may hold the URL: redact it)."""
    url, body, params = _request(channel, payload)
    try:
        response = await client.post(url, json=body, params=params)
    except httpx2.TimeoutException:
        return Answer(False, f"timed out after {channel.timeout_seconds:g}s")
    except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as e:
        return Answer(False, f"unusable URL: {e}", permanent=True, fix=f"check ${channel.secret_env}")
    except httpx2.HTTPError as e:
        return Answer(False, f"cannot connect: {type(e).__name__} {e}".strip())
    return INTERPRET[channel.kind](response)


@dataclass
class _Progress:
    parts_sent: int = 0
    attempts: int = 0
    recorded_attempts: int = 0
    error: str = ""


async def _post(
    client: httpx2.AsyncClient,
    channel: Channel,
    payloads: list[dict[str, Any]],
    start: int,
    retry: ChatRetry,
    deadline: float,
    done: _Progress,
    record: Callable[[str], None],
) -> Answer:
    """Post ``payloads[start:]`` in order, recording each accepted one; the last answer."""
    loop = asyncio.get_running_loop()
    answer = Answer(ok=True)
    done.parts_sent = start
    for i in range(start, len(payloads)):
        if i > start and retry.pace > 0:
            await retry.sleep(retry.pace)
        attempt = 0
        while True:
            attempt += 1
            done.attempts += 1
            answer = await post_message(client, channel, payloads[i])
            if answer.ok or answer.permanent or attempt >= retry.attempts:
                break
            wait = answer.retry_after if answer.retry_after is not None else retry.wait(attempt)
            left = deadline - loop.time()
            if wait > retry.retry_after_cap or wait >= left:
                answer = Answer(False, f"{answer.error}; asked to wait {wait:g}s, more than this run waits")
                break
            await retry.sleep(wait)
        if not answer.ok:
            return answer
        done.parts_sent = i + 1
        record("pending" if i + 1 < len(payloads) else "sent")
    return answer


async def _post_channel(
    config: Config,
    state: State,
    name: str,
    channel: Channel,
    post: ChatPost,
    earlier: ChannelPost | None,
    *,
    force: bool,
    progress: Progress,
    retry: ChatRetry,
) -> ChannelOutcome:
    redact = redactor(channel)
    payloads = RENDER[channel.kind](post)
    record_rows = not post.sample  # a sample post is for trying the setup: never a day's record
    resume = earlier is not None and earlier.status == "pending" and not force
    start = earlier.parts_sent if resume and earlier and earlier.parts == len(payloads) else 0
    done = _Progress(parts_sent=start)
    where = destination(channel)

    def record(status: str) -> None:
        if not record_rows:
            return
        state.record_channel_post(
            post.day, name, status, parts_sent=done.parts_sent, parts=len(payloads),
            error=redact(done.error), attempts=done.attempts - done.recorded_attempts,
            fallbacks=post.fallbacks, destination=where, weekly=post.weekly,
        )  # fmt: skip
        done.recorded_attempts = done.attempts

    def outcome(status: Status, answer: Answer | None = None) -> ChannelOutcome:
        return ChannelOutcome(
            post.day, name, channel.kind, status, done.attempts,
            error=redact(answer.error) if answer else "", fix=answer.fix if answer else "",
            parts_sent=done.parts_sent, parts=len(payloads), weekly=post.weekly,
        )  # fmt: skip

    if problem := _secret_problem(channel):
        done.error = problem
        record("pending")
        result = outcome("pending", Answer(False, problem))
        progress.warn(f"channel: {result.describe()}")
        return result
    progress.status(f"channel: posting to {channel.kind} {name}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + channel.deadline_seconds
    async with httpx2.AsyncClient(
        timeout=channel.timeout_seconds,
        follow_redirects=False,
        headers={"user-agent": config.http.user_agent},
    ) as client:
        try:
            answer = await asyncio.wait_for(
                _post(client, channel, payloads, start, retry, deadline, done, record),
                channel.deadline_seconds,
            )
        except asyncio.TimeoutError:
            answer = Answer(False, f"not done within deadline_seconds = {channel.deadline_seconds:g}")
    if answer.ok:
        result = outcome("sent")
        progress.log(f"channel: {result.describe()}")
        return result
    done.error = answer.error
    status: Status = "failed" if answer.permanent else "pending"
    record(status)
    result = outcome(status, answer)
    progress.warn(f"channel: {result.describe()}")
    return result


def _skip(earlier: ChannelPost, channel: Channel, force: bool) -> Status | None:
    """Whether an earlier post settles this one: "skipped" (posted), "failed" (refused, same destination)."""
    if force:
        return None
    if earlier.status == "sent":
        return "skipped"
    if earlier.status == "failed" and earlier.destination == destination(channel):
        return "failed"
    return None


async def post_to_channels(
    config: Config,
    state: State,
    post: ChatPost,
    *,
    force: bool = False,
    progress: Progress,
    retry: ChatRetry | None = None,
    only: set[str] | None = None,
) -> list[ChannelOutcome]:
    """Post an archived ``post`` to every enabled channel that has not had it (``only``: these names)."""
    retry = retry or ChatRetry()
    jobs: list[Awaitable[ChannelOutcome]] = []
    outcomes: list[ChannelOutcome] = []
    for name, channel in enabled_channels(config, weekly=post.weekly).items():
        if only is not None and name not in only:
            continue
        earlier = None if post.sample else state.channel_post(post.day, name, weekly=post.weekly)
        skip = _skip(earlier, channel, force) if earlier else None
        if earlier and skip:
            how = "posted" if skip == "skipped" else "refused for good"
            error = f"{how} earlier ({earlier.updated_at[:16].replace('T', ' ')} UTC)"
            if skip == "failed":
                error += f": {earlier.last_error}; tried again once ${channel.secret_env} or chat_id changes"
            o = ChannelOutcome(post.day, name, channel.kind, skip, error=error, parts_sent=earlier.parts_sent,
                               parts=earlier.parts, weekly=post.weekly)  # fmt: skip
            outcomes.append(o)
            (progress.log if o.ok else progress.warn)(f"channel: {o.describe()}")
            continue
        jobs.append(
            _post_channel(
                config, state, name, channel, post, earlier, force=force, progress=progress, retry=retry
            )
        )
    return outcomes + list(await asyncio.gather(*jobs))


async def send_channels(
    config: Config,
    state: State,
    d: Digest,
    *,
    force: bool = False,
    progress: Progress,
    retry: ChatRetry | None = None,
) -> list[ChannelOutcome]:
    """Archive the day's post, then post it to every daily channel that has not had it."""
    from ..reader.privacy import for_destination

    post = daily_post(for_destination(d, config, "channels"), config.render)
    return await _archive_and_post(config, state, post, force, progress, retry)


async def send_week_channels(
    config: Config,
    state: State,
    w: WeekDigest,
    *,
    force: bool = False,
    progress: Progress,
    retry: ChatRetry | None = None,
) -> list[ChannelOutcome]:
    """Archive the weekly roundup's post, then post it to every weekly channel that has not had it."""
    return await _archive_and_post(config, state, weekly_post(w, config.render), force, progress, retry)


async def _archive_and_post(
    config: Config, state: State, post: ChatPost, force: bool, progress: Progress, retry: ChatRetry | None
) -> list[ChannelOutcome]:
    if not enabled_channels(config, weekly=post.weekly):
        return []
    with run_lock(state.directory):
        path = write_post(state.archive_dir, post)
        if not post.sample:
            write_feed(state.archive_dir)
        progress.log(f"channel: archived {path}")
        return await post_to_channels(config, state, post, force=force, progress=progress, retry=retry)


async def send_pending_channels(
    config: Config, state: State, *, progress: Progress, retry: ChatRetry | None = None
) -> list[ChannelOutcome]:
    """Post every pending post again from the archive, going on after the messages already posted."""
    outcomes: list[ChannelOutcome] = []
    with run_lock(state.directory):
        pending = state.channel_posts(status="pending")
        if not pending and config.channels:
            progress.log("channel: nothing pending")
        for day, weekly in sorted({(p.day, p.weekly) for p in pending}):
            names = {p.channel for p in pending if (p.day, p.weekly) == (day, weekly)}
            gone = sorted(n for n in names if n not in enabled_channels(config, weekly=weekly))
            for n in gone:
                progress.warn(
                    f"channel: {n} is pending for {day} but no longer an enabled channel: left pending"
                )
            try:
                post = load_post(state.archive_dir, day, weekly=weekly)
            except DeliveryError as e:
                progress.warn(str(e))
                continue
            outcomes += await post_to_channels(
                config, state, post, progress=progress, retry=retry, only=names - set(gone)
            )
    return outcomes


def outcome_counts(outcomes: list[ChannelOutcome]) -> dict[str, int]:
    counts = {"sent": 0, "pending": 0, "failed": 0, "skipped": 0}
    for o in outcomes:
        counts[o.status] += 1
    return counts


def check_channel_outcomes(outcomes: list[ChannelOutcome]) -> None:
    """Raise one DeliveryError naming every channel that did not get the post."""
    bad = [o for o in outcomes if not o.ok]
    if bad:
        lines = [f"not posted to {len(bad)} of {len(outcomes)} chat channel(s):"]
        lines += [o.describe() for o in bad]
        raise DeliveryError("\n".join(lines))


# -- `digest check` ------------------------------------------------------------------------------


async def probe_channel(client: httpx2.AsyncClient, channel: Channel) -> tuple[bool, str]:
    """Whether the channel can be posted to, found out without posting anything; (ok, one line).

    Telegram: ``getMe`` (the token) and ``getChat`` (the bot can see the chat). Discord: a GET of the webhook
    URL answers with the webhook itself. Slack's webhooks have no read call: an empty message is sent, which
    a live webhook refuses with 400 (``no_text`` / ``invalid_payload``) and a removed one answers 404/410, so
    nothing reaches the channel — but whether a real message would be accepted is only known by posting one.
    """
    if problem := _secret_problem(channel):
        return False, problem
    redact = redactor(channel)
    secret = channel.secret or ""
    try:
        if channel.kind == "telegram":
            base = f"{channel.api_url.rstrip('/')}/bot{secret}"
            me = await client.get(f"{base}/getMe")
            answer = telegram.interpret(me)
            if not answer.ok:
                return False, redact(f"getMe: {answer.error}; {answer.fix}")
            bot = me.json().get("result", {}).get("username", "?")
            chat = await client.post(f"{base}/getChat", json={"chat_id": channel.chat_id})
            answer = telegram.interpret(chat)
            if not answer.ok:
                return False, redact(
                    f"bot @{bot}, but getChat {channel.chat_id}: {answer.error}; {answer.fix}"
                )
            title = chat.json().get("result", {}).get("title") or chat.json().get("result", {}).get(
                "username", ""
            )
            return True, redact(
                f"bot @{bot} sees chat {channel.chat_id} {str(title)[:60]!r} (nothing posted)"
            )
        if channel.kind == "discord":
            r = await client.get(secret)
            answer = discord.interpret(r)
            if not answer.ok:
                return False, redact(f"{answer.error}; {answer.fix}")
            data = r.json() if r.status_code == 200 else {}
            name = str(data.get("name", ""))[:60]
            return True, redact(
                f"webhook {name!r} of channel {data.get('channel_id', '?')} exists (nothing posted)"
            )
        r = await client.post(secret, json={})
        text = r.text.strip()[:60]
        if r.status_code == 400 and text in (
            "no_text",
            "invalid_payload",
            "missing_text_or_fallback_or_attachments",
        ):
            return True, (
                f"webhook answers (an empty message was refused: {text}; nothing posted); whether a real "
                "message is accepted shows only when one is posted"
            )
        answer = slack.interpret(r)
        if answer.ok:
            return True, "webhook answers (nothing posted)"
        return False, redact(f"{answer.error}; {answer.fix}")
    except httpx2.TimeoutException:
        return False, f"timed out after {client.timeout.read or 0:g}s"
    except httpx2.HTTPError as e:
        return False, redact(f"cannot connect: {type(e).__name__} {e}".strip())
    except ValueError as e:  # a 200 that is not JSON
        return False, redact(f"not the API's answer: {e}")
