"""오늘의 흐름: the paragraph that opens the trend block. The code states every number; the model states
only what numbers cannot.

- The opening sentence is built here from the day's numbers (:class:`~digest.models.Trend`): the topics
  marked ▲/▼ with today's count and share against the usual share, the emerging terms with their counts;
  or that nothing moved; or the cold start. Its wording is chosen from the numbers themselves, so the
  same day always reads the same and different days read differently.
- One small closed request (the run's :class:`~digest.llm.LLMSession`, so json_schema → json_object →
  text) asks for two fields: ``lead``, one id of the movements and top items the code lists, and
  ``theme``, one short Korean sentence on what the top items share, with no digits. The lead's movement
  comes first in the opening (or its paper is named after the theme); the theme follows the numbers.
- What is checked holds of any model: the schema and the enum, no digits, the shared Korean, length,
  markup and link checks, and not a copy of an item's line. A field that fails is left out, and the
  opening alone is a complete, true paragraph: nothing is shown as a substitute.
- The paragraph shown is cached per (day, input, model): a re-run prints it as it was, whatever the
  prompt or the checks are by then. A :class:`Prepared` answer written in advance (the demo's) takes the
  model's place for the top items it was written for, checked and rendered the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import jinja2

from ..config import LLM
from ..korean import compact_text, is_korean, sentences, shared_run, strip_markup
from ..link_check import find_link
from ..llm import LLMSession, RequestFailed, first_json_object
from ..models import EmergingTerm, Entry, Takeaway, TakeawayStatus, TopicTrend, Trend
from ..progress import Progress
from ..resources import prompt_template, read_prompt
from ..state import State
from ..takeaways.check import (
    _ACTIVE_HTML,
    HAS_ACTIVE_HTML,
    HAS_LINK,
    MIXED,
    MIXED_WORD,
    NOT_JSON,
    NOT_KOREAN,
)
from ..takeaways.prompt import items_json
from ..text import one_line, truncate
from . import stats


@dataclass(frozen=True)
class FlowPrompt:
    """One kind of paragraph: the day's 오늘의 흐름, or the week's (week/roundup.py). Same request, same
    checks, same cache; only the prompt and the words for its period differ."""

    name: str  # in progress lines: "오늘의 흐름"
    period: str  # how the opening names its period: "오늘", "이번 주"
    baseline: str  # how it names the days it is compared with: "최근 {n}개 발표일"
    system: str
    user: jinja2.Template
    version: str  # recorded with a cached paragraph: which prompt wrote it


def load_prompt(name: str, period: str, baseline: str, system_file: str, user_file: str) -> FlowPrompt:
    system = read_prompt(system_file).strip()
    source = read_prompt(user_file)
    version = "f" + hashlib.sha256(f"{system}\0{source}".encode()).hexdigest()[:12]
    return FlowPrompt(name, period, baseline, system, prompt_template(source), version)


def examples(prompt: FlowPrompt) -> tuple[str, ...]:
    """The example themes the prompt gives ("for example "…" or "…""): a small model copies them."""
    found = re.search(r'for example ((?:"[^"]+"(?: or )?)+)', prompt.system)
    return tuple(re.findall(r'"([^"]+)"', found.group(1))) if found else ()


DAILY = load_prompt("오늘의 흐름", "오늘", "최근 {n}개 발표일", "flow.system.txt", "flow.user.txt")

MAX_TOKENS = 200  # an id and one Korean sentence need about 80
TOP_ITEMS = 5
MAX_TERMS = 3  # emerging terms the opening names
THEME_CHARS = (8, 120)  # one short sentence; the prompt asks for 15–80

# Why a field of an answer is left out (fixed wording: the progress line groups by it).
EMPTY = "no theme"
BAD_LEAD = "lead is not one of the listed ids"
HAS_DIGITS = "the theme states a number (the code writes every number)"
THEME_LENGTH = "the theme is too short or too long"
NOT_ONE_SENTENCE = "the theme is not one sentence"
UNFINISHED = "the theme stops mid-sentence"
COPIES_ITEM = "the theme repeats a top item's line"
COPIES_EXAMPLE = "the theme repeats the prompt's example"
POINTS_ELSEWHERE = "the theme points at a sentence or list that is not its own (이 중, 이는, 다음과 같다)"
TOPIC_AS_SUBJECT = "the theme makes a reader topic its subject (the code reports topics)"
# The theme shares a run of this share of its letters (no spaces or punctuation) with an item's line.
COPY_SHARE = 0.6
_DIGIT = re.compile(r"\d")  # any script's digits: ٣ and ３ are numbers too
# A Korean sentence ends on its predicate: …했다, …이다, …있다, …해요, …됨 (the plain style asked for).
_PREDICATE_END = re.compile(r"[다요음함됨임]$")
_END_PUNCT = ".!?。"
# It follows the code's sentence, so a pointer would reach into the numbers ("이 중 …"), or at nothing.
_POINTER = re.compile(
    r"^(?:이 ?중|그 ?중|이는|이것은|이러한|이런|이들|이 (?:논문|연구)|"
    r"또한|그러나|하지만|한편|반면|특히|따라서)(?=[\s,은는이가의])|(?:다음|아래)과 같"
)
_T = TypeVar("_T")


# -- what the paragraph is written from ------------------------------------------------------------


def flow_input(trend: Trend, entries: Sequence[Entry]) -> dict[str, Any]:
    """The numbers and top items a paragraph is written from: its cache key (:func:`input_hash`)."""
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
                "share_pct": stats.share_text(t.share).rstrip("%"),
                "usual_share_pct": stats.share_text(t.baseline_share or 0.0).rstrip("%"),
                "change_pct": stats.change_text(t.change or 0.0).rstrip("%"),
                "trend": t.arrow,
            }
        topics.append(row)
    data["topics"] = topics
    if trend.emerging:
        data["emerging"] = [
            {"term": e.phrase, "papers": e.count}
            | ({"new": True} if e.new else {"usual_per_day": stats.usual_text(e.usual)})
            for e in trend.emerging
        ]
    data["top_items"] = [
        {"title": one_line(e.candidate.title), "takeaway": one_line(e.takeaway.text)}
        for e in entries[:TOP_ITEMS]
        if not e.takeaway.is_fallback
    ]
    return data


def input_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Choices:
    """What the model may lead with: the movements (m1, m2, …) and the top items (p1, p2, …)."""

    moves: tuple[tuple[str, TopicTrend | EmergingTerm], ...]
    items: tuple[tuple[str, Entry], ...]
    labels: tuple[str, ...] = ()  # every reader topic's

    @classmethod
    def of(cls, trend: Trend, entries: Sequence[Entry]) -> Choices:
        moved: list[TopicTrend | EmergingTerm] = []
        if not trend.cold_start:
            moved += [t for t in trend.topics if t.arrow in (stats.UP, stats.DOWN)]
            moved += list(trend.emerging)
        items = [e for e in entries[:TOP_ITEMS] if not e.takeaway.is_fallback]
        return cls(
            tuple((f"m{i}", m) for i, m in enumerate(moved, 1)),
            tuple((f"p{i}", e) for i, e in enumerate(items, 1)),
            tuple(t.label for t in trend.topics),
        )

    @property
    def ids(self) -> list[str]:
        return [i for i, _ in self.moves] + [i for i, _ in self.items]

    def lines(self) -> list[str]:
        return [one_line(e.takeaway.text) for _, e in self.items]

    def request(self, trend: Trend) -> dict[str, Any]:
        """The model's input: no counts, so there is no number to copy; only what moved, and which way."""
        moves = []
        for i, m in self.moves:
            if isinstance(m, TopicTrend):
                way = "more papers than usual" if m.arrow == stats.UP else "fewer papers than usual"
                moves.append({"id": i, "topic": m.label, "change": way})
            else:
                way = "new" if m.new else "more often than usual"
                moves.append({"id": i, "term": m.phrase, "change": way})
        data: dict[str, Any] = {"movements": moves}
        if not moves:
            data["nothing_moved"] = not trend.cold_start
        data["top_items"] = [
            {"id": i, "title": one_line(e.candidate.title), "takeaway": one_line(e.takeaway.text)}
            for i, e in self.items
        ]
        return data


