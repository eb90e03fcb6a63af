"""The sources stage: pure parsing from fixtures, then collect() against a loopback feed server."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

import arxiv
import pytest

from digest._compat import UTC
from digest.config import HTTP, Arxiv, Config, Feed, HuggingFace, Selection, Topic
from digest.errors import SourceError
from digest.http import FAST_BACKOFF, Fetcher, make_http_client
from digest.models import Item, SourceReport, SourceStatus
from digest.progress import Progress
from digest.sources import arxiv_listing, collect
from digest.sources.arxiv_listing import fingerprint, judge_listing, kept, parse_listing
from digest.sources.arxiv_search import (
    MAX_QUERIES,
    MAX_QUERY_URL_CHARS,
    build_queries,
    cached_items,
    keywords,
)
from digest.sources.blogs import canonical_url, parse_blog_feed
from digest.sources.common import html_to_text
from digest.sources.huggingface import parse_daily_papers
from digest.state import Listing, State
from digest.text import truncate
from tests import feedserver
from tests.feedserver import FeedServer, Reply
from tests.fixtures.sources.build import CROSS_IDS, build_arxiv_api_atom, build_arxiv_rss, read_records

feed_server = feedserver.feed_server  # the fixture (an assignment, so ruff sees no redefinition)

FIX = Path(__file__).parent / "fixtures" / "sources"
DAY = date(2026, 2, 5)  # Thursday: the fixture listing's date
NOW = datetime(2026, 2, 5, 10, 30, tzinfo=UTC)
LISTING = FIX / "arxiv-listing-2026-02-05.xml"
LISTING_PATH = "/rss/cs.CL+cs.LG+cs.CV+cs.AI"
RECORDS = read_records(FIX / "arxiv-records-2026-02-05.jsonl")
REPLACE_IDS = [r["id"] for r in RECORDS[-4:]]
BLOG_NOW = datetime(2026, 7, 6, 12, 0, tzinfo=UTC)


# -- helpers --------------------------------------------------------------------------------


def make_config(server: FeedServer, tmp_path: Path, **changes: object) -> Config:
    base: dict[str, object] = {
        "state_dir": str(tmp_path / "state"),
        "arxiv": Arxiv(
            rss_url=server.url("/rss/"), api_url=server.url("/api/query"), search=False
        ),
        "huggingface": HuggingFace(url=server.url("/api/daily_papers")),
        "feeds": [],
        "http": HTTP(timeout_seconds=2.0, retries=1),
    }
    base.update(changes)
    return Config(**base)  # type: ignore[arg-type]


def run_collect(
    config: Config,
    day: date,
    *,
    now: datetime = NOW,
    arxiv_client: arxiv.Client | None = None,
) -> tuple[list[Item], dict[str, SourceReport], str, Fetcher]:
    stream = io.StringIO()

    async def go() -> tuple[list[Item], list[SourceReport], Fetcher]:
        async with make_http_client(config.http) as client:
            with State.open(config.state_path) as state:
                fetcher = Fetcher(client, state=state, config=config.http, backoff=FAST_BACKOFF)
                items, reports = await collect(
                    config,
                    day,
                    fetcher=fetcher,
                    state=state,
                    progress=Progress(stream, live=False),
                    arxiv_client=arxiv_client,
                    now=now,
                )
                return items, reports, fetcher

    items, reports, fetcher = asyncio.run(go())
    return items, {r.name: r for r in reports}, stream.getvalue(), fetcher


def loopback_arxiv_client(delay: float = 0.0) -> arxiv.Client:
    return arxiv.Client(page_size=100, delay_seconds=delay, num_retries=0)


# -- the arXiv listing: parsing -------------------------------------------------------------


def test_parse_rss_listing_extracts_ids_versions_and_clean_abstracts() -> None:
    parsed = parse_listing(LISTING.read_bytes(), url="u")
    assert len(parsed.items) == 40 and not parsed.malformed
    assert parsed.feed_date == DAY
    by_id = {i.arxiv_id: i for i in parsed.items}
    first = by_id["2602.04271"]
    record = RECORDS[0]
    assert first.key == "arxiv:2602.04271" and first.version == 1 and first.announce_type == "new"
    assert first.summary == " ".join(record["summary"].split())
    assert not first.summary.startswith("arXiv:")
    assert first.categories == tuple(record["categories"])
    assert first.authors == tuple(record["authors"])
    assert first.url == "https://arxiv.org/abs/2602.04271"
    assert first.published == datetime(2026, 2, 5, 5, 0, tzinfo=UTC)
    assert {by_id[i].announce_type for i in CROSS_IDS} == {"cross"}
    assert {(by_id[i].announce_type, by_id[i].version) for i in REPLACE_IDS} == {("replace", 2)}


def test_replacements_are_dropped_unless_asked_for() -> None:
    parsed = parse_listing(LISTING.read_bytes(), url="u")
    assert len(kept(parsed.items, include_replacements=False)) == 36
    assert len(kept(parsed.items, include_replacements=True)) == 40


def test_titles_and_abstracts_lose_control_characters_and_extra_whitespace() -> None:
    record = dict(
        RECORDS[0], title="A  title\n   over\x07 two lines\u202e", summary="Line one.\n  Line\x00 two."
    )
    parsed = parse_listing(build_arxiv_rss([record], DAY).encode(), url="u")
    assert parsed.items[0].title == "A title over two lines"
    assert parsed.items[0].summary == "Line one. Line two."


def test_parse_truncated_atom_listing_recovers_complete_entries() -> None:
    parsed = parse_listing((FIX / "arxiv-atom-cs.AI-2025-08-20-cut.xml").read_bytes(), url="u")
    assert parsed.malformed  # feedparser's bozo reason is kept for the log line
    assert len(parsed.items) == 6 and parsed.incomplete == 1
    assert parsed.feed_date == date(2025, 8, 20)
    first = parsed.items[0]
    assert (first.arxiv_id, first.version, first.announce_type) == ("2508.13167", 1, "new")
    assert first.categories == ("cs.AI", "cs.CL")
    assert first.summary.startswith("Recent advances in large language models")
    assert first.authors[:2] == ("Weizhen Li", "Jianbo Lin")


def _atom_listing() -> bytes:
    # The real Atom capture, cut at its last complete entry and closed: well-formed again.
    raw = (FIX / "arxiv-atom-cs.AI-2025-08-20-cut.xml").read_text(encoding="utf-8")
    return (raw[: raw.rindex("</entry>") + len("</entry>")] + "\n</feed>\n").encode()


@pytest.mark.parametrize("shape", ["rss", "atom", "empty", "odd"])
def test_streamed_listing_reads_exactly_as_feedparser_does(shape: str) -> None:
    odd = [
        dict(RECORDS[0], title="Tags &amp; <b>markup</b> stay text", summary="  <p>x &lt; y</p>\n and z  "),
        dict(RECORDS[1], authors=["Ana Li and Bo Chen", "C. Déjà"], categories=[]),
    ]
    body = {
        "rss": LISTING.read_bytes(),
        "atom": _atom_listing(),
        "empty": (FIX / "arxiv-listing-empty.xml").read_bytes(),
        "odd": build_arxiv_rss(odd, DAY, replace_ids=[RECORDS[1]["id"]]).encode(),
    }[shape]
    streamed = arxiv_listing._parse_stream(body)
    assert streamed is not None  # well-formed: read as a stream, not by feedparser
    assert streamed == arxiv_listing.parse_listing_tolerantly(body, url="u")
    assert streamed.feed_date is not None and (streamed.items or shape == "empty")


def test_listing_feedparser_must_repair_is_left_to_feedparser() -> None:
    cut = (FIX / "arxiv-atom-cs.AI-2025-08-20-cut.xml").read_bytes()
    assert arxiv_listing._parse_stream(cut) is None
    assert arxiv_listing._parse_stream(b"<html><body>502</body></html>") is None
    zone_less = LISTING.read_bytes().replace(b"00:00:00 -0500</pubDate>", b"00:00:00</pubDate>", 1)
    assert arxiv_listing._parse_stream(zone_less) is None  # feedparser's reading of it is its own


def test_malformed_listing_without_entries_is_an_error() -> None:
    with pytest.raises(SourceError, match=r"^arxiv-listing: malformed XML from http://x/: "):
        parse_listing((FIX / "malformed.xml").read_bytes(), url="http://x/")
    with pytest.raises(SourceError, match="malformed XML"):
        parse_listing(b"<html><body><h1>502 Bad Gateway</h1>", url="http://x/")


# -- the arXiv listing: is it today's? -------------------------------------------------------


def test_judge_weekend_with_empty_feed_is_no_announcement() -> None:
    empty = parse_listing((FIX / "arxiv-listing-empty.xml").read_bytes(), url="u")
    status, message = judge_listing(empty, date(2026, 2, 7), previous=None)
    assert status == SourceStatus.NO_ANNOUNCEMENT and "주말" in message


def test_judge_empty_feed_on_announcement_day_is_stale() -> None:
    empty = parse_listing((FIX / "arxiv-listing-empty.xml").read_bytes(), url="u")
    status, message = judge_listing(empty, date(2026, 2, 9), previous=None)
    assert status == SourceStatus.STALE
    assert "arXiv listing is empty on an announcement day" in message


def test_judge_empty_feed_before_the_announcement_says_it_is_too_early() -> None:
    empty = parse_listing((FIX / "arxiv-listing-empty.xml").read_bytes(), url="u")
    early = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)  # Monday 03:00 Eastern; Tuesday's is out Monday 20:00
    status, message = judge_listing(empty, date(2026, 2, 10), previous=None, now=early)
    assert status == SourceStatus.STALE and "later than this run" in message


def test_judge_listing_dated_another_day_is_stale() -> None:
    parsed = parse_listing(LISTING.read_bytes(), url="u")
    status, message = judge_listing(parsed, date(2026, 2, 6), previous=None)
    assert status == SourceStatus.STALE and message.startswith(
        "arXiv listing is dated 2026-02-05, not 2026-02-06"
    )


def test_judge_same_papers_as_the_previous_listing_is_stale() -> None:
    parsed = parse_listing(build_arxiv_rss(RECORDS, date(2026, 2, 6)).encode(), url="u")
    previous = Listing(DAY, fingerprint(parsed.ids), 40, "2026-02-05")
    status, message = judge_listing(parsed, date(2026, 2, 6), previous=previous)
    assert status == SourceStatus.STALE
    assert message == "arXiv listing has the same 40 papers as the listing for 2026-02-05"
    other = Listing(DAY, fingerprint(["2602.00001"]), 1, "2026-02-05")
    assert judge_listing(parsed, date(2026, 2, 6), previous=other)[0] == SourceStatus.OK


# -- Hugging Face, blogs: parsing -------------------------------------------------------------


def test_parse_daily_papers() -> None:
    parsed = parse_daily_papers((FIX / "hf-2026-02-05.json").read_bytes(), url="u")
    raw = json.loads((FIX / "hf-2026-02-05.json").read_bytes())
    assert len(parsed.items) == 10 and parsed.skipped == 0
    top = parsed.items[0]
    assert top.key == f"arxiv:{raw[0]['paper']['id']}" and top.source == "huggingface" and top.kind == "paper"
    assert top.upvotes == raw[0]["paper"]["upvotes"] and isinstance(top.upvotes, int)
    assert top.url == f"https://arxiv.org/abs/{raw[0]['paper']['id']}"
    assert top.authors[0] == raw[0]["paper"]["authors"][0]["name"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>rate limited</html>", "not valid JSON"),
        (b'{"error": "x"}', "a list was expected, got dict"),
        (b'[{"paper": {"title": "no id"}}, 3]', "none of 2 entries has a paper id"),
    ],
)
def test_parse_daily_papers_rejects_bad_bodies(body: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_daily_papers(body, url="u")


def test_parse_blog_feed_keeps_recent_posts_as_plain_text() -> None:
    feed = Feed(name="Lil'Log", url="https://blog.example/feed")
    parsed = parse_blog_feed(
        (FIX / "blog-lilianweng.xml").read_bytes(),
        feed=feed,
        url="u",
        now=BLOG_NOW,
        lookback=timedelta(days=7),
    )
    assert [i.title for i in parsed.items] == ["Harness Engineering for Self-Improvement"]
    assert parsed.old == 4
    post = parsed.items[0]
    assert post.key == "url:https://lilianweng.github.io/posts/2026-07-04-harness"
    assert post.source == "blog:Lil'Log" and post.kind == "post" and post.feed_name == "Lil'Log"
    assert "<" not in post.summary and "&ldquo;" not in post.summary
    assert "recursive self-improvement (RSI)" in post.summary
    assert 200 < len(post.summary) <= 1000


def test_blog_entries_without_a_date_are_skipped_and_counted() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>b</title>
    <item><title>Dated</title><link>https://b.example/1</link>
    <pubDate>Sun, 05 Jul 2026 00:00:00 +0000</pubDate>
    <description>See https://arxiv.org/abs/2602.04271v2 for details</description></item>
    <item><title>Undated</title><link>https://b.example/2</link></item></channel></rss>"""
    parsed = parse_blog_feed(
        body,
        feed=Feed(name="b", url="https://blog.example/feed"),
        url="u",
        now=BLOG_NOW,
        lookback=timedelta(days=2),
    )
    assert [i.title for i in parsed.items] == ["Dated"] and parsed.undated == 1
    assert parsed.items[0].arxiv_id == "2602.04271"


