"""Chat channels (Slack, Discord, Telegram) against loopback servers speaking each real protocol:
formatting and limits, once per (day, channel), retries with Retry-After, permanent failures with the fix,
pending posts resumed after the last accepted message, deadlines, and secrets that never show."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest._compat import tomllib
from digest.cli import cli
from digest.config import Channel, Config, parse_config
from digest.delivery import discord, telegram
from digest.delivery.channels import (
    ChannelOutcome,
    ChatRetry,
    check_sendable_any,
    send_channels,
    send_pending_channels,
    send_week_channels,
)
from digest.delivery.post import daily_post, from_json, text_messages, to_json, utf16_len
from digest.errors import ConfigError
from digest.models import Digest, TakeawayStatus
from digest.progress import Progress
from digest.state import State

from . import chatservers
from .chatservers import DISCORD_TOKEN, SLACK_KEY, TELEGRAM_CHAT, TELEGRAM_TOKEN, ChatServer, Reply
from .digests import HOSTILE_TITLE, TOPICS, entry, fixed_digest, fixed_week

chat_server = chatservers.chat_server
SECRETS = (SLACK_KEY, DISCORD_TOKEN, TELEGRAM_TOKEN)
ENV = {"slack": "STUDY_SLACK_URL", "discord": "STUDY_DISCORD_URL", "telegram": "STUDY_TELEGRAM_TOKEN"}


class Sleeps:
    """The waits, recorded instead of slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def channel(kind: str, server: ChatServer, **kw: object) -> Channel:
    if kind == "telegram":
        return Channel(kind="telegram", token_env=ENV[kind], chat_id=TELEGRAM_CHAT, api_url=server.url, **kw)
    return Channel(kind=kind, url_env=ENV[kind], **kw)  # type: ignore[arg-type]


def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: dict[str, ChatServer], **kw: object
) -> Config:
    for server in servers.values():
        kind = server.kind
        monkeypatch.setenv(ENV[kind], TELEGRAM_TOKEN if kind == "telegram" else server.webhook_url)
    channels = {name: channel(s.kind, s, **kw) for name, s in servers.items()}
    return Config(state_dir=str(tmp_path / "state"), channels=channels)


