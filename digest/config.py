"""The configuration: a TOML file validated into typed, frozen objects with built-in defaults.

Where the file comes from, in order: ``--config``, ``$DIGEST_CONFIG``, ``./digest.toml``,
``<user config dir>/digest.toml``; with none of them the built-in defaults are used as they are.
Secrets never live in the file: it names the environment variables that hold them.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ._compat import tomllib
from .cron import crontab_trigger
from .errors import ConfigError
from .redact import MASK, redact_url

ENV_CONFIG = "DIGEST_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _http_url(v: str) -> str:
    # Checked at load so a typo is named by its key, not found at 10:30 as a source failure.
    parts = urlsplit(v.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {v!r}")
    return v.strip()


HttpURL = Annotated[str, AfterValidator(_http_url)]


def _nonblank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty")
    return v.strip()


_ADDR_SPEC = re.compile(r"[^@\s]+@[^@\s]+")


def _address(v: str) -> str:
    # Checked at load: a line break would start another header, and a typo would be found only at send.
    v = v.strip()
    found = getaddresses([v])  # "a@x.com, b@y.com" is two: each belongs in the list on its own
    if any(ch in v for ch in "\r\n") or len(found) != 1 or not _ADDR_SPEC.fullmatch(found[0][1]):
        raise ValueError(f"not an email address: {v!r}")
    return v


Address = Annotated[str, AfterValidator(_address)]


def _one_or_list(v: object) -> object:
    """``to = "me@example.com"``: one address needs no list around it."""
    return [v] if isinstance(v, str) else v
# The NAME of an environment variable, as a shell exports it. A secret pasted in its place (``sk-…``) is not
# one; the few token formats that are (``ghp_…``, ``hf_…``) and long mixed-case random strings are refused
# too, since a secret must never sit in the file, and the error does not repeat the value.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(
    r"(?:(?:sk|rk|pk)[-_]|gh[pousr]_|github_pat_|hf_|glpat-|xox[abposr]-|AKIA|AIza|ya29\.)[\w.-]{16,}"
)


def looks_like_secret(v: str) -> bool:
    """A value that is a credential, not the name of the variable that holds it."""
    v = v.strip()
    if _TOKEN.fullmatch(v):
        return True
    # Random characters switch between lower case, upper case and digits at most steps (about 60% for
    # base62); a name, even in CamelCase with a year (MyProjectKey2024), switches far less often.
    kinds = ["l" if c.islower() else "u" if c.isupper() else "d" if c.isdigit() else "o" for c in v]
    switches = sum(1 for a, b in zip(kinds, kinds[1:], strict=False) if a != b)
    return len(v) >= 20 and switches >= (len(v) - 1) / 2


def _env_name(v: str, info: ValidationInfo) -> str:
    v = v.strip()
    default = _ENV_DEFAULTS.get(info.field_name or "", "MY_SECRET")
    if looks_like_secret(v) or (v and not _ENV_NAME.fullmatch(v) and len(v) >= 16):
        raise ValueError(
            "this looks like a secret, not the name of an environment variable (the value is not shown). "
            f"Secrets come only from the environment: remove it from the file, set {default}=... in the "
            f'environment, and write {info.field_name} = "{default}"'
        )
    if v and not _ENV_NAME.fullmatch(v):  # empty: no variable, so no key (a local server needs none)
        raise ValueError(
            f"not an environment variable name (letters, digits and _, like {default}); "
            "secrets come only from the environment"
        )
    return v


_ENV_DEFAULTS = {"api_key_env": "OPENAI_API_KEY", "password_env": "DIGEST_SMTP_PASSWORD"}
EnvName = Annotated[str, AfterValidator(_env_name)]

# An arXiv category as the listing and the API write it: cs.CL, stat.ML, eess.AS, q-bio.NC, hep-th.
ARXIV_CATEGORY = re.compile(r"[a-z][a-z-]*(?:\.[A-Za-z][A-Za-z-]*)?")


def _category(v: str) -> str:
    v = v.strip()
    if not ARXIV_CATEGORY.fullmatch(v):
        raise ValueError(f"not an arXiv category (like 'cs.CL'): {v!r}")
    return v


_DURATION = re.compile(r"(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?")


def parse_duration(v: object) -> int:
    """Seconds from ``7200``, ``"2h"``, ``"90m"``, ``"1h30m"`` or ``"45s"``."""
    if isinstance(v, bool):
        raise ValueError('a duration like "2h", "30m" or a number of seconds')
    if isinstance(v, int):
        if v < 0:
            raise ValueError("must not be negative")
        return v
    if isinstance(v, str):
        text = v.strip().lower()
        if text.isdigit():
            return int(text)
        m = _DURATION.fullmatch(text)
        if text and m and any(m.groups()):
            return int(m["h"] or 0) * 3600 + int(m["m"] or 0) * 60 + int(m["s"] or 0)
    raise ValueError(f'{v!r} is not a duration like "2h", "30m", "1h30m" or a number of seconds')


def format_duration(seconds: int) -> str:
    """The shortest spelling :func:`parse_duration` reads back: 7200 → "2h", 5400 → "1h30m"."""
    if seconds == 0:
        return "0"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((h, "h"), (m, "m"), (s, "s")) if n)


Duration = Annotated[int, BeforeValidator(parse_duration), PlainSerializer(format_duration)]


class Schedule(_Section):
    cron: str = "30 10 * * 1-5"
    # APScheduler's own default is 1 s, which silently drops a run that starts late.
    misfire_grace_seconds: Annotated[int, Field(ge=1)] = 3600
    # How long a scheduled run keeps the digest pending while the LLM cannot be reached (a local
    # model still being pulled, a server restarting) before it sends with marked fallbacks. 0: never wait.
    llm_wait: Duration = 2 * 3600
    # The weekly roundup (`digest week --send`), e.g. "0 9 * * 6" (Saturday 09:00); "" = off.
    weekly_cron: str = ""

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        # The scheduler's own parser: APScheduler's from_crontab numbers weekdays from Monday.
        try:
            crontab_trigger(v, ZoneInfo("UTC"))
        except ValueError as e:
            raise ValueError(f"not a valid crontab expression ({e})") from None
        return v

    @field_validator("weekly_cron")
    @classmethod
    def _weekly_cron(cls, v: str) -> str:
        return cls._cron(v) if v.strip() else ""


class Week(_Section):
    """The weekly roundup (`digest week`)."""

    max_items: Annotated[int, Field(ge=1, le=20)] = 8  # the week's most important papers
    max_per_topic: Annotated[int, Field(ge=1, le=10)] = 2


class Selection(_Section):
    max_items: Annotated[int, Field(ge=1, le=100)] = 10
    max_per_topic: Annotated[int, Field(ge=1, le=100)] = 4
    lookback_hours: Annotated[int, Field(ge=1, le=24 * 14)] = 48
    include_replacements: bool = False  # arXiv "replace" announcements are old papers


class Topic(_Section):
    label: str
    keywords: list[str]
    exclude: list[str] = []

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        # The label heads a section, a table row and the mail subject: one line, not empty.
        v = _nonblank(v)
        if any(not ch.isprintable() for ch in v):
            raise ValueError(f"must be one line of printable text: {v!r}")
        return v

    @field_validator("keywords", "exclude")
    @classmethod
    def _terms(cls, v: list[str], info: ValidationInfo) -> list[str]:
        v = [k.strip() for k in v if k.strip()]
        for k in v:
            # A keyword without a letter or digit ("*", "((") would match punctuation, not a word.
            if not any(ch.isalnum() for ch in k):
                raise ValueError(f"{k!r} has no letter or digit: a keyword is a word or phrase")
        if not v and info.field_name == "keywords":
            raise ValueError("needs at least one keyword")
        return v


class Arxiv(_Section):
    enabled: bool = True
    categories: list[Annotated[str, AfterValidator(_category)]] = ["cs.CL", "cs.LG", "cs.CV", "cs.AI"]
    rss_url: HttpURL = "https://rss.arxiv.org/rss/"
    api_url: HttpURL = "https://export.arxiv.org/api/query"
    search: bool = True
    # arXiv asks for one API request every 3 s: less is refused, not silently raised.
    api_delay_seconds: Annotated[float, Field(ge=3.0)] = 3.1
    api_max_results: Annotated[int, Field(ge=1, le=2000)] = 200

    @property
    def listing_url(self) -> str:
        return self.rss_url + "+".join(self.categories)


class HuggingFace(_Section):
    enabled: bool = True
    url: HttpURL = "https://huggingface.co/api/daily_papers"


class Feed(_Section):
    name: str
    url: HttpURL
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
    base_url: HttpURL = "https://api.openai.com/v1"
    model: Annotated[str, AfterValidator(_nonblank)] = "gpt-4o-mini"
    api_key_env: EnvName = "OPENAI_API_KEY"
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
    from_: Address = Field("digest@example.com", alias="from")
    to: Annotated[list[Address], BeforeValidator(_one_or_list)] = ["me@example.com"]
    reply_to: Annotated[str, AfterValidator(lambda v: _address(v) if v.strip() else "")] = ""
    smtp_host: str = "smtp.example.com"
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password_env: EnvName = "DIGEST_SMTP_PASSWORD"
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    # After an SMTP outage, `digest serve` resends a pending email only while it is at most this many days
    # old (a weekly roundup counts from its Friday); older ones wait for `digest send --pending`, so the
    # service never sends a burst of stale digests. 0: only today's.
    pending_max_days: Annotated[int, Field(ge=0, le=365)] = 1

    @property
    def password(self) -> str | None:
        return os.environ.get(self.password_env) or None


_CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")


class Channel(_Section):
    """One chat destination (docs/channels.md): a Slack or Discord webhook, or a Telegram chat.

    The secret (the webhook URL, whose path is its key, or the bot token) is never in the file: the entry
    names the environment variable that holds it, like [llm] api_key_env.
    """

    kind: Literal["slack", "discord", "telegram"]
    enabled: bool = True
    url_env: str = ""  # slack, discord: the variable holding the webhook URL
    token_env: str = ""  # telegram: the variable holding the bot token
    chat_id: str = ""  # telegram: "-1001234567890" (a group or channel) or "@channelname"
    api_url: HttpURL = "https://api.telegram.org"  # telegram: or a local Bot API server
    daily: bool = True  # the day's digest
    weekly: bool = True  # the weekly roundup
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 15.0  # one request
    # The whole post, rate-limit waits included: what is not posted by then stays pending for the next try.
    deadline_seconds: Annotated[float, Field(gt=0, le=3600)] = 120.0

    @model_validator(mode="after")
    def _destination(self) -> Channel:
        if self.kind == "telegram":
            if not self.token_env.strip():
                raise ValueError("token_env: a telegram channel needs the variable that holds the bot token")
            if not re.fullmatch(r"-?\d+|@[A-Za-z][A-Za-z0-9_]{3,}", self.chat_id.strip()):
                raise ValueError(
                    f"chat_id: {self.chat_id!r} is not a Telegram chat id (-1001234567890) or @channelname"
                )
            if self.url_env:
                raise ValueError("url_env: a telegram channel takes token_env and chat_id, not url_env")
        else:
            if not self.url_env.strip():
                raise ValueError(f"url_env: a {self.kind} channel needs the variable holding its webhook URL")
            if self.token_env or self.chat_id:
                raise ValueError(f"a {self.kind} channel takes url_env only (token_env, chat_id: telegram)")
        return self

    @property
    def secret_env(self) -> str:
        return self.token_env if self.kind == "telegram" else self.url_env

    @property
    def secret(self) -> str | None:
        return os.environ.get(self.secret_env, "").strip() or None


class Markdown(_Section):
    enabled: bool = True
    dir: str = ""  # empty: no daily-log note is written
    filename: str = "{date}.md"


class Site(_Section):
    """The static web archive (`digest site`)."""

    dir: str = ""  # set: `digest serve` rebuilds the site there after each run (empty: only `digest site`)


class Reader(_Section):
    """The reader's own notes as a ranking profile (digest/reader/, docs/reader.md)."""

    enabled: bool = True
    notes: list[str] = []  # folders of the reader's Markdown: "~/blog/_posts", "~/vault/daily"
    include_notes_target: bool = True  # the [markdown] dir digest writes the daily log into
    weight: Annotated[float, Field(ge=0, le=2)] = 0.6  # the largest boost, on the topic-score scale
    half_life_days: Annotated[int, Field(ge=1, le=3650)] = 60  # a note this old counts half
    feedback: bool = True  # learn from what the reader deletes and annotates in the daily-log notes
    feedback_weight: Annotated[float, Field(ge=0, le=1)] = 0.3  # the largest boost (or penalty) from edits
    # Whether the reason line names the note's title ("내 글 2026-01-25 「…」과 가까움") or only its date.
    # "private": where only the reader reads it (the daily-log note, an email to one address); true: also a
    # Jekyll post and an email to several; false: nowhere (digest/reader/privacy.py).
    show_note_titles: Literal[True, False, "private"] = "private"
    watch: bool = True  # news on the papers the notes logged (and `digest watch ID`): 지난 일지 논문 소식

    def folders(self, notes_dir: Path | None) -> list[Path]:
        out = [Path(f).expanduser() for f in self.notes]
        if self.include_notes_target and notes_dir is not None and notes_dir not in out:
            out.append(notes_dir)
        return out


