from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest._compat import tomllib
from digest.config import DEFAULT_TOPICS, Topic
from digest.models import Candidate
from digest.selection.matching import TopicMatcher, classify, compile_term, squash

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
    return term.search(text, lowered, squash(text))


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
        ("multimodal trajectory", "complex, multi-modal trajectories", True),  # a hyphen in a long word
        ("nonlinear state space model", "non-linear state-space models", True),
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


def test_an_acronym_the_topic_spells_out_is_foreign_in_another_sense() -> None:
    # The topic says what DPO stands for: a text that defines it otherwise means something else.
    spelled = TopicMatcher({"dpo": Topic(label="DPO", keywords=["DPO", "direct preference optimization"])})
    policy = "Distributional Policy Optimization (DPO) trains neural agents on benchmarks."
    dual = "Dual Preference Optimisation (DPO) aligns language models with ranked pairs."
    assert topics_of(spelled, cand("DPO for control", policy)) == []
    assert topics_of(spelled, cand("DPO at scale", dual)) == ["dpo"]
    # A topic that lists the acronym alone takes any ML sense of it.
    alone = TopicMatcher({"dpo": Topic(label="DPO", keywords=["DPO"])})
    assert topics_of(alone, cand("DPO for control", policy)) == ["dpo"]


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


def test_the_opening_is_two_sentences() -> None:
    # the first sentence sets the field, the second names the technology the paper is about
    second = "Point clouds are everywhere. Recent state space models read them in linear time. We go on."
    assert topics_of(SNAKES, cand("Point cloud segmentation", second)) == ["ssm"]
    third = "Point clouds are everywhere. They are hard. Recent state space models read them. We go on."
    assert topics_of(SNAKES, cand("Point cloud segmentation", third)) == []
    # a cued mention in the second sentence is still someone else's method
    cued = "Point clouds are everywhere. Unlike state space models, our kernel is exact. We go on."
    assert topics_of(SNAKES, cand("Point cloud segmentation", cued)) == []


def test_later_sentences_count_when_the_topic_keeps_coming_back() -> None:
    opening = "Point clouds are everywhere. They are hard to segment. "
    twice = opening + "Our SSM reads them. It is fast. SSM layers are small."
    assert topics_of(SNAKES, cand("Point cloud segmentation", twice)) == []
    thrice = twice + " Each SSM is trained once."
    assert topics_of(SNAKES, cand("Point cloud segmentation", thrice)) == ["ssm"]
    # one sentence that repeats it is still one mention
    repeated = opening + "Our SSM, a Mamba-style SSM with SSM gates, reads them. It is fast."
    assert topics_of(SNAKES, cand("Point cloud segmentation", repeated)) == []


def test_a_later_sentence_stating_the_contribution_counts() -> None:
    opening = "Point clouds are everywhere. They are hard to segment. Sequences of frames are long. "
    # "we introduce ..." is the paper saying what it is, wherever the sentence stands
    own = opening + "At its core, we introduce a Mamba-enhanced temporal encoder. It is fast."
    assert topics_of(SNAKES, cand("Point cloud segmentation", own)) == ["ssm"]
    this_work = opening + "This work further presents an SSM decoder. It is fast."
    assert topics_of(SNAKES, cand("Point cloud segmentation", this_work)) == ["ssm"]
    # the verb must govern the hit: a tool the paper uses, a baseline, another clause, a far-off word
    use = opening + "We use an SSM to label frames. It is fast."
    assert topics_of(SNAKES, cand("Point cloud segmentation", use)) == []
    cued = opening + "We propose a kernel that outperforms Mamba. It is fast."
    assert topics_of(SNAKES, cand("Point cloud segmentation", cued)) == []
    clause = opening + "We propose a sparse kernel; an SSM could be added later. It is fast."
    assert topics_of(SNAKES, cand("Point cloud segmentation", clause)) == []
    far = opening + "We propose a kernel " + "that is sparse, " * 9 + "and SSM-free in spirit. It is fast."
    assert topics_of(SNAKES, cand("Point cloud segmentation", far)) == []
    # a subject that is not the paper: "they propose" is related work
    others = opening + "Gu et al. propose a Mamba encoder. It is fast."
    assert topics_of(SNAKES, cand("Point cloud segmentation", others)) == []


_SURVEY = "Attention is exact but quadratic, while SSMs use linear compute but forget. "


