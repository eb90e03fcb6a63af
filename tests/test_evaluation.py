from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest.config import DEFAULT_TOPICS, Config
from digest.evaluation import evaluate, format_report, paper_candidate

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
