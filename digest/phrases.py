"""Phrase extraction: the multi-word technical terms of a title and abstract, with plain code.

A text is cut into chunks at punctuation, stop words, paper verbs ("we propose", "results show"),
generic modifiers ("novel", "extensive"), adverbs and numbers; every run of 2 to 4 words inside a
chunk is a phrase. A hyphenated word is one word (``test-time scaling`` has two). Phrases are
normalised so that spellings of one term count together: lower case except acronyms and
camel-case names (``LLM``, ``LoRA``, ``MoE``), and the last word in the singular
(``diffusion language models`` is ``diffusion language model``).

No model downloads, no tagger: the rules are about how English paper abstracts are written, not
about any topic, so a user's own field gets the same treatment. The counts are document
frequencies: a phrase counts once per paper however often the paper repeats it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .models import PhraseCounts

# Stored with each day's counts: a day counted with other rules is not compared with today.
PHRASE_RULES = "phrases-1"

MIN_WORDS, MAX_WORDS = 2, 4

# Function words: they end a phrase and never belong to one.
_STOP = frozenset(
    """
    a an the and or nor but if then than so as of in on at by for from to into onto upon with within without
    via per about above below across after against along among around before behind beneath beside besides
    between beyond during except inside near off out outside over past since through throughout toward towards
    under underneath unlike until up whether while whereas although though because since unless once where
    when which who whom whose what why how that this these those there here it its itself they them their
    theirs themselves we us our ours ourselves you your yours he she his her him i me my one ones
    is are was were be been being am do does did doing done have has had having can could may might must
    shall should will would not no yes also only just even both either neither each every all any some
    such same other another more most less least many much few several own very too quite rather
    further furthermore moreover however therefore thus hence indeed yet still already often always never
    again almost e.g i.e etc et al vs versus respectively namely whereby wherein whose thereby thereof
    first second third firstly secondly finally lastly
    """.split()
)

# What papers say about themselves: verbs of the "we propose / results show" kind, in every form
# (listed as stems; the -s/-es/-ed/-d/-ing forms are generated below).
_VERB_STEMS = """
    propose present introduce show demonstrate achieve outperform surpass improve enhance boost reduce
    increase decrease evaluate investigate explore examine analyze analyse address tackle provide offer enable
    allow use employ leverage exploit utilize utilise apply yield obtain attain reach require remain suggest
    reveal find highlight establish release conduct perform develop devise build extend adopt incorporate
    integrate combine consider focus aim seek attempt help make take give lead result validate verify confirm
    observe note report indicate compare assess measure quantify identify discover emerge exhibit
    achieve consist contain comprise involve rely depend ensure facilitate support mitigate alleviate overcome
    maintain preserve retain capture produce generate design formulate characterize characterise
    motivate inspire call named term refer denote describe discuss study train