class Render(_Section):
    """What every item shows, in the Markdown and the email alike."""

    show_reason: bool = False  # a short line with the topic terms that picked the item
    # "grouped": under a small heading per topic, as in the email; "flat": one list, the same order.
    markdown_layout: Literal["grouped", "flat"] = "grouped"


class HTTP(_Section):
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    max_bytes: Annotated[int, Field(ge=1024)] = 20_000_000
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    user_agent: str = "digest/0.1 (daily AI paper digest; python-httpx2)"


# Each keyword follows from the topic's definition (docs/configuration.md, "기본 주제"): what the topic
# is, its acronyms and its standard tasks. An acronym with another common sense is still listed when the
# definition names it (ASR): a text that spells it out otherwise ("attack success rate (ASR)") loses its
# hits in the matcher.
DEFAULT_TOPICS: dict[str, Topic] = {
    # Large language models, including multimodal LLMs (MLLM, LVLM) and reasoning LLMs.
    "llm": Topic(
        label="LLM",
        keywords=[
            "large language model", "LLM", "language model", "MLLM", "LVLM",
            "large vision-language model", "large reasoning model",
        ],
    ),  # fmt: skip
    # Language, audio or video paired with another modality: vision-language models and their tasks,
    # text-to-image/video generation, speech recognition and spoken dialogue, audio-visual models. An LLM
    # named by another modality ("video LLM", "VLLM", "speech LLM") is a multimodal LLM.
    # Sensor fusion inside vision (RGB + thermal/depth, camera + LiDAR) is not multimodal, nor are other
    # modalities without language, audio or video (MRI sequences, physiological signals, omics), nor the
    # word's other senses: a distribution with several modes (statistics, optimisation, sampling, the
    # futures of a trajectory or an action) and transport by several means (corridors, mobility).
    "multimodal": Topic(
        label="멀티모달",
        keywords=[
            "multimodal", "vision-language", "vision-and-language", "VLM", "MLLM", "LVLM",
            "image-text", "video-language", "audio-language", "audio-visual", "visual question answering",
            "VQA", "captioning", "visual grounding", "text-to-image", "text-to-video", "text-to-3d",
            "text-to-motion", "text-to-audio", "text-to-speech", "speech recognition", "speech-to-text",
            "ASR", "spoken dialogue", "spoken language model", "speech language model", "audio-driven",
            "omnimodal", "VLLM", "vision large language model", "visual large language model", "VideoLLM",
            "video LLM", "video large language model", "speech LLM", "audio LLM",
        ],
        exclude=[
            "image fusion", "sensor fusion",
            "multimodal distribution", "multimodal density", "multimodal posterior", "multimodal likelihood",
            "multimodal landscape", "multimodal optimization", "multimodal trajectory", "multimodal future",
            "multimodal action distribution", "multimodal transport", "multimodal transportation",
            "multimodal mobility", "multimodal corridor", "multimodal travel", "multimodal trip",
            "multimodal freight",
            "multimodal sensor", "multimodal remote sensing", "multimodal MRI", "multimodal neuroimaging",
            "multimodal medical imaging", "multimodal image registration", "multimodal physiological",
            "multimodal biosignal", "multimodal omics", "multimodal single-cell",
        ],
    ),  # fmt: skip
    # Preference optimisation: DPO and its variants, RLHF/RLAIF, preference-trained reward models and
    # preference data. Process reward models (step verifiers for reasoning) are not preference models.
    "dpo": Topic(
        label="DPO·정렬",
        keywords=[
            "direct preference optimization", "DPO", "preference optimization", "RLHF", "RLAIF",
            "learning from human feedback", "reward model", "preference alignment",
            "preference tuning", "preference fine-tuning", "preference data", "preference dataset",
            "preference pair", "human preference",
        ],
        # A reward model beside a dynamics model is model-based RL's model of the environment's reward.
        exclude=[
            "process reward model", "dynamics and reward model", "reward and dynamics model",
            "transition and reward model", "reward and transition model",
        ],
    ),  # fmt: skip
    # Selective/structured state-space sequence models (Mamba, S4) and linear-recurrent models like them,
    # named by the family's own names (HiPPO, RWKV, retentive network, xLSTM, DeltaNet, the Legendre memory
    # unit). Not what is written alone too often as something else: "linear recurrence" (maths), "Hyena",
    # "Griffin" (an animal, a name), "RetNet" (retinal networks; "Retentive Network (RetNet)" still makes
    # RetNet this topic's word in that text), "S4D" (a figure panel, "Figure S4D").
    # Classical state-space models (control, statistics) and the RL "state space" are not this topic: the
    # excluded names are the classical models' own ("linear Gaussian", "nonlinear", "switching").
    "mamba": Topic(
        label="Mamba·SSM",
        keywords=[
            "Mamba", "SAMBA", "state space model", "state-space model", "SSM", "selective state space",
            "structured state space", "linear recurrent", "linear RNN", "HiPPO", "RWKV", "retentive network",
            "xLSTM", "DeltaNet", "Legendre memory unit",
        ],
        exclude=[
            "conda", "micromamba", "Samba server", "SMB",
            "Gaussian state space model", "nonlinear state space model", "switching state space model",
        ],
    ),  # fmt: skip
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
    week: Week = Week()
    topics: dict[str, Topic] = DEFAULT_TOPICS
    arxiv: Arxiv = Arxiv()
    huggingface: HuggingFace = HuggingFace()
    feeds: list[Feed] = DEFAULT_FEEDS
    llm: LLM = LLM()
    email: Email = Email.model_validate({})
    channels: dict[str, Channel] = {}
    site: Site = Site()
    markdown: Markdown = Markdown()
    render: Render = Render()
    reader: Reader = Reader()
    http: HTTP = HTTP()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r} (use an IANA name such as 'Asia/Seoul')") from None
        return v

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, v: dict[str, Channel]) -> dict[str, Channel]:
        for name in v:
            if not _CHANNEL_NAME.fullmatch(name):
                raise ValueError(f"{name!r}: a channel's name is letters, digits, - and _ (up to 40)")
        return v

    @field_validator("topics")
    @classmethod
    def _topics(cls, v: dict[str, Topic]) -> dict[str, Topic]:
        if not v:
            raise ValueError("needs at least one topic")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        if self.email.enabled and not self.email.to:
            raise ValueError("email.to: needs at least one recipient when email is enabled")
        if self.arxiv.enabled and not self.arxiv.categories:
            raise ValueError("arxiv.categories: needs at least one category when arxiv is enabled")
        names = [f.name for f in self.feeds]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"feeds: more than one feed named {twice[0]!r} (the footer names sources by it)")
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


