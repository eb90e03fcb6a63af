"""The HTML email in headless Chromium at a phone's width: nothing overflows, the Korean is laid out.

Chromium's window cannot be narrower than 500 px, so the email is shown in a 375 px iframe
(srcdoc, same origin as the wrapper) and a test-only script in the wrapper measures it. The
screenshot of the same wrapper is kept in tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from digest.render import render_html

from .digests import fixed_digest

WIDTH = 375
ARTIFACTS = Path(__file__).parent / "artifacts"

# Measures the email inside the iframe and writes the result into the wrapper's DOM for --dump-dom.
PROBE = """
<script>
function measure() {
  const frame = document.getElementById("email");
  const doc = frame.contentDocument;
  const win = frame.contentWindow;
  frame.style.height = doc.documentElement.scrollHeight + "px";
  const wide = [...doc.querySelectorAll("body *")]
    .filter(el => el.getBoundingClientRect().right > win.innerWidth + 0.5)
    .map(el => el.tagName + "." + el.className);
  const korean = doc.querySelector(".takeaway").getBoundingClientRect();
  const title = doc.querySelector(".title").getBoundingClientRect();
  document.getElementById("result").textContent = JSON.stringify({
    innerWidth: win.innerWidth,
    scrollWidth: doc.documentElement.scrollWidth,
    fits: doc.documentElement.scrollWidth <= win.innerWidth,
    wide: wide,
    korean: {width: korean.width, height: korean.height, right: korean.right},
    titleHeight: title.height,
    lineHeight: parseFloat(win.getComputedStyle(doc.querySelector(".takeaway")).lineHeight),
  });
}
</script>
"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def wrapper(email_html: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        "<style>body{margin:0;background:#888}iframe{display:block;border:0;background:#fff}</style>"
        f"{PROBE}</head><body>"
        f'<iframe id="email" width="{WIDTH}" height="2000" onload="measure()" '
        f'srcdoc="{html.escape(email_html, quote=True)}"></iframe>'
        '<pre id="result">not measured</pre></body></html>'
    )


def run_chromium(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


def test_email_fits_a_375px_screen(tmp_path):
    binary = chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium)")
    page = tmp_path / "wrapper.html"
    page.write_text(wrapper(render_html(fixed_digest())), encoding="utf-8")

    dumped = run_chromium(binary, tmp_path, "--window-size=500,2200", "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="result">(.*?)</pre>', dumped.stdout, re.S)
    assert found, f"chromium printed no DOM: {dumped.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))

    assert result["innerWidth"] == WIDTH
    assert result["fits"], f"scrollWidth {result['scrollWidth']} > {WIDTH}; too wide: {result['wide']}"
    assert result["wide"] == []
    korean = result["korean"]
    # Laid out: visible, within the screen, and wrapped onto several lines rather than overflowing.
    assert 200 < korean["width"] <= WIDTH and korean["right"] <= WIDTH
    assert korean["height"] >= 2 * result["lineHeight"] - 1

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "email-375.png"
    shot.unlink(missing_ok=True)
    taken = run_chromium(binary, tmp_path, "--window-size=500,2200", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000, taken.stderr[-2000:]
