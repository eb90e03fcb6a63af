"""The reader's notes as a ranking profile: reading the folders, the profile, the boost and its reason."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Reader, load_config
from digest.models import Entry, NoteRef, Takeaway, TakeawayStatus
from digest.progress import Progress
from digest.reader.evaluation import evaluate_personal
from digest.reader.notes import load_notes, parse_note
from digest.reader.ranking import build_profile, explain, personalize, rank
from digest.reader.stage import explain_picks, personalize_run
from digest.reader.why import note_reason, with_wa
from digest.rendering.daily import entry_view, reason_line
from digest.selection.evaluation import load_papers
from digest.selection.matching import TopicMatcher
from digest.selection.pick import score, select
from digest.state import State
from tests import chatservers, test_pipeline

FIXTURES = Path(__file__).parent / "fixtures"
READER = FIXTURES / "reader"
NOTES = READER / "notes"
DAY = date(2026, 2, 6)


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def corpus_day(tmp_path: Path, day: str) -> Path:
    out = tmp_path / f"arxiv-{day}.jsonl"
    out.write_bytes(gzip.decompress((FIXTURES / "corpus" / f"arxiv-{day}.jsonl.gz").read_bytes()))
    return out


@pytest.fixture(scope="module")
def reader_config():
    config, _ = load_config(READER / "digest.toml")
    return config


@pytest.fixture
def day_scored(tmp_path, reader_config):
    papers = load_papers([corpus_day(tmp_path, "2026-02-06")])
    return score((p.candidate for p in papers.values()), TopicMatcher(reader_config.topics))


def read(folder: Path, tmp_path: Path, warn=None):
    with State.open(tmp_path / "state") as state:
        return load_notes(state.conn, [folder], warn if warn is not None else Warnings())


# -- reading a note -------------------------------------------------------------------------------


def test_english_terms_inside_korean_text_are_the_notes_terms():
    text = "확산 모델(diffusion model)을 정리. score matching이 핵심이고 GraphSAGE를 구현함.\n"
    note = parse_note("n.md", text, 0)
    assert note is not None
    assert {"diffusion model", "score matching", "graphsage"} <= note.terms.keys()
    assert not any("모델" in t or "를" in t for t in note.terms)


def test_digests_own_sections_are_not_read_so_it_never_learns_from_itself():
    text = (NOTES / "vault/daily/2026-02-02.md").read_text(encoding="utf-8")
    note = parse_note("2026-02-02.md", text, 0)
    assert note is not None and "reward guidance" in note.terms
    assert not {"llm", "web navigation", "mamba", "speech recognition"} & note.terms.keys()
    generated = (NOTES / "blog/_posts/2026-02-04-daily-trend.md").read_text(encoding="utf-8")
    assert parse_note("2026-02-04-daily-trend.md", generated, 0) is None  # nothing of the reader's


def test_front_matter_gives_title_and_date_and_tags_count_as_terms():
    text = (NOTES / "blog/_posts/2025-12-20-diffusion-chapter-1.md").read_text(encoding="utf-8")
    note = parse_note("2025-12-20-diffusion-chapter-1.md", text, 0)
    assert note is not None
    assert (note.title, note.day) == ("Diffusion chapter 1", date(2025, 12, 20))
    assert note.terms["ddpm"] >= 3  # a tag weighs like a title
    assert "raw" not in note.terms and "endraw" not in note.terms  # Liquid tags are no words


def test_code_blocks_are_not_prose_and_arxiv_ids_are_kept():
    code = "```python\nfor sampler in samplers:\n    x = step(x)\n```\n"
    text = "# 2026-01-29\n\nDDPM 2006.11239v2 구현\n\n" + code
    note = parse_note("2026-01-29.md", text, 0)
    assert note is not None and note.arxiv_ids == ("2006.11239",)
    assert "sampler" not in note.terms and note.day == date(2026, 1, 29)


# -- reading the folders --------------------------------------------------------------------------


def test_a_rerun_reads_only_the_files_that_changed(tmp_path):
    folder = tmp_path / "notes"
    shutil.copytree(NOTES, folder)
    notes, first = read(folder, tmp_path)
    assert (first.files, first.read, first.notes) == (21, 21, 20)  # the digest-written post has nothing
    again, second = read(folder, tmp_path)
    assert second.read == 0 and again == notes
    edited = folder / "vault/daily/2026-02-03.md"
    added = "\n- spectral clustering 정리 완료\n"
    edited.write_text(edited.read_text(encoding="utf-8") + added, encoding="utf-8")
    (folder / "vault/daily/2026-01-05.md").unlink()
    after, third = read(folder, tmp_path)
    assert (third.files, third.read, third.notes) == (20, 1, 19)
    assert "spectral clustering" in next(n for n in after if n.path == str(edited)).terms
    assert "spectral clustering" not in next(n for n in notes if n.path == str(edited)).terms


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_bad_files_are_one_warning_each_and_the_rest_is_read(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "good.md").write_text("score matching 정리\n", encoding="utf-8")
    (folder / "huge.md").write_bytes(b"diffusion " * 200_000)
    (folder / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (folder / "euckr.md").write_bytes("확산 모델(diffusion model) 공부\n".encode("cp949"))
    (folder / "latin.md").write_bytes(b"\xff\xfe\xfa caf\xe9 \x80\x81")
    (folder / "loop").symlink_to(folder)
    (folder / "dangling.md").symlink_to(folder / "nowhere.md")
    warnings = Warnings()
    notes, stats = read(folder, tmp_path, warnings)
    assert sorted(Path(n.path).name for n in notes) == ["euckr.md", "good.md"]
    assert "diffusion model" in next(n for n in notes if n.path.endswith("euckr.md")).terms
    assert len(warnings) == 6 and all("\n" not in w for w in warnings)
    for needle in ("huge.md", "binary.md", "euckr.md", "latin.md", "loop", "dangling.md"):
        assert sum(needle in w for w in warnings) == 1, needle
    # Reported when found, not on every run: the unusable files are remembered with their mtime.
    warnings.clear()
    read(folder, tmp_path, warnings)
    assert [w for w in warnings if "loop" not in w and "dangling" not in w] == []


# -- the profile and the ranking ------------------------------------------------------------------


def profile(day: date = DAY, folder: Path = NOTES, tmp_path: Path | None = None):
    import sqlite3

    from digest.migrations import MIGRATIONS

    conn = sqlite3.connect(":memory:", isolation_level=None)
    next(m for m in MIGRATIONS if m.__name__ == "m010_reader_notes")(conn)
    notes, _ = load_notes(conn, [folder], Warnings())
    return build_profile(notes, day, half_life_days=60)


def test_recent_notes_count_more_and_later_notes_are_left_out():
    early = profile(date(2026, 1, 10))
    late = profile(DAY)
    assert "graph transformer" not in early.weights and "graph transformer" in late.weights  # 01-26
    assert all(n.day <= date(2026, 1, 10) for n in early.notes)
    assert late.recency[-1] > late.recency[0]


def test_turning_it_off_returns_todays_ranking_exactly(day_scored, reader_config):
    plain = select(day_scored, reader_config.selection)
    no_notes_yet = profile(date(2000, 1, 1))
    for off in (personalize(day_scored, profile(), 0.0), personalize(day_scored, no_notes_yet, 0.6)):
        assert off == list(day_scored)
        assert select(off, reader_config.selection) == plain


def test_the_boost_reorders_on_topic_papers_only_and_leaves_the_counts(day_scored, reader_config):
    boosted = personalize(day_scored, profile(), 0.6)
    assert max(s.personal for s in boosted) == 0.6 and min(s.personal for s in boosted) >= 0
    assert [s.matches for s in boosted] == [s.matches for s in day_scored]
    assert Counter(t for s in boosted for t in s.topics) == Counter(t for s in day_scored for t in s.topics)
    plain = select(day_scored, reader_config.selection)
    mine = select(boosted, reader_config.selection)
    assert [s.candidate.key for s in mine] != [s.candidate.key for s in plain]  # it does reorder
    assert {s.candidate.key for s in mine} <= {s.candidate.key for s in day_scored}
    assert Counter(s.topics[0] for s in mine) == Counter(s.topics[0] for s in plain)


def test_a_logged_arxiv_id_is_as_close_as_it_gets(day_scored):
    target = next(s for s in day_scored if s.candidate.arxiv_id == "2602.05861")  # real-estate GNN
    p = replace(profile(), arxiv_ids={"2602.05861": 0})
    ranked, idf = rank(day_scored, p, 0.6)
    boosted = next(s for s in ranked if s.candidate.key == target.candidate.key)
    assert boosted.personal == 0.6
    [named] = explain([boosted], p, idf, 0.6)
    assert named.note is not None and named.note.path == p.notes[0].path


# -- why ------------------------------------------------------------------------------------------


def test_the_reason_line_names_the_note_it_resembles(day_scored, reader_config):
    p = profile()
    boosted, idf = rank(day_scored, p, 0.6)
    picked = explain(select(boosted, reader_config.selection), p, idf, 0.6)
    gnn = next(s for s in picked if s.candidate.arxiv_id == "2602.05950")  # GNN readouts
    assert gnn.note is not None and gnn.note.title == "Message passing으로 보는 GNN"
    assert reason_line(gnn).endswith("내 글 2026-01-25 「Message passing으로 보는 GNN」과 가까움")
    entry = Entry(gnn, Takeaway("요약", TakeawayStatus.LLM))
    assert entry_view(entry).reason == "내 글 2026-01-25 「Message passing으로 보는 GNN」과 가까움"
    assert "reader's notes (+" in gnn.reason and "Message passing" in gnn.reason  # stderr
    plain = next(s for s in day_scored if s.candidate.arxiv_id == "2602.05950")
    assert entry_view(Entry(plain, Takeaway("요약", TakeawayStatus.LLM))).reason == ""


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Diffusion chapter 1", "과"), ("Diffusion chapter 2", "와"), ("확산 모델", "과"),
        ("DDPM 정리", "와"), ("score matching", "과"), ("GNN", "과"), ("VAE", "와"), ("Flow", "와"),
    ],
)  # fmt: skip
def test_the_particle_follows_how_the_title_is_read(title, expected):
    assert with_wa(f"「{title}」") == f"「{title}」{expected}"


def test_note_reason_reads_as_the_issue_asks():
    ref = NoteRef(date(2024, 8, 13), "Diffusion chapter 1", "x.md")
    assert note_reason(ref) == "내 글 2024-08-13 「Diffusion chapter 1」과 가까움"


# -- the run's stage ------------------------------------------------------------------------------


def test_the_run_reads_the_configured_folders_and_the_notes_target(tmp_path, day_scored, reader_config):
    blog = tmp_path / "blog"
    shutil.copytree(NOTES / "blog", blog)
    vault = tmp_path / "vault"
    shutil.copytree(NOTES / "vault", vault)
    config = reader_config.model_copy(
        update={
            "reader": Reader(notes=[str(blog)]),
            "markdown": reader_config.markdown.model_copy(update={"dir": str(vault / "daily")}),
        }
    )
    log = tmp_path / "log.txt"
    with State.open(tmp_path / "state") as state, log.open("w") as stream:
        out, personal = personalize_run(config, DAY, day_scored, state, Progress(stream))
        picked = explain_picks(config, state, DAY, select(out, config.selection), personal, Progress(stream))
        off = config.model_copy(update={"reader": Reader(enabled=False, notes=[str(blog)])})
        assert personalize_run(off, DAY, day_scored, state, Progress(stream)) == (list(day_scored), None)
        rows = state.conn.execute("select count(*) from reader_notes").fetchone()[0]
    assert rows == 21 and any(s.personal for s in out)
    assert any(s.note and s.note.day == date(2026, 1, 25) for s in picked)  # a blog post, found in blog/
    assert "reader: 20 notes (21 of 21 files read now)" in log.read_text()


# -- measured ------------------------------------------------------------------------------------


def test_eval_reports_precision_with_and_without_and_identical_counts(tmp_path, reader_config):
    days = [corpus_day(tmp_path, d) for d in ("2026-02-04", "2026-02-05", "2026-02-06")]
    report = evaluate_personal(READER / "labels.jsonl", days, [NOTES], reader_config)
    assert [d.day for d in report.days] == ["2026-02-04", "2026-02-05", "2026-02-06"]
    assert all(d.counts_identical for d in report.days)
    assert report.notes == 20 and report.shown == 30
    # The measured numbers, kept here so a change to the ranking shows in the diff (docs/reader.md).
    assert (report.hits_without, report.hits_with) == (15, 15)
    # What a boost of the same size could do if it knew the labels, and how well the profile's tells them.
    assert [d.hits_ceiling for d in report.days] == [8, 5, 9]
    assert [round(d.auc or 0, 2) for d in report.days] == [0.94, 0.76, 0.84]
    result = CliRunner().invoke(
        cli,
        [
            "eval", "--config", str(READER / "digest.toml"), "--notes", str(NOTES),
            "--reader-labels", str(READER / "labels.jsonl"), "--papers", *map(str, days),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "P@10 without" in result.output and "AP with" in result.output and "identical" in result.output
    assert "P@10 ceiling" in result.output and "boost AUC" in result.output
    assert "CHANGED" not in result.output
    # Feedback: each day ranked with what simulated edits on the other two days taught (docs/reader.md).
    fb = {d.day: d for d in report.feedback}
    assert list(fb) == ["2026-02-04", "2026-02-05", "2026-02-06"]
    assert all(d.counts_identical and d.shown == 10 for d in fb.values())
    assert [(d.hits_profile, d.hits_feedback) for d in fb.values()] == [(6, 6), (3, 3), (6, 6)]
    assert (fb["2026-02-05"].annotated, fb["2026-02-05"].deleted) == (12, 8)
    held_out = fb["2026-02-05"]
    assert held_out.ap_profile is not None and held_out.ap_feedback is not None
    assert round(held_out.ap_profile, 2) == 0.40 and round(held_out.ap_feedback, 2) == 0.41
    assert "Feedback (simulated edits on the other labelled days" in result.output
    assert "P@10 +feedback" in result.output


def test_the_simulated_feedback_never_sees_the_evaluated_days_labels(tmp_path, reader_config):
    from digest.reader.evaluation import load_reader_labels, simulate_feedback

    names = ("2026-02-04", "2026-02-05", "2026-02-06")
    matcher = TopicMatcher(reader_config.topics)
    pools = {
        day: score((p.candidate for p in load_papers([corpus_day(tmp_path, day)]).values()), matcher)
        for day in names
    }
    labels = load_reader_labels(READER / "labels.jsonl")
    held_out = {s.candidate.arxiv_id for s in pools["2026-02-05"]}
    flipped = {k: (not v if k in held_out else v) for k, v in labels.items()}
    before = {d.day: d for d in simulate_feedback(pools, labels, reader_config, 0.3)}
    after = {d.day: d for d in simulate_feedback(pools, flipped, reader_config, 0.3)}

    def taught(d):
        return d.annotated, d.deleted, d.ap_feedback is not None

    # 02-05's own labels turned around: what 02-05 is taught stays the same, the other days' does not.
    assert taught(after["2026-02-05"]) == taught(before["2026-02-05"])
    assert taught(after["2026-02-04"]) != taught(before["2026-02-04"])
    assert before["2026-02-05"].annotated + before["2026-02-05"].deleted > 0


def test_a_daily_log_is_named_by_its_first_line_not_its_date_heading():
    text = (NOTES / "vault/daily/2026-01-22.md").read_text(encoding="utf-8")
    note = parse_note("2026-01-22.md", text, 0)
    assert note is not None and note.title == "flow matching 입문"
    ref = NoteRef(note.day, note.title, note.path)
    assert note_reason(ref) == "내 글 2026-01-22 「flow matching 입문」과 가까움"
    assert note_reason(replace(ref, title="2026-01-22")) == "내 글 2026-01-22와 가까움"


def test_notes_read_under_other_rules_are_read_again(tmp_path, monkeypatch):
    from digest.reader import notes as notes_module

    _, first = read(NOTES, tmp_path)
    monkeypatch.setattr(notes_module, "NOTE_RULES", "notes-next")
    _, again = read(NOTES, tmp_path)
    assert (first.read, again.read) == (21, 21)


# -- end to end -----------------------------------------------------------------------------------

# The loopback servers and config of `digest now`'s end-to-end tests (tests/test_pipeline.py).
feed_server = test_pipeline.feed_server
llm_server = test_pipeline.llm_server
servers = test_pipeline.servers
run = test_pipeline.run


def topic_table(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ")]


def item_titles(markdown: str) -> list[str]:
    return [line.split("](", 1)[0] for line in markdown.splitlines() if line.startswith("- **[")]


def test_digest_now_ranks_toward_the_notes_says_why_and_keeps_the_counts(servers, tmp_path):
    feed, llm, config = servers
    plain = run(config)
    assert plain.exit_code == 0, plain.output
    notes = tmp_path / "vault"
    notes.mkdir()
    (notes / "2026-02-01.md").write_text(
        "---\ntitle: \"Temporal QA 정리\"\n---\n\n"
        "요즘 관심: LLM이 모르는 질문에 답하지 않는 abstention, temporal QA, temporal reasoning.\n"
        "- calibration과 abstention을 같이 보는 논문을 더 찾아보기\n",
        encoding="utf-8",
    )
    base = config.read_text(encoding="utf-8")
    config.write_text(base + f'[reader]\nnotes = ["{notes}"]\n', encoding="utf-8")
    mine = run(config)
    assert mine.exit_code == 0, mine.output
    assert topic_table(mine.stdout) == topic_table(plain.stdout)  # the day's counts are the same
    assert "선정 이유: 내 글 2026-02-01 「Temporal QA 정리」와 가까움" in mine.stdout
    assert "reader: 1 notes (1 of 1 files read now)" in mine.stderr
    assert "reader's notes (+" in mine.stderr
    # The note is about abstention in temporal QA: that paper leads the digest now, and Subliminal Effects
    # (LLM and DPO, the day's most upvoted) is still in, taken on the DPO topic's turn.
    abstain = "- **[When Silence Is Golden: Can LLMs Learn to Abstain in Temporal QA and Beyond?"
    assert item_titles(plain.stdout)[0] != abstain and item_titles(mine.stdout)[0] == abstain
    assert set(item_titles(plain.stdout)) <= set(item_titles(mine.stdout))
    config.write_text(base + f'[reader]\nenabled = false\nnotes = ["{notes}"]\n', encoding="utf-8")
    off = run(config)
    assert off.exit_code == 0 and item_titles(off.stdout) == item_titles(plain.stdout)
    assert "내 글" not in off.stdout and "reader:" not in off.stderr


chat_server = chatservers.chat_server
TITLED = "내 글 2026-02-01 「Temporal QA 정리」와 가까움"
DATED = "내 글 2026-02-01과 가까움"


@pytest.mark.parametrize(
    ("setting", "jekyll", "to", "in_note", "in_email"),
    [
        (None, False, ["me@example.com"], True, True),  # the default: the reader's own note and inbox
        (None, True, ["me@example.com", "lab@example.com"], False, False),  # a blog, a mailing
        ("true", True, ["me@example.com", "lab@example.com"], True, True),
        ("false", False, ["me@example.com"], False, False),
    ],
)
def test_the_notes_title_goes_only_where_show_note_titles_lets_it(
    servers, tmp_path, chat_server, monkeypatch, setting, jekyll, to, in_note, in_email
):
    from tests.smtpserver import smtp_server

    feed, llm, config = servers
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "2026-02-01.md").write_text(
        '---\ntitle: "Temporal QA 정리"\n---\n\n요즘 관심: abstention, temporal QA, temporal reasoning.\n',
        encoding="utf-8",
    )
    target = tmp_path / ("blog/_posts" if jekyll else "daily")
    slack = chat_server("slack")
    monkeypatch.setenv("STUDY_SLACK_URL", slack.webhook_url)
    with smtp_server() as smtp:
        test_pipeline.with_email(config, smtp.port, *to)
        choice = f"show_note_titles = {setting}\n" if setting else ""
        config.write_text(
            config.read_text(encoding="utf-8")
            + f'[reader]\nnotes = ["{vault}"]\n{choice}[markdown]\ndir = "{target}"\n'
            + '[channels.lab]\nkind = "slack"\nurl_env = "STUDY_SLACK_URL"\n',
            encoding="utf-8",
        )
        result = run(config, "--send")
    assert result.exit_code == 0, result.output
    [note] = target.glob("*.md")
    mail = smtp.received[0].message
    html, text = (mail.get_body((kind,)).get_content() for kind in ("html", "plain"))
    posted = json.dumps(slack.messages, ensure_ascii=False)
    for body, shown in [(note.read_text(encoding="utf-8"), in_note), (result.stdout, in_note),
                        (html, in_email), (text, in_email)]:  # fmt: skip
        assert (TITLED in body) is shown and (DATED in body) is not shown
    # A chat post has no reason line at all: neither the title nor the date of a note, whatever the setting.
    assert "When Silence Is Golden" in posted and "Temporal QA 정리" not in posted and "내 글" not in posted


def test_a_folder_with_too_many_files_is_cut_with_one_warning(tmp_path, monkeypatch):
    from digest.reader import notes as notes_module

    monkeypatch.setattr(notes_module, "MAX_FILES", 5)
    folder = tmp_path / "home"
    folder.mkdir()
    for i in range(12):
        (folder / f"n{i:02d}.md").write_text(f"score matching {i}\n", encoding="utf-8")
    warnings = Warnings()
    _, stats = read(folder, tmp_path, warnings)
    assert stats.files == 5 and len(warnings) == 1 and "more than 5 Markdown files" in warnings[0]


def test_eval_says_what_it_needs_in_one_line(tmp_path):
    day = corpus_day(tmp_path, "2026-02-05")
    alone = CliRunner().invoke(cli, ["eval", "--notes", str(NOTES), "--papers", str(day)])
    assert alone.exit_code == 2 and "needs both --notes and --reader-labels" in alone.output
    nothing = CliRunner().invoke(cli, ["eval", "--papers", str(day)])
    assert nothing.exit_code == 2 and "give --labels" in nothing.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "2602.04096", "relevant": "yes"}\n', encoding="utf-8")
    wrong = CliRunner().invoke(
        cli, ["eval", "--notes", str(NOTES), "--reader-labels", str(bad), "--papers", str(day)]
    )
    assert wrong.exit_code == 2 and "bad.jsonl:1: not a reader label" in wrong.output
    assert "Traceback" not in wrong.output
