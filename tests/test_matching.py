from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from digest.config import DEFAULT_TOPICS, Topic
from digest.matching import TopicMatcher, classify, compile_term
from digest.models import Candidate

FIXTURES = Path(__file__).parent / "fixtures" / "selection"


def cand(
    title: str, summary: str = "", categories: tuple[str, ...] = ("cs.LG",), key: str = "k"
) -> Candidate:
    return Candidate(
        key=key,
        kind="paper",
        title=title,
        url="https://example.org/" + key,
        summary=summary,
        authors=(),
        categories=categories,
        sources=("arxiv-listing",),
    )


def topics_of(matcher: TopicMatcher, c: Candidate) -> list[str]:
    return [m.topic for m in matcher.match(c)]


DEFAULT = TopicMatcher(DEFAULT_TOPICS)


# --- how keywords are matched ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "kind"),
    [("DPO", "acronym"), ("MLLM", "acronym"), ("Mamba", "name"), ("SAMBA", "acronym"),
     ("state space model", "phrase"), ("vision-language", "phrase"), ("multimodal", "phrase")],
)  # fmt: skip
def test_classify(keyword: str, kind: str) -> None:
    assert classify(keyword) == kind


def _finds(keyword: str, text: str) -> bool:
    term = compile_term(keyword)
    lowered = text.lower()
    return term.search(text, lowered, lowered.replace("-", ""))


@pytest.mark.parametrize(
    ("keyword", "text", "found"),
    [
        # acronyms: case-sensitive whole words, plural, -based, camel-case compounds ending in them
        ("LLM", "we study LLMs in the wild", True),
        ("LLM", "an LLM-based agent", True),
        ("LLM", "LLM's outputs", True),
        ("LLM", "multimodal MLLMs only", False),
        ("LLM", "the llm said", False),
        ("LLM", "LLMOPS tooling", False),
        ("DPO", "PersoDPO improves dialogue", True),
        ("DPO", "GRPO for maths", False),
        ("SSM", "diagonal SSMs", True),
        # names: as written or capitals, camel-case compounds, versions; never the lower-case word
        ("Mamba", "VMamba and MedMamba", True),
        ("Mamba", "MambaVF fuses video", True),
        ("Mamba", "a Mamba-2 block", True),
        ("Mamba", "Mamba2 layers", True),
        ("Mamba", "MAMBA layers", True),
        ("Mamba", "mamba install numpy", False),
        ("Mamba", "micromamba", False),
        ("Mamba", "Mambaout", False),
        # phrases: case-insensitive, hyphen/space, plural and -ing variants, -ise/-ize
        ("state space model", "Selective State-Space Models", True),
        ("state space model", "structured state space modeling", True),
        ("state space model", "a large state space", False),
        ("vision-language", "vision language pre-training", True),
        ("vision-language", "Vision-Language-Action models", True),
        ("multimodal", "multi-modal reasoning", True),
        ("preference optimization", "preference optimisation", True),
        ("reward model", "Reward Modeling for writing", True),
        ("language model", "a vision-language model", False),  # the tail of a hyphenated compound
        ("language model", "languagemodel", False),
    ],
)
def test_term_variants(keyword: str, text: str, found: bool) -> None:
    assert _finds(keyword, text) is found


def test_samba_keyword_in_capitals_does_not_match_the_file_server() -> None:
    assert not _finds("SAMBA", "Samba file server")
    assert _finds("SAMBA", "SAMBA hybrid layers")


# --- the synthetic tricky cases ---------------------------------------------------------------------


