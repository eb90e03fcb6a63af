"""오늘의 흐름: two or three Korean sentences on the day's trend, written by the LLM from the numbers.

One small request through the run's :class:`~digest.llm.LLMSession` (the takeaways' budget, response
format and accounting; ``max_tokens`` capped) gets the day's numbers and top items as JSON. The
answer is validated like a takeaway (Korean, length, no markup or links) and, because the paragraph
states numbers, every number in it must appear in the input: a model that computes "41편" from a share
is asked again once, then replaced by a template sentence built from the numbers (FALLBACK, shown as
such). Accepted paragraphs are cached by (day, input, model, prompt), so a re-run of the day pays
nothing and prints the same block. A missing key or a dead endpoint never raises.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2

from . import trends
from .config import LLM
from .korean import compact_text, cut_to_fit, ends_sentence, is_korean, sentences, shared_run, strip_markup
from .korean import numbers as numbers
from .llm import LLMSession, RequestFailed, first_json_object
from .models import Entry, Takeaway, TakeawayStatus, Trend
from .progress import Progress
from .resources import prompt_template, read_prompt
from .state import State
from .takeaway_check import (
    HAS_ACTIVE_HTML,
    HAS_LINK,
    LOOKS_LIKE_DATA,
    MIXED,
    MIXED_WORD,
    NOT_JSON,
    NOT_KOREAN,
    Checked,
    check_takeaway,
    plain_style,
    without_hype,
)
from .takeaway_prompt import items_json
from .text import one_line, truncate

SYSTEM_FILE = "flow.system.txt"
USER_FILE = "flow.user.txt"


@dataclass(frozen=True)
class FlowPrompt:
    """One kind of paragraph: the day's 오늘의 흐름, or the week's (digest/week.py). Same checks, same
    template fallback, same cache; only the prompt and the words for its period differ."""

    name: str  # in progress lines and warnings: "오늘의 흐름"
    period: str  # how the template sentence names its period: "오늘", "이번 주"
    system: str
    user: jinja2.Template
    version: str  # part of the cache key: a changed prompt writes a new paragraph


def load_prompt(name: str, period: str, system_file: str, user_file: str) -> FlowPrompt:
    system = read_prompt(system_file).strip()
    source = read_prompt(user_file)
    version = "f" + hashlib.sha256(f"{system}\0{source}".encode()).hexdigest()[:12]
    return FlowPrompt(name, period, system, prompt_template(source), version)


DAILY = load_prompt("오늘의 흐름", "오늘", SYSTEM_FILE, USER_FILE)
SYSTEM_PROMPT = DAILY.system
PROMPT_VERSION = DAILY.version

MAX_TOKENS = 400  # two or three Korean sentences need about 200
TOP_ITEMS = 5
MIN_CHARS, MAX_CHARS = 50, 400  # the prompt asks for 80–300
MAX_SENTENCES = 4
# What the model is asked to return (json_schema); json_object and text mode get the same shape in words.
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"paragraph": {"type": "string"}},
    "required": ["paragraph"],
    "additionalProperties": False,
}

TOO_SHORT = f"too short (write 80–300 characters, at least {MIN_CHARS})"
TOO_LONG = f"too long (write 80–300 characters, at most {MAX_CHARS})"
TOO_MANY = "more than three sentences"
UNFINISHED = "stops mid-sentence"
COPIES_ITEM = "repeats a top item's line instead of saying what moved"
COMPARES_IN_COLD_START = "compares with usual days, but there are not enough earlier days yet"
# Comparisons with earlier days: against the usual, or a rise or fall (늘었다, 증가한 반면, 줄어들었다), or
# the block's arrows, which a small model copies from the prompt ("▲인 LLM은 192편", 02-04 in cold start).
_COMPARES = re.compile(r"평소|평균|예년|여느 때|증가|감소|늘었|늘어|늘고|줄었|줄어|줄고|[▲▼]")
MISRANKS = "calls a topic the most or the fewest that is not"
MISATTRIBUTES = "gives a topic a number that is not its own"
# A number with its unit: a count of papers ("57편", "57개의 논문", "57개이다"; not "4개 주제", "7개 발표일")
# or a percentage. A list of them is written "133, 42, 10, 3개" or "115편과 52편".
_QUANTITY = re.compile(
    r"(?P<number>(?P<value>\d+(?:,\d{3})*(?:\.\d+)?)(?P<unit>\s*%|\s*(?:편|건|개(?!\s*(?:주제|분야|토픽|발표일|날|일|월|"
    r"국|카테고리|영역|키워드|용어|단어|항목|문장))))?)"
)
_LISTED = re.compile(r"\s*(?:,|와|과|및|그리고|하고)\s*")  # between the members of a list
_EACH = re.compile(r"각각|모두")
_SUCH_AS = re.compile(r"\s등(?=[\s의이을은])")  # "LLM, 멀티모달 등 다양한 주제": examples, not the whole
_AMONG = re.compile(r"\s(?:중|가운데)(?:에서|에)?(?=[\s,])")  # "LLM 논문 중 DPO·정렬은 8편": a frame
_MOST, _FEWEST = re.compile(r"가장\s*(?:많|활발|높)"), re.compile(r"가장\s*(?:적|조용|낮)")
# Where a clause of a Korean sentence ends: a connective ending before a comma or a space (많았고, / 많고 /
# 많았으며 / 적었지만 / 늘어난 반면).
_CLAUSE_END = re.compile(r"(?:[가-힣]고|으며|이며|지만|반면|는데|으나)(?:,|\s)")
# Characters (no spaces or punctuation) a sentence shares with a top item's line: that line repeated, not
# the item "in a few words" the prompt allows ("AgenticPay는 LLM 기반" is 16). Or most of the sentence.
COPY_RUN, COPY_SHARE = 25, 0.6
# Or its words, in any order: this share of a sentence of this many words (a title's words aside) in one line.
COPY_WORDS, COPY_WORD_SHARE = 6, 0.8
_WORDS = re.compile(r"\w+")
# The ending two topics' sentences share when one was stamped on both: "는데도움이되는기술을발견했다", 14
# characters without spaces and punctuation; "평소보다많았다" (7) is what any two topics' sentences may share.
STAMPED_TAIL = 14
EMPTY = "empty"

# A paragraph cannot open by pointing back at a sentence before it: the 1.5B model's "이 중 LLM은 133개의
# 논문을 …" stood first once the sentence it followed was dropped. A connective is cut off ("이 중", "또한",
# "하지만"); a sentence that is nothing but a pointer back ("이는 …", "이러한 …") goes.
_LEADS_BACK = re.compile(
    r"(?:이 ?중(?:에서)?|그 ?중(?:에서)?|또한|그러나|하지만|한편|반면(?:에)?|그리고|게다가|더불어|이처럼|"
    r"따라서|그래서|특히)(?=[\s,])\s*,?\s*"
)
_POINTS_BACK = re.compile(r"(?:이는|이것은|이러한|이런|그것은|이들은|이들의)(?=\s)")
# Nor by naming its own heading: "오늘의 흐름 — 오늘의 흐름은 LLM과 … 연구가 발표되었다", "이번 주는 흐름은 …"
# (the 1.5B model, daily and weekly alike). The sentence reads as it should without it.
_ECHOES_HEADING = re.compile(r"(?:오늘(?:의|은)?|이번 ?주(?:의|는)?) 흐름(?:은|는|을 보면|으로는)\s*,?\s*")
# What points forward at a list the paragraph does not have: "이 주의 주요 논문은 다음과 같습니다." (the
# 1.5B model's week paragraph; the items come below the block, not after the sentence).
_POINTS_AHEAD = re.compile(r"(?:다음|아래)과 같|(?:다음|아래)(?:은|는|의 논문)\s")
_POINTS_AT_A_PAPER = re.compile(r"(?:이|해당|그) (?:논문|연구)(?:은|는|이|에서|의)?\s")
# An English verb where the Korean predicate goes: "SlowFocus는 … 기술이 introduced." (the 1.5B model, twice).
# A term at the end is still an ending ("… 핵심은 test-time scaling."); a past participle after 이/가/은/는
# is not.
_ENGLISH_PREDICATE = re.compile(r"[가-힣][이가을를은는도]\s+[a-z][a-z-]*ed$")
_ASIDE_AT_END = re.compile(r"\s*\([^()]*\)$")  # "많았다(57편, 최근 평균 41편)": the ending is before it

# A number as a sentence writes it: 1,234 / 38 / 2.5 (signs and units are not part of it).
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_SENTENCE = re.compile(r"[.!?。](?:\s|$)")


_SENTENCE_ENDINGS = ("다", "요", "음", "함", "됨", "임")  # …했다, …해요, …늘었음, …


# -- pure helpers ---------------------------------------------------------------------------------


def flow_input(trend: Trend, entries: Sequence[Entry]) -> dict[str, Any]:
    """What the paragraph is written from: the numbers as the block states them, and the top items."""
    data: dict[str, Any] = {"date": trend.day.isoformat(), "papers": trend.pool}
    data["cold_start"] = trend.cold_start
    data["baseline_days"] = trend.collected_days
    if trend.cold_start:
        data["needed_days"] = trend.needed_days
    else:
        data["moved"] = trend.moved
    topics = []
    for t in trend.topics:
        row: dict[str, Any] = {"topic": t.label, "papers": t.count}
        if t.arrow:
            row |= {
                "share_pct": trends.share_text(t.share).rstrip("%"),
                "usual_share_pct": trends.share_text(t.baseline_share or 0.0).rstrip("%"),
                "change_pct": trends.change_text(t.change or 0.0).rstrip("%"),
                "trend": t.arrow,
            }
        topics.append(row)
    data["topics"] = topics
    if trend.emerging:
        data["emerging"] = [
            {"term": e.phrase, "papers": e.count}
            | ({"new": True} if e.new else {"usual_per_day": trends.usual_text(e.usual)})
            for e in trend.emerging
        ]
    data["top_items"] = [
        {"title": one_line(e.candidate.title), "takeaway": one_line(e.takeaway.text)}
        for e in entries[:TOP_ITEMS]
        if not e.takeaway.is_fallback
    ]
    return data


def input_text(data: dict[str, Any]) -> str:
    # The same escaping as the takeaway items: no title can open a tag or fake a delimiter.
    return items_json([data])[1:-1].strip()


def input_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def build_messages(
    data: dict[str, Any], problem: str = "", prompt: FlowPrompt = DAILY
) -> list[dict[str, str]]:
    user = prompt.user.render(input_json=input_text(data), problem=problem)
    return [{"role": "system", "content": prompt.system}, {"role": "user", "content": user.strip()}]


@dataclass(frozen=True)
class Grounds:
    """What a paragraph is checked against, all from its input (:func:`flow_input`)."""

    numbers: frozenset[str]  # the only numbers it may state
    counts: Mapping[str, int] = field(default_factory=dict)  # papers per topic label: "가장 많은" must be so
    lines: tuple[str, ...] = ()  # the top items' lines, which it must not repeat
    titles: tuple[str, ...] = ()  # and their titles, which it may name them by
    cold_start: bool = False  # no baseline yet: nothing to compare with
    pool: int | None = None  # the period's papers: "… 등 다양한 주제에 대한 322편" may state it
    percents: Mapping[str, frozenset[str]] = field(default_factory=dict)  # a topic's share, usual, change
    terms: tuple[str, ...] = ()  # the emerging terms: "LLM agent 5편" is the term's number, not LLM's

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Grounds:
        topics = [row for row in data.get("topics", ()) if isinstance(row, dict)]
        items = [item for item in data.get("top_items", ()) if isinstance(item, dict)]
        emerging = [e for e in data.get("emerging", ()) if isinstance(e, dict)]
        pool = data.get("papers")
        return cls(
            numbers=frozenset(numbers(input_text(dict(data)))),
            counts={str(t["topic"]): t["papers"] for t in topics if isinstance(t.get("papers"), int)},
            lines=tuple(str(item.get("takeaway", "")) for item in items),
            titles=tuple(str(item.get("title", "")) for item in items),
            cold_start=bool(data.get("cold_start")),
            pool=pool if isinstance(pool, int) else None,
            percents={str(t["topic"]): frozenset(numbers(" ".join(map(str, _pcts(t))))) for t in topics},
            terms=tuple(str(e.get("term", "")) for e in emerging if e.get("term")),
        )


def _pcts(row: Mapping[str, Any]) -> list[object]:
    return [row.get(k, "") for k in ("share_pct", "usual_share_pct", "change_pct")]


def check_flow(raw: object, grounds: Grounds) -> Checked:
    """Clean the model's paragraph and decide whether it can be shown."""
    if not isinstance(raw, str) or not raw.strip():
        return Checked(None, EMPTY)
    # The takeaway checks that do not depend on length: HTML, links, JSON instead of prose.
    first = check_takeaway(raw)
    if first.problem in (HAS_ACTIVE_HTML, HAS_LINK, LOOKS_LIKE_DATA):
        return first
    # The block's plain style, where it converts without a dictionary, and without the hype words.
    text = without_hype(plain_style(strip_markup(raw)))
    repair = ""
    # Sentences that cannot stand are dropped one by one; what is left may still be the paragraph.
    unfit: list[tuple[Callable[[str], object], str, str]] = [
        # "주요ly": the takeaways' rule
        (MIXED.search, MIXED_WORD, "dropped a sentence with a half-transliterated word"),
        # "이 논문은 여러." (closed where its tokens ran out), "… 다음과 같습니다." (no list follows)
        (_points_ahead_or_stops, UNFINISHED, "dropped a sentence that stops or points at a list"),
    ]
    if grounds.cold_start:
        # With no baseline the block shows no averages or arrows; "평소보다 192개" is a number made up.
        unfit.append(
            (_COMPARES.search, COMPARES_IN_COLD_START, "dropped a comparison with usual days (none yet)")
        )
    if grounds.counts:
        # Every number may come from the input and the sentence still be false: the 1.5B model wrote
        # "가장 많은 논문은 DPO·정렬에 대한 10개이다" of a day with 133 LLM papers.
        unfit.append((lambda s: _misranks(s, grounds.counts), MISRANKS, "dropped a false 가장 많은/적은"))
        # A number from the input given to the wrong topic: "LLM, 멀티모달, DPO·정렬, Mamba·SSM에 대한
        # 399개의 논문" (the whole day's), "LLM과 멀티모달은 … 192편" (LLM's alone), the 1.5B model's.
        unfit.append(
            (lambda s: _misattributes(s, grounds), MISATTRIBUTES, "dropped a number given to the wrong topic")
        )
        if mangled := _mangled_labels(grounds.counts):
            # A label half in Latin letters: "Multi모달" for 멀티모달 (the 1.5B model on 02-06).
            unfit.append((mangled.search, MIXED_WORD, "dropped a sentence with a half-transliterated label"))
    if grounds.lines:
        # A small model fills its paragraph with the items' lines (the 1.5B one wrote three of a week's
        # four sentences so): those sentences say nothing of the trend, and the lines are shown below.
        # A title is the item's name, which the paragraph may use and a line often starts with: it is
        # taken out of both before they are compared.
        names = sorted({compact_text(t) for t in grounds.titles if t.strip()}, key=len, reverse=True)
        compact = [_without(compact_text(line), names) for line in grounds.lines]
        in_titles = {w for t in grounds.titles for w in _WORDS.findall(t.lower())}
        line_words = [set(_WORDS.findall(line.lower())) - in_titles for line in grounds.lines]
        unfit.append(
            (
                lambda s: (
                    _repeats_a_line(_without(compact_text(s), names), compact)
                    or _reorders_a_line(
                        [w for w in _WORDS.findall(s.lower()) if w not in in_titles], line_words
                    )
                ),
                COPIES_ITEM,
                "dropped what repeats a top item's line",
            )
        )
    said = sentences(text)
    # A small model says the same sentence twice, or once per topic with only the label changed (the
    # 1.5B model's week: "DPO·정렬은 …에 도움이 되는 새로운 방법을 소개했다. Mamba·SSM은 …"): the first stays.
    # Or stamps one ending on each topic ("멀티모달은 … 데 도움이 되는 기술을 발견했다. DPO·정렬은 … 데 도움이
    # 되는 기술을 발견했다."): a sentence that opens with a label and ends as one before it that opens with
    # another, in STAMPED_TAIL characters or more, is that sentence again. Not with numbers: "LLM은 129편으로
    # 평소와 비슷한 수준을 유지했다. 멀티모달은 57편으로 …" says two things.
    label = _any_label(grounds.counts)
    firsts: dict[str, str] = {}
    tails: dict[str, str] = {}  # the ending of a sentence that opens with a label -> that label
    for s in said:
        if label and (opening := label.match(s.lstrip())) and not _NUMBER.search(s):
            letters, topic = compact_text(s), opening.group()
            stamped = len(letters) > STAMPED_TAIL + len(compact_text(topic))  # more than its label and ending
            if stamped and tails.setdefault(letters[-STAMPED_TAIL:], topic) != topic:
                continue
        firsts.setdefault(label.sub("\0", s) if label else s, s)
    once = list(firsts.values())
    if len(once) < len(said):
        text, repair = " ".join(once), _also(repair, "dropped a repeated sentence")
    for bad, problem, note in unfit:
        said = sentences(text)
        kept = [s for s in said if not bad(s)]
        if len(kept) < len(said):
            text = " ".join(kept)
            if len(text) < MIN_CHARS:
                return Checked(None, problem)
            repair = _also(repair, note)
    # What is left may point at what is gone: "이 중 …" first, "이 논문은 …" with no paper named.
    text, pointed = _without_dangling_pointers(text, grounds.titles)
    if pointed:
        if len(text) < MIN_CHARS:
            return Checked(None, TOO_SHORT)
        repair = _also(repair, pointed)
    if text.rstrip()[-1:] in _SENTENCE_ENDINGS:  # a sentence's own ending, written without its period
        text = text.rstrip() + "."
    if not ends_sentence(text):
        # Stopped mid-sentence ("… 개발하는 데 도움이 되는": max_tokens, or a small model closing its JSON
        # early): the whole sentences before it are the paragraph. Never half a sentence.
        whole = " ".join(s for s in sentences(text) if ends_sentence(s))
        if len(whole) < MIN_CHARS:
            return Checked(None, UNFINISHED)
        text, repair = whole, _also(repair, "dropped its unfinished last sentence")
    if len(text) > MAX_CHARS or len(_SENTENCE.findall(text + " ")) > MAX_SENTENCES:
        # A small model runs on (the 1.5B one writes 500 characters, twice): its leading whole sentences
        # that fit are the paragraph, as a takeaway is cut at a sentence boundary. Never half a sentence.
        head = cut_to_fit(" ".join(sentences(text)[:MAX_SENTENCES]), MAX_CHARS, unfinished=True)
        if head is None or head.endswith("…") or len(head) < MIN_CHARS:
            return Checked(None, TOO_LONG if len(text) > MAX_CHARS else TOO_MANY)
        text, repair = head, _also(repair, "cut to its leading sentences")
    if len(text) < MIN_CHARS:
        return Checked(None, TOO_SHORT)
    if not is_korean(text):  # the takeaways' rule: Korean dense with English terms passes
        return Checked(None, NOT_KOREAN)
    invented = sorted(numbers(text) - grounds.numbers, key=lambda n: (len(n), n))
    if invented:
        return Checked(None, f"numbers that are not in the input: {', '.join(invented[:5])}")
    return Checked(text, repair=repair)


