from __future__ import annotations

import ipaddress
import socket

import pytest


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Each test gets its own state dir and config lookup, and no real secrets."""
    for name in ("OPENAI_API_KEY", "DIGEST_SMTP_PASSWORD", "DIGEST_CONFIG", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.chdir(tmp_path)
    yield


def _this_machine(host: str) -> bool:
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Nothing a test runs in process reaches the internet, not even a DNS query: every name that is not
    this machine fails to resolve, as it does offline. Tests use .invalid hosts (RFC 6761) to mean
    "offline"; this makes that true on any machine, without asking a resolver. (A test that starts the
    CLI as a process of its own points it at loopback servers only.)"""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else (host or "")
        if _this_machine(name):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