def answer_schema(ids: Sequence[str]) -> dict[str, Any]:
    """The closed request (json_schema): one id of ``ids`` and one sentence."""
    properties: dict[str, Any] = {"theme": {"type": "string"}}
    if ids:
        properties = {"lead": {"type": "string", "enum": list(ids)}} | properties
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def build_messages(
    request: dict[str, Any], problem: str = "", prompt: FlowPrompt = DAILY
) -> list[dict[str, str]]:
    # The same escaping as the takeaway items: no title can open a tag or fake a delimiter.
    input_json = items_json([request])[1:-1].strip()
    user = prompt.user.render(input_json=input_json, problem=problem)
    return [{"role": "system", "content": prompt.system}, {"role": "user", "content": user.strip()}]


# -- the opening: every number, written by code ----------------------------------------------------


def _final_consonant(word: str) -> bool:
    """Whether ``word`` as read aloud ends on a consonant: 편 and 미만 do, 13% (퍼센트) does not."""
    last = word.rstrip(" )")[-1:]
    if "가" <= last <= "힣":
        return (ord(last) - 0xAC00) % 28 != 0
    return False


def _ro(word: str) -> str:
    last = word.rstrip(" )")[-1:]
    rieul = "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 == 8
    return f"{word}{'으로' if _final_consonant(word) and not rieul else '로'}"