def test_malformed_blog_feed() -> None:
    feed = Feed(name="Mistral", url="https://blog.example/feed")
    with pytest.raises(SourceError, match=r"^blog:Mistral: malformed XML from u: "):
        parse_blog_feed(
            (FIX / "malformed.xml").read_bytes(),
            feed=feed,
            url="u",
            now=BLOG_NOW,
            lookback=timedelta(days=90),
        )
    recovered = parse_blog_feed(
        (FIX / "blog-mistral-truncated.xml").read_bytes(),
        feed=feed,
        url="u",
        now=BLOG_NOW,
        lookback=timedelta(days=90),
    )
    assert recovered.malformed and [i.title for i in recovered.items] == [
        "Emmi joins Mistral to accelerate the AI-native industry"
    ]


def test_canonical_url() -> None:
    assert canonical_url("HTTPS://Example.COM:443/Blog/Post/?utm_source=rss&id=3&utm_medium=x#comments") == (
        "https://example.com/Blog/Post?id=3"
    )
    assert canonical_url("http://example.com") == "http://example.com/"
    assert canonical_url("http://example.com:8080/a/") == "http://example.com:8080/a"


def test_html_to_text_and_truncate() -> None:
    assert html_to_text("<p>A &amp; B</p><script>alert(1)</script><p>C</p>") == "A & B C"
    assert truncate("one two three four", 10) == "one two…"
    assert truncate("short", 10) == "short"


