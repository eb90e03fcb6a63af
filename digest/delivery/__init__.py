"""Delivery: archive the email bodies, then send each recipient the digest once.

The archive (``archive/YYYY-MM-DD.html``, ``.txt``, ``.json``) is written before anything is
sent, so a failed send is retried from it (:func:`send_pending`) without fetching or calling
the LLM again. The deliveries table makes a send idempotent per (day, recipient).

The weekly roundup (:func:`send_week`, archived as ``archive/week-2026-W06.*``) goes the same way,
once per (week, recipient): its rows are in a table of their own keyed by the week's Monday, so a
week never collides with a day, and ``send_pending`` and the permanent-failure rule cover it too.

Both entry points take the state directory's run lock, so a manual send and a scheduler tick
never send the same digest twice; call them without holding that lock.

``force`` replaces an email already sent (after a run whose LLM was down, say): the new one opens
with a line saying which email it replaces and when that one went out, carries ``In-Reply-To`` /
``References`` to it so mail clients thread the two, and the deliveries row keeps the replaced
Message-ID (``replaces``) with the new one.
"""

from __future__ import annotations

import dataclasses
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from .._compat import UTC
from ..addresses import mailbox_key, unique
from ..config import Config, Render, check_secrets
from ..errors import ConfigError, DeliveryError
from ..models import Digest, WeekDigest, iso_week
from ..progress import Progress
from ..rendering.daily import render_html, render_text, subject
from ..state import Delivery, State, ensure_directory, run_lock
from .archive import preview_name, write_file, write_set
from .archive import stem as archive_stem
from .channels import ChannelOutcome, check_channel_outcomes, send_channels, send_pending_channels
from .deliver import Outcome, Retry, Status, archive_and_deliver, by_digest, check, counts, deliver, settles
from .email import build_message, new_message_id
from .smtp import Failure
from .smtp import deliver as smtp_send

__all__ = [
    "ArchivedEmail",
    "DeliveryOutcome",
    "Retry",
    "archive_email",
    "check_outcomes",
    "check_sendable",
    "outcome_counts",
    "send_digest",
    "send_pending",
    "send_week",
    "Sent",
    "send_everywhere",
    "send_pending_everywhere",
    "archive_week_email",
    "write_preview",
]

@dataclass(frozen=True)
class DeliveryOutcome(Outcome):
    day: date
    recipient: str
    status: Status
    attempts: int = 0  # SMTP attempts in this call
    error: str = ""
    message_id: str = ""
    replaced: str = ""  # the Message-ID of the email this one replaces (a forced resend)
    weekly: bool = False  # a weekly roundup's: ``day`` is the week's Monday
    outdated: bool = False  # not sent again, but the recipient's copy has more fallbacks than this run's

    @property
    def warning(self) -> bool:
        return not self.ok or self.outdated

    def describe(self) -> str:
        what = {
            "sent": "sent as a replacement" if self.replaced else "sent",
            "skipped": "not sent again",
            "pending": "not sent yet, will retry (digest send --pending)",
            "failed": "FAILED",
        }[self.status]
        return f"{self.label} → {self.recipient}: {what}" + (f" ({self.error})" if self.error else "")


def outcome_counts(outcomes: list[DeliveryOutcome]) -> dict[str, int]:
    """Recipients per status, for the runs table."""
    return counts(outcomes)


@dataclass(frozen=True)
class ArchivedEmail:
    """What a resend needs, read back from the archive."""

    day: date
    subject: str
    html: str
    text: str
    sample: bool
    fallbacks: int = 0  # marked fallback lines in it
    weekly: bool = False  # the weekly roundup of the week whose Monday is ``day``


def _stem(day: date, sample: bool, weekly: bool = False) -> str:
    return archive_stem(day, sample=sample, weekly=weekly)


