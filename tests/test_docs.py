"""The README cannot drift: its sample is the demo's real output, and every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from digest._compat import tomllib
from digest.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_sample_is_the_demo_output():
    result = CliRunner().invoke(cli, ["now", "--demo", "-q"])
    assert result.exit_code == 0, result.output
    sample = re.search(r"<!-- demo:start -->\n```markdown\n(.*?)```\n<!-- demo:end -->", README, re.S)
    assert sample, "README lost its demo block"
    assert sample.group(1) == result.stdout


def test_every_command_has_help_and_is_in_the_readme():
    for name, command in cli.commands.items():
        assert command.help, f"digest {name} has no help text"
        assert f"`digest {name}" in README, f"digest {name} is not documented in README.md"


def test_quickstart_commands_are_the_ci_commands():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    # The line under this comment, not the script's last line (the Python 3.10 run comes after it).
    test_command = ci[ci.index("# The README's test command, exactly:") + 1]
    assert "pytest" in test_command
    assert test_command in README
    assert "pip install -q -c constraints.txt . && digest now --demo" in README


def test_the_linters_are_pinned_and_the_lock_covers_every_dependency():
    """A release of a linter or a dependency must not turn a fresh clone's test run red."""
    root = Path(__file__).parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    test_deps = project["optional-dependencies"]["test"]
    for tool in ("ruff", "mypy"):
        assert any(re.fullmatch(rf"{tool}==[\d.]+", d) for d in test_deps), tool
    locked = {}
    for line in (root / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("==")
            assert rest and rest[0].isdigit(), f"constraints.txt: {line!r} is not an exact pin"
            locked[_normal(name)] = rest
    for requirement in [*project["dependencies"], *test_deps]:
        name = _normal(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
        assert name in locked, f"{name} is not pinned in constraints.txt"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
