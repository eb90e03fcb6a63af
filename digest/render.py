"""Rendering: a pure function from a :class:`Digest` to Markdown (and the email bodies).

Everything shown comes from feeds or the LLM and is untrusted: the Markdown escapes every
character that could change its structure, links are http(s) only, and the HTML
templates are autoescaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, urlsplit

import jinja2

from .models import Digest, Entry, SourceReport, SourceStatus, TakeawayStatus
from .resources import resource_dir
from .text import one_line

WEEKDAYS = "월화수목금토일"
FALLBACK_MARK = "⚠️ 요약 대체"

# Characters that can start or end Markdown structure inside a list item (CommonMark allows a
# backslash before any ASCII punctuation, so over-escaping is harmless).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|~&#!])")


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

    # Runs of consecutive entries with the same first topic, so the grouped email keeps exactly the
    # Markdown's order and items (an entry with no topic still gets a group).
    groups: list[tuple[str, list[EntryView]]] = []
    for e, v in zip(d.entries, entries, strict=True):
        first = e.scored.topics[:1]
        label = one_line(labels.get(first[0], first[0])) if first else "기타"
        if groups and groups[-1][0] == label:
            groups[-1][1].append(v)
        else:
            groups.append((label, [v]))

    reviewed: list[str] = []
    if d.reviewed.get("arxiv"):
        reviewed.append(f"arXiv {_number(d.reviewed['arxiv'])}편")
    if d.reviewed.get("huggingface"):
        reviewed.append(f"Hugging Face {_number(d.reviewed['huggingface'])}편")
    blogs = [s for s in d.sources if s.name.startswith("blog:") and s.status.delivers]
    if blogs:
        reviewed.append(f"블로그 {len(blogs)}곳")

    u = d.usage
    if u.calls and u.failed_calls == u.calls:
        llm = f"{one_line(u.model)} {u.calls}회 호출(모두 실패)"
    elif u.calls:
        # Every request sent counts, the failed ones too: "8회 호출" with 8 failures is not "0회".
        failed_calls = f"실패 {u.failed_calls}회 · " if u.failed_calls else ""
        tokens = f"입력 {_number(u.prompt_tokens)} · 출력 {_number(u.completion_tokens)} 토큰"
        llm = f"{one_line(u.model)} {u.calls}회 호출({failed_calls}{tokens})"
    elif d.entries and all(e.takeaway.status == TakeawayStatus.CACHED for e in d.entries):
        llm = "LLM 호출 없음(저장된 요약)"
    elif u.failures:
        llm = "LLM 호출 실패"
    else:
        llm = "LLM 호출 없음"

    # A source that delivered only part of its data (one of Hugging Face's two days, say) is shown
    # too: never a silent substitute.
    def described(s: SourceReport) -> str:
        return f"{_source_label(s)} ({one_line(s.error) or s.status})"

    failed = [described(s) for s in d.failed_sources]
    # Delivered, but only part of it (a cut-off feed, one of Hugging Face's two days): never silent.
    partial = [described(s) for s in d.problem_sources if not s.status.is_failure]
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
        "partial_sources": partial,
        "checked_sources": [
            f"{_source_label(s)} {s.items}"
            for s in d.sources
            if not s.status.is_failure and s.status != SourceStatus.DISABLED
        ],
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


# -- email bodies -----------------------------------------------------------------------------

_HTML_ENV: jinja2.Environment | None = None


def _html_environment() -> jinja2.Environment:
    global _HTML_ENV
    if _HTML_ENV is None:
        # Autoescape unconditionally: every value in the HTML body comes from a feed or the LLM.
        _HTML_ENV = _environment(autoescape=True)
    return _HTML_ENV


def subject(d: Digest) -> str:
    """``[데일리 트렌드] 2025-10-14 (화) · LLM 4 · 멀티모달 3``; sample digests say 샘플."""
    ctx = context(d)
    tag = "[데일리 트렌드 · 샘플]" if d.sample else "[데일리 트렌드]"
    summary = str(ctx["topic_summary"]) or "새 글 없음"
    return one_line(f"{tag} {ctx['day_label']} · {summary}")


def render_html(d: Digest) -> str:
    """The HTML body with its CSS inlined into ``style=`` attributes (``@media`` rules kept)."""
    import css_inline

    html = _html_environment().get_template("email.html.j2").render(context(d))
    # No remote stylesheets: rendering must never touch the network.
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False).inline(html)


def render_text(d: Digest) -> str:
    global _MD_ENV
    if _MD_ENV is None:
        _MD_ENV = _environment(autoescape=False)
    return _MD_ENV.get_template("email.txt.j2").render(context(d))