def post(
    config: Config,
    d: Digest | None = None,
    *,
    sleeps: Sleeps | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> list[ChannelOutcome]:
    retry = ChatRetry(attempts=3, pace=0, sleep=sleeps or Sleeps())
    with State.open(config.state_path) as state:
        return asyncio.run(
            send_channels(
                config,
                state,
                d or fixed_digest(),
                force=force,
                retry=retry,
                progress=progress or Progress(quiet=True),
            )
        )


def pending(config: Config, *, sleeps: Sleeps | None = None) -> list[ChannelOutcome]:
    retry = ChatRetry(attempts=3, sleep=sleeps or Sleeps())
    with State.open(config.state_path) as state:
        return asyncio.run(send_pending_channels(config, state, progress=Progress(quiet=True), retry=retry))


def rows(config: Config) -> dict[str, tuple[str, int, int]]:
    with State.open(config.state_path) as state:
        return {p.channel: (p.status, p.parts_sent, p.parts) for p in state.channel_posts()}


def big_digest(n: int = 40) -> Digest:
    """A day with many items, long Korean lines and a trend block: more than one message everywhere."""
    d = fixed_digest()
    line = "이 논문은 긴 문맥에서 추론 오류가 어떻게 번지는지 여러 모델로 측정하고 완화 방법을 제안한다. " * 3
    topics = ("llm", "multimodal", "dpo", "mamba")
    entries = [
        entry(
            f"2510.{i:05d}",
            f"Paper {i:02d}: 한국어 제목과 English title",
            line.strip(),
            (topics[i % 4],),
            upvotes=i,
        )
        for i in range(n)
    ]
    entries.sort(key=lambda e: topics.index(e.scored.matches[0].topic))
    return dataclasses.replace(d, entries=entries, trend=dataclasses.replace(fixed_week().trend, day=d.day))


def texts(server: ChatServer) -> list[str]:
    """Each accepted message as text, per protocol."""
    if server.kind == "slack":
        return ["\n".join(json.dumps(b, ensure_ascii=False) for b in m["blocks"]) for m in server.messages]
    if server.kind == "discord":
        return [m["content"] for m in server.messages]
    return [m["text"] for m in server.messages]


# -- formatting and limits -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["slack", "discord", "telegram"])
def test_a_long_day_is_split_at_item_boundaries_within_each_limit(kind, chat_server, tmp_path, monkeypatch):
    server = chat_server(kind)
    config = setup(tmp_path, monkeypatch, {"study": server})
    d = big_digest(60)

    [outcome] = post(config, d)

    assert outcome.status == "sent", outcome.describe()
    messages = texts(server)
    assert len(messages) == outcome.parts > 1  # the fake refuses anything past the real limits
    assert len(server.posts) == len(messages)  # nothing refused, nothing retried
    for e in d.entries:  # every item whole in exactly one message: title and its line together
        title = e.candidate.title
        holding = [m for m in messages if title in m]
        assert len(holding) == 1, title
        assert e.takeaway.text[:40] in holding[0]
    order = [next(i for i, m in enumerate(messages) if e.candidate.title in m) for e in d.entries]
    assert order == sorted(order)  # the digest's order across messages
    joined = "\n".join(messages)
    assert "데일리 트렌드 — 2025-10-14 (화)" in joined  # Korean intact
    assert "이번 주 흐름" in joined or "오늘의 흐름" in joined
    assert "멀티모달" in joined and "▲" in joined  # the trend lines


@pytest.mark.parametrize("limit", [700, 2000, 4096])
@pytest.mark.parametrize("kind", ["discord", "telegram"])
def test_one_splitter_keeps_items_whole_under_any_limit(kind, limit):
    markup = {"discord": discord.MARKUP, "telegram": telegram.MARKUP}[kind]
    d = big_digest(30)

    messages = text_messages(daily_post(d), markup, limit)

    assert all(utf16_len(m) <= limit for m in messages)
    assert len(messages) > 1
    for e in d.entries:  # every item's title in exactly one message, with the start of its line
        holding = [m for m in messages if e.candidate.title in m]
        assert len(holding) == 1 and e.takeaway.text[:20] in holding[0], (limit, e.candidate.title)
    assert all(m.removesuffix("</i>").endswith(f"{i}/{len(messages)}") for i, m in enumerate(messages, 1))


def test_slack_blocks_respect_the_block_kit_limits(chat_server, tmp_path, monkeypatch):
    server = chat_server("slack")
    config = setup(tmp_path, monkeypatch, {"study": server})
    post(config, big_digest(120))
    assert len(server.messages) >= 3
    for m in server.messages:
        assert len(m["blocks"]) <= 50
        assert sum(len(json.dumps(b, ensure_ascii=False)) for b in m["blocks"]) < 16_000
        assert m["unfurl_links"] is False
        assert m["blocks"][0]["type"] == "header" or m is not server.messages[0]
    assert server.messages[0]["blocks"][0]["text"]["text"] == "데일리 트렌드 — 2025-10-14 (화)"


@pytest.mark.parametrize(
    ("kind", "raw", "shown"),
    [
        ("slack", "<script>", "&lt;script&gt;"),
        ("discord", "<script>", "\\<script\\>"),
        ("telegram", "<script>", "&lt;script&gt;"),
    ],
)
def test_hostile_titles_stay_text(kind, raw, shown, chat_server, tmp_path, monkeypatch):
    server = chat_server(kind)
    config = setup(tmp_path, monkeypatch, {"study": server})
    d = fixed_digest()
    evil = entry(
        "2510.09999",
        "<!channel> @everyone [click](https://evil.example) *bold* " + HOSTILE_TITLE,
        "<b>태그</b> & 기호",
        ("llm",),
        url="javascript:alert(1)",
    )
    post(config, dataclasses.replace(d, entries=[evil, *d.entries]))
    joined = "\n".join(texts(server))
    assert raw not in joined and shown in joined
    assert "javascript:" not in joined
    if kind == "slack":
        assert "<!channel>" not in joined  # would notify the whole channel
    if kind == "discord":
        assert all(m["allowed_mentions"] == {"parse": []} for m in server.messages)
        assert "\\[click\\]" in joined  # no masked link smuggled in


def test_the_post_round_trips_through_its_archive_json():
    p = daily_post(big_digest(5))
    assert from_json(to_json(p)) == p


# -- once per (day, channel) --------------------------------------------------------------------


def test_posted_once_per_day_and_channel(chat_server, tmp_path, monkeypatch):
    servers = {
        "slack-study": chat_server("slack"),
        "discord-study": chat_server("discord"),
        "tg": chat_server("telegram"),
    }
    config = setup(tmp_path, monkeypatch, servers)

    first = post(config)
    again = post(config)

    assert {o.status for o in first} == {"sent"}
    assert {o.status for o in again} == {"skipped"}
    parts = {o.channel: o.parts for o in first}
    assert [len(s.posts) for s in servers.values()] == list(parts.values())
    assert parts["discord-study"] == 2  # 2,000 characters are not enough for this day
    assert rows(config) == {n: ("sent", parts[n], parts[n]) for n in servers}
    assert (config.state_path / "archive" / "2025-10-14.post.json").is_file()
    # --force posts again
    assert {o.status for o in post(config, force=True)} == {"sent"}
    assert [len(s.posts) for s in servers.values()] == [2 * n for n in parts.values()]


def test_the_weekly_roundup_goes_to_weekly_channels_only(chat_server, tmp_path, monkeypatch):
    a, b = chat_server("discord"), chat_server("slack")
    config = setup(tmp_path, monkeypatch, {"a": a, "b": b})
    config = config.model_copy(
        update={
            "channels": {
                "a": config.channels["a"],
                "b": config.channels["b"].model_copy(update={"weekly": False}),
            }
        }
    )
    with State.open(config.state_path) as state:
        out = asyncio.run(
            send_week_channels(
                config, state, fixed_week(), progress=Progress(quiet=True), retry=ChatRetry(sleep=Sleeps())
            )
        )
        rows_ = state.channel_posts()
    assert [(o.channel, o.status, o.weekly) for o in out] == [("a", "sent", True)]
    assert b.received == []
    assert "주간 정리 — 2026-02-02 (월) \\~ 02-06 (금)" in a.messages[0]["content"]  # "~" is strikethrough
    assert [(r.channel, r.weekly, r.day.isoformat()) for r in rows_] == [("a", True, "2026-02-02")]
    # The trend lines in a code block, the sparkline's blank for Monday (no numbers) kept in its place.
    assert "```\nLLM  ▅▆█▇ 560편 (+4%) →\n멀티모달  ▅▆█▇ 230편 (+41%) ▲\n" in a.messages[0]["content"]
    assert (config.state_path / "archive" / "week-2026-W06.post.json").is_file()


# -- retries and rate limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "limited", "wait"),
    [
        ("slack", Reply(429, "rate_limited", {"Retry-After": "7"}), 7.0),
        (
            "discord",
            Reply(
                429,
                {"message": "You are being rate limited.", "retry_after": 1.5, "global": False},
                {"Retry-After": "2"},
            ),
            1.5,
        ),
        (
            "telegram",
            Reply(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 5",
                    "parameters": {"retry_after": 5},
                },
            ),
            5.0,
        ),
    ],
)
def test_429_waits_as_long_as_the_channel_asks(kind, limited, wait, chat_server, tmp_path, monkeypatch):
    server = chat_server(kind)
    server.script(limited)
    config = setup(tmp_path, monkeypatch, {"study": server})
    sleeps = Sleeps()
    [o] = post(config, sleeps=sleeps)
    assert o.status == "sent" and o.attempts == o.parts + 1
    assert sleeps.waits == [wait]
    assert len(server.messages) == o.parts