# -- arXiv API search: queries ------------------------------------------------------------


def test_build_queries_combines_keywords_and_window() -> None:
    start, end = datetime(2026, 2, 3, 10, 30, tzinfo=UTC), datetime(2026, 2, 5, 10, 30, tzinfo=UTC)
    queries, left_out = build_queries(["DPO", "state space model"], ["cs.CL", "cs.LG"], start, end)
    assert left_out == 0
    assert queries == [
        '(ti:"DPO" OR abs:"DPO" OR ti:"state space model" OR abs:"state space model")'
        " AND (cat:cs.CL OR cat:cs.LG) AND submittedDate:[202602031030 TO 202602051030]"
    ]


def test_build_queries_splits_long_keyword_lists_and_caps_the_count() -> None:
    start, end = datetime(2026, 2, 3, tzinfo=UTC), datetime(2026, 2, 5, tzinfo=UTC)
    terms = [f"keyword number {n} with a long phrase" for n in range(300)]
    queries, left_out = build_queries(terms, ["cs.CL"], start, end)
    assert len(queries) == MAX_QUERIES
    assert all(len(urlencode({"search_query": q})) <= MAX_QUERY_URL_CHARS for q in queries)
    assert left_out > 0
    assert left_out + sum(q.count("ti:") for q in queries) == 300


