"""`digest topics suggest`: keyword suggestions drawn from stored days, previewed, and written into the TOML.

Real corpus days (tests/fixtures/corpus), the reader fixture's notes (tests/fixtures/reader), a real state
database with stored days, real TOML files rewritten, and the CLI through click's runner.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest._compat import tomllib
from digest.cli import cli
from digest.config import DEFAULT_TOPICS, Config, Topic, load_config
from digest.config_edit import add_keywords, write
from digest.errors import ConfigError
from digest.models import Candidate
from digest.pipeline import today
from digest.reader.topic_terms import note_terms
from digest.selection.evaluation import load_papers
from digest.selection.matching import TopicMatcher
from digest.selection.pick import score
from digest.selection.shortlist import keep_shortlist
from digest.selection.suggest import (
    StoredDays,
    Suggestion,
    days_from_papers,
    days_from_state,
    preview,
    suggest,
    view,
)
from digest.selection.suggest_view import lines
from digest.state import State
from digest.trend.stats import count_day

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = sorted((FIXTURES / "corpus").glob("arxiv-*.jsonl.gz"))
NOTES = FIXTURES / "reader" / "notes"

COMMENTED = """\
# My digest. Keep this comment.
timezone = "Asia/Seoul"  # where I read it

[selection]
max_items = 10

# Diffusion models: theory and samplers.
[topics.diffusion]
label = "Diffusion"
keywords = [
    "diffusion model", "score matching",  # the two I started with
]