def _any_label(labels: Iterable[str]) -> re.Pattern[str] | None:
    names = sorted(labels, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, names))) if names else None


def _points_ahead_or_stops(sentence: str) -> bool:
    """A sentence that announces a list ("다음과 같다"), or whose Korean stops before its ending: "이 논문은
    여러." (the model ran out of tokens and closed the sentence anyway), or ends on an English verb ("…
    기술이 introduced."). The paragraph's style ends every Korean sentence on a sentence ending (…했다, …이
    눈에 띈다)."""
    if _POINTS_AHEAD.search(sentence):
        return True
    if not sentence.rstrip().endswith((".", "!", "?", "。")):
        return False  # no period: the unfinished last sentence, dropped with its own note below
    # its last word, past the period, closing quotes and a closing aside ("많았다(57편, 최근 평균 41편).")
    body = _ASIDE_AT_END.sub("", sentence.rstrip(" .!?。\"'”’"))
    if _ENGLISH_PREDICATE.search(body):
        return True
    last = body[-1:]
    return "가" <= last <= "힣" and last not in _SENTENCE_ENDINGS + ("까", "죠", "네")


def _without_dangling_pointers(text: str, titles: Sequence[str]) -> tuple[str, str]:
    """``text`` without what points at nothing, and what was done ("" if nothing).

    A sentence about "이 논문" goes when no sentence before it names a top item (the 1.5B model's "이 논문은
    … benchmark를 제공한다" on 02-06 followed the sentence naming AgenticPay, dropped as a copy of its line).
    The first sentence loses what points back or names the heading."""
    names = [(t.split(":", 1)[0] if ":" in t else t).strip().lower() for t in titles if t.strip()]
    said: list[str] = []
    note = ""
    for s in sentences(text):
        if _POINTS_AT_A_PAPER.match(s) and not any(n and n in k.lower() for k in said for n in names):
            note = "dropped 이 논문 with no paper named before it"
            continue
        said.append(s)
    if said and _POINTS_BACK.match(said[0]):
        while said and _POINTS_BACK.match(said[0]):
            said = said[1:]
        note = _also(note, "dropped an opening sentence that points back at nothing")
    if said and (echo := _ECHOES_HEADING.match(said[0])) and echo.end() < len(said[0]):
        said[0], note = said[0][echo.end() :], _also(note, "cut an opening that names its own heading")
    if said and (lead := _LEADS_BACK.match(said[0])) and lead.end() < len(said[0]):
        said[0] = said[0][lead.end() :]
        note = _also(note, "cut an opening connective that points back at nothing")
    return (" ".join(said), note) if note else (text, "")


