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

import io
import re
import tempfile
import zlib
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from functools import partial
from itertools import accumulate, chain, compress, groupby, islice, repeat
from operator import eq, gt, itemgetter
from typing import IO, Any

from ..models import PhraseCounts

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
_PUNCTUATION_CHARS = '!"#$%&()*+,/:;<=>?@[\\]^_`{|}~“”‘«»–—…·•→←≤≥±×÷§¶†‡'
_PUNCTUATION = re.compile(f"[{re.escape(_PUNCTUATION_CHARS)}]|\\.(?!\\w)")
_TRAILING = _PUNCTUATION_CHARS + "."  # at a piece's end a period is followed by white space: punctuation
_CUT = frozenset(_TRAILING)  # the characters punctuation may be cut at
_ODD = re.compile(r"[^\w\-‐‑'’.]")  # left in a token after that: not a phrase word (≈, emoji, ...)
_LATEX_MATH = re.compile(r"\$[^$]*\$|\\\(.*?\\\)|\\[A-Za-z]+\*?(?:\{[^{}]*\})?")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b\S+\.(?:com|org|io|ai|net)/\S*")
_HYPHEN = re.compile(r"[-‐‑]")
_LOWER_HYPHENATED = re.compile(r"[a-z]+(?:-[a-z]+)+\Z")
_CAMEL_OR_ACRONYM = re.compile(r"[A-Z].*[A-Z]|[a-z0-9][A-Z]")
_POSSESSIVE = re.compile(r"['’]s$")

BREAK = "\n"  # what a breaker becomes in a run string
# Two or more words between breakers, in a run string that starts with a breaker ("\n "): a run starts
# after a space (a literal the regex engine skips to), and whoever follows a word is at a token's start.
_RUN = re.compile(r" ([^\n ]+(?: [^\n ]+)+)")


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
    if word.islower():  # no capital anywhere: every part stays as it is (most hyphenated words)
        return word if "‐" not in word and "‑" not in word else _HYPHEN.sub("-", word)
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
        if _LOWER_HYPHENATED.match(token):  # fine-grained, vision-language: _word's answer, the fast way
            return BREAK if token in _BREAKERS else token
        return BREAK if token == "|" else _word(token)
    low = token if token.islower() else token.lower()  # most tokens: a plain word, the fast path
    if low in _BREAKERS or len(low) < 2 or (len(low) > 4 and low.endswith("ly") and low not in _NOT_ADVERB):
        return BREAK
    return singular(token if low is not token and _CAMEL_OR_ACRONYM.search(token) else low)


CACHE_PIECES = 50_000  # pieces a WordCache holds at most: 6 MB (a 2,000-paper day has 39,000 different ones)


class _Words(dict[str, str]):
    """Token -> classify(token), filled on first use."""

    def __missing__(self, token: str) -> str:
        word = self[token] = classify(token)
        return word


class WordCache(dict[str, str]):
    """A piece of text between white space -> what it stands for in a run string, filled on first use.

    That is its tokens (the piece cut at punctuation) classified and joined by spaces: ``models,`` is
    ``model`` and a BREAK. A day's papers repeat the same few tens of thousands of pieces, so each is cut
    and classified once per count, and the text itself is only split at white space (punctuation is cut
    per piece: a period ends a phrase unless a letter or digit follows it, and what follows a piece's last
    character is white space, so cutting the piece alone cuts it as cutting the whole text would).
    """

    def __init__(self) -> None:
        super().__init__()
        self._words = _Words()

    def __missing__(self, piece: str) -> str:
        if piece.isalpha():  # a plain word: no punctuation in it
            value = classify(piece)
        elif (core := piece.lstrip(_PUNCTUATION_CHARS).rstrip(_TRAILING)) and _CUT.isdisjoint(core):
            # a word (fine-grained, 3D) alone, or in brackets, quotes, before a comma or period: "(LLMs),"
            # is BREAK LLM BREAK. A period inside (Qwen2.5, e.g) is for the rule below.
            left = BREAK + " " if piece[0] != core[0] else ""
            right = " " + BREAK if piece[-1] != core[-1] else ""
            value = left + self._words[core] + right
        else:
            value = " ".join(map(self._words.__getitem__, _PUNCTUATION.sub(" | ", piece).split()))
        if len(self) >= CACHE_PIECES:  # a large pool's long tail of words: start again, not grow without end
            self.clear()
            self._words.clear()
        self[piece] = value
        return value


_URL_HINTS = (".com/", ".org/", ".io/", ".ai/", ".net/")