def _pct(share: float) -> str:
    text = stats.share_text(share)
    return "1% 미만" if text.startswith("<") else text


def _pick(options: Sequence[_T], *numbers: float) -> _T:
    """One of ``options``, chosen by the numbers: the same data reads the same, other days differently."""
    return options[int(sum(numbers)) % len(options)]


# A topic's clause, up to its ending; the ending when it closes the sentence, and when a clause follows.
# {u} and {s}: the usual and today's share.
_UP = (
    ("{label} 논문이 {n}편으로 평소 비율 {u}보다 높은 {s}를 차지", "했다", "했고"),
    ("{label} 논문이 {n}편 나와 비율이 평소 {u}에서 {s_ro} 올", "랐다", "랐고"),
    ("{label} 논문이 평소({u})보다 많은 {n}편({s})", "이었다", "이었고"),
)
_DOWN = (
    ("{label} 논문이 {n}편으로 평소 비율 {u}보다 낮은 {s}에 그", "쳤다", "쳤고"),
    ("{label} 논문이 {n}편 나와 비율이 평소 {u}에서 {s_ro} 내려", "갔다", "갔고"),
    ("{label} 논문이 평소({u})보다 적은 {n}편({s})", "이었다", "이었고"),
)
# {also}: 이 when the terms open the sentence, 도 after a topic's clause.
_TERMS = (
    ("{terms} 같은 말{also} 평소보다 자주 나", "왔다", "왔고"),
    ("{terms} 등의 표현{also} 평소보다 많은 논문에 등장", "했다", "했고"),
)


def _topic_clause(t: TopicTrend, day: int) -> tuple[str, str]:
    text, end, joined = _pick(_UP if t.arrow == stats.UP else _DOWN, day, t.count)
    u, s = _pct(t.baseline_share or 0.0), _pct(t.share)
    filled = text.format(label=t.label, n=f"{t.count:,}", u=u, s=s, s_ro=_ro(s))
    return filled + end, filled + joined