def _misranks(sentence: str, counts: Mapping[str, int]) -> bool:
    """Whether ``sentence`` calls topics the most (가장 많) or the fewest (가장 적) that are not.

    What it calls so are the topics named in the clause of 가장 ("LLM이 133편으로 가장 많았고, Mamba·SSM은
    3편이었다" calls LLM the most), or in the sentence if the clause names none. Several named are the top
    few ("LLM 96편, 멀티모달 40편으로 가장 많았다"). Every topic named without a number is no ranking at all:
    "LLM과 멀티모달, DPO·정렬, Mamba·SSM에 대한 논문이 가장 많이 발표되었다" (the 1.5B model on 02-06);
    with their numbers, the one named last before 가장 is what it calls so ("…, Mamba·SSM 3편으로 LLM이
    가장 많았다").
    """
    for pattern, most in ((_MOST, True), (_FEWEST, False)):
        for m in pattern.finditer(sentence):
            begin = max((c.end() for c in _CLAUSE_END.finditer(sentence, 0, m.start())), default=0)
            end = next((c.start() for c in _CLAUSE_END.finditer(sentence, m.end())), len(sentence))
            named = [label for label in counts if label in sentence[begin:end]] or [
                label for label in counts if label in sentence
            ]
            if not named:
                continue
            if len(counts) > 2 and len(named) == len(counts):
                if not _NUMBER.search(sentence, begin, end):
                    return True
                # every topic with its number, then which is the most: the one named last before 가장, or
                # (none before) first after it: "가장 많은 것은 LLM 133편, 멀티모달 43편, …"
                before = {label: sentence.rfind(label, 0, m.start()) for label in named}
                last = max(before, key=before.__getitem__)
                named = [last] if before[last] >= 0 else [min(named, key=lambda x: sentence.find(x, m.end()))]
            ranked = sorted(counts.values(), reverse=most)
            bar = ranked[len(named) - 1]  # the k-th most (or fewest): ties share a rank
            if any((counts[label] < bar) if most else (counts[label] > bar) for label in named):
                return True
    return False


