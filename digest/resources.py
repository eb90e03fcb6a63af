"""Where the plain-file resources (prompts/, templates/) are, installed or not.

They live at the top level of the repository; a built wheel carries them as
``digest/_prompts`` and ``digest/_templates`` (see pyproject.toml).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    """``resource_dir("templates")`` → the directory holding the templates."""
    for candidate in (_PACKAGE / f"_{name}", _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"digest is missing its {name}/ directory (looked in {_PACKAGE})")
