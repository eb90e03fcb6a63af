"""The README cannot drift: its samples are the demos' real output, and every command is documented.

``python -m tests.test_docs --write`` regenerates the generated blocks (see GENERATED)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest._compat import tomllib
from digest.cli import cli

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

# The blocks the code writes: <!-- NAME:start --> ```markdown … ``` <!-- NAME:end --> in README.md or in
# docs/*.md hold exactly what these commands print. `python -m tests.test_docs --write` regenerates them.
GENERATED = {
    "demo": ["now", "--demo", "-q"],
    "week-demo": ["week", "--demo", "-q"],
}
REQUIRED_IN_README = ("demo", "week-demo")


def _block(name: str) -> re.Pattern[str]:
    n = re.escape(name)
    return re.compile(rf"(<!-- {n}:start -->\n```markdown\n)(.*?)(```\n<!-- {n}:end -->)", re.S)


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def generated(name: str) -> str:
    result = CliRunner().invoke(cli, GENERATED[name])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_readme_has_the_demo_blocks():
    for name in REQUIRED_IN_README:
        assert _block(name).search(README), f"README lost its {name} block"


@pytest.mark.parametrize("name", list(GENERATED))
def test_every_generated_block_is_the_commands_output(name: str):
    found = [(p, m.group(2)) for p in _documents() for m in _block(name).finditer(p.read_text("utf-8"))]
    output = generated(name) if found else ""
    command = " ".join(GENERATED[name])
    for path, text in found:
        assert text == output, f"{path.name}: the {name} block is not what `digest {command}` prints"


def write_blocks() -> list[str]:
    """Rewrite every generated block in README.md and docs/*.md; returns what changed."""
    changed = []
    outputs: dict[str, str] = {}
    for path in _documents():
        text = path.read_text(encoding="utf-8")
        new = text
        for name in GENERATED:
            if _block(name).search(new):
                out = outputs.setdefault(name, generated(name))
                new = _block(name).sub(lambda m, out=out: m.group(1) + out + m.group(3), new)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(str(path.relative_to(ROOT)))
    return changed


def test_every_command_has_help_and_is_in_the_readme():
    for name, command in cli.commands.items():
        assert command.help, f"digest {name} has no help text"
        assert f"`digest {name}" in README, f"digest {name} is not documented in README.md"


def test_quickstart_commands_are_the_ci_commands():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
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


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_docs --write  (regenerates the blocks in README.md and docs/)")
    for changed in write_blocks():
        print(f"rewrote {changed}")
