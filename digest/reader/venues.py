"""Whether an arXiv comment says the paper was accepted, and where: ``ICLR 2026``, ``AAAI 2026 워크숍``.

Authors write it every way: "Accepted to ICLR 2026", "accepted by AAAI2026 ws", "To appear in ICRA 2026",
"Published in: ... (ICEE)", "camera-ready", or only the venue and year ("17 pages, 10 figures; ICLR 2026").
A comment that says the paper is submitted or under review is no acceptance, unless it says in so many
words that it was accepted somewhere too ("Accepted at a workshop. Submitted to the IEEE …").

Measured on comments of real arXiv papers, labelled by hand (tests/fixtures/watch/comments.jsonl,
docs/reader.md); the rules were written from a different sample of the same days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..text import one_line

# Venues people name by acronym, as they are spelled in print. A name not here is still found after an
# explicit "accepted to …"; here it is also found bare ("ICLR 2026").
_VENUES = (
    "NeurIPS NIPS ICLR ICML CVPR ICCV ECCV WACV BMVC 3DV ACL EMNLP NAACL EACL AACL COLING LREC CoNLL TACL "
    "AAAI IJCAI KDD WWW SIGIR WSDM CIKM RecSys ICDE VLDB SIGMOD ICASSP INTERSPEECH ICRA IROS CoRL "
    "AISTATS UAI COLT TMLR JMLR TPAMI TIP MICCAI ISBI MIDL ICME ICPR IJCNN ECAI ECML PKDD "
    "SDM ICDM COLM ISIT CHI UIST CSCW FAccT USENIX NDSS ICSE ISSTA ACCV SIGGRAPH"
).split()
_VENUE_NAMES = {v.lower(): v for v in _VENUES}
# Acronyms that are also words or other things ("a tip", "chi-square"): only as printed.
_EXACT_CASE = frozenset({"TIP", "CHI", "WWW", "UAI", "COLT", "SDM"})
_VENUE_RE = "|".join(sorted((re.escape(v) for v in _VENUES if " " not in v), key=len, reverse=True))
# "ICLR 2026", "ICLR2026", "AAAI'26", "AAAI-26", "ICML'2026", "KDD '26"; or the venue alone.
_VENUE = re.compile(
    rf"(?<![A-Za-z])(?P<venue>{_VENUE_RE})(?![A-Za-z])"
    r"(?:\s*(?:'|’|-)?\s*(?P<year>(?:19|20)\d{2}|\d{2})(?!\d))?",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
# Said in so many words: the paper was accepted, is published, will appear or be presented.
_ACCEPTED = re.compile(
    r"(?<![\w-])(?:accepted|to appear|will appear|appears? in|appearing in|camera[- ]ready|published|"
    r"to be published|presented at|to be presented|will be presented|in proceedings of|"
    r"in the proceedings of)(?![\w-])",
    re.IGNORECASE,
)
_NOT = re.compile(r"\b(?:not|yet to be|pending)\s+(?:yet\s+)?(?:accepted|published)\b", re.IGNORECASE)
# Still on its way: a bare venue next to these is a target, not an acceptance.
_PENDING = re.compile(
    r"\b(?:submitted|submission|under (?:review|submission)|in review|in submission|preprint|"
    r"work in progress|rejected|withdrawn|for possible publication)\b",
    re.IGNORECASE,
)
# The venue's name after the verb, up to the end of its clause.
_AFTER = re.compile(
    r"(?:accepted|to appear|will appear|appears? in|appearing in|published|to be published|presented|"
    r"to be presented|will be presented)"
    r"(?:\s+(?:for publication|as (?:an? )?(?:\w+ )?(?:paper|poster|oral|spotlight|talk)))?"
    r"(?:\s*(?:to|at|by|for|in|on|:)\b:?)?\s*(?P<name>[^.;()\n]{3,})",
    re.IGNORECASE,
)
_LEAD = re.compile(r"^(?:the|proceedings of|the proceedings of|publication (?:in|at|by))\s+", re.IGNORECASE)
_KIND = re.compile(r"\b(oral|spotlight|highlight|poster)\b", re.IGNORECASE)
_WORKSHOP = re.compile(r"\b(?:workshop|ws)\b", re.IGNORECASE)
_FINDINGS = re.compile(r"\bfindings\b", re.IGNORECASE)
MAX_NAME = 48  # a venue spelled out longer than this is cut: the block is one line per paper


@dataclass(frozen=True)
class Acceptance:
    """An acceptance a comment states."""

    venue: str  # "ICLR 2026", "EACL 2026 Findings", "AAAI 2026 워크숍", "IEEE Transactions on …"
    kind: str = ""  # "oral", "spotlight", "highlight", "poster": how it is presented, when said

    @property
    def label(self) -> str:
        """What the news block says: ``ICLR 2026 채택``, ``NeurIPS 2025 채택(spotlight)``."""
        return f"{self.venue} 채택" + (f"({self.kind})" if self.kind else "")


def _year(text: str | None) -> str:
    if not text:
        return ""
    return text if len(text) == 4 else f"20{text}"


def _known(text: str) -> str:
    """The known venue in ``text`` with its year, as printed: ``ICLR 2026``; "" when none.

    One written with its year wins ("the 40th AAAI Conference … (AAAI-26)" is AAAI 2026); else the first,
    with the nearest year of the clause ("Accepted at 2026 IEEE … (ICRA)")."""
    bare = ""
    for m in _VENUE.finditer(text):
        name = _VENUE_NAMES[m.group("venue").lower()]
        if name in _EXACT_CASE and m.group("venue") != name:
            continue
        if m.group("year"):
            return f"{name} {_year(m.group('year'))}"
        if not bare:
            years = sorted(_YEAR.finditer(text), key=lambda y: abs(y.start() - m.start()))
            near = years[0].group(0) if years and abs(years[0].start() - m.start()) <= 80 else ""
            bare = f"{name} {near}".strip()
    return bare


def _spelled(text: str, at: int) -> str:
    """A venue written out after the verb at ``at``: ``IEEE Transactions on Image Processing``."""
    m = _AFTER.match(text, at)
    if not m:
        return ""
    name = _LEAD.sub("", m.group("name").strip(" ,:-")).strip(" ,:-")
    name = re.split(r",|\s+-\s+|\s+(?:with|as|see|code|https?://)\b", name, maxsplit=1)[0].strip()
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 1].rstrip() + "…"
    return name


def _qualified(venue: str, clause: str) -> str:
    if _FINDINGS.search(clause) and "Findings" not in venue:
        return f"{venue} Findings"
    if _WORKSHOP.search(clause) and "orkshop" not in venue:
        return f"{venue} 워크숍"
    return venue


def acceptance(comment: str) -> Acceptance | None:
    """The acceptance ``comment`` states, or None (submitted, under review, or no venue at all)."""
    text = one_line(comment)
    if not text:
        return None
    kind_m = _KIND.search(text)
    kind = kind_m.group(1).lower() if kind_m else ""
    said = _ACCEPTED.search(text)
    if said and not _NOT.search(text):
        # The clause that says it: a later sentence may name a venue the paper is only submitted to.
        start = text.rfind(".", 0, said.start()) + 1
        ends = [i for i in (text.find(". ", said.end()), text.find(";", said.end())) if i >= 0]
        clause = text[start : min(ends)] if ends else text[start:]
        venue = _known(clause) or _spelled(clause, said.start() - start)
        if not venue and "camera" in said.group(0).lower():
            venue = _known(text)
        if venue:
            return Acceptance(_qualified(venue, clause), kind)
        return None
    if _PENDING.search(text):
        return None
    venue = _known(text)  # "17 pages, 10 figures; ICLR 2026": only with its year, the way authors write it
    if venue and _YEAR.search(venue):
        return Acceptance(_qualified(venue, text), kind)
    return None