[topics.gnn]
label = "GNN"
keywords = ["graph neural network"]
"""


@pytest.fixture(scope="module")
def corpus_days() -> StoredDays:
    return days_from_papers((p.day, p.candidate) for p in load_papers(CORPUS).values())


def paper(key: str, title: str, summary: str, categories: tuple[str, ...]) -> Candidate:
    return Candidate(
        key=key, kind="paper", title=title, url=f"https://arxiv.org/abs/{key}", summary=summary,
        authors=("A. Author",), categories=categories, sources=("arxiv-listing",), arxiv_id=key,
        announce_type="new",
    )  # fmt: skip


# -- writing the TOML --------------------------------------------------------------------------


def test_accepted_keywords_go_into_the_file_with_its_comments_and_layout_kept(tmp_path):
    path = tmp_path / "digest.toml"
    path.write_text(COMMENTED, encoding="utf-8")
    config, _ = load_config(path)
    edit = add_keywords(path, "diffusion", "Diffusion", ["flow matching", "DDPM"], config.topics)
    assert edit.added == ("flow matching", "DDPM")
    assert "+    \"flow matching\",\n+    \"DDPM\",\n" in edit.diff()
    write(edit)
    text = path.read_text(encoding="utf-8")
    comments = ("# My digest. Keep this comment.", "# where I read it",
                "# Diffusion models: theory and samplers.", "# the two I started with")  # fmt: skip
    for comment in comments:
        assert comment in text
    # Only the keywords array changed: every other line is as it was.
    assert text.startswith(COMMENTED.split("keywords = [")[0])
    assert text.endswith('[topics.gnn]\nlabel = "GNN"\nkeywords = ["graph neural network"]\n')
    loaded, _ = load_config(path)
    keywords = ["diffusion model", "score matching", "flow matching", "DDPM"]
    assert loaded.topics["diffusion"].keywords == keywords
    again = add_keywords(path, "diffusion", "Diffusion", ["ddpm"], loaded.topics)
    assert again.added == ()  # already there (keywords compare without case)


def test_a_new_topic_is_a_new_table_and_a_file_without_topics_keeps_the_builtin_ones(tmp_path):
    path = tmp_path / "digest.toml"
    path.write_text(COMMENTED, encoding="utf-8")
    edit = add_keywords(path, "sde", "SDE", ["stochastic differential equation"], {})
    write(edit)
    assert tomllib.loads(path.read_text())["topics"]["sde"] == {
        "label": "SDE",
        "keywords": ["stochastic differential equation"],
    }

    bare = tmp_path / "bare.toml"
    bare.write_text("# only this\ntimezone = \"Asia/Seoul\"\n", encoding="utf-8")
    edit = add_keywords(bare, "mamba", "Mamba·SSM", ["selective scan"], DEFAULT_TOPICS)
    assert edit.wrote_defaults
    write(edit)
    loaded, _ = load_config(bare)
    assert list(loaded.topics) == list(DEFAULT_TOPICS)  # one table alone would have replaced them all
    assert loaded.topics["mamba"].keywords == [*DEFAULT_TOPICS["mamba"].keywords, "selective scan"]
    assert loaded.topics["dpo"].exclude == DEFAULT_TOPICS["dpo"].exclude
    assert bare.read_text().startswith("# only this\n")


def test_a_keyword_the_config_would_refuse_is_never_written(tmp_path):
    path = tmp_path / "digest.toml"
    path.write_text(COMMENTED, encoding="utf-8")
    with pytest.raises(ConfigError, match="no letter or digit"):
        add_keywords(path, "gnn", "GNN", ["(("], {})
    assert path.read_text() == COMMENTED


# -- suggestions and previews --------------------------------------------------------------------


def test_suggestions_add_papers_the_topic_missed_and_name_them(corpus_days):
    topic = Topic(label="Diffusion", keywords=["diffusion model", "score matching"])
    v, found = suggest("diffusion", topic, corpus_days, limit=8)
    assert found
    before = TopicMatcher({"diffusion": topic})
    for s in found:
        p = s.preview
        assert p.added > 0 and p.per_day == pytest.approx(p.added / 3)
        assert 1 <= len(p.examples) <= 3
        # Every example is a paper the configured keywords miss and the term brings in.
        after = TopicMatcher({"diffusion": Topic(label="D", keywords=[*topic.keywords, s.term])})
        by_title = {c.title: c for _, c in corpus_days.all_papers()}
        for title in p.examples:
            c = next(c for t, c in by_title.items() if " ".join(t.split()) == title)
            assert not before.match(c) and after.match(c)
        assert p.in_topic >= p.occurrences / 2  # most of the term's papers are the topic's already
    terms = {s.term for s in found}
    assert not terms & {"diffusion model", "score matching"}  # a configured keyword adds nothing


def test_a_term_whose_papers_are_listed_outside_ml_is_flagged():
    days = date(2026, 3, 2), date(2026, 3, 3)
    ml = "We train a graph neural network with neural message passing on a benchmark dataset."
    physics = "We study heat diffusion on a lattice with anomalous transport and a random walk."
    papers = {
        days[0]: [
            paper("1", "Graph neural network with graph heat diffusion", ml, ("cs.LG",)),
            paper("2", "Graph neural network over-squashing", ml, ("cs.LG",)),
            paper("3", "Heat diffusion in disordered media", physics, ("cond-mat.stat-mech", "cs.LG")),
            paper("4", "Anomalous heat diffusion", physics, ("physics.comp-ph", "cs.LG")),
        ],
        days[1]: [
            paper("5", "Graph neural network oversmoothing", ml, ("cs.CV", "eess.IV")),  # images: ML
            paper("6", "Heat diffusion and transport", physics, ("math-ph", "cs.LG")),
            paper("7", "Neural message passing networks", "Message passing: a deep learning benchmark.",
                  ("cs.LG",)),  # fmt: skip
        ],
    }
    stored = StoredDays(days, papers, {d: len(v) for d, v in papers.items()})
    v = view("gnn", Topic(label="GNN", keywords=["graph neural network"]), stored)
    heat = preview(v, "heat diffusion")
    assert heat.occurrences == 4 and heat.outside_ml == 3 and heat.warn
    assert set(heat.outside_categories) == {"cond-mat.stat-mech", "physics.comp-ph", "math-ph"}
    shown = lines([Suggestion("heat diffusion", "topic", 2, 3, 2.5, 0.1, heat)])
    assert shown[-1] == (
        "       ! ML 밖에서도 쓰는 말: 이 말이 든 4편 중 3편이 "
        "ML 밖 분야(cond-mat.stat-mech, physics.comp-ph, math-ph)에도 올라 있습니다"
    )
    passing = preview(v, "message passing")
    assert passing.added == 1 and passing.examples == ("Neural message passing networks",)
    assert passing.occurrences == 4 and passing.in_topic == 3
    assert passing.outside_ml == 0 and not passing.warn


def test_a_reader_adding_a_diffusion_topic_gets_a_keyword_list_from_their_notes(corpus_days):
    related, terms = note_terms([NOTES], "Diffusion", lambda line: None)
    assert related >= 3
    assert {"diffusion model", "DDPM", "forward process"} <= set(terms)
    _, found = suggest(
        "diffusion", Topic(label="Diffusion", keywords=["diffusion"]), corpus_days,
        extra=dict.fromkeys(terms, "notes"), new=True, limit=10,
    )  # fmt: skip
    by_term = {s.term: s for s in found}
    assert by_term["diffusion model"].why == "notes"
    assert by_term["diffusion model"].preview.added >= 10  # alone, it brings in papers of each day
    # The stored days add terms the notes never used, and the reader's generic tag ("study") is not one.
    assert any(s.why == "topic" for s in found)
    assert "study" not in by_term


# -- the command ---------------------------------------------------------------------------------


def _state_with_days(config: Config, n: int = 3) -> list[date]:
    """The corpus's three days stored as a digest run stores them: day statistics and shortlists."""
    matcher = TopicMatcher(config.topics)
    end = today(config)
    stored = []
    by_day: dict[str, list[Candidate]] = {}
    for p in load_papers(CORPUS).values():
        by_day.setdefault(p.day, []).append(p.candidate)
    with State.open(config.state_path) as state:
        for i, (_, papers) in enumerate(sorted(by_day.items())[:n]):
            day = end - timedelta(days=n - i)
            scored = score(papers, matcher)
            assert state.record_day_stats(count_day(day, papers, scored, config.topics))
            keep_shortlist(state, day, scored, "run")
            stored.append(day)
    return stored


