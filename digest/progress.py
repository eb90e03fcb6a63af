"""Progress on stderr: plain log lines always, plus one redrawn status line on a terminal.

stdout carries only the digest, so ``digest now > log.md`` and ``digest now | pbcopy`` work.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Reports what a run is doing. ``Progress(quiet=True)`` reports nothing."""

    def __init__(
        self, stream: TextIO | None = None, *, quiet: bool = False, live: bool | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.live = self._isatty() if live is None else live
        self._status_shown = False
        self._start = time.monotonic()

    def _isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def _clear_status(self) -> None:
        if self._status_shown:
            self.stream.write("\r\x1b[2K")
            self._status_shown = False

    def log(self, message: str) -> None:
        """One permanent line, e.g. ``arxiv-listing: 412 items, 1.0s``."""
        if self.quiet:
            return
        self._clear_status()
        self.stream.write(f"{message}\n")
        self.stream.flush()

    def warn(self, message: str) -> None:
        """A warning is shown even when quiet: -q silences progress, never problems."""
        self._clear_status()
        self.stream.write(f"warning: {message}\n")
        self.stream.flush()

    def status(self, message: str) -> None:
        """A transient line, redrawn in place; shown only on a terminal."""
        if self.quiet or not self.live:
            return
        elapsed = time.monotonic() - self._start
        self.stream.write(f"\r\x1b[2K[{elapsed:5.1f}s] {message}")
        self.stream.flush()
        self._status_shown = True

    def done(self) -> None:
        if not self.quiet:
            self._clear_status()
            self.stream.flush()


QUIET = Progress(quiet=True)  # for tests and library use; warnings still reach stderr
