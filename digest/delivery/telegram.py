"""Telegram: the Bot API's ``sendMessage`` (https://core.telegram.org/bots/api#sendmessage), HTML markup.

Every answer is JSON: ``{"ok": true, "result": {...}}`` or ``{"ok": false, "error_code": 400, "description":
"Bad Request: chat not found"}``; a flood limit is ``429`` with ``"parameters": {"retry_after": 5}``, a group
that became a supergroup ``400`` with ``"parameters": {"migrate_to_chat_id": -100…}``. A message is 4,096
characters after its markup is parsed. ``getMe`` checks the token without posting anything.
"""

from __future__ import annotations

import html
import json
from typing import Any

import httpx2

from ..http import parse_retry_after
from .deliver import Answer
from .post import FALLBACK_MARK, ChatItem, ChatPost, Markup, body_text, text_messages

LIMIT = 4096


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def link(text: str, url: str | None) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{escape(text)}</a>' if url else escape(text)


def _item(item: ChatItem, heading: str) -> str:
    mark = f" <i>({FALLBACK_MARK})</i>" if item.fallback else ""
    meta = " · ".join(link(m.text, m.url) for m in item.meta)
    head = f"<b>▍{escape(heading)}</b>\n" if heading else ""
    return f"{head}<b>{link(item.title, item.url)}</b>\n{escape(item.line)}{mark}" + (
        f"\n<i>{meta}</i>" if meta else ""
    )


MARKUP = Markup(
    head=lambda post: f"<b>{escape(post.title)}</b>" + (f"\n{escape(post.summary)}" if post.summary else ""),
    notice=lambda text: f"<i>{escape(text)}</i>",
    flow=lambda label, text: f"<b>{escape(label)}</b>\n{escape(text)}",
    table=lambda lines: "<pre>" + escape("\n".join(lines)) + "</pre>",
    terms=lambda terms: "떠오르는 말: " + " · ".join(f"<code>{escape(t)}</code>" for t in terms),
    note=lambda text: f"<i>{escape(text)}</i>",
    item=_item,
    footer=lambda text: f"<i>{escape(text)}</i>",
    marker=lambda i, total: f"\n<i>{i}/{total}</i>",
)


def render(post: ChatPost) -> list[dict[str, Any]]:
    """The sendMessage bodies without ``chat_id`` (added at sending, from the config)."""
    # Split by the raw HTML's length, which is never less than what Telegram counts: no message is refused.
    return [
        {"text": m, "parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}
        for m in text_messages(post, MARKUP, LIMIT)
    ]


def interpret(response: httpx2.Response) -> Answer:
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        error = f"HTTP {response.status_code} {body_text(response.content)}".strip()
        if response.status_code == 429 or response.status_code >= 500:
            return Answer(False, error, retry_after=parse_retry_after(response.headers.get("retry-after")))
        return Answer(False, error, permanent=response.status_code in (400, 401, 403, 404),
                      fix="not a Telegram Bot API answer: check api_url")  # fmt: skip
    if data.get("ok") is True and response.status_code == 200:
        return Answer(ok=True)
    code = data.get("error_code", response.status_code)
    description = str(data.get("description", ""))
    error = f"HTTP {response.status_code} {description}".strip()
    found = data.get("parameters")
    parameters: dict[str, Any] = found if isinstance(found, dict) else {}
    if code == 429 or response.status_code == 429:
        wait = parameters.get("retry_after")
        return Answer(False, error, retry_after=float(wait) if isinstance(wait, int | float) else None)
    if response.status_code >= 500:
        return Answer(False, error)
    if "migrate_to_chat_id" in parameters:
        new = parameters["migrate_to_chat_id"]
        fix = f'the group became a supergroup: set chat_id = "{new}"'
        return Answer(False, error, permanent=True, fix=fix)
    if response.status_code in (401, 404):
        fix = "the bot token is wrong or was revoked: put the token from @BotFather (/token) in the variable"
        return Answer(False, error, permanent=True, fix=fix)
    if response.status_code in (400, 403):
        fix = (
            "add the bot to the chat (in a channel, as an administrator who may post) and check chat_id; "
            "a user must /start the bot first"
        )
        return Answer(False, error, permanent=True, fix=fix)
    return Answer(
        False, error, permanent=True, fix="Telegram refused the message: please report this as a bug"
    )