def _term(e: EmergingTerm) -> str:
    return f"{e.phrase}({e.count}편{', 처음 등장' if e.new else ''})"


def _terms_clause(terms: Sequence[EmergingTerm], day: int, first: bool) -> tuple[str, str]:
    # "… 등의 표현" says there are several
    text, end, joined = _pick(_TERMS if len(terms) > 1 else _TERMS[:1], day, *(e.count for e in terms))
    # The strongest few: the block lists them all, with how often each came up before.
    filled = text.format(terms=", ".join(_term(e) for e in terms[:MAX_TERMS]), also="이" if first else "도")
    return filled + end, filled + joined


def opening(trend: Trend, prompt: FlowPrompt = DAILY, lead: str = "", choices: Choices | None = None) -> str:
    """The paragraph's numbers as Korean sentences: what moved (``lead``'s movement first), or that nothing
    did, or the cold start. Every number in it is the trend's own, next to what it counts."""
    period, day = prompt.period, trend.day.toordinal()
    pool = f"{trend.pool or 0:,}"
    counted = sorted((t for t in trend.topics if t.count), key=lambda t: -t.count)
    if trend.cold_start:
        collected = f"{trend.collected_days}/{trend.needed_days}일"
        if counted:
            listed = ", ".join(f"{t.label} 논문이 {t.count:,}편" for t in counted)
            head = f"{period} arXiv 논문 {pool}편 중 {listed}이었고"
        else:
            head = f"{period} arXiv 논문 {pool}편 중 관심 주제에 해당하는 논문은 없었고"
        return f"{head}, 기준선을 모으는 중이라({collected}) 평소와는 아직 비교하지 않았다."
    choices = choices or Choices.of(trend, [])
    clauses: list[tuple[str, str]] = []
    terms = [m for _, m in choices.moves if isinstance(m, EmergingTerm)]
    term_ids = {i for i, m in choices.moves if isinstance(m, EmergingTerm)}
    for i, m in choices.moves:
        if isinstance(m, TopicTrend):
            clauses.append(_topic_clause(m, day))
            if i == lead:  # the model's pick opens the sentence
                clauses.insert(0, clauses.pop())
    if terms:
        words = _terms_clause(terms, day, first=not clauses or lead in term_ids)
        clauses.insert(0 if lead in term_ids else len(clauses), words)
    if clauses:
        said = "".join(f"{joined}, " for _, joined in clauses[:-1])
        return f"{_topic(period)} {said}{clauses[-1][0]}."
    baseline = prompt.baseline.format(n=trend.collected_days)
    top = [t for t in counted if t.count == counted[0].count] if counted else []
    if len(top) == 1:
        busiest = f"{top[0].label} 논문이 {top[0].count:,}편으로 가장 많았다"
    elif top:
        busiest = f"{', '.join(t.label for t in top)} 논문이 {top[0].count:,}편씩으로 가장 많았다"
    else:
        busiest = "관심 주제에 해당하는 논문은 없었다"
    quiet = (
        f"{period} arXiv 논문 {pool}편은 {baseline}과 비교해 눈에 띄게 달라진 주제가 없었고, {busiest}.",
        f"{period} arXiv 논문 {pool}편의 주제별 비율은 {baseline}과 비슷했고, {busiest}.",
    )
    return _pick(quiet, day, trend.pool or 0)


def _topic(period: str) -> str:
    return f"{period}{'은' if _final_consonant(period) else '는'}"


# -- the model's answer: checked, then rendered around the opening -----------------------------------


@dataclass(frozen=True)
class Answer:
    """What is kept of a model's answer: a valid lead id and a theme sentence, or why each was left out."""

    lead: str = ""
    theme: str = ""
    problems: tuple[str, ...] = ()

    @property
    def problem(self) -> str:
        return "; ".join(self.problems)


def parse_answer(content: str) -> object:
    """The answer's JSON object, or None when there is none."""
    data = first_json_object(content)
    return data if isinstance(data, dict) else None


