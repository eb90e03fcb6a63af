"""Rendering: a pure function from a :class:`Digest` to Markdown (and the email bodies).

Everything shown comes from feeds or the LLM and is untrusted: the Markdown escapes every
character that could change its structure, links are http(s) only, and the HTML
templates are autoescaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, urlsplit

import jinja2

from ..config import Render
from ..models import Digest, Entry, Scored, SourceReport, SourceStatus, TakeawayStatus, TopicInfo
from ..reader.why import note_reason
from ..resources import resource_dir
from ..text import one_line, truncate
from ..trend.view import trend_view
from .links import huggingface_url, pdf_url, repository
from .watch import watch_view

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
class Part:
    """One piece of an item's meta line: plain text, a link, or a code span (arXiv categories)."""

    text: str
    url: str | None = None
    prefix: str = ""  # plain text before it: "arXiv " before the category, "Hugging Face " before ▲12
    code: bool = False

    @property
    def name(self) -> str:
        """What the text email calls the link: "PDF", "코드", "Hugging Face"."""
        return self.prefix.strip() or self.text


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
    meta: tuple[Part, ...]  # authors · arXiv cs.CL · Hugging Face ▲123 · PDF · 코드
    reason: str  # "" unless [render] show_reason


# A name longer than this is not a name (a feed stuffing text into dc:creator): it is cut. Likewise
# a category (the longest arXiv has is cond-mat.stat-mech, 18 characters), which never wraps.
_NAME_LIMIT = 50
_CATEGORY_LIMIT = 24


def byline(authors: tuple[str, ...]) -> str:
    """``Minjun Kim``, ``Minjun Kim, Wei Zhang``, ``Minjun Kim et al.``: full names, as written.

    Not surnames only: whether "Zhang Wei" is given-first or family-first cannot be told from the
    string, and "Kim et al." or "Wang et al." on a day of 300 papers names nobody.
    """
    names = [truncate(n, _NAME_LIMIT) for n in (one_line(a) for a in authors) if n]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]}, {names[1]}"
    return f"{names[0]} et al."


def _meta(entry: Entry) -> tuple[Part, ...]:
    c = entry.candidate
    parts: list[Part] = []
    if c.authors:
        parts.append(Part(byline(c.authors)))
    if any(s.startswith("arxiv") for s in c.sources):
        category = truncate(one_line(c.primary_category), _CATEGORY_LIMIT)
        parts.append(Part(category, prefix="arXiv ", code=True) if category else Part("arXiv"))
    if c.upvotes is not None or "huggingface" in c.sources:
        hf = huggingface_url(c)
        parts.append(Part(f"▲{c.upvotes or 0}", url=safe_url(hf) if hf else None, prefix="Hugging Face "))
    if c.kind == "post":
        parts.append(Part(f"블로그 {one_line(c.feed_name)}" if c.feed_name else "블로그"))
    pdf = pdf_url(c)
    if pdf and safe_url(pdf):
        parts.append(Part("PDF", url=safe_url(pdf)))
    repo = repository(c)
    if repo and safe_url(repo.url):
        parts.append(Part(repo.label, url=safe_url(repo.url)))
    return tuple(p for p in parts if p.text)


_WHERE = {"title": "제목", "abstract": "초록"}


def reason_line(s: Scored) -> str:
    """``LLM — large language model, LLM (초록) · Hugging Face ▲637 반영``: why the item is in."""
    where = _WHERE if s.candidate.kind == "paper" else {**_WHERE, "abstract": "요약"}
    parts = [
        f"{one_line(m.label)} — {', '.join(one_line(t) for t in m.terms)}"
        + (f" ({', '.join(where.get(w, w) for w in m.where)})" if m.where else "")
        for m in s.matches
    ]
    if s.popularity > 0:
        parts.append(f"Hugging Face ▲{s.candidate.upvotes} 반영")
    parts += personal_reasons(s)
    return " · ".join(parts)


def personal_reasons(s: Scored) -> list[str]:
    """What the reader's own notes and edits say of the item: said even without show_reason."""
    out = [one_line(note_reason(s.note))] if s.note else []
    return out + ([one_line(s.feedback)] if s.feedback else [])


