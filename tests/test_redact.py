"""digest/redact.py: what a shown URL keeps and what it loses."""

from __future__ import annotations

import pytest

from digest.redact import redact_url, redact_urls


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("http://user:PASSWORD@proxy:8080/v1", "http://***@proxy:8080/v1"),
        ("http://TOKEN@proxy/v1", "http://***@proxy/v1"),
        ("https://h/v1?api-key=K&api-version=2024-06-01", "https://h/v1?api-key=***&api-version=2024-06-01"),
        ("https://h/rss?token=T&access_token=A&sig=S&n=5", "https://h/rss?token=***&access_token=***&sig=***&n=5"),
        ("https://h/f?X-Amz-Signature=abc&X-Amz-Date=1", "https://h/f?X-Amz-Signature=***&X-Amz-Date=1"),
        ("https://h/cb#access_token=T&state=s", "https://h/cb#access_token=***&state=s"),
        ("https://export.arxiv.org/api/query?search_query=cat:cs.CL", "https://export.arxiv.org/api/query?search_query=cat:cs.CL"),
    ],
)
def test_userinfo_and_secret_query_values_are_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_every_url_in_an_error_line_is_masked() -> None:
    line = "HTTP 500 from https://h/rss?key=SECRET (after 2 tries); see http://u:p@x/y"
    assert redact_urls(line) == "HTTP 500 from https://h/rss?key=*** (after 2 tries); see http://***@x/y"
    assert redact_urls("no url here: a=b") == "no url here: a=b"
