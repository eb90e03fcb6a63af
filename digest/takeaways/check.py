"""The checks on one Korean line from the model: clean it, repair a near-miss, judge whether it can be shown.

Pure functions, no I/O. A line is unusable when it is empty, not Korean (a Hangul letter ratio below 0.3
and fewer than half its words with Hangul), too short, too long to repair, a loop, a copy of the prompt's
examples, a Korean title with no sentence of its own, carries HTML or a link it cannot be cut before, or
states a number its item's title and abstract do not have. Near-misses are mended: stray Markdown and
labels removed, inline math unwrapped, a long line cut at a sentence or clause boundary, a loop, a link or
other-script text cut off, a copied "Name: subtitle" title shortened to its name, the polite 합니다 style
made plain where that needs no dictionary.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..korean import (
    FENCE,
    MAX_CHARS,
    MIN_CHARS,
    REPEAT,
    compact_text,
    cut_to_fit,
    is_korean,
    normal_number,
    sentences,
    shared_run,
    strip_markup,
)
from ..link_check import find_link
from ..llm import first_json_object
from ..models import Scored
from ..text import one_line, truncate
from .prompt import ANSWER_KEY, EXAMPLES, MAX_ABSTRACT_CHARS

# -- what comes back ------------------------------------------------------------------

TARGET_CHARS = (40, 160)  # what the prompt asks for
MAX_REPAIRABLE = 3 * MAX_CHARS  # longer than this is not a near-miss but a copied or translated abstract

# Fixed wording (no numbers) so the one warning line can group items by reason.
EMPTY = "empty"
NOT_TEXT = "not a string"
TOO_SHORT = "too short (write {}–{} characters)".format(*TARGET_CHARS)
TOO_LONG = "too long (write {}–{} characters)".format(*TARGET_CHARS)
NOT_KOREAN = "not written in Korean"
OTHER_SCRIPT = "mixes in Chinese, Japanese or Cyrillic text"
MIXED_WORD = "a word is half Hangul, half Latin (레ward): write the English term whole"
HAS_LINK = "contains a link (plain text only)"
HAS_ACTIVE_HTML = "contains HTML/script (plain text only)"
LOOKS_LIKE_DATA = "contains JSON or code instead of a sentence"
REPEATS = "repeats itself"
COPIES_EXAMPLE = "copies the prompt's example lines"
ONLY_TITLE = "restates the title instead of saying what the work does"
NEW_NUMBER = "states a number the abstract does not have"
MISSING = "missing from the answer"
NOT_JSON = "the answer was not valid JSON"
NO_ITEMS = 'the answer had no "items" list'
CUT_OFF = "the answer was cut off by max_tokens"

# What a whole answer can suffer from; the batch is split rather than re-asked whole.
_BATCH_PROBLEMS = {EMPTY, NOT_JSON, NO_ITEMS, CUT_OFF}

_OTHER_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\u0400-\u04ff]")
# A small model transliterating an English word half-way: 레ward, 인ference, 토크나이zer, 주요ly, 오픈-ended.
# Korean puts a particle after an English term (benchmark를), never lower-case Latin letters right after
# Hangul. Nor does it make an English function word a Korean verb ("재 though하게"), where a term would be
# ("fine-tune한", "instead of로" with a particle). Both decide real answers: tests/test_summarize.py.
MIXED = re.compile(
    r"[가-힣]-?[a-z]{2}|(?i:(?<![-\w.])(?:though|although|the|and|or|of|with|for|to|from|into|that|which|"
    r"while|because|however|but|than|then|when|where|whether|this|these|those|is|are|was|were|be|been|an|"
    r"by|via|as|at|in|on|it|its)(?=하|되|시키|해|했|한|할|됐|된))"
)
# Elements whose presence means the model followed injected text: the whole line is untrustworthy.
_ACTIVE_HTML = re.compile(
    r"<\s*/?\s*(script|style|iframe|object|embed|svg|math|form|input|link|meta)\b", re.I
)
_URL = re.compile(r"(?i)\b(?:https?|ftp)://|\bwww\.[a-z0-9-]+\.|\b(?:javascript|vbscript):|\bdata:[a-z]+/")
_URL_TOKEN = re.compile(r"(?i)\S*(?:(?:https?|ftp)://|\bwww\.[a-z0-9-]+\.)\S*")


# -- faithfulness ------------------------------------------------------------------------------------

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER_WORDS = {
    **{w: str(n) for n, w in enumerate(_ONES)},
    **{w: str(10 * n) for n, w in enumerate(_TENS, start=2)},
    "hundred": "100", "thousand": "1000", "million": "1", "billion": "1", "dozen": "12",
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5",
    "twice": "2", "double": "2", "doubles": "2", "doubling": "2", "half": "2", "triple": "3",
    "single": "1", "dual": "2", "pair": "2", "both": "2",
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z]+")
_COMPOUND = re.compile(rf"\b({'|'.join(_TENS)})[- ]({'|'.join(_ONES[1:10])})\b")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")


def source_numbers(source: str) -> set[str]:
    """Every number the item's title or abstract states, in the forms a Korean line may write it."""
    found: set[str] = set()
    for raw in _DIGITS.findall(source):
        n = normal_number(raw)
        found.add(n)
        for part in re.split(r"[.,]", raw):  # "1.5B" lets "1.5" through, "3,000" lets "3" (3천) through
            found.add(normal_number(part))
        if "." not in n and n.isdigit():
            value = int(n)
            for unit in (1000, 10_000, 100_000_000):  # 3000 → 3천, 30000 → 3만, 100000000 → 1억
                if value >= unit and value % unit == 0:
                    found.add(str(value // unit))
            if value >= 10_000:  # 15000 → 1.5만
                found.add(normal_number(f"{value / 10_000:.4f}"))
    lowered = source.lower()
    for word in _WORD.findall(lowered):
        if word in _NUMBER_WORDS:
            found.add(_NUMBER_WORDS[word])
    for tens, ones in _COMPOUND.findall(lowered):  # twenty-one
        found.add(str(int(_NUMBER_WORDS[tens]) + int(_NUMBER_WORDS[ones])))
    if re.search(r"\d+\s*(?:x|×|times|-fold)", source, re.I):
        found.add("배")
    return found


def new_numbers(line: str, source: str) -> list[str]:
    """The numbers ``line`` states that its source does not (small counts like "두 가지" are words)."""
    known = source_numbers(source)
    return [raw for raw in _DIGITS.findall(line) if normal_number(raw) not in known]


_EXAMPLE_SENTENCES = [compact_text(s) for line in EXAMPLES for s in sentences(line)]
COPY_MIN_CHARS = 20  # a run this long shared with an example sentence is a copy, not a common phrase


def copies_example(line: str) -> bool:
    """Whether ``line`` repeats (a good part of) a sentence of the prompt's examples."""
    compact = compact_text(line)
    return any(shared_run(compact, e) >= min(COPY_MIN_CHARS, len(e)) for e in _EXAMPLE_SENTENCES)


# -- the check -----------------------------------------------------------------------------------------


# The …합니다 style a small model writes, made the plain …한다 style the digest uses, at sentence ends only.
_POLITE_SEUP = re.compile(r"([가-힣])습니다(?=[.!]|$)")
_POLITE = re.compile(r"(\S*?)([됩킵줍냅집봅옵춥웁입])니다(?=[.!]|$)")
# Jongseong (final consonant) indices in the Unicode Hangul syllable layout.
_FINAL_B, _FINAL_N, _FINAL_SS, _FINAL_BS = 17, 4, 20, 18


def _final(ch: str) -> int:
    return (ord(ch) - 0xAC00) % 28


def plain_style(text: str) -> str:
    """``보였습니다.`` → ``보였다.``, ``모델입니다.`` → ``모델이다.``, ``개선됩니다.`` → ``개선된다.``

    Only the forms that convert without a dictionary: 습니다 after ㅆ/ㅄ (했, 있, 없, 겠), 입니다, and
    ㅂ니다 after the verb endings 되·시키·주·내·지·보·오·추·우. Anything else stays polite: right, if not the
    house style (합니다 is 한다 after a verb but 하다 after an adjective, 찾습니다 is 찾는다, 많습니다 많다:
    that takes a dictionary)."""

    def seup(m: re.Match[str]) -> str:
        ch = m.group(1)
        return ch + "다" if _final(ch) in (_FINAL_SS, _FINAL_BS) else m.group(0)

    def plain(m: re.Match[str]) -> str:
        word, ch = m.group(1), m.group(2)
        if ch == "입":
            return f"{word}이다"
        return word + chr(ord(ch) - _FINAL_B + _FINAL_N) + "다"

    return _POLITE.sub(plain, _POLITE_SEUP.sub(seup, text))


# The hype words the prompts forbid, where they modify a word that stands without them: "놀라운
# benchmark" is a benchmark, "획기적으로 줄였다" is 줄였다. (As a predicate, "결과가 놀랍다", they stay:
# dropping them would leave no sentence; nor before 수준/정도, which mean nothing without them.)
_HYPE = re.compile(
    r"(?<![가-힣])(?:놀라운|혁신적인|획기적인|혁명적인|경이로운|압도적인|"
    r"놀랍게도|놀라울 정도로|획기적으로|혁신적으로|혁명적으로|압도적으로)\s+(?=\S)(?!수준|정도|만큼)"
)


def without_hype(text: str) -> str:
    """``놀라운 benchmark 프레임워크이다`` → ``benchmark 프레임워크이다``: the plain style, in words."""
    return _HYPE.sub("", text)


_PREDICATE_END = re.compile(r"[다요음함임됨]\W*$")


def _title_like(text: str) -> bool:
    """A "Name: what it is" title put into Korean, with no sentence of its own: a small model's answer
    when it cannot summarize ("추천 shaping를 사용하여 인ference 시간 정렬: 스택 범위 게임의 관점에서")."""
    return ":" in text and not _PREDICATE_END.search(text) and len(sentences(text)) == 1


def _without_title(text: str, title: str) -> str:
    """A line that repeats a "Name: what it is" title in full names the work by its Name instead."""
    name, colon, _ = title.partition(":")
    if not colon or len(title) < 30 or not 2 <= len(name.strip()) <= 40:
        return text
    at = text.lower().find(title.lower())
    if at < 0:
        return text
    return (text[:at] + name.strip() + text[at + len(title) :]).strip()


class Unfinished(str):
    """A line salvaged from an answer cut off by max_tokens: its last sentence is incomplete."""

    __slots__ = ()


@dataclass(frozen=True)
class Checked:
    """A candidate line after validation: the clean text, or why it cannot be used."""

    text: str | None
    problem: str = ""
    repair: str = ""  # what was mended to make it usable ("cut to fit", ...)


# A line that ends on what can only go on: an adnominal or connective ending ("… 성능을 높이는",
# "… 결합하여"), an object particle, a comma. A noun ending (…을 직접 생성) is a finished line: the
# readers' own note style.
_STOPS_MID_SENTENCE = re.compile(r"(?:[가-힣](?:는|을|를)|하여|하고|되어|되며|하며|지만|으며|[,;:])\s*$")


def check_takeaway(raw: object, source: str | None = None) -> Checked:
    """Clean one line from the model, repair a near-miss, and decide whether it can be shown.

    ``source`` (the item's title and abstract) enables the faithfulness check: a number the line states
    must be in it.
    """
    if not isinstance(raw, str):
        return Checked(None, NOT_TEXT)
    unfinished = isinstance(raw, Unfinished)
    if _ACTIVE_HTML.search(html.unescape(raw)):
        return Checked(None, HAS_ACTIVE_HTML)
    text = strip_markup(raw)
    repairs: list[str] = []
    if text != one_line(raw):
        repairs.append("markup removed")
    if not text:
        return Checked(None, EMPTY)
    link = find_link(text)
    if link:  # a model copying "Code: https://…" from the abstract: the sentences before it may do
        head = cut_to_fit(text[: link.start()], unfinished=True)
        if head is None:
            return Checked(None, HAS_LINK)
        text = head
        repairs.append("cut before a link")
    if text.startswith(("{", "[{", '["')):  # the model nested JSON instead of writing a sentence
        return Checked(None, LOOKS_LIKE_DATA)
    plain = plain_style(text)
    if plain != text:
        text = plain
        repairs.append("plain style")
    calm = without_hype(text)
    if calm != text:
        text = calm
        repairs.append("hype word dropped")
    if source:
        shorter = _without_title(text, source.split("\n", 1)[0])
        if shorter != text:
            text = shorter
            repairs.append("title shortened to its name")
    loop = REPEAT.search(text)
    if loop:  # keep what came before the loop, if that is a whole sentence
        head = cut_to_fit(text[: loop.start() + len(loop.group(1))], unfinished=True)
        if head is None:
            return Checked(None, REPEATS)
        text = head
        repairs.append("cut before a repeated phrase")
    foreign = _OTHER_SCRIPT.search(text)
    if foreign:  # the sentences before the first stray Chinese/Cyrillic word may still do
        head = cut_to_fit(text[: foreign.start()], unfinished=True)
        if head is None:
            return Checked(None, OTHER_SCRIPT)
        text = head
        repairs.append("cut before other-script text")
    mixed = MIXED.search(text)
    if mixed:  # the whole sentences before the broken word may still do
        head = cut_to_fit(text[: mixed.start()], unfinished=True)
        if head is None:
            return Checked(None, MIXED_WORD)
        text = head
        repairs.append("cut before a half-transliterated word")
    if not unfinished and _STOPS_MID_SENTENCE.search(text):
        unfinished = True  # the model stopped on its own mid-way: shown like a line cut at max_tokens
        repairs.append("unfinished sentence dropped")
    if unfinished or len(text) > MAX_CHARS:
        if len(text) > MAX_REPAIRABLE and not unfinished:
            return Checked(None, TOO_LONG)
        cut = cut_to_fit(text, TARGET_CHARS[1] if len(text) > MAX_CHARS else MAX_CHARS, unfinished=unfinished)
        if cut is None:
            return Checked(None, TOO_LONG)
        if cut != text:
            repairs.append("cut to fit")
        text = cut
    if len(text) < MIN_CHARS:
        return Checked(None, TOO_SHORT)
    if not is_korean(text):
        return Checked(None, NOT_KOREAN)
    if copies_example(text):
        return Checked(None, COPIES_EXAMPLE)
    if _title_like(text):
        return Checked(None, ONLY_TITLE)
    if source is not None and new_numbers(text, source):
        return Checked(None, NEW_NUMBER)
    return Checked(text, repair=", ".join(repairs))


def clean_takeaway(raw: object, source: str | None = None) -> str | None:
    """The line as it may be shown, or None when it is unusable."""
    return check_takeaway(raw, source).text


# -- parsing an answer ---------------------------------------------------------------------------------

_ENTRY = re.compile(
    r'\{\s*"id"\s*:\s*"?(?P<id>[^",}\s]+)"?\s*,\s*"(?P<key>[A-Za-z_]+)"\s*:\s*"(?P<text>(?:[^"\\]|\\.)*)(?P<end>"?)'
)


def _value(entry: Mapping[str, Any]) -> object:
    if ANSWER_KEY in entry:
        return entry[ANSWER_KEY]
    # json_object and text modes leave the field name to the model: "takeaway", "summary", "요약", ...
    return next((v for k, v in entry.items() if k != "id" and isinstance(v, str)), None)


def _salvage(text: str) -> list[tuple[str, object]]:
    """(id, line) pairs from an answer whose JSON is broken, typically cut off by max_tokens."""
    out: list[tuple[str, object]] = []
    for m in _ENTRY.finditer(text):
        body = m.group("text")
        if body.endswith("\\") and not body.endswith("\\\\"):
            body = body[:-1]
        try:
            line = json.loads(f'"{body}"')
        except ValueError:
            continue
        out.append((m.group("id"), line if m.group("end") else Unfinished(line)))
    return out


def parse_answer(content: str | None, asked: Sequence[str]) -> tuple[dict[str, list[object]], str]:
    """The candidate lines per asked id from one answer, and a problem that spoils the whole answer.

    Ids that were not asked are dropped, so one item's text can never fill in another's line; an id
    answered twice keeps its answers in order (the first usable one wins). A broken answer (cut off by
    max_tokens, say) still yields the entries it completed, and the unfinished last one as
    :class:`Unfinished`.
    """
    text = (content or "").strip()
    if not text:
        return {}, EMPTY
    if text.startswith("```"):  # some local models fence JSON even in json mode
        text = FENCE.sub("", text).strip()
    try:
        data = json.loads(text)
    except ValueError:
        # Cut off (salvage the entries it has), or wrapped in prose (find the JSON in it).
        data = None
    pairs: list[tuple[str, object]] = _salvage(text) if data is None else []
    if data is None and not pairs:
        data = first_json_object(text)
        if data is None:
            return {}, NOT_JSON
    if data is not None:
        entries = data.get("items") if isinstance(data, dict) else data
        if isinstance(data, dict) and entries is None and "id" in data:
            entries = [data]  # one item answered without the list around it
        if not isinstance(entries, list):
            return {}, NO_ITEMS
        pairs = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            item_id = entry.get("id")
            if isinstance(item_id, str | int) and not isinstance(item_id, bool):
                pairs.append((str(item_id).strip(), _value(entry)))
    wanted = set(asked)
    found: dict[str, list[object]] = {}
    for item_id, line in pairs:
        if item_id in wanted:
            found.setdefault(item_id, []).append(line)
    return found, ""


def pick_takeaways(
    found: Mapping[str, list[object]],
    asked: Sequence[str],
    problem: str = "",
    sources: Mapping[str, str] | None = None,
) -> dict[str, Checked]:
    """For each asked id: its first usable line, or the problem with its first answer."""
    out: dict[str, Checked] = {}
    for item_id in asked:
        candidates = found.get(item_id)
        if not candidates:
            out[item_id] = Checked(None, problem or MISSING)
            continue
        source = sources.get(item_id) if sources else None
        checks = [check_takeaway(c, source) for c in candidates]
        out[item_id] = next((c for c in checks if c.text), checks[0])
    return out


_ABSTRACT_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[가-힣])")


def fallback_text(abstract: str, limit: int = 160) -> str:
    """The abstract's first sentence (at least ~40 characters of it), trimmed: shown instead of a line."""
    # The abstract is untrusted too: without markup and without URLs or bare domains, which Markdown viewers
    # would autolink.
    text = one_line(_URL_TOKEN.sub(" ", strip_markup(abstract or "")))
    if find_link(text):
        text = " ".join(word for word in text.split() if not find_link(word))
    end = next((m.start() for m in _ABSTRACT_SENTENCE_END.finditer(text) if m.start() >= 40), len(text))
    return truncate(text[:end], limit)


def item_source(scored: Scored) -> str:
    """What a line may draw its numbers from: the title and the abstract as the model saw it."""
    c = scored.candidate
    return f"{one_line(c.title)}\n{truncate(one_line(c.summary), MAX_ABSTRACT_CHARS)}"