def archive_email(
    state: State, d: Digest, options: Render | None = None, *, markdown: str | None = None
) -> ArchivedEmail:
    """Render and archive the HTML, text and subject of ``d`` (and its Markdown section when given),
    all or nothing: a failed write leaves the day's earlier set as it was (ArchiveError)."""
    email = ArchivedEmail(
        d.day, subject(d), render_html(d, options), render_text(d, options), d.sample, d.fallback_count
    )
    return _archive(state, email, len(d.entries), markdown)


def archive_week_email(
    state: State, w: WeekDigest, options: Render | None = None, *, markdown: str | None = None
) -> ArchivedEmail:
    """Render and archive the weekly roundup's HTML, text and subject (``archive/week-2026-W06.*``)."""
    from ..week.render import render_week_html, render_week_text, week_subject

    html, text = render_week_html(w, options), render_week_text(w, options)
    email = ArchivedEmail(w.start, week_subject(w), html, text, False, w.fallback_count, weekly=True)
    return _archive(state, email, len(w.entries), markdown)


def _archive(state: State, email: ArchivedEmail, items: int, markdown: str | None = None) -> ArchivedEmail:
    ensure_directory(state.archive_dir)
    stem = _stem(email.day, email.sample, email.weekly)
    meta = {
        "version": 1,
        "day": email.day.isoformat(),
        "subject": email.subject,
        "sample": email.sample,
        "html": f"{stem}.html",
        "text": f"{stem}.txt",
        "items": items,
        "fallbacks": email.fallbacks,
        "archived_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if email.weekly:
        meta["week"] = iso_week(email.day)
    files = {f"{stem}.md": markdown} if markdown is not None else {}
    files[f"{stem}.html"] = email.html
    files[f"{stem}.txt"] = email.text
    files[f"{stem}.json"] = json.dumps(meta, ensure_ascii=False, indent=2) + "\n"  # last: the set is complete
    label = f"the archive of {'week ' + iso_week(email.day) if email.weekly else email.day.isoformat()}"
    write_set(state.archive_dir, files, what=label)
    return email


def load_archived(state: State, day: date, *, weekly: bool = False) -> ArchivedEmail:
    meta_path = state.archive_dir / f"{_stem(day, False, weekly)}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        html = (state.archive_dir / meta["html"]).read_text(encoding="utf-8")
        text = (state.archive_dir / meta["text"]).read_text(encoding="utf-8")
    except (OSError, ValueError, KeyError) as e:
        raise DeliveryError(
            f"{meta_path}: cannot resend {'week ' + iso_week(day) if weekly else day}, "
            f"the archived email is unreadable: {e}"
        ) from None
    return ArchivedEmail(
        day, meta["subject"], html, text, bool(meta.get("sample")), int(meta.get("fallbacks", 0)), weekly
    )


def _local(stamp: str, config: Config) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone(config.tz).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def _skip_reason(earlier: Delivery, email: ArchivedEmail, config: Config) -> str:
    if earlier.status == "failed":
        return f"failed permanently earlier: {earlier.last_error}; not tried again without --force"
    reason = f"already sent {_local(earlier.updated_at, config)}"
    if earlier.fallbacks:
        reason += f" with {earlier.fallbacks} marked fallbacks"
        if email.fallbacks < earlier.fallbacks:
            reason += f" (this run has {email.fallbacks}: `digest now --send --force` replaces it)"
    return reason


def _replaces_notice(earlier: Delivery, config: Config) -> str:
    when = _local(earlier.updated_at, config)
    marks = f"(⚠️ 요약 대체 {earlier.fallbacks}개)" if earlier.fallbacks else ""
    if marks:
        return f"{when}에 보낸 메일{marks}을 대신하는 메일입니다."
    return f"{when}에 보낸 메일을 다시 보냅니다."


def _replacement(d: Digest, earlier: Delivery, config: Config) -> ArchivedEmail:
    """``d``'s email for a recipient who has the earlier one: it says what it replaces."""
    fixed = dataclasses.replace(d, notices=[_replaces_notice(earlier, config), *d.notices])
    return ArchivedEmail(
        d.day, subject(fixed), render_html(fixed), render_text(fixed), d.sample, d.fallback_count
    )


def _week_replacement(w: WeekDigest, earlier: Delivery, config: Config) -> ArchivedEmail:
    from ..week.render import render_week_html, render_week_text, week_subject

    fixed = dataclasses.replace(w, notices=[_replaces_notice(earlier, config), *w.notices])
    html, text = render_week_html(fixed, config.render), render_week_text(fixed, config.render)
    return ArchivedEmail(w.start, week_subject(fixed), html, text, False, w.fallback_count, weekly=True)


@dataclass
class _Recipient:
    """One recipient of one archived email: a :class:`~digest.delivery.deliver.Destination`."""

    config: Config
    state: State
    email: ArchivedEmail
    recipient: str
    progress: Progress
    retry: Retry | None
    tls_context: ssl.SSLContext | None
    replacement: Callable[[Delivery], ArchivedEmail] | None = None
    earlier: Delivery | None = None
    area: str = "email"

    @property
    def record(self) -> bool:
        # Sample digests are for trying the setup: always sent, never recorded as a day's delivery.
        return not self.email.sample

    def settled(self, force: bool) -> DeliveryOutcome | None:
        email = self.email
        earlier = _earlier(self.state, email.day, self.recipient, email.weekly) if self.record else None
        self.earlier = earlier
        # A permanent failure stays a failure: the recipient still does not have the digest.
        status = settles(earlier.status if earlier else None, force=force)
        if earlier is None or status is None:
            return None
        return DeliveryOutcome(
            email.day,
            self.recipient,
            status,
            error=_skip_reason(earlier, email, self.config),
            message_id=earlier.message_id,
            weekly=email.weekly,
            outdated=earlier.fallbacks > email.fallbacks,
        )

    async def send(self, force: bool) -> DeliveryOutcome:
        cfg, email, earlier, recipient = self.config.email, self.email, self.earlier, self.recipient
        # The row is the mailbox's, however the config spells it now: one spelling's send is every one's.
        row = earlier.recipient if earlier else recipient
        # A retry of an unconfirmed send keeps its Message-ID, so a client that did get the first
        # copy shows one message; a forced resend is a new message.
        reuse = earlier is not None and earlier.status == "pending" and earlier.message_id and not force
        fresh = new_message_id(email.day, cfg.from_, weekly=email.weekly)
        message_id = earlier.message_id if reuse and earlier else fresh
        # What this email replaces: the one sent before (--force), or, when a replacement is
        # retried from pending, the one that replacement was for.
        replaces = ""
        body = email
        if earlier is not None and earlier.status == "sent" and force:
            replaces = earlier.message_id
            if self.replacement is not None:
                body = self.replacement(earlier)
        elif earlier is not None and earlier.status == "pending":
            replaces = earlier.replaces
        if self.record and (earlier is None or replaces):
            # Claimed before sending: if the process dies mid-send, send_pending still finds it.
            self.state.record_delivery(
                email.day, row, "pending", error="not confirmed", message_id=message_id, attempt=False,
                fallbacks=body.fallbacks, replaces=replaces, weekly=email.weekly,
            )  # fmt: skip
        msg = build_message(
            subject=body.subject,
            text=body.text,
            html=body.html,
            sender=cfg.from_,
            recipient=recipient,
            reply_to=cfg.reply_to,
            message_id=message_id,
            sent_at=datetime.now(self.config.tz),
        )
        if replaces:
            # Threads the replacement with the email it replaces in Gmail, Apple Mail, Outlook.
            msg["In-Reply-To"] = replaces
            msg["References"] = replaces
        self.progress.status(f"email: sending to {recipient}")
        result = await smtp_send(
            msg, recipient, cfg, cfg.password, retry=self.retry, tls_context=self.tls_context
        )
        permanent = result.failure == Failure.PERMANENT
        status: Status = "sent" if result.ok else "failed" if permanent else "pending"
        if self.record:
            self.state.record_delivery(
                email.day, row, status, error=result.error, message_id=message_id,
                fallbacks=body.fallbacks, replaces=replaces, weekly=email.weekly,
            )  # fmt: skip
        return DeliveryOutcome(
            email.day, recipient, status, result.attempts, result.error, message_id,
            replaced=replaces, weekly=email.weekly,
        )  # fmt: skip


def _earlier(state: State, day: date, recipient: str, weekly: bool) -> Delivery | None:
    """The day's delivery row of ``recipient``'s mailbox, under this spelling or another."""
    found = state.delivery(day, recipient, weekly=weekly)
    if found is None:
        key = mailbox_key(recipient)
        rows = state.deliveries(day=day, weekly=weekly)
        found = next((d for d in rows if mailbox_key(d.recipient) == key), None)
    return found


def unique_recipients(config: Config, progress: Progress) -> list[str]:
    """``[email].to``, each mailbox once (its first spelling), saying which spellings were one."""
    kept, dropped = unique(list(config.email.to))
    for spelling, first in dropped:
        progress.log(f"email: {spelling} is the same mailbox as {first}: sent once")
    return kept


async def send_digest(
    config: Config,
    state: State,
    d: Digest | WeekDigest,
    *,
    force: bool = False,
    progress: Progress,
    retry: Retry | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> list[DeliveryOutcome]:
    """Archive ``d``'s email (a day's digest or a weekly roundup), then send it to every ``[email].to``
    recipient not yet sent it (once per day, or per week for a roundup)."""
    from ..reader.privacy import for_destination

    if isinstance(d, Digest):
        d = for_destination(d, config, "email")

    def archive() -> ArchivedEmail:
        if isinstance(d, WeekDigest):
            email = archive_week_email(state, d, config.render)
        else:
            email = archive_email(state, d, config.render)
        stem = _stem(email.day, email.sample, email.weekly)
        progress.log(f"email: archived {state.archive_dir / stem}.html")
        return email

    def replacement(earlier: Delivery) -> ArchivedEmail:
        if isinstance(d, WeekDigest):
            return _week_replacement(d, earlier, config)
        return _replacement(d, earlier, config)

    def recipients(email: ArchivedEmail) -> list[_Recipient]:
        return [
            _Recipient(config, state, email, r, progress, retry, tls_context, replacement)
            for r in unique_recipients(config, progress)
        ]

    return await archive_and_deliver(state.directory, archive, recipients, force=force, progress=progress)


send_week = send_digest  # the weekly roundup's email goes the same way, once per (week, recipient)


def _stale(pending: list[Delivery], today: date, max_days: int) -> list[Delivery]:
    """The pending deliveries more than ``max_days`` old; a weekly roundup's age counts from its Friday."""
    start = {False: timedelta(0), True: timedelta(days=4)}
    return [p for p in pending if (today - (p.day + start[p.weekly])).days > max_days]


async def send_pending(
    config: Config,
    state: State,
    *,
    progress: Progress,
    retry: Retry | None = None,
    tls_context: ssl.SSLContext | None = None,
    today: date | None = None,
) -> list[DeliveryOutcome]:
    """Resend pending deliveries from the archive: no fetching, no LLM.

    With ``today`` (the scheduler's ticks), only those at most ``email.pending_max_days`` old: the older
    ones stay pending, named once per call, for ``digest send --pending`` (which passes no ``today``).
    """
    outcomes: list[DeliveryOutcome] = []
    with run_lock(state.directory):
        pending = state.deliveries(status="pending") + state.deliveries(status="pending", weekly=True)
        stale = _stale(pending, today, config.email.pending_max_days) if today is not None else []
        if stale:
            labels = sorted({f"week {iso_week(p.day)}" if p.weekly else p.day.isoformat() for p in stale})
            progress.warn(
                f"email: {len(stale)} pending email(s) of {', '.join(labels)}, older than "
                f"email.pending_max_days = {config.email.pending_max_days}, not sent automatically: "
                "`digest send --pending` sends them"
            )
            pending = [p for p in pending if p not in stale]
        if not pending and not stale:
            progress.log("email: nothing pending")
        for day, weekly, rows in by_digest(pending, lambda p: (p.day, p.weekly)):
            recipients = [p.recipient for p in rows]
            try:
                email = load_archived(state, day, weekly=weekly)
            except DeliveryError as e:
                progress.warn(str(e))
                outcomes += [
                    DeliveryOutcome(day, r, "pending", error=str(e), weekly=weekly) for r in recipients
                ]
                continue
            # Rows of one mailbox under two spellings (kept before recipients were compared by mailbox):
            # one send, and the other row takes its outcome.
            recipients, doubles = unique(recipients)
            sent = await deliver(
                [_Recipient(config, state, email, r, progress, retry, tls_context) for r in recipients],
                force=False,
                progress=progress,
            )
            outcomes += sent
            for spelling, first in doubles:
                done = next(o for o in sent if o.recipient == first)
                note = f"same mailbox as {first}"
                state.record_delivery(
                    day, spelling, done.status, error=note, message_id=done.message_id, weekly=weekly
                )
                progress.log(f"email: {spelling} is the same mailbox as {first}: {done.status} with it")
    return outcomes


@dataclass(frozen=True)
class Sent:
    """A digest's delivery to every destination: the email's recipients and the chat channels."""

    email: list[DeliveryOutcome]
    channels: list[ChannelOutcome]

    @property
    def count(self) -> int:
        return len(self.email) + len(self.channels)

    def check(self) -> None:
        """One DeliveryError naming every recipient and channel that did not get the digest."""
        lines: list[str] = []
        for check_one in (lambda: check_outcomes(self.email), lambda: check_channel_outcomes(self.channels)):
            try:
                check_one()
            except DeliveryError as e:
                lines.append(str(e))
        if lines:
            raise DeliveryError("\n".join(lines))


async def send_everywhere(
    config: Config, state: State, d: Digest | WeekDigest, *, force: bool = False, progress: Progress
) -> Sent:
    """``d`` (a day's digest or a weekly roundup) to the email's recipients, when email is enabled, and to
    every chat channel: each archived first, each destination once."""
    email = []
    if config.email.enabled:
        email = await send_digest(config, state, d, force=force, progress=progress)
    # Posted whatever the email did: a failed send is kept for `digest send --pending` either way.
    return Sent(email, await send_channels(config, state, d, force=force, progress=progress))


async def send_pending_everywhere(
    config: Config, state: State, *, progress: Progress, today: date | None = None
) -> Sent:
    """What is pending, email and posts, sent again from the archive (``today``: see :func:`send_pending`)."""
    email = await send_pending(config, state, progress=progress, today=today) if config.email.enabled else []
    return Sent(email, await send_pending_channels(config, state, progress=progress))


def check_sendable(config: Config) -> None:
    """Fail before any work (and any LLM cost) when the email setup cannot possibly send."""
    if not config.email.enabled:
        raise ConfigError("email.enabled: false; set [email] enabled = true, smtp_host and to to send email")
    check_secrets(config, email=True)


def check_outcomes(outcomes: list[DeliveryOutcome]) -> None:
    """Raise one DeliveryError naming every recipient that did not get the digest."""
    check(outcomes, "email not delivered to {bad} of {all} recipient(s):")


def write_preview(
    state_dir: Path, d: Digest, out: Path | None = None, options: Render | None = None
) -> Path:
    """The email's HTML in a file a browser can open: ``out``, or next to the day's archive."""
    if out is None:
        # The state directory's own wording when it cannot be used, as with every other command.
        ensure_directory(state_dir.expanduser())
        path = ensure_directory(state_dir.expanduser() / "archive") / preview_name(d.day, sample=d.sample)
    else:
        path = out
    return write_file(path, render_html(d, options), what=f"the preview of {d.day}")
