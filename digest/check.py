"""``digest check``: probe the configuration, every source, the LLM endpoint and the SMTP server.

Nothing is summarized or sent: sources get one short GET, the LLM endpoint a ``GET /models`` and one
small chat request (a few dozen tokens: it shows which response format the server accepts and how long
a request takes, and a server that lists the model but refuses every request fails here, not in the
morning run), the SMTP server a connect/TLS/AUTH/QUIT with no message. The result is a table of ✓/✗ with
one line of reason each.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from .addresses import envelope, needs_smtputf8
from .config import LLM, Channel, Config, Email, check_secrets
from .errors import DigestError
from .llm import LLMSession, RequestFailed, first_json_object, is_openai, make_llm_client
from .models import LLMUsage
from .progress import QUIET
from .redact import redact_urls
from .state import State

DEFAULT_TIMEOUT = 10.0
# A probe needs the status line, not a whole listing: stop reading after this much.
_PROBE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool | None  # None: skipped (not configured)
    detail: str  # one line: why it works or fails
    target: str = ""
    essential: bool = True
    source: bool = False  # a content source; the digest needs at least one to work

    @property
    def mark(self) -> str:
        return "–" if self.ok is None else ("✓" if self.ok else "✗")


def _elapsed(started: float) -> str:
    return f"{time.monotonic() - started:.1f}s"


def _http_reason(e: Exception, timeout: float) -> str:
    if isinstance(e, httpx2.TimeoutException):
        return f"timed out after {timeout:g}s"
    if isinstance(e, httpx2.ConnectError):
        return f"cannot connect: {e or type(e).__name__}"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


# -- local checks -------------------------------------------------------------------------------


def probe_config(config: Config, source: Path | None) -> Probe:
    where = str(source) if source else "built-in defaults (no config file found)"
    try:
        check_secrets(config, email=True)
    except DigestError as e:
        return Probe("config", False, str(e).splitlines()[0], where)
    return Probe(
        "config", True, f"valid, timezone {config.timezone}, schedule {config.schedule.cron!r}", where
    )


def probe_state(config: Config) -> Probe:
    where = str(config.state_path)
    try:
        with State.open(config.state_path) as state:
            runs = len(state.recent_runs(1000))
    except DigestError as e:
        return Probe("state", False, str(e), where)
    return Probe("state", True, f"writable, {runs} runs recorded", where)


# -- HTTP ---------------------------------------------------------------------------------------


async def probe_url(
    client: httpx2.AsyncClient,
    name: str,
    url: str,
    *,
    params: dict[str, Any] | None = None,
    essential: bool = False,
) -> Probe:
    started = time.monotonic()
    timeout = client.timeout.read or DEFAULT_TIMEOUT
    try:
        async with client.stream("GET", url, params=params) as r:
            read = 0
            async for chunk in r.aiter_bytes():
                read += len(chunk)
                if read >= _PROBE_BYTES:
                    break
    except httpx2.HTTPError as e:
        return Probe(name, False, _http_reason(e, timeout), url, essential, source=True)
    kind = r.headers.get("content-type", "no content-type").split(";")[0]
    detail = f"HTTP {r.status_code} {r.reason_phrase} · {kind} · {_elapsed(started)}"
    return Probe(name, r.is_success, detail, url, essential, source=True)


def _model_listed(model: str, ids: list[str]) -> bool:
    # Ollama lists "qwen2.5:latest" for a model pulled as "qwen2.5".
    return model in ids or (":" not in model and f"{model}:latest" in ids)


async def probe_llm(client: httpx2.AsyncClient, llm: LLM, state: State | None = None) -> Probe:
    url = llm.base_url.rstrip("/") + "/models"
    name = "llm"
    key = llm.api_key
    if not key and is_openai(llm.base_url):  # known to need one: no request can tell more
        why = "api.openai.com needs a key, read only from the environment"
        return Probe(name, False, f"${llm.api_key_env} is not set: {why}", url)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    started = time.monotonic()
    timeout = client.timeout.read or DEFAULT_TIMEOUT
    try:
        r = await client.get(url, headers=headers)
    except httpx2.HTTPError as e:
        # Unreachable now, but a hosted provider would refuse the run anyway without its key.
        missing = "" if key or llm.local else f"; ${llm.api_key_env} is not set either"
        return Probe(name, False, _http_reason(e, timeout) + missing, url)
    if r.status_code in (401, 403):
        why = f"the key in ${llm.api_key_env} was refused" if key else f"${llm.api_key_env} is not set"
        return Probe(name, False, f"HTTP {r.status_code}: {why}", url)
    if not r.is_success:
        return Probe(name, False, f"HTTP {r.status_code} {r.reason_phrase}", url)
    try:
        ids = [str(m["id"]) for m in r.json()["data"]]
    except (ValueError, KeyError, TypeError):
        return Probe(name, False, "not an OpenAI-compatible /models answer", url)
    if not _model_listed(llm.model, ids):
        hint = f" (try `ollama pull {llm.model}`)" if ":11434" in llm.base_url else ""
        return Probe(name, False, f"model {llm.model!r} not among the {len(ids)} models listed{hint}", url)
    listed = _elapsed(started)
    return await _probe_request(client, llm, state, url, f"model {llm.model!r} available ({listed})")


PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}
PROBE_MESSAGES = [
    {"role": "system", "content": 'You check that a server works. Answer with JSON only: {"ok": true}'},
    {"role": "user", "content": "Are you there?"},
]


async def _probe_request(
    client: httpx2.AsyncClient, llm: LLM, state: State | None, url: str, listed: str
) -> Probe:
    """One small chat request the way a run makes them: the format it gets, and how long it takes."""
    chat = make_llm_client(llm, client)
    if chat is None:
        return Probe("llm", False, f"${llm.api_key_env} is not set", url)
    # A first request may have to load the model (Ollama does): the run's per-request limit, once.
    probe_llm_config = llm.model_copy(update={"deadline": llm.timeout_seconds, "concurrency": 1})
    session = LLMSession(chat, probe_llm_config, usage=LLMUsage(), progress=QUIET, state=state)
    try:
        answer = await session.request(
            PROBE_MESSAGES, schema=PROBE_SCHEMA, schema_name="probe", max_tokens=16
        )
    except RequestFailed as e:
        return Probe("llm", False, f"{listed}, but a small request failed: {e.reason}", url)
    refused = f" (refused {', '.join(session.rejected)})" if session.rejected else ""
    if first_json_object(answer.content) is None:
        note = "; its answer was not JSON, so digest will rely on repairs"
    else:
        note = ""
    return Probe(
        "llm",
        True,
        f"{listed} · answers with response_format {answer.mode}{refused} · "
        f"one small request {answer.seconds:.1f}s{note}",
        url,
    )


# -- SMTP ---------------------------------------------------------------------------------------


def _tls_context() -> ssl.SSLContext:
    # The OS trust store, like httpx2: a corporate CA installed in the system works here too.
    try:
        import truststore

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    except Exception:
        return ssl.create_default_context()


def _smtp_session(email: Email, timeout: float) -> str:
    """Connect, secure, authenticate and quit; the one-line description of what worked."""
    if email.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            email.smtp_host, email.smtp_port, timeout=timeout, context=_tls_context()
        )
    else:
        smtp = smtplib.SMTP(email.smtp_host, email.smtp_port, timeout=timeout)
    steps = ["connected"]
    try:
        smtp.ehlo()
        if email.security == "starttls":
            smtp.starttls(context=_tls_context())
            smtp.ehlo()
            steps.append("STARTTLS")
        elif email.security == "ssl":
            steps.append("TLS")
        if email.username:
            smtp.login(email.username, email.password or "")
            steps.append(f"AUTH as {email.username}")
        # A mailbox with a Hangul local part can only be sent to with SMTPUTF8: said now, not at 10:30.
        unreachable = [envelope(r) for r in email.to if needs_smtputf8(r)]
        if unreachable and not smtp.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError(
                f"no SMTPUTF8, which {', '.join(unreachable)} needs (a non-ASCII name before the @)"
            )
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
    return ", ".join(steps)


def probe_smtp(email: Email, timeout: float) -> Probe:
    target = f"{email.smtp_host}:{email.smtp_port} ({email.security})"
    if not email.enabled:
        return Probe("smtp", None, "skipped: email.enabled = false", target, essential=False)
    if email.username and not email.password:
        return Probe("smtp", False, f"${email.password_env} is not set (needed for AUTH)", target)
    started = time.monotonic()
    try:
        done = _smtp_session(email, timeout)
    except smtplib.SMTPAuthenticationError as e:
        return Probe(
            "smtp", False, f"authentication failed: {e.smtp_code} {_smtp_text(e.smtp_error)}", target
        )
    except smtplib.SMTPNotSupportedError as e:
        return Probe("smtp", False, f"not supported by the server: {e}", target)
    except smtplib.SMTPResponseException as e:
        return Probe("smtp", False, f"server said {e.smtp_code} {_smtp_text(e.smtp_error)}", target)
    except TimeoutError:
        return Probe("smtp", False, f"timed out after {timeout:g}s", target)
    except ssl.SSLError as e:
        return Probe("smtp", False, f"TLS failed: {e.reason or e}", target)
    except (OSError, smtplib.SMTPException) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        return Probe("smtp", False, f"cannot connect: {reason}", target)
    return Probe("smtp", True, f"{done}, QUIT · {_elapsed(started)}", target)


def _smtp_text(raw: bytes | str) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())


# -- all together -------------------------------------------------------------------------------


def _source_probes(config: Config, client: httpx2.AsyncClient) -> list[Awaitable[Probe]]:
    jobs: list[Awaitable[Probe]] = []
    if config.arxiv.enabled:
        # The listing is the backbone of the digest; the rest only add to it.
        jobs.append(probe_url(client, "arxiv listing", config.arxiv.listing_url, essential=True))
        if config.arxiv.search:
            params = {"search_query": "all:transformer", "max_results": 1}
            jobs.append(probe_url(client, "arxiv api", config.arxiv.api_url, params=params))
    if config.huggingface.enabled:
        jobs.append(probe_url(client, "huggingface", config.huggingface.url))
    for feed in config.feeds:
        if feed.enabled:
            jobs.append(probe_url(client, f"feed: {feed.name}", feed.url))
    return jobs


async def probe_channel(client: httpx2.AsyncClient, name: str, channel: Channel) -> Probe:
    from .delivery.channels import probe_channel as probe
    from .delivery.channels import target

    started = time.monotonic()
    ok, detail = await probe(client, channel)
    return Probe(f"{channel.kind} {name}", ok, f"{detail} · {_elapsed(started)}", target(channel))


def _channel_probes(config: Config, client: httpx2.AsyncClient) -> list[Awaitable[Probe]]:
    return [probe_channel(client, name, c) for name, c in config.channels.items() if c.enabled]


async def check_all(config: Config, source: Path | None, *, timeout: float = DEFAULT_TIMEOUT) -> list[Probe]:
    probes = [probe_config(config, source), probe_state(config)]
    try:  # the probe teaches the state which response format the endpoint accepts
        state: State | None = State.open(config.state_path)
    except DigestError:
        state = None  # probe_state has said why
    try:
        async with httpx2.AsyncClient(
            timeout=timeout, follow_redirects=True, headers={"user-agent": config.http.user_agent}
        ) as client:
            smtp = asyncio.to_thread(probe_smtp, config.email, timeout)
            found = await asyncio.gather(
                *_source_probes(config, client), probe_llm(client, config.llm, state), smtp,
                *_channel_probes(config, client),
            )  # fmt: skip
    finally:
        if state is not None:
            state.close()
    return probes + list(found)


def run_checks(config: Config, source: Path | None, *, timeout: float = DEFAULT_TIMEOUT) -> list[Probe]:
    return asyncio.run(check_all(config, source, timeout=timeout))


def every_source_failed(probes: list[Probe]) -> bool:
    sources = [p for p in probes if p.source]
    return bool(sources) and all(p.ok is False for p in sources)


def essential_failures(probes: list[Probe]) -> list[Probe]:
    failed = [p for p in probes if p.ok is False and p.essential]
    if every_source_failed(probes):  # then no digest can be built: the optional ones count too
        failed += [p for p in probes if p.source and not p.essential]
    return failed


def exit_code(probes: list[Probe]) -> int:
    return 1 if essential_failures(probes) else 0


def format_table(probes: list[Probe]) -> str:
    width = max(len(p.name) for p in probes)
    lines = []
    for p in probes:
        note = "" if p.ok is not False or p.essential else " (not essential)"
        target = f"  [{redact_urls(p.target)}]" if p.target else ""
        lines.append(f"{p.mark} {p.name:<{width}}  {redact_urls(p.detail)}{note}{target}")
    essential = [p for p in probes if p.ok is False and p.essential]
    if essential:
        names = ", ".join(p.name for p in essential)
        lines.append(f"\n✗ {len(essential)} essential check(s) failed: {names}")
    if every_source_failed(probes):
        lines.append(f"{'' if essential else chr(10)}✗ every source failed: no digest could be built")
    elif not essential:
        others = sum(1 for p in probes if p.ok is False)
        tail = f" ({others} optional source(s) failing; the digest ships without them)" if others else ""
        lines.append(f"\n✓ everything essential works{tail}")
    return "\n".join(lines)
