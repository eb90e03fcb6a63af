"""Follow-ups on papers the reader logged: the watchlist, the acceptance matcher on real comments, the
지난 일지 논문 소식 block, said once, at most one batched arXiv API request and none on a quiet day."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner

from digest._compat import UTC
from digest.cli import cli
from digest.migrations import MIGRATIONS
from digest.models import PaperNews
from digest.reader import watch
from digest.reader.venues import acceptance
from digest.rendering.daily import render_html, render_markdown, render_text
from digest.state import DB_NAME, State
from tests import test_pipeline
from tests.digests import fixed_digest
from tests.feedserver import Reply, Seen
from tests.fixtures.sources.build import build_arxiv_api_atom, build_arxiv_rss, read_records

FIXTURES = Path(__file__).parent / "fixtures"
COMMENTS = FIXTURES / "watch" / "comments.jsonl"
RELEASE_DB = FIXTURES / "state" / "release-b56a1ec.sqlite3"

# The loopback servers and config of `digest now`'s end-to-end tests (tests/test_pipeline.py).
feed_server = test_pipeline.feed_server
llm_server = test_pipeline.llm_server
servers = test_pipeline.servers
LISTING = test_pipeline.LISTING
SOURCES = test_pipeline.SOURCES

REPLACED = "2602.04101"  # a `replace` entry (v2) in the real listing of 2026-02-05
REPLACED_TITLE = "Interfaze: The Future of AI is built on Task-Specific Small Models"
ON_HF = "2602.04118"  # on Hugging Face's list of 2026-02-05 ("Learning to Reason in 13 Parameters")
QUIET = "2602.04863"  # logged, but nothing new about it on either day
SUBMITTED = datetime(2026, 2, 3, tzinfo=UTC)
CODE = "[코드 공개(github.com/interfaze/interfaze)](https://github.com/interfaze/interfaze)"


# -- the acceptance matcher ------------------------------------------------------------------------


def test_the_acceptance_matcher_on_labelled_real_comments():
    """60 comments of real arXiv papers (tests/fixtures/watch/comments.jsonl: 40 that name a venue-like
    word, 20 that do not), labelled by hand before the matcher was run on them."""
    rows = [json.loads(line) for line in COMMENTS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 60
    found = [(r, acceptance(r["comment"])) for r in rows]
    tp = sum(1 for r, a in found if a and r["accepted"])
    fp = sum(1 for r, a in found if a and not r["accepted"])
    fn = sum(1 for r, a in found if not a and r["accepted"])
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.95 and recall >= 0.85, (precision, recall)
    named = sum(1 for r, a in found if a and r["accepted"] and r["venue"].lower() in a.venue.lower())
    assert named / tp >= 0.85, "the venue it names is the one the comment says"


@pytest.mark.parametrize(
    ("comment", "label"),
    [
        ("Accepted to ICLR 2026. Code: https://github.com/a/b", "ICLR 2026 채택"),
        ("accepted at ICLR 2026", "ICLR 2026 채택"),
        ("camera-ready version, ICML 2025", "ICML 2025 채택"),
        ("To appear in ICRA 2026", "ICRA 2026 채택"),
        ("NeurIPS 2025 (spotlight)", "NeurIPS 2025 채택(spotlight)"),
        ("Findings of EACL 2026", "EACL 2026 Findings 채택"),
        ("Accepted to the 40th AAAI Conference on Artificial Intelligence (AAAI-26)", "AAAI 2026 채택"),
        ("8 pages, accepted to AAAI'26 Machine Ethics Workshop", "AAAI 2026 워크숍 채택"),
        ("Accepted by IEEE Transactions on Image Processing", "IEEE Transactions on Image Processing 채택"),
        ("17 pages, 10 figures; ICLR 2026", "ICLR 2026 채택"),
        ("Submitted to NeurIPS 2025", None),
        ("Under review at ICLR 2026 Workshop TSALM", None),
        ("17 pages; cvpr2026 submission", None),
        ("This work has been submitted to the IEEE for possible publication", None),
        ("Preprint. 12 pages, 4 figures", None),
        ("a tip for 2026: chi-square tests", None),  # TIP and CHI only as printed
        ("", None),
    ],
)
def test_acceptance_says_the_venue_or_nothing(comment, label):
    found = acceptance(comment)
    assert (found.label if found else None) == label


# -- ids and the watchlist -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2601.01234", "2601.01234"),
        ("2601.01234v3", "2601.01234"),
        ("arXiv:2601.01234", "2601.01234"),
        ("https://arxiv.org/abs/2601.01234v2", "2601.01234"),
        ("https://arxiv.org/pdf/2601.01234v2.pdf", "2601.01234"),
        ("cs/0112017", "cs/0112017"),
        ("hep-th/9901001v2", "hep-th/9901001"),
        ("MATH.ag/0601001", "math.AG/0601001"),
    ],
)
def test_an_id_is_read_every_way_it_is_written_and_kept_without_its_version(text, expected):
    assert watch.parse_id(text) == expected


@pytest.mark.parametrize("text", ["2613.01234", "1234", "arxiv", "2601.012", "see 2601.01234", "cs/01"])
def test_a_bad_id_is_one_clear_line(text):
    with pytest.raises(ValueError) as e:
        watch.parse_id(text)
    assert "arXiv id" in str(e.value) and "\n" not in str(e.value)


def write_note(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_digest_watch_adds_lists_and_removes_and_says_a_bad_id_in_one_line(tmp_path):
    notes = tmp_path / "vault"
    write_note(notes, "2026-01-12.md", "# 2026-01-12\n\nflow matching: 2601.01234v2, arXiv:hep-th/9901001")
    config = tmp_path / "digest.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[reader]\nnotes = ["{notes}"]\n', "utf-8")
    cli_ = CliRunner()

    def digest(*args: str):
        return cli_.invoke(cli, ["watch", "--config", str(config), *args])

    added = digest("https://arxiv.org/abs/2602.00001v4")
    assert added.exit_code == 0 and added.stdout == "Watching 2602.00001.\n"
    listed = digest()
    assert listed.exit_code == 0, listed.output
    assert "Watching 3 papers:" in listed.stdout
    assert "2601.01234        내 글 2026-01-12" in listed.stdout
    assert "hep-th/9901001    내 글 2026-01-12" in listed.stdout  # old-style, logged as arXiv:…
    assert "2602.00001        digest watch (" in listed.stdout
    removed = digest("--remove", "2601.01234")
    assert removed.exit_code == 0 and "Not watching 2601.01234" in removed.stdout
    assert "  2601.01234 " not in digest().stdout  # a note still logs it: removed all the same
    bad = digest("2613.99999")
    assert bad.exit_code == 1
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("Error: '2613.99999' is not an arXiv id")


# -- the run: news said once, at most one request ---------------------------------------------------


class FakeLookup:
    """export.arxiv.org/api/query answering ``id_list`` with the records given (the comment included)."""

    def __init__(self, records: dict[str, dict]) -> None:
        self.records = records
        self.asked: list[list[str]] = []

    def __call__(self, seen: Seen) -> Reply:
        args = {k: v[0] for k, v in parse_qs(seen.query, keep_blank_values=True).items()}
        ids = [i for i in args.get("id_list", "").split(",") if i]
        self.asked.append(ids)
        found = [self.records[i] for i in ids if i in self.records]
        body = build_arxiv_api_atom(found, query="", submitted=SUBMITTED)
        return Reply(200, body.encode(), {"Content-Type": "application/atom+xml"})


def hf_with_code() -> bytes:
    papers = json.loads((SOURCES / "hf-2026-02-05.json").read_text(encoding="utf-8"))
    for e in papers:
        if e["paper"]["id"] == ON_HF:
            e["paper"]["githubRepo"] = "https://github.com/example/tiny-reasoner"
    return json.dumps(papers).encode()


@pytest.fixture
def watching(servers, tmp_path):
    feed, llm, config = servers
    notes = tmp_path / "vault"
    write_note(
        notes,
        "2026-01-12.md",
        f"# 2026-01-12\n\nInterfaze 읽음 (arXiv:{REPLACED}v1): context engineering이 핵심.\n"
        f"- 13 parameters로 reasoning? {ON_HF} 나중에 확인\n- {QUIET} subliminal effects\n",
    )
    feed.serve(
        f"/api/daily_papers?date={test_pipeline.DAY}", hf_with_code(), content_type="application/json"
    )
    record = {
        "id": REPLACED,
        "title": REPLACED_TITLE,
        "summary": "We present Interfaze.",
        "authors": ["Harsha Vardhan Khurdula"],
        "categories": ["cs.AI"],
        "comment": "Accepted to ICLR 2026. Code: https://github.com/interfaze/interfaze",
    }
    api = FakeLookup({REPLACED: record})
    feed.handle("/api/query", api)
    base = config.read_text(encoding="utf-8").replace("[arxiv]\n", "[arxiv]\nsearch = false\n")
    config.write_text(base + f'[reader]\nnotes = ["{notes}"]\n', encoding="utf-8")
    return feed, api, config


def block(markdown: str) -> list[str]:
    lines = markdown.splitlines()
    if "### 지난 일지 논문 소식" not in lines:
        return []
    at = lines.index("### 지난 일지 논문 소식")
    out = []
    for line in lines[at + 2 :]:
        if not line.startswith("- "):
            break
        out.append(line)
    return out


def run(config: Path, day: str):
    return CliRunner().invoke(cli, ["now", "--config", str(config), "--date", day])


def test_news_on_logged_papers_is_said_once_with_one_batched_request(watching, tmp_path):
    feed, api, config = watching
    first = run(config, "2026-02-05")
    assert first.exit_code == 0, first.output
    assert block(first.stdout) == [
        f"- [{REPLACED_TITLE}](https://arxiv.org/abs/{REPLACED}) — v2 공개 · "
        f"{CODE} · ICLR 2026 채택 "
        "(내 글 2026-01-12)",
        f"- [Learning to Reason in 13 Parameters](https://arxiv.org/abs/{ON_HF}) — "
        "[코드 공개(github.com/example/tiny-reasoner)](https://github.com/example/tiny-reasoner) "
        "(내 글 2026-01-12)",
    ]
    # One request, for the one replaced paper; Hugging Face's githubRepo needed none.
    assert api.asked == [[REPLACED]]
    assert "watch: 1 watched paper asked in 1 arXiv API request" in first.stderr
    # The note digest wrote holds the block; the email bodies too, hostile-free and escaped.
    archive = tmp_path / "state" / "archive"
    html = (archive / "2026-02-05.html").read_text(encoding="utf-8")
    assert "지난 일지 논문 소식" in html and 'href="https://github.com/interfaze/interfaze"' in html
    assert "지난 일지 논문 소식 (2편)" in (archive / "2026-02-05.txt").read_text(encoding="utf-8")
    post = json.loads((archive / "2026-02-05.post.json").read_text(encoding="utf-8"))  # channels, feed, site
    news = post["sections"][-1]
    assert news["label"] == "지난 일지 논문 소식" and [i["url"] for i in news["items"]] == [
        f"https://arxiv.org/abs/{REPLACED}",
        f"https://arxiv.org/abs/{ON_HF}",
    ]
    assert news["items"][0]["line"] == (
        "v2 공개 · 코드 공개(github.com/interfaze/interfaze) · ICLR 2026 채택 (내 글 2026-01-12)"
    )

    again = run(config, "2026-02-05")  # a re-run of the day is the same digest: the news again, no request
    assert again.exit_code == 0, again.output
    assert block(again.stdout) == block(first.stdout)
    assert api.asked == [[REPLACED]]

    # The next day: a listing with nothing watched in it, Hugging Face still naming the same repository.
    records = read_records(SOURCES / "arxiv-records-2026-02-05.jsonl")[:30]
    feed.serve(LISTING, build_arxiv_rss(records, date(2026, 2, 6)))
    feed.serve("/api/daily_papers?date=2026-02-06", b"[]", content_type="application/json")
    requests_before = feed.count("/api/query")
    quiet = run(config, "2026-02-06")
    assert quiet.exit_code == 0, quiet.output
    assert block(quiet.stdout) == [] and "지난 일지 논문 소식" not in quiet.stdout  # no empty heading
    assert feed.count("/api/query") == requests_before, "a day nothing watched changed costs no request"

    with sqlite3.connect(tmp_path / "state" / DB_NAME) as db:
        said = db.execute("select arxiv_id, kind, value, day from watch_news order by 1, 2").fetchall()
    assert said == [
        (REPLACED, "code", "https://github.com/interfaze/interfaze", "2026-02-05"),
        (REPLACED, "venue", "ICLR 2026", "2026-02-05"),
        (REPLACED, "version", "2", "2026-02-05"),
        (ON_HF, "code", "https://github.com/example/tiny-reasoner", "2026-02-05"),
    ]


def test_a_failed_lookup_is_one_warning_the_version_still_shown_and_asked_again_next_run(watching):
    feed, api, config = watching
    feed.script("/api/query", *[Reply(503, b"busy", {"Content-Type": "text/plain"})] * 3)  # and its retries
    first = run(config, "2026-02-05")
    assert first.exit_code == 0, first.output
    lines = block(first.stdout)
    assert lines[0].startswith(f"- [{REPLACED_TITLE}](https://arxiv.org/abs/{REPLACED}) — v2 공개 (내 글")
    assert "arXiv API lookup failed" in first.stderr and "asked again next run" in first.stderr
    assert api.asked == []  # every request was refused

    records = read_records(SOURCES / "arxiv-records-2026-02-05.jsonl")[:30]
    feed.serve(LISTING, build_arxiv_rss(records, date(2026, 2, 6)))
    feed.serve("/api/daily_papers?date=2026-02-06", b"[]", content_type="application/json")
    later = run(config, "2026-02-06")
    assert later.exit_code == 0, later.output
    assert api.asked == [[REPLACED]], "the comment it did not get is asked for once more, in one request"
    assert block(later.stdout) == [
        f"- [{REPLACED_TITLE}](https://arxiv.org/abs/{REPLACED}) — "
        f"{CODE} · ICLR 2026 채택 "
        "(내 글 2026-01-12)"
    ]


def test_a_paper_the_api_does_not_know_is_not_asked_for_again(watching):
    feed, api, config = watching
    api.records.clear()  # answered, without the paper (withdrawn, say)
    first = run(config, "2026-02-05")
    assert first.exit_code == 0, first.output
    assert f"{REPLACED}) — v2 공개 (내 글 2026-01-12)" in block(first.stdout)[0]
    records = read_records(SOURCES / "arxiv-records-2026-02-05.jsonl")[:30]
    feed.serve(LISTING, build_arxiv_rss(records, date(2026, 2, 6)))
    feed.serve("/api/daily_papers?date=2026-02-06", b"[]", content_type="application/json")
    assert run(config, "2026-02-06").exit_code == 0
    assert api.asked == [[REPLACED]], "a quiet day costs no request, even after an empty answer"


def test_the_weekly_roundup_shows_the_weeks_news(watching):
    feed, api, config = watching
    assert run(config, "2026-02-05").exit_code == 0
    week = CliRunner().invoke(cli, ["week", "--config", str(config), "--date", "2026-02-06"])
    assert week.exit_code == 0, week.output
    lines = block(week.stdout)
    assert len(lines) == 2 and lines[0].startswith(f"- [{REPLACED_TITLE}]") and "ICLR 2026 채택" in lines[0]


def test_turned_off_there_is_no_block_and_no_request(watching):
    feed, api, config = watching
    config.write_text(config.read_text(encoding="utf-8") + "watch = false\n", encoding="utf-8")
    off = run(config, "2026-02-05")
    assert off.exit_code == 0, off.output
    assert "지난 일지 논문 소식" not in off.stdout and api.asked == []


# -- rendering ---------------------------------------------------------------------------------------


def test_hostile_titles_stay_text_in_every_body():
    hostile = PaperNews(
        arxiv_id="2601.01234",
        title='<script>alert(1)</script> [click](javascript:alert(1)) **bold**',
        news=("v3 공개", "코드 공개(github.com/a/b)"),
        code_url="javascript:alert(1)",  # never a link
        note_day=date(2026, 1, 12),
    )
    d = replace(fixed_digest(), watch=(hostile,))
    md = render_markdown(d)
    line = block(md)[0]
    assert line.startswith(r"- [\<script\>alert(1)\</script\> \[click\](javascript:alert(1)) \*\*bold\*\*]")
    assert "](javascript:" not in line.replace(r"\](javascript:", "")
    assert "코드 공개(github.com/a/b) (내 글 2026-01-12)" in line  # the unsafe URL is no link
    html = render_html(d)
    assert "<script>alert" not in html and "&lt;script&gt;" in html and 'href="javascript:' not in html
    assert "지난 일지 논문 소식" in render_text(d)
    assert "지난 일지 논문 소식" not in render_markdown(fixed_digest()), "no news, no heading"


# -- the state ---------------------------------------------------------------------------------------


def test_a_release_state_database_gets_the_watchlist_in_place(tmp_path):
    shutil.copy(RELEASE_DB, tmp_path / DB_NAME)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        seen_before = db.execute("select * from seen order by key").fetchall()
    with State.open(tmp_path) as state:
        watch.set_watched(state.conn, ["2601.01234"], True, date(2026, 2, 5))
        assert list(watch.watchlist(state.conn)) == ["2601.01234"]
        facts = [watch.Fact("2601.01234", "version", "3", "v3 공개", "A paper")]
        assert watch.record(state.conn, date(2026, 2, 5), facts, {}) == 1
        assert watch.record(state.conn, date(2026, 2, 6), facts, {}) == 0  # said once
        assert watch.news_between(state.conn, date(2026, 2, 5), date(2026, 2, 5))[0].news == ("v3 공개",)
        assert [tuple(r) for r in state.conn.execute("select * from seen order by key")] == seen_before
        applied = [r[0] for r in state.conn.execute("select name from _migrations order by rowid")]
    assert applied == [m.__name__ for m in MIGRATIONS] and "m012_watchlist" in applied
