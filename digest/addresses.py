"""Mail addresses as the config writes them and as SMTP needs them.

``김철수 <kim@example.com>`` is a display name and an address: only the address goes into the SMTP
envelope (MAIL FROM / RCPT TO), and the display name into the header, RFC 2047-encoded by the email
package when it is not ASCII. A domain in Hangul (``kim@예시.kr``) is sent as its ASCII form
(``xn--...``), so only a mailbox whose local part is not ASCII needs a server that offers SMTPUTF8.
The same mailbox written two ways (``a@example.com``, ``A@EXAMPLE.COM``, ``김철수 <a@example.com>``)
is one recipient (:func:`mailbox_key`).
"""

from __future__ import annotations

from email.utils import parseaddr


def split(address: str) -> tuple[str, str]:
    """(display name, address) of ``"김철수 <kim@example.com>"`` or ``"kim@example.com"``."""
    name, addr = parseaddr(address)
    return name, addr or address.strip()


def ascii_domain(addr: str) -> str:
    """``kim@예시.kr`` → ``kim@xn--...``: the domain in the form DNS and every SMTP server know."""
    local, at, domain = addr.rpartition("@")
    if not at or domain.isascii():
        return addr
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:  # not a domain IDNA can spell: sent as written, with SMTPUTF8
        return addr


def envelope(address: str) -> str:
    """The address alone, as the SMTP envelope carries it."""
    return ascii_domain(split(address)[1])


def needs_smtputf8(address: str) -> bool:
    """Whether the envelope address is not ASCII even with its domain spelt in ASCII."""
    return not envelope(address).isascii()


def mailbox_key(address: str) -> str:
    """One mailbox, however it is written: the envelope address, lowercased. (Local parts are case-
    sensitive in theory; no provider a reader uses treats them so, and a doubled digest is worse.)"""
    return envelope(address).lower()


def unique(addresses: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The addresses, each mailbox once in its first spelling; and the (dropped, kept) pairs."""
    kept: dict[str, str] = {}
    dropped: list[tuple[str, str]] = []
    for address in addresses:
        key = mailbox_key(address)
        if key in kept:
            dropped.append((address, kept[key]))
        else:
            kept[key] = address
    return list(kept.values()), dropped
