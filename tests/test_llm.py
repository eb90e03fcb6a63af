"""The request mechanics (digest/llm.py) against the fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from digest.config import LLM
from digest.llm import (
    TEXT_MODE_INSTRUCTION,
    Answer,
    Failure,
    LLMSession,
    RequestFailed,
    endpoint_key,
    first_json_object,
    make_llm_client,
    retry_wait,
)
from digest.models import LLMUsage
from digest.progress import Progress
from digest.state import State
from tests import llmserver
from tests.llmserver import LLMServer, completion, refusing, status
from tests.test_summarize import STATUS, items, llm_for, run

llm_server = llmserver.llm_server  # the fixture

T = TypeVar("T")
SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "system", "content": "Answer JSON."}, {"role": "user", "content": "Say ok."}]


def ok_json(body: dict[str, Any]) -> llmserver.Reply:
    return completion('{"ok": true}', body)


class Harness:
    """One session against ``llm``, used from synchronous tests."""

    def __init__(self, llm: LLM, state: State | None = None) -> None:
        self.llm = llm
        self.state = state
        self.usage = LLMUsage()
        self.stream = io.StringIO()
        self.waits: list[float] = []  # the session's sleeps before retries

    def go(self, work: Callable[[LLMSession], Awaitable[T]]) -> T:
        async def main() -> T:
            client = make_llm_client(self.llm)
            assert client is not None
            session = LLMSession(
                client,
                self.llm,
                usage=self.usage,
                progress=Progress(self.stream, live=False),
                state=self.state,
            )
            try:
                return await work(session)
            finally:
                self.waits = session.waits
                await client.close()

        return asyncio.run(main())

    def ask(self, count: int = 1, **kw: Any) -> list[Answer | RequestFailed]:
        async def work(session: LLMSession) -> list[Answer | RequestFailed]:
            out: list[Answer | RequestFailed] = []
            for _ in range(count):
                try:
                    out.append(
                        await session.request(
                            MESSAGES, schema=SCHEMA, schema_name="probe", max_tokens=kw.get("max_tokens", 20)
                        )
                    )
                except RequestFailed as e:
                    out.append(e)
            return out

        return self.go(work)

    @property
    def stderr(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def state(tmp_path: Path):
    with State.open(tmp_path / "state") as s:
        yield s


def formats(server: LLMServer) -> list[str]:
    return [(body.get("response_format") or {}).get("type", "text") for body in server.requests]


# -- structured output that degrades --------------------------------------------------------------


def test_500_on_json_schema_then_json_object_is_used_and_remembered(llm_server: LLMServer, tmp_path: Path):
    # llama-cpp-python's server answers json_schema with HTTP 500.
    llm_server.default = refusing("json_schema", 500)
    llm = llm_for(llm_server.url, batch_size=2, concurrency=1, max_retries=3)
    with State.open(tmp_path / "state") as state:
        first = run(items(4), state, llm)
    assert first.statuses == [STATUS.LLM] * 4
    # One refusal, not retried in the same format; every later request asks for json_object at once.
    assert formats(llm_server) == ["json_schema", "json_object", "json_object"]
    mode_lines = [line for line in first.stderr.splitlines() if "response_format" in line]
    assert mode_lines == [
        f"llm: 127.0.0.1:{llm_server.url.split(':')[2].split('/')[0]} answers with response_format "
        "json_object (refused json_schema: HTTP 500)"
    ]
    assert (first.usage.calls, first.usage.failed_calls) == (3, 1)
    assert first.usage.response_format == "json_object"
    assert first.warnings == []

    # The next run (a new process, other items) does not try json_schema again.
    with State.open(tmp_path / "state") as state:
        known = state.llm_endpoint(endpoint_key(llm_server.url), "fake-model")
        assert known is not None and (known.response_format, known.rejected) == (
            "json_object",
            "json_schema: HTTP 500",
        )
        second = run([s for s in items(6)][4:], state, llm)
    assert formats(llm_server)[3:] == ["json_object"]
    assert "(remembered: refused json_schema: HTTP 500)" in second.stderr


def test_a_server_without_json_modes_gets_a_plain_instruction_and_prose_wrapped_json(
    llm_server: LLMServer, state: State
):
    def old_server(body: dict[str, Any]) -> llmserver.Reply:
        if body.get("response_format"):
            return status(400, message="unknown field response_format")
        return completion('Sure! Here is the JSON you asked for:\n{"ok": true}\nAnything else?', body)

    llm_server.default = old_server
    h = Harness(llm_for(llm_server.url, max_retries=3), state)
    [answer] = h.ask()
    assert isinstance(answer, Answer) and answer.mode == "text"
    assert first_json_object(answer.content) == {"ok": True}
    assert formats(llm_server) == ["json_schema", "json_object", "text"]
    last = llm_server.requests[-1]
    assert last["messages"][-1]["content"].endswith(TEXT_MODE_INSTRUCTION)
    assert "response_format" not in last
    assert state.llm_endpoint(endpoint_key(llm_server.url), "fake-model").response_format == "text"  # type: ignore[union-attr]


def test_a_request_refused_in_every_format_leaves_the_format_alone(llm_server: LLMServer, state: State):
    # Too large for the server's context, say: nothing to do with the format.
    llm_server.default = lambda body: status(400, message="the request exceeds the available context size")
    h = Harness(llm_for(llm_server.url, max_retries=3), state)
    [failed] = h.ask()
    assert isinstance(failed, RequestFailed) and failed.failure == Failure.REFUSED
    assert "HTTP 400" in failed.reason and "json_schema: HTTP 400, json_object: HTTP 400" in failed.reason
    assert formats(llm_server) == ["json_schema", "json_object", "text"]  # 400 is not retried
    assert state.llm_endpoint(endpoint_key(llm_server.url), "fake-model") is None


def test_a_remembered_refusal_is_checked_again_after_a_week(llm_server: LLMServer, state: State):
    key = endpoint_key(llm_server.url)
    state.remember_llm_endpoint(key, "fake-model", "json_object", "json_schema: HTTP 500")
    state.conn.execute("update llm_endpoints set checked_at = '2020-01-01T00:00:00+00:00'")
    llm_server.default = ok_json  # the server was upgraded meanwhile
    h = Harness(llm_for(llm_server.url), state)
    h.ask()
    assert formats(llm_server) == ["json_schema"]
    assert state.llm_endpoint(key, "fake-model").response_format == "json_schema"  # type: ignore[union-attr]


def test_the_memory_is_per_endpoint_and_model_and_never_stores_credentials(state: State):
    assert endpoint_key("http://user:secret@Host:8080/v1/?key=abc") == "http://host:8080/v1"
    state.remember_llm_endpoint("http://host:8080/v1", "a", "text", "")
    assert state.llm_endpoint("http://host:8080/v1", "b") is None
    assert state.llm_endpoint("http://host:8080/v1", "a").response_format == "text"  # type: ignore[union-attr]


# -- bounded answers ------------------------------------------------------------------------------------


def test_an_answer_that_never_ends_costs_one_timeout(llm_server: LLMServer):
    llm_server.default = "endless"  # a 200 that trickles content forever
    h = Harness(llm_for(llm_server.url, timeout_seconds=1.0, max_retries=3))
    [failed] = h.ask()
    assert isinstance(failed, RequestFailed) and failed.failure == Failure.TIMEOUT
    assert "timed out" in failed.reason
    assert llm_server.calls == 1  # not retried: each retry would cost the whole timeout again
    assert h.waits == []
    assert h.usage.unreachable.startswith("LLM timed out")  # nothing answered yet


def test_a_huge_body_is_not_read_to_the_end(llm_server: LLMServer):
    llm_server.default = "huge"  # 5 MB of content: a server that ignores max_tokens
    h = Harness(llm_for(llm_server.url))
    [failed] = h.ask()
    assert isinstance(failed, RequestFailed) and failed.failure == Failure.GARBLED
    assert "too long" in failed.reason
    assert h.usage.calls == 1 and h.usage.unreachable == ""


def test_max_tokens_goes_on_every_request_and_a_cut_answer_says_so(llm_server: LLMServer):
    llm_server.default = "runaway"
    h = Harness(llm_for(llm_server.url))
    [answer] = h.ask(max_tokens=120)
    assert isinstance(answer, Answer) and answer.cut_off
    assert llm_server.requests[0]["max_tokens"] == 120


def test_max_completion_tokens_for_models_that_want_it(llm_server: LLMServer):
    def reasoning_model(body: dict[str, Any]) -> llmserver.Reply:
        if "max_tokens" in body:
            return status(
                400, message="Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead."
            )
        return ok_json(body)

    llm_server.default = reasoning_model
    h = Harness(llm_for(llm_server.url))
    answers = h.ask(2)
    assert all(isinstance(a, Answer) for a in answers)
    assert ["max_completion_tokens" in body for body in llm_server.requests] == [False, True, True]
    assert formats(llm_server) == ["json_schema"] * 3  # the 400 was about the parameter, not the format


def test_the_budget_stops_requests_before_they_are_sent(llm_server: LLMServer):
    llm_server.default = lambda body: completion('{"ok": true}', body, delay=0.6)
    h = Harness(llm_for(llm_server.url, deadline=1.0))
    answers = h.ask(3)
    assert isinstance(answers[0], Answer)
    assert all(isinstance(a, RequestFailed) and a.failure == Failure.DEADLINE for a in answers[1:])
    assert "time budget of 1s (llm.deadline) used up" in answers[1].reason  # type: ignore[union-attr]
    assert llm_server.calls == 2  # the second was cut off by the budget; the third never sent


# -- retries and accounting -------------------------------------------------------------------------


def test_429_is_retried_honouring_retry_after_and_counted(llm_server: LLMServer):
    llm_server.script(status(429, retry_after="1"), ok_json)
    h = Harness(llm_for(llm_server.url, max_retries=2))
    [answer] = h.ask()
    assert isinstance(answer, Answer)
    assert h.waits == [1.0]  # waited the Retry-After second before the retry
    assert (h.usage.calls, h.usage.failed_calls) == (2, 1)


def test_a_server_error_is_retried_then_reported(llm_server: LLMServer):
    llm_server.default = "502"
    h = Harness(llm_for(llm_server.url, max_retries=2))
    [failed] = h.ask()
    assert isinstance(failed, RequestFailed) and failed.failure == Failure.SERVER
    assert failed.reason == "LLM request failed (HTTP 502)"
    assert llm_server.calls == 3 and h.usage.failed_calls == 3
    assert h.usage.unreachable == ""  # a 502 is an answer from something: not "waiting may help"


def test_unreachable_is_cleared_by_an_answer(llm_server: LLMServer):
    llm_server.script(lambda body: completion('{"ok": true}', body, delay=1.5), ok_json)
    h = Harness(llm_for(llm_server.url, timeout_seconds=0.5))
    first, second = h.ask(2)
    assert isinstance(first, RequestFailed) and first.failure == Failure.TIMEOUT
    assert isinstance(second, Answer)
    assert h.usage.unreachable == ""


def test_retry_wait_reads_retry_after_in_its_forms():
    assert retry_wait({"retry-after-ms": "250"}, 1) == 0.25
    assert retry_wait({"retry-after": "3"}, 1) == 3.0
    assert 0 <= retry_wait({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1) <= 0.0 + 1e-9
    assert 0.3 <= retry_wait({}, 1) <= 0.7 and 1.4 <= retry_wait({}, 3) <= 2.6


def test_requests_share_one_concurrency_limit(llm_server: LLMServer):
    llm_server.default = lambda body: completion('{"ok": true}', body, delay=0.2)
    h = Harness(llm_for(llm_server.url, concurrency=2))

    async def work(session: LLMSession) -> list[Answer]:
        return await asyncio.gather(
            *(session.request(MESSAGES, schema=SCHEMA, schema_name="probe", max_tokens=20) for _ in range(5))
        )

    answers = h.go(work)
    assert len(answers) == 5 and llm_server.max_in_flight == 2
    assert json.loads(answers[0].content) == {"ok": True}


def test_every_error_a_user_can_meet_is_in_the_one_error_tree():
    # A failed request and a send refused on our side are errors of their stage: anything that lets one
    # through prints one line at the CLI edge, never a traceback.
    from digest.delivery.smtp import SetupError
    from digest.errors import DeliveryError, DigestError, LLMError

    assert issubclass(RequestFailed, LLMError) and issubclass(LLMError, DigestError)
    assert issubclass(SetupError, DeliveryError) and issubclass(DeliveryError, DigestError)
    failed = RequestFailed("no connection to 127.0.0.1:9", Failure.FATAL)
    assert str(failed) == failed.reason and failed.exit_code == 1