""".split()

# Irregular forms the generator would miss.
_VERB_EXTRA = frozenset(
    """
    shown found made taken given led built sought done called termed dubbed based driven proposed existing
    underlying following resulting corresponding remaining competing leading promising compelling surprising
    striking appealing
    """.split()
)

# Modifiers papers put in front of anything: they say nothing about the term.
_GENERIC = frozenset(
    """
    novel new recent current prior previous existing various different diverse numerous multiple key main
    major minor extensive comprehensive thorough significant substantial considerable remarkable notable
    superior strong stronger strongest better best good great high higher highest low lower lowest large-scale
    state-of-the-art sota competitive effective efficient simple simpler straightforward general generic
    specific particular certain typical standard common conventional traditional popular widely-used
    well-known promising challenging important crucial critical essential fundamental key core overall whole
    entire full complete total broad wide open-source publicly available able unable possible potential
    real-world practical empirical experimental theoretical extensive additional further final initial
    original resulting corresponding given underlying lightweight plug-and-play unified holistic systematic
    principled rigorous detailed careful deep in-depth
    """.split()
)

# Papers' own nouns: a phrase made only of these (and generic words) is boilerplate, whatever the field:
# "experimental result", "extensive experiment", "proposed method", "benchmark dataset".
_PAPER_NOUNS = frozenset(
    """
    paper work study studies approach approaches method methods methodology framework frameworks technique
    techniques result results experiment experiments evaluation evaluations analysis analyses performance
    baseline baselines benchmark benchmarks dataset datasets data task tasks problem problems setting
    settings contribution contributions improvement improvements gain gains finding findings insight insights
    code repository project page github effectiveness efficiency superiority advantage advantages margin
    margins art state line lines direction directions future research literature field fields domain
    domains application applications scenario scenarios way ways case cases number amount range variety set
    sets part parts aspect aspects issue issues challenge challenges limitation limitations impact role
    level levels term terms manner fashion process stage stages step steps end side terms paradigm version
    """.split()
)

# Words that end a phrase by their shape: -ly adverbs (not the words below), numbers, single letters.
_NOT_ADVERB = frozenset(
    """
    early family anomaly assembly supply italy july poly monopoly butterfly belly jelly ally rally tally
    homily
    """.split()
)
_NUMBER = re.compile(r"^[0-9][0-9.,x×%]*$")

# Characters that end a chunk: everything that is not a letter, a digit, white space, a hyphen inside a
# word, an apostrophe or a decimal point. Cut first with one C-level split, then split at white space.
_BREAK = re.compile(r"[^\w\s\-‐‑'’.]|_|(?<![0-9])\.|\.(?![0-9])|(?<!\w)[-‐‑']|[-‐‑'](?!\w)|\s[-‐‑]+\s")
_LATEX_MATH = re.compile(r"\$[^$]*\$|\\\(.*?\\\)|\\[A-Za-z]+\*?(?:\{[^{}]*\})?")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b\S+\.(?:com|org|io|ai|net)/\S*")
_HYPHEN = re.compile(r"[-‐‑]")
_CAMEL_OR_ACRONYM = re.compile(r"[A-Z].*[A-Z]|[a-z0-9][A-Z]")
_POSSESSIVE = re.compile(r"['’]s$")


def _verb_forms(stems: Iterable[str]) -> frozenset[str]:
    forms: set[str] = set()
    for s in stems:
        forms.add(s)
        forms.add(s + "s")
        forms.add(s + "es")
        if s.endswith("e"):
            forms.update({s + "d", s[:-1] + "ing"})
        else:
            forms.update({s + "ed", s + "ing"})
        if s.endswith("y"):
            forms.update({s[:-1] + "ies", s[:-1] + "ied"})
    return frozenset(forms)


_BREAKERS = _STOP | _verb_forms(_VERB_STEMS) | _VERB_EXTRA | _GENERIC


def is_breaker(word: str) -> bool:
    """Whether a lower-cased word ends a phrase instead of belonging to one."""
    if word in _BREAKERS or _NUMBER.match(word):
        return True
    if len(word) < 2 or (len(word) == 2 and not word.isalpha()):
        return True
    return len(word) > 4 and word.endswith("ly") and "-" not in word and word not in _NOT_ADVERB


def normalize_word(word: str) -> str:
    """A word as phrases store it: lower case, except acronyms and camel-case parts (``LLM``, ``LoRA``)."""
    parts = _HYPHEN.split(word)
    return "-".join(p if _CAMEL_OR_ACRONYM.search(p) else p.lower() for p in parts)


_SINGULAR_KEEP = frozenset(
    """
    news series species means lens physics mathematics economics gas canvas atlas chaos ethos pathos plus
    minus bus
    """.split()
)


def singular(word: str) -> str:
    """The singular of a phrase's last word (only the last word of an English term is plural)."""
    head, sep, last = word.rpartition("-")
    if len(last) >= 3 and last[-1] == "s" and last[:-1].isupper():  # LLMs, VLMs
        return head + sep + last[:-1]
    if len(last) > 3 and last.endswith("Es") and _CAMEL_OR_ACRONYM.search(last[:-1]):  # MoEs
        return head + sep + last[:-1]
    low = last.lower()
    if (
        low in _SINGULAR_KEEP
        or len(low) <= 3
        or low.endswith(("ss", "us", "is", "ics", "ous", "ws"))
        or not low.endswith("s")
    ):
        return word
    if low.endswith("ies") and len(low) > 4:
        return head + sep + last[:-3] + "y"
    if low.endswith(("sses", "xes", "zes", "ches", "shes")) and not low.endswith("aches"):
        return head + sep + last[:-2]
    return head + sep + last[:-1]


def chunks(text: str) -> Iterator[list[str]]:
    """Runs of phrase words in ``text``, normalised, in order."""
    text = _URL.sub(" , ", text)
    if "$" in text or "\\" in text:
        text = _LATEX_MATH.sub(" , ", text)
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) > 0.7 * len(letters):  # an ALL-CAPS title
        text = text.lower()
    for segment in _BREAK.split(text):
        run: list[str] = []
        for raw in segment.split():
            raw = _POSSESSIVE.sub("", raw).strip("-‐‑'’.")
            if not raw or is_breaker(raw.lower()):
                if len(run) >= MIN_WORDS:
                    yield run
                run = []
                continue
            run.append(normalize_word(raw))
        if len(run) >= MIN_WORDS:
            yield run


def _boilerplate(words: tuple[str, ...]) -> bool:
    return all(w.lower() in _PAPER_NOUNS for w in words)


def document_phrases(title: str, abstract: str) -> set[str]:
    """Every 2–4-word phrase of one paper (title and abstract), normalised, each once."""
    found: set[str] = set()
    for text in (title, abstract):
        for run in chunks(text):
            n = len(run)
            for size in range(MIN_WORDS, min(MAX_WORDS, n) + 1):
                for i in range(n - size + 1):
                    words = tuple(run[i : i + size])
                    if _boilerplate(words):
                        continue
                    found.add(" ".join(words[:-1] + (singular(words[-1]),)))
    return found


def count_phrases(papers: Iterable[tuple[str, str, str]]) -> PhraseCounts:
    """Counts over ``(first author, title, abstract)`` triples, one per paper."""
    docs: dict[str, int] = {}
    authors: dict[str, set[str]] = {}
    n = 0
    for first_author, title, abstract in papers:
        n += 1
        who = " ".join(first_author.lower().split())
        for phrase in document_phrases(title, abstract):
            docs[phrase] = docs.get(phrase, 0) + 1
            authors.setdefault(phrase, set()).add(who)
    return PhraseCounts(n, docs, {p: len(a) for p, a in authors.items()})


def contains(longer: str, shorter: str) -> bool:
    """Whether phrase ``shorter`` is a run of whole words inside phrase ``longer``."""
    return (
        longer != shorter
        and f" {shorter} " in f" {longer} "
        or (
            # the shorter phrase's last word is singular; inside the longer one it may be plural
            longer != shorter and f" {shorter}s " in f" {longer} "
        )
    )