def _misattributes(sentence: str, grounds: Grounds) -> bool:
    """Whether ``sentence`` gives a topic a number from the input that is not that topic's.

    A count belongs to the topics named before it in its clause, since the last count ("LLM은 133편,
    멀티모달은 42편"); a list of counts to a list of topics, in order ("LLM과 멀티모달은 각각 133, 42편");
    one count to several listed topics only with 각각 (each has it), or as the whole day's when they are
    examples ("LLM, 멀티모달 등 다양한 주제에 대한 322편"). A topic that modifies another names the last
    one ("멀티모달 LLM은 51개" is LLM's). A percentage after one topic is its share, usual share or change.
    A number before any topic ("322편 중 LLM은 …"), or after a top item's title or an emerging term, is
    not a topic's, and what comes after "중" (among) starts afresh.
    """
    if not grounds.counts:
        return False
    begin = 0
    for clause_end in [*(c.end() for c in _CLAUSE_END.finditer(sentence)), len(sentence)]:
        clause, begin = sentence[begin:clause_end], clause_end
        named: list[tuple[int, int, str]] = []  # the topics a count would belong to: (start, end, label)
        last: list[str] = []  # the topics of the last count: a percentage after it is theirs
        for start, end, kind, what in _events(clause, grounds):
            if kind in ("name", "among"):  # a title's or a term's number is theirs; 중 starts afresh
                named = []
            elif kind == "label":
                named.append((start, end, what[0]))
            elif kind == "count" and named:
                if _miscounted(clause, named, what, start, grounds):
                    return True
                last, named = [label for _, _, label in named], []
            elif kind == "%":
                topics = [label for _, _, label in named] or last
                if len(topics) == 1 and not set(what) <= grounds.percents.get(topics[0], frozenset()):
                    return True
    return False