def theme_problems(
    raw: object, lines: Sequence[str] = (), labels: Sequence[str] = (), prompt: FlowPrompt | None = None
) -> list[str]:
    """Every check a theme fails, in the order they are reported (tests/test_flow.py counts them on real
    answers). ``lines``: the top items' lines it must not repeat; ``labels``: the reader topics' labels."""
    if not isinstance(raw, str) or not raw.strip():
        return [EMPTY]
    text = strip_markup(raw)
    body = text.rstrip(_END_PUNCT + " ")
    letters = compact_text(body)

    def copies(others: Sequence[str]) -> bool:  # one similarity measure: the longest shared run of letters
        return any(shared_run(letters, compact_text(o)) >= COPY_SHARE * len(letters) for o in others)

    failed = [
        (_ACTIVE_HTML.search(raw), HAS_ACTIVE_HTML),
        (find_link(text), HAS_LINK),
        (_DIGIT.search(text), HAS_DIGITS),
        (not is_korean(text), NOT_KOREAN),
        (MIXED.search(text), MIXED_WORD),
        (len(sentences(text)) > 1, NOT_ONE_SENTENCE),
        (not _PREDICATE_END.search(body), UNFINISHED),
        (not THEME_CHARS[0] <= len(body) <= THEME_CHARS[1], THEME_LENGTH),
        (_POINTER.search(body), POINTS_ELSEWHERE),
        (any(re.match(rf"{re.escape(x)}(?:은|는|이|가|,|과|와)", body) for x in labels if x),
         TOPIC_AS_SUBJECT),
        (copies(lines), COPIES_ITEM),
        (copies(examples(prompt or DAILY)), COPIES_EXAMPLE),
    ]
    return [problem for bad, problem in failed if bad]


def check_theme(
    raw: object, lines: Sequence[str] = (), labels: Sequence[str] = (), prompt: FlowPrompt | None = None
) -> tuple[str, str]:
    """(the theme as it may be shown, "") or ("", why it cannot be): checks that hold for any model."""
    problems = theme_problems(raw, lines, labels, prompt)
    if problems:
        return "", problems[0]
    assert isinstance(raw, str)
    return strip_markup(raw).rstrip(_END_PUNCT + " ") + ".", ""


def check_answer(data: object, choices: Choices, prompt: FlowPrompt | None = None) -> Answer:
    """Each field of ``data`` checked on its own: a bad lead does not cost a good theme."""
    if not isinstance(data, dict):
        return Answer(problems=(NOT_JSON,))
    problems = []
    lead = data.get("lead")
    if lead in (None, "") or not choices.ids:
        lead = ""
    elif not isinstance(lead, str) or lead.strip() not in choices.ids:
        problems.append(BAD_LEAD)
        lead = ""
    theme, why = check_theme(data.get("theme"), choices.lines(), choices.labels, prompt)
    if why:
        problems.append(why)
    return Answer(str(lead).strip(), theme, tuple(problems))


def render(trend: Trend, answer: Answer, choices: Choices, prompt: FlowPrompt = DAILY) -> str:
    """The paragraph: the opening (the lead's movement first), then the theme, naming the lead's paper."""
    text = opening(trend, prompt, answer.lead, choices)
    if answer.theme:
        theme = answer.theme
        paper = dict(choices.items).get(answer.lead)
        if paper is not None:
            theme = f"{theme[:-1]}(예: {paper_name(paper.candidate.title)})."
        text = f"{text} {theme}"
    return text


def paper_name(title: str) -> str:
    """What a paper is called in a sentence: its title's name before a colon ("AgenticPay"), or the
    title, shortened."""
    title = one_line(title)
    name, colon, _ = title.partition(":")
    return truncate(name.strip() if colon and 2 <= len(name.strip()) <= 40 else title, 60)