def _config_file(path: Path, what: str) -> Path:
    if path.is_dir():
        # `docker run -v ./digest.toml:/config/digest.toml` with no such file on the host creates an
        # empty directory there (and in the container): say so instead of "not found" in a restart loop.
        raise ConfigError(
            f"{path}: {what} is a directory, not a file (a container bind mount of a host file that "
            "does not exist creates a directory: create the file on the host, remove the directory, restart)"
        )
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    return path


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    """The file to load, by the documented precedence; None means built-in defaults."""
    if explicit:
        return _config_file(Path(explicit).expanduser(), "config file")
    env = os.environ.get(ENV_CONFIG)
    if env:
        return _config_file(Path(env).expanduser(), f"config file named by ${ENV_CONFIG}")
    for path in (Path("digest.toml"), user_config_path()):
        if path.is_file():
            return path
    return None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section model that holds the key at ``loc``: ("topics", "x") is a Topic, ("feeds", 2) a Feed."""
    model: Any = Config
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        model = model.model_fields[part].annotation
        while get_origin(model) is not None:  # list[Feed], dict[str, Topic], X | None: the model inside
            if get_origin(model) in (list, dict) and parts:
                parts.pop(0)  # the index or table name
            inner = [a for a in get_args(model) if isinstance(a, type) and issubclass(a, BaseModel)]
            if not inner:
                return None
            model = inner[0]
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _suggestion(loc: tuple[Any, ...]) -> str:
    """`did you mean ...?` for a misspelled key: the closest key of its table, or the table it belongs in."""
    key = str(loc[-1])
    parents = loc[:-1]
    model = _model_at(parents)
    if model is not None:
        close = difflib.get_close_matches(key, _keys(model), n=1, cutoff=0.75)
        if close:
            return f"; did you mean `{close[0]}`?"
    if parents and key in Config.model_fields:
        # TOML puts every key after a [table] header into that table.
        return f"; `{key}` is a top-level key: move it above the first [table] header"
    if not parents:  # a section's key at the top level, e.g. max_items outside [selection]
        for name, field in Config.model_fields.items():
            section = field.annotation
            if isinstance(section, type) and issubclass(section, BaseModel) and key in _keys(section):
                return f"; did you mean `{key}` under [{name}]?"
    return ""


def _format_error(source: str, err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"] if p not in ("function-after",))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key" + _suggestion(tuple(err["loc"]))
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


def _redacted(value: Any) -> Any:
    """Every URL in a dumped configuration without its userinfo and secret query values."""
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return redact_url(value) if isinstance(value, str) and "://" in value else value


def masked_dump(config: Config) -> dict[str, Any]:
    """The effective configuration, with each secret's presence shown but never its value."""
    data = _redacted(config.model_dump(by_alias=True))
    data["llm"]["api_key"] = "set (masked)" if config.llm.api_key else f"not set (${config.llm.api_key_env})"
    data["email"]["password"] = (
        "set (masked)" if config.email.password else f"not set (${config.email.password_env})"
    )
    for name, channel in config.channels.items():
        data["channels"][name]["secret"] = (
            "set (masked)" if channel.secret else f"not set (${channel.secret_env})"
        )
    return data


