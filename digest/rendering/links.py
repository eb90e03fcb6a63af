"""The links an item shows besides its title: PDF, Hugging Face paper page, code repository.

Repository URLs come from untrusted text (abstracts, arXiv comments, Hugging Face's
``githubRepo``), written every way authors write them: bare (``github.com/a/b``), inside
LaTeX (``\\url{...}``, ``\\href{...}{GitHub}``), followed by sentence punctuation
(``https://github.com/a/b.``, ``(https://github.com/a/b),``), with ``.git`` or ``/tree/main``.
Nothing is passed through: a link is rebuilt from the host and path parts that match a narrow
pattern, so whatever else the text holds (``javascript:``, quotes, markup) never reaches a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..models import Candidate

# A path segment as GitHub, GitLab and the Hugging Face Hub allow it (letters, digits, - _ .; "_x" too).
_SEG = r"[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?"
# Where a URL starts: its scheme (also as PDF-to-text leaves it, "https: //github.com/..."), or the
# bare host at a word boundary ("github.com/...", but not "notgithub.com/" or "gist.github.com/").
_START = r"(?:(?<![A-Za-z0-9])https?:\s?//|(?<![\w.@/-]))"

# LaTeX escapes authors leave inside URLs (\_ \# \% \&, \~{}), undone before matching.
_LATEX_ESCAPE = re.compile(r"\\([_#%&~$])(?:\{\})?")

_GITHUB = re.compile(
    rf"{_START}(?:www\.)?github\.com/(?P<owner>{_SEG})/(?P<repo>{_SEG})"
    rf"(?P<rest>/(?:tree|blob)/{_SEG}(?:/{_SEG})*)?",
    re.IGNORECASE,
)
_GITLAB = re.compile(
    rf"{_START}(?:www\.)?gitlab\.com/(?P<path>{_SEG}(?:/{_SEG}){{1,4}})",
    re.IGNORECASE,
)
_HUGGINGFACE = re.compile(
    rf"{_START}(?:www\.)?(?:huggingface\.co|hf\.co)/"
    rf"(?:(?P<kind>datasets|spaces)/)?(?P<owner>{_SEG})/(?P<name>{_SEG})",
    re.IGNORECASE,
)

# First path segments that are GitHub's or the Hub's own pages, not an owner.
_GITHUB_RESERVED = frozenset(
    "orgs users settings features topics sponsors marketplace about pricing login join apps collections "
    "search explore trending notifications issues pulls".split()
)
_HUB_RESERVED = frozenset(
    "papers docs blog models collections posts api settings join login pricing learn tasks chat "
    "organizations spaces datasets enterprise".split()
)


@dataclass(frozen=True)
class Repository:
    """A code (or model, data set, demo) repository named by the item."""

    url: str
    label: str  # what the link says: 코드, 모델, 데이터셋, 데모


def _clean_segment(seg: str) -> str:
    # "repo.git" and "repo." (a sentence's full stop) name the repository "repo".
    seg = seg.removesuffix(".git") if seg.lower().endswith(".git") else seg
    return seg.rstrip(".")


def _github(m: re.Match[str]) -> Repository | None:
    owner, repo = m.group("owner"), _clean_segment(m.group("repo"))
    if owner.lower() in _GITHUB_RESERVED or not repo:
        return None
    rest = m.group("rest") or ""
    if rest:
        rest = "/" + "/".join(s for s in (_clean_segment(p) for p in rest.strip("/").split("/")) if s)
        if rest.count("/") < 2:  # "/tree" alone, its ref cut away as punctuation
            rest = ""
    return Repository(f"https://github.com/{owner}/{repo}{rest}", "코드")


def _gitlab(m: re.Match[str]) -> Repository | None:
    parts = [s for s in (_clean_segment(p) for p in m.group("path").split("/")) if s]
    if len(parts) < 2:
        return None
    return Repository("https://gitlab.com/" + "/".join(parts), "코드")


def _huggingface(m: re.Match[str]) -> Repository | None:
    owner, name = m.group("owner"), _clean_segment(m.group("name"))
    kind = (m.group("kind") or "").lower()
    if not name or (not kind and owner.lower() in _HUB_RESERVED):
        return None
    label = {"datasets": "데이터셋", "spaces": "데모"}.get(kind, "모델")
    prefix = f"{kind}/" if kind else ""
    return Repository(f"https://huggingface.co/{prefix}{owner}/{name}", label)


# (rank, pattern, builder): code hosts rank before the Hub.
_HOSTS = ((0, _GITHUB, _github), (0, _GITLAB, _gitlab), (1, _HUGGINGFACE, _huggingface))


def repositories(text: str) -> list[Repository]:
    """Every repository the text names, code hosts first, each once, in the order written."""
    if not text:
        return []
    text = _LATEX_ESCAPE.sub(r"\1", text)
    found: list[tuple[int, int, Repository]] = []
    for rank, pattern, build in _HOSTS:
        for m in pattern.finditer(text):
            repo = build(m)
            if repo is not None:
                found.append((rank, m.start(), repo))
    out: list[Repository] = []
    for _, _, repo in sorted(found, key=lambda f: (f[0], f[1])):
        if all(r.url.lower() != repo.url.lower() for r in out):
            out.append(repo)
    return out


def repository(c: Candidate) -> Repository | None:
    """The one repository to link: the one a source names, else the comment's, else the abstract's.

    A code host beats a Hub page within each text: "code at github.com/..., weights at huggingface.co/..."
    links the code."""
    for text in (c.repository, c.comment, c.summary):
        found = repositories(text)
        if found:
            return found[0]
    return None


def pdf_url(c: Candidate) -> str | None:
    """The arXiv PDF (the latest version) of a paper."""
    return f"https://arxiv.org/pdf/{c.arxiv_id}" if c.kind == "paper" and c.arxiv_id else None


def huggingface_url(c: Candidate) -> str | None:
    """The paper's Hugging Face page, when Hugging Face listed it."""
    listed = "huggingface" in c.sources and c.arxiv_id
    return f"https://huggingface.co/papers/{c.arxiv_id}" if listed else None
