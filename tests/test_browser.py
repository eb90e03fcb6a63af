"""The HTML email in headless Chromium at a phone's width, in the light and the dark palette.

Chromium lays a page out at least 500 px wide, so the email is shown in a 375 px iframe (srcdoc, same
origin as the wrapper) and a test-only script in the wrapper measures it. Screenshots are taken with
a 375 px window, which crops the wrapper to exactly the iframe, and are kept in tests/artifacts/ for
a human to look at: light, dark (``prefers-color-scheme``, as Apple Mail and iOS Mail show it) and
"inverted" (the inlined light palette run through Chromium's automatic dark mode with the dark media
query removed, the closest thing here to what the Gmail apps do to an email).

``python -m tests.test_browser`` writes the sample day's light and dark screenshots into docs/.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from digest.config import Render
from digest.models import Digest
from digest.rendering.daily import render_html

from .digests import fixed_digest

WIDTH = 375
ROOT = Path(__file__).parent.parent
ARTIFACTS = Path(__file__).parent / "artifacts"
DARK = ("--force-dark-mode",)  # prefers-color-scheme: dark
AUTO_DARK = ("--blink-settings=forceDarkModeEnabled=true",)  # Chromium's own inversion

# Measures the email inside the iframe and writes the result into the wrapper's DOM for --dump-dom.
PROBE = """
<script>
function rgba(text) {
  const m = text.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return [0, 0, 0, 0];
  const v = m[1].split(",").map(Number);
  return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
}
function luminance([r, g, b]) {
  const c = [r, g, b].map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function background(el, win) {
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(win.getComputedStyle(e).backgroundColor);
    if (c[3] > 0.5) return c;
  }
  return [255, 255, 255, 1];
}
function measure() {
  const frame = document.getElementById("email");
  const doc = frame.contentDocument;
  const win = frame.contentWindow;
  const height = Math.ceil(doc.querySelector(".outer").getBoundingClientRect().bottom);
  frame.style.height = height + "px";
  const wide = [...doc.querySelectorAll("body *")]
    .filter(el => el.getBoundingClientRect().right > win.innerWidth + 0.5)
    .map(el => el.tagName + "." + el.className);
  const korean = doc.querySelector(".takeaway").getBoundingClientRect();
  const title = doc.querySelector(".title").getBoundingClientRect();
  // Every element that shows text of its own (the hidden preheader aside): its size and contrast.
  const texts = [...doc.querySelectorAll("body *")]
    .filter(el => !el.closest(".preheader"))
    .filter(el => [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
    .map(el => {
      const style = win.getComputedStyle(el);
      const fg = luminance(rgba(style.color)), bg = luminance(background(el, win));
      return {
        what: el.tagName + "." + el.className,
        px: parseFloat(style.fontSize),
        contrast: (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05),
      };
    });
  document.getElementById("result").textContent = JSON.stringify({
    innerWidth: win.innerWidth,
    scrollWidth: doc.documentElement.scrollWidth,
    height: height,
    fits: doc.documentElement.scrollWidth <= win.innerWidth,
    wide: wide,
    korean: {width: korean.width, height: korean.height, right: korean.right},
    titleHeight: title.height,
    lineHeight: parseFloat(win.getComputedStyle(doc.querySelector(".takeaway")).lineHeight),
    dark: win.matchMedia("(prefers-color-scheme: dark)").matches,
    containerLuminance: luminance(background(doc.querySelector(".container"), win)),
    texts: texts,
    // Every link of a meta line as the lines it is laid out on: a word split over two lines reads as two.
    links: [...doc.querySelectorAll("a.meta-link")]
      .map(a => ({text: a.textContent, lines: a.getClientRects().length})),
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
        "<style>body{margin:0;background:#888}iframe{display:block;border:0}</style>"
        f"{PROBE}</head><body>"
        f'<iframe id="email" width="{WIDTH}" height="2000" onload="measure()" '
        f'srcdoc="{html.escape(email_html, quote=True)}"></iframe>'
        '<pre id="result">not measured</pre></body></html>'
    )


def without_dark_palette(email_html: str) -> str:
    """The email as a client that ignores ``prefers-color-scheme`` (Gmail) has it: light palette only."""
    start = email_html.index("@media (prefers-color-scheme: dark)")
    depth, i = 0, email_html.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(email_html[i], 0)
        i += 1
        if depth == 0:
            break
    light_only = email_html[:start] + email_html[i:]
    return light_only.replace('content="light dark"', 'content="light"')


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}", *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


def measure(binary: str, work: Path, email_html: str, *flags: str) -> dict:
    page = work / "wrapper.html"
    page.write_text(wrapper(email_html), encoding="utf-8")
    window = "--window-size=500,2200"
    dumped = run_chromium(binary, work / "profile", *flags, window, "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="result">(.*?)</pre>', dumped.stdout, re.S)
    assert found, f"chromium printed no DOM: {dumped.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def screenshot(binary: str, work: Path, email_html: str, out: Path, *flags: str) -> Path:
    """A 375 px wide PNG of the whole email (the window is as tall as the email)."""
    height = measure(binary, work, email_html, *flags)["height"]
    page = work / "wrapper.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    window = f"--window-size={WIDTH},{height}"
    taken = run_chromium(binary, work / "profile", *flags, window, f"--screenshot={out}", page.as_uri())
    assert out.is_file() and out.stat().st_size > 10_000, taken.stderr[-2000:]
    return out


@pytest.fixture
def browser() -> str:
    binary = chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium fonts-noto-cjk)")
    return binary


def check_layout(result: dict) -> None:
    assert result["innerWidth"] == WIDTH
    assert result["fits"], f"scrollWidth {result['scrollWidth']} > {WIDTH}; too wide: {result['wide']}"
    assert result["wide"] == []
    korean = result["korean"]
    # Laid out: visible, within the screen, and wrapped onto several lines rather than overflowing.
    assert 200 < korean["width"] <= WIDTH and korean["right"] <= WIDTH
    assert korean["height"] >= 2 * result["lineHeight"] - 1
    split = [link for link in result["links"] if link["lines"] != 1]
    assert result["links"] and split == [], f"links broken over lines: {split}"


def check_text(result: dict) -> None:
    small = [t for t in result["texts"] if t["px"] < 13]
    assert small == [], f"text smaller than 13px: {small}"
    # WCAG AA for body text, every piece of text in the email (meta lines and footer included).
    faint = [t for t in result["texts"] if t["contrast"] < 4.5]
    assert faint == [], f"contrast below 4.5:1: {faint}"


def test_email_fits_a_375px_screen_in_the_light_palette(browser, tmp_path):
    email = render_html(fixed_digest())
    result = measure(browser, tmp_path, email)
    assert not result["dark"] and result["containerLuminance"] > 0.9
    check_layout(result)
    check_text(result)
    screenshot(browser, tmp_path, email, ARTIFACTS / "email-375-light.png")


def test_email_has_a_dark_palette_that_keeps_its_contrast(browser, tmp_path):
    email = render_html(fixed_digest())
    result = measure(browser, tmp_path, email, *DARK)
    assert result["dark"] and result["containerLuminance"] < 0.05
    check_layout(result)
    check_text(result)
    screenshot(browser, tmp_path, email, ARTIFACTS / "email-375-dark.png", *DARK)


def test_inverted_light_palette_screenshot(browser, tmp_path):
    # Chromium's automatic dark mode inverts at paint time, so computed colours do not show it: this
    # one is for looking at (tests/artifacts/email-375-inverted.png), with the layout still checked.
    email = without_dark_palette(render_html(fixed_digest()))
    check_layout(measure(browser, tmp_path, email, *AUTO_DARK))
    screenshot(browser, tmp_path, email, ARTIFACTS / "email-375-inverted.png", *AUTO_DARK)


def test_the_weekly_email_fits_a_375px_screen_in_both_palettes(browser, tmp_path):
    from digest.week.render import render_week_html

    from .digests import fixed_week

    email = render_week_html(fixed_week())
    for flags, name in (((), "light"), (DARK, "dark")):
        result = measure(browser, tmp_path, email, *flags)
        check_layout(result)
        check_text(result)
        # The five-column numbers table (past the cold start) and the sparkline are in it, within 375 px.
        assert any(t["what"].startswith("SPAN.spark") for t in result["texts"])
        screenshot(browser, tmp_path, email, ARTIFACTS / f"week-375-{name}.png", *flags)


def sample_digest() -> Digest:
    """The sample day, as ``digest now --demo`` builds it."""
    import asyncio

    from digest import demo
    from digest.progress import Progress

    return asyncio.run(demo.run(Progress(quiet=True))).digest


def test_the_sample_day_fits_and_reads_in_both_palettes(browser, tmp_path):
    email = render_html(sample_digest(), Render(show_reason=True))
    for flags in ((), DARK):
        result = measure(browser, tmp_path, email, *flags)
        check_layout(result)
        check_text(result)
        assert any(t["what"] == "P.reason" for t in result["texts"])
    screenshot(browser, tmp_path, email, ARTIFACTS / "sample-375-light.png")


def main() -> None:
    """Write docs/email-light.png and docs/email-dark.png from the sample day."""
    import tempfile

    binary = chromium()
    if binary is None:
        sys.exit("no chromium binary on PATH")
    email = render_html(sample_digest())
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in (("light", ()), ("dark", DARK)):
            print(screenshot(binary, Path(tmp), email, ROOT / "docs" / f"email-{name}.png", *flags))


if __name__ == "__main__":
    main()
