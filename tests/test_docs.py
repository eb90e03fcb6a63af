"""The README and docs/ cannot drift: their samples are the demos' real output, every command and
every config key is documented, and nothing documented is gone.

``python -m tests.test_docs --write`` regenerates the generated blocks (see GENERATED) and the eval page."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

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
REQUIRED_IN_README = ("demo",)
DOCS = ROOT / "docs"


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


# --- the README is a short guide; the reference is in docs/ -------------------------------------------


def guide_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md")), ROOT / "benchmarks" / "README.md"]


def test_the_readme_is_a_guide_a_student_reads_in_five_minutes() -> None:
    assert len(README.splitlines()) <= 250
    korean, _, english = README.partition("\n# English\n")
    assert english, "the README lost its English section"
    assert len(english.splitlines()) < len(korean.splitlines()) / 3  # a short summary, not a second README
    # regenerated from the code between these markers; the week's sample is in docs/week.md
    assert README.count("<!-- demo:start -->") == README.count("<!-- demo:end -->") == 1
    week = (DOCS / "week.md").read_text(encoding="utf-8")
    assert week.count("<!-- week-demo:start -->") == week.count("<!-- week-demo:end -->") == 1


@pytest.mark.parametrize("page", guide_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_page_needs_nothing_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text and "shared/corpus" not in text and "/work/" not in text
    for target in re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path) if path else page
        assert linked.exists(), f"{page.name}: broken link {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name}: {target} names no heading of {linked.name}"


def anchors(page: Path) -> set[str]:
    """The ids GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", guide_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_config_example_on_a_page_is_a_valid_config(page: Path) -> None:
    """A reader copies these blocks into digest.toml: each one loads, with no unknown or misspelt key."""
    from digest.config import parse_config

    for block in re.findall(r"```toml\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
        parse_config(tomllib.loads(block), f"{page.name} example")


def test_the_readme_links_every_page_in_docs() -> None:
    for page in sorted(DOCS.glob("*.md")):
        assert f"(docs/{page.name})" in README, f"docs/{page.name} is not linked from the README"


# --- docs/configuration.md is checked against `digest config` -----------------------------------------


def printed_config() -> dict[tuple[str, str], Any]:
    """Every key `digest config` prints, as (section, key) → its default (None where entries differ)."""
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code == 0, result.output
    keys: dict[tuple[str, str], Any] = {}
    for name, value in tomllib.loads(result.stdout).items():
        if name == "topics":
            keys.update({("topics.이름", k): None for topic in value.values() for k in topic})
        elif name == "feeds":
            keys.update({("feeds", k): None for feed in value for k in feed})
            keys[("feeds", "enabled")] = True
        elif isinstance(value, dict):
            keys.update({(name, k): v for k, v in value.items()})
        else:
            keys[("", name)] = value
    return keys


def documented_config() -> dict[tuple[str, str], str]:
    """(section, key) → the default cell of docs/configuration.md's tables under "## 모든 키"."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8").split("\n## 모든 키\n", 1)[1]
    section = None
    rows: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            heading = re.match(r"### (?:맨 위|`\[\[?([\w.이름]+)\]\]?`)$", line)
            assert heading, f"configuration.md: an unexpected heading {line!r}"
            section = heading.group(1) or ""
            continue
        row = re.match(r"\| `(\w+)` \| (.*?) \| .* \|$", line)
        if row:
            assert section is not None
            assert (section, row.group(1)) not in rows, f"documented twice: {row.group(1)}"
            rows[(section, row.group(1))] = row.group(2)
    return rows


def test_every_config_key_is_documented_and_nothing_documented_is_gone() -> None:
    printed, documented = printed_config(), documented_config()
    missing = sorted(f"[{s}] {k}" if s else k for s, k in printed.keys() - documented.keys())
    gone = sorted(f"[{s}] {k}" if s else k for s, k in documented.keys() - printed.keys())
    assert not missing, f"docs/configuration.md lacks {missing}"
    assert not gone, f"docs/configuration.md documents keys `digest config` no longer has: {gone}"


def test_documented_defaults_are_the_printed_ones() -> None:
    printed = printed_config()
    checked = 0
    for key, cell in documented_config().items():
        literal = re.fullmatch(r"`([^`]+)`", cell)
        if literal and printed[key] is not None:
            assert tomllib.loads(f"v = {literal.group(1)}")["v"] == printed[key], key
            checked += 1
    assert checked > 40  # nearly every key shows its default as a literal


# --- pages that show the code's numbers or output ------------------------------------------------------


@pytest.mark.parametrize("page", ["trend.md", "week.md"])
def test_the_numbers_a_page_states_are_the_codes(page: str) -> None:
    """A table row `| what | `module.NAME` | value |` states a constant of digest/module.py."""
    import importlib

    text = (DOCS / page).read_text(encoding="utf-8")
    rows = re.findall(r"^\| [^|]+ \| `([\w.]+)\.([A-Z_]+)` \| ([\d.]+) \|$", text, re.M)
    assert len(rows) >= 4
    for module, name, value in rows:
        assert getattr(importlib.import_module(f"digest.{module}"), name) == float(value), f"{module}.{name}"


EVAL_ARGS = [
    "eval",
    "--labels",
    "benchmarks/data/labels.jsonl",
    "--papers",
    "benchmarks/data/arxiv/arxiv-2026-01-16.jsonl.gz",
    "benchmarks/data/arxiv/arxiv-2026-01-19.jsonl.gz",
    *(f"tests/fixtures/corpus/arxiv-2026-02-0{d}.jsonl.gz" for d in (4, 5, 6)),
]
EVAL_BLOCK = re.compile(r"(<!-- eval:start -->\n```text\n)(.*?)(```\n<!-- eval:end -->)", re.S)


def eval_output() -> str:
    """`digest eval` of the shipped labels and days with the built-in topics, from the repository root."""
    result = CliRunner().invoke(cli, EVAL_ARGS)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_evaluation_page_shows_what_digest_eval_says_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    shown = EVAL_BLOCK.search((DOCS / "evaluation.md").read_text(encoding="utf-8"))
    assert shown, "docs/evaluation.md lost its eval block"
    assert shown.group(2) == eval_output(), "re-measure: python -m tests.test_docs"


def write_eval_page() -> None:
    """Today's `digest eval` numbers into docs/evaluation.md."""
    os.chdir(ROOT)
    for name in ("DIGEST_CONFIG", "XDG_CONFIG_HOME"):
        os.environ.pop(name, None)
    page = DOCS / "evaluation.md"
    text = page.read_text(encoding="utf-8")
    page.write_text(EVAL_BLOCK.sub(lambda m: m.group(1) + eval_output() + m.group(3), text), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_docs --write  (regenerates the blocks in README.md and docs/)")
    for changed in write_blocks():
        print(f"rewrote {changed}")
    write_eval_page()
