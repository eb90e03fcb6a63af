"""The takeaway prompt: the plain files in prompts/, the answer's schema, and one request's messages.

The prompts are versioned by content (:data:`PROMPT_VERSION` keys the takeaway cache): editing a prompt
file or the schema makes every cached line stale, so a line is never paid for twice under one prompt and
never reused across prompts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2

from ..config import LLM
from ..models import Scored
from ..resources import resource_dir
from ..text import one_line, truncate

# -- prompts ------------------------------------------------------------------------------------

SYSTEM_PROMPT_FILE = "takeaway.system.txt"
USER_PROMPT_FILE = "takeaway.user.txt"
EXAMPLES_FILE = "takeaway.examples.txt"
# The answer's field. Named for the language: a small model continues `"korean": "` in Korean far more
# often than `"takeaway": "` (measured with Qwen2.5 1.5B on llama.cpp).
ANSWER_KEY = "korean"


def _read_prompt(name: str) -> str:
    # resource_dir knows both layouts (wheel and repository); importlib.resources does not cope with
    # setuptools' editable installs on every supported Python.
    return (resource_dir("prompts") / name).read_text(encoding="utf-8")


def _template(source: str) -> jinja2.Template:
    return jinja2.Environment(
        autoescape=False,  # the values are JSON already escaped by items_json; this is not HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    ).from_string(source)


EXAMPLES: tuple[str, ...] = tuple(
    line.strip() for line in _read_prompt(EXAMPLES_FILE).splitlines() if line.strip()
)
_SYSTEM_TEMPLATE = _template(_read_prompt(SYSTEM_PROMPT_FILE))
SYSTEM_PROMPT = _SYSTEM_TEMPLATE.render(examples=EXAMPLES, key=ANSWER_KEY).strip()
# For the re-ask of a line that copied the examples: a small model copies them again when it sees them.
SYSTEM_PROMPT_WITHOUT_EXAMPLES = _SYSTEM_TEMPLATE.render(examples=(), key=ANSWER_KEY).strip()
_USER_SOURCE = _read_prompt(USER_PROMPT_FILE)
_USER_TEMPLATE = _template(_USER_SOURCE)

# What the model is told to return. strict=True needs every property required and no extras.
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}, ANSWER_KEY: {"type": "string"}},
                "required": ["id", ANSWER_KEY],
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
    for part in (
        SYSTEM_PROMPT,
        SYSTEM_PROMPT_WITHOUT_EXAMPLES,
        _USER_SOURCE,
        json.dumps(ANSWER_SCHEMA, sort_keys=True),
    ):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return "p" + h.hexdigest()[:12]


PROMPT_VERSION = _prompt_version()

# -- pure helpers: what goes into a request --------------------------------------------------------

MAX_ABSTRACT_CHARS = 1600  # arXiv abstracts stop at 1920; the first 1600 carry the claim and the result
# Real titles stay far below it; the sources cap theirs too, and a prompt never takes a source's word for it.
MAX_TITLE_CHARS = 300
ANSWER_TOKENS = 40  # the {"items": [...]} around the lines


def prompt_item(item_id: str, scored: Scored) -> dict[str, Any]:
    c = scored.candidate
    return {
        "id": item_id,
        "kind": c.kind,
        "title": truncate(one_line(c.title), MAX_TITLE_CHARS),
        "abstract": truncate(one_line(c.summary), MAX_ABSTRACT_CHARS),
        "topics": [m.label for m in scored.matches],
    }


def items_json(items: Sequence[Mapping[str, Any]]) -> str:
    # Item text is untrusted: as JSON every quote and newline is escaped, and escaping <, > and & too
    # means no abstract can open a tag or fake a delimiter in the prompt; the model reads \u003c fine.
    text = json.dumps(list(items), ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_messages(
    items: Sequence[Mapping[str, Any]],
    problems: Mapping[str, str] | None = None,
    *,
    korean: bool = False,
    examples: bool = True,
) -> list[dict[str, str]]:
    """The chat messages for one request; ``problems`` (id → why) makes it the re-ask, ``korean`` the
    short Korean-only re-ask of lines that came back in English; ``examples=False`` leaves the example
    lines out (for the re-ask of lines that copied them)."""
    system = SYSTEM_PROMPT if examples else SYSTEM_PROMPT_WITHOUT_EXAMPLES
    user = _USER_TEMPLATE.render(
        count=len(items),
        items_json=items_json(items),
        key=ANSWER_KEY,
        problems=[{"id": k, "problem": v} for k, v in (problems or {}).items()],
        korean=korean,
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user.strip()}]


def max_tokens(items: int, llm: LLM) -> int:
    """The answer's cap: a few hundred tokens per item, so a model that runs away stops early."""
    return ANSWER_TOKENS + items * llm.max_tokens_per_item
