"""Summarizing: one Korean line per selected item, written by an OpenAI-compatible LLM and cached in SQLite.

Per run: cached lines first (CACHED); the rest go out in batches of ``llm.batch_size`` items, at most
``llm.concurrency`` requests at once, asking for structured JSON. Every line is validated on its own
(:func:`check_takeaway`); the items whose line is missing or unusable are asked again once, and whatever is
still unusable gets a fallback built from the abstract without the LLM (FALLBACK, or ERROR when there is
no abstract). Nothing is substituted silently: every :class:`Takeaway` says where it came from and why.

HTTP-level retries (429, 5xx, Retry-After) are the openai client's own (``max_retries``); this module
adds none, and re-asks only for content problems (bad JSON, wrong ids, lines that fail validation).
A missing key, an unreachable server or a rejected key never raises: the items get marked fallbacks
and the run reports it in one warning line.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
import jinja2
import openai
from openai import AsyncOpenAI

from .config import LLM
from .models import Entry, LLMUsage, Scored, Takeaway, TakeawayStatus
from .progress import Progress
from .resources import resource_dir
from .state import State
from .text import CONTROL, SPACE, one_line, truncate

# -- prompts ------------------------------------------------------------------------------------

SYSTEM_PROMPT_FILE = "takeaway.system.txt"
USER_PROMPT_FILE = "takeaway.user.txt"


def _read_prompt(name: str) -> str:
    # resource_dir knows both layouts (wheel and repository); importlib.resources does not cope with
    # setuptools' editable installs on every supported Python.
    return (resource_dir("prompts") / name).read_text(encoding="utf-8")


SYSTEM_PROMPT = _read_prompt(SYSTEM_PROMPT_FILE).strip()
_USER_SOURCE = _read_prompt(USER_PROMPT_FILE)
_USER_TEMPLATE = jinja2.Environment(
    autoescape=False,  # the values are JSON already escaped by _items_json; this is not HTML
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
).from_string(_USER_SOURCE)

# What the model is told to return. strict=True needs every property required and no extras.
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "takeaway": {"type": "string"}},
                "required": ["id", "takeaway"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["items"],
    "additionalProperties": False,
}


def _prompt_version() -> str:
    # The cache is keyed by this: editing a prompt file (or the answer schema) makes every cached line stale.
    h = hashlib.sha256()
    for part in (SYSTEM_PROMPT, _USER_SOURCE, json.dumps(ANSWER_SCHEMA, sort_keys=True)):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return "p" + h.hexdigest()[:12]


PROMPT_VERSION = _prompt_version()

# -- pure helpers: what goes into a request --------------------------------------------------------

MAX_ABSTRACT_CHARS = 1600  # arXiv abstracts stop at 1920; the first 1600 carry the claim and the result
_SPACE = SPACE
_CONTROL = CONTROL


def prompt_item(item_id: str, scored: Scored) -> dict[str, Any]:
    c = scored.candidate
    return {
        "id": item_id,
        "kind": c.kind,
        "title": one_line(c.title),
        "abstract": truncate(one_line(c.summary), MAX_ABSTRACT_CHARS),
        "topics": [m.label for m in scored.matches],
    }


def items_json(items: Sequence[Mapping[str, Any]]) -> str:
    # Item text is untrusted: as JSON every quote and newline is escaped, and escaping <, > and & too
    # means no abstract can open a tag or fake a delimiter in the prompt; the model reads \u003c fine.
    text = json.dumps(list(items), ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_messages(
    items: Sequence[Mapping[str, Any]], problems: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """The chat messages for one request; ``problems`` (id → why) makes it the re-ask."""
    user = _USER_TEMPLATE.render(
        count=len(items),
        items_json=items_json(items),
        problems=[{"id": k, "problem": v} for k, v in (problems or {}).items()],
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user.strip()}]


def response_format(kind: str) -> dict[str, Any]:
    if kind == "json_object":
        # For servers without json_schema support; the system prompt spells out the shape (and says "JSON",
        # which OpenAI requires for json_object mode).
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": "takeaways", "strict": True, "schema": ANSWER_SCHEMA},
    }


# -- pure helpers: what comes back ------------------------------------------------------------------

TARGET_CHARS = (40, 160)  # what the prompt asks for
MIN_CHARS, MAX_CHARS = 30, 200  # a little slack either way before a line is re-asked
MIN_HANGUL_RATIO = 0.3  # of the letters; English terms are welcome, but the line must read as Korean

# Fixed wording (no numbers) so the one warning line can group items by reason.
EMPTY = "empty"
NOT_TEXT = "not a string"
TOO_SHORT = "too short (write {}–{} characters)".format(*TARGET_CHARS)
TOO_LONG = "too long (write {}–{} characters)".format(*TARGET_CHARS)
NOT_KOREAN = "not written in Korean"
HAS_LINK = "contains a link (plain text only)"
HAS_ACTIVE_HTML = "contains HTML/script (plain text only)"
LOOKS_LIKE_DATA = "contains JSON or code instead of a sentence"
MISSING = "missing from the answer"
NOT_JSON = "the answer was not valid JSON"
NO_ITEMS = 'the answer had no "items" list'
NO_CONTENT = "the response was not a chat completion with text"

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
# Elements whose presence means the model followed injected text: the whole line is untrustworthy.
_ACTIVE_HTML = re.compile(
    r"<\s*/?\s*(script|style|iframe|object|embed|svg|math|form|input|link|meta)\b", re.I
)
_ACTIVE_BLOCK = re.compile(r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>", re.I | re.S)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_LINE_PREFIX = re.compile(r"^\s*(?:#{1,6}\s+|>\s?|[-*+•]\s+|\d{1,2}[.)]\s+)", re.M)
_MD_STRONG = re.compile(r"(\*\*|__|~~)(.+?)\1")
_MD_EM = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_URL = re.compile(r"(?i)\b(?:https?|ftp)://|\bwww\.[a-z0-9-]+\.|\b(?:javascript|vbscript):|\bdata:[a-z]+/")
_URL_TOKEN = re.compile(r"(?i)\S*(?:(?:https?|ftp)://|\bwww\.[a-z0-9-]+\.)\S*")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)\]])")
_QUOTES = "\"'“”‘’「」『』"


def hangul_ratio(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _HANGUL.match(ch)) / len(letters)


def strip_markup(text: str) -> str:
    """Plain text from what a model may wrap a line in: HTML tags, Markdown, code fences, backticks."""
    text = html.unescape(unicodedata.normalize("NFC", text))
    text = _CONTROL.sub(" ", text)
    text = _ACTIVE_BLOCK.sub(" ", text)
    text = _FENCE.sub(" ", text)
    text = _MD_IMAGE.sub(" ", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = _MD_LINE_PREFIX.sub("", text)
    text = _MD_STRONG.sub(r"\2", text)
    text = _MD_EM.sub(r"\1", text)
    text = text.replace("`", "")
    text = _SPACE.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)  # "<b>X</b>, y" became "X , y" above
    if len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:  # the whole line quoted
        text = text[1:-1].strip()
    return text


@dataclass(frozen=True)
class Checked:
    """A candidate line after validation: the clean text, or why it cannot be used."""

    text: str | None
    problem: str = ""


def check_takeaway(raw: object) -> Checked:
    """Clean one line from the model and decide whether it can be shown."""
    if not isinstance(raw, str):
        return Checked(None, NOT_TEXT)
    if _ACTIVE_HTML.search(html.unescape(raw)):
        return Checked(None, HAS_ACTIVE_HTML)
    text = strip_markup(raw)
    if not text:
        return Checked(None, EMPTY)
    if _URL.search(text):
        return Checked(None, HAS_LINK)
    if text.startswith(("{", "[{", '["')):  # the model nested JSON instead of writing a sentence
        return Checked(None, LOOKS_LIKE_DATA)
    if len(text) < MIN_CHARS:
        return Checked(None, TOO_SHORT)
    if len(text) > MAX_CHARS:
        return Checked(None, TOO_LONG)
    if hangul_ratio(text) < MIN_HANGUL_RATIO:
        return Checked(None, NOT_KOREAN)
    return Checked(text)


def clean_takeaway(raw: object) -> str | None:
    """The line as it may be shown, or None when it is unusable."""
    return check_takeaway(raw).text


def parse_answer(content: str | None, asked: Sequence[str]) -> tuple[dict[str, list[object]], str]:
    """The candidate lines per asked id from one answer, and a problem that spoils the whole answer.

    Ids that were not asked are dropped, so one item's text can never fill in another's line; an id
    answered twice keeps its answers in order (the first usable one wins).
    """
    text = (content or "").strip()
    if not text:
        return {}, EMPTY
    if text.startswith("```"):  # some local models fence JSON even in json mode
        text = _FENCE.sub("", text).strip()
    try:
        data = json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        try:
            data = json.loads(text[start : end + 1]) if 0 <= start < end else None
        except ValueError:
            data = None
        if data is None:
            return {}, NOT_JSON
    entries = data.get("items") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        return {}, NO_ITEMS
    wanted = set(asked)
    found: dict[str, list[object]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        item_id = entry.get("id")
        item_id = str(item_id) if isinstance(item_id, str | int) and not isinstance(item_id, bool) else None
        if item_id in wanted:
            found.setdefault(item_id, []).append(entry.get("takeaway"))
    return found, ""


def pick_takeaways(
    found: Mapping[str, list[object]], asked: Sequence[str], problem: str = ""
) -> dict[str, Checked]:
    """For each asked id: its first usable line, or the problem with its first answer."""
    out: dict[str, Checked] = {}
    for item_id in asked:
        candidates = found.get(item_id)
        if not candidates:
            out[item_id] = Checked(None, problem or MISSING)
            continue
        checks = [check_takeaway(c) for c in candidates]
        out[item_id] = next((c for c in checks if c.text), checks[0])
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[가-힣])")


def fallback_text(abstract: str, limit: int = 160) -> str:
    """The abstract's first sentence (at least ~40 characters of it), trimmed: shown instead of a line."""
    # The abstract is untrusted too: without markup and without URLs, which Markdown viewers would autolink.
    text = one_line(_URL_TOKEN.sub(" ", strip_markup(abstract or "")))
    end = next((m.start() for m in _SENTENCE_END.finditer(text) if m.start() >= 40), len(text))
    return truncate(text[:end], limit)


