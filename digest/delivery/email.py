"""Building the email: a pure function from rendered bodies and addresses to an EmailMessage."""

from __future__ import annotations

import email.policy
import secrets
from datetime import date, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from .. import addresses


class _Policy(email.policy.EmailPolicy):
    """SMTP's policy, except that a non-ASCII Subject is folded by ``email.header.Header``.

    The default folder loses the space where it splits a long Korean subject between two
    encoded words ("2026-02-05 (목)" arrives as "2026-02-05(목)"); Header keeps spaces inside the
    encoded words, so the subject decodes exactly as it was written.
    """

    def fold(self, name: str, value: str) -> str:
        if name.lower() == "subject" and not str(value).isascii():
            return self._encoded(name, value)
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() == "subject" and not str(value).isascii():
            return self._encoded(name, value).encode("ascii")
        return super().fold_binary(name, value)

    def _encoded(self, name: str, value: str) -> str:
        header = Header(str(value), "utf-8", maxlinelen=self.max_line_length, header_name=name)
        return f"{name}: {header.encode(linesep=self.linesep)}{self.linesep}"


# Never 8bit: a relay without 8BITMIME must still carry it. The email package then picks base64
# or quoted-printable per part, which also keeps every line far below SMTP's 998-octet limit.
POLICY = _Policy(linesep="\r\n", cte_type="7bit")


def address_domain(address: str) -> str:
    domain = addresses.envelope(address).rpartition("@")[2]
    return domain or "localhost"


def envelope_address(address: str) -> str:
    """The bare address of a header value like ``데일리 트렌드 <digest@example.com>``, its domain in ASCII."""
    return addresses.envelope(address)


def header_address(address: str) -> Address | str:
    """``김철수 <kim@예시.kr>`` for a header: the name RFC 2047-encoded when sent (the policy does it), the
    domain in ASCII, so an ASCII mailbox never needs SMTPUTF8 because of its name or its domain."""
    name, addr = addresses.split(address)
    try:
        return Address(display_name=name, addr_spec=addresses.ascii_domain(addr))
    except (ValueError, IndexError):  # what the email package cannot parse goes as written
        return address


def list_unsubscribe(sender: str) -> str:
    """``<mailto:sender?subject=unsubscribe>``: the reader's client offers "unsubscribe", which writes
    to whoever runs the digest (it is their [email].to list; there is no list server to do it)."""
    return f"<mailto:{quote(envelope_address(sender), safe='@')}?subject=unsubscribe>"


def new_message_id(day: date, sender: str, *, weekly: bool = False) -> str:
    # Shorter than make_msgid()'s, so the header is not folded (some parsers keep the fold's space).
    what = f"week.{day.isoformat()}" if weekly else day.isoformat()
    return f"<digest.{what}.{secrets.token_hex(8)}@{address_domain(sender)}>"


def build_message(
    *,
    subject: str,
    text: str,
    html: str,
    sender: str,
    recipient: str,
    message_id: str,
    sent_at: datetime,
    reply_to: str = "",
) -> EmailMessage:
    """One ``multipart/alternative`` message (text first, so clients prefer the HTML) for one recipient."""
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject
    msg["From"] = header_address(sender)
    msg["To"] = header_address(recipient)
    if reply_to:
        msg["Reply-To"] = header_address(reply_to)
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = message_id
    # RFC 3834: vacation responders and the like must not answer a generated message.
    msg["Auto-Submitted"] = "auto-generated"
    # RFC 2369. Gmail and Yahoo ask senders of regular mail for it, and show an unsubscribe link.
    msg["List-Unsubscribe"] = list_unsubscribe(sender)
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg
