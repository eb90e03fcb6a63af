"""The configuration: a TOML file validated into typed, frozen objects with built-in defaults.

Where the file comes from, in order: ``--config``, ``$DIGEST_CONFIG``, ``./digest.toml``,
``<user config dir>/digest.toml``; with none of them the built-in defaults are used as they are.
Secrets never live in the file: it names the environment variables that hold them.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._compat import tomllib
from .cron import crontab_trigger
from .errors import ConfigError

ENV_CONFIG = "DIGEST_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Schedule(_Section):
    cron: str = "30 10 * * 1-5"
    # APScheduler's own default is 1 s, which silently drops a run that starts late.
    misfire_grace_seconds: Annotated[int, Field(ge=1)] = 3600

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        # The scheduler's own parser: APScheduler's from_crontab numbers weekdays from Monday.
        try:
            crontab_trigger(v, ZoneInfo("UTC"))
        except ValueError as e:
            raise ValueError(f"not a valid crontab expression ({e})") from None
        return v


class Selection(_Section):
    max_items: Annotated[int, Field(ge=1, le=100)] = 10
    max_per_topic: Annotated[int, Field(ge=1, le=100)] = 4
    lookback_hours: Annotated[int, Field(ge=1, le=24 * 14)] = 48
    include_replacements: bool = False  # arXiv "replace" announcements are old papers


class Topic(_Section):
    label: str
    keywords: list[str]
    exclude: list[str] = []

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, v: list[str]) -> list[str]:
        v = [k.strip() for k in v if k.strip()]
        if not v:
            raise ValueError("needs at least one keyword")
        return v


class Arxiv(_Section):
    enabled: bool = True
    categories: list[str] = ["cs.CL", "cs.LG", "cs.CV", "cs.AI"]
    rss_url: str = "https://rss.arxiv.org/rss/"
    api_url: str = "https://export.arxiv.org/api/query"
    search: bool = True
    # arXiv asks for one API request every 3 s: less is refused, not silently raised.
    api_delay_seconds: Annotated[float, Field(ge=3.0)] = 3.1
    api_max_results: Annotated[int, Field(ge=1, le=2000)] = 200

    @property
    def listing_url(self) -> str:
        return self.rss_url + "+".join(self.categories)


class HuggingFace(_Section):
    enabled: bool = True
    url: str = "https://huggingface.co/api/daily_papers"


class Feed(_Section):
    name: str
    url: str
    enabled: bool = True


RESPONSE_FORMATS = ("json_schema", "json_object", "text")

# Defaults per kind of endpoint, for keys the file leaves out. A hosted API answers a batch of 8 in seconds
# and takes several requests at once; a server on this machine or network (Ollama, llama.cpp, vLLM on a
# laptop) usually has one slot, reads ~100 prompt tokens/s on a CPU and writes best one item at a time.
HOSTED_DEFAULTS: dict[str, Any] = {"batch_size": 8, "concurrency": 3, "timeout_seconds": 90.0}
LOCAL_DEFAULTS: dict[str, Any] = {"batch_size": 1, "concurrency": 1, "timeout_seconds": 180.0}


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine or the local network (a dotless name: a Docker service)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host or host.endswith((".local", ".lan", ".internal", ".localhost", ".home.arpa"))
    return ip.is_loopback or ip.is_private or ip.is_link_local


class LLM(_Section):
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    # Unset, these three take HOSTED_DEFAULTS or LOCAL_DEFAULTS by base_url (see _endpoint_defaults).
    batch_size: Annotated[int, Field(ge=1, le=50)] = HOSTED_DEFAULTS["batch_size"]
    concurrency: Annotated[int, Field(ge=1, le=16)] = HOSTED_DEFAULTS["concurrency"]
    timeout_seconds: Annotated[float, Field(gt=0)] = HOSTED_DEFAULTS["timeout_seconds"]
    # The whole LLM stage of one run; what is not written by then gets marked fallbacks and the digest ships.
    deadline: Annotated[float, Field(gt=0)] = 480.0
    # A takeaway is at most ~160 characters: 70–100 tokens of Korean with its JSON (about two characters a
    # token), so 120 leaves room for a 200-character line and stops a model that runs away. Raise it for a
    # reasoning model, whose hidden reasoning counts against it.
    max_tokens_per_item: Annotated[int, Field(ge=50, le=32_000)] = 120
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    temperature: Annotated[float, Field(ge=0, le=2)] | None = 0.2
    # The best format to ask for first. A server that rejects it gets the next one (json_schema → json_object
    # → text, a plain instruction to answer JSON); what it accepts is remembered per base_url + model.
    response_format: Literal["json_schema", "json_object", "text"] = "json_schema"

    @model_validator(mode="before")
    @classmethod
    def _endpoint_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and is_local_url(str(data.get("base_url", ""))):
            data = {**{k: v for k, v in LOCAL_DEFAULTS.items() if k not in data}, **data}
        return data

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

    @property
    def local(self) -> bool:
        return is_local_url(self.base_url)


class Email(_Section):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    enabled: bool = False
    from_: str = Field("digest@example.com", alias="from")
    to: list[str] = ["me@example.com"]
    reply_to: str = ""
    smtp_host: str = "smtp.example.com"
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password_env: str = "DIGEST_SMTP_PASSWORD"
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0

    @property
    def password(self) -> str | None:
        return os.environ.get(self.password_env) or None


class Markdown(_Section):
    enabled: bool = True
    dir: str = ""  # empty: no daily-log note is written
    filename: str = "{date}.md"


class HTTP(_Section):
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    max_bytes: Annotated[int, Field(ge=1024)] = 20_000_000
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    user_agent: str = "digest/0.1 (daily AI paper digest; python-httpx2)"


DEFAULT_TOPICS: dict[str, Topic] = {
    "llm": Topic(label="LLM", keywords=["large language model", "LLM", "language model"]),
    "multimodal": Topic(
        label="멀티모달",
        keywords=["multimodal", "vision-language", "VLM", "MLLM", "text-to-image", "audio-language"],
    ),
    "dpo": Topic(
        label="DPO·정렬",
        keywords=["direct preference optimization", "DPO", "preference optimization", "RLHF", "reward model"],
    ),
    "mamba": Topic(
        label="Mamba·SSM",
        keywords=["Mamba", "SAMBA", "state space model", "state-space model", "SSM"],
        exclude=["conda", "micromamba", "Samba server", "SMB"],
    ),
}

# Research blogs with real RSS/Atom feeds.
DEFAULT_FEEDS: list[Feed] = [
    Feed(name="Hugging Face Blog", url="https://huggingface.co/blog/feed.xml"),
    Feed(name="OpenAI News", url="https://openai.com/news/rss.xml"),
    Feed(name="Google Research", url="https://research.google/blog/rss/"),
    Feed(name="Google DeepMind", url="https://deepmind.google/blog/rss.xml"),
    Feed(name="BAIR Blog", url="https://bair.berkeley.edu/blog/feed.xml"),
    Feed(name="Lil'Log", url="https://lilianweng.github.io/index.xml"),
    Feed(name="Microsoft Research", url="https://www.microsoft.com/en-us/research/feed/"),
    Feed(name="Sebastian Raschka", url="https://magazine.sebastianraschka.com/feed"),
]


class Config(_Section):
    timezone: str = "Asia/Seoul"
    language: Literal["ko"] = "ko"
    state_dir: str = str(platformdirs.user_data_path("digest"))
    schedule: Schedule = Schedule()
    selection: Selection = Selection()
    topics: dict[str, Topic] = DEFAULT_TOPICS
    arxiv: Arxiv = Arxiv()
    huggingface: HuggingFace = HuggingFace()
    feeds: list[Feed] = DEFAULT_FEEDS
    llm: LLM = LLM()
    email: Email = Email.model_validate({})
    markdown: Markdown = Markdown()
    http: HTTP = HTTP()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r} (use an IANA name such as 'Asia/Seoul')") from None
        return v

    @field_validator("topics")
    @classmethod
    def _topics(cls, v: dict[str, Topic]) -> dict[str, Topic]:
        if not v:
            raise ValueError("needs at least one topic")
        return v

    @model_validator(mode="after")
    def _email_needs(self) -> Config:
        if self.email.enabled and not self.email.to:
            raise ValueError("email.to: needs at least one recipient when email is enabled")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).expanduser()

    @property
    def notes_dir(self) -> Path | None:
        return Path(self.markdown.dir).expanduser() if self.markdown.dir else None


def user_config_path() -> Path:
    return platformdirs.user_config_path("digest") / "digest.toml"


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    """The file to load, by the documented precedence; None means built-in defaults."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        return path
    env = os.environ.get(ENV_CONFIG)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: config file named by ${ENV_CONFIG} not found")
        return path
    for path in (Path("digest.toml"), user_config_path()):
        if path.is_file():
            return path
    return None


