"""The benchmark's upstreams: one arXiv day at any scale, built from the shipped corpus, served on loopback.

What is served, and from what (everything is real public data from ``benchmarks/data``, see
benchmarks/corpus.py and benchmarks/data/SOURCES.md; only ids and blog dates are rewritten):

- the arXiv RSS listing (rss.arxiv.org format) with ``papers`` entries: the corpus's five days of real
  papers (2026-02-05 first, so that day is always whole), repeated under fresh ids until there are
  enough; papers older than the previous month are announced as ``cross``, as arXiv does. A repeat
  speaks a vocabulary of its own (:func:`vocabulary_rounds`), so a 10,000-paper day has about as many
  distinct phrases as real papers would have, not the corpus's 1,678 papers' phrases over again;
- the arXiv API (export.arxiv.org/api/query Atom): the listing's papers that contain one of the default
  topics' keywords, newest first, paged by ``start`` and ``max_results`` as the real API pages;
- Hugging Face daily papers for the day and the day before (the corpus's files for 2026-02-05 and
  2026-02-04, their ids mapped to the scaled listing, or to yesterday's ids for the day before);
- ``feeds`` research blog feeds, the corpus's seven feeds in turn, each with its own links and its dates
  shifted so that the first few feeds have a post within the 48-hour window (as a real morning has);
- an OpenAI-compatible chat server (``tests/llmserver.py``) answering every item with a valid Korean line.

Every upstream answers after ``latency`` seconds (the LLM after its own latency), sends an ETag where
the real one does, and answers 304 to a matching If-None-Match, so a second run sees what it would see.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the repository's tests/ helpers are imported from here
    sys.path.insert(0, str(ROOT))
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))

import benchdata as shipped  # noqa: E402

from digest.config import DEFAULT_TOPICS  # noqa: E402
from digest.text import one_line  # noqa: E402
from digest.trend.phrases import is_breaker  # noqa: E402
from tests.feedserver import FeedServer, Reply  # noqa: E402
from tests.fixtures.sources.build import (  # noqa: E402
    build_arxiv_api_atom,
    build_arxiv_rss,
    guess_cross_ids,
)
from tests.llmserver import LLMServer, answer, korean_line, request_items  # noqa: E402
from tests.llmserver import Reply as LLMReply  # noqa: E402

CORPUS = shipped.DATA
DAY = date(2026, 2, 5)
# 2026-02-05 first: it is the day the corpus labels in full, and at every scale it is served whole.
CORPUS_DAYS = ("2026-02-05", "2026-02-04", "2026-02-06", "2026-01-16", "2026-01-19")
CORPUS_FEEDS = (
    "lilianweng",
    "openai-research",
    "anthropic-news",
    "google-ai",
    "meta-ai",
    "mistral",
    "the-batch",
)
TODAY_FIRST_ID = 30000  # fresh ids 2602.30000 … for the scaled day, 2602.10000 … for the day before
YESTERDAY_FIRST_ID = 10000

LISTING_PATH = "/rss/cs.CL+cs.LG+cs.CV+cs.AI"
API_PATH = "/api/query"
HF_PATH = "/api/daily_papers"
BLOG_PATH = "/feed.xml"


@dataclass
class ScaledDay:
    """One day's upstream content."""

    day: date
    papers: list[dict[str, Any]]  # the listing's records (fresh ids)
    listing: bytes
    hf: dict[date, bytes]
    api_matches: list[dict[str, Any]]  # what the API search finds, newest first
    blogs: list[tuple[str, bytes]]  # (feed name, body)
    full_text: dict[str, str] = field(default_factory=dict)  # one-line title → the full abstract / post text


def corpus_records(corpus: Path) -> list[dict[str, Any]]:
    """The corpus's papers, day by day (a smaller corpus, such as the test suite's, may lack some days)."""
    records: list[dict[str, Any]] = []
    for day in CORPUS_DAYS:
        records += shipped.arxiv_records(corpus, day)
    if not records:
        raise FileNotFoundError(f"no arXiv papers in {corpus / 'arxiv'}")
    return records