def test_the_default_topics_are_one_search_query() -> None:
    start, end = datetime(2026, 2, 3, tzinfo=UTC), datetime(2026, 2, 5, tzinfo=UTC)
    queries, left_out = build_queries(keywords(Config()), Config().arxiv.categories, start, end)
    assert len(queries) == 1 and left_out == 0


def test_search_keywords_leave_out_what_a_shorter_keyword_finds_anyway() -> None:
    topics = {
        "a": Topic(label="A", keywords=["large language model", "LLM", "language model", "Language-Model"]),
        "b": Topic(label="B", keywords=["state-space model", "state space model", "SSM", "modeling"]),
    }
    kept = ["LLM", "language model", "state-space model", "SSM", "modeling"]
    assert keywords(Config(topics=topics)) == kept


# -- collect() against the loopback server ---------------------------------------------------


def serve_all(server: FeedServer) -> None:
    server.serve(LISTING_PATH, LISTING, content_type="application/rss+xml", etag='"listing-0205"')
    server.serve(
        "/api/daily_papers?date=2026-02-05", FIX / "hf-2026-02-05.json", content_type="application/json"
    )
    server.serve("/blog/lil.xml", FIX / "blog-lilianweng.xml", etag='"lil"')
    server.serve("/blog/openai.xml", FIX / "blog-openai-research.xml")
    server.serve("/api/query", FIX / "arxiv-api-2026-02-05.xml", content_type="application/atom+xml")


def blog_feeds(server: FeedServer) -> list[Feed]:
    return [
        Feed(name="Lil'Log", url=server.url("/blog/lil.xml")),
        Feed(name="OpenAI Research", url=server.url("/blog/openai.xml")),
        Feed(name="Off", url=server.url("/blog/off.xml"), enabled=False),
    ]


def test_collect_happy_path_every_source(feed_server: FeedServer, tmp_path: Path) -> None:
    serve_all(feed_server)
    config = make_config(
        feed_server,
        tmp_path,
        arxiv=Arxiv(
            rss_url=feed_server.url("/rss/"), api_url=feed_server.url("/api/query")
        ),
        feeds=blog_feeds(feed_server),
        selection=Selection(lookback_hours=24 * 14),
    )
    items, reports, log, _ = run_collect(config, DAY, now=BLOG_NOW, arxiv_client=loopback_arxiv_client())

    # Blogs look back from ``now``; the listing and HF are keyed by ``day``.
    assert reports["arxiv-listing"].status == SourceStatus.OK and reports["arxiv-listing"].items == 36
    assert reports["huggingface"].status == SourceStatus.OK and reports["huggingface"].items == 10
    assert reports["arxiv-search"].status == SourceStatus.OK and reports["arxiv-search"].items == 3
    assert reports["blog:Lil'Log"].status == SourceStatus.OK and reports["blog:Lil'Log"].items == 2
    assert reports["blog:OpenAI Research"].status == SourceStatus.OK
    assert reports["blog:Off"].status == SourceStatus.DISABLED
    assert reports["arxiv-listing"].requests == 1 and reports["huggingface"].requests == 2
    assert {i.source for i in items} >= {"arxiv-listing", "huggingface", "arxiv-search", "blog:Lil'Log"}
    assert "arxiv-listing: 36 items (new 31, cross 5; 4 replacements skipped), " in log
    assert "huggingface: 10 items" in log
    assert log.count("\n") == len(reports) - 1  # one line per source; the disabled blog stays quiet
    with State.open(config.state_path) as state:
        recorded = state.listing_for(DAY)
    assert recorded is not None and recorded.count == 40 and recorded.feed_date == "2026-02-05"