def test_a_retry_after_past_the_cap_leaves_the_post_pending(chat_server, tmp_path, monkeypatch):
    server = chat_server("slack")
    server.script(Reply(429, "rate_limited", {"Retry-After": "3600"}))
    config = setup(tmp_path, monkeypatch, {"study": server})
    sleeps = Sleeps()
    [o] = post(config, sleeps=sleeps)
    assert o.status == "pending" and "3600" in o.error
    assert sleeps.waits == [] and len(server.posts) == 1


def test_a_failed_part_is_resumed_after_the_last_accepted_one(chat_server, tmp_path, monkeypatch):
    server = chat_server("telegram")
    config = setup(tmp_path, monkeypatch, {"tg": server})
    d = big_digest(60)
    calls = {"n": 0}

    def first_then_down(r):  # the first message goes through, then the API is down for every try
        calls["n"] += 1
        return server._telegram(r) if calls["n"] == 1 else Reply(502, "<html>Bad Gateway</html>")

    server.script(*([first_then_down] * 4))
    [o] = post(config, d)
    assert o.status == "pending" and o.parts_sent == 1 and o.parts > 2
    assert rows(config)["tg"] == ("pending", 1, o.parts)
    assert len(server.messages) == 1

    [again] = pending(config)
    assert again.status == "sent", again.describe()
    assert len(server.messages) == o.parts  # each message exactly once
    firsts = [m["text"].splitlines()[0] for m in server.messages]
    assert len(set(firsts)) == len(firsts)
    assert rows(config)["tg"] == ("sent", o.parts, o.parts)
    assert pending(config) == []


