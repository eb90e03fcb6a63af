"""Real SMTP servers on loopback for the delivery tests (aiosmtpd), plus a port nobody listens on.

The fakes speak the protocol: the code under test uses smtplib exactly as in production.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


def free_port() -> int:
    # aiosmtpd's Controller connects to its own port to confirm startup, so port=0 cannot work.
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A port with nothing listening: connecting is refused at once."""
    return free_port()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    mail_options: list[str] = field(default_factory=list)  # what MAIL FROM asked for (SMTPUTF8, BODY=...)

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Handler:
    """Accepts mail, with scripted refusals.

    bad: addresses answered with 550 at RCPT. tempfail_rcpt / tempfail_data: how many RCPT / DATA
    commands are answered with 451 before the server starts accepting.
    """

    bad: set[str] = field(default_factory=set)
    require_auth: bool = False
    tempfail_rcpt: int = 0
    tempfail_data: int = 0
    received: list[Received] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        # AUTH enforced here rather than by auth_required, which warns unless TLS is required too.
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.bad:
            self.refusals.append(f"550 {address}")
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if self.tempfail_rcpt > 0:
            self.tempfail_rcpt -= 1
            self.refusals.append(f"451 {address}")
            return "451 4.3.0 Temporary local problem, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.tempfail_data > 0:
            self.tempfail_data -= 1
            self.refusals.append("451 DATA")
            return "451 4.3.0 Queue full, try again later"
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                list(envelope.mail_options),
            )
        )
        return "250 2.0.0 Ok: queued"


@dataclass
class Authenticator:
    username: str
    password: str
    logins: list[str] = field(default_factory=list)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
            self.username,
            self.password,
        )
        if ok:
            self.logins.append(self.username)
        return AuthResult(success=ok, handled=False)


@dataclass
class Server:
    host: str
    port: int
    handler: Handler
    auth: Authenticator | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@contextmanager
def smtp_server(
    handler: Handler | None = None,
    *,
    auth: tuple[str, str] | None = None,
    port: int | None = None,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    smtputf8: bool = False,
) -> Iterator[Server]:
    """An SMTP server in a thread on 127.0.0.1. With ``auth``, AUTH is required (also without TLS);
    ``smtputf8`` offers SMTPUTF8 (many real servers do not)."""
    handler = handler or Handler()
    authenticator = Authenticator(*auth) if auth else None
    kwargs: dict[str, Any] = {}
    if authenticator:
        handler.require_auth = True
        kwargs |= {"authenticator": authenticator, "auth_require_tls": False}
    if starttls:
        kwargs |= {"tls_context": starttls, "require_starttls": True}
    if implicit_tls:
        kwargs["ssl_context"] = implicit_tls
    kwargs["enable_SMTPUTF8"] = smtputf8
    controller = Controller(handler, hostname=HOST, port=port or free_port(), **kwargs)
    controller.start()
    try:
        yield Server(HOST, controller.port, handler, authenticator)
    finally:
        controller.stop()


def self_signed_cert(directory: Path) -> tuple[Path, Path] | None:
    """A certificate for 127.0.0.1 made with the openssl CLI, or None if openssl is missing."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", str(key), "-out", str(cert),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return cert, key