def _runs(title: str, abstract: str, cache: WordCache) -> list[str]:
    """The runs of two or more phrase words in a paper, words joined by spaces.

    Every pass over the text is C-level (split, map, join, findall); Python runs once per distinct piece
    of text and once per run of three or more words. That is what keeps the statistics of a 2,000-paper
    pool cheap.
    """
    if title.isupper():  # an ALL-CAPS title
        title = title.lower()
    text = f"| {title} | {abstract}"  # starting with a breaker: see _RUN
    if "://" in text or "www." in text or any(hint in text for hint in _URL_HINTS):
        text = _URL.sub(" | ", text)
    if "$" in text or "\\" in text:
        text = _LATEX_MATH.sub(" | ", text)
    return _RUN.findall(" ".join(map(cache.__getitem__, text.split())))


def chunks(text: str) -> list[list[str]]:
    """Runs of phrase words in ``text``, normalised, in order."""
    return [run.split(" ") for run in _runs(text, "", WordCache())]


def document_phrases(title: str, abstract: str, cache: WordCache | None = None) -> set[str]:
    """Every 2–4-word phrase of one paper (title and abstract), normalised, each once.

    Boilerplate (phrases made only of papers' own nouns) is kept here and dropped where phrases are
    judged (:func:`boilerplate`): checking it per paper would cost as much as the counting.
    """
    runs = _runs(title, abstract, WordCache() if cache is None else cache)
    found = set(runs)  # a run of 2 to 4 words is a phrase itself; most runs are two words, and done
    add = found.add
    for run in runs:
        # n-grams as slices of the run string (cheaper than joining lists of words)
        spaces = run.count(" ")
        if spaces == 1:
            continue
        if spaces == 2:
            a = run.index(" ")
            b = run.index(" ", a + 1)
            add(run[:b])
            add(run[a + 1 :])
            continue
        words = run.split(" ")
        ends = list(accumulate(map(len, words)))  # where word k ends, without the k spaces before it
        n = len(words)
        if n > MAX_WORDS:
            found.discard(run)
        for i in range(n - 1):
            start = ends[i - 1] + i if i else 0
            for j in range(i + MIN_WORDS - 1, min(i + MAX_WORDS, n)):
                add(run[start : ends[j] + j])
    return found


def boilerplate(phrase: str) -> bool:
    """Made only of papers' own nouns: "experimental result", "benchmark dataset", "proposed method"."""
    return _PAPER_NOUNS.issuperset(phrase.split(" "))


# What the counting lets through but a term never holds: number words ("two module" of "two modules
# that ...") and prepositions the stop words lack ("including diffusion", "problem due").
_NOT_IN_TERM = frozenset(
    """
    two three four five six seven eight nine ten eleven twelve twenty thirty hundred thousand million
    billion dozen like unlike due including regarding concerning despite versa
    """.split()
)
# A term ends on its noun. A last word in an adjective's or a participle's form means the noun was cut
# off ("continuous generative", "framework grounded"); the nouns with those endings are listed.
_MODIFIER_END = re.compile(r"(?:ous|ive|ic|[^e]ed)\Z")
_NOUNS_ENDING_LIKE_MODIFIERS = frozenset(
    """
    positive negative alternative objective perspective incentive initiative derivative archive directive
    executive representative relative narrative motive detective adjective primitive metric topic logic
    heuristic arithmetic rubric music clinic graphic critic mechanic traffic epic
    """.split()
)


def reads_as_term(phrase: str) -> bool:
    """Whether a counted phrase reads as a term when it is shown on its own (the emerging terms): the
    counting stores fragments too, which this leaves out of what is shown, not out of the counts."""
    words = phrase.split(" ")
    if _NOT_IN_TERM.intersection(words):
        return False
    last = words[-1].rsplit("-", 1)[-1]
    return not (last.islower() and _MODIFIER_END.search(last) and last not in _NOUNS_ENDING_LIKE_MODIFIERS)


PART_PAPERS = 1000  # papers per part of a large pool's phrase table (see count_phrases)
PARTS_FROM = 2500  # papers: a smaller pool is counted in one table
_SAMPLE_PAPERS = 50  # the papers whose phrases say where the parts split


