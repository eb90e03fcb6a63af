"""Edits as feedback: a simulated week of daily-log notes the reader edited, read back through real files."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner

from digest.cli import cli
from digest.config import Config, Markdown
from digest.delivery import archive_email
from digest.delivery.notes import END, as_written, start_marker, update_note, write_note
from digest.models import Entry
from digest.pipeline import today
from digest.reader import feedback
from digest.rendering.daily import entry_view, render_markdown
from digest.state import State

from .digests import entry, fixed_digest

MONDAY = date(2026, 2, 2)


def day_entries(day: date) -> list[Entry]:
    n = day.toordinal() % 1000
    return [
        entry(f"2602.1{n:03d}1", f"Preference Study {n}", "선호.", ("dpo",), authors=("Ada Kim",)),
        entry(f"2602.1{n:03d}2", f"Language Study {n}", "언어 모델.", ("llm",), authors=(f"Bo Lee {n}",)),
        entry(f"2602.1{n:03d}3", f"Selective Scan Study {n}", "상태 공간.", ("mamba",), authors=("Cy Park",)),
    ]


def write_day(config: Config, state: State, day: date) -> str:
    """What a run does for the day: render, archive, write the note, keep what each item was shown with."""
    d = replace(fixed_digest(), day=day, entries=day_entries(day))
    markdown = render_markdown(d)
    archive_email(state, d, markdown=markdown)
    write_note(config.markdown, day, markdown)
    feedback.record_shown(state.conn, day, [e.scored for e in d.entries])
    return markdown


def edit(path: Path, day: date, *, delete: str = "", annotate: str = "") -> None:
    """The reader's edit: drop the item whose title has ``delete``, write a line under ``annotate``'s."""
    out = []
    skipping = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("- **["):
            skipping = bool(delete) and delete in line
        elif not line.startswith("  "):
            skipping = False
        if skipping:
            continue
        out.append(line)
        if annotate and line.startswith("- **[") and annotate in line:
            out.append("  - 내 메모: 다음 주 세미나에서 발표할 것")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def setup(tmp_path: Path) -> tuple[Config, Path]:
    notes = tmp_path / "vault" / "daily"
    config = Config(state_dir=str(tmp_path / "state"), markdown=Markdown(dir=str(notes)))
    return config, notes


def simulated_week(config: Config, notes: Path, start: date = MONDAY) -> None:
    """Four days edited (the Mamba item deleted, a line written under the DPO item), the fifth not opened."""
    with State.open(config.state_path) as state:
        for i in range(5):
            day = start + timedelta(days=i)
            write_day(config, state, day)
            if i < 4:
                edit(notes / f"{day.isoformat()}.md", day, delete="Selective Scan", annotate="Preference")


def test_a_week_of_edits_is_learned_as_bounded_boosts_with_a_reason(tmp_path):
    config, notes = setup(tmp_path)
    simulated_week(config, notes)
    friday = MONDAY + timedelta(days=5)
    with State.open(config.state_path) as state:
        judged = feedback.collect(state.conn, config, state.archive_dir, friday)
        learned = feedback.learn(state.conn, friday)
    assert judged == 12  # 3 items on each of the 4 edited days; the untouched fifth day says nothing
    mamba = learned.records["topic:mamba"]
    dpo = learned.records["topic:dpo"]
    llm = learned.records["topic:llm"]
    assert (mamba.kept, mamba.deleted) == (0, 4) and (dpo.annotated, dpo.deleted) == (4, 0)
    assert (llm.kept, llm.annotated) == (4, 0)  # left as it was in an edited note: kept, mildly
    assert learned.records["author:Ada Kim"].judged == 4
    new = day_entries(friday + timedelta(days=3))
    boosts = {e.scored.candidate.title.split()[0]: learned.boost(e.scored, 0.3) for e in new}
    assert -0.3 < boosts["Selective"] < 0 < boosts["Language"] < boosts["Preference"] < 0.3
    assert learned.reason(new[0].scored) == "이 키워드(dpo)의 항목을 최근 4번 남김"
    assert learned.reason(new[2].scored) == "이 키워드(mamba)의 항목을 최근 4번 지움"
    [suggestion] = [s for s in learned.suggestions(config) if '"mamba"' in s]
    assert "[topics.mamba]" not in suggestion or "keywords" in suggestion
    assert config.topics["mamba"].exclude == Config().topics["mamba"].exclude  # suggested, never applied
    # What the reason line says, in every format.
    shown = replace(new[0].scored, feedback=learned.reason(new[0].scored))
    assert entry_view(Entry(shown, new[0].takeaway)).reason == "이 키워드(dpo)의 항목을 최근 4번 남김"


def test_an_untouched_or_removed_section_teaches_nothing(tmp_path):
    config, notes = setup(tmp_path)
    with State.open(config.state_path) as state:
        written = write_day(config, state, MONDAY)
    note = (notes / f"{MONDAY.isoformat()}.md").read_text(encoding="utf-8")
    assert feedback.judge(written, note, MONDAY) == {}
    assert feedback.judge(written, "# 월요일\n\n- 장보기\n", MONDAY) == {}  # the whole section gone
    emptied = f"{start_marker(MONDAY)}\n## 데일리 트렌드\n{END}\n"
    assert feedback.judge(written, emptied, MONDAY) == {}  # every item gone at once: not one judgment each
    moved = note.replace("### DPO·정렬", "### 읽을 것")
    assert set(feedback.judge(written, moved, MONDAY).values()) == {feedback.ANNOTATED, feedback.KEPT}


def test_a_jekyll_post_is_judged_too(tmp_path):
    posts = tmp_path / "blog" / "_posts"
    config = Config(state_dir=str(tmp_path / "state"), markdown=Markdown(dir=str(posts)))
    with State.open(config.state_path) as state:
        write_day(config, state, MONDAY)
        [post] = posts.glob("*.md")
        edit(post, MONDAY, delete="Selective Scan")
        assert feedback.collect(state.conn, config, state.archive_dir, MONDAY + timedelta(days=1)) == 3
        assert feedback.learn(state.conn, MONDAY + timedelta(days=1)).records["topic:mamba"].deleted == 1


def test_digest_feedback_shows_what_was_learned_and_reset_forgets_it(tmp_path):
    config, notes = setup(tmp_path)
    simulated_week(config, notes, today(config) - timedelta(days=7))  # the command judges the last 60 days
    toml = tmp_path / "digest.toml"
    toml.write_text(f'state_dir = "{config.state_dir}"\n[markdown]\ndir = "{notes}"\n', encoding="utf-8")
    shown = CliRunner().invoke(cli, ["feedback", "--config", str(toml)])
    assert shown.exit_code == 0, shown.output
    assert "Learned from 12 judged items" in shown.output
    assert "topic:mamba  (kept 0, with notes 0, deleted 4)" in shown.output
    assert 'Suggestion: you deleted all 4 items matched by the keyword "mamba"' in shown.output
    forgot = CliRunner().invoke(cli, ["feedback", "--config", str(toml), "--reset"])
    assert forgot.exit_code == 0 and "Forgot 12 judged items" in forgot.output
    again = CliRunner().invoke(cli, ["feedback", "--config", str(toml)])
    assert again.exit_code == 0 and "Nothing learned yet (0 items judged)" in again.output
    no_notes = tmp_path / "plain.toml"
    no_notes.write_text(f'state_dir = "{config.state_dir}"\n', encoding="utf-8")
    refused = CliRunner().invoke(cli, ["feedback", "--config", str(no_notes)])
    assert refused.exit_code == 2 and "set [markdown] dir first" in refused.output


def test_a_re_run_that_left_the_edited_note_is_judged_against_what_the_note_was_written_with(tmp_path):
    config, notes = setup(tmp_path)
    with State.open(config.state_path) as state:
        markdown = write_day(config, state, MONDAY)
        path = notes / f"{MONDAY}.md"
        state.record_note_written(MONDAY, path, as_written(path, markdown))
        edit(path, MONDAY, delete="Selective Scan", annotate="Preference")
        # A re-run with other items: archived and shown, but the edited note is left alone.
        rerun = replace(fixed_digest(), day=MONDAY, entries=day_entries(MONDAY + timedelta(days=1)))
        archive_email(state, rerun, markdown=render_markdown(rerun))
        feedback.record_shown(state.conn, MONDAY, [e.scored for e in rerun.entries])
        last = state.note_written(MONDAY, path)
        assert update_note(config.markdown, MONDAY, render_markdown(rerun), last=last).kept == "edited"
        assert feedback.collect(state.conn, config, state.archive_dir, MONDAY + timedelta(days=1)) == 3
        learned = feedback.learn(state.conn, MONDAY + timedelta(days=1))
    assert learned.records["topic:mamba"].deleted == 1 and learned.records["topic:dpo"].annotated == 1
    assert sum(r.deleted for r in learned.records.values() if r.feature.startswith("topic:")) == 1