# -- permanent failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "dead", "fix"),
    [
        ("slack", Reply(404, "no_service"), "Incoming Webhook"),
        ("slack", Reply(410, "channel_is_archived"), "archived"),
        ("discord", Reply(404, {"message": "Unknown Webhook", "code": 10015}), "New Webhook"),
        (
            "telegram",
            Reply(
                403,
                {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was kicked from the supergroup chat",
                },
            ),
            "add the bot",
        ),
        (
            "telegram",
            Reply(
                400,
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: group chat was upgraded to a supergroup chat",
                    "parameters": {"migrate_to_chat_id": -100987},
                },
            ),
            'chat_id = "-100987"',
        ),
    ],
)
def test_a_dead_channel_is_reported_once_with_the_fix_and_blocks_no_other(
    kind, dead, fix, chat_server, tmp_path, monkeypatch
):
    broken, fine = chat_server(kind), chat_server("discord" if kind != "discord" else "slack")
    broken.script(*([dead] * 10))
    config = setup(tmp_path, monkeypatch, {"broken": broken, "fine": fine})
    sleeps = Sleeps()

    out = {o.channel: o for o in post(config, sleeps=sleeps)}

    assert out["fine"].status == "sent"
    assert out["broken"].status == "failed" and fix in out["broken"].describe()
    assert len(broken.posts) == 1 and sleeps.waits == []  # not retried: it cannot help
    # The next run does not knock again, and says why.
    again = {o.channel: o for o in post(config)}
    assert again["broken"].status == "failed" and len(broken.posts) == 1
    assert "refused for good earlier" in again["broken"].error
    assert pending(config) == []