_WORD = re.compile(r"\b[a-z]{3,}\b")
# A repeat's authors are the original's with a suffix of the round: a real day has few first authors
# with several papers (3 % of the corpus's papers), not every author six times over.
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")


def vocabulary_rounds(pool: list[dict[str, Any]]) -> Callable[[int], Callable[[str], str]]:
    """For repeat round ``r`` (1, 2, ...), a function that renames a text's words in that round's vocabulary.

    A round permutes the corpus's lower-case phrase words (digest/trend/phrases.py's, less the default topics'
    keyword words) among themselves, the same way in every paper of the round: each round is the corpus
    again with the structure of its sentences, its topic keywords and its word frequencies (so its papers
    share phrases as real papers do), but with phrases of its own. Measured on the corpus: distinct
    phrases grow with the number of papers to the power 0.94 (1,678 papers: 74,973 phrases); a 10,000-paper
    day made this way has 423,314 (Heaps' law from the corpus: about 400,000), where plain repeats
    had the same 74,973.
    """
    kept = {w.lower() for t in DEFAULT_TOPICS.values() for k in t.keywords for w in re.findall(r"\w+", k)}
    words = sorted(
        {w for r in pool for text in (r["title"], r["summary"]) for w in _WORD.findall(text)} - kept
    )
    words = [w for w in words if not is_breaker(w)]
    cache: dict[int, Callable[[str], str]] = {}

    def rounds(r: int) -> Callable[[str], str]:
        if r not in cache:
            shuffled = list(words)
            random.Random(r).shuffle(shuffled)
            mapping = dict(zip(words, shuffled, strict=True))
            cache[r] = lambda text: _WORD.sub(lambda m: mapping.get(m.group(), m.group()), text)
        return cache[r]

    return rounds


def repeated(
    original: dict[str, Any], r: int, rounds: Callable[[int], Callable[[str], str]]
) -> dict[str, Any]:
    """``original``'s title, abstract and authors as its repeat in round ``r`` (1, 2, ...) has them."""
    rename = rounds(r)
    return {
        "title": rename(original["title"]),
        "summary": rename(original["summary"]),
        "authors": [f"{a} {_ROMAN[r % len(_ROMAN)]}" for a in original["authors"]],
    }


def anchor(day: date, tz: str = "Asia/Seoul") -> datetime:
    """The end of ``day`` in the reader's timezone: where a run for a past day ends its windows."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo(tz))


def build_day(corpus: Path, papers: int, feeds: int, day: date = DAY) -> ScaledDay:
    pool = corpus_records(corpus)
    cross_origin = set(guess_cross_ids(pool, day))
    records: list[dict[str, Any]] = []
    fresh_of: dict[str, str] = {}  # original id → its first fresh id in the listing
    rounds = vocabulary_rounds(pool)
    for n in range(papers):
        original = pool[n % len(pool)]
        fresh = dict(original, id=f"{day:%y%m}.{TODAY_FIRST_ID + n:05d}", origin=original["id"])
        if n >= len(pool):  # a repeat: the same paper in the vocabulary of its round, by other people
            fresh.update(repeated(original, n // len(pool), rounds))
        fresh_of.setdefault(original["id"], fresh["id"])
        records.append(fresh)
    cross = [r["id"] for r in records if r["origin"] in cross_origin]
    listing = build_arxiv_rss(records, day, cross_ids=cross).encode()

    yesterday = day - timedelta(days=1)
    hf = {
        day: _hf_day(shipped.hf_text(corpus, f"{day}"), fresh_of, day, TODAY_FIRST_ID + papers),
        yesterday: _hf_day(shipped.hf_text(corpus, f"{yesterday}"), {}, day, YESTERDAY_FIRST_ID),
    }
    available = [text for n in CORPUS_FEEDS if (text := shipped.blog_text(corpus, n)) is not None]
    blogs = [
        (f"Blog {k + 1:02d}", _blog(available[k % len(available)], k, day))
        for k in range(feeds if available else 0)
    ]
    full_text = {one_line(r["title"]): one_line(r["summary"]) for r in records}
    return ScaledDay(day, records, listing, hf, api_matches(records), blogs, full_text)


def _hf_day(text: str | None, fresh_of: dict[str, str], day: date, first_free: int) -> bytes:
    """A Hugging Face day with its ids mapped: to the listing's copy, else to a fresh id of its own."""
    entries = json.loads(text) if text is not None else []
    for n, entry in enumerate(entries):
        paper = entry["paper"]
        paper["id"] = fresh_of.get(paper["id"]) or f"{day:%y%m}.{first_free + n:05d}"
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode()


