"""The Markdown as renderers show it: markdown-it with linkify (bare domains become links, as in Notion,
Slack and many note apps) and GitHub's own cmark-gfm. What the reader pastes must come out as the
digest's structure and links only: topic headings, one list item per paper, its links, no HTML of
its own, and arXiv categories that no linkifier turns into ``http://cs.CL``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest import demo
from digest.cli import cli
from digest.config import Config, Render
from digest.progress import Progress
from digest.rendering.daily import render_markdown

from .digests import fixed_digest
from .test_trend_render import SPARK_DAYS, cold_trend, digest_with, moving_trend

markdown_it = pytest.importorskip("markdown_it", reason="pip install '.[test]' (markdown-it-py[linkify])")
cmarkgfm = pytest.importorskip("cmarkgfm", reason="pip install '.[test]' (cmarkgfm)")


def linkify(md: str) -> str:
    # html=True: a renderer that passes raw HTML through (GitHub, Obsidian and Jekyll do, filtered or not).
    # Tables as most note apps render them (the trend block is a GFM table).
    options = {"linkify": True, "html": True}
    return markdown_it.MarkdownIt("commonmark", options).enable(["linkify", "table"]).render(md)


def github(md: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(md)


class Tree(HTMLParser):
    """The elements, links and headings of rendered HTML."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.headings: list[str] = []
        self.codes: list[str] = []
        self._open: list[str] = []
        self._text: list[str] = []
        self._href = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._open.append(tag)
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", []
        elif tag in ("h3", "code"):
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text)
        if tag == "a":
            self.links.append((self._href, text))
        elif tag == "h3":
            self.headings.append(text)
        elif tag == "code":
            self.codes.append(text)
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self._text.append(data)


RENDERERS = [pytest.param(linkify, id="markdown-it+linkify"), pytest.param(github, id="cmark-gfm")]


def demo_markdown() -> str:
    result = CliRunner().invoke(cli, ["now", "--demo", "-q"])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("render", RENDERERS)
def test_the_sample_day_renders_as_headings_items_and_its_own_links(render):
    md = demo_markdown()
    tree = Tree(render(md))
    # The structure is the digest's: h2 title, an h3 per topic with its count, list items, paragraphs.
    allowed = {"h2", "h3", "ul", "li", "a", "strong", "code", "p", "blockquote"}
    allowed |= {"table", "thead", "tbody", "tr", "th", "td"}  # the trend block's table (GFM)
    assert set(tree.tags) <= allowed, tree.tags
    assert tree.headings == ["LLM · 3편", "멀티모달 · 3편", "DPO·정렬 · 2편", "Mamba·SSM · 2편"]
    assert tree.tags.count("li") == 10
    # Every link is one the digest made: abs page, PDF, a code repository (the sample has no Hugging Face).
    for href, _ in tree.links:
        assert re.fullmatch(
            r"https://(arxiv\.org/(abs|pdf)/\d{4}\.\d{5}|github\.com/[\w.-]+/[\w.-]+(/tree/[\w./-]+)?)",
            href,
        ), href
    texts = [text for _, text in tree.links]
    assert texts.count("PDF") == 10
    assert "코드" in texts and not any(t.startswith("▲") for t in texts)  # no invented upvotes
    # Categories are code, never links: cs.CL, cs.CV and cs.AI are top-level domains.
    assert not any("cs." in href for href, _ in tree.links)
    assert {"cs.AI", "cs.CV", "cs.LG"} <= set(tree.codes)


def test_a_bare_category_would_be_linkified_which_is_why_it_is_code():
    # The renderer really does it: without the code span the category becomes a link to http://cs.CL.
    assert 'href="http://cs.CL"' in linkify("arXiv cs.CL")
    assert "<a" not in linkify("arXiv `cs.CL`")


@pytest.mark.parametrize("render", RENDERERS)
def test_hostile_text_stays_text_and_the_footer_is_plain_markdown(render):
    md = render_markdown(fixed_digest())
    tree = Tree(render(md))
    assert "script" not in tree.tags and "img" not in tree.tags and "b" not in tree.tags
    assert "sub" not in tree.tags  # Notion shows <sub> as text
    assert not any(href.startswith("javascript") for href, _ in tree.links)
    html = render(md)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert re.search(r"<p>arXiv 412편 · Hugging Face 36편 · 블로그 1곳 검토 · 5편 선정 · gpt-4o-mini", html)
    # The authors line: "et al." for three, both names for two, one name alone, nothing for none.
    assert "Yun Cheng et al." in md and "김민준, Wei Zhang" in md and "· Yi-Kuan Hsieh ·" in md


def run_sample(tmp_path: Path, render: Render) -> str:
    """The demo's markdown with ``render``'s options (``digest now --demo`` with a config)."""
    return asyncio.run(demo.run(Progress(quiet=True), Config(render=render))).markdown


def test_flat_layout_is_one_list_in_the_same_order(tmp_path):
    grouped = run_sample(tmp_path / "g", Render())
    flat = run_sample(tmp_path / "f", Render(markdown_layout="flat"))
    tree = Tree(github(flat))
    assert tree.headings == [] and tree.tags.count("ul") == 1
    items = [line for line in flat.splitlines() if line.startswith("- ")]
    assert items == [line for line in grouped.splitlines() if line.startswith("- ")]


def test_show_reason_adds_the_matched_terms_under_each_item(tmp_path):
    md = run_sample(tmp_path, Render(show_reason=True))
    reasons = [line for line in md.splitlines() if line.startswith("  - 선정 이유: ")]
    assert len(reasons) == 10
    # A paper matched in its title and abstract for two topics and in its abstract only for a third.
    finer = "LLM — MLLM, large language model (제목, 초록) · 멀티모달 — MLLM, multimodal (제목, 초록)"
    finer += " · DPO·정렬 — direct preference optimization, DPO (초록)"
    assert "  - 선정 이유: " + finer in reasons, reasons
    assert all("(제목" in r or "(초록" in r for r in reasons)
    tree = Tree(github(md))
    assert tree.tags.count("li") == 20  # each reason is a nested item, not loose text
    assert "선정 이유" not in run_sample(tmp_path / "off", Render())


@pytest.mark.parametrize("render", RENDERERS)
def test_a_sparkline_keeps_its_blank_days_in_every_renderer(render):
    # A day without data is a blank: at a cell's edge too, where markdown-it strips a no-break space.
    trends = [
        cold_trend(),
        moving_trend(),
        replace(
            moving_trend(),
            topics=tuple(replace(t, spark=f"  {t.spark[2:-1]} ") for t in moving_trend().topics),
        ),
    ]
    for trend in trends:
        html = render(render_markdown(digest_with(trend)))
        cells = [c for c in re.findall(r"<td>([^<]*)</td>", html) if re.search("[▁▂▃▄▅▆▇█]", c)]
        assert len(cells) == len(trend.topics), html
        for cell, t in zip(cells, trend.topics, strict=True):
            assert len(cell) == len(t.spark), (cell, t.spark)
            assert [ch.isspace() or ch == "\u2800" for ch in cell] == [ch == " " for ch in t.spark]
    assert len(SPARK_DAYS) == 7