def test_a_new_webhook_after_a_permanent_failure_is_tried_again(chat_server, tmp_path, monkeypatch):
    old, new = chat_server("discord"), chat_server("discord")
    old.script(*([Reply(404, {"message": "Unknown Webhook", "code": 10015})] * 3))
    config = setup(tmp_path, monkeypatch, {"study": old})
    assert post(config)[0].status == "failed"
    monkeypatch.setenv(ENV["discord"], new.webhook_url)
    [o] = post(config)
    assert o.status == "sent" and len(new.messages) == o.parts


# -- slow channels and secrets ---------------------------------------------------------------------


def test_a_slow_channel_is_bounded_and_holds_up_no_other(chat_server, tmp_path, monkeypatch):
    slow, fast = chat_server("slack"), chat_server("telegram")
    slow.script(*([Reply(200, "ok", delay=1.5)] * 3))
    config = setup(tmp_path, monkeypatch, {"slow": slow, "fast": fast}, timeout_seconds=0.2)
    out = {o.channel: o for o in post(config)}
    assert out["fast"].status == "sent"
    assert out["slow"].status == "pending" and "timed out after 0.2s" in out["slow"].error
    assert out["slow"].attempts == 3 and len(slow.posts) == 3


def echo_path(r):
    """A proxy in front of the API that names the request's path in its error (nginx, a local Bot API)."""
    return Reply(502, f"<html><body>502 Bad Gateway: upstream failed for {r.path}</body></html>")


def test_secrets_never_show_in_messages_rows_or_logs(chat_server, tmp_path, monkeypatch, capsys):
    servers = {"s": chat_server("slack"), "d": chat_server("discord"), "t": chat_server("telegram")}
    for s in servers.values():
        s.script(*([echo_path] * 3))
    config = setup(tmp_path, monkeypatch, servers)
    out = post(config, progress=Progress())
    shown = "\n".join(o.describe() for o in out) + capsys.readouterr().err
    with sqlite3.connect(config.state_path / "digest.sqlite3") as db:
        shown += repr(db.execute("select * from channel_posts").fetchall())
    assert {o.status for o in out} == {"pending"}
    assert "upstream failed for" in shown and "[$STUDY_TELEGRAM_TOKEN]" in shown
    for secret in SECRETS:
        assert secret not in shown
        for piece in re.split(r"[/:]", secret):
            assert len(piece) < 12 or piece not in shown


# -- config and setup -------------------------------------------------------------------------------


def test_channels_config_names_the_problem():
    with pytest.raises(ConfigError, match=r"channels\.study: .*url_env"):
        parse_config({"channels": {"study": {"kind": "slack"}}})
    with pytest.raises(ConfigError, match="chat_id"):
        parse_config({"channels": {"tg": {"kind": "telegram", "token_env": "X", "chat_id": "my group"}}})
    with pytest.raises(ConfigError, match="did you mean `url_env`"):
        parse_config({"channels": {"study": {"kind": "slack", "url_envv": "X"}}})
    with pytest.raises(ConfigError, match="kind"):
        parse_config({"channels": {"study": {"kind": "teams", "url_env": "X"}}})
    c = parse_config({"channels": {"study": {"kind": "discord", "url_env": "X", "weekly": False}}})
    assert c.channels["study"].weekly is False


def test_send_needs_somewhere_to_send_and_every_secret_set(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="nothing to send to"):
        check_sendable_any(Config())
    config = Config(channels={"study": Channel(kind="slack", url_env="NOT_SET_HERE")})
    with pytest.raises(ConfigError, match="NOT_SET_HERE is not set"):
        check_sendable_any(config)
    monkeypatch.setenv("NOT_SET_HERE", "hooks.slack.com/services/x")
    with pytest.raises(ConfigError, match=r"does not hold a webhook URL") as e:
        check_sendable_any(config)
    assert "hooks.slack.com/services/x" not in str(e.value)


