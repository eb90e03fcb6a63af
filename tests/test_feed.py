"""archive/feed.xml: valid Atom read back by a real XML parser and by feedparser, stable ids, updated
times that move only when a digest changes, and hostile text that stays text."""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import feedparser

from digest.delivery.feed import archive_post, build_feed
from digest.delivery.post import daily_post, weekly_post
from digest.models import Digest

from .digests import HOSTILE_TITLE, entry, fixed_digest, fixed_week

A = "{http://www.w3.org/2005/Atom}"


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def hostile_day() -> Digest:
    d = fixed_digest()
    evil = entry("2510.07777", HOSTILE_TITLE + " ]]> </content></entry>", "<b>x</b> & y", ("llm",))
    return dataclasses.replace(d, entries=[evil, *d.entries])


def archive(tmp_path: Path) -> Path:
    directory = tmp_path / "archive"
    archive_post(directory, daily_post(hostile_day()))
    return archive_post(directory, weekly_post(fixed_week()))


def test_the_feed_is_valid_atom(tmp_path):
    path = archive(tmp_path)
    root = ET.parse(path).getroot()
    assert root.tag == f"{A}feed"
    for name in ("id", "title", "updated", "author"):
        assert root.find(f"{A}{name}") is not None, name
    entries = root.findall(f"{A}entry")
    assert len(entries) == 2
    for e in entries:
        assert e.findtext(f"{A}id", "").startswith("tag:digest,")
        datetime.fromisoformat(e.findtext(f"{A}updated", "").replace("Z", "+00:00"))  # RFC 3339
        content = e.find(f"{A}content")
        assert content is not None and content.get("type") == "html" and content.text

    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    titles = [e.title for e in parsed.entries]
    assert titles == ["주간 정리 — 2026-02-02 (월) ~ 02-06 (금)", "데일리 트렌드 — 2025-10-14 (화)"]
    ids = [e.id for e in parsed.entries]
    assert ids == ["tag:digest,2026-02-02:week/2026-W06", "tag:digest,2025-10-14:daily"]
    week = parsed.entries[0].content[0].value
    assert "이번 주 흐름" in week and "멀티모달" in week and "▲" in week  # the trend lines
    assert "test-time scaling" in week


def test_hostile_titles_stay_text(tmp_path):
    path = archive(tmp_path)
    root = ET.parse(path).getroot()
    daily = next(e for e in root.findall(f"{A}entry") if e.findtext(f"{A}id", "").endswith(":daily"))
    html = daily.findtext(f"{A}content", "")
    tags = Tags()
    tags.feed(html)
    assert "script" not in tags.tags and "img" not in tags.tags
    assert set(tags.tags) <= {"p", "em", "h3", "ul", "li", "strong", "a", "br", "small", "pre", "code"}
    assert HOSTILE_TITLE + " ]]> </content></entry>" in "".join(tags.text)  # shown as written
    assert "<b>x</b> & y" in "".join(tags.text)


def test_ids_are_stable_and_updated_moves_only_when_a_digest_changes(tmp_path):
    directory = tmp_path / "archive"
    archive_post(directory, daily_post(fixed_digest()))
    post_file = directory / "2025-10-14.post.json"
    os.utime(post_file, (1_700_000_000, 1_700_000_000))  # written long ago

    archive_post(directory, daily_post(fixed_digest()))  # a re-run that changes nothing
    same = feedparser.parse(build_feed(directory)).entries[0]
    assert same.id == "tag:digest,2025-10-14:daily" and same.updated == "2023-11-14T22:13:20Z"

    changed = dataclasses.replace(fixed_digest(), notices=["LLM이 돌아와 요약을 다시 썼습니다."])
    archive_post(directory, daily_post(changed))
    again = feedparser.parse(build_feed(directory)).entries[0]
    assert again.id == same.id and again.updated != same.updated
    assert "LLM이 돌아와" in again.content[0].value


def test_samples_and_damaged_posts_stay_out(tmp_path):
    directory = tmp_path / "archive"
    directory.mkdir()
    archive_post(directory, daily_post(dataclasses.replace(fixed_digest(), sample=True)))
    (directory / "2026-01-01.post.json").write_text("{not json", encoding="utf-8")
    parsed = feedparser.parse(build_feed(directory))
    assert not parsed.bozo and parsed.entries == []
