"""The 지난 일지 논문 소식 block's view: news on papers the reader logged, one line each.

Titles come from feeds (untrusted): the templates escape them like every other value; the links are the
paper's arXiv page (built from its id) and a code repository found by digest/rendering/links.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..models import PaperNews
from ..text import one_line


@dataclass(frozen=True)
class NewsPart:
    text: str
    url: str | None = None  # the code part links its repository


@dataclass(frozen=True)
class NewsView:
    title: str
    url: str
    parts: tuple[NewsPart, ...]
    note: str  # "내 글 2026-01-12", or "" for a paper added with `digest watch`


def watch_view(news: Sequence[PaperNews]) -> list[NewsView]:
    from .daily import safe_url  # the page's own check of a URL

    out = []
    for n in news:
        code = safe_url(n.code_url) if n.code_url else None
        parts = tuple(
            NewsPart(one_line(label), code if code and label.startswith("코드") else None) for label in n.news
        )
        note = f"내 글 {n.note_day}" if n.note_day else ""
        out.append(NewsView(one_line(n.title) or n.arxiv_id, n.url, parts, note))
    return out
