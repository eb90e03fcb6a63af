from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import DEFAULT_TOPICS, Config, Topic
from digest.selection.evaluation import TopicCount, evaluate, format_report, paper_candidate

FIXTURES = Path(__file__).parent / "fixtures" / "selection"


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def paper(pid: str, title: str, day: str) -> dict[str, object]:
    return {
        "id": pid,
        "title": title,
        "summary": "We study it on public benchmarks.",
        "authors": ["A. Author"],
        "categories": ["cs.LG", "H.3.3; I.2.8"],
        "primary": "cs.LG",
        "announce_day": day,
    }


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path, Config]:
    papers = write_jsonl(
        tmp_path / "papers.jsonl",
        [
            paper("p1", "Mamba policies for video RL", "2026-02-04"),
            paper("p2", "Mamba in the zoo", "2026-02-04"),
            paper("p3", "Graph coloring heuristics", "2026-02-04"),
            paper("p4", "Offline RL benchmarks", "2026-02-04"),
            paper("p5", "Mamba layers for speech", "2026-02-05"),
            paper("unlabelled", "Mamba everywhere", "2026-02-05"),
        ],
    )
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        [
            {"id": "p1", "topics": ["ssm"]},
            {"id": "p2", "topics": []},
            {"id": "p3", "topics": ["ssm"]},
            {"id": "p4", "topics": ["rl"]},
            {"id": "p5", "topics": ["ssm"]},
            {"id": "gone", "topics": ["ssm"]},
        ],
    )
    config = Config.model_validate(
        {
            "topics": {
                "ssm": {"label": "SSM", "keywords": ["Mamba"]},
                "rl": {"label": "RL", "keywords": ["RL"]},
            }
        }
    )
    return labels, papers, config


def test_matcher_precision_and_recall_per_topic(small: tuple[Path, Path, Config]) -> None:
    report = evaluate(*small[:1], [small[1]], small[2])
    ssm, rl = report.topics
    assert (ssm.support, ssm.tp, ssm.fp, ssm.fn) == (3, 2, 1, 1)
    assert (rl.support, rl.tp, rl.fp, rl.fn) == (1, 1, 1, 0)
    assert ssm.precision == pytest.approx(2 / 3) and ssm.recall == pytest.approx(2 / 3)
    assert rl.precision == pytest.approx(0.5) and rl.recall == 1.0
    assert report.missing == ("gone",)
    assert report.labelled == 6


def test_digest_precision_counts_pairs_and_papers(small: tuple[Path, Path, Config]) -> None:
    report = evaluate(small[0], [small[1]], small[2])
    day1, day2 = report.days
    assert (day1.day, day1.labelled, day1.shown, day1.pairs, day1.correct_pairs, day1.correct_papers) == (
        "2026-02-04", 4, 3, 4, 2, 2
    )  # fmt: skip
    assert (day2.shown, day2.pairs, day2.correct_pairs) == (1, 1, 1)  # the unlabelled paper is not used
    assert report.pair_precision == pytest.approx(3 / 5)
    assert report.paper_precision == pytest.approx(3 / 4)
    wrong = {(p.paper_id, p.topic) for p in report.shown if not p.correct}
    assert wrong == {("p1", "rl"), ("p2", "ssm")}


def test_digest_respects_the_selection_limits(small: tuple[Path, Path, Config]) -> None:
    labels, papers, config = small
    tight = config.model_copy(update={"selection": config.selection.model_copy(update={"max_items": 1})})
    report = evaluate(labels, [papers], tight)
    assert [d.shown for d in report.days] == [1, 1]


def test_format_report_is_an_aligned_table(small: tuple[Path, Path, Config]) -> None:
    text = format_report(evaluate(small[0], [small[1]], small[2]))
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("topic"))
    table = lines[header : header + 5]  # header, rule, ssm, rl, micro
    assert len({len(line) for line in table}) == 1  # right-aligned last column: equal widths
    assert table[2].split() == ["ssm", "SSM", "3", "2", "1", "1", "0.67", "0.67"]
    assert "1 not found in the papers files" in text
    assert "0.60" in text and "0.75" in text  # pair and paper precision of the digest
    assert "p2" in text and "Mamba in the zoo" in text  # the wrong labels are listed


def test_counts_for_each_fully_labelled_day(small: tuple[Path, Path, Config]) -> None:
    report = evaluate(small[0], [small[1]], small[2])
    # 2026-02-05 has a paper without a label, so only 2026-02-04 is a fully labelled day
    (day,) = report.full_days
    assert (day.day, day.papers) == ("2026-02-04", 4)
    ssm, rl = day.topics
    assert (ssm.hand, ssm.counted, ssm.tp, ssm.error) == (2, 2, 1, 0)  # p1 right, p2 wrong, p3 missed
    assert (rl.hand, rl.counted, rl.tp, rl.error) == (1, 2, 1, 1)
    assert ssm.precision == 0.5 and ssm.recall == 0.5 and rl.recall == 1.0
    text = format_report(report)
    assert "Counts, 2026-02-04 (all 4 papers labelled)" in text
    assert "Counts, 2026-02-05" not in text
    row = next(line for line in text.splitlines() if line.startswith("rl ") and "+1" in line)
    assert row.split() == ["rl", "RL", "1", "2", "+1", "+100%", "±4", "yes", "0.50", "1.00"]