def count_phrases(papers: Iterable[tuple[str, str, str]]) -> PhraseCounts:
    """Counts over ``(first author, title, abstract)`` triples, one per paper, in the form the state keeps:
    ``docs`` and ``first_authors`` for the phrases in two or more papers, ``single`` the sorted hashes
    (:func:`phrase_hash`) of those in one.

    Memory: a day's phrases are nearly all different (45 new ones a paper: 420,000 at 10,000 papers), and
    a table of them costs about 110 bytes a phrase. So each paper's phrases are counted and let go, and a
    pool of more than PARTS_FROM papers is counted in parts of about PART_PAPERS papers' phrases, by where
    a phrase sorts (:func:`_part_tables`): only one part's table is held at a time.
    """
    cache = WordCache()
    rows = [(" ".join(author.lower().split()), title, abstract) for author, title, abstract in papers]
    n = len(rows)
    papers_by = Counter(author for author, _, _ in rows)
    # Only the few authors with several papers in a day keep their papers' phrases, to tell their repeats
    # apart (3 % of the corpus's papers).
    kept: dict[str, list[str]] = {}  # their papers' phrases, one string a paper

    def each_paper() -> Iterator[set[str]]:
        for author, title, abstract in rows:
            found = document_phrases(title, abstract, cache)
            if papers_by[author] > 1:
                kept.setdefault(author, []).append("\n".join(found))  # a phrase has no line break
            yield found
        cache.clear()  # the texts are read: let the words go before the tables are counted

    parts = -(-n // PART_PAPERS) if n > PARTS_FROM else 1
    tables = _tables(each_paper()) if parts <= 1 else _part_tables(each_paper(), parts)
    several: dict[str, int] = {}
    runs = []  # each table's single-paper hashes, sorted
    for in_several, single_hashes in tables:
        several.update(in_several)
        runs.append(array("I", sorted(single_hashes)))
    single = _merged_once(runs)
    # A phrase's different first authors: its papers, less the repeats by an author with several papers.
    repeats: Counter[str] = Counter()
    for texts in kept.values():
        mine = Counter("\n".join(texts).split("\n"))
        repeats.update({p: k - 1 for p, k in mine.items() if k > 1})
    authors = {p: k - repeats[p] for p, k in several.items()} if repeats else dict(several)
    return PhraseCounts(n, several, authors, single)


_Table = tuple[Iterable[tuple[str, int]], Iterable[int]]  # (phrase, papers) of those in several; hashes


def _tables(found: Iterator[set[str]]) -> Iterator[_Table]:
    docs: Counter[str] = Counter()
    for f in found:
        docs.update(f)
    # the single-paper phrases hashed from their UTF-8, as phrase_hash
    yield _several(docs), map(zlib.crc32, map(str.encode, compress(docs, map(eq, docs.values(), repeat(1)))))


def _several(docs: Counter[Any]) -> Iterator[tuple[Any, int]]:
    return compress(docs.items(), map(gt, docs.values(), repeat(1)))


def _part_tables(found: Iterator[set[str]], parts: int) -> Iterator[_Table]:
    """The counts of the phrases in each of ``parts`` alphabetical ranges, one after another.

    A part's phrases wait in a temporary file, a line each in UTF-8, and are counted as the file's lines
    (a paper's phrases are distinct, so a count of lines is a count of papers; a single-paper phrase is
    hashed from its line, never made a string): memory holds one part's table at a time, not the day's
    text. Where no temporary file can be made (a read-only system), the lines wait in memory.
    """
    head = list(islice(found, _SAMPLE_PAPERS))
    sample = sorted(chain.from_iterable(head))
    bounds = [sample[len(sample) * k // parts] for k in range(1, parts)] if sample else []
    with ExitStack() as stack:
        files: list[IO[bytes]] = []
        for _ in range(parts):
            try:
                files.append(stack.enter_context(tempfile.TemporaryFile()))
            except OSError:
                files.append(io.BytesIO())
        for f in chain(head, found):
            ordered = sorted(f)
            cuts = [0, *map(partial(bisect_left, ordered), bounds), len(ordered)]
            for k in range(parts):
                if cuts[k] < cuts[k + 1]:
                    files[k].write("\n".join(ordered[cuts[k] : cuts[k + 1]]).encode("utf-8") + b"\n")
        del head
        for part in files:
            part.seek(0)
            docs: Counter[bytes] = Counter(part)  # its lines, each with its line break
            part.close()
            in_several = [(line[:-1].decode("utf-8"), n) for line, n in _several(docs)]
            yield (
                in_several,
                map(zlib.crc32, map(bytes.rstrip, compress(docs, map(eq, docs.values(), repeat(1))))),
            )
            del docs, in_several


def phrase_hash(phrase: str) -> int:
    """What a phrase found in a single paper is kept as: the CRC-32 of its UTF-8, 4 bytes instead of a
    row (enough to count it in a baseline and to know it was seen; two phrases of one hash are rare and
    cost at most one paper in a count)."""
    return zlib.crc32(phrase.encode("utf-8"))


def _merged_once(runs: list[array[int]]) -> array[int]:
    """Sorted runs of hashes merged, each hash once. A range of values at a time, found in each run by
    bisection: sorting makes an int object of each hash (32 bytes, where an array holds 4), and 400,000
    at once would be 15 MB."""
    total = sum(map(len, runs))
    step = 2**32 // max(1, total // _MERGE_CHUNK)
    out = array("I")
    for low in range(0, 2**32, step):
        high = low + step
        ordered = sorted(chain.from_iterable(r[bisect_left(r, low) : bisect_left(r, high)] for r in runs))
        if any(map(eq, ordered, islice(ordered, 1, None))):  # a hash shared by two phrases: kept once
            out.extend(map(itemgetter(0), groupby(ordered)))
        else:
            out.extend(ordered)
    return out


_MERGE_CHUNK = 50_000  # hashes merged at a time


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
