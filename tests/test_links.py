"""Repository links found in untrusted text, written the ways real abstracts and arXiv comments write them."""

from __future__ import annotations

import pytest

from digest.models import Candidate
from digest.rendering.links import huggingface_url, pdf_url, repositories, repository


@pytest.mark.parametrize(
    ("text", "url"),
    [
        # The sentence's full stop, a closing parenthesis and comma, a trailing slash.
        ("Code: https://github.com/CarloSgaravatti/LCF3D.", "https://github.com/CarloSgaravatti/LCF3D"),
        ("(https://github.com/PrachuryyaKaushik/AWED-FiNER),", "https://github.com/PrachuryyaKaushik/AWED-FiNER"),
        ("at https://github.com/thunlp/SE-Bench/.", "https://github.com/thunlp/SE-Bench"),
        # LaTeX: \url{}, \href{}{text}, the same URL twice, escaped underscores and hashes.
        (r"\url{https://github.com/tmllab/Awesome-3DGS-IP-Protection}", "https://github.com/tmllab/Awesome-3DGS-IP-Protection"),
        (r"\href{https://github.com/Buddhi19/SyntheticGen.git}{Github}", "https://github.com/Buddhi19/SyntheticGen"),
        (r"\href{https://github.com/a/MERGETUNE}{https://github.com/a/MERGETUNE}.", "https://github.com/a/MERGETUNE"),
        (r"https://github.com/prism-ssm/partial\_ring\_scan", "https://github.com/prism-ssm/partial_ring_scan"),
        (r"https://github.com/google-deepmind/neptune?tab=readme-ov-file\#minerva", "https://github.com/google-deepmind/neptune"),
        # .git and .git., no scheme, www., a tree path kept (monorepos), http made https.
        ("https://github.com/jushengzhang/Rational-ANOVA-Networks.git.", "https://github.com/jushengzhang/Rational-ANOVA-Networks"),
        ("see github.com/naturenurtureelite/ADVOSYNTH-500.", "https://github.com/naturenurtureelite/ADVOSYNTH-500"),
        ("http://www.github.com/a/b", "https://github.com/a/b"),
        ("at this link-https: //github.com/naturenurtureelite/ADVOSYNTH-500.", "https://github.com/naturenurtureelite/ADVOSYNTH-500"),
        ("https://github.com/liuyaguo/_CoGenCast.", "https://github.com/liuyaguo/_CoGenCast"),
        ("https://github.com/BlueDyee/VecSet-Edit/tree/main", "https://github.com/BlueDyee/VecSet-Edit/tree/main"),
        # GitLab (nested groups, stopping at /-/) and the Hub.
        ("https://gitlab.com/grp/sub/proj/-/tree/main.", "https://gitlab.com/grp/sub/proj"),
        ("weights: https://huggingface.co/Qwen/Qwen2.5-7B-Instruct.", "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct"),
        ("https://hf.co/spaces/prachuryyaIITG/AWED-FiNER),", "https://huggingface.co/spaces/prachuryyaIITG/AWED-FiNER"),
    ],
)
def test_repository_urls_are_cut_where_the_url_ends(text, url):
    assert [r.url for r in repositories(text)] == [url]


@pytest.mark.parametrize(
    "text",
    [
        "Project page: https://wusar.github.io/projects/skeletongaussian/",  # a page, not a repository
        "https://gist.github.com/a/b and https://api.github.com/repos/a/b",  # other hosts
        "https://github.com/orgs/openai/repositories",  # GitHub's own pages
        "https://github.com/onlyowner",
        "https://huggingface.co/papers/2602.04863 https://huggingface.co/docs/transformers",
        "https://huggingface.co/collections/a/b https://huggingface.co/datasets/squad",
        "https://notgithub.com/a/b evilgithub.com/a/b",
        "javascript:alert(1)//github.com/a/b",
        "",
    ],
)
def test_what_is_not_a_repository(text):
    assert repositories(text) == []


def test_hostile_text_around_a_url_never_reaches_the_link():
    found = repositories('https://github.com/eve/x"><script>alert(1)</script> https://github.com/eve/y\'onclick=')
    assert [r.url for r in found] == ["https://github.com/eve/x", "https://github.com/eve/y"]


def test_labels_say_what_the_repository_holds():
    text = (
        "Models: https://huggingface.co/a/m, data: https://huggingface.co/datasets/a/d, "
        "demo: https://huggingface.co/spaces/a/s."
    )
    assert [r.label for r in repositories(text)] == ["모델", "데이터셋", "데모"]


def candidate(**fields: object) -> Candidate:
    base: dict[str, object] = {
        "key": "arxiv:2602.04863",
        "kind": "paper",
        "title": "t",
        "url": "https://arxiv.org/abs/2602.04863",
        "summary": "",
        "authors": (),
        "categories": ("cs.LG",),
        "sources": ("arxiv-listing",),
        "arxiv_id": "2602.04863",
    }
    base.update(fields)
    return Candidate(**base)  # type: ignore[arg-type]


def test_the_repository_a_source_names_wins_then_the_comment_then_the_abstract():
    abstract = "Weights at https://huggingface.co/a/w; code at https://github.com/a/from-abstract."
    comment = "Code available at https://github.com/ishaqadenali/logit-linear-selection"
    hf = "https://github.com/a/from-hugging-face"
    c = candidate(summary=abstract)
    found = repository(c)
    assert found and found.url == "https://github.com/a/from-abstract"  # code beats weights
    found = repository(candidate(summary=abstract, comment=comment))
    assert found and found.url == "https://github.com/ishaqadenali/logit-linear-selection"
    found = repository(candidate(summary=abstract, comment=comment, repository=hf))
    assert found and found.url == hf
    # Hugging Face's field is untrusted too: a non-repository there falls through to the comment.
    found = repository(candidate(comment=comment, repository="javascript:alert(1)"))
    assert found and found.url.endswith("/logit-linear-selection")
    assert repository(candidate(summary="No code.")) is None


def test_pdf_and_hugging_face_pages_only_where_they_exist():
    assert pdf_url(candidate()) == "https://arxiv.org/pdf/2602.04863"
    assert huggingface_url(candidate()) is None
    assert huggingface_url(candidate(sources=("arxiv-listing", "huggingface"))) == (
        "https://huggingface.co/papers/2602.04863"
    )
    post = candidate(key="url:https://blog.example/x", kind="post", arxiv_id=None, sources=("blog:x",))
    assert pdf_url(post) is None and huggingface_url(post) is None