def test_a_day_labelled_in_full_across_papers_files(tmp_path: Path) -> None:
    """Every paper of the day in any of the files must be labelled; a paper repeated in two files
    counts once."""
    first = write_jsonl(tmp_path / "a.jsonl", [paper("q1", "Mamba layers", "2026-02-06")])
    second = write_jsonl(
        tmp_path / "b.jsonl",
        [paper("q1", "Mamba layers", "2026-02-06"), paper("q2", "Graph coloring", "2026-02-06")],
    )
    labels = write_jsonl(tmp_path / "l.jsonl", [{"id": "q1", "topics": ["ssm"]}, {"id": "q2", "topics": []}])
    config = Config.model_validate({"topics": {"ssm": {"label": "SSM", "keywords": ["Mamba"]}}})
    (day,) = evaluate(labels, [first, second], config).full_days
    assert day.papers == 2 and (day.topics[0].hand, day.topics[0].counted) == (1, 1)
    partial = write_jsonl(tmp_path / "l2.jsonl", [{"id": "q1", "topics": ["ssm"]}])
    assert evaluate(partial, [first, second], config).full_days == ()


def test_labels_for_topics_the_config_lacks_are_named(tmp_path: Path) -> None:
    labels = write_jsonl(
        tmp_path / "l.jsonl", [{"id": "q1", "topics": ["ssm", "rl"]}, {"id": "q2", "topics": []}]
    )
    papers = write_jsonl(tmp_path / "p.jsonl", [paper("q1", "Mamba here", "2026-02-04")])
    config = Config(topics={"ssm": Topic(label="SSM", keywords=["Mamba"])})
    report = evaluate(labels, [papers], config)
    assert report.unknown_topics == ("rl",)
    assert "Labels name topics the config does not have, left out: rl" in format_report(report)
    assert evaluate(
        labels, [papers], Config(topics={"rl": Topic(label="RL", keywords=["RL"])})
    ).unknown_topics == ("ssm",)


@pytest.mark.parametrize(
    ("hand", "counted", "within"),
    [(129, 97, True), (129, 96, False), (57, 43, True), (57, 42, False), (8, 4, True), (8, 13, False),
     (0, 4, True), (0, 5, False)],
)  # fmt: skip
def test_count_tolerance_is_a_quarter_but_at_least_four(hand: int, counted: int, within: bool) -> None:
    assert TopicCount("t", "T", hand=hand, counted=counted, tp=0).within is within


@pytest.mark.parametrize(
    ("labels", "papers", "message"),
    [
        ('{"id": "p1"\n', '{"id": "p1"}\n', "labels.jsonl:1: not a label record (Expecting ','"),
        # topics as a string would be a set of letters, not a label
        ('\n{"id": "p1", "topics": "ssm"}\n', '{"id": "p1"}\n', "labels.jsonl:2: not a label record (topics"),
        ('{"id": "p1", "topics": []}\n', '["p1"]\n', "papers.jsonl:1: not a paper record (a JSON"),
        ('{"id": "p1", "topics": []}\n', b"\xff\xfe\x00", "papers.jsonl: cannot be read as UTF-8 text"),
    ],
)
def test_a_malformed_labels_or_papers_file_is_named_with_its_line(
    tmp_path: Path, labels: str, papers: str | bytes, message: str
) -> None:
    (tmp_path / "labels.jsonl").write_text(labels, encoding="utf-8")
    p = tmp_path / "papers.jsonl"
    p.write_bytes(papers) if isinstance(papers, bytes) else p.write_text(papers, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["eval", "--labels", str(tmp_path / "labels.jsonl"), "--papers", str(p)], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and message in result.output


def test_paper_candidate_drops_class_strings_and_keeps_primary_first() -> None:
    c = paper_candidate(paper("2602.00001", "T", "2026-02-04"))
    assert c.categories == ("cs.LG",)
    assert c.key == "arxiv:2602.00001" and c.sources == ("arxiv-listing",)


def test_fixture_corpus_with_default_topics() -> None:
    """Real labelled papers: the known keyword negatives stay out, the digest keeps most labels right."""
    report = evaluate(FIXTURES / "labels.jsonl", [FIXTURES / "papers.jsonl"], Config(topics=DEFAULT_TOPICS))
    mamba = next(t for t in report.topics if t.topic == "mamba")
    assert (mamba.tp, mamba.fp) == (3, 0)  # Koopman SSM baselines, EP "state space", algebra: not Mamba
    shown = {(p.paper_id, p.topic) for p in report.shown}
    assert ("2601.09853", "mamba") not in shown  # "samba" only inside a GitHub URL
    assert ("2602.04802", "multimodal") in shown
    assert report.pair_precision is not None and report.pair_precision >= 0.7


def test_gzipped_papers_and_labels_read_like_plain_ones(tmp_path: Path) -> None:
    """Corpus days are kept gzipped (tests/fixtures/corpus, benchmarks/data): eval reads them as they are."""
    import gzip

    papers, labels = FIXTURES / "papers.jsonl", FIXTURES / "labels.jsonl"
    for path in (papers, labels):
        (tmp_path / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    config = Config(topics=DEFAULT_TOPICS)
    plain = evaluate(labels, [papers], config)
    zipped = evaluate(tmp_path / "labels.jsonl.gz", [tmp_path / "papers.jsonl.gz"], config)
    assert zipped.topics == plain.topics and zipped.shown == plain.shown
    assert sum(t.tp for t in zipped.topics) > 0
    (tmp_path / "broken.jsonl.gz").write_bytes(gzip.compress(papers.read_bytes())[:40])
    broken = tmp_path / "broken.jsonl.gz"
    result = CliRunner().invoke(cli, ["eval", "--labels", str(labels), "--papers", str(broken)])
    assert result.exit_code == 2 and "broken.jsonl.gz: cannot be read" in result.output
    assert "Traceback" not in result.output
