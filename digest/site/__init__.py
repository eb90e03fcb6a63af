"""``digest site``: a static web archive built from the archived posts and the state's day statistics.

    <out>/index.html             the days and weeks, newest first, and a search over titles and lines
    <out>/d/2026-02-05.html      one daily digest;  <out>/w/2026-W06.html  one weekly roundup
    <out>/trends.html            each topic's share of the day's arXiv papers as an inline SVG chart (a day
                                 without numbers is a gap in its line, never a zero) and the emerging terms
    <out>/search-index.js        the search's data (a script, so the search works from file:// too)
    <out>/feed.xml               the Atom feed (delivery/feed.py)

Static files only: no server, no tracking, nothing from a CDN (the CSS and the script are in the pages).
Every string from feeds or the LLM is autoescaped by Jinja; links are http(s) only (rendering.safe_url).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import jinja2

from ..config import Config
from ..delivery.feed import build_feed
from ..delivery.post import ChatPost, from_json
from ..models import DayStatus, iso_week
from ..resources import resource_dir
from ..state import State

CHART_DAYS = 90  # weekdays on the trends page: about four months


@dataclass(frozen=True)
class Point:
    day: date
    share: float | None  # None: no numbers that day (a gap, not a zero)
    count: int | None
    pool: int | None


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str
    points: tuple[Point, ...]
    paths: tuple[str, ...]  # SVG path data, one per run of days with numbers


COLORS = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d")
WIDTH, HEIGHT, PAD = 720, 260, 36


def page_name(post: ChatPost) -> str:
    return f"w/{iso_week(post.day)}.html" if post.weekly else f"d/{post.day.isoformat()}.html"


def load_posts(archive_dir: Path) -> list[ChatPost]:
    """Every readable archived post (not the samples), newest first."""
    posts = []
    for path in archive_dir.glob("*.post.json") if archive_dir.is_dir() else []:
        if path.name.startswith("sample-"):
            continue
        try:
            posts.append(from_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    posts.sort(key=lambda p: (p.day.toordinal() + (4 if p.weekly else 0), p.weekly), reverse=True)
    return posts


def weekdays(end: date, n: int) -> list[date]:
    days: list[date] = []
    d = end
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d -= timedelta(days=1)
    return days[::-1]


@dataclass(frozen=True)
class Tick:
    y: float  # in the chart's coordinates
    label: str  # "10%"


def _grid_step(share: float) -> float:
    """The round step (1%, 2%, 5%, …) that takes at most five grid lines up to ``share``."""
    return next((s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25) if share / s <= 5), 0.25)


def chart_top(highest: float) -> float:
    """The share at the chart's top: the highest share rounded up to a grid line, so none is drawn above."""
    highest = max(highest, 0.01)
    step = _grid_step(highest)
    return min(1.0, step * math.ceil(highest / step - 1e-9))


def ticks(top: float) -> tuple[Tick, ...]:
    """Horizontal grid lines at round shares up to ``top`` (from :func:`chart_top`): a line's level is read
    against them (the table below has the exact numbers)."""
    step = _grid_step(top)
    out, value = [], 0.0
    while value <= top + 1e-9:
        y = HEIGHT - PAD - (value / top) * (HEIGHT - 2 * PAD)
        out.append(Tick(round(y, 1), f"{value * 100:g}%"))
        value = round(value + step, 4)
    return tuple(out)


