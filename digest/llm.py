"""Requests to an OpenAI-compatible chat endpoint that survive real servers: hosted APIs and local ones
(Ollama, llama.cpp, vLLM, llama-cpp-python) alike.

One :class:`LLMSession` per run carries what every request needs, so a caller asks for one answer and
gets it (or one :class:`RequestFailed` with a one-line reason) without knowing the mechanics:

- **Response format that degrades**: ``json_schema`` → ``json_object`` → ``text`` (no response_format,
  a plain instruction to answer JSON; the caller parses the first JSON object of the text). A server that
  refuses a format (a 4xx/5xx to a request that carries it) is asked again at once with the next one; what
  it accepts is kept for the run and remembered in the state per base_url + model (re-checked after
  :data:`RECHECK_DAYS`), and one stderr line says which format is used.
- **Bounded answers**: ``max_tokens`` from the caller on every request; a wall-clock limit per request (the
  HTTP client's read timeout alone would wait forever for a server that trickles bytes); a cap on the body
  read; and the run's time budget (``llm.deadline``) after which no request is sent and a running one is
  cut off.
- **Retries that cost what they must**: 429/5xx/connection errors are retried ``llm.max_retries`` times
  honouring Retry-After, within the budget. A timeout is not retried (the caller splits the work instead),
  and a refused format is not retried in the same format. The openai SDK's own retries are off so that
  every request sent is counted: ``usage.calls`` includes the failed ones.
- **Failures that stop early**: a rejected key, a missing model or a refused connection means every further
  request fails the same way; the session then fails the rest at once, and sets ``usage.unreachable`` when
  waiting could help (no connection, timeouts, 404) and nothing was answered.

A single-request caller (one paragraph, say) shares the run's session with the takeaways::

    session = LLMSession(client, config.llm, usage=usage, progress=progress, state=state)
    entries = await summarize(picked, client=client, llm=config.llm, state=state, usage=usage,
                              progress=progress, session=session)
    try:
        answer = await session.request(messages, schema=SCHEMA, schema_name="flow", max_tokens=300)
        data = first_json_object(answer.content)  # None: not JSON; answer.cut_off: hit max_tokens
    except RequestFailed as e:
        ...  # e.reason is one line for stderr; e.failure says why (DEADLINE, TIMEOUT, FATAL, ...)
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from ._compat import StrEnum
from .config import LLM
from .errors import LLMError
from .http import parse_retry_after
from .models import LLMUsage
from .progress import Progress
from .state import State

if TYPE_CHECKING:
    # openai is imported on the first request (DeferredClient): a run whose lines are all cached never
    # sends one.
    import openai
    from openai import AsyncOpenAI
    from openai.resources.chat import AsyncChat


class Mode(StrEnum):
    JSON_SCHEMA = "json_schema"
    JSON_OBJECT = "json_object"
    TEXT = "text"


MODES = (Mode.JSON_SCHEMA, Mode.JSON_OBJECT, Mode.TEXT)
RECHECK_DAYS = 7  # a server upgraded to json_schema support gets asked for it again after a week
MAX_BODY_BYTES = 1_000_000  # a chat answer of a few thousand tokens is ~20 KB; more is a runaway
MAX_RETRY_WAIT = 60.0  # a Retry-After longer than this is not waited for
PLACEHOLDER_KEY = "unused"
# Appended to the last message in text mode; json_object mode needs the word JSON in the prompt too.
TEXT_MODE_INSTRUCTION = "Answer with one JSON object only: no prose, no Markdown fence."


class Failure(StrEnum):
    """Why a request got no answer; what a caller can do about it differs."""

    TIMEOUT = "timeout"  # this request was too slow: ask for less
    DEADLINE = "deadline"  # the run's time budget is spent: ask nothing more
    REFUSED = "refused"  # the server refused this request in every format (400 too large, 422, ...)
    SERVER = "server"  # 5xx/429 that retries did not cure
    FATAL = "fatal"  # key, model, connection: every request would fail the same way
    GARBLED = "garbled"  # an answer came, but not a chat completion (or a runaway body)


class RequestFailed(LLMError):
    def __init__(self, reason: str, failure: Failure) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failure = failure


@dataclass(frozen=True)
class Answer:
    """One chat completion: its text and how it ended."""

    content: str
    finish_reason: str
    mode: Mode
    seconds: float
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def cut_off(self) -> bool:
        """The answer hit max_tokens: its JSON is probably unfinished."""
        return self.finish_reason == "length"


# -- pure helpers --------------------------------------------------------------------------------


def first_json_object(text: str) -> Any:
    """The first JSON object (or array) in ``text``, or None: for prose-wrapped or fenced answers."""
    decoder = json.JSONDecoder()
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    for start, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(text, start)
            except ValueError:
                continue
            if isinstance(value, dict | list):
                return value
    return None


def response_format(mode: Mode, name: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    if mode == Mode.JSON_SCHEMA:
        return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": dict(schema)}}
    if mode == Mode.JSON_OBJECT:
        return {"type": "json_object"}
    return None


def endpoint_key(base_url: str) -> str:
    """base_url without userinfo, query or fragment: what the state may store about it."""
    parts = urlsplit(base_url.strip())
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme.lower(), netloc.lower(), parts.path.rstrip("/"), "", ""))


def where(llm: LLM) -> str:
    # Host and port only: a base_url could carry credentials in its userinfo or query.
    parts = urlsplit(llm.base_url)
    return f"{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}"


_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "grammar")


def rejects_format(err: openai.APIStatusError) -> bool:
    """Whether a 4xx/5xx to a request with a response_format may be about that format.

    llama-cpp-python answers json_schema with 500, older servers with 400 or 422; a server's message may
    name the format with any status. Auth, not-found, rate-limit and gateway statuses are never about it.
    """
    status = err.status_code
    if status in (401, 403, 404, 408, 409, 429, 502, 503, 504):
        return False
    if status in (400, 415, 422, 500, 501):
        return True
    return any(word in _message(err).lower() for word in _FORMAT_WORDS)


def _message(err: openai.APIStatusError) -> str:
    # Only ever searched for keywords, never shown: a server's message can echo the key back.
    try:
        return err.response.text[:2000]
    except Exception:
        return str(err.body or "")


def retry_wait(headers: Mapping[str, str] | None, attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, …): Retry-After when given, else backoff."""
    headers = headers or {}
    try:
        if "retry-after-ms" in headers:  # OpenAI's own, more precise than Retry-After
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    asked = parse_retry_after(headers.get("retry-after"))
    if asked is not None:
        return asked
    return min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)


