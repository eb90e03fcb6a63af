"""URLs as digest shows them: without the secrets some carry.

An OpenAI-compatible proxy or a private feed is often configured as ``http://user:PASSWORD@host/v1``
or ``https://host/rss?api-key=…``. Wherever a URL is shown (``digest check``, ``digest config``, a
source's error line on stderr and in the digest's footer), its userinfo and the values of query
parameters named like a secret are replaced by ``***``; the rest stays as written, so the reader can
still tell which URL it is.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# key, api-key, apikey, token, access_token, secret, password, passwd, pwd, auth, sig, signature,
# X-Amz-Signature, session, sessionid, credential, code (OAuth), jwt.
_SECRET_NAME = re.compile(r"(?i)key|token|secret|pass|pwd|auth|sig|session|cred|jwt|^code$")
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s<>\"'`]+")


def _query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        parts.append(f"{name}={MASK}" if eq and value and _SECRET_NAME.search(name) else part)
    return "&".join(parts)


def redact_url(url: str) -> str:
    """``http://user:pw@host/v1?api-key=x&n=1`` → ``http://***@host/v1?api-key=***&n=1``."""
    if "@" not in url and "=" not in url:
        return url  # the common case, and nothing to hide
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:  # not parseable as a URL: shown without anything that could be a secret
        return url.split("?", 1)[0].rpartition("@")[2]
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = _query(parts.query) if parts.query else ""
    fragment = _query(parts.fragment) if "=" in parts.fragment else parts.fragment
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_urls(text: str) -> str:
    """``text`` with every URL in it redacted (an error line that quotes the URL it failed on)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