def keyword_pattern(keywords: Iterable[str]) -> re.Pattern[str]:
    """What arXiv's search engine matches for ``ti:"k" OR abs:"k"``: the words, in any case."""
    alternatives = sorted({re.escape(k.strip()) for k in keywords if k.strip()}, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(alternatives).replace(r"\ ", r"[\s-]+") + r")\b", re.IGNORECASE)


def api_matches(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pattern = keyword_pattern(k for t in DEFAULT_TOPICS.values() for k in t.keywords)
    found = [r for r in records if pattern.search(r["title"]) or pattern.search(r["summary"])]
    return found[::-1]  # sorted by submission date, newest first: the last ids first


_PUBDATE = re.compile(r"<pubDate>([^<]+)</pubDate>")
_LINK_HOST = re.compile(r"(<(?:link|guid)(?:\s[^>]*)?>\s*https?://[^/<\s]+)")


def _blog(text: str, k: int, day: date) -> bytes:
    """Feed ``k``: its own links, and dates moved so that its newest post is ``6 + 9k`` hours old."""
    stamps = [email.utils.parsedate_to_datetime(m.group(1)) for m in _PUBDATE.finditer(text)]
    if stamps:
        shift = anchor(day) - timedelta(hours=6 + 9 * k) - max(stamps)

        def moved(m: re.Match[str]) -> str:
            when = email.utils.parsedate_to_datetime(m.group(1)) + shift
            return f"<pubDate>{email.utils.format_datetime(when)}</pubDate>"

        text = _PUBDATE.sub(moved, text)
    text = _LINK_HOST.sub(rf"\1/blog{k + 1:02d}", text)
    return text.encode()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


class _Server(FeedServer):
    """One upstream host on its own loopback port, answering after ``latency`` seconds."""

    def __init__(self, latency: float) -> None:
        super().__init__()
        # socketserver listens with a backlog of 5: a run's simultaneous connections could overflow it,
        # and each dropped SYN costs the client a 1-second retransmission.
        self._httpd.socket.listen(256)
        self.latency = latency


class _ApiServer(_Server):
    """export.arxiv.org/api/query: the matching papers, newest first, paged by start and max_results."""

    def __init__(self, scaled: ScaledDay, latency: float) -> None:
        super().__init__(latency)
        self.scaled = scaled
        self._pages: dict[tuple[int, int], bytes] = {}

    def _pick(self, path: str, target: str, headers: dict[str, str]) -> Reply:
        if path != API_PATH:
            return super()._pick(path, target, headers)
        query = parse_qs(urlsplit(target).query)
        start = int(query.get("start", ["0"])[0])
        size = int(query.get("max_results", ["10"])[0])
        return Reply(200, self.page(start, size), {"Content-Type": "application/atom+xml"}, self.latency)

    def page(self, start: int, size: int) -> bytes:
        """One page of the API's answer, as export.arxiv.org pages it (totalResults is the whole set)."""
        key = (start, size)
        if key not in self._pages:
            matches = self.scaled.api_matches
            submitted = anchor(self.scaled.day) - timedelta(hours=20)
            page = build_arxiv_api_atom(matches[start : start + size], query="bench", submitted=submitted)
            page = _spread_times(page, submitted)  # minutes apart rather than an hour apiece
            page = page.replace(
                f"<opensearch:totalResults>{len(matches[start : start + size])}<",
                f"<opensearch:totalResults>{len(matches)}<",
            ).replace("<opensearch:startIndex>0<", f"<opensearch:startIndex>{start}<")
            self._pages[key] = page.encode()
        return self._pages[key]


class Upstreams:
    """Every upstream but the LLM, each on its own port (its own host, as on the internet, where a run's
    two dozen sources are two dozen servers)."""

    def __init__(self, scaled: ScaledDay, latency: float) -> None:
        self.scaled = scaled
        rss, js = "application/rss+xml", "application/json"
        self.listing = _Server(latency)
        etag = _etag(scaled.listing)
        self.listing.serve(LISTING_PATH, scaled.listing, content_type=rss, etag=etag, delay=latency)
        self.api = _ApiServer(scaled, latency)
        self.hf = _Server(latency)
        for d, body in scaled.hf.items():
            self.hf.serve(f"{HF_PATH}?date={d}", body, content_type=js, etag=_etag(body), delay=latency)
        self.blogs = []
        for _, body in scaled.blogs:
            server = _Server(latency)
            server.serve(BLOG_PATH, body, content_type=rss, etag=_etag(body), delay=latency)
            self.blogs.append(server)
        self.servers: dict[str, list[_Server]] = {
            "arXiv listing": [self.listing],
            "arXiv API": [self.api],
            "Hugging Face": [self.hf],
            "blogs": self.blogs,
        }

    def start(self) -> None:
        for group in self.servers.values():
            for server in group:
                server.start()

    def stop(self) -> None:
        for group in self.servers.values():
            for server in group:
                server.stop()

    # -- where things are ------------------------------------------------------------------------

    @property
    def rss_url(self) -> str:
        return self.listing.url("/rss/")

    @property
    def listing_url(self) -> str:
        return self.listing.url(LISTING_PATH)

    @property
    def api_url(self) -> str:
        return self.api.url(API_PATH)

    @property
    def hf_url(self) -> str:
        return self.hf.url(HF_PATH)

    def blog_url(self, n: int) -> str:
        return self.blogs[n].url(BLOG_PATH)

    # -- what they saw -------------------------------------------------------------------------------

    def mark(self) -> dict[str, list[int]]:
        """Where each server's request log stands now, for :meth:`counts`."""
        return {name: [len(s.requests()) for s in group] for name, group in self.servers.items()}

    def counts(self, since: dict[str, list[int]] | None = None) -> dict[str, Counter[int]]:
        """HTTP requests per upstream since ``since`` (a :meth:`mark`): status → how many."""
        out: dict[str, Counter[int]] = {}
        for name, group in self.servers.items():
            out[name] = Counter()
            for n, server in enumerate(group):
                start = since[name][n] if since else 0
                out[name].update(seen.status for seen in server.requests()[start:])
        return out


_STAMP = re.compile(r"(<(updated|published)>)(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)(</\2>)")


def _spread_times(page: str, submitted: datetime) -> str:
    count = Counter[str]()

    def respace(m: re.Match[str]) -> str:
        n = count[m.group(2)]
        count[m.group(2)] += 1
        when = submitted - timedelta(minutes=2 * n)
        return f"{m.group(1)}{when.strftime('%Y-%m-%dT%H:%M:%SZ')}{m.group(4)}"

    return _STAMP.sub(respace, page)


# -- the LLM ---------------------------------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """Tokens as OpenAI's tokenizers count this mix, roughly: ~4 ASCII characters or one Hangul syllable
    (or other non-ASCII character) per token. Used for our run and the naive way alike."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


def message_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(str(m.get("content") or "")) + 4 for m in messages) + 2


@dataclass(frozen=True)
class LLMCall:
    items: int  # takeaway items asked for (0: another kind of request, e.g. a paragraph)
    prompt_tokens: int
    completion_tokens: int


class BenchLLM(LLMServer):
    """The OpenAI-compatible fake (tests/llmserver.py's answers) after ``latency`` s, with estimated usage,
    keeping a ledger of what each request asked for and cost."""

    def __init__(self, latency: float) -> None:
        super().__init__()
        self._httpd.socket.listen(256)
        self.ledger: list[LLMCall] = []
        write = answer(korean_line, delay=latency)

        def reply(body: dict[str, Any]) -> LLMReply:
            out = write(body)
            content = out.body["choices"][0]["message"]["content"] or ""
            prompt, done = message_tokens(body.get("messages", [])), estimate_tokens(content)
            out.body["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": done,
                "total_tokens": prompt + done,
            }
            with self._lock:
                self.ledger.append(LLMCall(len(request_items(body)), prompt, done))
            return out

        self.default = reply