def _tricky() -> list[dict[str, object]]:
    lines = (FIXTURES / "tricky.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("case", _tricky(), ids=lambda c: str(c["id"]))
def test_tricky_cases(case: dict[str, object]) -> None:
    c = cand(str(case["title"]), str(case["summary"]), tuple(case["categories"]), key=str(case["id"]))  # type: ignore[arg-type]
    assert sorted(topics_of(DEFAULT, c)) == sorted(case["expect"]), case["why"]  # type: ignore[call-overload]


# --- context rules, on a user's own topic so nothing depends on the defaults ---------------------------


SNAKES = TopicMatcher({"ssm": Topic(label="SSM", keywords=["Mamba", "SSM", "state space model"])})


def test_ml_context_needed_without_an_ml_category() -> None:
    text = "Mamba is fast. Mamba is everywhere in this essay about gardening and travel."
    assert topics_of(SNAKES, cand("Mamba notes", text, categories=())) == []
    assert topics_of(SNAKES, cand("Mamba notes", text, categories=("cs.LG",))) == ["ssm"]
    ml_text = text + " We fine-tune transformers on a GPU with a public dataset."
    assert topics_of(SNAKES, cand("Mamba notes", ml_text, categories=())) == ["ssm"]


def test_acronym_spelled_out_in_a_non_ml_sense_is_ignored() -> None:
    dpo = TopicMatcher({"dpo": Topic(label="DPO", keywords=["DPO"])})
    officer = cand("DPO duties", "The Data Protection Officer (DPO) reviews datasets for neural networks.")
    method = cand("DPO at scale", "Direct Preference Optimization (DPO) aligns language models.")
    assert topics_of(dpo, officer) == []
    assert topics_of(dpo, method) == ["dpo"]


def test_exclude_term_vetoes_the_topic() -> None:
    topic = Topic(label="SSM", keywords=["Mamba"], exclude=["conda"])
    matcher = TopicMatcher({"ssm": topic})
    assert topics_of(matcher, cand("Mamba for vision", "Mamba blocks for images.")) == ["ssm"]
    assert topics_of(matcher, cand("Mamba for vision", "Mamba blocks; install with conda.")) == []
    ev = matcher.evidence(cand("Mamba for vision", "Mamba blocks; install with conda."))[0]
    assert ev.vetoed_by == ("conda",) and not ev.passes


def test_passing_mention_is_not_enough_but_title_or_opening_is() -> None:
    body = "We segment point clouds with sparse convolutions. Results improve. An SSM could help later."
    assert topics_of(SNAKES, cand("Point cloud segmentation", body)) == []
    assert topics_of(SNAKES, cand("Point cloud segmentation with SSMs", body)) == ["ssm"]
    opening = "State space models are efficient sequence models. " + body
    assert topics_of(SNAKES, cand("Point cloud segmentation", opening)) == ["ssm"]


def test_mentions_after_comparison_cues_do_not_count() -> None:
    body = "Unlike Mamba, our recurrent model is exact. It outperforms Mamba and S4 baselines."
    assert topics_of(SNAKES, cand("Exact recurrences", body)) == []
    # the cue's reach is short: the later mention in the same sentence is the paper's own
    own = "Style cues such as politeness or brevity are widely used in prompts to steer our Mamba model."
    assert topics_of(SNAKES, cand("Prompt styles", own)) == ["ssm"]


def test_title_counts_more_than_abstract() -> None:
    title_hit = DEFAULT.match(cand("Mamba for long video", "We propose a video encoder."))[0]
    abstract_hit = DEFAULT.match(cand("Long video encoders", "Mamba layers encode long videos."))[0]
    both = DEFAULT.match(cand("Mamba for long video", "Mamba layers encode long videos. Mamba is fast."))[0]
    assert title_hit.where == ("title",) and abstract_hit.where == ("abstract",)
    assert both.score > title_hit.score > abstract_hit.score > 0


def test_match_explains_terms_and_where() -> None:
    c = cand(
        "Direct preference optimization for LLMs",
        "We align large language models with DPO. DPO is stable.",
        categories=("cs.CL",),
    )
    matches = {m.topic: m for m in DEFAULT.match(c)}
    assert list(matches) == ["llm", "dpo"]  # configuration order
    assert matches["dpo"].terms == ("direct preference optimization", "DPO")
    assert matches["dpo"].where == ("title", "abstract")
    assert matches["dpo"].label == DEFAULT_TOPICS["dpo"].label
    assert TopicMatcher.relevance(matches.values()) > max(m.score for m in matches.values())


def test_overlapping_keywords_count_once() -> None:
    c = cand("Probing", "Large language models (LLMs) memorise facts. We probe large language models.")
    (m,) = DEFAULT.match(c)
    assert m.terms == ("large language model", "LLM")  # not also "language model"


def test_fast_on_the_shared_corpus_size() -> None:
    text = (FIXTURES / "papers.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in text]
    cands = [cand(r["title"], r["summary"], tuple(r["categories"]), key=r["id"]) for r in records]
    cands = (cands * (1700 // len(cands) + 1))[:1700]
    start = time.perf_counter()
    for c in cands:
        DEFAULT.match(c)
    assert time.perf_counter() - start < 2.0  # about 0.3 s on a laptop; generous for slow CI


# --- the words' other lives, as a user's day would bring them ----------------------------------------


@pytest.mark.parametrize(
    ("title", "summary", "categories"),
    [
        ("Assessment Design for Master of Laws (LLM) Programs",
         "We review how law schools assess students in their LLM programs and bar preparation.", ("cs.CY",)),
        ("Teaching Legal Writing in an LLM Program: Lessons from Master of Laws Students",
         "Foreign-trained lawyers in an LLM (Master of Laws) program write memos.", ("cs.CY",)),
        ("DPO Compliance Workflows for Cloud Providers",
         "We describe how a DPO at a cloud provider audits processing records under the GDPR.", ("cs.CY",)),
        ("Installing Mamba Environments on HPC Clusters",
         "Mamba resolves package environments faster on shared clusters with module systems.", ("cs.SE",)),
        ("Kalman Filtering in Linear State-Space Models for Power Grids",
         "A linear state-space model of the grid is estimated with a Kalman filter.", ("eess.SY",)),
        ("SSM: A Sparse Subspace Method for Clustering",
         "We propose SSM, which recovers union-of-subspace structure by sparse self-expression.", ("cs.LG",)),
    ],
)  # fmt: skip
def test_non_ml_senses_are_not_picked(title: str, summary: str, categories: tuple[str, ...]) -> None:
    assert topics_of(DEFAULT, cand(title, summary, categories)) == []


def test_ml_papers_outside_ml_categories_still_match_with_ml_words() -> None:
    c = cand(
        "Large Language Models in the Classroom",
        "We evaluate large language models (LLMs) as tutors on a benchmark of 500 questions, "
        "comparing fine-tuned and prompted models.",
        ("cs.CY",),
    )
    assert topics_of(DEFAULT, c) == ["llm"]