def _format_error(source: str, err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"] if p not in ("function-after",))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
    where = f"{source}: {loc}" if loc else source
    return f"{where}: {msg}"


def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    """Validate a parsed TOML document; every problem is named by its dotted key."""
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        lines = [_format_error(source, err) for err in e.errors()]
        raise ConfigError("\n".join(lines)) from None


def load_config(
    path: str | Path | None = None, *, require_secrets: bool = False
) -> tuple[Config, Path | None]:
    """Find, read and validate the configuration. Returns it with the file it came from."""
    found = find_config_file(path)
    if found is None:
        config = Config()
    else:
        try:
            data = tomllib.loads(found.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{found}: not valid TOML: {e}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{found}: cannot read: {e}") from None
        config = parse_config(data, str(found))
    if require_secrets:
        check_secrets(config)
    return config, found


def check_secrets(config: Config, *, email: bool = False) -> None:
    """A needed secret that is missing from the environment is a config error."""
    if email and config.email.enabled and config.email.username and not config.email.password:
        raise ConfigError(
            f"email.password_env: environment variable {config.email.password_env} is not set "
            f"(needed for SMTP AUTH as {config.email.username!r})"
        )


def masked_dump(config: Config) -> dict[str, Any]:
    """The effective configuration, with each secret's presence shown but never its value."""
    data = config.model_dump(by_alias=True)
    data["llm"]["api_key"] = "set (masked)" if config.llm.api_key else f"not set (${config.llm.api_key_env})"
    data["email"]["password"] = (
        "set (masked)" if config.email.password else f"not set (${config.email.password_env})"
    )
    return data
