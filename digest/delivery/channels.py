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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import httpx2

from ..config import Channel, Config, check_secrets
from ..errors import ConfigError, DeliveryError
from ..models import Digest, WeekDigest
from ..progress import Progress
from ..state import ChannelPost, State, run_lock
from . import discord, slack, telegram
from .deliver import (
    Answer,
    Outcome,
    Retry,
    Status,
    archive_and_deliver,
    attempt,
    by_digest,
    check,
    counts,
    deliver,
    settles,
)
from .feed import write_feed
from .post import ChatPost, daily_post, load_post, weekly_post, write_post

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
class ChatRetry(Retry):
    """A chat message is tried a little harder than an email: rate limits are the rule there."""

    attempts: int = 4


@dataclass(frozen=True)
class ChannelOutcome(Outcome):
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
class _Channel:
    """One chat channel and one archived post: a :class:`~digest.delivery.deliver.Destination`. A post of
    several messages records each one as the channel accepts it, and a retry goes on after the last."""

    config: Config
    state: State
    name: str
    channel: Channel
    post: ChatPost
    retry: Retry
    progress: Progress
    earlier: ChannelPost | None = None
    area: str = "channel"
    parts_sent: int = 0
    attempts: int = 0  # requests made in this call
    recorded_attempts: int = 0  # of which the state has been told

    def settled(self, force: bool) -> ChannelOutcome | None:
        post = self.post
        earlier = None if post.sample else self.state.channel_post(post.day, self.name, weekly=post.weekly)
        self.earlier = earlier
        same = earlier is not None and earlier.destination == destination(self.channel)
        skip = settles(earlier.status if earlier else None, force=force, same_place=same)
        if earlier is None or skip is None:
            return None
        how = "posted" if skip == "skipped" else "refused for good"
        error = f"{how} earlier ({earlier.updated_at[:16].replace('T', ' ')} UTC)"
        if skip == "failed":
            error += f": {earlier.last_error}; tried again once ${self.channel.secret_env} or chat_id changes"
        return ChannelOutcome(
            post.day, self.name, self.channel.kind, skip, error=error, parts_sent=earlier.parts_sent,
            parts=earlier.parts, weekly=post.weekly,
        )  # fmt: skip

    def _record(self, status: str, parts: int, error: str = "") -> None:
        if self.post.sample:  # a sample post is for trying the setup: never a day's record
            return
        self.state.record_channel_post(
            self.post.day, self.name, status, parts_sent=self.parts_sent, parts=parts, error=error,
            attempts=self.attempts - self.recorded_attempts, fallbacks=self.post.fallbacks,
            destination=destination(self.channel), weekly=self.post.weekly,
        )  # fmt: skip
        self.recorded_attempts = self.attempts

    async def _post(
        self, client: httpx2.AsyncClient, payloads: list[dict[str, Any]], deadline: float
    ) -> Answer:
        """Post ``payloads[parts_sent:]`` in order, recording each accepted one; the last answer."""
        answer = Answer(ok=True)
        start = self.parts_sent
        for i in range(start, len(payloads)):
            if i > start and self.retry.pace > 0:
                await self.retry.sleep(self.retry.pace)

            async def once(payload: dict[str, Any] = payloads[i]) -> Answer:
                self.attempts += 1
                return await post_message(client, self.channel, payload)

            answer, _ = await attempt(once, self.retry, deadline=deadline)
            if not answer.ok:
                return answer
            self.parts_sent = i + 1
            self._record("pending" if i + 1 < len(payloads) else "sent", len(payloads))
        return answer

    async def send(self, force: bool) -> ChannelOutcome:
        channel, post, earlier = self.channel, self.post, self.earlier
        redact = redactor(channel)
        payloads = RENDER[channel.kind](post)
        resume = earlier is not None and earlier.status == "pending" and not force
        self.parts_sent = earlier.parts_sent if resume and earlier and earlier.parts == len(payloads) else 0
        if problem := _secret_problem(channel):
            answer = Answer(False, problem)
        else:
            self.progress.status(f"channel: posting to {channel.kind} {self.name}")
            answer = await self._within_deadline(payloads)
        status: Status = "sent" if answer.ok else "failed" if answer.permanent else "pending"
        if not answer.ok:
            self._record(status, len(payloads), redact(answer.error))
        return ChannelOutcome(
            post.day, self.name, channel.kind, status, self.attempts, error=redact(answer.error),
            fix=answer.fix, parts_sent=self.parts_sent, parts=len(payloads), weekly=post.weekly,
        )  # fmt: skip

    async def _within_deadline(self, payloads: list[dict[str, Any]]) -> Answer:
        seconds = self.channel.deadline_seconds
        deadline = asyncio.get_running_loop().time() + seconds
        async with httpx2.AsyncClient(
            timeout=self.channel.timeout_seconds,
            follow_redirects=False,
            headers={"user-agent": self.config.http.user_agent},
        ) as client:
            try:
                return await asyncio.wait_for(self._post(client, payloads, deadline), seconds)
            except asyncio.TimeoutError:
                return Answer(False, f"not done within deadline_seconds = {seconds:g}")