def _events(clause: str, grounds: Grounds) -> list[tuple[int, int, str, tuple[str, ...]]]:
    """A clause's topic labels, counts and percentages (a list of them as one) and what resets the topics
    (a title, an emerging term, 중), in reading order. A number inside a title is the title's."""
    names = tuple(sorted({n for n in (*grounds.titles, *grounds.terms) if n.strip()}, key=len, reverse=True))
    events: list[tuple[int, int, str, tuple[str, ...]]] = []
    run: list[re.Match[str]] = []  # numbers joined as a list: "133, 42, 10, 3개"
    for m in [*_mentions(names, tuple(grounds.counts)).finditer(clause), None]:
        number = m is not None and m.lastgroup == "number"
        if run and not (number and m and _LISTED.fullmatch(clause, run[-1].end(), m.start())):
            if unit := run[-1].group("unit"):  # a list of bare numbers is no count: a date, a version
                values = tuple(_normal(r.group("value")) for r in run)
                events.append((run[0].start(), run[-1].end(), "%" if "%" in unit else "count", values))
            run = []
        if m is None:
            break
        if number:
            run.append(m)
        else:
            events.append((m.start(), m.end(), m.lastgroup or "", (m.group(),)))
    return events


def _miscounted(
    clause: str, named: list[tuple[int, int, str]], counts: tuple[str, ...], at: int, grounds: Grounds
) -> bool:
    own = [str(grounds.counts[label]) for _, _, label in named]
    if len(counts) > 1:
        return len(counts) == len(own) and list(counts) != own  # as many counts as topics: in order
    (count,) = counts
    between = clause[named[-1][1] : at]
    examples = bool(_SUCH_AS.search(between)) and count == str(grounds.pool)
    if len(named) > 1:
        if _EACH.search(between):
            return any(o != count for o in own)
        if all(_LISTED.fullmatch(clause, a[1], b[0]) for a, b in itertools.pairwise(named)):
            return not examples  # one number for several topics: only the day's, of which they are some
        own = own[-1:]  # "멀티모달 LLM": the last one names the topic
    return own[0] != count and not examples