@pytest.mark.parametrize(
    ("title", "rest", "expected"),
    [
        # named in the opening only, later set aside: the opening surveyed what the paper departs from
        ("Sparse caches for sequence mixing",
         "We develop a sparse cache that is linear too. Unlike SSMs, it keeps every token.", []),
        # the same opening without the contrast: the SSMs are what the paper is about
        ("Sparse caches for sequence mixing",
         "We develop a sparse cache that is linear too. It keeps every token.", ["ssm"]),
        # "outperforms" compares with peers: the opening still counts
        ("Sparse caches for sequence mixing",
         "We develop a sparse cache. It outperforms SSMs of the same size.", ["ssm"]),
        # the title or a contribution sentence outweighs the contrast
        ("Sparse caches for SSMs", "We develop a sparse cache. Unlike SSMs, it keeps every token.", ["ssm"]),
        ("Sparse caches for sequence mixing",
         "We introduce a gated SSM with a sparse cache. Unlike SSMs, it keeps every token.", ["ssm"]),
    ],
)  # fmt: skip
def test_an_opening_that_surveys_what_the_paper_sets_aside_does_not_count(
    title: str, rest: str, expected: list[str]
) -> None:
    assert topics_of(SNAKES, cand(title, _SURVEY + rest)) == expected


def test_mentions_after_comparison_cues_do_not_count() -> None:
    body = "Unlike Mamba, our recurrent model is exact. It outperforms Mamba and S4 baselines."
    assert topics_of(SNAKES, cand("Exact recurrences", body)) == []
    # the cue's reach is short: the later mention in the same sentence is the paper's own
    own = "Style cues such as politeness or brevity are widely used in prompts to steer our Mamba model."
    assert topics_of(SNAKES, cand("Prompt styles", own)) == ["ssm"]


def test_a_hyphenated_like_is_no_comparison() -> None:
    suffix = "We probe working-memory-like behaviour in Mamba models on n-back tasks."
    assert topics_of(SNAKES, cand("Working memory probes", suffix)) == ["ssm"]
    word = "We probe working memory in recurrent models like Mamba on n-back tasks."
    assert topics_of(SNAKES, cand("Working memory probes", word)) == []


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


# --- what the text itself says: acronyms it defines, compounds, excludes ------------------------------


PREFS = TopicMatcher(
    {
        "pref": Topic(label="Pref", keywords=["preference optimization", "reward model"],
                      exclude=["process reward model"]),
        "vl": Topic(label="VL", keywords=["vision-language"]),
        "lm": Topic(label="LM", keywords=["large language model", "large vision-language model"]),
    }
)  # fmt: skip


def test_an_acronym_the_text_defines_for_a_keyword_phrase_is_that_keyword() -> None:
    text = "We revisit Simple Preference Optimization (SimPO) for chat models. SimPO needs no reference."
    assert topics_of(PREFS, cand("Length bias in SimPO", text)) == ["pref"]
    m = PREFS.match(cand("Length bias in SimPO", text))[0]
    assert m.where == ("title", "abstract") and "SimPO" in m.terms
    # plural definition, acronym used in the title only
    lvlm = "Large vision-language models (LVLMs) hallucinate objects. We measure it."
    assert sorted(topics_of(PREFS, cand("Why LVLMs hallucinate", lvlm))) == ["lm", "vl"]


def test_an_acronym_means_nothing_the_text_does_not_define() -> None:
    # not defined: "SimPO" in a title is not a keyword by itself
    assert topics_of(PREFS, cand("Length bias in SimPO", "We study chat models and their lengths.")) == []
    # defined, but as a phrase without a keyword: policy optimisation is not preference optimisation
    grpo = "Group Relative Policy Optimization (GRPO) trains reasoners. GRPO is cheap."
    assert topics_of(PREFS, cand("GRPO for maths", grpo)) == []
    # defined as an excluded phrase: a process reward model is no reward model
    prm = "Process Reward Models (PRMs) score reasoning steps. PRMs are costly to train."
    assert topics_of(PREFS, cand("Cheaper PRMs", prm)) == []


def test_a_configured_acronym_keeps_its_configured_meaning() -> None:
    asr = TopicMatcher({"speech": Topic(label="Speech", keywords=["speech recognition", "ASR"])})
    attack = "Jailbreaks raise the attack success rate (ASR) of chat models. ASR doubles under our attack."
    assert topics_of(asr, cand("ASR of jailbreaks", attack, ("cs.CR",))) == []
    speech = "Automatic speech recognition (ASR) for low-resource languages. We fine-tune Whisper."
    assert topics_of(asr, cand("ASR for Bashkir", speech, ("cs.CL",))) == ["speech"]


def test_a_term_inside_a_longer_term_of_another_topic_counts_for_both() -> None:
    inside = cand("Decoding in large vision-language models", "We study decoding.")
    assert sorted(topics_of(PREFS, inside)) == ["lm", "vl"]
    # partial overlap: the compound that starts first wins ("vision language model" is no LLM)
    lm = TopicMatcher({"vl": Topic(label="VL", keywords=["vision-language"]),
                       "lm": Topic(label="LM", keywords=["language model"])})  # fmt: skip
    assert topics_of(lm, cand("Probing vision language models", "We probe them.")) == ["vl"]