# -- `digest config` as a file that loads back ---------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_string(v: str) -> str:
    # JSON's escapes are TOML's, except that TOML also forbids a raw DEL.
    return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return _toml_string(str(v))


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _toml_table(table: Mapping[str, Any], path: list[str], notes: Mapping[str, list[str]]) -> list[str]:
    """``table``'s own keys first, then its sub-tables and arrays of tables, each under its header."""
    lines: list[str] = []
    for k, v in table.items():
        if v is None:  # TOML has no null: the key is left out, which means its default
            lines.append(f"# {k}: not set")
        elif not isinstance(v, dict) and not _is_table_array(v):
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    lines += [f"# {note}" for note in notes.get(".".join(path), [])]
    for k, v in table.items():
        sub = [*path, _toml_key(k)]
        if isinstance(v, dict):
            body = _toml_table(v, sub, notes)
            # A table of tables only ([topics]) needs no header of its own.
            own = not body or not body[0].startswith("\n[")
            lines += [f"\n[{'.'.join(sub)}]", *body] if own else body
        elif _is_table_array(v):
            for row in v:
                lines += [f"\n[[{'.'.join(sub)}]]", *_toml_table(row, sub, notes)]
    return lines


def dump_toml(config: Config, source: Path | None = None) -> str:
    """The effective configuration as a TOML file that loads back unchanged.

    Secrets never appear: whether each one is set is a comment next to the variable that holds it.
    """
    data = config.model_dump(by_alias=True, mode="json")
    masked = _redacted(data)
    data, redacted = masked, masked != data
    notes = {
        "llm": [f"api_key: {_secret_state(config.llm.api_key)} (${config.llm.api_key_env})"],
        "email": [f"password: {_secret_state(config.email.password)} (${config.email.password_env})"],
    }
    for name, channel in config.channels.items():
        what = "bot token" if channel.kind == "telegram" else "webhook URL"
        state = f"{what}: {_secret_state(channel.secret)} (${channel.secret_env})"
        notes[f"channels.{_toml_key(name)}"] = [state]
    head = [f"# source: {source or 'built-in defaults'}"]
    if redacted:
        head.append(f"# URLs without their userinfo and secret query values ({MASK}): the file has them")
    return "\n".join(head + _toml_table(data, [], notes)) + "\n"


def _secret_state(value: str | None) -> str:
    return "set (masked)" if value else "not set"
