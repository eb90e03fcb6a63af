"""Slack: an incoming webhook, the post as Block Kit (https://docs.slack.dev/block-kit/).

A webhook POST answers ``200 ok``, or a status with a plain-text error: ``400 invalid_payload`` /
``invalid_blocks``, ``403 action_prohibited`` / ``invalid_token``, ``404 no_service`` (a removed webhook)
/ ``channel_not_found``, ``410 channel_is_archived``, ``429`` with ``Retry-After``, ``500 rollup_error``.
Limits: 50 blocks a message, 3,000 characters a section's text, 150 a header's.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx2

from ..http import parse_retry_after
from .deliver import Answer
from .post import FALLBACK_MARK, ChatItem, ChatPost, body_text, cut, fit, shorter

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
# Slack truncates a message's text past 40,000 characters and long messages collapse behind "Show more":
# a message is kept to this much text, so a long day reads as a few messages of whole items.
MESSAGE_LIMIT = 12_000
HEADER_LIMIT = 150

Block = dict[str, Any]


def escape(text: str) -> str:
    """Slack's three control characters; with them escaped no ``<!channel>`` or link can be smuggled in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(text: str, url: str | None) -> str:
    if not url:
        return escape(text)
    # A link's label cannot escape "|" (it ends the URL part): a look-alike keeps the title readable.
    return f"<{url}|{escape(text).replace('|', '¦')}>"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, SECTION_LIMIT)}]}


def _item_text(item: ChatItem, heading: str) -> str:
    mark = f"  _{FALLBACK_MARK}_" if item.fallback else ""
    meta = " · ".join(link(m.text, m.url) for m in item.meta)
    head = f"*{escape(heading)}*\n" if heading else ""
    return f"{head}*{link(item.title, item.url)}*\n{escape(item.line)}{mark}" + (f"\n{meta}" if meta else "")


def _fitted(item: ChatItem, heading: str, budget: int) -> str:
    return _item_text(shorter(item, budget), heading)


def _size(blocks: list[Block]) -> int:
    """The characters of text in ``blocks``."""
    total = 0
    for b in blocks:
        total += len(b.get("text", {}).get("text", ""))
        total += sum(len(e.get("text", "")) for e in b.get("elements", []))
    return total


def chunks(post: ChatPost) -> list[list[Block]]:
    """The post's pieces, each a list of blocks that stays in one message."""
    head: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": cut(post.title, HEADER_LIMIT), "emoji": True},
        }
    ]
    if post.summary:
        head.append(_context(escape(post.summary)))
    for notice in post.notices:
        head.append(_section(escape(notice)))
    out = [head]
    trend: list[Block] = []
    if post.flow:
        trend.append(_section(f"*{escape(post.flow_label)}*\n{escape(post.flow)}"))
    lines = [escape(line) for line in post.trend_lines]
    if post.terms:
        lines.append("떠오르는 말: " + " · ".join(escape(t) for t in post.terms))
    if lines:
        trend.append(_section("\n".join(lines)))
    if post.trend_note:
        trend.append(_context(escape(post.trend_note)))
    if trend:
        out.append([*trend, {"type": "divider"}])
    for section in post.sections:
        for i, item in enumerate(section.items):
            heading = section.label if i == 0 else ""
            text = fit(partial(_fitted, item, heading), SECTION_LIMIT)
            out.append([_section(text)])
    if post.footer:
        out.append([{"type": "divider"}, _context(escape(post.footer))])
    return out


def render(post: ChatPost) -> list[dict[str, Any]]:
    """The webhook payloads, in order: as few messages as Slack's 50-block limit allows."""
    messages: list[list[Block]] = []
    for chunk in chunks(post):
        if (
            messages
            and len(messages[-1]) + len(chunk) <= MAX_BLOCKS
            and _size(messages[-1]) + _size(chunk) <= MESSAGE_LIMIT
        ):
            messages[-1] += chunk
        else:
            messages.append(list(chunk))
    total = len(messages)
    payloads = []
    for i, blocks in enumerate(messages, 1):
        # The notification's text (and what a client that cannot show blocks shows).
        text = post.title + (f" ({i}/{total})" if total > 1 else "")
        payloads.append(
            {"text": escape(text), "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
        )
    return payloads


def interpret(response: httpx2.Response) -> Answer:
    status = response.status_code
    text = body_text(response.content)
    if status == 200:
        return Answer(ok=True)
    error = f"HTTP {status} {text}".strip()
    if status == 429:
        return Answer(False, error, retry_after=parse_retry_after(response.headers.get("retry-after")))
    if status >= 500:
        return Answer(False, error)
    if status in (403, 404, 410) or text in ("no_service", "invalid_token", "no_team", "team_disabled"):
        fix = (
            "the webhook no longer posts (removed, or its channel archived or deleted): add a new Incoming "
            "Webhook in the Slack app's settings and put its URL in the variable"
        )
        return Answer(False, error, permanent=True, fix=fix)
    return Answer(False, error, permanent=True, fix="Slack refused the message; please report this as a bug")