def test_an_exclude_term_over_a_hit_says_what_that_keyword_means_in_the_whole_text() -> None:
    # One sense per text: after "process reward model", the paper's other "reward model"s (the
    # outcome reward models beside it) are verifiers too.
    prm = "We train a process reward model for maths. Outcome reward models only score final answers."
    assert topics_of(PREFS, cand("Reward models for step-level verification", prm)) == []
    ev = PREFS.evidence(cand("Reward models for step-level verification", prm))[0]
    assert ev.vetoed_by == () and ev.hits == ()  # dropped, not a veto
    # the other keywords of the topic still count
    both = "We train a process reward model, then apply preference optimization with it. It helps."
    assert topics_of(PREFS, cand("Reward models for dialogue", both)) == ["pref"]


def test_several_exclude_terms_over_one_keyword_are_no_veto() -> None:
    # the second exclude term finds the keyword already gone: it still covers it, it vetoes nothing
    mm = TopicMatcher(
        {"mm": Topic(label="MM", keywords=["multimodal", "vision-language"],
                     exclude=["multimodal sensor", "multimodal physiological"])}
    )  # fmt: skip
    text = "Multimodal sensors and multimodal physiological signals feed a vision-language model."
    assert topics_of(mm, cand("Wearables", text)) == ["mm"]
    assert topics_of(mm, cand("Wearables", text.replace(" feed a vision-language model", ""))) == []


# --- the default topics follow their definitions (docs/configuration.md, "기본 주제") ---------------------


@pytest.mark.parametrize(
    ("title", "summary", "expected"),
    [
        ("Grounded reasoning in multimodal large language models",
         "We probe MLLMs on charts.", ["llm", "multimodal"]),
        ("Hallucination in LVLMs", "Large vision-language models (LVLMs) describe absent objects.",
         ["llm", "multimodal"]),
        ("Prompting vision-language models for retrieval", "We prompt VLMs with captions.", ["multimodal"]),
        ("Whisper for Bashkir", "We fine-tune a speech recognition model on 30 h of audio.", ["multimodal"]),
        ("Fast text-to-video diffusion", "We distil a video generator into four steps.", ["multimodal"]),
        ("Text-to-SQL with small models", "We translate questions into SQL queries on a benchmark.", []),
        ("Infrared and visible image fusion",
         "Multi-modal image fusion combines thermal and RGB images into one image.", []),
        ("Steering chat models with RLHF", "We study reward hacking in RLHF pipelines.", ["dpo"]),
        ("Process reward models for maths", "A process reward model scores each reasoning step.", []),
        ("Model-based RL with learned world models",
         "Model-based reinforcement learning learns dynamics and reward models from data.", []),
        ("Aligning chat models", "Reinforcement learning from human feedback tunes chat models.", ["dpo"]),
        ("Annotation tools that listen", "Our interface collects human feedback on dataset labels.", []),
        ("Preference learning for news recommendation", "We model user preferences for ranking news.", []),
        ("RWKV for speech", "We train RWKV layers on spoken utterances.", ["mamba"]),
        ("Linear recurrent units for long sequences", "Linear recurrent layers scan in parallel.", ["mamba"]),
        ("Legendre memory units for wind forecasting",
         "A Legendre memory unit keeps a sliding window of the past.", ["mamba"]),
        ("xLSTM and DeltaNet at scale", "We train both families on the same tokens.", ["mamba"]),
        ("Scaling retention", "Retentive Networks (RetNets) train in parallel. Our RetNet decodes in O(1).",
         ["mamba"]),
        ("Retinal vessel segmentation",
         "Our RetNet-like U-Net segments retinal vessels with deep learning.", []),
        ("Ablations", "Neural results are in Figure S4D and in the dataset card.", []),
        ("Spotted hyena re-identification", "We match Hyena flank patterns across camera traps.", []),
        ("Temporal grounding with video LLMs", "We tune Video-LLMs on event boundaries.",
         ["llm", "multimodal"]),
        ("Serving with vLLM", "We measure vLLM throughput on long prompts.", ["llm"]),
        ("Aligning image generators with human preferences",
         "We fine-tune a diffusion model on ranked pairs.", ["dpo"]),
        # "multimodal" in its other senses: modes of a distribution, several means of transport
        ("High-accuracy sampling with diffusions",
         "Diffusion models sample from rich multi-modal distributions. We bound their error.", []),
        ("Diffusion policies for safe RL",
         "Diffusion policies represent multimodal action distributions beyond Gaussian policies.", []),
        ("Traffic signal control for equity",
         "Coordinating traffic signals along multimodal corridors is hard for deep RL.", []),
        ("Multimodal trajectory forecasting with vision-language cues",
         "We fuse language instructions and images to forecast pedestrians.", ["multimodal"]),
        # classical state-space models are no SSM architecture
        ("Particle filtering for non-linear state-space models",
         "We study Bayesian inference in nonlinear state-space models with neural proposals.", []),
        ("Linear Gaussian state space models with neural emissions",
         "Linear Gaussian state space models meet neural networks.", []),
        ("Mamba meets Kalman", "We propose a selective state space model for tracking.", ["mamba"]),
        # modalities without language, audio or video: the paper's every "multimodal" is that sense
        ("Multimodal affect recognition from wearables",
         "We fuse multimodal physiological signals (EEG, ECG) with a transformer for multimodal affect "
         "modeling.", []),
        ("Multimodal brain tumour segmentation",
         "Multimodal MRI (T1, T2, FLAIR) feeds a multimodal U-Net.", []),
        # an acronym of the topic, defined as something else
        ("Single-stage detectors", "Single-stage models (SSMs) detect objects with a transformer.", []),
        ("Power-aware GPU scheduling",
         "Dynamic Power Optimization (DPO) schedules GPUs for neural network training.", []),
        ("Counting with linear recurrences",
         "We solve linear recurrence relations with integer coefficients in closed form.", []),
    ],
)  # fmt: skip
def test_default_topics(title: str, summary: str, expected: list[str]) -> None:
    assert sorted(topics_of(DEFAULT, cand(title, summary, ("cs.LG",)))) == expected


