"""What Python 3.10 lacks and 3.11 has: one place, so the rest of the code reads as plain 3.11.

Python 3.10 is Ubuntu 22.04's python3, what many readers have; drop this module with 3.10.
"""

from __future__ import annotations

import sys
from datetime import timezone
from enum import Enum

UTC = timezone.utc

if sys.version_info >= (3, 11):
    from enum import StrEnum as StrEnum

    import tomllib as tomllib
else:  # pragma: no cover - exercised by the 3.10 CI run
    import tomli as tomllib

    class StrEnum(str, Enum):
        """Members are strings and print as their value, as enum.StrEnum does."""

        def __str__(self) -> str:
            return str(self.value)


__all__ = ["UTC", "StrEnum", "tomllib"]