def _normal(number: str) -> str:
    return next(iter(numbers(number)), number)


@functools.lru_cache(maxsize=64)  # one per paragraph checked: a service sees new titles every day
def _mentions(names: tuple[str, ...], labels: tuple[str, ...]) -> re.Pattern[str]:
    """Titles and terms, topic labels (not inside a Latin word: "LLM" in "MLLMs" is no label), 중, and
    numbers; at one place the first alternative wins, so a title takes the label and numbers inside it."""

    def words(group: str, ws: Iterable[str]) -> str:
        alternatives = "|".join(map(re.escape, sorted(ws, key=len, reverse=True))) or "(?!)"
        return rf"(?P<{group}>(?<![A-Za-z])(?:{alternatives})(?![A-Za-z]))"

    return re.compile(
        f"{words('name', names)}|{words('label', labels)}|(?P<among>{_AMONG.pattern})|{_QUANTITY.pattern}"
    )


def _mangled_labels(labels: Iterable[str]) -> re.Pattern[str] | None:
    """Latin letters glued to the end of a label's Korean word: "Multi모달" (멀티모달), never "DPO정렬" or
    "LLM은" (the Korean word whole, or a particle). The takeaways' MIXED is the other way round."""
    tails = {
        run[i:]
        for label in labels
        for run in re.findall(r"[가-힣]{3,}", label)
        for i in range(1, len(run) - 1)  # what is left is two syllables or more
    }
    if not tails:
        return None
    return re.compile(rf"[A-Za-z]{{2}}(?:{'|'.join(map(re.escape, sorted(tails, key=len, reverse=True)))})")