def trend_series(
    config: Config, state: State, end: date | None = None
) -> tuple[list[date], list[Series], tuple[Tick, ...]]:
    """Each topic's daily share over the last CHART_DAYS weekdays up to ``end`` (the last stored day), and
    the chart's grid lines."""
    first = state.first_stats_day()
    if first is None:
        return [], [], ()
    if end is None:
        row = state.conn.execute("select max(day) from day_stats").fetchone()
        end = date.fromisoformat(row[0])
    days = [d for d in weekdays(end, CHART_DAYS) if d >= first]
    stats = {s.day: s for s in state.day_stats(days[0], days[-1])} if days else {}
    top = max((max(s.topics.get(k, 0) / s.pool for k in config.topics) for s in stats.values()
               if s.status == DayStatus.ANNOUNCED and s.pool), default=0.0)  # fmt: skip
    top = chart_top(top)
    step = (WIDTH - 2 * PAD) / max(1, len(days) - 1)
    series = []
    for i, (key, topic) in enumerate(config.topics.items()):
        points = []
        for d in days:
            s = stats.get(d)
            if s is not None and s.status == DayStatus.ANNOUNCED and s.pool and key in s.topics:
                points.append(Point(d, s.topics[key] / s.pool, s.topics[key], s.pool))
            else:
                points.append(Point(d, None, None, s.pool if s else None))
        paths: list[str] = []
        run: list[str] = []
        for j, p in enumerate(points):
            if p.share is None:
                if run:
                    paths.append(" ".join(run))
                run = []
                continue
            x = PAD + j * step
            y = HEIGHT - PAD - (p.share / top) * (HEIGHT - 2 * PAD)
            run.append(f"{'M' if not run else 'L'}{x:.1f},{y:.1f}")
        if run:
            paths.append(" ".join(run))
        series.append(Series(key, topic.label, COLORS[i % len(COLORS)], tuple(points), tuple(paths)))
    return days, series, ticks(top)


def _environment() -> jinja2.Environment:
    templates = resource_dir("templates")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
    )
    css = (templates / "site.css").read_text(encoding="utf-8")
    env.globals.update(css=css, page_name=page_name, width=WIDTH, height=HEIGHT, pad=PAD)
    return env


def _term(text: str) -> str:
    """The phrase of a post's term line (``world model 9편 (처음 등장)`` → ``world model``)."""
    head = text.rsplit(" (", 1)[0]
    return head.rsplit(" ", 1)[0] if head.endswith("편") else head


def _label(post: ChatPost) -> str:
    """Which digest a search result is from, as the reader says it: ``2026-02-05``, ``주간 2026-W06``."""
    return f"주간 {iso_week(post.day)}" if post.weekly else post.day.isoformat()


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(text, bytes):
        tmp.write_bytes(text)
    else:
        tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_site(config: Config, out: Path) -> list[Path]:
    """Write the whole site into ``out``; returns the files written."""
    from ..delivery.feed import FALLBACK_MARK

    env = _environment()
    with State.open(config.state_path) as state:
        posts = load_posts(state.archive_dir)
        days, series, grid = trend_series(config, state)
        feed = build_feed(state.archive_dir)
    written: list[Path] = []

    def write(name: str, text: str | bytes) -> None:
        _write(out / name, text)
        written.append(out / name)

    for post in posts:
        html = env.get_template("site_digest.html.j2").render(
            post=post, title=post.title, root="../", fallback_mark=FALLBACK_MARK
        )
        write(page_name(post), html)
    seen: dict[str, list[tuple[str, str]]] = {}
    for post in sorted((p for p in posts if not p.weekly), key=lambda p: p.day):
        for t in post.terms:
            seen.setdefault(_term(t), []).append((post.day.isoformat(), page_name(post)))
    terms = sorted(seen.items(), key=lambda kv: kv[1][-1][0], reverse=True)[:60]
    trends = env.get_template("site_trends.html.j2")
    page = trends.render(
        title="주제별 추이 — 데일리 트렌드", root="", days=days, series=series, grid=grid, terms=terms
    )
    write("trends.html", page)
    index = [
        {"title": i.title, "line": i.line, "page": page_name(p), "label": _label(p)}
        for p in posts for s in p.sections for i in s.items
    ]  # fmt: skip
    # JSON inside a script: every "<" escaped, so no title can end the script element.
    data = json.dumps(index, ensure_ascii=False).replace("<", "\\u003c")
    write("search-index.js", f"window.DIGEST_INDEX = {data};\n")
    index_page = env.get_template("site_index.html.j2")
    write("index.html", index_page.render(title="데일리 트렌드 보관함", root="", posts=posts))
    write("feed.xml", feed)
    return written
