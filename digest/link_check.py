"""Whether a line the LLM wrote holds something a reader's app would turn into a link.

Takeaways and the 흐름 paragraph are plain text, but their readers' renderers are not: markdown-it with
linkify, Notion, Obsidian, Gmail and chat apps make ``evil-phish.com`` or ``www.evil.kr`` a live link
without any scheme. A model that followed an instruction injected into an abstract must not be able to
put one in the reader's note, so a line counts as linking when it holds

* a URL with a scheme (``https://``, ``ftp://``), a ``javascript:``/``vbscript:``/``data:`` URI;
* a ``www.`` host;
* a bare domain: labels (of any script) ending in a top-level domain a linkifier knows, i.e. every two-letter
  country code (linkify-it's list) and the generic ones in :data:`GENERIC_TLDS`, in any case
  (``arXiv.org``, ``EVIL.COM``), also right before Korean text (``evil-phish.com에``), which some
  linkifiers split off and others do not;
* an e-mail address (``mailto:`` links are made from those).

What is not a domain stays fine: model names and versions (``Qwen2.5-1.5B``, ``GPT-4o``, ``v1.2.3``),
``e.g.``/``i.e.``, and file names whose extension is no top-level domain (``model.safetensors``,
``Node.js``). A file name whose extension is a country code (``train.py``, ``README.md``) does count:
linkify-it links it, so a note would show it as a link. tests/test_link_check.py measures both sides
over every takeaway the project ships and the tests hold.
"""

from __future__ import annotations

import re

# The two-letter top-level domains, as linkify-it (markdown-it's linkifier) lists them.
COUNTRY_TLDS = (
    "a[cdefgilmnoqrstuwxz]|b[abdefghijmnorstvwyz]|c[acdfghiklmnoruvwxyz]|d[ejkmoz]|e[cegrstu]|f[ijkmor]|"
    "g[abdefghilmnpqrstuwy]|h[kmnrtu]|i[delmnoqrst]|j[emop]|k[eghimnprwyz]|l[abcikrstuvy]|"
    "m[acdeghklmnopqrstuvwxyz]|n[acefgilopruz]|om|p[aefghklmnrstwy]|qa|r[eosuw]|"
    "s[abcdeghijklmnortuvxyz]|t[cdfghjklmnortvwz]|u[agksyz]|v[aceginu]|w[fs]|y[et]|z[amw]"
)
# linkify-it's defaults, and the generic domains most used for phishing and short links.
GENERIC_TLDS = (
    "com", "net", "org", "edu", "gov", "mil", "int", "biz", "info", "pro", "name", "mobi", "asia",
    "aero", "coop", "museum", "shop", "store", "web", "xxx", "app", "dev", "page", "xyz", "top", "online",
    "site", "website", "club", "live", "link", "click", "tech", "cloud", "fun", "space", "life", "world",
    "today", "news", "email", "win", "vip", "icu", "buzz", "support", "help", "digital", "network", "zone",
    "lol", "work", "one", "bid", "loan", "men", "download", "stream", "host", "press", "agency", "company",
    "services", "solutions", "center", "group", "global", "media", "blog", "wiki", "bot", "chat", "ltd",
    "kim", "moe", "ninja", "rocks", "monster", "quest", "cyou", "sbs", "cfd", "bond", "rest", "bar",
)
_TLD = "(?:" + "|".join(sorted(GENERIC_TLDS, key=len, reverse=True)) + "|" + COUNTRY_TLDS + ")"
# Letters of any script: a Korean IDN host (네이버.com) is linked as readily as an ASCII one. What follows
# the top-level domain is matched in ASCII only, so a particle ("evil.com에") does not hide it.
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"

LINK = re.compile(
    r"(?i)"
    r"\b(?:https?|ftp)://"
    r"|\bwww\.[a-z0-9-]+\."
    r"|\b(?:javascript|vbscript):|\bdata:[a-z]+/"
    # A bare domain: not inside a longer dotted name ("Qwen2.5"), not followed by more of one.
    # Its first label has a letter: "0.5ms" and "3.2GB" are measures, not hosts.
    rf"|(?<![\w.-])(?=[\w-]*[^\W\d_]){_LABEL}(?:\.{_LABEL})*\.{_TLD}(?![a-z0-9_-]|\.[a-z0-9])"
)


def find_link(text: str) -> re.Match[str] | None:
    """The first thing in ``text`` a renderer would make a link of, if any."""
    return LINK.search(text)