def test_the_configuration_page_documents_the_default_topics() -> None:
    """docs/configuration.md's default topics are the documented interface: they are the built-in ones."""
    page = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text(encoding="utf-8")
    block = page.split("### 기본 주제", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    documented = {key: Topic(**topic) for key, topic in tomllib.loads(block)["topics"].items()}
    assert documented == DEFAULT_TOPICS


def test_a_paper_without_any_anchor_is_skipped_exactly() -> None:
    # match() returns early when no term's anchor is in title or abstract; on three real days (1,230
    # papers) every paper it skips has no passing topic by the full reading either.
    import gzip

    matcher = TopicMatcher(DEFAULT_TOPICS)
    skipped = matched = 0
    for path in sorted((Path(__file__).parent / "fixtures" / "corpus").glob("arxiv-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                c = cand(r["title"], r["summary"], categories=tuple(r["categories"]))
                full = [ev.topic for ev in matcher.evidence(c) if ev.passes]
                assert [m.topic for m in matcher.match(c)] == full, r["id"]
                anchors = matcher._fields(c)[2]
                skipped += not anchors[0] and not anchors[1]
                matched += bool(full)
    assert skipped > 300 and matched > 500  # both paths are exercised


def test_grouped_anchor_scan_finds_what_testing_each_anchor_finds() -> None:
    import gzip

    from digest.selection.matching import anchor_groups, scan_anchors

    # the default topics' anchors, and a user's that start alike or hold one another
    extra = [compile_term(k) for k in ("text-to-image", "text-to-im", "LLM", "MLLM", "LLMOps", "textual")]
    defaults = [compile_term(k) for topic in DEFAULT_TOPICS.values() for k in topic.keywords]
    anchors = [(t.anchor, t.cased) for t in (*defaults, *extra)]
    groups = anchor_groups(anchors)
    assert len(groups) < len(set(anchors))  # some tests are shared
    texts = ["A text-to-image MLLM and LLMOps, textual.", "Nothing here.", "MLLM only"]
    for path in sorted((Path(__file__).parent / "fixtures" / "corpus").glob("arxiv-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts += [(lambda r: f"{r['title']}\0{r['summary']}")(json.loads(line)) for line in f]
    for text in texts:
        squashed = squash(text)
        naive = {(a, c) for a, c in anchors if a in (text if c else squashed)}
        assert set(scan_anchors(groups, text, squashed)) == naive, text[:80]


def test_asr_is_speech_recognition_unless_the_text_says_otherwise() -> None:
    speech = cand("Evaluation of multilingual ASR for African languages", "We measure word error rates.")
    assert "multimodal" in topics_of(DEFAULT, speech)
    attack = cand(
        "Jailbreaking aligned chat models",
        "Attack success rates (ASR) of prompts against large language models are high. ASR rises with use.",
        categories=("cs.CL",),
    )
    assert topics_of(DEFAULT, attack) == ["llm"]
