"""Delivery: archive the email bodies, then send each recipient the digest once.

The archive (``archive/YYYY-MM-DD.html``, ``.txt``, ``.json``) is written before anything is
sent, so a failed send is retried from it (:func:`send_pending`) without fetching or calling
the LLM again. The deliveries table makes a send idempotent per (day, recipient).

Both entry points take the state directory's run lock, so a manual send and a scheduler tick
never send the same digest twice; call them without holding that lock.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from .._compat import UTC
from ..config import Config, Render, check_secrets
from ..errors import ConfigError, DeliveryError
from ..models import Digest
from ..progress import Progress
from ..render import render_html, render_text, subject
from ..state import State, run_lock
from .email import build_message, new_message_id
from .smtp import Failure, Retry, deliver

__all__ = [
    "ArchivedEmail",
    "DeliveryOutcome",
    "Retry",
    "archive_email",
    "check_outcomes",
    "check_sendable",
    "send_digest",
    "send_pending",
    "write_preview",
]

Status = Literal["sent", "skipped", "pending", "failed"]


@dataclass(frozen=True)
class DeliveryOutcome:
    day: date
    recipient: str
    status: Status
    attempts: int = 0  # SMTP attempts in this call
    error: str = ""
    message_id: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("sent", "skipped")

    def describe(self) -> str:
        what = {
            "sent": "sent",
            "skipped": "not sent again",
            "pending": "not sent yet, will retry (digest send --pending)",
            "failed": "FAILED",
        }[self.status]
        return f"{self.day} → {self.recipient}: {what}" + (f" ({self.error})" if self.error else "")


@dataclass(frozen=True)
class ArchivedEmail:
    """What a resend needs, read back from the archive."""

    day: date
    subject: str
    html: str
    text: str
    sample: bool


def _stem(day: date, sample: bool) -> str:
    # Sample digests must never be mistaken for (or overwrite) a real day's archive.
    return f"sample-{day.isoformat()}" if sample else day.isoformat()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def archive_email(state: State, d: Digest, options: Render | None = None) -> ArchivedEmail:
    """Render and archive the HTML, text and subject of ``d`` (meta last: it marks a complete set)."""
    email = ArchivedEmail(d.day, subject(d), render_html(d, options), render_text(d, options), d.sample)
    state.archive_dir.mkdir(parents=True, exist_ok=True)
    stem = _stem(d.day, d.sample)
    _write_atomic(state.archive_dir / f"{stem}.html", email.html)
    _write_atomic(state.archive_dir / f"{stem}.txt", email.text)
    meta = {
        "version": 1,
        "day": d.day.isoformat(),
        "subject": email.subject,
        "sample": d.sample,
        "html": f"{stem}.html",
        "text": f"{stem}.txt",
        "items": len(d.entries),
        "archived_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _write_atomic(state.archive_dir / f"{stem}.json", json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    return email


def load_archived(state: State, day: date) -> ArchivedEmail:
    meta_path = state.archive_dir / f"{_stem(day, False)}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        html = (state.archive_dir / meta["html"]).read_text(encoding="utf-8")
        text = (state.archive_dir / meta["text"]).read_text(encoding="utf-8")
    except (OSError, ValueError, KeyError) as e:
        raise DeliveryError(
            f"{meta_path}: cannot resend {day}, the archived email is unreadable: {e}"
        ) from None
    return ArchivedEmail(day, meta["subject"], html, text, bool(meta.get("sample")))


async def _send(
    config: Config,
    state: State,
    email: ArchivedEmail,
    recipients: list[str],
    *,
    force: bool,
    progress: Progress,
    retry: Retry | None,
    tls_context: ssl.SSLContext | None,
) -> list[DeliveryOutcome]:
    cfg = config.email
    password = cfg.password
    # Sample digests are for trying the setup: always sent, never recorded as a day's delivery.
    record = not email.sample
    outcomes: list[DeliveryOutcome] = []
    for recipient in recipients:
        earlier = state.delivery(email.day, recipient) if record else None
        if earlier and not force and earlier.status in ("sent", "failed"):
            reason = (
                f"already sent {earlier.updated_at}"
                if earlier.status == "sent"
                else f"failed earlier: {earlier.last_error}; --force to try again"
            )
            outcome = DeliveryOutcome(
                email.day, recipient, "skipped", error=reason, message_id=earlier.message_id
            )
            outcomes.append(outcome)
            progress.log(f"email: {outcome.describe()}")
            continue
        # A retry of an unconfirmed send keeps its Message-ID, so a client that did get the first
        # copy shows one message; a forced resend is a new message.
        reuse = earlier is not None and earlier.status == "pending" and earlier.message_id and not force
        message_id = earlier.message_id if reuse and earlier else new_message_id(email.day, cfg.from_)
        if record and earlier is None:
            # Claimed before sending: if the process dies mid-send, send_pending still finds it.
            state.record_delivery(
                email.day, recipient, "pending", error="not confirmed", message_id=message_id, attempt=False
            )
        msg = build_message(
            subject=email.subject,
            text=email.text,
            html=email.html,
            sender=cfg.from_,
            recipient=recipient,
            reply_to=cfg.reply_to,
            message_id=message_id,
            sent_at=datetime.now(config.tz),
        )
        progress.status(f"email: sending to {recipient}")
        result = await deliver(msg, recipient, cfg, password, retry=retry, tls_context=tls_context)
        status: Status = (
            "sent" if result.ok else "failed" if result.failure == Failure.PERMANENT else "pending"
        )
        if record:
            state.record_delivery(email.day, recipient, status, error=result.error, message_id=message_id)
        outcome = DeliveryOutcome(email.day, recipient, status, result.attempts, result.error, message_id)
        outcomes.append(outcome)
        if result.ok:
            progress.log(f"email: {outcome.describe()}")
        else:
            progress.warn(f"email: {outcome.describe()}")
    return outcomes


async def send_digest(
    config: Config,
    state: State,
    d: Digest,
    *,
    force: bool = False,
    progress: Progress,
    retry: Retry | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> list[DeliveryOutcome]:
    """Archive ``d``'s email, then send it to every ``[email].to`` recipient not yet sent it."""
    with run_lock(state.directory):
        email = archive_email(state, d, config.render)
        progress.log(f"email: archived {state.archive_dir / _stem(d.day, d.sample)}.html")
        return await _send(
            config,
            state,
            email,
            list(dict.fromkeys(config.email.to)),
            force=force,
            progress=progress,
            retry=retry,
            tls_context=tls_context,
        )


