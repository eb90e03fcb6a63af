"""Sending one message over SMTP: security modes, AUTH, retries, and what a failure means.

smtplib is synchronous; :func:`deliver` runs it in a thread. Each recipient gets its own
transaction, so a refused address fails only that recipient and the others still get the mail.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from .._compat import StrEnum
from ..config import Email
from ..errors import DeliveryError
from .deliver import Answer, Retry, attempt
from .email import envelope_address


class Failure(StrEnum):
    TEMPORARY = "temporary"  # 4xx, refused, timeout: worth retrying later
    PERMANENT = "permanent"  # 5xx for this message or address: retrying will not help
    SETUP = "setup"  # our side (credentials, TLS): retrying now will not help, fixing config will


@dataclass(frozen=True)
class SendResult:
    ok: bool
    attempts: int
    failure: Failure | None = None
    error: str = ""  # one line for the user; never contains the password


class SetupError(DeliveryError):
    """A problem on our side that a retry cannot fix (refusing to downgrade, no password)."""


class Undeliverable(Exception):
    """This recipient can never be reached through this server (a mailbox that needs SMTPUTF8)."""


def _response(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"SMTP {code} {' '.join(text.split())}".strip()


def _by_code(code: int) -> Failure:
    return Failure.TEMPORARY if 400 <= code < 500 else Failure.PERMANENT


def classify(exc: BaseException) -> tuple[Failure, str]:
    """What a failed send means, and a one-line reason."""
    if isinstance(exc, SetupError):
        return Failure.SETUP, str(exc)
    if isinstance(exc, Undeliverable):
        return Failure.PERMANENT, str(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # One recipient per transaction, so this is the verdict on that address.
        code, message = next(iter(exc.recipients.values()), (550, b"recipient refused"))
        return _by_code(code), _response(code, message)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        failure = Failure.TEMPORARY if 400 <= exc.smtp_code < 500 else Failure.SETUP
        return failure, f"AUTH rejected: {_response(exc.smtp_code, exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Failure.SETUP, f"server does not support it: {exc}"
    if isinstance(exc, smtplib.SMTPResponseException):  # sender refused, data error, other replies
        return _by_code(exc.smtp_code), _response(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, ssl.SSLError):  # before OSError: certificate problems are not transient
        return Failure.SETUP, f"TLS failed: {exc}"
    if isinstance(exc, smtplib.SMTPServerDisconnected | TimeoutError | OSError):
        return Failure.TEMPORARY, f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, smtplib.SMTPException):
        return Failure.TEMPORARY, f"{type(exc).__name__}: {exc}"
    raise exc


def _connect(cfg: Email, tls_context: ssl.SSLContext | None) -> smtplib.SMTP:
    context = tls_context or ssl.create_default_context()
    if cfg.security == "ssl":
        return smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_seconds, context=context)
    smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_seconds)
    try:
        smtp.ehlo()
        if cfg.security == "starttls":
            # Never fall back to clear text: a server (or a man in the middle) that hides STARTTLS
            # would otherwise get the password and the mail unencrypted.
            if not smtp.has_extn("starttls"):
                raise SetupError(
                    f"{cfg.smtp_host}:{cfg.smtp_port} does not offer STARTTLS; refusing to send "
                    'unencrypted (use security = "ssl" for port 465, or "none" only for a local relay)'
                )
            smtp.starttls(context=context)
            smtp.ehlo()
    except BaseException:
        smtp.close()
        raise
    return smtp


def send_once(
    msg: EmailMessage,
    recipient: str,
    cfg: Email,
    password: str | None,
    *,
    tls_context: ssl.SSLContext | None = None,
) -> None:
    """One SMTP transaction for one recipient; raises on any failure."""
    if cfg.username and not password:
        raise SetupError(
            f"SMTP AUTH as {cfg.username!r} needs a password in ${cfg.password_env}, which is not set"
        )
    if password and not password.isascii():
        # smtplib encodes AUTH as ASCII and would fail with a UnicodeEncodeError mid-session.
        raise SetupError(
            f"the password in ${cfg.password_env} has non-ASCII characters, which SMTP AUTH cannot send"
        )
    smtp = _connect(cfg, tls_context)
    try:
        if cfg.username:
            smtp.login(cfg.username, password or "")
        # The envelope carries the addresses alone: "김철수 <kim@example.com>" is sent to kim@example.com,
        # and needs no SMTPUTF8 for its name (the header encodes it).
        sender, rcpt = envelope_address(cfg.from_), envelope_address(recipient)
        smtp.ehlo_or_helo_if_needed()
        if not smtp.has_extn("smtputf8"):
            where = f"{cfg.smtp_host}:{cfg.smtp_port}"
            if not sender.isascii():
                raise SetupError(f"email.from {sender} needs SMTPUTF8, which {where} does not offer")
            if not rcpt.isascii():
                raise Undeliverable(
                    f"{rcpt} has a non-ASCII name before the @, which needs SMTPUTF8; {where} does not "
                    "offer it, so this address cannot be delivered through it"
                )
        smtp.send_message(msg, from_addr=sender, to_addrs=[rcpt])
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


async def deliver(
    msg: EmailMessage,
    recipient: str,
    cfg: Email,
    password: str | None,
    *,
    retry: Retry | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> SendResult:
    """Send with retries on temporary failures (:func:`attempt`); never raises for SMTP or network errors."""
    failures: list[Failure] = []

    async def once() -> Answer:
        try:
            await asyncio.to_thread(send_once, msg, recipient, cfg, password, tls_context=tls_context)
        except Exception as e:
            failure, error = classify(e)
            failures.append(failure)
            # A setup problem is ours: pending (not refused), but not worth a second try in this run.
            permanent, temporary = failure == Failure.PERMANENT, failure == Failure.TEMPORARY
            return Answer(False, error, permanent=permanent, retry=temporary)
        return Answer(ok=True)

    answer, tries = await attempt(once, retry or Retry())
    if answer.ok:
        return SendResult(ok=True, attempts=tries)
    return SendResult(ok=False, attempts=tries, failure=failures[-1], error=answer.error)
