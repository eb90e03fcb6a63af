"""Writing topic keywords into the reader's TOML config, the reader's comments and layout kept.

tomlkit keeps everything it does not touch byte for byte: comments, blank lines, the order of tables and
keys, how arrays are wrapped. The new text is checked by loading it as a config before it replaces the
file (written beside it and renamed: a crash never leaves half a file), and the caller gets a unified diff
to show, so nothing is written silently.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array, Table

from ._compat import tomllib
from .config import Topic, parse_config
from .errors import ConfigError


@dataclass(frozen=True)
class Edit:
    """A config file's text before and after adding keywords."""

    path: Path
    before: str
    after: str
    added: tuple[str, ...]  # the keywords that were not there yet
    wrote_defaults: bool  # the file had no [topics]: the topics in force were written out first

    def diff(self) -> str:
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile=f"{self.path} (before)",
            tofile=f"{self.path} (after)",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _array(values: Sequence[str]) -> Array:
    arr = tomlkit.array()
    arr.extend(values)
    if len(values) > 3:
        arr.multiline(True)
    return arr


def _topic_table(topic: Topic) -> Table:
    table = tomlkit.table()
    table.add("label", topic.label)
    table.add("keywords", _array(topic.keywords))
    if topic.exclude:
        table.add("exclude", _array(topic.exclude))
    return table


def add_keywords(
    path: Path, key: str, label: str, keywords: Sequence[str], topics_in_force: Mapping[str, Topic]
) -> Edit:
    """The edit that adds ``keywords`` to ``[topics.<key>]`` in ``path`` (the table is created, labelled
    ``label``, when the topic is new). Nothing is written: see :func:`write`.

    A file without any ``[topics.*]`` uses the built-in topics, and one topic table in it would replace
    them all; so the topics in force are written out first and the keywords added to them.
    """
    try:
        before = path.read_text(encoding="utf-8")
        doc = tomlkit.parse(before)
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    except TOMLKitError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    wrote_defaults = False
    topics = doc.get("topics")
    if topics is None:
        topics = tomlkit.table(is_super_table=True)
        for k, t in topics_in_force.items():
            topics.add(k, _topic_table(t))
        doc.add(tomlkit.nl())
        doc.add("topics", topics)
        wrote_defaults = True
    if not isinstance(topics, Table):
        raise ConfigError(f"{path}: topics is not a table; add the keywords by hand")
    table = topics.get(key)
    if table is None:
        table = tomlkit.table()
        table.add("label", label)
        table.add("keywords", _array([]))
        topics.add(key, table)
    existing = table.get("keywords")
    if existing is None:
        existing = _array([])
        table.add("keywords", existing)
    if not isinstance(existing, Array):
        raise ConfigError(f"{path}: topics.{key}.keywords is not an array; add the keywords by hand")
    have = {str(k).strip().casefold() for k in existing}
    added = []
    # An array written over several lines gets one line per new keyword, after the last line (whose
    # comment stays its own); a one-line array stays on its line.
    wrapped = "\n" in existing.as_string()
    for kw in keywords:
        if kw.strip().casefold() not in have:
            if wrapped:
                existing.add_line(kw, indent="    ")
            else:
                existing.append(kw)
            have.add(kw.strip().casefold())
            added.append(kw)
    after = tomlkit.dumps(doc)
    _check(path, after, key, [str(k) for k in existing])
    return Edit(path, before, after, tuple(added), wrote_defaults)


def _check(path: Path, text: str, key: str, keywords: list[str]) -> None:
    """The new text must load as a config with exactly the intended keywords: a keyword the config
    would refuse is never written, nor one that landed inside a comment."""
    try:
        config = parse_config(tomllib.loads(text), str(path))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: the edited file would not be valid TOML ({e}); nothing written") from None
    got = config.topics[key].keywords if key in config.topics else []
    if got != [k.strip() for k in keywords if k.strip()]:
        raise ConfigError(
            f"{path}: topics.{key}.keywords would not read back as intended; nothing written, "
            "add the keywords by hand"
        )


def write(edit: Edit) -> None:
    """Replace the file with the edited text, all or nothing, keeping its permissions."""
    path = edit.path
    try:
        mode = path.stat().st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(edit.after)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            if path.read_text(encoding="utf-8") != edit.before:
                raise ConfigError(f"{path}: changed by something else meanwhile; nothing written, run again")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise ConfigError(f"{path}: cannot write: {e.strerror or e}") from None