async def post_to_channels(
    config: Config,
    state: State,
    post: ChatPost,
    *,
    force: bool = False,
    progress: Progress,
    retry: Retry | None = None,
    only: set[str] | None = None,
) -> list[ChannelOutcome]:
    """Post an archived ``post`` to every enabled channel that has not had it (``only``: these names),
    side by side: each channel is bounded by its own deadline, so a slow one holds up no other."""
    channels = [
        _Channel(config, state, name, channel, post, retry or ChatRetry(), progress)
        for name, channel in enabled_channels(config, weekly=post.weekly).items()
        if only is None or name in only
    ]
    return await deliver(channels, force=force, progress=progress, parallel=True)


async def send_channels(
    config: Config,
    state: State,
    d: Digest | WeekDigest,
    *,
    force: bool = False,
    progress: Progress,
    retry: Retry | None = None,
) -> list[ChannelOutcome]:
    """Archive the post of ``d`` (a day's digest or a weekly roundup) and the feed, then post it to every
    channel (daily or weekly) that has not had it."""
    from ..reader.privacy import for_destination

    if isinstance(d, WeekDigest):
        post = weekly_post(d, config.render)
    else:
        post = daily_post(for_destination(d, config, "channels"), config.render)
    if not enabled_channels(config, weekly=post.weekly):
        return []

    def archive() -> ChatPost:
        path = write_post(state.archive_dir, post)
        if not post.sample:
            write_feed(state.archive_dir)
        progress.log(f"channel: archived {path}")
        return post

    def channels(post: ChatPost) -> list[_Channel]:
        return [
            _Channel(config, state, name, channel, post, retry or ChatRetry(), progress)
            for name, channel in enabled_channels(config, weekly=post.weekly).items()
        ]

    return await archive_and_deliver(
        state.directory, archive, channels, force=force, progress=progress, parallel=True
    )


send_week_channels = send_channels  # once per (week, channel), in the same table with weekly = 1


async def send_pending_channels(
    config: Config, state: State, *, progress: Progress, retry: ChatRetry | None = None
) -> list[ChannelOutcome]:
    """Post every pending post again from the archive, going on after the messages already posted."""
    outcomes: list[ChannelOutcome] = []
    with run_lock(state.directory):
        pending = state.channel_posts(status="pending")
        if not pending and config.channels:
            progress.log("channel: nothing pending")
        for day, weekly, rows in by_digest(pending, lambda p: (p.day, p.weekly)):
            names = {p.channel for p in rows}
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
    return counts(outcomes)


def check_channel_outcomes(outcomes: list[ChannelOutcome]) -> None:
    """Raise one DeliveryError naming every channel that did not get the post."""
    check(outcomes, "not posted to {bad} of {all} chat channel(s):")


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
