"""`digest history`, `digest show` and `digest status` on a real state directory."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from digest.cli import cli
from digest.state import State

THU, WED = date(2026, 2, 5), date(2026, 2, 4)
MD = "## 데일리 트렌드 — 2026-02-05 (목)\n\n- **[Paper](https://arxiv.org/abs/2602.04288)** — 한 줄.\n"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
    return path


@pytest.fixture
def filled(config_file: Path, tmp_path: Path) -> Path:
    """Two archived days, their runs and deliveries, plus files history must not list."""
    with State.open(tmp_path / "state") as state:
        archive = state.archive_dir
        archive.mkdir()
        (archive / "2026-02-05.md").write_text(MD, encoding="utf-8")
        (archive / "2026-02-05.html").write_text("<html>목요일</html>", encoding="utf-8")
        (archive / "2026-02-05.txt").write_text("데일리 트렌드 (text)", encoding="utf-8")
        (archive / "2026-02-05.json").write_text("{}", encoding="utf-8")
        (archive / "2026-02-05.preview.html").write_text("preview", encoding="utf-8")
        (archive / "sample-2026-02-05.html").write_text("sample", encoding="utf-8")
        (archive / "2026-02-04.md").write_text("## 수요일\n", encoding="utf-8")
        (archive / "2026-02-03.md.tmp").write_text("half", encoding="utf-8")
        state.finish_run(state.start_run(WED), status="failed")
        state.finish_run(state.start_run(WED), status="ok", items=3)
        thursday = state.start_run(THU)
        state.finish_run(thursday, status="partial", items=7, prompt_tokens=900, completion_tokens=100)
        state.record_run_delivery(thursday, {"sent": 1, "pending": 1, "failed": 0, "skipped": 0})
        state.record_delivery(THU, "a@x.test", "sent", message_id="<1@x>")
        state.record_delivery(THU, "b@x.test", "pending", error="451 later")
    return config_file


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_history_lists_archived_days_newest_first(filled: Path) -> None:
    result = invoke("history", "--config", str(filled))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["day", "items", "sent", "pend.", "fail", "formats"]
    assert lines[1].split() == ["2026-02-05", "(목)", "7", "1", "1", "0", "md", "html", "text"]
    assert lines[2].split() == ["2026-02-04", "(수)", "3", "0", "0", "0", "md"]
    assert len(lines) == 3  # no sample, preview, json or half-written files


def test_history_limit_and_empty_archive(filled: Path, tmp_path: Path) -> None:
    assert len(invoke("history", "-n", "1", "--config", str(filled)).output.splitlines()) == 2
    empty = tmp_path / "empty.toml"
    empty.write_text(f'state_dir = "{tmp_path / "nothing"}"\n', encoding="utf-8")
    result = invoke("history", "--config", str(empty))
    assert result.exit_code == 0 and "No archived digests" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["2026-02-05"], MD),
        (["2026-02-05", "--format", "html"], "<html>목요일</html>"),
        (["2026-02-05", "--format", "text"], "데일리 트렌드 (text)"),
        (["latest"], MD),
        (["2026-02-04"], "## 수요일\n"),
    ],
)
def test_show_prints_the_archived_file_exactly(filled: Path, args: list[str], expected: str) -> None:
    result = invoke("show", *args, "--config", str(filled))
    assert result.exit_code == 0, result.output
    assert result.output == expected


def test_show_explains_a_missing_format_or_day(filled: Path) -> None:
    result = invoke("show", "2026-02-04", "--format", "html", "--config", str(filled))
    assert result.exit_code == 1
    assert "no html archive for 2026-02-04" in result.output and "it has md" in result.output
    result = invoke("show", "2026-01-01", "--config", str(filled))
    assert result.exit_code == 1 and "digest history" in result.output


def test_show_rejects_a_bad_date(filled: Path) -> None:
    result = invoke("show", "2026-13-01", "--config", str(filled))
    assert result.exit_code == 2
    assert "not a date" in result.output


def test_status_shows_deliveries_tokens_and_the_next_run(filled: Path) -> None:
    result = invoke("status", "--config", str(filled))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:9] == [
        "day",
        "status",
        "items",
        "fallb.",
        "calls",
        "tokens",
        "sent",
        "pend.",
        "fail",
    ]
    # newest run first: day, status, items, fallbacks, calls, tokens, sent, pending, failed
    assert lines[1].split()[:9] == ["2026-02-05", "partial", "7", "0", "0", "1000", "1", "1", "0"]
    # Runs that sent no email have no delivery cells (not zeros, not the day's counts).
    assert lines[2].split()[:6] == ["2026-02-04", "ok", "3", "0", "0", "0"]
    assert len(lines[2].split()) == 8  # the six above, then the start's date and time: no delivery cells
    assert lines[3].split()[:2] == ["2026-02-04", "failed"]
    assert "pending: 1 email(s) of 2026-02-05 (`digest send --pending`)" in result.output
    assert any(line.startswith("next run: ") and "10:30 KST" in line for line in lines)
    assert "service: not running" in result.output