def test_second_run_gets_304_and_the_same_items(feed_server: FeedServer, tmp_path: Path) -> None:
    serve_all(feed_server)
    config = make_config(feed_server, tmp_path)
    first, _, _, _ = run_collect(config, DAY)
    second, reports, log, _ = run_collect(config, DAY)
    listing = reports["arxiv-listing"]
    assert listing.status == SourceStatus.NOT_MODIFIED
    assert [i for i in second if i.source == "arxiv-listing"] == [
        i for i in first if i.source == "arxiv-listing"
    ]
    seen = feed_server.requests(LISTING_PATH)
    assert seen[1].headers.get("if-none-match") == '"listing-0205"' and seen[1].status == 304
    assert "not modified, from the stored copy" in log


def test_304_on_a_new_day_is_still_checked_for_staleness(feed_server: FeedServer, tmp_path: Path) -> None:
    serve_all(feed_server)
    config = make_config(feed_server, tmp_path)
    run_collect(config, DAY)
    _, reports, log, _ = run_collect(config, date(2026, 2, 6), now=NOW + timedelta(days=1))
    assert feed_server.requests(LISTING_PATH)[-1].status == 304
    listing = reports["arxiv-listing"]
    assert listing.status == SourceStatus.STALE and listing.items == 0
    assert "arXiv listing is dated 2026-02-05, not 2026-02-06" in listing.error
    assert "arxiv-listing: stale — " in log