def _without(compact: str, names: Sequence[str]) -> str:
    for name in names:
        compact = compact.replace(name, "")
    return compact


def _repeats_a_line(sentence: str, lines: Sequence[str]) -> bool:
    run = max((shared_run(sentence, line) for line in lines), default=0)
    return run >= COPY_RUN or run >= COPY_SHARE * len(sentence)


def _reorders_a_line(words: Sequence[str], lines: Sequence[set[str]]) -> bool:
    """The words of a line in another order: "X은 LVLMs는 불안정한 또는 위험한 내용을 생성하는 경우 …" of the
    line "… 불안정한 또는 위험한 내용을 생성하는 경우 LVLMs는 …" (the 1.5B model on 02-06), which no long run
    of characters shows."""
    if len(words) < COPY_WORDS:
        return False
    return any(sum(w in line for w in words) >= COPY_WORD_SHARE * len(words) for line in lines)


def _also(repair: str, more: str) -> str:
    return f"{repair}, {more}" if repair else more


def template_flow(trend: Trend, period: str = "오늘") -> str:
    """The plain sentences shown when the LLM's paragraph cannot be used: only the block's own numbers."""
    busiest = sorted(trend.topics, key=lambda t: -t.count)
    counts = ", ".join(f"{t.label} {t.count}편" for t in busiest if t.count)
    head = f"{period} arXiv 논문 {trend.pool}편 중 {counts}이 관심 주제에 해당했다." if counts else ""
    if not head:
        head = f"{period} arXiv 논문 {trend.pool}편 중 관심 주제에 해당하는 논문은 없었다."
    if trend.cold_start:
        collected = f"{trend.collected_days}/{trend.needed_days}일"
        return f"{head} 기준선을 모으는 중이라({collected}) 평소와 비교하지 않았다."
    parts = []
    for t in trend.topics:
        if t.arrow in (trends.UP, trends.DOWN):
            more = "많았다" if t.arrow == trends.UP else "적었다"
            change = trends.change_text(t.change or 0.0)
            parts.append(f"{t.label} 논문이 평소보다 {more}({t.count}편, {change})")
    sentences = [head]
    if parts:
        sentences.append(", ".join(parts) + ".")
    if trend.emerging:
        terms = ", ".join(f"{e.phrase}({e.count}편)" for e in trend.emerging[:3])
        sentences.append(f"{terms} 언급이 평소보다 늘었다.")
    if not trend.moved:
        sentences.append(f"최근 {trend.collected_days}개 발표일과 비교해 눈에 띄게 달라진 주제는 없었다.")
    return " ".join(sentences)


