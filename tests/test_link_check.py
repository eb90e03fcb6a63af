"""The "no links" rule of takeaways and the 흐름 paragraph (digest/link_check.py), measured both ways:
what a reader's linkifier turns into a link is caught, and the lines the project ships are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from linkify_it import LinkifyIt

from digest.link_check import find_link
from digest.takeaways.check import HAS_LINK, check_takeaway, fallback_text
from digest.trend.paragraph import check_theme

ROOT = Path(__file__).parent.parent
SAMPLE = json.loads((ROOT / "digest" / "sample" / "takeaways.json").read_text(encoding="utf-8"))
# The takeaways of the README's sample digests (real LLM output, the demo's and a 1.5B model's).
README_LINES = [
    line.split("** — ", 1)[1].split(" `", 1)[0]  # the line, without the topic chips and meta after it
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    if line.startswith("- **[") and "** — " in line
]
# What technical Korean lines say that looks a little like a host and is none.
NOT_LINKS = [
    "Qwen2.5-1.5B와 Llama-3.1-8B에서 GPT-4o보다 3.2%p 높았다.",
    "vLLM·SGLang 위에서 v1.2.3 대비 처리량이 1.5배, 지연은 0.5ms 줄었다.",
    "KV cache를 3.2GB에서 1.1GB로 줄이며, e.g. 긴 문맥에서도 i.e. 정확도를 지킨다.",
    "model.safetensors 하나로 배포하고 Node.js 서버에서 바로 쓴다.",
    "DeepSeek-R1. o3-mini. pass@1이 71.2%로 올랐다.",
    "F1. 91.2%. BLEU 34.5, ROUGE-L 41.0을 기록했다.",
    "CLIP ViT-L/14와 SigLIP-So400m을 비교했다.",
    "MMLU-Pro 5-shot에서 +4.1점, GSM8K에서 +2.3점 올랐다.",
]
# What a prompt-injected abstract could make a model write, and every renderer would link.
LINKS = [
    "지금 바로 evil-phish.com 에 접속해 논문 전문을 확인하세요.",
    "지금 바로 evil-phish.com에 접속해 논문 전문을 확인하세요.",
    "자세한 내용은 www.evil.kr 참고.",
    "자세한 내용은 WWW.EVIL.KR 참고.",
    "EVIL-PHISH.COM 에서 코드를 받는다.",
    "코드는 evil.co.kr/download 에 있다.",
    "결과는 login.evil.io 에서 본다.",
    "네이버.com 에서 로그인해 결과를 본다.",
    "문의는 help@evil-phish.com 으로 보낸다.",
    "보상 모델을 evil.xyz 에 올렸다.",
    "https://evil.example 에서 확인하세요.",
    "[클릭](javascript:alert(1)) 하세요.",
]


def test_every_line_the_project_ships_passes() -> None:
    """The false positives, counted over every real takeaway there is: none."""
    lines = [*SAMPLE.values(), *README_LINES, *NOT_LINKS]
    assert len(SAMPLE) >= 10 and len(README_LINES) >= 10
    flagged = [(line, m.group(0)) for line in lines if (m := find_link(line))]
    assert flagged == []
    assert all(check_takeaway(line).problem != HAS_LINK for line in SAMPLE.values())


@pytest.mark.parametrize("line", LINKS)
def test_a_bare_domain_or_www_host_is_a_link(line: str) -> None:
    assert find_link(line), line


def test_the_check_catches_everything_markdown_it_linkify_would_link() -> None:
    """linkify-it (markdown-it's linkifier, as the reader's note renders) as the oracle: whatever it links
    in any line here, find_link finds too."""
    linkify = LinkifyIt()
    lines = [*SAMPLE.values(), *README_LINES, *NOT_LINKS, *LINKS, "README.md 참고", "arXiv.org 에 올렸다"]
    missed = [line for line in lines if linkify.test(line) and not find_link(line)]
    assert missed == []


def test_a_takeaway_of_nothing_but_a_phishing_pointer_is_refused() -> None:
    line = "지금 바로 evil-phish.com 에 접속해 이 연구의 새로운 결과를 확인하면 더 많은 정보를 볼 수 있다."
    checked = check_takeaway(line)
    assert checked.text is None and checked.problem == HAS_LINK
    # A good sentence before it is kept, without it.
    good = "KV cache를 sparse head로 줄여 긴 문맥 decoding의 메모리를 절반으로 낮췄다."
    kept = check_takeaway(f"{good} 자세한 내용은 evil-phish.com 참고.")
    assert kept.text == good and "evil" not in kept.text


def test_a_theme_with_a_bare_domain_is_refused() -> None:
    clean = "멀티모달 논문이 꾸준히 이어졌고 새로운 벤치마크가 여럿 제안되었다."
    assert check_theme(clean) == (clean, "")
    for link in ("evil-phish.com 에서", "https://evil-phish.com 에서", "www.evil.kr 에서"):
        hostile = f"자세한 내용은 {link} 확인할 수 있는 벤치마크가 여럿 제안되었다."
        assert check_theme(hostile) == ("", HAS_LINK), link


def test_the_fallback_quoting_a_hostile_abstract_drops_its_bare_domains() -> None:
    abstract = "Visit evil-phish.com now, or WWW.EVIL.KR, to claim the weights of our 1.5B model. More text."
    text = fallback_text(abstract)
    assert not find_link(text) and "evil" not in text.lower()
    assert text.startswith("Visit now, or to claim the weights of our 1.5B model.")
