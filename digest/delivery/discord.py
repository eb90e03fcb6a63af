"""Discord: an execute-webhook POST (https://discord.com/developers/docs/resources/webhook).

The post is Discord markdown in ``content`` (2,000 characters a message), split at item boundaries.
``?wait=true`` makes Discord answer ``200`` with the message it created (a confirmation); errors are JSON:
``404 {"message": "Unknown Webhook", "code": 10015}`` (deleted), ``401 {"message": "Invalid Webhook Token",
"code": 50027}``, ``400 {"message": "Invalid Form Body", "code": 50035, ...}``, ``429 {"message": "You are
being rate limited.", "retry_after": 0.65, "global": false}`` with a ``Retry-After`` header.
No mention in a post ever pings anyone (``allowed_mentions``) and links show no previews (``flags``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx2

from ..http import parse_retry_after
from .deliver import Answer
from .post import FALLBACK_MARK, ChatItem, ChatPost, Markup, body_text, text_messages

LIMIT = 2000
SUPPRESS_EMBEDS = 1 << 2

_SPECIAL = re.compile(r"([\\*_~`|<>\[\]])")
_LEADING = re.compile(r"^(\s*)([#>+-]|\d+\.)")  # a heading, quote, list or subtext at a line's start


def escape(text: str) -> str:
    """The characters Discord's markdown acts on, backslash-escaped: an untrusted title stays text."""
    text = _SPECIAL.sub(r"\\\1", text)
    return _LEADING.sub(lambda m: m[1] + (m[2][:-1] + "\\." if m[2].endswith(".") else "\\" + m[2]), text)


def link(text: str, url: str | None) -> str:
    # <url> inside the link keeps Discord from previewing it; safe_url has percent-encoded any ">" or ")".
    return f"[{escape(text)}](<{url}>)" if url else escape(text)


def _item(item: ChatItem, heading: str) -> str:
    mark = f" *({FALLBACK_MARK})*" if item.fallback else ""
    meta = " · ".join(link(m.text, m.url) for m in item.meta)
    head = f"### {escape(heading)}\n" if heading else ""
    return f"{head}**{link(item.title, item.url)}**\n{escape(item.line)}{mark}" + (
        f"\n-# {meta}" if meta else ""
    )


def _table(lines: tuple[str, ...]) -> str:
    return "```\n" + "\n".join(line.replace("`", "ˋ") for line in lines) + "\n```"


MARKUP = Markup(
    head=lambda post: f"## {escape(post.title)}" + (f"\n{escape(post.summary)}" if post.summary else ""),
    notice=lambda text: f"> {escape(text)}",
    flow=lambda label, text: f"**{escape(label)}**\n{escape(text)}",
    table=_table,
    terms=lambda terms: "떠오르는 말: " + " · ".join(escape(t) for t in terms),
    note=lambda text: f"-# {escape(text)}",
    item=_item,
    footer=lambda text: f"-# {escape(text)}",
    marker=lambda i, total: f"\n-# {i}/{total}",
)


def render(post: ChatPost) -> list[dict[str, Any]]:
    return [
        {"content": m, "allowed_mentions": {"parse": []}, "flags": SUPPRESS_EMBEDS}
        for m in text_messages(post, MARKUP, LIMIT)
    ]


def interpret(response: httpx2.Response) -> Answer:
    status = response.status_code
    if status in (200, 204):
        return Answer(ok=True)
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    message = body_text(response.content)
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        message = data["message"] + (f" (code {data['code']})" if data.get("code") else "")
    error = f"HTTP {status} {message}".strip()
    if status == 429:
        wait = data.get("retry_after") if isinstance(data, dict) else None
        if not isinstance(wait, int | float) or wait < 0:
            wait = parse_retry_after(response.headers.get("retry-after"))
        return Answer(False, error, retry_after=float(wait) if wait is not None else None)
    if status >= 500:
        return Answer(False, error)
    if status in (401, 403, 404):
        fix = (
            "the webhook was deleted or its token is wrong: in the channel's settings, Integrations → "
            "Webhooks → New Webhook, then put its URL in the variable"
        )
        return Answer(False, error, permanent=True, fix=fix)
    return Answer(
        False, error, permanent=True, fix="Discord refused the message; please report this as a bug"
    )
