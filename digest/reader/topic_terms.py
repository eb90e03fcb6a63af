"""Keyword candidates for a new topic from the reader's own notes (``digest topics suggest NAME``).

A note is about the topic when its front matter's tags, categories or title name it, or its text does
(twice or more: once is a passing mention). From those notes come their tags and categories, the English
terms inside their Korean text ("확산 모델(diffusion model)", "GraphSAGE 구현") -- acronyms and camel-case
names as written, and phrases of two to four words (the phrase extractor's, digest/trend/phrases.py) --
that two or more of them use or a tag names. Read locally, like the profile (digest/reader/notes.py); the
candidates are then previewed against the stored days like any other (digest/selection/suggest.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from ..trend.phrases import boilerplate, document_phrases
from .notes import DIGEST_SECTION, FENCE, LIQUID, MAX_NOTE_BYTES, decode, front_matter, walk

MIN_NOTES = 2  # related notes a term of their text must be in (a tag counts on its own)
MAX_TERMS = 40

_NOT_LATIN = re.compile(r"[^A-Za-z0-9'’\- \t]+")
_NAME = re.compile(r"(?<![\w-])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?![\w-])")
_CAMEL_OR_ACRONYM = re.compile(r"[A-Z].*[A-Z]|[a-z0-9][A-Z]")
_LIST = re.compile(r"[\[\],]")


def _tags(fields: dict[str, str]) -> list[str]:
    out = []
    for key in ("tags", "categories", "category"):
        raw = fields.get(key, "")
        parts = _LIST.split(raw) if ("[" in raw or "," in raw) else raw.split()
        out += [p.strip().strip("\"'") for p in parts if p.strip().strip("\"'")]
    return out


def _english_terms(body: str) -> set[str]:
    latin = _NOT_LATIN.sub(" . ", body)  # Hangul and punctuation end a run, as in the profile's terms
    terms = {p for p in document_phrases("", latin) if not boilerplate(p)}
    for m in _NAME.finditer(latin):
        tok = m.group(0)
        if 2 <= len(tok) <= 24 and _CAMEL_OR_ACRONYM.search(tok):
            terms.add(tok[:-1] if tok.endswith("s") and tok[:-1].isupper() and len(tok) > 2 else tok)
    return terms


def note_terms(folders: Iterable[Path], name: str, warn: Callable[[str], None]) -> tuple[int, dict[str, int]]:
    """The notes about ``name`` and the candidate terms in them: (notes found, term -> notes using it)."""
    wanted = name.casefold().strip()
    related = 0
    counts: Counter[str] = Counter()
    tagged: set[str] = set()
    seen: set[str] = set()
    for folder in folders:
        if not folder.is_dir():
            continue
        for f in walk(folder, warn):
            if f.path in seen:
                continue
            seen.add(f.path)
            if f.size > MAX_NOTE_BYTES:
                warn(f"notes: {f.path} is larger than a note; skipped")
                continue
            try:
                raw = Path(f.path).read_bytes()
            except OSError as e:
                warn(f"notes: cannot read {f.path}: {e.strerror or e}")
                continue
            text, problem = decode(raw)
            if problem:
                warn(f"notes: {f.path}: {problem}" + ("" if text is not None else "; skipped"))
            if text is None:
                continue
            fields, body = front_matter(text)
            body = LIQUID.sub(" ", FENCE.sub("\n", DIGEST_SECTION.sub("\n", body)))
            tags = _tags(fields)
            named = any(wanted in t.casefold() for t in (*tags, fields.get("title", "")))
            if not named and body.casefold().count(wanted) < 2:
                continue
            related += 1
            for t in tags:
                if t.casefold() != wanted:
                    tagged.add(t)
            counts.update(_english_terms(body))
    terms = {t: n for t, n in counts.items() if n >= MIN_NOTES and t.casefold() != wanted}
    for t in tagged:
        terms[t] = max(terms.get(t, 0), counts.get(t, 0), 1)
    best = sorted(terms.items(), key=lambda x: (-x[1], x[0]))[:MAX_TERMS]
    return related, dict(best)