def _fallback(trend: Trend, reason: str, prompt: FlowPrompt = DAILY) -> Takeaway:
    return Takeaway(template_flow(trend, prompt.period), TakeawayStatus.FALLBACK, reason)


# -- the request ------------------------------------------------------------------------------------


def paragraph_of(content: str) -> str | None:
    """The paragraph in an answer: its JSON's "paragraph" (or only string), what was written of it when
    the JSON never closed, or prose a small model wrote instead of JSON; None when the answer is other
    broken JSON."""
    data = first_json_object(content)
    if isinstance(data, dict):
        value = data.get("paragraph")
        if not isinstance(value, str):
            value = next((v for v in data.values() if isinstance(v, str)), "")
        return value
    if data is None and "{" not in content:
        return content  # plain prose: the paragraph is prose anyway
    return _unclosed_paragraph(content) if data is None else None


_PARAGRAPH_OPENS = re.compile(r'\{\s*"paragraph"\s*:\s*"')
_PARTIAL_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?$")


def _unclosed_paragraph(content: str) -> str | None:
    """The "paragraph" of JSON that stops inside it: a small model that runs on to max_tokens (the 1.5B
    one writes 500 characters) never closes its string. What it wrote is read as written, and
    :func:`check_flow` keeps only its whole sentences, as of any paragraph that stops mid-sentence."""
    opened = _PARAGRAPH_OPENS.search(content)
    if opened is None:
        return None
    decoder = json.JSONDecoder(strict=False)  # a raw line break inside the string is no reason to refuse
    try:  # the string closed and only the object did not
        value: str = decoder.raw_decode(content, opened.end() - 1)[0]
        return value
    except ValueError:
        pass
    written = _PARTIAL_ESCAPE.sub("", content[opened.end() :])  # cut inside "\n" or "\uac00"
    try:
        value = decoder.decode(f'"{written}"')
        return value
    except ValueError:
        return None


async def write_flow(
    trend: Trend,
    entries: Sequence[Entry],
    *,
    session: LLMSession | None,
    llm: LLM,
    state: State,
    progress: Progress,
    prompt: FlowPrompt = DAILY,
    context: Mapping[str, Any] | None = None,
) -> Takeaway | None:
    """The paragraph for ``trend`` (the day's 오늘의 흐름 unless ``prompt`` says otherwise), or None when
    there are no numbers to write about. ``context`` adds keys to the input (the week's dates, say).

    ``session`` is the run's LLM session (None: no key, the LLM is off). Never raises: a failed request
    or an unusable answer becomes the marked template sentence.
    """
    if trend.pool is None:
        return None
    data = flow_input(trend, entries) | dict(context or {})
    key = input_hash(data)
    cached = state.cached_flow(trend.day, key, llm.model, prompt.version)
    grounds = Grounds.of(data)
    kept = check_flow(cached, grounds).text if cached else None
    if kept:  # as the checks read it now: a paragraph cached before a check was added is mended or asked anew
        return Takeaway(kept, TakeawayStatus.CACHED)
    if session is None:
        reason = f"no API key (${llm.api_key_env} is not set)" if not llm.api_key else "LLM off"
        return _fallback(trend, reason, prompt)
    if session.usage.unreachable:  # the takeaways found the endpoint dead: do not wait for it again
        return _fallback(trend, session.usage.unreachable, prompt)
    problem = ""
    for attempt in ("", " re-ask"):
        label = f"llm: {prompt.name}{attempt}"
        try:
            answer = await session.request(
                build_messages(data, problem, prompt),
                schema=ANSWER_SCHEMA,
                schema_name="flow",
                max_tokens=MAX_TOKENS,
                label=label,
            )
        except RequestFailed as e:
            session.usage.failures += 1
            progress.warn(f"llm: {prompt.name} is a template sentence: {e.reason}")
            return _fallback(trend, e.reason, prompt)
        paragraph = paragraph_of(answer.content)
        checked = check_flow(paragraph, grounds) if paragraph is not None else Checked(None, NOT_JSON)
        if checked.text:
            mended = f" ({checked.repair})" if checked.repair else ""
            progress.log(f"{label} ok{mended}, {answer.seconds:.1f}s")
            state.store_flow(trend.day, key, llm.model, prompt.version, checked.text)
            note = f"accepted on re-ask (first answer: {problem})" if problem else ""
            return Takeaway(checked.text, TakeawayStatus.LLM, note)
        problem = checked.problem
        progress.log(f"{label} unusable ({problem}): {truncate(one_line(answer.content), 80)!r}")
    session.usage.failures += 1
    progress.warn(f"llm: {prompt.name} is a template sentence: unusable after one re-ask ({problem})")
    return _fallback(trend, f"LLM paragraph unusable after one re-ask ({problem})", prompt)
