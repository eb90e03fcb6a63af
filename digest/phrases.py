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
from collections import Counter
from collections.abc import Iterable
from itertools import accumulate, chain

from .models import PhraseCounts

# Stored with each day's counts: a day counted with other rules is not compared with today.
PHRASE_RULES = "phrases-1"

MIN_WORDS, MAX_WORDS = 2, 4
MAX_WORD = 40  # characters: longer tokens are no words

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
    principled rigorous detailed careful deep in-depth faster slower larger smaller longer shorter deeper
    wider cheaper easier harder fewer greater stronger weaker simpler richer
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
    gap gaps trade-off trade-offs tradeoff tradeoffs
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

# Punctuation ends a phrase; so does a period unless a letter or digit follows it (Qwen2.5, e.g.).
_PUNCTUATION = re.compile(r'[!"#$%&()*+,/:;<=>?@\[\\\]^_`{|}~“”‘«»–—…·•→←≤≥±×÷§¶†‡]|\.(?!\w)')
_ODD = re.compile(r"[^\w\-‐‑'’.]")  # left in a token after that: not a phrase word (≈, emoji, ...)
_LATEX_MATH = re.compile(r"\$[^$]*\$|\\\(.*?\\\)|\\[A-Za-z]+\*?(?:\{[^{}]*\})?")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b\S+\.(?:com|org|io|ai|net)/\S*")
_HYPHEN = re.compile(r"[-‐‑]")
_CAMEL_OR_ACRONYM = re.compile(r"[A-Z].*[A-Z]|[a-z0-9][A-Z]")
_POSSESSIVE = re.compile(r"['’]s$")

BREAK = "\n"  # what a breaker becomes in a run string
_RUN = re.compile(r"(?<![^\n ])[^\n ]+(?: [^\n ]+)+")  # two or more words between breakers


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
    if word in _BREAKERS or len(word) < 2 or _NUMBER.match(word):
        return True
    if len(word) == 2 and not word.isalpha():
        return True
    return len(word) > 4 and word.endswith("ly") and "-" not in word and word not in _NOT_ADVERB


def normalize_word(word: str) -> str:
    """A word as phrases store it: lower case, except acronyms and camel-case parts (``LLM``, ``LoRA``)."""
    parts = _HYPHEN.split(word)
    return "-".join(p if _CAMEL_OR_ACRONYM.search(p) else p.lower() for p in parts)


_SINGULAR_KEEP = frozenset(
    """
    news series species means lens physics mathematics economics gas canvas atlas chaos ethos pathos plus
    minus bus bias alias
    """.split()
)


# Plurals the rules below would get wrong.
_IRREGULAR = {
    "biases": "bias", "aliases": "alias", "analyses": "analysis", "hypotheses": "hypothesis",
    "theses": "thesis", "axes": "axis", "indices": "index", "matrices": "matrix", "vertices": "vertex",
    "lenses": "lens",
    "criteria": "criterion", "phenomena": "phenomenon", "caches": "cache", "niches": "niche",
}  # fmt: skip


def singular(word: str) -> str:
    """A plain word in the singular (``models`` → ``model``, ``LLMs`` → ``LLM``, ``policies`` → ``policy``).

    Hyphenated words stay as written: ``mixture-of-experts`` is a name, not a plural.
    """
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if "-" in word or len(word) <= 3 or word[-1] != "s":
        return word
    if word[:-1].isupper() or (word.endswith("Es") and _CAMEL_OR_ACRONYM.search(word[:-1])):  # LLMs, MoEs
        return word[:-1]
    low = word.lower()
    if low in _SINGULAR_KEEP or low.endswith(("ss", "us", "is", "ics", "ous", "ws")):
        return word
    if low.endswith("ies") and len(low) > 4:
        return word[:-3] + "y"
    if low.endswith(("sses", "xes", "zes", "ches", "shes")) and not low.endswith("aches"):
        return word[:-2]
    return word[:-1]


def _word(raw: str) -> str:
    """A token that is not a plain word (hyphens, digits, apostrophes): its phrase word, or BREAK."""
    if "'" in raw or "’" in raw:
        raw = _POSSESSIVE.sub("", raw)
    raw = raw.strip("-‐‑'’.")
    if not raw or _ODD.search(raw) or is_breaker(raw.lower()):
        return BREAK
    return singular(normalize_word(raw))