# -- the LLM client ------------------------------------------------------------------------------

PLACEHOLDER_KEY = "unused"


def _is_openai(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "openai.com" or host.endswith(".openai.com")


def make_llm_client(llm: LLM, http_client: httpx2.AsyncClient | None = None) -> AsyncOpenAI | None:
    """The client for ``llm``, or None when there is no key for api.openai.com.

    Local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) need no key, but the SDK insists on one: any
    other ``base_url`` without a key gets a placeholder. A hosted provider that does need a key then answers
    401, which :func:`summarize` reports as one warning with marked fallbacks, like a missing key.

    With ``http_client`` (the run's shared httpx2 client) the caller keeps owning it: closing the returned
    client would close ``http_client`` too.
    """
    key = llm.api_key
    if not key:
        if _is_openai(llm.base_url):
            return None
        key = PLACEHOLDER_KEY
    return AsyncOpenAI(
        api_key=key,
        base_url=llm.base_url,
        timeout=llm.timeout_seconds,
        max_retries=llm.max_retries,  # the SDK retries 408/409/429/5xx and honours Retry-After
        http_client=http_client,
    )


def _where(llm: LLM) -> str:
    # Host and port only: a base_url could carry credentials in its userinfo or query.
    parts = urlsplit(llm.base_url)
    return f"{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}"


def describe_error(err: openai.OpenAIError, llm: LLM) -> tuple[str, bool]:
    """A one-line reason for a failed request, and whether every further request would fail the same way.

    Built from the error's type and status only: a server's message can echo the key back.
    """
    if isinstance(err, openai.APITimeoutError):
        return f"LLM timed out at {_where(llm)} (after {llm.timeout_seconds:g}s per try)", True
    if isinstance(err, openai.APIConnectionError):
        cause = type(err.__cause__).__name__ if err.__cause__ else "connection error"
        return f"LLM unreachable at {_where(llm)} ({cause})", True
    if isinstance(err, openai.AuthenticationError | openai.PermissionDeniedError):
        return f"LLM rejected the API key (HTTP {err.status_code}; check ${llm.api_key_env})", True
    if isinstance(err, openai.NotFoundError):
        return (
            f"LLM endpoint or model not found (HTTP 404; check llm.base_url and llm.model {llm.model!r})",
            True,
        )
    if isinstance(err, openai.BadRequestError):
        hint = '; if the server lacks json_schema, set llm.response_format = "json_object"'
        return (
            f"LLM refused the request (HTTP 400{hint if llm.response_format == 'json_schema' else ''})",
            False,
        )
    if isinstance(err, openai.APIStatusError):
        return f"LLM request failed (HTTP {err.status_code})", False
    return f"LLM request failed ({type(err).__name__})", False


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    index: int  # position in the input
    scored: Scored

    @property
    def key(self) -> str:
        return self.scored.candidate.key

    @property
    def version(self) -> int:
        return self.scored.candidate.version or 0


class _CallFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _fallback(job: _Job, reason: str) -> Takeaway:
    text = fallback_text(job.scored.candidate.summary)
    if not text:
        return Takeaway("", TakeawayStatus.ERROR, f"{reason}; no abstract to fall back on")
    return Takeaway(text, TakeawayStatus.FALLBACK, f"{reason}; showing the abstract's first sentence")


class _Summarizer:
    def __init__(
        self, client: AsyncOpenAI, llm: LLM, state: State, usage: LLMUsage, progress: Progress, batches: int
    ) -> None:
        self.client = client
        self.llm = llm
        self.state = state
        self.usage = usage
        self.progress = progress
        self.batches = batches
        self.semaphore = asyncio.Semaphore(llm.concurrency)
        self.fatal: str | None = None  # set once a failure means every further request would fail too
        self.results: dict[int, Takeaway] = {}
        self.reasons: dict[int, str] = {}  # job index → why it fell back, for the one warning line

    def fall_back(self, job: _Job, reason: str) -> None:
        self.results[job.index] = _fallback(job, reason)
        self.reasons[job.index] = reason

    async def batch(self, number: int, jobs: list[_Job]) -> None:
        problems: dict[int, str] = {}  # job index → why its first line was unusable
        todo = jobs
        for reask in (False, True):
            try:
                checked = await self.ask(number, todo, problems if reask else {})
            except _CallFailed as e:
                self.usage.failures += 1
                for job in todo:
                    self.fall_back(job, e.reason)
                return
            accepted: list[tuple[str, int, str]] = []
            for job in todo:
                c = checked[job.index]
                if c.text:
                    note = f"accepted on re-ask (first answer: {problems[job.index]})" if reask else ""
                    self.results[job.index] = Takeaway(c.text, TakeawayStatus.LLM, note)
                    accepted.append((job.key, job.version, c.text))
                else:
                    problems[job.index] = c.problem
            if accepted:
                self.state.store_takeaways(accepted, self.llm.model, PROMPT_VERSION)
            todo = [job for job in todo if job.index not in self.results]
            if not todo:
                return
        for job in todo:
            self.fall_back(job, f"LLM line unusable after one re-ask ({problems[job.index]})")

    async def ask(self, number: int, jobs: list[_Job], problems: Mapping[int, str]) -> dict[int, Checked]:
        """One request for ``jobs``: each job's checked line. Raises _CallFailed when nothing came back."""
        # Short per-request ids ("1", "2", …): cheap to copy exactly, and mapped back here, never trusted.
        ids = {str(n): job for n, job in enumerate(jobs, start=1)}
        by_index = {job.index: item_id for item_id, job in ids.items()}
        messages = build_messages(
            [prompt_item(item_id, job.scored) for item_id, job in ids.items()],
            {by_index[i]: p for i, p in problems.items() if i in by_index},
        )
        label = f"llm: batch {number}/{self.batches}{' re-ask' if problems else ''} ({len(jobs)} items)"
        async with self.semaphore:
            if self.fatal:
                raise _CallFailed(self.fatal)
            started = time.monotonic()
            self.progress.status(f"{label} …")
            try:
                # Plain dicts are the documented form of messages and response_format; the SDK's
                # TypedDict overloads do not accept them as typed here.
                completion = await self.client.chat.completions.create(  # type: ignore[call-overload]
                    model=self.llm.model,
                    messages=messages,
                    response_format=response_format(self.llm.response_format),
                    **({} if self.llm.temperature is None else {"temperature": self.llm.temperature}),
                )
            except openai.OpenAIError as e:
                reason, fatal = describe_error(e, self.llm)
                if fatal and self.fatal is None:
                    self.fatal = reason
                if isinstance(e, openai.APIConnectionError | openai.NotFoundError):  # timeouts included
                    self.usage.unreachable = self.usage.unreachable or reason
                self.progress.log(f"{label} failed: {reason}, {time.monotonic() - started:.1f}s")
                raise _CallFailed(reason) from None
            except json.JSONDecodeError:
                # A 200 whose body is not JSON reaches us as the SDK's JSONDecodeError (a proxy's page,
                # a crashed local server): a garbled answer like any other, so it gets the one re-ask.
                completion = None
            seconds = time.monotonic() - started
        usage = getattr(completion, "usage", None)
        self.usage.add(getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0)
        content = _content(completion)
        found, problem = parse_answer(content, list(ids)) if content is not None else ({}, NO_CONTENT)
        checked = pick_takeaways(found, list(ids), problem)
        bad = Counter(c.problem for c in checked.values() if not c.text)
        if bad:
            detail = ", ".join(f"{n} {p}" for p, n in bad.items())
            self.progress.log(f"{label} {sum(bad.values())} unusable ({detail}), {seconds:.1f}s")
        else:
            self.progress.log(f"{label} ok, {seconds:.1f}s")
        return {job.index: checked[item_id] for item_id, job in ids.items()}


def _content(completion: object) -> str | None:
    # The SDK does not validate responses strictly, so a server that answers oddly can leave any field out.
    try:
        content = completion.choices[0].message.content  # type: ignore[attr-defined]
    except (AttributeError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _warning(reasons: Mapping[int, str], total: int) -> str:
    counts = Counter(reasons.values())
    detail = "; ".join(reason if n == len(reasons) else f"{reason} ×{n}" for reason, n in counts.items())
    return f"llm: {len(reasons)} of {total} takeaways are marked fallbacks: {detail}"


async def summarize(
    scored: list[Scored],
    *,
    client: AsyncOpenAI | None,
    llm: LLM,
    state: State,
    usage: LLMUsage,
    progress: Progress,
) -> list[Entry]:
    """One :class:`Entry` per item, in the same order, each with a Korean line and where it came from.

    ``client`` None means the LLM is off (no key): every uncached item gets a marked fallback.
    ``usage`` gets the calls and tokens; ``usage.failures`` counts the batches that got no answer from
    the LLM (a request that failed after the SDK's retries, or could not be sent at all).
    """
    usage.model = llm.model
    if not scored:
        return []
    jobs = [_Job(i, s) for i, s in enumerate(scored)]
    results: dict[int, Takeaway] = {}

    cached = state.cached_takeaways([(j.key, j.version) for j in jobs], llm.model, PROMPT_VERSION)
    for job in jobs:
        # Re-checked because the cache outlives validator changes (and the sample day seeds it by hand).
        text = clean_takeaway(cached.get(job.key))
        if text:
            results[job.index] = Takeaway(text, TakeawayStatus.CACHED)
    todo = [j for j in jobs if j.index not in results]
    batches = [todo[i : i + llm.batch_size] for i in range(0, len(todo), llm.batch_size)]
    if results:
        progress.log(f"llm: {len(results)} cached, {len(todo)} to summarize in {len(batches)} batches")
    if not todo:
        return [Entry(s, results[i]) for i, s in enumerate(scored)]

    reasons: dict[int, str]
    if client is None:
        reason = f"no API key (${llm.api_key_env} is not set)" if not llm.api_key else "LLM disabled"
        reasons = {job.index: reason for job in todo}
        for job in todo:
            results[job.index] = _fallback(job, reason)
        usage.failures += len(batches)
    else:
        run = _Summarizer(client, llm, state, usage, progress, len(batches))
        await asyncio.gather(*(run.batch(number, batch) for number, batch in enumerate(batches, start=1)))
        results.update(run.results)
        reasons = run.reasons
    if reasons:
        progress.warn(_warning(reasons, len(scored)))
    return [Entry(s, results[i]) for i, s in enumerate(scored)]
