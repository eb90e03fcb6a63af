"""The email: structure, headers, both bodies matching the Markdown, escaping, line lengths, goldens."""

from __future__ import annotations

import os
import re
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest.delivery.email import POLICY, build_message, new_message_id
from digest.rendering.daily import (
    FALLBACK_MARK,
    md_escape,
    one_line,
    render_html,
    render_markdown,
    render_text,
    subject,
)

from .digests import HOSTILE_TITLE, LONG_TITLE, entry, fixed_digest

GOLDEN = Path(__file__).parent / "golden"
SENT_AT = datetime(2025, 10, 14, 10, 30, tzinfo=ZoneInfo("Asia/Seoul"))


def make_message(d=None) -> EmailMessage:
    d = d or fixed_digest()
    return build_message(
        subject=subject(d),
        text=render_text(d),
        html=render_html(d),
        sender="데일리 트렌드 <digest@example.com>",
        recipient="me@example.com",
        reply_to="owner@example.com",
        message_id=new_message_id(d.day, "digest@example.com"),
        sent_at=SENT_AT,
    )


def wire(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=POLICY)


def parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


class Items(HTMLParser):
    """The text of every item title and takeaway in an HTML body, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.titles: list[str] = []
        self.takeaways: list[str] = []
        self.hrefs: list[str] = []
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self._into: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)
        a = dict(attrs)
        if tag == "a":
            self.hrefs.append(a.get("href") or "")
        if self._into is not None:
            self._depth += 1
        elif tag == "p" and a.get("class") in ("item-title", "takeaway"):
            self._into = self.titles if a["class"] == "item-title" else self.takeaways
            self._into.append("")
            self._depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self._into is not None:
            self._depth -= 1
            if self._depth == 0:
                self._into[-1] = " ".join(self._into[-1].split())
                self._into = None

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into[-1] += data


def html_items(html: str) -> Items:
    parser = Items()
    parser.feed(html)
    return parser


def text_items(text: str) -> tuple[list[str], list[str]]:
    lines = text.splitlines()
    titles = [line[2:] for line in lines if line.startswith("- ")]
    takeaways = [lines[i + 1].strip() for i, line in enumerate(lines) if line.startswith("- ")]
    return titles, takeaways


def test_message_is_multipart_alternative_text_then_html():
    msg = parse(wire(make_message()))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert "데일리 트렌드 — 2025-10-14 (화)" in parts[0].get_content()
    assert '<html lang="ko">' in parts[1].get_content()
    assert "Yun Cheng et al." in parts[0].get_content() and "Yun Cheng et al." in parts[1].get_content()


def test_headers_are_present_and_korean_is_rfc2047_encoded():
    raw = wire(make_message())
    assert raw.isascii()  # no raw UTF-8 anywhere: headers are encoded words, bodies base64/qp
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert re.search(r"^Subject: =\?utf-8\?[bq]\?", head, re.M | re.I)
    msg = parse(raw)
    assert msg["Subject"] == "[데일리 트렌드] 2025-10-14 (화) · LLM 2 · 멀티모달 1 · DPO·정렬 1 · Mamba·SSM 1"
    assert msg["From"].addresses[0].display_name == "데일리 트렌드"
    assert msg["From"].addresses[0].addr_spec == "digest@example.com"
    assert msg["To"] == "me@example.com"
    assert msg["Reply-To"] == "owner@example.com"
    assert msg["Date"].datetime == SENT_AT
    assert re.fullmatch(r"<digest\.2025-10-14\.[0-9a-f]{16}@example\.com>", msg["Message-ID"])
    assert msg["List-Unsubscribe"] == "<mailto:digest@example.com?subject=unsubscribe>"


def test_subject_marks_samples_and_empty_days():
    d = fixed_digest()
    d.sample = True
    assert subject(d).startswith("[데일리 트렌드 · 샘플] 2025-10-14 (화) · LLM 2")
    d.entries = []
    d.sample = False
    assert subject(d) == "[데일리 트렌드] 2025-10-14 (화) · 새 글 없음"


def test_both_bodies_have_the_markdowns_items_order_and_takeaways():
    d = fixed_digest()
    md_lines = [line for line in render_markdown(d).splitlines() if line.startswith("- **")]
    html = html_items(render_html(d))
    text_titles, text_takeaways = text_items(render_text(d))
    assert len(md_lines) == len(html.titles) == len(text_titles) == len(d.entries) == 5
    for i, e in enumerate(d.entries):
        title, takeaway = one_line(e.candidate.title), one_line(e.takeaway.text)
        assert md_escape(title) in md_lines[i] and md_escape(takeaway) in md_lines[i]
        marked = f"{FALLBACK_MARK} {takeaway}" if e.takeaway.is_fallback else takeaway
        assert (html.titles[i], html.takeaways[i]) == (title, marked)
        text_marked = f"[{FALLBACK_MARK}] {takeaway}" if e.takeaway.is_fallback else takeaway
        assert (text_titles[i], text_takeaways[i]) == (title, text_marked)


def test_items_are_grouped_by_topic_in_markdown_order():
    d = fixed_digest()
    d.entries = [d.entries[3], d.entries[0], d.entries[4], d.entries[1]]  # DPO, LLM, Mamba, LLM
    headings = re.findall(r'<h2 class="topic"[^>]*>([^<]+)<', render_html(d))
    assert [h.strip() for h in headings] == ["DPO·정렬", "LLM", "Mamba·SSM", "LLM"]
    assert re.findall(r"^■ (\S+)", render_text(d), re.M) == ["DPO·정렬", "LLM", "Mamba·SSM", "LLM"]
    assert re.findall(r"^### (\S+)", render_markdown(d), re.M) == ["DPO·정렬", "LLM", "Mamba·SSM", "LLM"]


def test_the_headers_topic_order_is_the_sections_order():
    d = fixed_digest()
    d.entries = [d.entries[4], d.entries[3], d.entries[0], d.entries[1]]  # Mamba, DPO, LLM, LLM
    summary = "Mamba·SSM 1 · DPO·정렬 1 · LLM 2 · 4편 선정"
    html, text = render_html(d), render_text(d)
    assert re.search(r'<p class="summary"[^>]*>' + re.escape(summary) + "</p>", html)
    assert text.splitlines()[1] == summary
    assert subject(d).endswith("· Mamba·SSM 1 · DPO·정렬 1 · LLM 2")
    sections = [h.strip() for h in re.findall(r'<h2 class="topic"[^>]*>([^<]+)<', html)]
    assert sections == ["Mamba·SSM", "DPO·정렬", "LLM"]


def test_the_preheader_names_the_top_item():
    d = fixed_digest()
    preheader = re.search(r'<div class="preheader"[^>]*>(.*?)</div>', render_html(d), re.S)
    assert preheader
    shown = preheader.group(1).split("\u034f")[0]  # then invisible padding
    assert shown == "Contextual Drag: How Errors in the Context Affect LLM Reasoning 외 4편"
    d.entries, d.notices = [], ["오늘은 관심 주제에 해당하는 새 글이 없습니다."]
    preheader = re.search(r'<div class="preheader"[^>]*>(.*?)</div>', render_html(d), re.S)
    assert preheader and preheader.group(1).startswith("오늘은 관심 주제에 해당하는 새 글이 없습니다.")


def test_no_text_is_smaller_than_13px_and_both_palettes_are_declared():
    html = render_html(fixed_digest())
    sizes = [int(px) for px in re.findall(r"font-size: (\d+)px", html)]
    assert sizes and min(sizes) >= 13
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "@media (prefers-color-scheme: dark)" in html  # kept in <style>, overriding with !important


def test_header_and_footer_report_counts_sources_and_llm_cost():
    html, text = render_html(fixed_digest()), render_text(fixed_digest())
    for body in (html, text):
        assert "LLM 2 · 멀티모달 1 · DPO·정렬 1 · Mamba·SSM 1 · 5편 선정" in body
        assert "gpt-4o-mini 2회 호출(입력 4,800 · 출력 1,000 토큰)" in body
        assert "확인한 소스: arXiv 목록 412 · Hugging Face 36 · 블로그 Lil'Log 3" in body.replace(
            "&#39;", "'"
        )
        assert "가져오지 못한 소스: 블로그 OpenAI News (HTTP 503)" in body
        assert "arXiv 검색" not in body  # disabled, so not "checked"


def test_hostile_feed_text_is_escaped_and_javascript_urls_dropped():
    d = fixed_digest()
    html = render_html(d)
    items = html_items(html)
    assert items.tags.isdisjoint({"script", "img", "iframe", "object"})
    assert not [a for a in items.attrs if a.startswith("on")]  # no event-handler attributes
    assert all(h.startswith(("https://", "http://")) for h in items.hrefs)
    assert "javascript:" not in html and "javascript:" not in render_text(d)
    assert one_line(HOSTILE_TITLE) in items.titles  # shown as text, in full
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;태그&lt;/b&gt;" in html


def test_email_needs_no_javascript_or_remote_resources_and_has_inlined_css():
    html = render_html(fixed_digest())
    items = html_items(html)
    assert items.tags.isdisjoint({"script", "img", "link", "iframe", "object", "video", "audio"})
    assert items.attrs.isdisjoint({"src", "srcset", "background"})
    assert re.search(r'<p class="takeaway" style="[^"]*font-size: 15px', html)
    assert "Apple SD Gothic Neo" in html and "Malgun Gothic" in html and "Noto Sans KR" in html
    assert "@media only screen and (max-width: 480px)" in html  # kept for clients that read <style>
    assert "overflow-wrap: anywhere" in html and "max-width: 600px" in html


def test_no_line_exceeds_the_smtp_limit():
    d = fixed_digest()
    huge = "W" * 5000  # one unbreakable 5,000-character title and URL
    d.entries.append(entry("2510.09999", huge, "가" * 3000, ("llm",), url="https://example.org/" + huge))
    raw = wire(make_message(d))
    assert max(len(line) for line in render_html(d).splitlines()) > 998  # the body itself has long lines
    longest = max(len(line) for line in raw.split(b"\r\n"))
    assert longest <= 998, longest
    assert huge in parse(raw).get_body(("html",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "render"), [("email.html", render_html), ("email.txt", render_text)])
def test_golden(name, render):
    """Regenerate with DIGEST_UPDATE_GOLDEN=1 and read the diff by eye."""
    got = render(fixed_digest())
    path = GOLDEN / name
    if os.environ.get("DIGEST_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run with DIGEST_UPDATE_GOLDEN=1"
    assert got == path.read_text(encoding="utf-8")
    assert LONG_TITLE in got


@pytest.mark.parametrize(
    "subject",
    [
        "[데일리 트렌드 · 샘플] 2026-02-05 (목) · LLM 7 · 멀티모달 3 · DPO·정렬 2 · Mamba·SSM 2",
        "[데일리 트렌드] 2026-02-05 (목) · LLM 3",
        "plain ascii subject",
    ],
)
def test_long_korean_subject_decodes_exactly_with_its_spaces(subject):
    msg = build_message(
        subject=subject,
        text="본문",
        html="<p>본문</p>",
        sender="digest@example.com",
        recipient="me@example.com",
        message_id="<x@example.com>",
        sent_at=datetime(2026, 2, 5, 10, 30, tzinfo=ZoneInfo("Asia/Seoul")),
    )
    raw = msg.as_bytes()
    assert raw.isascii()
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))
    assert str(message_from_bytes(raw, policy=policy.default)["Subject"]) == subject
