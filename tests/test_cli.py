"""CLI papercuts a newcomer meets in the first week: the demo with one's own config, state_dir errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from digest.cli import cli
from tests import llmserver
from tests.llmserver import LLMServer

llm_server = llmserver.llm_server


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def items(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("- ")]


def test_demo_uses_the_config_topics_and_selection_but_never_its_network(
    tmp_path: Path, llm_server: LLMServer
) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(
        f"""
[selection]
max_items = 3
[topics.ssm]
label = "상태공간"
keywords = ["state space model", "Mamba", "SSM"]
[topics.rl]
label = "RL"
keywords = ["reinforcement learning"]
[[feeds]]
name = "Never fetched"
url = "https://blog.invalid/feed.xml"
[llm]
base_url = "{llm_server.url}"
api_key_env = "DIGEST_TEST_KEY"
""",
        encoding="utf-8",
    )
    os.environ["DIGEST_TEST_KEY"] = "not-a-secret"
    try:
        result = invoke("now", "--demo", "--config", str(config))
    finally:
        del os.environ["DIGEST_TEST_KEY"]
    assert result.exit_code == 0, result.output
    lines = items(result.stdout)
    assert len(lines) == 3  # [selection] max_items
    assert all("`상태공간`" in line or "`RL`" in line for line in lines), lines
    assert "`LLM`" not in result.stdout  # the built-in topics are replaced, as with any config
    assert "DSS-GAN" in result.stdout  # the sample day's own Mamba paper
    assert llm_server.calls == 0 and llm_server.requests == []  # no LLM, even with a base_url set
    assert "Never fetched" not in result.stderr
    if "⚠️" in result.stdout:  # an item picked by one's own topics without a prewritten line
        assert "have no takeaway written in advance" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[selection]\nmax_itemz = 3\n", "did you mean `max_items`?"),
        ("[topics.x]\nlabel = 'X'\nkeywords = []\n", "topics.x.keywords: needs at least one keyword"),
    ],
)
def test_demo_rejects_a_bad_config_like_every_command(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    for command in (["now", "--demo"], ["preview", "--demo"], ["now"]):
        result = invoke(*command, "--config", str(config))
        assert result.exit_code == 2, (command, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_demo_rejects_a_missing_config_file(tmp_path: Path) -> None:
    result = invoke("now", "--demo", "--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2
    assert result.output == f"Error: {tmp_path / 'nope.toml'}: config file not found\n"


def test_demo_without_a_config_is_the_readme_sample() -> None:
    result = invoke("now", "--demo", "-q")
    assert result.exit_code == 0
    assert len(items(result.stdout)) == 10


@pytest.mark.parametrize("usable", [True, False])
def test_compiled_templates_are_cached_and_an_unsafe_cache_changes_nothing(
    tmp_path: Path, usable: bool
) -> None:
    # The CLI as a user runs it, in a process of its own: Jinja's bytecode cache lives in TMPDIR.
    import subprocess
    import sys

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    if not usable:  # Jinja refuses a cache directory that is not its own 0700 directory: no cache then
        (tmp / f"_jinja2-cache-{os.getuid()}").write_text("not a directory")
    env = {**os.environ, "TMPDIR": str(tmp)}
    command = [sys.executable, "-m", "digest", "now", "--demo", "-q"]
    runs = [subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout and len(items(runs[0].stdout)) == 10
    assert "Traceback" not in runs[0].stderr + runs[1].stderr
    assert bool(list(tmp.glob("_jinja2-cache-*/*.cache"))) == usable


# -- an unusable state_dir: one line, the same wording for every command ------------------------


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "readonly"
    path.mkdir()
    path.chmod(0o500)
    if os.access(path, os.W_OK):  # root ignores the mode bits; /proc/self refuses even root
        path = Path("/proc/self")
        if not path.is_dir() or os.access(path, os.W_OK):
            pytest.skip("no directory this user cannot write in")
    yield path
    (tmp_path / "readonly").chmod(0o700)


def error_lines(result: Result) -> list[str]:
    """What a command printed besides the progress line naming its config file."""
    return [line for line in result.output.splitlines() if not line.startswith("config: ")]


def state_config(tmp_path: Path, state_dir: Path) -> Path:
    config = tmp_path / "state.toml"
    # No source can be reached, so a command that got past the state check would fail differently.
    config.write_text(
        f'state_dir = "{state_dir}"\nfeeds = []\n[arxiv]\nenabled = false\n[huggingface]\nenabled = false\n',
        encoding="utf-8",
    )
    return config


COMMANDS = [["preview", "--demo"], ["preview"], ["now"], ["status"], ["history"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_state_dir_that_is_a_file(tmp_path: Path, command: list[str]) -> None:
    state = tmp_path / "state"
    state.write_text("not a directory", encoding="utf-8")
    result = invoke(*command, "--config", str(state_config(tmp_path, state)))
    assert result.exit_code == 1, result.output
    assert error_lines(result) == [f"Error: {state}: the state directory is not a directory (state_dir)"]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_state_dir_that_cannot_be_created(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    state = tmp_path / "file" / "state"  # a path through a file: mkdir must fail
    result = invoke(*command, "--config", str(state_config(tmp_path, state)))
    assert result.exit_code == 1, result.output
    [line] = error_lines(result)
    assert line.startswith(f"Error: {state}: cannot create the state directory: ")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_state_dir_that_is_not_writable(tmp_path: Path, unwritable_dir: Path, command: list[str]) -> None:
    result = invoke(*command, "--config", str(state_config(tmp_path, unwritable_dir)))
    assert result.exit_code == 1, result.output
    [line] = error_lines(result)
    assert line.startswith(f"Error: {unwritable_dir}: cannot write in the state directory: ")