def entry_view(entry: Entry, options: Render | None = None) -> EntryView:
    t = entry.takeaway
    return EntryView(
        title=one_line(entry.candidate.title),
        url=safe_url(entry.candidate.url),
        takeaway=one_line(t.text),
        status=str(t.status),
        is_fallback=t.is_fallback,
        fallback_note=one_line(t.note),
        topics=tuple(one_line(m.label) for m in entry.scored.matches),
        meta=_meta(entry),
        # The note it resembles is said even without show_reason: the reader should know why their
        # digest differs from anyone else's with the same topics.
        reason=reason_line(entry.scored)
        if options and options.show_reason
        else " · ".join(personal_reasons(entry.scored)),
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


def _groups(d: Digest, views: list[EntryView]) -> list[tuple[str, list[EntryView]]]:
    return group_entries(d.topics, d.entries, views)


def group_entries(
    topics: Sequence[TopicInfo], entries: Sequence[Entry], views: list[EntryView]
) -> list[tuple[str, list[EntryView]]]:
    """Runs of consecutive entries with the same first topic: the sections of the email and the grouped
    Markdown, in the entries' order (an entry with no topic still gets a group)."""
    labels = {t.key: t.label for t in topics}
    groups: list[tuple[str, list[EntryView]]] = []
    for e, v in zip(entries, views, strict=True):
        first = e.scored.topics[:1]
        label = one_line(labels.get(first[0], first[0])) if first else "기타"
        if groups and groups[-1][0] == label:
            groups[-1][1].append(v)
        else:
            groups.append((label, [v]))
    return groups


def topic_summary(groups: list[tuple[str, list[EntryView]]]) -> str:
    """``멀티모달 3 · LLM 3 · …`` in the sections' order, so the header reads like the body below it."""
    counts: dict[str, int] = {}
    for label, members in groups:
        counts[label] = counts.get(label, 0) + len(members)
    return " · ".join(f"{label} {n}" for label, n in counts.items())


# Inbox previews show about 90–140 characters of the preheader.
_PREHEADER_TITLE = 90


def preheader(views: list[EntryView], notices: list[str]) -> str:
    """What the inbox shows under the subject: the day's top item, or why there is none."""
    if not views:
        return notices[0] if notices else "새 글 없음"
    top = truncate(views[0].title, _PREHEADER_TITLE)
    return f"{top} 외 {len(views) - 1}편" if len(views) > 1 else top


def context(d: Digest, options: Render | None = None) -> dict[str, object]:
    """Everything the Markdown, HTML and text templates show, computed once."""
    options = options or Render()
    entries = [entry_view(e, options) for e in d.entries]
    groups = _groups(d, entries)
    notices = [one_line(n) for n in d.notices]

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
    else:  # no request was sent (no key, the sample day): nothing failed, the fallbacks are counted below
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
        "grouped_markdown": options.markdown_layout == "grouped",
        "topic_summary": topic_summary(groups),
        "preheader": preheader(entries, notices),
        "notices": notices,
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
        "trend": trend_view(d.trend, md=md_escape),
        "watch": watch_view(d.watch),
    }


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja's cache of compiled templates, in its private per-user temporary directory (created 0700
    and checked by Jinja; entries are keyed by the template's source, so an edited template is compiled
    again). Compiling the templates was 0.06 s of every run. A cache that cannot be read or written is
    no failure: the template is compiled as it would be without one."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        return _BytecodeCache()
    except (OSError, RuntimeError):  # no safe temporary directory (read-only, someone else's)
        return None


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("templates")),
        bytecode_cache=_bytecode_cache(),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    return env


_MD_ENV: jinja2.Environment | None = None


def _md_environment() -> jinja2.Environment:
    global _MD_ENV
    if _MD_ENV is None:
        _MD_ENV = _environment(autoescape=False)
    return _MD_ENV


def render_template(name: str, values: Mapping[str, object], *, html: bool = False) -> str:
    """A template of templates/: autoescaped, CSS inlined when ``html``; else plain (Markdown, text)."""
    if not html:
        return _md_environment().get_template(name).render(values)
    import css_inline

    page = _html_environment().get_template(name).render(values)
    # No remote stylesheets: rendering must never touch the network.
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False).inline(page)


def render_markdown(d: Digest, options: Render | None = None) -> str:
    return render_template("digest.md.j2", context(d, options))


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


def render_html(d: Digest, options: Render | None = None) -> str:
    """The HTML body with its CSS inlined into ``style=`` attributes (``@media`` rules kept)."""
    return render_template("email.html.j2", context(d, options), html=True)


def render_text(d: Digest, options: Render | None = None) -> str:
    return render_template("email.txt.j2", context(d, options))