def test_listing_with_the_same_ids_as_the_previous_day_is_stale(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    config = make_config(feed_server, tmp_path)
    feed_server.serve(LISTING_PATH, LISTING)
    run_collect(config, DAY)
    # Same papers, but relabelled with the next day's date: only the fingerprint gives it away.
    feed_server.serve(LISTING_PATH, build_arxiv_rss(RECORDS, date(2026, 2, 6)))
    _, reports, _, _ = run_collect(config, date(2026, 2, 6), now=NOW + timedelta(days=1))
    assert reports["arxiv-listing"].status == SourceStatus.STALE
    assert "same 40 papers as the listing for 2026-02-05" in reports["arxiv-listing"].error
    with State.open(config.state_path) as state:
        assert state.listing_for(date(2026, 2, 6)) is None


def test_weekend_is_no_announcement_not_an_error(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.serve(LISTING_PATH, FIX / "arxiv-listing-empty.xml")
    config = make_config(feed_server, tmp_path, huggingface=HuggingFace(enabled=False))
    items, reports, log, _ = run_collect(config, date(2026, 2, 7))
    listing = reports["arxiv-listing"]
    assert listing.status == SourceStatus.NO_ANNOUNCEMENT and not listing.status.is_failure
    assert listing.error == "" and items == []
    assert "arxiv-listing: no arXiv announcement for 2026-02-07 (주말)" in log


def test_empty_feed_on_a_weekday_is_an_error(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.serve(LISTING_PATH, FIX / "arxiv-listing-empty.xml")
    config = make_config(feed_server, tmp_path, huggingface=HuggingFace(enabled=False))
    _, reports, _, _ = run_collect(config, date(2026, 2, 9), now=datetime(2026, 2, 9, 3, 0, tzinfo=UTC))
    listing = reports["arxiv-listing"]
    assert listing.status.is_failure
    assert "arXiv listing is empty on an announcement day (2026-02-09)" in listing.error


def test_malformed_listing_fails_that_source_only(feed_server: FeedServer, tmp_path: Path) -> None:
    serve_all(feed_server)
    feed_server.serve(LISTING_PATH, FIX / "malformed.xml")
    config = make_config(feed_server, tmp_path)
    items, reports, log, _ = run_collect(config, DAY)
    listing = reports["arxiv-listing"]
    assert listing.status == SourceStatus.FAILED
    assert listing.error.startswith(f"malformed XML from {feed_server.url(LISTING_PATH)}: ")
    assert reports["huggingface"].status == SourceStatus.OK and len(items) == 10
    # A warning (shown under -q too), said once, and not claiming what the run's end alone can know.
    url = feed_server.url(LISTING_PATH)
    assert log.count(f"warning: arxiv-listing: failed — malformed XML from {url}") == 1
    assert "still ships" not in log


def test_truncated_atom_listing_is_used_and_noted(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.serve(LISTING_PATH, FIX / "arxiv-atom-cs.AI-2025-08-20-cut.xml")
    config = make_config(feed_server, tmp_path, huggingface=HuggingFace(enabled=False))
    items, reports, log, _ = run_collect(
        config, date(2025, 8, 20), now=datetime(2025, 8, 20, 3, 0, tzinfo=UTC)
    )
    assert reports["arxiv-listing"].status == SourceStatus.OK and len(items) == 6
    assert "recovered from malformed XML" in log and "1 incomplete entries dropped" in log


def test_429_then_200_is_retried_within_a_run(feed_server: FeedServer, tmp_path: Path) -> None:
    serve_all(feed_server)
    feed_server.script(LISTING_PATH, Reply(429, b"", {"Retry-After": "1"}))
    config = make_config(feed_server, tmp_path)
    _, reports, _, _ = run_collect(config, DAY)
    assert reports["arxiv-listing"].status == SourceStatus.OK
    assert reports["arxiv-listing"].requests == 2
    assert [s.status for s in feed_server.requests(LISTING_PATH)] == [429, 200]


def test_one_blog_503_while_the_other_succeeds(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.serve("/blog/lil.xml", b"unavailable", status=503)
    feed_server.serve("/blog/openai.xml", FIX / "blog-openai-research.xml")
    config = make_config(
        feed_server,
        tmp_path,
        arxiv=Arxiv(enabled=False),
        huggingface=HuggingFace(enabled=False),
        feeds=blog_feeds(feed_server)[:2],
        selection=Selection(lookback_hours=24 * 14),
    )
    items, reports, log, _ = run_collect(config, DAY, now=BLOG_NOW)
    failed = reports["blog:Lil'Log"]
    url = feed_server.url("/blog/lil.xml")
    assert failed.status == SourceStatus.FAILED and failed.error == f"HTTP 503 from {url} (after 2 attempts)"
    assert failed.requests == 2
    assert (
        f"warning: blog:Lil'Log: failed — HTTP 503 from {url} (after 2 attempts)\n"
        in log
    )
    ok = reports["blog:OpenAI Research"]
    assert ok.status == SourceStatus.OK and ok.items == len(items) == 1
    assert items[0].key == "url:https://openai.com/index/introducing-genebench-pro"
    assert reports["arxiv-listing"].status == SourceStatus.DISABLED


def test_malformed_blog_feed_fails_that_blog(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.serve("/blog/lil.xml", FIX / "malformed.xml")
    config = make_config(
        feed_server,
        tmp_path,
        arxiv=Arxiv(enabled=False),
        huggingface=HuggingFace(enabled=False),
        feeds=blog_feeds(feed_server)[:1],
    )
    _, reports, _, _ = run_collect(config, DAY, now=BLOG_NOW)
    assert reports["blog:Lil'Log"].status == SourceStatus.FAILED
    assert reports["blog:Lil'Log"].error.startswith("malformed XML from http://127.0.0.1")


def test_huggingface_bad_json_fails(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.serve("/api/daily_papers", b"<html>oops</html>", content_type="text/html")
    config = make_config(feed_server, tmp_path, arxiv=Arxiv(enabled=False))
    items, reports, _, _ = run_collect(config, DAY)
    hf = reports["huggingface"]
    assert hf.status == SourceStatus.FAILED and items == []
    assert "not valid JSON from http://127.0.0.1" in hf.error and "date=2026-02-05" in hf.error


def test_huggingface_missing_day_is_fine_and_days_merge(feed_server: FeedServer, tmp_path: Path) -> None:
    raw = json.loads((FIX / "hf-2026-02-05.json").read_bytes())
    feed_server.serve("/api/daily_papers?date=2026-02-05", json.dumps(raw[:4]))
    feed_server.serve("/api/daily_papers?date=2026-02-04", json.dumps(raw[2:7]))
    config = make_config(feed_server, tmp_path, arxiv=Arxiv(enabled=False))
    items, reports, _, _ = run_collect(config, DAY)
    assert reports["huggingface"].status == SourceStatus.OK and len(items) == 7  # 2 papers on both days
    feed_server.serve("/api/daily_papers?date=2026-02-04", b"gone", status=404)
    items, reports, _, _ = run_collect(config, DAY)
    assert (
        reports["huggingface"].status == SourceStatus.OK
        and len(items) == 4
        and reports["huggingface"].error == ""
    )


def test_huggingface_carries_the_repository_the_authors_linked(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    papers = json.loads((FIX / "hf-2026-02-05.json").read_bytes())[:3]
    papers[0]["paper"]["githubRepo"] = "https://github.com/ishaqadenali/logit-linear-selection"
    papers[1]["paper"]["githubRepo"] = None  # what the API sends for a paper without one
    papers[2]["paper"]["githubRepo"] = "https://github.com/a/b\u202e<script>"  # cleaned, checked when shown
    feed_server.serve(f"/api/daily_papers?date={DAY}", json.dumps(papers).encode())
    feed_server.serve(f"/api/daily_papers?date={DAY - timedelta(days=1)}", b"[]")
    config = make_config(feed_server, tmp_path, arxiv=Arxiv(enabled=False))
    items, reports, _, _ = run_collect(config, DAY)
    assert reports["huggingface"].status == SourceStatus.OK
    assert [i.repository for i in items] == [
        "https://github.com/ishaqadenali/logit-linear-selection",
        "",
        "https://github.com/a/b<script>",
    ]


def test_oversize_body_fails_the_source(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.serve("/api/daily_papers", FIX / "hf-2026-02-05.json")
    config = make_config(
        feed_server, tmp_path, arxiv=Arxiv(enabled=False), http=HTTP(max_bytes=2048, retries=0)
    )
    _, reports, _, _ = run_collect(config, DAY)
    assert reports["huggingface"].status == SourceStatus.FAILED
    assert "is larger than 2048 bytes" in reports["huggingface"].error


def test_arxiv_search_queries_the_loopback_api(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.serve("/api/query", FIX / "arxiv-api-2026-02-05.xml", content_type="application/atom+xml")
    topics = {"dpo": Topic(label="DPO", keywords=["DPO", "preference optimization"])}
    config = make_config(
        feed_server,
        tmp_path,
        topics=topics,
        arxiv=Arxiv(
            rss_url=feed_server.url("/rss/"), api_url=feed_server.url("/api/query"), api_max_results=50
        ),
        huggingface=HuggingFace(enabled=False),
    )
    client = loopback_arxiv_client()
    items, reports, _, _ = run_collect(config, DAY, arxiv_client=client)
    search = reports["arxiv-search"]
    assert search.status == SourceStatus.OK and search.items == 3 and search.requests == 1
    first = next(i for i in items if i.source == "arxiv-search")
    assert (first.arxiv_id, first.version, first.categories) == ("2602.04271", 1, ("cs.CV", "cs.AI", "cs.GR"))
    assert first.published == datetime(2026, 2, 4, 18, 0, tzinfo=UTC)
    # The arXiv comment is carried: it is where authors put "Code: https://github.com/...".
    comments = {i.arxiv_id: i.comment for i in items if i.source == "arxiv-search"}
    assert comments["2602.03878"] == (
        "A collection of relevant papers is summarized and will be continuously updated at "
        "\\url{https://github.com/tmllab/Awesome-3DGS-IP-Protection}"
    )
    query = parse_qs(feed_server.requests("/api/query")[0].query)
    assert query["sortBy"] == ["submittedDate"] and query["sortOrder"] == ["descending"]
    assert 'ti:"DPO" OR abs:"DPO" OR ti:"preference optimization"' in query["search_query"][0]
    assert "submittedDate:[202602031030 TO 202602051030]" in query["search_query"][0]
    assert client.query_url_format == feed_server.url("/api/query") + "?{}"


def _search_config(server: FeedServer, tmp_path: Path, **changes: object) -> Config:
    server.serve("/api/query", FIX / "arxiv-api-2026-02-05.xml", content_type="application/atom+xml")
    arxiv_cfg = Arxiv(rss_url=server.url("/rss/"), api_url=server.url("/api/query"), api_max_results=200)
    return make_config(server, tmp_path, arxiv=arxiv_cfg, huggingface=HuggingFace(enabled=False), **changes)


def test_arxiv_search_is_one_request_and_not_repeated_within_the_hour(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    config = _search_config(feed_server, tmp_path)
    # The shared client, as a run uses it: the whole result set in one page, so no 3 s wait for a second.
    items, reports, _, _ = run_collect(config, DAY)
    assert reports["arxiv-search"].status == SourceStatus.OK and reports["arxiv-search"].requests == 1
    assert parse_qs(feed_server.requests("/api/query")[0].query)["max_results"] == ["200"]

    def found(items: list[Item]) -> list[tuple[object, ...]]:
        searched = [i for i in items if i.source == "arxiv-search"]
        return sorted((i.key, i.version, i.published, i.categories) for i in searched)

    again, reports, log, _ = run_collect(config, DAY)
    assert feed_server.count("/api/query") == 1  # answered from the state
    assert reports["arxiv-search"].status == SourceStatus.OK and reports["arxiv-search"].requests == 0
    assert "not repeated within the hour" in log
    assert len(found(again)) == 3 and found(again) == found(items)


def test_arxiv_search_asks_again_after_the_hour_or_for_other_keywords(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    config = _search_config(feed_server, tmp_path)
    run_collect(config, DAY)
    with State.open(config.state_path) as state:
        stale = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
        state.conn.execute("update search_cache set fetched_at = ?", (stale,))
    run_collect(config, DAY)
    assert feed_server.count("/api/query") == 2

    topics = {"dpo": Topic(label="DPO", keywords=["DPO"])}
    run_collect(config.model_copy(update={"topics": topics}), DAY)
    assert feed_server.count("/api/query") == 3
    # A window that moved by more than the hour (a later run for another day) is not the same search.
    run_collect(config, DAY, now=NOW + timedelta(hours=3))
    assert feed_server.count("/api/query") == 4


def test_a_search_from_before_the_announcement_is_not_reused_after_it(tmp_path: Path) -> None:
    eastern = ZoneInfo("America/New_York")
    before = datetime(2026, 2, 4, 19, 50, tzinfo=eastern)  # Wednesday: arXiv announces at 20:00 Eastern
    end = before.astimezone(UTC)
    with State.open(tmp_path) as state:
        state.store_search("k", end - timedelta(hours=48), end, b"[]", before)
        assert cached_items(state, "k", end, before + timedelta(minutes=9)) == ([], before)
        assert cached_items(state, "k", end, before + timedelta(minutes=20)) is None  # announced at 20:00
        saturday = datetime(2026, 2, 7, 19, 50, tzinfo=eastern)  # no announcement on Saturday evening
        state.store_search("k", end - timedelta(hours=48), end, b"[]", saturday)
        assert cached_items(state, "k", end, saturday + timedelta(minutes=20)) == ([], saturday)


def test_arxiv_search_failure_is_isolated(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.serve("/api/query", b"busy", status=503)
    feed_server.serve(LISTING_PATH, LISTING)
    config = make_config(
        feed_server,
        tmp_path,
        arxiv=Arxiv(rss_url=feed_server.url("/rss/"), api_url=feed_server.url("/api/query")),
        huggingface=HuggingFace(enabled=False),
    )
    items, reports, log, _ = run_collect(config, DAY, arxiv_client=loopback_arxiv_client())
    assert reports["arxiv-search"].status == SourceStatus.FAILED
    assert (
        "arXiv API search failed" in reports["arxiv-search"].error and "503" in reports["arxiv-search"].error
    )
    assert reports["arxiv-listing"].status == SourceStatus.OK and len(items) == 36
    assert "arxiv-search: failed — " in log


def test_api_fixture_is_what_the_builder_makes() -> None:
    # The committed fixture stays reproducible from the records (see build.py).
    rebuilt = build_arxiv_api_atom(
        RECORDS[:3], query="fixture", submitted=datetime(2026, 2, 4, 18, 0, tzinfo=UTC)
    )
    assert (FIX / "arxiv-api-2026-02-05.xml").read_text(encoding="utf-8") == rebuilt


def test_an_unreadably_long_version_drops_its_entry_not_the_listing() -> None:
    """int() refuses 5,000 digits (ValueError): the guid's version is read as too large, and the edge
    drops that entry alone."""
    from digest.sources.limits import admit_all

    long_version = b"oai:arXiv.org:2602.03900v" + b"9" * 5000 + b"<"
    body = LISTING.read_bytes().replace(b"oai:arXiv.org:2602.03900v1<", long_version)
    for parse in (parse_listing, arxiv_listing.parse_listing_tolerantly):
        parsed = parse(body, url="x")
        assert len(parsed.items) == 40
        kept_items, problem = admit_all(parsed.items)
        assert [i.arxiv_id for i in parsed.items if i not in kept_items] == ["2602.03900"]
        reason = "arxiv:2602.03900: version 10**20 or more out of range"
        assert problem == f"1 entry with a bad value dropped ({reason})"


@pytest.mark.parametrize("upvotes", [-1, 2**63, 10**7])
def test_huggingface_upvotes_no_paper_has_drop_that_entry(
    feed_server: FeedServer, tmp_path: Path, upvotes: int
) -> None:
    papers = json.loads((FIX / "hf-2026-02-05.json").read_text(encoding="utf-8"))
    papers[1]["paper"]["upvotes"] = upvotes
    feed_server.serve(
        "/api/daily_papers?date=2026-02-05", json.dumps(papers).encode(), content_type="application/json"
    )
    feed_server.serve("/api/daily_papers?date=2026-02-04", b"[]", content_type="application/json")
    config = make_config(feed_server, tmp_path, arxiv=Arxiv(enabled=False))
    items, reports, log, _ = run_collect(config, DAY)
    assert len(items) == 9 and f"arxiv:{papers[1]['paper']['id']}" not in {i.key for i in items}
    assert reports["huggingface"].status == SourceStatus.OK
    assert f"upvotes {upvotes} out of range" in reports["huggingface"].error
    assert log.count("out of range") == 1


def test_the_edge_caps_text_with_an_ellipsis_and_keeps_what_fits() -> None:
    from digest.sources import limits

    item = Item(
        key="arxiv:2602.00001",
        source="huggingface",
        kind="paper",
        title="A " * 200_000,
        url="https://arxiv.org/abs/2602.00001",
        summary="word " * 100_000,
        authors=tuple(f"Name{i} " + "x" * 500 for i in range(5_000)),
        categories=("cs.CL",) * 100,
        version=3,
        upvotes=12,
    )
    capped, problem = limits.admit(item)
    assert capped is not None and not problem
    assert len(capped.title) <= limits.MAX_TITLE_CHARS and capped.title.endswith("…")
    assert len(capped.summary) <= limits.MAX_SUMMARY_CHARS and capped.summary.endswith("…")
    assert len(capped.authors) == limits.MAX_AUTHORS
    assert all(len(a) <= limits.MAX_AUTHOR_CHARS and a.endswith("…") for a in capped.authors)
    assert len(capped.categories) == limits.MAX_CATEGORIES
    assert (capped.version, capped.upvotes, capped.url) == (3, 12, item.url)
    normal = Item(key="k", source="s", kind="paper", title="A title", url="https://x.org/a", authors=("A B",))
    assert limits.admit(normal) == (normal, "")


def test_a_failing_feed_with_a_token_in_its_url_is_reported_without_it(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """A source's error line goes to stderr and into the digest's footer: its URL's secrets do not."""
    feed_server.serve("/private.xml", b"gone", status=500)
    feed = Feed(name="Private", url=feed_server.url("/private.xml?token=FEEDTOKEN&page=2"))
    off = {"arxiv": Arxiv(enabled=False), "huggingface": HuggingFace(enabled=False)}
    config = make_config(feed_server, tmp_path, feeds=[feed], **off)
    _, reports, log, _ = run_collect(config, DAY, now=BLOG_NOW)
    report = reports["blog:Private"]
    assert report.status == SourceStatus.FAILED and "HTTP 500" in report.error
    assert "token=***&page=2" in report.error
    assert "FEEDTOKEN" not in report.error and "FEEDTOKEN" not in log
