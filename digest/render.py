"""Rendering: a pure function from a :class:`Digest` to Markdown (and the email bodies).

Everything shown comes from feeds or the LLM and is untrusted: the Markdown escapes every
character that could change its structure, links are http(s) only, and the HTML
templates are autoescaped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, urlsplit

import jinja2

from .models import Digest, Entry, SourceReport, SourceStatus, TakeawayStatus
from .resources import resource_dir

WEEKDAYS = "월화수목금토일"
FALLBACK_MARK = "⚠️ 요약 대체"

# Characters that can start or end Markdown structure inside a list item (CommonMark allows a
# backslash before any ASCII punctuation, so over-escaping is harmless).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|~&#!])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Collapse whitespace and drop control/bidi characters so text cannot break a line."""
    text = unicodedata.normalize("NFC", text or "")
    return _SPACE.sub(" ", _CONTROL.sub("", text)).strip()


def md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", one_line(text))


def safe_url(url: str) -> str | None:
    """The URL if it is http(s), with characters that could end a Markdown link percent-encoded."""
    url = one_line(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe="/:?&=#%+@,;~!$*'-._")


def day_label(day: date) -> str:
    return f"{day.isoformat()} ({WEEKDAYS[day.weekday()]})"


def _number(n: int) -> str:
    return f"{n:,}"


@dataclass(frozen=True)
class EntryView:
    """One item as every template shows it."""

    title: str
    url: str | None
    takeaway: str
    status: str
    is_fallback: bool
    fallback_note: str
    topics: tuple[str, ...]  # display labels
    origin: str  # "arXiv cs.CL · Hugging Face ▲123"
    reason: str


def _origin(entry: Entry) -> str:
    c = entry.candidate
    parts: list[str] = []
    if any(s.startswith("arxiv") for s in c.sources):
        parts.append(f"arXiv {c.primary_category}" if c.primary_category else "arXiv")
    if c.upvotes is not None or "huggingface" in c.sources:
        parts.append(f"Hugging Face ▲{c.upvotes or 0}")
    if c.kind == "post":
        parts.append(f"블로그 {c.feed_name}" if c.feed_name else "블로그")
    return " · ".join(one_line(p) for p in parts)


def entry_view(entry: Entry) -> EntryView:
    t = entry.takeaway
    return EntryView(
        title=one_line(entry.candidate.title),
        url=safe_url(entry.candidate.url),
        takeaway=one_line(t.text),
        status=str(t.status),
        is_fallback=t.is_fallback,
        fallback_note=one_line(t.note),
        topics=tuple(one_line(m.label) for m in entry.scored.matches),
        origin=_origin(entry),
        reason=one_line(entry.scored.reason),
    )


def _source_label(report: SourceReport) -> str:
    name = report.name
    if name.startswith("blog:"):
        return f"블로그 {name.removeprefix('blog:')}"
    return {
        "arxiv-listing": "arXiv 목록",
        "arxiv-search": "arXiv 검색",
        "huggingface": "Hugging Face",
    }.get(name, name)


def context(d: Digest) -> dict[str, object]:
    """Everything the Markdown, HTML and text templates show, computed once."""
    entries = [entry_view(e) for e in d.entries]
    labels = {t.key: t.label for t in d.topics}
    counts = d.count_by_topic()
    topic_summary = " · ".join(f"{labels[k]} {n}" for k, n in counts.items() if n and k in labels)

    groups: list[tuple[str, list[EntryView]]] = []
    for topic in d.topics:
        members = [v for e, v in zip(d.entries, entries, strict=True) if e.scored.topics[:1] == (topic.key,)]
        if members:
            groups.append((topic.label, members))

    reviewed: list[str] = []
    if d.reviewed.get("arxiv"):
        reviewed.append(f"arXiv {_number(d.reviewed['arxiv'])}편")
    if d.reviewed.get("huggingface"):
        reviewed.append(f"Hugging Face {_number(d.reviewed['huggingface'])}편")
    blogs = [s for s in d.sources if s.name.startswith("blog:") and s.status != SourceStatus.DISABLED]
    if blogs:
        reviewed.append(f"블로그 {len(blogs)}곳")

    u = d.usage
    if u.calls:
        tokens = f"입력 {_number(u.prompt_tokens)} · 출력 {_number(u.completion_tokens)} 토큰"
        llm = f"{one_line(u.model)} {u.calls}회 호출({tokens})"
    elif d.entries and all(e.takeaway.status == TakeawayStatus.CACHED for e in d.entries):
        llm = "LLM 호출 없음(저장된 요약)"
    else:
        llm = "LLM 호출 없음"

    failed = [f"{_source_label(s)} ({one_line(s.error) or s.status})" for s in d.failed_sources]
    fallbacks = d.fallback_count
    return {
        "day": d.day,
        "day_label": day_label(d.day),
        "title": f"데일리 트렌드 — {day_label(d.day)}",
        "sample": d.sample,
        "entries": entries,
        "groups": groups,
        "topic_summary": topic_summary,
        "notices": [one_line(n) for n in d.notices],
        "reviewed": " · ".join(reviewed) + " 검토" if reviewed else "검토한 글 없음",
        "selected": f"{len(entries)}편 선정",
        "llm": llm,
        "failed_sources": failed,
        "checked_sources": [f"{_source_label(s)} {s.items}" for s in d.sources if not s.status.is_failure],
        "fallbacks": fallbacks,
        "fallback_mark": FALLBACK_MARK,
    }


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("templates")),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    return env


_MD_ENV: jinja2.Environment | None = None


def render_markdown(d: Digest) -> str:
    global _MD_ENV
    if _MD_ENV is None:
        _MD_ENV = _environment(autoescape=False)
    return _MD_ENV.get_template("digest.md.j2").render(context(d))