# -- the request ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """An answer written in advance ({"theme": …, "lead": …}, as a model would give it) for the run whose
    top items are ``items`` (candidate keys, best first): the sample day's and week's, without an LLM."""

    items: tuple[str, ...]
    answer: Mapping[str, object]

    def fits(self, entries: Sequence[Entry]) -> bool:
        top = [e.candidate.key for e in entries if not e.takeaway.is_fallback][: len(self.items)]
        return top == list(self.items)


NOT_PREPARED_FOR = "an answer written in advance for other top items"


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
    off_reason: str = "",
    prepared: Prepared | None = None,
) -> Takeaway | None:
    """The paragraph for ``trend`` (the day's 오늘의 흐름 unless ``prompt`` says otherwise), or None when
    there are no numbers to write about. ``context`` adds keys to the cache key (the week's dates, say).

    ``session`` is the run's LLM session (None: no key, the LLM is off, for ``off_reason`` when it is
    left out on purpose). ``prepared``: an answer written in advance, used in place of a request when it
    fits the top items. Never raises: without an answer
    the paragraph is the opening alone (status FALLBACK, with why in its note, shown as it is).
    """
    if trend.pool is None:
        return None
    key = input_hash(flow_input(trend, entries) | dict(context or {}))
    cached = state.cached_flow(trend.day, key, llm.model)
    if cached:  # what was shown is shown again, as it was
        return Takeaway(cached, TakeawayStatus.CACHED)
    choices = Choices.of(trend, entries)
    numbers_only = opening(trend, prompt, "", choices)
    if prepared is not None:
        if not prepared.fits(entries):
            return Takeaway(numbers_only, TakeawayStatus.FALLBACK, NOT_PREPARED_FOR)
        kept = check_answer(dict(prepared.answer), choices, prompt)
        text = render(trend, kept, choices, prompt)
        state.store_flow(trend.day, key, llm.model, prompt.version, text)
        return Takeaway(text, TakeawayStatus.CACHED, kept.problem)
    if session is None:
        no_key = f"no API key (${llm.api_key_env} is not set)"
        reason = off_reason or (no_key if not llm.api_key else "LLM off")
        return Takeaway(numbers_only, TakeawayStatus.FALLBACK, reason)
    if not choices.items:
        return Takeaway(numbers_only, TakeawayStatus.FALLBACK, "no top items to find a theme in")
    if session.usage.unreachable:  # the takeaways found the endpoint dead: do not wait for it again
        return Takeaway(numbers_only, TakeawayStatus.FALLBACK, session.usage.unreachable)
    request, problem = choices.request(trend), ""
    kept = Answer()
    for attempt in ("", " re-ask"):
        label = f"llm: {prompt.name}{attempt}"
        try:
            answer = await session.request(
                build_messages(request, problem, prompt),
                schema=answer_schema(choices.ids),
                schema_name="flow",
                max_tokens=MAX_TOKENS,
                label=label,
            )
        except RequestFailed as e:
            session.usage.failures += 1
            progress.warn(f"llm: {prompt.name} without a theme: {e.reason}")
            return Takeaway(numbers_only, TakeawayStatus.FALLBACK, e.reason)
        kept = check_answer(parse_answer(answer.content), choices, prompt)
        if kept.theme:
            note = f" (left out: {kept.problem})" if kept.problems else ""
            progress.log(f"{label} ok{note}, {answer.seconds:.1f}s")
            break
        problem = kept.problem
        progress.log(f"{label} unusable ({problem}): {truncate(one_line(answer.content), 80)!r}")
    text = render(trend, kept, choices, prompt)
    state.store_flow(trend.day, key, llm.model, prompt.version, text)
    if kept.theme:
        return Takeaway(text, TakeawayStatus.LLM, kept.problem)
    progress.log(f"llm: {prompt.name} is the numbers alone: no usable theme after a re-ask ({kept.problem})")
    return Takeaway(text, TakeawayStatus.FALLBACK, f"no usable theme ({kept.problem})")