def test_cli_demo_posts_to_a_channel_with_email_off(chat_server, tmp_path, monkeypatch):
    server = chat_server("discord")
    monkeypatch.setenv("STUDY_DISCORD_URL", server.webhook_url)
    (tmp_path / "digest.toml").write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        '[channels.study]\nkind = "discord"\nurl_env = "STUDY_DISCORD_URL"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["now", "--demo", "--send", "--config", str(tmp_path / "digest.toml")])
    assert result.exit_code == 0, result.output
    assert server.messages and "\\[샘플\\] 데일리 트렌드" in server.messages[0]["content"]
    assert DISCORD_TOKEN not in result.output


def test_cli_check_probes_each_channel_without_posting(chat_server, tmp_path, monkeypatch):
    servers = {"s": chat_server("slack"), "d": chat_server("discord"), "t": chat_server("telegram")}
    dead = chat_server("discord")
    dead.script(Reply(404, {"message": "Unknown Webhook", "code": 10015}))
    for name, s in servers.items():
        monkeypatch.setenv(f"CHECK_{name.upper()}", TELEGRAM_TOKEN if s.kind == "telegram" else s.webhook_url)
    monkeypatch.setenv("CHECK_DEAD", dead.webhook_url)
    toml = (
        f'state_dir = "{tmp_path / "state"}"\n'
        + "".join(
            f'[channels.{n}]\nkind = "{s.kind}"\n'
            + (
                f'token_env = "CHECK_T"\nchat_id = "{TELEGRAM_CHAT}"\napi_url = "{s.url}"\n'
                if s.kind == "telegram"
                else f'url_env = "CHECK_{n.upper()}"\n'
            )
            for n, s in servers.items()
        )
        + '[channels.dead]\nkind = "discord"\nurl_env = "CHECK_DEAD"\n'
    )
    (tmp_path / "digest.toml").write_text(toml, encoding="utf-8")
    from digest.check import check_all

    config = parse_config(tomllib.loads(toml))
    probes = {p.name: p for p in asyncio.run(check_all(config, None, timeout=2))}
    assert probes["slack s"].ok and "nothing posted" in probes["slack s"].detail
    assert probes["discord d"].ok and "'digest'" in probes["discord d"].detail
    assert probes["telegram t"].ok and "@digest_study_bot" in probes["telegram t"].detail
    assert probes["discord dead"].ok is False and "New Webhook" in probes["discord dead"].detail
    assert all(s.messages == [] for s in servers.values())  # nothing was posted
    text = "\n".join(f"{p.detail} {p.target}" for p in probes.values())
    assert all(secret not in text for secret in SECRETS)


def test_an_existing_state_database_gains_the_posts_table(tmp_path):
    import shutil

    src = Path(__file__).parent / "fixtures" / "state" / "release-b56a1ec.sqlite3"
    (tmp_path / "s").mkdir()
    shutil.copy(src, tmp_path / "s" / "digest.sqlite3")
    with State.open(tmp_path / "s") as state:
        before = len(state.deliveries())
        state.record_channel_post(fixed_digest().day, "study", "pending", parts_sent=1, parts=3, attempts=2)
        state.record_channel_post(fixed_digest().day, "study", "sent", parts_sent=3, parts=3, attempts=1)
        [row] = state.channel_posts()
    assert (row.status, row.parts_sent, row.attempts) == ("sent", 3, 3)
    with State.open(tmp_path / "s") as state:
        assert len(state.deliveries()) == before  # the old rows are kept


def test_fallback_lines_are_marked_in_every_channel(chat_server, tmp_path, monkeypatch):
    servers = {"s": chat_server("slack"), "d": chat_server("discord"), "t": chat_server("telegram")}
    config = setup(tmp_path, monkeypatch, servers)
    post(config)
    d = fixed_digest()
    assert any(e.takeaway.status == TakeawayStatus.FALLBACK for e in d.entries)
    for s in servers.values():
        assert "⚠️ 요약 대체" in "\n".join(texts(s))
    assert TOPICS  # the groups' labels are the topics'


