"""The daily-log note: the day's section written into a notes file without touching anything else."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from digest.config import Markdown
from digest.delivery.notes import END, start_marker, update_note, write_note
from digest.errors import DeliveryError
from digest.rendering.daily import render_markdown

from .digests import fixed_digest

DAY = date(2025, 10, 14)


def section(text: str = "") -> str:
    return text or render_markdown(fixed_digest())


def test_new_note_is_created_with_the_marked_section(tmp_path):
    cfg = Markdown(dir=str(tmp_path / "vault" / "daily"))
    path = write_note(cfg, DAY, section())
    assert path == tmp_path / "vault" / "daily" / "2025-10-14.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!-- digest:start 2025-10-14 -->\n## 데일리 트렌드 — 2025-10-14 (화)")
    assert text.endswith(f"{END}\n")
    assert list(tmp_path.glob("vault/daily/.*")) == []  # no temporary file left behind


def test_rewriting_replaces_only_its_section_and_keeps_the_readers_lines(tmp_path):
    cfg = Markdown(dir=str(tmp_path))
    note = tmp_path / "2025-10-14.md"
    above = "# 2025-10-14\n\n- [ ] 장보기\n- 회의 메모: **중요**\n"
    below = "\n## 저녁\n오늘 읽은 것 정리. <!-- 내 주석 -->\n"
    note.write_text(above, encoding="utf-8")

    write_note(cfg, DAY, "## first version\n")
    with note.open("a", encoding="utf-8") as f:
        f.write(below)  # the reader keeps writing after the section
    write_note(cfg, DAY, "## second version\n")
    write_note(cfg, DAY, "## second version\n")  # a re-run

    text = note.read_text(encoding="utf-8")
    assert text.count(start_marker(DAY)) == 1 and text.count(END) == 1
    assert "first version" not in text
    assert text == f"{above}\n{start_marker(DAY)}\n## second version\n{END}\n{below}"


def test_crlf_notes_keep_their_line_endings_outside_the_section(tmp_path):
    note = tmp_path / "2025-10-14.md"
    note.write_bytes(b"line one\r\nline two\r\n")
    write_note(Markdown(dir=str(tmp_path)), DAY, "## s\n")
    assert note.read_bytes().startswith(b"line one\r\nline two\r\n")


SEOUL = ZoneInfo("Asia/Seoul")
RUN_AT = datetime(2025, 10, 14, 8, 5, tzinfo=SEOUL)  # before 09:00 in Seoul: still the 13th in UTC


def test_jekyll_posts_get_a_name_jekyll_builds_and_dated_front_matter(tmp_path):
    cfg = Markdown(dir=str(tmp_path / "blog" / "_posts"))  # filename not set: {date}.md would be skipped
    path = write_note(cfg, DAY, section(), tz=SEOUL, now=RUN_AT)
    assert path.name == "2025-10-14-daily-trend.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith(
        '---\nlayout: post\ntitle: "데일리 트렌드 2025-10-14"\ndate: 2025-10-14 08:05:00 +0900\n---\n\n'
        "<!-- digest:start 2025-10-14 -->\n## 데일리 트렌드 — 2025-10-14 (화)\n\n{% raw %}\n"
    )
    assert text.endswith("{% endraw %}\n<!-- digest:end -->\n")
    write_note(cfg, DAY, section(), tz=SEOUL, now=RUN_AT.replace(hour=11))
    assert path.read_text(encoding="utf-8") == text  # idempotent: the front matter is written once


def test_a_past_days_post_is_dated_noon_of_that_day(tmp_path):
    cfg = Markdown(dir=str(tmp_path / "_posts"), filename="{date}-trend.md")
    path = write_note(cfg, DAY, "## s\n", tz=SEOUL, now=datetime(2025, 11, 2, 9, 0, tzinfo=SEOUL))
    assert "date: 2025-10-14 12:00:00 +0900\n" in path.read_text(encoding="utf-8")


def test_a_name_jekyll_would_skip_is_refused(tmp_path):
    with pytest.raises(DeliveryError, match=r"markdown.filename: '2025-10-14.md' .* would be skipped"):
        write_note(Markdown(dir=str(tmp_path / "_posts"), filename="{date}.md"), DAY, "## s\n")
    assert not (tmp_path / "_posts" / "2025-10-14.md").exists()


def test_an_empty_post_file_still_gets_front_matter(tmp_path):
    posts = tmp_path / "_posts"
    posts.mkdir()
    (posts / "2025-10-14-daily-trend.md").write_text("", encoding="utf-8")
    path = write_note(Markdown(dir=str(posts)), DAY, "## s\n", tz=SEOUL, now=RUN_AT)
    assert path.read_text(encoding="utf-8").startswith("---\nlayout: post\n")


def test_obsidian_and_plain_folders_get_the_section_as_it_is(tmp_path):
    md = section()
    for folder in ("vault/Daily", "notes"):
        path = write_note(Markdown(dir=str(tmp_path / folder)), DAY, md)
        assert path.name == "2025-10-14.md"
        assert path.read_text(encoding="utf-8") == f"{start_marker(DAY)}\n{md.rstrip()}\n{END}\n"


def test_a_real_jekyll_site_builds_the_post_with_feed_text_as_text(tmp_path):
    jekyll = shutil.which("jekyll")
    if jekyll is None:
        pytest.skip("jekyll is not installed (Debian: apt-get install jekyll)")
    site = tmp_path / "site"
    (site / "_layouts").mkdir(parents=True)
    (site / "_config.yml").write_text("title: my study log\ntimezone: Asia/Seoul\n", encoding="utf-8")
    (site / "_layouts" / "post.html").write_text("<article>{{ content }}</article>\n", encoding="utf-8")
    (site / "index.html").write_text(
        "---\n---\n{% for p in site.posts %}<li>{{ p.title }}|{{ p.excerpt }}</li>{% endfor %}\n",
        encoding="utf-8",
    )
    d = fixed_digest()
    liquid = "{% include secrets.html %} {{ site.title }} {% endraw %} Tricky"
    first = d.entries[0]
    hostile = replace(first.candidate, title=liquid)
    d.entries[0] = replace(first, scored=replace(first.scored, candidate=hostile))
    write_note(Markdown(dir=str(site / "_posts")), DAY, render_markdown(d), tz=SEOUL, now=RUN_AT)

    built = subprocess.run(
        [jekyll, "build", "--source", str(site), "--destination", str(site / "_site")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Warning" not in built.stdout + built.stderr and "Skipping" not in built.stdout
    post = (site / "_site" / "2025" / "10" / "14" / "daily-trend.html").read_text(encoding="utf-8")
    assert post.startswith("<article>") and "<h3" in post and "데일리 트렌드 — 2025-10-14 (화)" in post
    # The feed's Liquid is text, not run: no include, no site title, no early end of the raw block.
    assert "{% include secrets.html %} {{ site.title }} {% endraw %} Tricky" in post
    assert "my study log" not in post
    assert '<code class="language-plaintext highlighter-rouge">cs.CL</code>' in post
    assert '<a href="https://arxiv.org/pdf/2510.00001">PDF</a>' in post
    index = (site / "_site" / "index.html").read_text(encoding="utf-8")
    assert "<li>데일리 트렌드 2025-10-14|" in index


def test_year_and_month_folders(tmp_path):
    cfg = Markdown(dir=str(tmp_path), filename="{year}/{month}/{date}.md")
    assert write_note(cfg, DAY, "## s\n") == tmp_path / "2025" / "10" / "2025-10-14.md"


def test_other_days_sections_are_left_alone(tmp_path):
    cfg = Markdown(dir=str(tmp_path), filename="trends.md")
    write_note(cfg, date(2025, 10, 13), "## monday\n")
    write_note(cfg, DAY, "## tuesday\n")
    write_note(cfg, DAY, "## tuesday v2\n")
    text = (tmp_path / "trends.md").read_text(encoding="utf-8")
    assert "## monday" in text and "## tuesday v2" in text and "## tuesday\n" not in text
    assert text.index("monday") < text.index("tuesday")


def test_a_broken_marker_is_refused_rather_than_eating_notes(tmp_path):
    note = tmp_path / "2025-10-14.md"
    original = f"{start_marker(DAY)}\n## old\n\nmy own notes, no end marker\n"
    note.write_text(original, encoding="utf-8")
    with pytest.raises(DeliveryError, match="no <!-- digest:end -->"):
        write_note(Markdown(dir=str(tmp_path)), DAY, "## new\n")
    assert note.read_text(encoding="utf-8") == original


def test_bad_filename_pattern_is_a_clear_error(tmp_path):
    with pytest.raises(DeliveryError, match="markdown.filename"):
        write_note(Markdown(dir=str(tmp_path), filename="{weekday}.md"), DAY, "## s\n")


def test_a_run_writes_the_days_note(tmp_path):
    import asyncio

    import httpx2

    from digest import demo
    from digest.pipeline import default_clients, run_digest
    from digest.progress import Progress
    from digest.state import State

    notes = tmp_path / "notes"
    config = demo.sample_config(tmp_path / "state").model_copy(update={"markdown": Markdown(dir=str(notes))})
    with State.open(config.state_path) as state:
        demo.seed(state, config, through=demo.SAMPLE_DAY)

    async def run():
        transport = httpx2.MockTransport(demo._serve)
        async with default_clients(config, transport=transport, llm=False) as clients:
            return await run_digest(
                config, demo.SAMPLE_DAY, clients=clients, progress=Progress(quiet=True), now=demo.SAMPLE_NOW
            )

    result = asyncio.run(run())
    asyncio.run(run())  # a re-run replaces the section
    text = (notes / f"{demo.SAMPLE_DAY}.md").read_text(encoding="utf-8")
    assert text == f"{start_marker(demo.SAMPLE_DAY)}\n{result.markdown.rstrip()}\n{END}\n"


def test_a_re_run_leaves_a_section_the_reader_edited_and_replaces_one_they_did_not(tmp_path):
    cfg = Markdown(dir=str(tmp_path))
    note = tmp_path / "2025-10-14.md"
    v1 = "## v1\n- **[A](https://a.example)**\n- **[B](https://b.example)**\n"
    first = update_note(cfg, DAY, v1, last=None)
    assert first.section and not first.kept
    # Untouched (an editor that saved it with CRLF and trailing spaces changed nothing): replaced.
    note.write_bytes(note.read_bytes().replace(b"\n", b"  \r\n"))
    second = update_note(cfg, DAY, "## v2\n- **[A](https://a.example)**\n", last=first.section)
    assert not second.kept and "## v2" in note.read_text(encoding="utf-8")
    # The reader deletes an item and writes under another: a re-run leaves every byte as they have it.
    edited = note.read_text(encoding="utf-8").replace(
        "- **[A](https://a.example)**\n", "- **[A](https://a.example)**\n  - 읽어 볼 것\n"
    )
    note.write_text(edited, encoding="utf-8")
    third = update_note(cfg, DAY, "## v3\n- **[C](https://c.example)**\n", last=second.section)
    assert third.kept == "edited" and third.section is None
    assert note.read_text(encoding="utf-8") == edited
    # A section the reader took out is not put back; their own lines stay.
    note.write_text("# 2025-10-14\n\n오늘은 논문 대신 세미나.\n", encoding="utf-8")
    assert update_note(cfg, DAY, "## v4\n", last=second.section).kept == "removed"
    assert note.read_text(encoding="utf-8") == "# 2025-10-14\n\n오늘은 논문 대신 세미나.\n"


def test_a_jekyll_post_the_reader_edited_is_left_alone_too(tmp_path):
    cfg = Markdown(dir=str(tmp_path / "_posts"))
    first = update_note(cfg, DAY, section(), last=None, tz=SEOUL, now=RUN_AT)
    assert first.section and "{% raw %}" in first.section  # recorded as it is in the file
    assert update_note(cfg, DAY, section(), last=first.section, tz=SEOUL, now=RUN_AT).kept == ""
    [post] = (tmp_path / "_posts").glob("*.md")
    post.write_text(post.read_text(encoding="utf-8").replace("{% endraw %}", "내 생각: 좋다\n{% endraw %}"))
    edited = post.read_bytes()
    assert update_note(cfg, DAY, "## 새 판\n", last=first.section, tz=SEOUL, now=RUN_AT).kept == "edited"
    assert post.read_bytes() == edited


def _run_sample_day(config, progress):
    import asyncio

    import httpx2

    from digest import demo
    from digest.pipeline import default_clients, run_digest

    async def run():
        transport = httpx2.MockTransport(demo._serve)
        async with default_clients(config, transport=transport, llm=False) as clients:
            return await run_digest(
                config, demo.SAMPLE_DAY, clients=clients, progress=progress, now=demo.SAMPLE_NOW
            )

    return asyncio.run(run())


def _sample_setup(tmp_path):
    from digest import demo
    from digest.state import State

    notes = tmp_path / "notes"
    config = demo.sample_config(tmp_path / "state").model_copy(update={"markdown": Markdown(dir=str(notes))})
    with State.open(config.state_path) as state:
        demo.seed(state, config, through=demo.SAMPLE_DAY)
    return config, notes / f"{demo.SAMPLE_DAY}.md"


def _edit_first_item(note):
    """The reader writes a line under the first item and deletes the last one."""
    lines = note.read_text(encoding="utf-8").splitlines()
    items = [i for i, line in enumerate(lines) if line.startswith("- **[")]
    first, last = items[0], items[-1]
    end = next((i for i in range(last + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    lines = lines[: first + 1] + ["  - 내 메모: 세미나 때 소개할 것"] + lines[first + 1 : last] + lines[end:]
    note.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_same_day_re_run_keeps_the_readers_edits_and_says_so(tmp_path):
    import io

    from digest import demo
    from digest.progress import Progress

    config, note = _sample_setup(tmp_path)
    _run_sample_day(config, Progress(quiet=True))
    _edit_first_item(note)
    edited = note.read_bytes()
    err = io.StringIO()
    _run_sample_day(config, Progress(err, quiet=True))
    assert note.read_bytes() == edited
    [line] = [x for x in err.getvalue().splitlines() if "note:" in x]
    assert f"you edited the {demo.SAMPLE_DAY} section since digest wrote it; left as you have it" in line
    assert line.endswith(f"{demo.SAMPLE_DAY}.md)")  # where this run's section is instead


def test_a_state_from_before_the_record_still_keeps_the_edits(tmp_path):
    from digest.progress import Progress
    from digest.state import State

    config, note = _sample_setup(tmp_path)
    _run_sample_day(config, Progress(quiet=True))
    with State.open(config.state_path) as state:  # as a state written before notes_written existed
        state.conn.execute("delete from notes_written")
    _edit_first_item(note)
    edited = note.read_bytes()
    _run_sample_day(config, Progress(quiet=True))
    assert note.read_bytes() == edited  # judged against the archive's Markdown from the earlier run


def test_a_note_the_run_never_reached_gets_the_section_though_the_day_was_archived(tmp_path):
    from digest.progress import Progress
    from digest.state import State

    config, note = _sample_setup(tmp_path)
    _run_sample_day(config.model_copy(update={"markdown": Markdown(enabled=False)}), Progress(quiet=True))
    with State.open(config.state_path) as state:
        assert state.conn.execute("select count(*) from notes_written").fetchone()[0] == 0
    note.parent.mkdir(parents=True)
    note.write_text("# 오늘\n\n- 세미나 준비\n", encoding="utf-8")  # the reader's daily note, made before
    _run_sample_day(config, Progress(quiet=True))
    text = note.read_text(encoding="utf-8")
    assert text.startswith("# 오늘\n\n- 세미나 준비\n") and text.count(END) == 1
