"""A digest as a chat channel shows it: a plain dataclass built once from the email's context, then
formatted by each channel (slack.py, discord.py, telegram.py) and split into messages at item boundaries.

The post is archived next to the email (``archive/2026-02-05.post.json``), so a failed post is retried
from it (``digest send --pending``) without fetching or calling the LLM again. Every string in it comes from
feeds or the LLM and is untrusted: each channel escapes it for its own markup.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from ..config import Render
from ..errors import DeliveryError
from ..models import Digest, WeekDigest, iso_week
from ..rendering.daily import EntryView, context
from ..rendering.watch import NewsView
from ..text import truncate
from ..trend.view import TrendView
from .archive import write_file

# An item's title and line are cut to these in a chat message, so that one item always fits in the smallest
# message (Discord's 2,000 characters) with its links: a hostile 10,000-character title cannot break a post.
TITLE_LIMIT = 300
LINE_LIMIT = 900
META_LIMIT = 400


@dataclass(frozen=True)
class Link:
    text: str
    url: str | None = None  # an http(s) URL (rendering.safe_url), or None for plain text


@dataclass(frozen=True)
class ChatItem:
    title: str
    url: str | None
    line: str  # the takeaway
    fallback: bool  # the line is a marked fallback (the abstract's first sentence), not the LLM's
    meta: tuple[Link, ...]  # authors · arXiv cs.CL · Hugging Face ▲12 · PDF · 코드


@dataclass(frozen=True)
class ChatSection:
    label: str  # the topic
    items: tuple[ChatItem, ...]


@dataclass(frozen=True)
class TrendRow:
    label: str
    count: str  # "57편 (18%)"
    usual: str  # "13%", or why there is no baseline
    arrow: str  # ▲ ▼ → or ""
    direction: str  # "up", "down", "flat", ""
    change: str  # "+38%" or ""
    spark: str  # blanks as spaces: a day without numbers


@dataclass(frozen=True)
class TrendTable:
    """The trend block as the email's table, for the pages of the web archive (``trend_lines`` are the
    same numbers as text, for the chat channels)."""

    count_header: str  # "오늘", "이번 주"
    spark_header: str  # "추이", "요일별"
    compared: bool  # False in the cold start: no usual share, no change
    rows: tuple[TrendRow, ...]
    terms: tuple[tuple[str, str], ...]  # (phrase, "9편 (처음 등장)")


@dataclass(frozen=True)
class ChatPost:
    """One digest (a day's or a week's) for the chat channels."""

    day: date  # the digest's date, or the week's Monday
    weekly: bool
    sample: bool
    title: str  # "데일리 트렌드 — 2026-02-05 (목)"
    summary: str  # "LLM 3 · 멀티모달 2"
    notices: tuple[str, ...]
    flow_label: str  # "오늘의 흐름" / "이번 주 흐름"
    flow: str  # the paragraph; "" when there is none
    trend_lines: tuple[str, ...]  # one per topic: "LLM ▁▃█ 57편 (+38%) ▲"
    terms: tuple[str, ...]  # "world model 9편 (처음 등장)"
    trend_note: str  # why there are no numbers today, or the basis of the numbers
    sections: tuple[ChatSection, ...]
    footer: str  # "arXiv 1,234편 · Hugging Face 50편 검토 · 8편 선정 · gpt-4o-mini 3회 호출(…)"
    fallbacks: int  # marked fallback lines
    trend_table: TrendTable | None = None  # None without numbers (and in posts archived before it)

    @property
    def label(self) -> str:
        return f"week {iso_week(self.day)}" if self.weekly else self.day.isoformat()

    @property
    def stem(self) -> str:
        """The archive's name for it, as the email's: ``2026-02-05``, ``week-2026-W06``, ``sample-…``."""
        if self.weekly:
            return f"week-{iso_week(self.day)}"
        return f"sample-{self.day.isoformat()}" if self.sample else self.day.isoformat()


FALLBACK_MARK = "⚠️ 요약 대체"


def _item(v: EntryView) -> ChatItem:
    meta = []
    for p in v.meta:
        text = (p.prefix + p.text).strip()
        meta.append(Link(truncate(text, 120), p.url))
    return ChatItem(
        title=truncate(v.title, TITLE_LIMIT),
        url=v.url,
        line=truncate(v.takeaway, LINE_LIMIT),
        fallback=v.is_fallback,
        meta=tuple(meta),
    )


def _trend(view: TrendView | None) -> dict[str, Any]:
    if view is None:
        return {"flow_label": "오늘의 흐름", "flow": "", "trend_lines": (),
                "terms": (), "trend_note": "", "trend_table": None}  # fmt: skip
    lines: list[str] = []
    if not view.note:
        if view.cold_start:
            lines.append(view.cold_line)
        for r in view.rows:
            # The sparkline as it is: a blank is a day without numbers, and its place says which day.
            line = f"{r.label} {r.spark} {r.count}"
            if r.change:
                line += f" ({r.change})"
            if r.arrow:
                line += f" {r.arrow}"
            if r.waiting:
                line += f" · {r.waiting}"
            lines.append(line)
    table = None
    if not view.note:
        rows = tuple(
            TrendRow(r.label, r.today, r.usual or r.waiting, r.arrow, r.arrow_class, r.change, r.spark)
            for r in view.rows
        )
        terms = tuple((t.phrase, f"{t.count} ({t.detail})") for t in view.terms)
        table = TrendTable(view.count_header, view.spark_header_short, not view.cold_start, rows, terms)
    return {
        "trend_table": table,
        "flow_label": view.flow_label,
        "flow": view.flow_text,
        "trend_lines": tuple(lines),
        "terms": tuple(f"{t.phrase} {t.count} ({t.detail})" for t in view.terms) if not view.note else (),
        "trend_note": view.note or view.basis,
    }


def _sections(
    groups: Sequence[tuple[str, list[EntryView]]], watch: Sequence[NewsView] = ()
) -> tuple[ChatSection, ...]:
    sections = [ChatSection(label, tuple(_item(v) for v in views)) for label, views in groups]
    if watch:  # 지난 일지 논문 소식: one more section, each paper's news as its line
        sections.append(ChatSection(WATCH_LABEL, tuple(_news(w) for w in watch)))
    return tuple(sections)


WATCH_LABEL = "지난 일지 논문 소식"


def _news(w: NewsView) -> ChatItem:
    line = " · ".join(p.text for p in w.parts) + (f" ({w.note})" if w.note else "")
    code = tuple(Link(truncate(p.text, 120), p.url) for p in w.parts if p.url)
    return ChatItem(truncate(w.title, TITLE_LIMIT), w.url, truncate(line, LINE_LIMIT), False, code)


def _footer(ctx: dict[str, Any]) -> str:
    parts = [str(ctx["reviewed"]), str(ctx["selected"]), str(ctx["llm"])]
    if ctx.get("fallbacks"):
        parts.append(f"{FALLBACK_MARK} {ctx['fallbacks']}개")
    failed = ctx.get("failed_sources") or []
    if failed:
        parts.append("가져오지 못한 곳: " + ", ".join(str(f) for f in failed))
    return " · ".join(parts)


def daily_post(d: Digest, options: Render | None = None) -> ChatPost:
    ctx = context(d, options)
    return ChatPost(
        day=d.day,
        weekly=False,
        sample=d.sample,
        title=("[샘플] " if d.sample else "") + str(ctx["title"]),
        summary=str(ctx["topic_summary"]),
        notices=tuple(str(n) for n in ctx["notices"]),  # type: ignore[attr-defined]
        sections=_sections(ctx["groups"], ctx["watch"]),  # type: ignore[arg-type]
        footer=_footer(ctx),
        fallbacks=d.fallback_count,
        **_trend(ctx["trend"]),  # type: ignore[arg-type]
    )


def weekly_post(w: WeekDigest, options: Render | None = None) -> ChatPost:
    from ..week.render import week_context

    ctx = week_context(w, options)
    return ChatPost(
        day=w.start,
        weekly=True,
        sample=False,
        title=str(ctx["title"]),
        summary=str(ctx["topic_summary"]),
        notices=tuple(str(n) for n in ctx["notices"]),  # type: ignore[attr-defined]
        sections=_sections(ctx["groups"], ctx["watch"]),  # type: ignore[arg-type]
        footer=_footer(ctx),
        fallbacks=w.fallback_count,
        **_trend(ctx["trend"]),  # type: ignore[arg-type]
    )


# -- the archive --------------------------------------------------------------------------------


def to_json(post: ChatPost) -> str:
    data = dataclasses.asdict(post)
    data["day"] = post.day.isoformat()
    return json.dumps({"version": 1, **data}, ensure_ascii=False, indent=1) + "\n"


def from_json(text: str) -> ChatPost:
    data = json.loads(text)
    data.pop("version", None)
    data["day"] = date.fromisoformat(data["day"])
    data["sections"] = tuple(
        ChatSection(
            s["label"],
            tuple(
                ChatItem(
                    i["title"],
                    i["url"],
                    i["line"],
                    bool(i["fallback"]),
                    tuple(Link(m["text"], m["url"]) for m in i["meta"]),
                )  # fmt: skip
                for i in s["items"]
            ),
        )
        for s in data["sections"]
    )
    for key in ("notices", "trend_lines", "terms"):
        data[key] = tuple(data[key])
    table = data.get("trend_table")
    if table is not None:
        rows = tuple(TrendRow(**r) for r in table.pop("rows"))
        terms = tuple((str(p), str(d)) for p, d in table.pop("terms"))
        data["trend_table"] = TrendTable(**table, rows=rows, terms=terms)
    return ChatPost(**data)


def archive_path(archive_dir: Path, post: ChatPost) -> Path:
    return archive_dir / f"{post.stem}.post.json"


def write_post(archive_dir: Path, post: ChatPost) -> Path:
    """Archive ``post`` atomically; an unchanged post is not rewritten (its mtime is the feed's updated)."""
    path = archive_path(archive_dir, post)
    text = to_json(post)
    try:
        if path.read_text(encoding="utf-8") == text:
            return path
    except OSError:
        pass
    write_file(path, text, what=f"the chat post of {post.day}")
    return path


def load_post(archive_dir: Path, day: date, *, weekly: bool) -> ChatPost:
    stem = f"week-{iso_week(day)}" if weekly else day.isoformat()
    path = archive_dir / f"{stem}.post.json"
    try:
        return from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as e:
        what = f"week {iso_week(day)}" if weekly else day.isoformat()
        raise DeliveryError(
            f"{path}: cannot post {what} again, the archived post is unreadable: {e}"
        ) from None


# -- splitting ----------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as Discord and Telegram count it (JavaScript strings: UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 code units, with an ellipsis when cut."""
    if utf16_len(text) <= limit:
        return text
    out = text[: max(0, limit - 1)]
    while out and utf16_len(out) > limit - 1:
        out = out[:-1]
    return out + "…"


def pack(chunks: Sequence[str], limit: int, *, sep: str = "\n\n") -> list[str]:
    """Join ``chunks`` into as few messages of at most ``limit`` as possible, never splitting one (a chunk
    longer than ``limit`` on its own is split at its lines, a line longer than that is cut)."""
    pieces: list[str] = []
    for chunk in chunks:
        if utf16_len(chunk) <= limit:
            pieces.append(chunk)
            continue
        lines = [cut(line, limit) for line in chunk.split("\n")]
        pieces += pack(lines, limit, sep="\n")
    messages: list[str] = []
    for piece in pieces:
        if messages and utf16_len(messages[-1] + sep + piece) <= limit:
            messages[-1] += sep + piece
        else:
            messages.append(piece)
    return messages


def fit(build: Callable[[int], str], limit: int, length: Callable[[str], int] = utf16_len) -> str:
    """``build(budget)`` with the largest budget (from LINE_LIMIT, halving) whose result fits ``limit``:
    escaping can make untrusted text several times longer, so the budget is for the raw text."""
    budget = LINE_LIMIT
    text = build(budget)
    while length(text) > limit and budget > 20:
        budget //= 2
        text = build(budget)
    return text if length(text) <= limit else cut(text, limit)


def shorter(item: ChatItem, budget: int) -> ChatItem:
    """``item`` with its title, line and meta cut to ``budget`` characters of raw text (fit)."""
    meta = tuple(Link(cut(m.text, max(10, budget // 4)), m.url) for m in item.meta)
    return dataclasses.replace(
        item, title=cut(item.title, max(20, budget // 3)), line=cut(item.line, budget), meta=meta
    )


@dataclass(frozen=True)
class Markup:
    """How a channel whose messages are one text each (Discord's markdown, Telegram's HTML) writes each
    piece of a post; every untrusted string is escaped by these."""

    head: Callable[[ChatPost], str]  # the title and the topic counts
    notice: Callable[[str], str]
    flow: Callable[[str, str], str]  # (label, paragraph)
    table: Callable[[tuple[str, ...]], str]  # the trend lines, monospaced
    terms: Callable[[tuple[str, ...]], str]
    note: Callable[[str], str]  # the trend's basis, or why there are no numbers
    item: Callable[[ChatItem, str], str]  # (item, the topic's heading before its first item, else "")
    footer: Callable[[str], str]
    marker: Callable[[int, int], str]  # "\n-# 2/3" at the end of a message of a split post
    marker_room: int = 12  # what the marker may take of the limit


def _shortened(markup: Markup, item: ChatItem, heading: str, budget: int) -> str:
    return markup.item(shorter(item, budget), heading)


def text_messages(post: ChatPost, markup: Markup, limit: int) -> list[str]:
    """``post`` as messages of at most ``limit`` UTF-16 code units (the marker included), split at item
    boundaries: every piece stays whole in one message, an item too long on its own is shortened to fit."""
    room = limit - markup.marker_room
    pieces = [markup.head(post), *(markup.notice(n) for n in post.notices)]
    if post.flow:
        pieces.append(markup.flow(post.flow_label, post.flow))
    if post.trend_lines:
        pieces.append(markup.table(post.trend_lines))
    tail = [markup.terms(post.terms)] if post.terms else []
    if post.trend_note:
        tail.append(markup.note(post.trend_note))
    if tail:
        pieces.append("\n".join(tail))
    for section in post.sections:
        for i, item in enumerate(section.items):
            heading = section.label if i == 0 else ""
            pieces.append(fit(partial(_shortened, markup, item, heading), room))
    if post.footer:
        pieces.append(markup.footer(post.footer))
    messages = pack(pieces, room)
    total = len(messages)
    return [m + (markup.marker(i, total) if total > 1 else "") for i, m in enumerate(messages, 1)]


# -- what a channel answered ----------------------------------------------------------------------


def body_text(content: bytes, limit: int = 200) -> str:
    text = content.decode("utf-8", "replace")
    return cut(" ".join(text.split()), limit)
