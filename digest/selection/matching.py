"""Topic matching: which configured topics a candidate is about, how strongly, and why.

The configured keywords (and each topic's ``exclude`` list) are the only topic-specific knowledge here;
every rule below is about how words behave in titles and abstracts, so a user's own topics work the
same way as the built-in ones.

How a keyword is matched depends on how it is written:

* acronym (no lower-case letter: ``DPO``, ``SSM``, ``MLLM``): case-sensitive, whole word, with a
  plural (``LLMs``), ``-based``/``-style`` forms and camel-case compounds whose acronym ends the
  compound (``PersoDPO``). Lower-case ``dpo`` or ``Llm`` is a different word.
* name (mixed case, one token: ``Mamba``): the name as written or in capitals, whole word or as a
  camel-case part (``VMamba``, ``MedMamba``, ``MambaVF``, ``Mamba2``, ``Mamba-2``). The lower-case
  word is not matched: ``mamba install`` is the conda package manager, and prose about snakes or
  dances writes it in lower case.
* phrase (anything else: ``state space model``, ``vision-language``, ``multimodal``): case-insensitive,
  hyphen/space tolerant (``multi-modal``, ``non-linear state-space``), plural/-ing on the last word
  (``reward modeling``, ``trajectories``), -ise/-ize, and not as the tail of a hyphenated compound
  (``vision-language model`` is not a ``language model``).

Overlapping hits name one thing: the one that starts first wins, across topics too ("vision language
model" is a vision-language model, not a language model; "large language model" is counted once); a hit
wholly inside another topic's longer hit counts for both ("large vision-language model": LLM and
multimodal). An acronym the text defines for a phrase that holds a keyword ("Large Vision-Language Models
(LVLMs)", "Simple Preference Optimization (SimPO)") is that keyword's topic's term in that text: the
text says what it means. An exclude term that covers a hit ("process reward model" over "reward model",
"multimodal distributions" over "multimodal") says what that keyword means in the text, and removes its
hits throughout (one sense per text); one that stands apart ("conda") vetoes the topic.

A keyword hit only counts when it is used in its ML sense and is about the paper itself:

* the item needs ML context: an ML arXiv category, or a few generic ML words in its text;
* an acronym the text itself spells out in another sense loses all its hits: in words that are not
  ML words (``Data Protection Officer (DPO)``), or, when a topic's keywords spell the acronym out
  themselves (``direct preference optimization``), in words that share fewer than two with that
  topic's keywords (``Distributional Policy Optimization (DPO)``, ``Single-Stage Models (SSMs)``);
* text inside URLs is ignored (user names and repositories are not topics);
* abstract hits that come after a comparison/negation cue in the same sentence (``unlike``,
  ``compared with``, ``outperforms``, ``without``, ``baselines such as``...) are mentions of other work;
* a topic needs a hit in the title, in the abstract's opening (its first two sentences: the first often
  only sets the field, the second names the technology), in a later sentence where the paper states its
  own contribution ("we introduce a Mamba-enhanced MLLM", the hit after the verb in the same clause), or
  in three or more other later sentences. One or two later mentions can be in passing ("... and could be
  combined with LLMs"): on the development half of the labelled corpus such papers were on-topic about
  half of the time, while title and opening hits were right about 95% of the time. Contribution
  sentences were right 17 times out of 21 on the whole corpus (labels and a reading of the rest). Later
  sentences still raise the score of a topic that passes.

The counts the trend block states are the number of papers whose ``match`` includes the topic: there is
one rule set, for what the digest shows and for what it counts.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..config import Topic
from ..models import Candidate, TopicMatch

TermKind = Literal["acronym", "name", "phrase"]
Where = Literal["title", "abstract"]

# arXiv categories whose papers are ML work by construction. Other categories need ML words in their
# text instead, and so do blog posts (they have none): cs.CY (law, policy: "LLM" the degree, "DPO" the
# officer), cs.SE (the "mamba" installer), eess.SY and eess.SP (classical state-space models).
_ML_CATEGORY = re.compile(r"^(?:cs\.(?:AI|CL|CV|LG|NE|IR|MM|SD|RO|MA)|stat\.ML|eess\.(?:AS|IV))$")

# Generic ML vocabulary, topic-agnostic. Two different ones make a text ML text.
_ML_WORDS = re.compile(
    r"\b(?:neural|deep learning|machine learning|artificial intelligence|AI|transformers?|fine-?tun\w*|"
    r"pre-?train\w*|datasets?|benchmarks?|embeddings?|GPUs?|reinforcement learning|attention|tokens?|"
    r"backbones?|inference|architectures?|language models?|diffusion|classifiers?|hugging ?face|"
    r"pytorch|checkpoints?|parameters|generative|supervised|self-supervised|state-of-the-art|sota)\b",
    re.IGNORECASE,
)
_ML_WORDS_NEEDED = 2

# Words that make an acronym's spelled-out form ML: "Reinforcement Learning from Human Feedback (RLHF)"
# stays, "Data Protection Officer (DPO)" and "Server Message Block (SMB)" do not.
_ML_EXPANSION_WORDS = re.compile(
    r"(?i)\b(?:learn\w*|model\w*|neural|network\w*|optimi[sz]\w*|language|vision|visual|train\w*|"
    r"reward\w*|preference\w*|inference|transformer\w*|attention|generat\w*|multimodal|reinforcement|"
    r"representation\w*|embedding\w*|agent\w*|feedback|token\w*|diffusion|policy|alignment)\b"
)

# Cues that what follows in the sentence is someone else's method: a baseline, a comparison, a
# contrast, an absence. Hits after them are not about the paper itself.
# (Not after a hyphen: "working-memory-like behaviour" and "GPT-style" compare nothing.)
_CUE = re.compile(
    r"(?i)(?<![-‐‑])\b(?:unlike|compared (?:with|to)|in comparison|comparisons? (?:with|to|against)|"
    r"outperform\w*|surpass\w*|beat(?:s|ing)?|than|versus|vs\.?|baselines?|"
    r"instead of|rather than|without|alternatives? to|beyond|related work|prior work|previous work|"
    r"such as|e\.g\.|including|like|inspired by)\b"
)
# A cue governs the few words after it ("outperforms Mamba", "baselines such as SSMs"), not the rest of
# a long sentence: "Style features such as ... are used to steer Large Language Model (LLM) agents".
_CUE_WINDOW = 60
# The cues among them that put the paper in the place of what follows: "unlike linear attention and
# SSMs, it ...", "instead of RLHF". (Not "outperforms" or "than": results are compared with peers too,
# "outperforms strong LLMs" in a paper about an LLM agent.)
_CONTRAST = re.compile(r"(?i)(?<![-‐‑])\b(?:unlike|instead of|rather than|as opposed to)\b")
_CLAUSE_BREAK = re.compile(r"[;:]|\s(?:while|whereas|but|and we|we)\s")

_URL = re.compile(r"(?:https?://|www\.|\b[\w-]+\.(?:com|org|io|ai|net|co)/)\S*")
_URL_HINT = re.compile(r"://|www\.|\.(?:com|org|io|ai|net|co)/")
_LATEX_CMD = re.compile(r"\\[A-Za-z]+\*?|[{}$]")
# A sentence ends at . ! ? followed by a space and something that can start a sentence.
# (The character class comes first so that the engine can scan for it; the look-behinds run only there.)
_SENTENCE_END = re.compile(r"[.!?](?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bet al\.)(?<!\bvs\.)(?=\s+[A-Z0-9(\[\"'])")
_DEFINITION = re.compile(r"\(\s*([A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*?)s?\s*\)")

_LEFT = r"(?<![A-Za-z0-9])"
_RIGHT = r"(?![A-Za-z0-9])"
_PLURAL = r"(?:s|es)?"
_GAP = r"(?:\s*[-‐‑–]\s*|\s+)"  # between words of a phrase: hyphen or space


@dataclass(frozen=True)
class Term:
    """One configured keyword, compiled by how it is written."""

    keyword: str
    kind: TermKind
    source: str  # the regex for the text as written
    flags: int
    # Phrases only: the same regex without IGNORECASE is run on the lower-cased text, where the engine can
    # scan for a literal first letter (several times faster than a case-insensitive scan).
    has_lower: bool
    # What every match contains once the text is squashed (lower case, no hyphens, no spaces) -- or,
    # for an acronym, as written: a substring test that skips the regex for most texts. For a phrase it
    # is the whole phrase, so the regex runs only where the phrase most likely is.
    anchor: str
    cased: bool = False  # the anchor is looked up in the text as written

    # Compiled on first use: a run compiles only the terms some text holds the anchor of (compiling all
    # of them was 0.08 s of a 2,000-paper run's 1.9 s CPU), and a phrase's case-insensitive form only
    # for the rare text whose lower case changes its length.
    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.source, self.flags)

    @functools.cached_property
    def lower_pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.source) if self.has_lower else None

    def present(self, text: str, squashed: str) -> bool:
        return self.anchor in (text if self.cased else squashed)

    def finditer(self, text: str, lowered: str, squashed: str) -> Iterator[re.Match[str]]:
        if not self.present(text, squashed):
            return
        # lower() keeps offsets except for a few non-ASCII letters; then the slow pattern is used.
        if self.lower_pattern is not None and len(lowered) == len(text):
            yield from self.lower_pattern.finditer(lowered)
        else:
            yield from self.pattern.finditer(text)

    def search(self, text: str, lowered: str, squashed: str) -> bool:
        return next(self.finditer(text, lowered, squashed), None) is not None


def classify(keyword: str) -> TermKind:
    """How a keyword is written decides how it is matched (see the module docstring)."""
    token = keyword.strip()
    if any(ch.isspace() for ch in token) or not any(ch.isalpha() for ch in token):
        return "phrase"
    has_upper = any(ch.isupper() for ch in token)
    has_lower = any(ch.islower() for ch in token)
    if not has_lower:
        return "acronym"
    if has_upper:
        return "name"
    return "phrase"


def _lead(literal: str, not_before: Sequence[str], rest: str) -> str:
    """``literal``, then left-boundary checks that look back past it, then ``rest``.

    Same matches as putting the look-behinds first, but the engine can scan for the literal text
    (the whole first word where it can) instead of testing the look-behinds at every position.
    """
    width = len(literal)
    checks = "".join(f"(?<!{cls}[\\s\\S]{{{width}}})" for cls in not_before)
    return f"{re.escape(literal)}{checks}{rest}"


@functools.lru_cache(maxsize=1024)
def compile_term(keyword: str) -> Term:
    keyword = keyword.strip()
    kind = classify(keyword)
    if kind == "acronym":
        # A lower-case letter before it is a camel-case boundary (PersoDPO); an upper-case one is a
        # different acronym (MLLM is not LLM).
        source = _lead(keyword, ["[A-Z0-9]"], _PLURAL + _RIGHT)
    elif kind == "name":
        # After the name an upper-case letter, a digit or a hyphenated version may follow (MambaVF,
        # Mamba2, Mamba-2); before a capitalised name any letter may stand in a camel-case compound
        # (VMamba, MedMamba), but not a digit.
        tail = r"(?:s|-?[0-9]+)?(?![a-z])"
        if keyword[0].isupper():
            rests = sorted({re.escape(keyword[1:]), re.escape(keyword.upper()[1:])})
            source = _lead(keyword[0], ["[0-9]"], f"(?:{'|'.join(rests)})" + tail)
        else:
            source = rf"{_LEFT}(?:{re.escape(keyword)}|{re.escape(keyword.upper())}){tail}"
    else:
        words = [w.lower() for w in re.split(r"[\s\-‐‑–]+", keyword) if w]
        body = _GAP.join(map(_word_pattern, words))
        # Not the tail of a hyphenated compound: "vision-language model" is no "language model".
        # The last word may be inflected: plural, or the -ing noun ("reward modeling", "modelling").
        tail = rf"(?:s|es|l?ing)?{_RIGHT}"
        y_plural = len(words[-1]) > 2 and words[-1][-1] == "y" and words[-1][-2] not in "aeiou"
        if y_plural:  # the plural of "multimodal trajectory" is "trajectories"
            body = body[:-1] + "(?:y|ie)"
        head = _literal_head(words[0])
        if head and body.startswith(re.escape(head)):
            rest = body[len(re.escape(head)) :]
            source = _lead(head, ["[A-Za-z0-9]", "[A-Za-z][-‐‑]"], rest + tail)
        else:
            source = rf"{_LEFT}(?<![A-Za-z][-‐‑])(?:{body}){tail}"
        # Spelling variants (-ize/-ise) start at "iz", so the anchor stops before it.
        joined = squash(keyword)
        anchor = joined.split("iz", 1)[0] + ("i" if "iz" in joined else "")
        if y_plural and anchor == joined:
            anchor = anchor[:-1]  # "trajector" is in "trajectories" too
        return Term(keyword, kind, source, re.IGNORECASE, True, anchor=anchor)
    if kind == "acronym":
        return Term(keyword, kind, source, 0, False, anchor=keyword, cased=True)
    return Term(keyword, kind, source, 0, False, anchor=squash(keyword))


_FIXED_HEAD = 3  # letters at the start of a phrase that are always written as configured


def _literal_head(word: str) -> str:
    """The start of a phrase's first word that ``_word_pattern`` keeps literal ("" if it does not
    start with a letter or digit)."""
    end = len(word)
    if "iz" in word:
        end = word.index("iz") + 1
    if len(word) >= 8 and word.isalpha():
        end = min(end, _FIXED_HEAD)
    head = word[:end]
    return head if head[:1].isalnum() else ""


def _word_pattern(word: str) -> str:
    """One word of a phrase: -ize/-ise spellings, and an optional hyphen inside a long word (multimodal /
    multi-modal, pretraining / pre-training, nonlinear / non-linear), in a one-word keyword and in a
    longer phrase alike."""
    chars = [re.escape(ch) for ch in word]
    for i in range(1, len(word)):
        if word[i - 1 : i + 1].lower() == "iz":
            chars[i] = "[sz]"
    if len(word) < 8 or not word.isalpha():
        return "".join(chars)
    return "".join(chars[: _FIXED_HEAD - 1]) + "[-‐‑]?".join(chars[_FIXED_HEAD - 1 :])


@dataclass(frozen=True)
class Hit:
    topic: str
    keyword: str
    where: Where
    start: int
    end: int
    sentence: int  # index of the sentence in its field (the title is one sentence)
    cued: bool  # after a comparison/negation cue: a mention of other work
    # In a sentence where the paper states what it contributes, after that verb: "we introduce a
    # Mamba-enhanced MLLM". Such a sentence is about the paper wherever it stands in the abstract.
    own: bool = False
    contrast: bool = False  # cued by a cue that puts the paper in its place ("unlike SSMs")


@dataclass(frozen=True)
class TopicEvidence:
    """Everything the matcher found for one topic in one candidate, before the pass rule."""

    topic: str
    hits: tuple[Hit, ...]
    vetoed_by: tuple[str, ...]  # exclude terms present
    passes: bool
    score: float


@dataclass(frozen=True)
class _Field:
    """A title or an abstract, cleaned, in the forms the terms are looked up in."""

    where: Where
    text: str
    lowered: str
    squashed: str

    @classmethod
    def of(cls, where: Where, raw: str) -> _Field:
        text = clean(raw)
        lowered = text.lower()
        return cls(where, text, lowered, lowered.translate(_SQUASH))

    @functools.cached_property
    def sentence_starts(self) -> tuple[int, ...]:
        # Only a field with a hit needs its sentences (most of a day's abstracts have none).
        return sentence_starts(self.text) if self.where == "abstract" else (0,)  # a title is one sentence


Anchor = tuple[str, bool]  # what a term's text must contain, and whether it is looked up as written
# Anchors tested only where a shorter string all of them contain is found: (gate, cased, members), or
# (anchor, cased, None) for an anchor tested alone.
AnchorGroup = tuple[str, bool, "tuple[Anchor, ...] | None"]
_GROUP_PREFIX = 5  # letters at the start that put phrase anchors in one group


def anchor_groups(anchors: Iterable[Anchor]) -> tuple[AnchorGroup, ...]:
    """The anchors grouped so that one substring test can rule out several.

    Each anchor is a substring test over a whole title and abstract, and most fail; anchors that start
    alike ("texttoimage", "texttovideo", ... or the six "preference…") are tested only where their common
    start is, and an acronym that holds another (MLLM holds LLM) only where that one is. The anchors found
    are the same as testing each (tests/test_matching.py checks it on the corpus).
    """
    anchors = list(dict.fromkeys(anchors))
    cased = [a for a, c in anchors if c]
    groups: dict[tuple[str, bool], list[Anchor]] = {}
    for a, c in anchors:
        if c:
            inner = [b for b in cased if b != a and b in a]
            group = (min(inner, key=len), True) if inner else (a, True)
        else:
            group = (a[:_GROUP_PREFIX], False) if len(a) > _GROUP_PREFIX else (a, False)
        groups.setdefault(group, []).append((a, c))
    out: list[AnchorGroup] = []
    for (start, c), members in groups.items():
        if len(members) == 1:
            out.append((members[0][0], c, None))
        else:
            out.append((start if c else _common_prefix([m for m, _ in members]), c, tuple(members)))
    return tuple(out)


def _common_prefix(words: list[str]) -> str:
    first, last = min(words), max(words)
    n = 0
    while n < len(first) and first[n] == last[n]:
        n += 1
    return first[:n]


def scan_anchors(groups: Iterable[AnchorGroup], text: str, squashed: str) -> list[Anchor]:
    """The anchors (of :func:`anchor_groups`) that ``text`` (as written) or ``squashed`` contain."""
    found: list[Anchor] = []
    for gate, cased, members in groups:
        hay = text if cased else squashed
        if gate in hay:
            if members is None:
                found.append((gate, cased))
            else:
                found.extend(m for m in members if m[0] in hay)
    return found


def _present(f: _Field, anchors: Iterable[tuple[str, bool]]) -> frozenset[str]:
    text, squashed = f.text, f.squashed
    return frozenset(a for a, cased in anchors if a in (text if cased else squashed))


@dataclass(frozen=True)
class _Text:
    title: _Field
    abstract: _Field
    ml_context: bool
    foreign_acronyms: frozenset[str]  # acronyms the text spells out in a non-ML sense
    # Acronyms the text defines for a phrase that holds a topic's keyword ("Large Vision-Language
    # Models (LVLMs)"), per topic: in this text they are that topic's keyword.
    defined: Mapping[str, tuple[Term, ...]]
    anchors: tuple[frozenset[str], frozenset[str]]  # the terms' anchors present in title, abstract


# Everything a phrase's words may be separated by (hyphens, dashes, white space; clean() leaves only
# single spaces), so that "state-space model" and "state space models" squash to the same letters.
_SQUASH = str.maketrans("", "", "-‐‑– \t\n\r\f\v")


def squash(text: str) -> str:
    """Lower case without hyphens and spaces: what term anchors are looked up in."""
    return text.lower().translate(_SQUASH)


def clean(text: str) -> str:
    """Plain text for matching: no URLs, no LaTeX markup, single spaces."""
    if ("/" in text or "www." in text) and _URL_HINT.search(text):  # the test first: it is cheaper
        text = _URL.sub(" ", text)
    if "\\" in text or "$" in text or "{" in text:
        text = _LATEX_CMD.sub(" ", text)
    return " ".join(text.split())


def sentence_starts(text: str) -> tuple[int, ...]:
    starts = [0]
    for m in _SENTENCE_END.finditer(text):
        nxt = m.end()
        while nxt < len(text) and text[nxt].isspace():
            nxt += 1
        starts.append(nxt)
    return tuple(starts)


def _has_ml_context(categories: Iterable[str], text: str) -> bool:
    if any(_ML_CATEGORY.match(c.strip()) for c in categories):
        return True
    found = {m.group(0).lower() for m in _ML_WORDS.finditer(text)}
    return len(found) >= _ML_WORDS_NEEDED


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-‐][A-Za-z0-9]+)*")
_SKIPPED_IN_EXPANSIONS = frozenset({"of", "from", "for", "and", "the", "to", "in", "on", "with", "a"})


def _expansion_before(text: str, pos: int, acronym: str) -> list[str]:
    """The words before a "(ACRONYM)" definition whose initials spell it, or [] when none do."""
    words = _WORD.findall(text, max(0, pos - 150), pos)
    letters = [c for c in acronym if c.isupper()]
    if not letters or not words:
        return []
    # Walk back over the words, consuming acronym letters from the end by word (and hyphen part)
    # initials; small function words are skipped ("Reinforcement Learning from Human Feedback").
    need = list(letters)
    taken: list[str] = []
    for word in reversed(words[-(len(letters) + 4) :]):
        parts = [p for p in word.replace("‐", "-").split("-") if p]
        initials = [p[0].upper() for p in parts]
        if need and initials and need[-len(initials) :] == initials:
            del need[-len(initials) :]
            taken.append(word)
        elif word.lower() in _SKIPPED_IN_EXPANSIONS and need:
            taken.append(word)
        else:
            break
        if not need:
            return list(reversed(taken))
    return []


_FUNCTION_WORDS = frozenset({"of", "from", "for", "and", "the", "to", "in", "on", "with", "a", "an"})
_NAME_RUN = re.compile(r"[A-Z][A-Za-z.'’-]*(?:\s+(?:[A-Z][A-Za-z.'’-]*|of|for|and|the|in|on))*")


def _proper_name(words: str) -> bool:
    """Two or more capitalised words (function words aside), nothing else: "Master of Laws"."""
    tokens = words.split()
    content = [t for t in tokens if t.lower() not in _FUNCTION_WORDS]
    return len(content) >= 2 and all(t[:1].isupper() and re.fullmatch(r"[A-Za-z.'’-]+", t) for t in content)


@functools.lru_cache(maxsize=256)
def _definition_patterns(acronym: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """ "Expansion (ACR)", "ACR (Expansion)" and "ACR: Expansion"."""
    esc = re.escape(acronym)
    return (
        re.compile(rf"\(\s*{esc}s?\s*\)"),
        re.compile(rf"{esc}(?<![A-Za-z0-9]{esc})s?\s*\(([^()]{{3,80}})\)"),
        re.compile(rf"{esc}(?<![A-Za-z0-9]{esc}):\s+((?:\S+\s+){{0,6}}\S+)"),
    )


def _definitions(text: str, acronym: str) -> Iterator[str]:
    """What the text spells an acronym out as: "Expansion (ACR)" with matching initials, and the forms
    that name it without spelling it, "Master of Laws (LLM)", "LLM (Master of Laws)", "SSM: A Sparse
    Subspace Method"."""
    parenthesised, spelled_after, colon = _definition_patterns(acronym)
    for m in parenthesised.finditer(text):
        words = _expansion_before(text, m.start(), acronym)
        if words:
            yield " ".join(words)
            continue
        before = _NAME_RUN.findall(text[max(0, m.start() - 80) : m.start()].rstrip())
        if before and text[: m.start()].rstrip().endswith(before[-1]) and _proper_name(before[-1]):
            yield before[-1]
    for m in spelled_after.finditer(text):
        if _proper_name(m.group(1)):
            yield m.group(1)
    if acronym + ":" not in text:  # the regex would find nothing; this test is much cheaper
        return
    for m in colon.finditer(text):
        initials = [w[0].upper() for w in m.group(1).split() if w.lower() not in _FUNCTION_WORDS]
        if "".join(initials[: len(acronym)]) == acronym:
            yield " ".join(m.group(1).split()[: len(acronym) + 2])