def test_cli_send_pending_posts_what_an_outage_left(chat_server, tmp_path, monkeypatch):
    server = chat_server("telegram")
    server.script(*([Reply(503, {"ok": False, "error_code": 503, "description": "Service Unavailable"})] * 3))
    config = setup(tmp_path, monkeypatch, {"tg": server})
    assert post(config)[0].status == "pending"
    toml = tmp_path / "digest.toml"
    toml.write_text(
        f'state_dir = "{config.state_dir}"\n[channels.tg]\nkind = "telegram"\n'
        f'token_env = "STUDY_TELEGRAM_TOKEN"\nchat_id = "{TELEGRAM_CHAT}"\napi_url = "{server.url}"\n',
        encoding="utf-8",
    )
    server.script(Reply(404, {"ok": False, "error_code": 404, "description": "Not Found"}))  # still broken
    failed = CliRunner().invoke(cli, ["send", "--pending", "--config", str(toml)])
    assert failed.exit_code == 1
    assert "not posted to 1 of 1 chat channel(s)" in failed.output and TELEGRAM_TOKEN not in failed.output
    assert "Traceback" not in failed.output
    # a 404 from the Bot API is a wrong token: refused for good, and `send --pending` has nothing left
    assert rows(config)["tg"][0] == "failed"
    monkeypatch.setenv("STUDY_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
    assert CliRunner().invoke(cli, ["send", "--pending", "--config", str(toml)]).exit_code == 0
    assert server.messages == []


def test_cli_send_pending_resends_from_the_archive(chat_server, tmp_path, monkeypatch):
    server = chat_server("discord")
    server.script(*([Reply(500, {"message": "500: Internal Server Error", "code": 0})] * 3))
    config = setup(tmp_path, monkeypatch, {"study": server})
    [first] = post(config)
    assert first.status == "pending"
    toml = tmp_path / "digest.toml"
    toml.write_text(
        f'state_dir = "{config.state_dir}"\n'
        '[channels.study]\nkind = "discord"\nurl_env = "STUDY_DISCORD_URL"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["send", "--pending", "--config", str(toml)])
    assert result.exit_code == 0, result.output
    assert len(server.messages) == first.parts
    assert rows(config)["study"][0] == "sent"


def test_digest_config_shows_whether_each_secret_is_set_never_its_value(monkeypatch):
    from digest._compat import tomllib
    from digest.config import dump_toml, masked_dump

    monkeypatch.setenv("STUDY_SLACK", f"https://hooks.slack.com/services/{SLACK_KEY}")
    c = parse_config({"channels": {
        "study": {"kind": "slack", "url_env": "STUDY_SLACK"},
        "tg": {"kind": "telegram", "token_env": "STUDY_TG", "chat_id": "@study_channel"},
    }})  # fmt: skip
    text = dump_toml(c)
    assert parse_config(tomllib.loads(text)) == c  # loads back unchanged
    assert "# webhook URL: set (masked) ($STUDY_SLACK)" in text and "# bot token: not set ($STUDY_TG)" in text
    assert SLACK_KEY not in text and SLACK_KEY not in json.dumps(masked_dump(c))


def test_status_names_pending_and_refused_chat_posts(chat_server, tmp_path, monkeypatch):
    from datetime import datetime

    from digest.service.schedule import status_report

    dead, slow = chat_server("discord"), chat_server("slack")
    dead.script(*([Reply(404, {"message": "Unknown Webhook", "code": 10015})] * 3))
    slow.script(*([Reply(503, "service unavailable")] * 3))
    config = setup(tmp_path, monkeypatch, {"dead": dead, "slow": slow})
    post(config)
    with State.open(config.state_path) as state:
        report = status_report(config, state, datetime(2025, 10, 14, 12, tzinfo=config.tz))
    assert "pending chat posts: 1: slow (2025-10-14) (`digest send --pending`)" in report
    assert "failed chat posts: 1: dead (2025-10-14: HTTP 404 Unknown Webhook (code 10015))" in report
