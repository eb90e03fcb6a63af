"""``archive/feed.xml``: an Atom feed (RFC 4287) of the daily digests and weekly roundups in the archive.

Rewritten on every run from the archived posts (``archive/*.post.json``, delivery/post.py), newest first:
any feed reader, Slack's RSS app or another tool can subscribe to the archive. Each entry is one digest
with its trend lines and items as HTML content; its id is a tag: URI made from the digest's date, so it
never changes, and its ``updated`` is when the digest last changed (a re-run that changes nothing keeps
it). The XML is written by ElementTree, which escapes every string, and the HTML inside is built with
every untrusted piece escaped and only http(s) links: a hostile title stays text at both levels.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

from .._compat import UTC
from ..models import iso_week
from .archive import write_file
from .post import FALLBACK_MARK, ChatItem, ChatPost, from_json, write_post

ATOM = "http://www.w3.org/2005/Atom"
FEED_NAME = "feed.xml"
MAX_ENTRIES = 60  # about three months of weekdays and their weeks
FEED_ID = "tag:digest,2026:feed"


def entry_id(post: ChatPost) -> str:
    """``tag:digest,2026-02-05:daily``, ``tag:digest,2026-02-02:week/2026-W06``: stable per digest."""
    if post.weekly:
        return f"tag:digest,{post.day.isoformat()}:week/{iso_week(post.day)}"
    return f"tag:digest,{post.day.isoformat()}:daily"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _a(text: str, url: str | None) -> str:
    return f'<a href="{_e(url)}">{_e(text)}</a>' if url else _e(text)


def _item_html(item: ChatItem) -> str:
    mark = f" <em>({FALLBACK_MARK})</em>" if item.fallback else ""
    meta = " · ".join(_a(m.text, m.url) for m in item.meta)
    return (
        f"<li><strong>{_a(item.title, item.url)}</strong><br>{_e(item.line)}{mark}"
        + (f"<br><small>{meta}</small>" if meta else "")
        + "</li>"
    )


def content_html(post: ChatPost) -> str:
    """The digest as the feed entry's HTML: notices, the trend block, the items by topic, the footer."""
    parts: list[str] = []
    if post.summary:
        parts.append(f"<p>{_e(post.summary)}</p>")
    parts += [f"<p><em>{_e(n)}</em></p>" for n in post.notices]
    if post.flow:
        parts.append(f"<h3>{_e(post.flow_label)}</h3><p>{_e(post.flow)}</p>")
    if post.trend_lines:
        parts.append("<pre>" + _e("\n".join(post.trend_lines)) + "</pre>")
    if post.terms:
        parts.append("<p>떠오르는 말: " + " · ".join(f"<code>{_e(t)}</code>" for t in post.terms) + "</p>")
    if post.trend_note:
        parts.append(f"<p><small>{_e(post.trend_note)}</small></p>")
    for section in post.sections:
        items = "".join(_item_html(i) for i in section.items)
        parts.append(f"<h3>{_e(section.label)}</h3><ul>{items}</ul>")
    if post.footer:
        parts.append(f"<p><small>{_e(post.footer)}</small></p>")
    return "\n".join(parts)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _archived(archive_dir: Path) -> list[tuple[ChatPost, datetime]]:
    """Every readable archived post (not the samples), newest digest first, with when it last changed."""
    found: list[tuple[ChatPost, datetime]] = []
    for path in archive_dir.glob("*.post.json"):
        if path.name.startswith("sample-"):
            continue
        try:
            post = from_json(path.read_text(encoding="utf-8"))
            changed = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged file loses its entry, not the feed
        found.append((post, changed))
    # A week sorts after its Friday's digest (it is written on Saturday): by its last day, weekly second.
    found.sort(key=lambda pc: (pc[0].day.toordinal() + (4 if pc[0].weekly else 0), pc[0].weekly))
    found.reverse()
    return found[:MAX_ENTRIES]


def build_feed(archive_dir: Path, *, title: str = "데일리 트렌드") -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "ko"})
    posts = _archived(archive_dir)
    ET.SubElement(feed, f"{{{ATOM}}}id").text = FEED_ID
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM}}}subtitle").text = "AI 논문 데일리 트렌드와 주간 정리"
    newest = max((changed for _, changed in posts), default=datetime(2026, 1, 1, tzinfo=UTC))
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _stamp(newest)
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "digest"
    ET.SubElement(feed, f"{{{ATOM}}}generator").text = "digest"
    for post, changed in posts:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = entry_id(post)
        ET.SubElement(entry, f"{{{ATOM}}}title").text = post.title
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _stamp(changed)
        ET.SubElement(entry, f"{{{ATOM}}}category", {"term": "weekly" if post.weekly else "daily"})
        if post.summary:
            ET.SubElement(entry, f"{{{ATOM}}}summary").text = post.summary
        ET.SubElement(entry, f"{{{ATOM}}}content", {"type": "html"}).text = content_html(post)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def write_feed(archive_dir: Path) -> Path:
    """Write ``archive/feed.xml`` atomically from the archived posts."""
    return write_file(archive_dir / FEED_NAME, build_feed(archive_dir).decode("utf-8"), what="the Atom feed")


def archive_post(archive_dir: Path, post: ChatPost) -> Path:
    """Archive a digest's post and rewrite the feed with it: what every run does after rendering."""
    write_post(archive_dir, post)
    return write_feed(archive_dir)