def describe_status(err: openai.APIStatusError, llm: LLM) -> tuple[str, Failure]:
    """A one-line reason for an HTTP error, from its status only (a server's message can echo the key)."""
    status = err.status_code
    if status in (401, 403):
        return f"LLM rejected the API key (HTTP {status}; check ${llm.api_key_env})", Failure.FATAL
    if status == 404:
        return (
            f"LLM endpoint or model not found (HTTP 404; check llm.base_url and llm.model {llm.model!r})",
            Failure.FATAL,
        )
    if status in (400, 413, 422):
        return f"LLM refused the request (HTTP {status})", Failure.REFUSED
    return f"LLM request failed (HTTP {status})", Failure.SERVER


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_completion(body: bytes) -> tuple[str, str, int, int] | None:
    """(content, finish_reason, prompt tokens, completion tokens) of a chat.completion body, or None."""
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if not isinstance(content, str):
        return None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    finish = choice.get("finish_reason") if isinstance(choice, dict) else None
    return (
        content,
        finish if isinstance(finish, str) else "",
        _int(usage.get("prompt_tokens")),
        _int(usage.get("completion_tokens")),
    )


# -- the client ----------------------------------------------------------------------------------


def is_openai(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "openai.com" or host.endswith(".openai.com")


class DeferredClient:
    """An ``AsyncOpenAI`` client that is built, and the openai package imported, on its first request.

    Importing openai costs about 0.3 s CPU (its pydantic models); a same-day re-run (every takeaway and
    the 흐름 paragraph cached) sends no request, and that import was a fifth of its run
    (benchmarks/README.md). The options (the API key among them) stay private: no repr shows them.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._client: AsyncOpenAI | None = None

    def _sdk(self) -> AsyncOpenAI:
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(**self._options)
        return self._client

    @property
    def chat(self) -> AsyncChat:
        return self._sdk().chat

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


def make_llm_client(llm: LLM, http_client: httpx2.AsyncClient | None = None) -> DeferredClient | None:
    """The client for ``llm``, or None when there is no key for api.openai.com.

    Local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) need no key, but the SDK insists on one: any
    other ``base_url`` without a key gets a placeholder. A hosted provider that does need a key then answers
    401, which is reported as one warning with marked fallbacks, like a missing key.

    The SDK's own retries are off: :class:`LLMSession` retries, so that it can count every request, never
    retry a timeout, and step down the response format instead of retrying a refused one.
    With ``http_client`` (the run's shared httpx2 client) the caller keeps owning it: closing the returned
    client would close ``http_client`` too.
    """
    key = llm.api_key
    if not key:
        if is_openai(llm.base_url):
            return None
        key = PLACEHOLDER_KEY
    return DeferredClient(
        api_key=key,
        base_url=llm.base_url,
        timeout=httpx2.Timeout(llm.timeout_seconds, connect=min(llm.timeout_seconds, 15.0)),
        max_retries=0,
        http_client=http_client,
    )


# -- the session ---------------------------------------------------------------------------------


class LLMSession:
    """Every LLM request of one run: one concurrency limit, one time budget, one response format."""

    def __init__(
        self,
        client: AsyncOpenAI | DeferredClient,
        llm: LLM,
        *,
        usage: LLMUsage,
        progress: Progress,
        state: State | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.llm = llm
        self.usage = usage
        self.progress = progress
        self.state = state
        self.clock = clock
        self.deadline_at = clock() + llm.deadline
        self.slots = asyncio.Semaphore(llm.concurrency)
        self.fatal: str | None = None  # set once every further request would fail the same way
        self.answered = 0
        self.token_param = "max_tokens"  # OpenAI's reasoning models want max_completion_tokens
        self.rejected: list[str] = []  # "json_schema: HTTP 500", for the state and the one stderr line
        self._announced = False
        self.mode = Mode(llm.response_format)
        self._remembered = False
        self.waits: list[float] = []  # seconds slept before each retry, in order
        if state is not None:
            known = state.llm_endpoint(endpoint_key(llm.base_url), llm.model)
            if known and known.response_format in MODES and known.age_days < RECHECK_DAYS:
                if MODES.index(Mode(known.response_format)) > MODES.index(self.mode):
                    self.mode = Mode(known.response_format)
                    self.rejected = [known.rejected] if known.rejected else []
                    self._remembered = True

    @property
    def remaining(self) -> float:
        return self.deadline_at - self.clock()

    @property
    def where(self) -> str:
        return where(self.llm)

    async def request(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        schema: Mapping[str, Any],
        schema_name: str,
        max_tokens: int,
        label: str = "llm",
    ) -> Answer:
        """One answer to ``messages``, in the best format the endpoint accepts. Raises RequestFailed."""
        ask = _Ask(messages, schema, schema_name, max_tokens, label)
        async with self.slots:
            mode = self.mode
            refusals: list[str] = []
            while True:
                try:
                    answer = await self._send(ask, mode)
                except _Refused as e:
                    refusals.append(f"{mode}: {e.status}")
                    # The next format down, or further when another request has stepped down meanwhile.
                    mode = MODES[max(MODES.index(mode) + 1, MODES.index(self.mode))]
                    continue
                except RequestFailed as e:
                    if refusals and e.failure in (Failure.REFUSED, Failure.SERVER):
                        tried = ", ".join(refusals)
                        raise RequestFailed(f"{e.reason}; refused before with {tried}", e.failure) from None
                    raise
                if MODES.index(mode) > MODES.index(self.mode):
                    # Kept only now that the lower format was answered: a request refused in every format
                    # (too large, say) says nothing about formats.
                    self.mode = mode
                    self.rejected = refusals
                    self._remember()
                self._settle(mode)
                return answer

    def _settle(self, mode: Mode) -> None:
        """After an answer in ``mode``: say once which format is used, keep the memory true."""
        self.usage.response_format = str(mode)
        if self._announced:
            return
        self._announced = True
        if self.rejected:
            how = "remembered: " if self._remembered else ""
            refused = ", ".join(self.rejected)
            self.progress.log(
                f"llm: {self.where} answers with response_format {mode} ({how}refused {refused})"
            )
        else:
            self.progress.log(f"llm: {self.where} answers with response_format {mode}")
            if self.state is not None and mode == Mode(self.llm.response_format):
                # Asked for the best format again after RECHECK_DAYS and got it: forget the old refusal.
                known = self.state.llm_endpoint(endpoint_key(self.llm.base_url), self.llm.model)
                if known and known.response_format != str(mode):
                    self._remember()

    def _remember(self) -> None:
        if self.state is None:
            return
        try:
            self.state.remember_llm_endpoint(
                endpoint_key(self.llm.base_url), self.llm.model, str(self.mode), ", ".join(self.rejected)
            )
        except Exception as e:  # the memory is an optimisation: a locked or read-only state is no failure
            self.progress.log(f"llm: could not remember the response format ({type(e).__name__})")

    def _fail(self, reason: str, failure: Failure, *, unreachable: bool = False) -> RequestFailed:
        if failure == Failure.FATAL and self.fatal is None:
            self.fatal = reason
        if unreachable and not self.answered:
            self.usage.unreachable = self.usage.unreachable or reason
        return RequestFailed(reason, failure)

    def _deadline_reason(self) -> str:
        return f"LLM time budget of {self.llm.deadline:g}s (llm.deadline) used up"

    async def _send(self, ask: _Ask, mode: Mode) -> Answer:
        """One format, with retries for what retrying can cure. Raises _Refused or RequestFailed."""
        import openai  # loaded with the client (DeferredClient): this is the first request

        attempt = 0
        while True:
            if self.fatal:
                raise RequestFailed(self.fatal, Failure.FATAL)
            budget = self.remaining
            if budget <= 0:
                raise RequestFailed(self._deadline_reason(), Failure.DEADLINE)
            limit = min(self.llm.timeout_seconds, budget)
            body = self._body(ask, mode)
            started = self.clock()
            self.progress.status(f"{ask.label} …")
            try:
                raw = await asyncio.wait_for(self._post(body), timeout=limit)
            except (TimeoutError, asyncio.TimeoutError, openai.APIConnectionError) as e:
                self.usage.add_failed()
                slow = not isinstance(e, openai.APIConnectionError) or (
                    isinstance(e, openai.APITimeoutError)
                    and not isinstance(e.__cause__, httpx2.ConnectTimeout)
                )
                if slow:  # the server is there, but this answer takes too long: not retried
                    if limit < self.llm.timeout_seconds:
                        raise self._fail(
                            self._deadline_reason(), Failure.DEADLINE, unreachable=True
                        ) from None
                    reason = f"LLM timed out at {self.where} (after {limit:g}s)"
                    raise self._fail(reason, Failure.TIMEOUT, unreachable=True) from None
                cause = type(e.__cause__).__name__ if e.__cause__ else "connection error"
                reason = f"LLM unreachable at {self.where} ({cause})"
                attempt += 1
                if attempt <= self.llm.max_retries and await self._wait(None, attempt):
                    continue
                raise self._fail(reason, Failure.FATAL, unreachable=True) from None
            except openai.APIStatusError as e:
                self.usage.add_failed()
                if (
                    e.status_code == 400
                    and self.token_param == "max_tokens"
                    and ("max_completion_tokens" in _message(e))
                ):
                    self.token_param = "max_completion_tokens"
                    continue
                if mode != Mode.TEXT and rejects_format(e):
                    raise _Refused(f"HTTP {e.status_code}") from None
                reason, failure = describe_status(e, self.llm)
                attempt += 1
                retryable = e.status_code in (408, 409, 429) or e.status_code >= 500
                if (
                    retryable
                    and attempt <= self.llm.max_retries
                    and await self._wait(e.response.headers, attempt)
                ):
                    continue
                raise self._fail(reason, failure, unreachable=e.status_code == 404) from None
            seconds = self.clock() - started
            parsed = parse_completion(raw)
            # Even a 200 that is not a chat completion (a proxy's page, a crashed server, a runaway body)
            # shows the server is there: the answer's problem, not the endpoint's.
            self.answered += 1
            self.usage.unreachable = ""
            if parsed is None:
                self.usage.add(0, 0)
                why = "the answer was too long" if len(raw) >= MAX_BODY_BYTES else "not a chat completion"
                raise RequestFailed(f"LLM answer unusable ({why})", Failure.GARBLED)
            content, finish, prompt_tokens, completion_tokens = parsed
            self.usage.add(prompt_tokens, completion_tokens)
            return Answer(content, finish, mode, seconds, prompt_tokens, completion_tokens)

    async def _wait(self, headers: Mapping[str, str] | None, attempt: int) -> bool:
        """Sleep before a retry; False when the wait would be too long or past the budget."""
        wait = retry_wait(headers, attempt)
        if wait > MAX_RETRY_WAIT or wait >= self.remaining:
            return False
        self.waits.append(wait)
        await asyncio.sleep(wait)
        return True

    def _body(self, ask: _Ask, mode: Mode) -> dict[str, Any]:
        sent = [dict(m) for m in ask.messages]
        if mode == Mode.TEXT and sent:
            sent[-1]["content"] = f"{sent[-1]['content']}\n\n{TEXT_MODE_INSTRUCTION}"
        body: dict[str, Any] = {"model": self.llm.model, "messages": sent, self.token_param: ask.max_tokens}
        fmt = response_format(mode, ask.schema_name, ask.schema)
        if fmt is not None:
            body["response_format"] = fmt
        if self.llm.temperature is not None:
            body["temperature"] = self.llm.temperature
        return body

    async def _post(self, body: dict[str, Any]) -> bytes:
        """The raw body of one chat completion, read up to MAX_BODY_BYTES."""
        # Plain dicts are the documented form of messages and response_format; the SDK's TypedDict
        # overloads do not accept them as typed here.
        create = self.client.chat.completions.with_streaming_response.create
        async with create(**body) as response:  # type: ignore[call-overload]
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_BODY_BYTES:
                    break  # leaving the block closes the connection; llama.cpp stops generating then
        return b"".join(chunks)


@dataclass(frozen=True)
class _Ask:
    """One request as the caller put it, before a format is chosen."""

    messages: Sequence[Mapping[str, str]]
    schema: Mapping[str, Any]
    schema_name: str
    max_tokens: int
    label: str


class _Refused(Exception):
    """The server refused a request that carried a response format (or one too large to take)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status
