"""Errors digest shows to its user.

    DigestError               anything the CLI prints as "Error: ..." (exit 1)
    ├── ConfigError           a bad config file or missing secret (exit 2)
    ├── StateError            the SQLite state cannot be used
    │   ├── StateBusyError    another run holds the lock
    │   ├── StateLockedError  another process holds the database's write lock past the busy timeout
    │   └── StateDamagedError the database file is damaged (quick_check or a query found it)
    ├── ArchiveError          the day's archive could not be written (nothing of it was)
    ├── SourceError           one source failed; the rest of the digest still ships
    ├── LLMError              the LLM endpoint failed; items get marked fallbacks
    │   └── RequestFailed     one request got no answer (digest/llm.py: a one-line reason and why)
    ├── DeliveryError         email could not be sent
    │   └── SetupError        a send refused on our side: no password, no TLS (digest/delivery/smtp.py)
    ├── InputError            a file named on the command line cannot be read (exit 2)
    └── AllSourcesFailed      no source produced anything (exit 1)

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DigestError(Exception):
    """An error with a message meant for the user."""

    exit_code = 1


class ConfigError(DigestError):
    exit_code = 2


class StateError(DigestError):
    pass


class StateBusyError(StateError):
    pass


class StateLockedError(StateError):
    pass


class StateDamagedError(StateError):
    pass


class ArchiveError(DigestError):
    pass


class SourceError(DigestError):
    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = message


class LLMError(DigestError):
    """The stages catch it where they can go on: a failed request leaves marked fallbacks, not a crash."""


class DeliveryError(DigestError):
    pass


class InputError(DigestError):
    exit_code = 2


class AllSourcesFailed(DigestError):
    pass