def test_suggest_from_the_state_previews_and_accept_writes_the_config(tmp_path):
    toml = tmp_path / "digest.toml"
    toml.write_text(f'# mine\nstate_dir = "{tmp_path / "state"}"\n\n' + COMMENTED.split("\n", 2)[2])
    config, _ = load_config(toml)
    days = _state_with_days(config)
    with State.open(config.state_path) as state:
        stored = days_from_state(state, today(config))
    assert stored.days == tuple(days) and not stored.complete
    listed = CliRunner().invoke(cli, ["topics", "suggest", "diffusion", "--config", str(toml)])
    assert listed.exit_code == 0, listed.output
    with State.open(config.state_path) as state:
        counts = [s.topics["diffusion"] for s in state.day_stats(days[0], days[-1])]
    # The topic's papers a day as the days were counted, not the shortlists' (30 a day at most).
    head = f"Diffusion (diffusion): 저장된 발표일 3일, 지금 하루 평균 {sum(counts) / 3:.1f}편\n"
    assert head in listed.output
    assert "구절 통계로 센 상한" in listed.output
    assert " 1. " in listed.output and "편/일" in listed.output
    assert "--accept" in listed.output  # not a terminal, no flag: nothing is written
    assert toml.read_text().startswith("# mine\n") and "flow matching" not in toml.read_text()

    first = listed.output.split(" 1. ", 1)[1].split("  ")[0]
    args = ["topics", "suggest", "diffusion", "--config", str(toml)]
    accepted = CliRunner().invoke(cli, [*args, "--accept", "1"])
    assert accepted.exit_code == 0, accepted.output
    assert f'+    "{first}",\n' in accepted.output  # one new line in the keywords array
    assert f"Added to [topics.diffusion] in {toml}: {first}" in accepted.output
    loaded, _ = load_config(toml)
    assert loaded.topics["diffusion"].keywords[-1] == first
    assert "# Diffusion models: theory and samplers." in toml.read_text()


def test_a_topic_is_found_by_its_key_or_label_in_any_case(tmp_path):
    toml = tmp_path / "digest.toml"
    toml.write_text(COMMENTED)
    papers = ["--papers", str(CORPUS[0])]
    for name in ("GNN", "gnn", "Gnn"):
        out = CliRunner().invoke(cli, ["topics", "suggest", name, "--config", str(toml), *papers])
        assert out.exit_code == 0, out.output
        assert out.output.startswith("GNN (gnn): 논문 파일 1일치")  # the configured topic, not a new one


def test_topics_lists_the_configured_topics(tmp_path):
    toml = tmp_path / "digest.toml"
    toml.write_text(COMMENTED)
    out = CliRunner().invoke(cli, ["topics", "--config", str(toml)])
    assert out.exit_code == 0
    assert "diffusion    Diffusion: diffusion model, score matching" in out.output
    assert "gnn          GNN: graph neural network" in out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchtopic"], "Error: 'nosuchtopic' is not a configured topic (diffusion, gnn) and no note of"),
        (["diffusion", "--accept", "x"], "'x' is not a list of numbers like 1,3"),
        (["diffusion", "--accept", "99"], "99 is not one of the numbers above"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, args, message):
    toml = tmp_path / "digest.toml"
    toml.write_text(f'state_dir = "{tmp_path / "state"}"\n' + COMMENTED.split("\n", 2)[2])
    config, _ = load_config(toml)
    _state_with_days(config, n=1)
    out = CliRunner().invoke(cli, ["topics", "suggest", *args, "--config", str(toml)])
    assert out.exit_code == 2
    assert message in out.output
    assert "Traceback" not in out.output