_WORD_BREAK = re.compile(r"[\s\-‐‑–]+")


def _stems(words: str) -> frozenset[str]:
    """The content words of a phrase, roughly stemmed ("Models" and "model", "optimisation" and
    "optimization" are one), hyphenated parts apart."""
    parts = _WORD_BREAK.split(words.lower())
    return frozenset(p.rstrip("s")[:6] for p in parts if p and p not in _FUNCTION_WORDS)


def _initials(keyword: str) -> str:
    """What a phrase abbreviates to: "direct preference optimization" is DPO, "state-space model" SSM."""
    parts = _WORD_BREAK.split(keyword)
    return "".join(p[0].upper() for p in parts if p and p.lower() not in _FUNCTION_WORDS)


def _foreign_acronyms(text: str, acronyms: set[str], senses: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """Acronyms among ``acronyms`` that the text defines only in another sense.

    An acronym whose topic spells it out among its keywords (DPO, "direct preference optimization")
    has that sense: a definition sharing fewer than two words with the topic's keywords ("Dynamic
    Power Optimization (DPO)", "Single-Stage Models (SSMs)") is another one. Otherwise any ML sense
    will do ("Reinforcement Learning from AI Feedback (RLAIF)"), and "Data Protection Officer" is none.
    """
    foreign: set[str] = set()
    ml: set[str] = set()
    for acro in acronyms:
        if acro not in text:
            continue
        vocabulary = senses.get(acro)
        for expansion in _definitions(text, acro):
            if vocabulary is not None:
                own = len(_stems(expansion) & vocabulary) >= 2
            else:
                own = _ML_EXPANSION_WORDS.search(expansion) is not None
            (ml if own else foreign).add(acro)
    return frozenset(foreign - ml)


def _sentence_of(starts: tuple[int, ...], pos: int) -> int:
    return bisect.bisect_right(starts, pos) - 1


# The paper saying what it contributes: "we propose", "this work introduces", "we further present".
# Verbs of use ("we use an LLM to label ...") are not here: a tool the paper uses is not its subject.
_OWN = re.compile(
    r"(?i)\b(?:we|this (?:paper|work|study))\s+(?:further\s+|also\s+|then\s+|\w+ly\s+)?"
    r"(?:propose|introduce|present|develop|design|build|construct|devise|release|contribute)s?\b"
)
# How far after the verb the hit may be: its object and an apposition ("We introduce Logit-Linear-
# Selection (LLS), a method that prescribes how to select subsets of a generic preference dataset").
_OWN_WINDOW = 120


def _own(text: str, starts: tuple[int, ...], sentence: int, pos: int) -> bool:
    begin = max(starts[sentence], pos - _OWN_WINDOW)
    return any(not _CLAUSE_BREAK.search(text, m.end(), pos) for m in _OWN.finditer(text, begin, pos))


def _cued(text: str, starts: tuple[int, ...], sentence: int, pos: int, cues: re.Pattern[str] = _CUE) -> bool:
    begin = max(starts[sentence], pos - _CUE_WINDOW)
    for cue in cues.finditer(text, begin, pos):
        if not _CLAUSE_BREAK.search(text, cue.end(), pos):
            return True
    return False


class TopicMatcher:
    """Matches candidates against the configured topics. Build once per run; matching is pure."""

    def __init__(self, topics: Mapping[str, Topic]) -> None:
        self.topics: dict[str, Topic] = dict(topics)
        self._terms: dict[str, tuple[Term, ...]] = {
            key: tuple(compile_term(k) for k in topic.keywords) for key, topic in self.topics.items()
        }
        self._excludes: dict[str, tuple[Term, ...]] = {
            key: tuple(compile_term(k) for k in topic.exclude) for key, topic in self.topics.items()
        }
        self._acronyms: set[str] = {
            t.keyword for terms in self._terms.values() for t in terms if t.kind == "acronym"
        }
        self._configured = frozenset(t.keyword for terms in self._terms.values() for t in terms)
        # An acronym's own sense, when a topic that lists it spells it out: the words of those topics.
        self._senses: dict[str, frozenset[str]] = {}
        for acro in self._acronyms:
            keys = [k for k, terms in self._terms.items() if any(t.keyword == acro for t in terms)]
            phrases = [t.keyword for k in keys for t in self._terms[k] if t.kind == "phrase"]
            letters = "".join(c for c in acro if c.isupper())
            if any(_initials(p) == letters for p in phrases):
                self._senses[acro] = frozenset().union(*map(_stems, phrases))
        # Each distinct anchor is looked up once per field (an acronym's, as written, cannot be mistaken
        # for a squashed one: those have no capitals).
        self._anchors: tuple[tuple[str, bool], ...] = tuple(
            dict.fromkeys((t.anchor, t.cased) for terms in self._terms.values() for t in terms)
        )
        self._anchor_groups = anchor_groups(self._anchors)
        self._expansion_topics: dict[str, tuple[str, ...]] = {}  # cache: "large language models" -> llm

    def _fields(self, c: Candidate) -> tuple[_Field, _Field, tuple[frozenset[str], frozenset[str]]]:
        title, abstract = _Field.of("title", c.title), _Field.of("abstract", c.summary)
        # Each anchor is looked for once in both fields together (NUL joins them: no anchor holds one);
        # only the few found are then placed in their field.
        text, squashed = f"{title.text}\0{abstract.text}", f"{title.squashed}\0{abstract.squashed}"
        found = scan_anchors(self._anchor_groups, text, squashed)
        if not found:
            return title, abstract, (frozenset(), frozenset())
        return title, abstract, (_present(title, found), _present(abstract, found))

    def _prepare(
        self, c: Candidate, fields: tuple[_Field, _Field, tuple[frozenset[str], ...]] | None = None
    ) -> _Text:
        title, abstract, anchors = fields or self._fields(c)
        both = f"{title.text}. {abstract.text}"
        return _Text(
            title=title,
            abstract=abstract,
            ml_context=_has_ml_context(c.categories, both),
            foreign_acronyms=_foreign_acronyms(
                both, self._acronyms & (anchors[0] | anchors[1]), self._senses
            ),
            defined=self._defined_terms(both),
            anchors=(anchors[0], anchors[1]),
        )

    def _present(self, f: _Field) -> frozenset[str]:
        """The anchors found in a field: one cheap substring test each, and most fail."""
        return _present(f, self._anchors)

    def _defined_terms(self, text: str) -> dict[str, tuple[Term, ...]]:
        """Acronyms the text defines as a phrase that holds a keyword: "Large Vision-Language Models
        (LVLMs)" makes LVLM a multimodal keyword in this text, "Simple Preference Optimization (SimPO)"
        makes SimPO a DPO keyword. The text says what its acronym means, so this holds for any topic;
        an acronym it does not define ("SR" may be super-resolution or speech recognition) is only what
        the configuration says it is, and so is a configured acronym."""
        if "(" not in text:
            return {}
        found: dict[str, list[Term]] = {}
        for m in _DEFINITION.finditer(text):
            acronym = m.group(1)
            if acronym in self._configured:
                continue
            words = _expansion_before(text, m.start(), acronym)
            if not words:
                continue
            for key in self._phrase_topics(" ".join(words)):
                found.setdefault(key, []).append(compile_term(acronym))
        return {key: tuple(dict.fromkeys(terms)) for key, terms in found.items()}

    def _phrase_topics(self, phrase: str) -> tuple[str, ...]:
        """The topics a short phrase names by the same rules as a title (overlaps, excludes)."""
        topics = self._expansion_topics.get(phrase)
        if topics is None:
            f = _Field.of("title", phrase)
            hits = _drop_overlaps(self._hits(f, self._present(f), frozenset(), {}))
            kept = []
            for key in dict.fromkeys(h.topic for h in hits):
                own, vetoes = self._excluded(key, (f,), [h for h in hits if h.topic == key])
                if own and not vetoes:
                    kept.append(key)
            topics = tuple(kept)
            if len(self._expansion_topics) > 50_000:  # a long-lived matcher stays small
                self._expansion_topics.clear()
            self._expansion_topics[phrase] = topics
        return topics

    def evidence(self, c: Candidate) -> list[TopicEvidence]:
        """Per-topic findings, passing or not: what the evaluation and debugging look at."""
        return self._evidence(self._prepare(c))

    def _evidence(self, text: _Text) -> list[TopicEvidence]:
        hits: list[Hit] = []
        if text.ml_context:
            for f, anchors in zip((text.title, text.abstract), text.anchors, strict=True):
                hits.extend(self._hits(f, anchors, text.foreign_acronyms, text.defined))
        hits = _drop_overlaps(hits)
        return [self._topic_evidence(key, text, [h for h in hits if h.topic == key]) for key in self.topics]

    def _excluded(self, key: str, fields: Iterable[_Field], hits: list[Hit]) -> tuple[list[Hit], list[str]]:
        """The topic's hits without the keywords an exclude term covers, and the exclude terms that veto it.

        An exclude term that covers a hit says what that keyword means in this text ("multimodal
        distributions" are no modalities, "process reward model" is no preference model), and a word
        keeps one sense through a text (Gale, Church and Yarowsky 1992): every hit of that keyword goes,
        the other keywords' hits stay. One that stands apart ("conda") vetoes the topic.
        """
        vetoes: list[str] = []
        other_sense: set[str] = set()
        for term in self._excludes[key]:
            for f in fields:
                for m in term.finditer(f.text, f.lowered, f.squashed):
                    covered = {
                        h.keyword
                        for h in hits
                        if h.where == f.where and h.start < m.end() and m.start() < h.end
                    }
                    if covered:
                        other_sense |= covered
                    elif term.keyword not in vetoes:
                        vetoes.append(term.keyword)
        return [h for h in hits if h.keyword not in other_sense], vetoes

    def _topic_evidence(self, key: str, text: _Text, hits: list[Hit]) -> TopicEvidence:
        # Without hits there is nothing to exclude or veto (and most topics of most texts have none).
        hits, vetoes = self._excluded(key, (text.title, text.abstract), hits) if hits else (hits, [])
        title_hits = sum(1 for h in hits if h.where == "title")
        # Sentences, not hits: "large language models (LLMs)" is one mention, not two.
        abstract_sentences = {h.sentence for h in hits if h.where == "abstract" and not h.cued}
        own = any(h.own for h in hits)
        passes = (
            not vetoes
            and (_passes(title_hits, abstract_sentences) or own)
            and not _only_surveyed(hits, title_hits, own, abstract_sentences)
        )
        score = _score(title_hits, abstract_sentences) if passes else 0.0
        return TopicEvidence(topic=key, hits=tuple(hits), vetoed_by=tuple(vetoes), passes=passes, score=score)

    def _hits(
        self,
        f: _Field,
        present: frozenset[str],
        foreign_acronyms: frozenset[str],
        defined: Mapping[str, tuple[Term, ...]],
    ) -> list[Hit]:
        """Every topic's keyword hits in one field (``present``: its anchors), overlaps not yet resolved."""
        squashed = f.squashed
        hits: list[Hit] = []
        for key, terms in self._terms.items():
            for term in (*(t for t in terms if t.anchor in present), *defined.get(key, ())):
                if term.kind == "acronym" and term.keyword in foreign_acronyms:
                    continue
                for m in term.finditer(f.text, f.lowered, squashed):
                    sentence = _sentence_of(f.sentence_starts, m.start())
                    cued = own = contrast = False
                    if f.where == "abstract":  # a title is not cue-checked: it names what the paper is about
                        cued = _cued(f.text, f.sentence_starts, sentence, m.start())
                        own = not cued and _own(f.text, f.sentence_starts, sentence, m.start())
                        contrast = cued and _cued(f.text, f.sentence_starts, sentence, m.start(), _CONTRAST)
                    hits.append(
                        Hit(key, term.keyword, f.where, m.start(), m.end(), sentence, cued, own, contrast)
                    )
        return hits

    def match(self, c: Candidate) -> tuple[TopicMatch, ...]:
        """The topics ``c`` is about, in configuration order, each with its score and evidence."""
        fields = self._fields(c)
        if not fields[2][0] and not fields[2][1]:
            # No term's anchor in either field: no hit, so no topic. An acronym the text defines names a
            # topic only through a keyword in its expansion, whose anchor is then in the text as well
            # (tests/test_matching.py checks on the corpus that this agrees with evidence()). Most of a
            # day's papers end here, before sentences, definitions and cues are read.
            return ()
        out: list[TopicMatch] = []
        for ev in self._evidence(self._prepare(c, fields)):
            if not ev.passes:
                continue
            counted = [h for h in ev.hits if h.where == "title" or not h.cued]
            terms = tuple(dict.fromkeys(h.keyword for h in _reading_order(counted)))
            where = tuple(w for w in ("title", "abstract") if any(h.where == w for h in counted))
            out.append(
                TopicMatch(
                    topic=ev.topic,
                    label=self.topics[ev.topic].label,
                    score=ev.score,
                    terms=terms,
                    where=where,
                )
            )
        return tuple(out)

    @staticmethod
    def relevance(matches: Iterable[TopicMatch]) -> float:
        """How strongly a candidate belongs to the digest: its best topic, plus a little for more topics."""
        scores = sorted((m.score for m in matches), reverse=True)
        if not scores:
            return 0.0
        return round(scores[0] + 0.05 * sum(scores[1:]), 4)


def _reading_order(hits: Iterable[Hit]) -> list[Hit]:
    return sorted(hits, key=lambda h: (h.where != "title", h.start))


def _drop_overlaps(hits: list[Hit]) -> list[Hit]:
    """Overlapping keyword hits name one thing: the one that starts first (then the longest) wins.

    Within a topic "large language model" and "language model" count once. Across topics the text's
    term is the compound that starts first: "vision language model" is a vision-language model, not a
    language model. A hit that lies wholly inside another topic's longer hit names a part of it and
    counts for its own topic too: a "large vision-language model" (LLM) is also "vision-language"
    (multimodal). So does the same span matched for two topics (one keyword configured twice).
    """
    kept: list[Hit] = []
    for h in sorted(hits, key=lambda h: (h.where, h.start, -(h.end - h.start))):
        if not any(
            k.where == h.where and h.start < k.end and (k.topic == h.topic or h.end > k.end) for k in kept
        ):
            kept.append(h)
    return kept


# The abstract's opening: its first two sentences. Abstracts often spend the first sentence on the
# field ("Segmentation based on language has been a popular topic") and name the technology the paper
# is about in the second ("While recent advances in multimodal large language models ...").
_OPENING = 2
# Later sentences are weak evidence one by one ("... and could be combined with LLMs"); a topic that
# comes back in this many of them is a subject of the paper, not a passing mention.
_LATER_NEEDED = 3


def _passes(title_hits: int, abstract_sentences: set[int]) -> bool:
    """A title hit, an uncued hit in the abstract's opening, or uncued hits in several later sentences."""
    return (
        title_hits > 0
        or any(s < _OPENING for s in abstract_sentences)
        or len(abstract_sentences) >= _LATER_NEEDED
    )


def _only_surveyed(hits: Iterable[Hit], title_hits: int, own: bool, abstract_sentences: set[int]) -> bool:
    """Named in the opening only and later set aside: "Self-attention ..., while linear attention and SSMs
    use only linear compute ... . We develop OVQ-attention ... unlike linear attention and SSMs, it ...".
    The opening surveyed what the paper departs from; it is not what the paper is about."""
    if title_hits or own or len(abstract_sentences) >= _LATER_NEEDED:
        return False
    return any(h.contrast and h.sentence >= _OPENING for h in hits)


def _score(title_hits: int, abstract_sentences: set[int]) -> float:
    """A coarse score in [0, 1]: few distinct values, so that ranking signals can break the ties."""
    score = 0.0
    if title_hits:
        score += 0.5
    score += 0.1 * min(len(abstract_sentences), 3)
    if 0 in abstract_sentences:
        score += 0.2
    return round(min(score, 1.0), 2)
