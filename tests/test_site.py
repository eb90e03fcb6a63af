"""``digest site``: the static web archive from a real state (SQLite day statistics, archived posts), checked
by reading its files (every internal link resolves, the chart's numbers are the state's, gaps are gaps)
and in headless Chromium (no console errors, the search works from file://, screenshots at 375 and 1280
px, light and dark, in tests/artifacts/ to be looked at)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Config, Topic
from digest.delivery.feed import archive_post
from digest.delivery.post import daily_post, weekly_post
from digest.models import DayStats, DayStatus
from digest.site import build_site
from digest.state import State

from .digests import HOSTILE_TITLE, TOPICS, entry, fixed_digest, fixed_week
from .test_browser import ARTIFACTS, DARK, chromium, run_chromium

FIRST = date(2026, 1, 19)  # a Monday: three weeks of weekdays up to 2026-02-06
HOLIDAY = date(2026, 1, 22)  # no announcement
MISSING = date(2026, 2, 2)  # the listing could not be fetched


def weekdays() -> list[date]:
    return [d for d in (FIRST + timedelta(days=i) for i in range(19)) if d.weekday() < 5]


def make_state(tmp_path: Path) -> Config:
    topics = {t.key: Topic(label=t.label, keywords=[t.key]) for t in TOPICS}
    config = Config(state_dir=str(tmp_path / "state"), topics=topics)
    with State.open(config.state_path) as state:
        for i, d in enumerate(weekdays()):
            if d == HOLIDAY:
                stats = DayStats(d, DayStatus.NO_ANNOUNCEMENT, origin="listing")
            elif d == MISSING:
                stats = DayStats(d, DayStatus.MISSING, origin="listing", note="fetch failed")
            else:
                counts = {"llm": 120 + i, "multimodal": 40 + 2 * i, "dpo": 10 + i % 3, "mamba": 3 + i % 4}
                stats = DayStats(d, DayStatus.ANNOUNCED, origin="listing", pool=400 + 5 * i, topics=counts)
            state.record_day_stats(stats)
        d = fixed_digest()
        evil = entry("2510.07777", HOSTILE_TITLE, "<b>x</b> & y", ("llm",))
        day = dataclasses.replace(d, day=date(2026, 2, 5), entries=[evil, *d.entries])
        archive_post(state.archive_dir, daily_post(day))
        archive_post(state.archive_dir, daily_post(dataclasses.replace(d, day=date(2026, 2, 6))))
        archive_post(state.archive_dir, weekly_post(fixed_week()))
    return config


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(str(a[key]))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_every_page_and_internal_link_is_there(tmp_path):
    config = make_state(tmp_path)
    out = tmp_path / "site"
    written = build_site(config, out)
    names = sorted(str(p.relative_to(out)) for p in written)
    assert names == sorted([
        "d/2026-02-05.html", "d/2026-02-06.html", "w/2026-W06.html", "trends.html", "index.html",
        "search-index.js", "feed.xml",
    ])  # fmt: skip
    for page in out.rglob("*.html"):
        parsed = parse(page)
        for link in parsed.links:
            if link.startswith(("https://", "http://")):
                continue
            target = (page.parent / link.split("?")[0].split("#")[0]).resolve()
            assert target.is_file(), f"{page.relative_to(out)} → {link}"
        # nothing from elsewhere: no external script, stylesheet or image
        for tag, attrs in parsed.tags:
            if tag in ("script", "img", "link") and (attrs.get("src") or attrs.get("href") or "").startswith(
                "http"
            ):
                raise AssertionError(f"{page.name} loads {attrs}")
    day = (out / "d" / "2026-02-05.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in day and "<script>alert" not in day
    assert "\\u003cscript" in (out / "search-index.js").read_text(encoding="utf-8")


def test_the_chart_is_the_states_numbers_with_gaps_for_days_without_them(tmp_path):
    config = make_state(tmp_path)
    build_site(config, tmp_path / "site")
    page = parse(tmp_path / "site" / "trends.html")
    with State.open(config.state_path) as state:
        stored = {s.day: s for s in state.day_stats(FIRST, date(2026, 2, 6))}
    current = None
    points: dict[str, dict[str, tuple[int, int]]] = {}
    paths: dict[str, int] = {}
    for tag, a in page.tags:
        if tag == "g" and a.get("data-topic"):
            current = str(a["data-topic"])
            points[current], paths[current] = {}, 0
        elif tag == "circle" and current:
            points[current][str(a["data-day"])] = (int(str(a["data-count"])), int(str(a["data-pool"])))
        elif tag == "path" and current:
            paths[current] += 1
    assert set(points) == {"llm", "multimodal", "dpo", "mamba"}
    for key, by_day in points.items():
        expected = {
            d.isoformat(): (s.topics[key], s.pool)
            for d, s in stored.items()
            if s.status == DayStatus.ANNOUNCED
        }
        assert by_day == expected  # the state's numbers, day by day
        assert HOLIDAY.isoformat() not in by_day and MISSING.isoformat() not in by_day  # gaps, not zeros
        assert paths[key] == 3  # the line breaks at the holiday and at the missing day
    text = (tmp_path / "site" / "trends.html").read_text(encoding="utf-8")
    assert f"<tr><td>{MISSING}</td><td>–</td>" in text  # the table says "–", never 0


def test_the_chart_has_round_grid_lines_up_to_the_highest_share(tmp_path):
    config = make_state(tmp_path)
    build_site(config, tmp_path / "site")
    text = (tmp_path / "site" / "trends.html").read_text(encoding="utf-8")
    labels = re.findall(r'<text class="axis grid"[^>]*>([^<]*)</text>', text)
    assert labels == ["10%", "20%", "30%"]  # the highest share is LLM's 120 of 400 on the first day
    grid_y = [float(y) for y in re.findall(r'<line x1="\d+" y1="([\d.]+)"', text)]
    drawn_y = [float(y) for d in re.findall(r'<path d="([^"]+)"', text) for y in re.findall(r",([\d.]+)", d)]
    assert min(grid_y) <= min(drawn_y) and max(drawn_y) <= max(grid_y)  # every line between 0% and the top


def test_a_page_shows_the_trend_as_the_emails_table_and_an_older_post_its_lines(tmp_path):
    config = make_state(tmp_path)
    out = tmp_path / "site"
    build_site(config, out)
    page = (out / "w" / "2026-W06.html").read_text(encoding="utf-8")
    week = weekly_post(fixed_week())
    assert week.trend_table is not None and '<table class="trend">' in page and "<pre>" not in page
    for row in week.trend_table.rows:
        assert f'<th scope="row">{row.label}</th><td>{row.count}</td>' in page
        assert f'<td class="spark">{row.spark}</td>' in page
    assert '<span class="up">▲</span> +41%' in page

    # A post archived before the table was: its JSON has only the text lines, and the page shows them.
    path = config.state_path / "archive" / f"{week.stem}.post.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["trend_table"]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    build_site(config, out)
    page = (out / "w" / "2026-W06.html").read_text(encoding="utf-8")
    assert '<table class="trend">' not in page and f"<pre>{week.trend_lines[0]}" in page


@pytest.fixture
def browser() -> str:
    binary = chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium fonts-noto-cjk)")
    return binary


def test_the_site_in_chromium_search_console_and_screenshots(browser, tmp_path):
    config = make_state(tmp_path)
    out = tmp_path / "site"
    build_site(config, out)
    logging = ("--enable-logging=stderr", "--v=0", "--allow-file-access-from-files")
    # The search works without a server: ?q= fills the box and lists the matching items.
    dumped = run_chromium(browser, tmp_path / "p", *logging, "--window-size=375,900", "--dump-dom",
                          (out / "index.html").as_uri() + "?q=ring%20scan")  # fmt: skip
    results = re.search(r'<ul id="results">(.*?)</ul>', dumped.stdout, re.S)
    assert results, dumped.stderr[-2000:]
    found = re.findall(r"<li>(.*?)</li>", results.group(1), re.S)
    assert len(found) == 3 and all("Partial Ring Scan" in li for li in found)  # two days and the week
    # Tall enough for the whole of each page at 375 px (a digest's footer, the trends page's terms).
    pages = {"index": "index.html", "search": "index.html?q=ring%20scan", "trends": "trends.html",
             "d-2026-02-05": "d/2026-02-05.html", "w-2026-W06": "w/2026-W06.html"}  # fmt: skip
    for name, page in pages.items():
        for width in (375, 1280):
            for scheme, flags in (("light", ()), ("dark", DARK)):
                shot = ARTIFACTS / f"site-{name}-{width}-{scheme}.png"
                shot.parent.mkdir(parents=True, exist_ok=True)
                shot.unlink(missing_ok=True)
                window = f"--window-size={width},{1400 if name in ('index', 'search') else 2600}"
                url = out.as_uri() + "/" + page
                run = run_chromium(browser, tmp_path / "p", *logging, *flags, window, f"--screenshot={shot}",
                                   url)  # fmt: skip
                assert shot.is_file() and shot.stat().st_size > 5_000, run.stderr[-2000:]
                errors = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
                assert errors == [], f"{page}: {errors}"


def test_cli_site_prints_the_index_url(tmp_path):
    config = make_state(tmp_path)
    toml = tmp_path / "digest.toml"
    toml.write_text(f'state_dir = "{config.state_dir}"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["site", "--config", str(toml), "--out", str(tmp_path / "public")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (tmp_path / "public" / "index.html").resolve().as_uri()