def test_no_stored_days_is_one_clear_line(tmp_path):
    toml = tmp_path / "digest.toml"
    toml.write_text(f'state_dir = "{tmp_path / "state"}"\n' + COMMENTED.split("\n", 2)[2])
    missing = CliRunner().invoke(cli, ["topics", "suggest", "diffusion", "--config", str(toml)])
    assert missing.exit_code == 2
    assert missing.output.startswith("Error: no stored days: ") and missing.output.count("\n") == 1
    State.open(tmp_path / "state").close()  # a state with no counted day yet
    empty = CliRunner().invoke(cli, ["topics", "suggest", "diffusion", "--config", str(toml)])
    assert empty.exit_code == 2
    assert empty.output.startswith("Error: no stored days to draw suggestions from")
    assert empty.output.count("\n") == 1


def test_a_reader_adding_a_gnn_topic_gets_their_words_and_the_days_in_one_step(tmp_path):
    toml = tmp_path / "digest.toml"
    toml.write_text(f'# mine\n[reader]\nnotes = ["{NOTES}"]\n', encoding="utf-8")
    papers = [arg for path in CORPUS for arg in ("--papers", str(path))]
    listed = CliRunner().invoke(cli, ["topics", "suggest", "GNN", "--config", str(toml), *papers])
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith("새 주제 GNN (gnn): 논문 파일 3일치")
    assert "  1. message passing " in listed.output and "(내 글)" in listed.output
    assert "  2. graph neural network " in listed.output  # from the days: found with the reader's words
    added = CliRunner().invoke(cli, ["topics", "suggest", "GNN", "--config", str(toml), *papers, "--yes"])
    assert added.exit_code == 0, added.output
    # The file had no [topics]: the built-in ones are written out too, so none is lost.
    loaded, _ = load_config(toml)
    assert list(loaded.topics) == [*DEFAULT_TOPICS, "gnn"]
    assert loaded.topics["gnn"].label == "GNN"
    assert loaded.topics["gnn"].keywords[:2] == ["message passing", "graph neural network"]
    assert toml.read_text().startswith("# mine\n[reader]\n")
    assert "the topics in force were written out" in added.output


# -- the measurement -------------------------------------------------------------------------------


def test_the_measurement_compares_the_topic_with_and_without_the_accepted_terms(corpus_days):
    from digest.selection.evaluation import load_labels
    from digest.selection.suggest_eval import format_rows, measure

    labels = load_labels(Path(__file__).parent.parent / "benchmarks" / "data" / "labels.jsonl")
    topics = {"dpo": DEFAULT_TOPICS["dpo"]}
    none = measure(topics, corpus_days, labels, accept=0)[0]
    matcher = TopicMatcher(topics)
    labelled = [c for _, c in corpus_days.all_papers() if c.arxiv_id in labels]
    gold = [c for c in labelled if "dpo" in labels[c.arxiv_id]]
    assert none.support == len(gold) > 0
    assert none.tp_before == none.tp_after == sum(1 for c in gold if matcher.match(c))
    assert none.fp_before == none.fp_after == sum(1 for c in labelled if matcher.match(c)) - none.tp_before
    assert none.accepted == {}
    one = measure(topics, corpus_days, labels, accept=1)[0]
    assert (one.support, one.tp_before, one.fp_before) == (none.support, none.tp_before, none.fp_before)
    assert sum(one.accepted.values()) <= 3  # at most one term per measured day
    table = format_rows([one], 1)
    assert table.splitlines()[0] == "Top 1 suggestions accepted per topic, drawn from the other labelled days"
    assert f"| dpo | {one.support} | " in table


def test_at_a_terminal_each_term_is_asked_for(tmp_path):
    """A real process on a pseudo-terminal: the confirm prompt per term, and only the yes goes in."""
    toml = tmp_path / "digest.toml"
    toml.write_text(f'[reader]\nnotes = ["{NOTES}"]\n', encoding="utf-8")
    papers = [arg for path in CORPUS for arg in ("--papers", str(path))]
    main, tty = os.openpty()
    try:
        os.write(main, b"n\ny\n")  # 1. message passing: no; 2. graph neural network: yes
        done = subprocess.run(
            [sys.executable, "-m", "digest", "topics", "suggest", "GNN", "--config", str(toml), *papers],
            stdin=tty, capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
    finally:
        os.close(main)
        os.close(tty)
    assert done.returncode == 0, done.stderr
    assert "1. 'message passing'를 GNN에 더할까요? [y/N]" in done.stdout
    assert "2. 'graph neural network'를 GNN에 더할까요? [y/N]" in done.stdout
    loaded, _ = load_config(toml)
    assert loaded.topics["gnn"].keywords == ["graph neural network"]
