"""Where the plain-file resources (prompts/, templates/) are, installed or not.

They live at the top level of the repository; a built wheel carries them as
``digest/_prompts`` and ``digest/_templates`` (see pyproject.toml).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

_PACKAGE = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    """``resource_dir("templates")`` → the directory holding the templates."""
    for candidate in (_PACKAGE / f"_{name}", _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"digest is missing its {name}/ directory (looked in {_PACKAGE})")


def read_prompt(name: str) -> str:
    """A file of prompts/. (resource_dir knows both layouts; importlib.resources does not cope with
    setuptools' editable installs on every supported Python.)"""
    return (resource_dir("prompts") / name).read_text(encoding="utf-8")


def prompt_template(source: str) -> jinja2.Template:
    """A prompt's user-message template: plain text, not HTML (its values are JSON escaped already)."""
    env = jinja2.Environment(
        autoescape=False, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    return env.from_string(source)