async def send_pending(
    config: Config,
    state: State,
    *,
    progress: Progress,
    retry: Retry | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> list[DeliveryOutcome]:
    """Resend every pending delivery from the archive: no fetching, no LLM."""
    outcomes: list[DeliveryOutcome] = []
    with run_lock(state.directory):
        pending = state.deliveries(status="pending")
        if not pending:
            progress.log("email: nothing pending")
        for day in sorted({p.day for p in pending}):
            recipients = [p.recipient for p in pending if p.day == day]
            try:
                email = load_archived(state, day)
            except DeliveryError as e:
                progress.warn(str(e))
                outcomes += [DeliveryOutcome(day, r, "pending", error=str(e)) for r in recipients]
                continue
            outcomes += await _send(
                config,
                state,
                email,
                recipients,
                force=False,
                progress=progress,
                retry=retry,
                tls_context=tls_context,
            )
    return outcomes


def check_sendable(config: Config) -> None:
    """Fail before any work (and any LLM cost) when the email setup cannot possibly send."""
    if not config.email.enabled:
        raise ConfigError("email.enabled: false; set [email] enabled = true, smtp_host and to to send email")
    check_secrets(config, email=True)


def check_outcomes(outcomes: list[DeliveryOutcome]) -> None:
    """Raise one DeliveryError naming every recipient that did not get the digest."""
    bad = [o for o in outcomes if not o.ok]
    if bad:
        lines = [f"email not delivered to {len(bad)} of {len(outcomes)} recipient(s):"]
        lines += [o.describe() for o in bad]
        raise DeliveryError("\n".join(lines))


def write_preview(
    state_dir: Path, d: Digest, out: Path | None = None, options: Render | None = None
) -> Path:
    """The email's HTML in a file a browser can open: ``out``, or next to the day's archive."""
    path = out or state_dir.expanduser() / "archive" / f"{_stem(d.day, d.sample)}.preview.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, render_html(d, options))
    return path