def classify(token: str) -> str:
    """A token (text cut at punctuation and white space) as it stands in a run string: its phrase word,
    or BREAK."""
    if len(token) > MAX_WORD:  # a blob, a formula, a run-together list: no phrase word
        return BREAK
    if not token.isalpha():
        return BREAK if token == "|" else _word(token)
    low = token if token.islower() else token.lower()  # most tokens: a plain word, the fast path
    if low in _BREAKERS or len(low) < 2 or (len(low) > 4 and low.endswith("ly") and low not in _NOT_ADVERB):
        return BREAK
    return singular(token if low is not token and _CAMEL_OR_ACRONYM.search(token) else low)


class WordCache(dict[str, str]):
    """Token -> classify(token), filled on first use: a day's papers repeat the same few tens of thousands
    of tokens, so each is classified once per count."""

    def __missing__(self, token: str) -> str:
        word = self[token] = classify(token)
        return word


_URL_HINTS = ("://", "www.", ".com/", ".org/", ".io/", ".ai/", ".net/")


def _tokens(text: str) -> list[str]:
    if any(hint in text for hint in _URL_HINTS):
        text = _URL.sub(" | ", text)
    if "$" in text or "\\" in text:
        text = _LATEX_MATH.sub(" | ", text)
    return _PUNCTUATION.sub(" | ", text).split()


def _runs(title: str, abstract: str, cache: WordCache) -> list[str]:
    """The runs of two or more phrase words in a paper, words joined by spaces.

    Every pass over the text is C-level (sub, split, map, join, findall); Python runs once per distinct
    token and once per run. That is what keeps the statistics of a 2,000-paper pool cheap.
    """
    if title.isupper():  # an ALL-CAPS title
        title = title.lower()
    tokens = _tokens(f"{title} | {abstract}")
    return _RUN.findall(" ".join(map(cache.__getitem__, tokens)))


def chunks(text: str) -> list[list[str]]:
    """Runs of phrase words in ``text``, normalised, in order."""
    return [run.split(" ") for run in _runs(text, "", WordCache())]


def document_phrases(title: str, abstract: str, cache: WordCache | None = None) -> set[str]:
    """Every 2–4-word phrase of one paper (title and abstract), normalised, each once.

    Boilerplate (phrases made only of papers' own nouns) is kept here and dropped where phrases are
    judged (:func:`boilerplate`): checking it per paper would cost as much as the counting.
    """
    found: set[str] = set()
    add = found.add
    for run in _runs(title, abstract, WordCache() if cache is None else cache):
        # n-grams as slices of the run string (cheaper than joining lists of words)
        spaces = run.count(" ")
        if spaces == 1:  # two words: the common case
            add(run)
            continue
        if spaces == 2:
            a = run.index(" ")
            b = run.index(" ", a + 1)
            add(run)
            add(run[:b])
            add(run[a + 1 :])
            continue
        words = run.split(" ")
        ends = list(accumulate(map(len, words)))  # where word k ends, without the k spaces before it
        n = len(words)
        for i in range(n - 1):
            start = ends[i - 1] + i if i else 0
            for j in range(i + MIN_WORDS - 1, min(i + MAX_WORDS, n)):
                add(run[start : ends[j] + j])
    return found


def boilerplate(phrase: str) -> bool:
    """Made only of papers' own nouns: "experimental result", "benchmark dataset", "proposed method"."""
    return _PAPER_NOUNS.issuperset(phrase.split(" "))


def count_phrases(papers: Iterable[tuple[str, str, str]]) -> PhraseCounts:
    """Counts over ``(first author, title, abstract)`` triples, one per paper.

    ``first_authors`` is given for the phrases in two or more papers (in one paper it is 1).
    """
    cache = WordCache()
    found: list[set[str]] = []
    by_author: dict[str, list[int]] = {}  # first author -> their papers
    for first_author, title, abstract in papers:
        by_author.setdefault(" ".join(first_author.lower().split()), []).append(len(found))
        found.append(document_phrases(title, abstract, cache))
    docs = Counter(chain.from_iterable(found))  # one C-level count over every paper's phrases
    # A phrase's different first authors: its papers, less the repeats by an author with several papers
    # (few authors have two papers in a day, so this loop is short).
    repeats: Counter[str] = Counter()
    for papers_of in by_author.values():
        if len(papers_of) > 1:
            mine = Counter(chain.from_iterable(found[i] for i in papers_of))
            repeats.update({p: k - 1 for p, k in mine.items() if k > 1})
    authors = {p: n - repeats[p] for p, n in docs.items() if n > 1}
    return PhraseCounts(len(found), dict(docs), authors)


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
