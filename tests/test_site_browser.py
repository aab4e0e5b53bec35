"""The site `nndl report` builds, opened in a real browser as a person would, after a smoke run-all.

Headless Chromium from the system (Debian's `chromium` package; a browser download at test time
cannot work offline), driven by Playwright for Python through `executable_path`. The test walks
every page reachable from runs/index.html over file:// and checks: every link resolves to a file,
every <img> loads (naturalWidth > 0), nothing is fetched from the network, no console errors, and
a04's MathML is laid out as mathematics. It saves screenshots of the index, a04's history and a04's
report into $NNDL_SCREENSHOTS (default: a temporary folder; the paths are printed).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from nndl.registry import all_studies

CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _chromium() -> str | None:
    named = os.environ.get("NNDL_CHROMIUM")
    if named:
        return named
    return next((path for name in CHROMIUM if (path := shutil.which(name))), None)


def _missing() -> str | None:
    """Why the browser test cannot run here (checked before the smoke run-all is paid for)."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if _chromium() is None:
        return "no Chromium on PATH (apt-get install chromium, or set NNDL_CHROMIUM)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(smoke_runs) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "nndl.cli", "report", "--out", str(smoke_runs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return smoke_runs / "index.html"


def _path(url: str) -> Path:
    parts = urlsplit(url)
    assert parts.scheme == "file", f"not a local file: {url}"
    return Path(unquote(parts.path))


class Visitor:
    """One browser tab that opens pages and records what went wrong on them into `problems`:
    console errors, page errors, failed requests and any request that leaves file://."""

    def __init__(self, browser):
        self.problems: list[str] = []
        self.url = ""
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self._problem(f"page error: {exc}"))
        self.page.on("requestfailed", lambda req: self._problem(f"request failed: {req.url}"))
        self.page.on("request", self._request)

    def _problem(self, text: str) -> None:
        self.problems.append(f"{self.url}: {text}")

    def _console(self, msg) -> None:
        if msg.type == "error":
            self._problem(f"console error: {msg.text}")

    def _request(self, req) -> None:
        if not req.url.startswith(("file:", "data:")):
            self._problem(f"fetches from the network: {req.url}")

    def open(self, url: str):
        self.url = url
        self.page.goto(url, wait_until="load")
        return self.page


def test_the_site_works_in_a_real_browser(browser, site, tmp_path_factory):
    shots = Path(os.environ.get("NNDL_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    visitor = Visitor(browser)
    problems = visitor.problems
    queue, seen = [site.as_uri()], set()
    links = images = 0
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        page = visitor.open(url)
        for src, width in page.eval_on_selector_all(
            "img", "els => els.map(i => [i.src, i.complete ? i.naturalWidth : 0])"
        ):
            images += 1
            if width <= 0:
                problems.append(f"{url}: image does not load: {src}")
        for href in page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)"):
            links += 1
            target = href.split("#", 1)[0]
            if not target.startswith("file:"):
                problems.append(f"{url}: link leaves the site: {href}")
            elif not _path(target).is_file():
                problems.append(f"{url}: broken link: {href}")
            elif target.endswith(".html"):
                queue.append(target)
        if not url.endswith("/report.html"):  # the site's own pages: nothing spills sideways
            wide = page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth,"
                " [...document.querySelectorAll('.card')]"
                ".filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.id)]"
            )
            if wide[0] > wide[1] or wide[2]:
                problems.append(f"{url}: wider than the window {wide[:2]} or cards {wide[2]}")
    assert not problems, "\n".join(problems)

    # Every study's newest complete report was reached from the index, and its history page. A
    # study that failed in the run-all (its own smoke test says why) shows as failed on its card.
    runs = site.parent
    reports = {u for u in seen if u.endswith("/report.html")}
    index = visitor.open(site.as_uri())
    cards = index.eval_on_selector_all("article.card", "els => els.map(c => c.id)")
    assert cards == [s.id for s in all_studies()]
    failed = []
    for study in all_studies():
        assert (runs / study.id / "history.html").as_uri() in seen, study.id
        complete = [
            p.parent
            for p in sorted((runs / study.id).glob("*/manifest.json"))
            if '"complete"' in p.read_text()
        ]
        card = index.locator(f"article#{study.id}")
        if complete:
            assert complete[-1].joinpath("report.html").as_uri() in reports, study.id
            assert card.locator(".thumb img").count() == 1, study.id
        else:
            failed.append(study.id)
            assert card.locator(".pill").inner_text() in ("failed", "interrupted"), study.id
    index.screenshot(path=str(shots / "index.png"), full_page=True)
    history = visitor.open((runs / "a04" / "history.html").as_uri())
    seeds = history.locator("table.history tr", has_text="seed").first.inner_text()
    assert "0" in seeds and "1" in seeds and "mean ± sd" in history.content()
    history.screenshot(path=str(shots / "a04-history.png"), full_page=True)

    a04 = sorted((runs / "a04").glob("*/report.html"))[-1]
    report = visitor.open(a04.as_uri())
    maths = report.locator("math")
    assert maths.count() > 0
    box = maths.first.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0, box
    # Laid out as mathematics, not as a run of text: a fraction's numerator sits above its
    # denominator, and the browser gives <math display=block> its MathML display type.
    display = maths.first.evaluate("m => getComputedStyle(m).display")
    assert "math" in display, display
    fractions = report.eval_on_selector_all(
        "mfrac",
        "els => els.map(f => [f.children[0].getBoundingClientRect().bottom,"
        " f.children[1].getBoundingClientRect().top])",
    )
    assert fractions and all(num <= den + 1 for num, den in fractions), fractions
    report.screenshot(path=str(shots / "a04-report.png"), full_page=True)
    assert not problems, "\n".join(problems)
    print(f"\n{len(seen)} pages, {links} links, {images} images checked; screenshots in {shots}")
    if failed:
        print(f"not complete in the smoke run-all (shown as such): {', '.join(failed)}")
