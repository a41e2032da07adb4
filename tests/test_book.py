"""The HTML book as a reader meets it: built with Jupyter Book, opened in a real headless browser.

The book is built once from the committed chapters, served on localhost and loaded in Debian's
Chromium (headless, no network), which runs the pages' JavaScript: MathJax must have typeset
every formula (none left as raw TeX), every figure the notebook has must be on the page and
load, and nothing may come from the internet. A screenshot of one chapter is saved under
build/ for a person to look at.
"""
import functools
import http.server
import os
import re
import shutil
import subprocess
import threading

import nbformat
import pytest

from fercourse import book, paths, report

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _require_browser():
    if BROWSER is None:
        if os.environ.get("FERCOURSE_REQUIRE_PDF"):  # CI installs the tool-chain: it must be there
            pytest.fail("Chromium missing in CI (scripts/ensure_pdf_tools.sh installs it)")
        pytest.skip("the browser test needs Chromium: apt-get install chromium")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(html folder, base URL) of the book built from the committed chapters, served locally."""
    _require_browser()
    build = tmp_path_factory.mktemp("book-build")
    index = book.build_book(build=build, log=lambda *_: None)
    html = index.parent
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield html, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _browser(tmp_path, *args) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    return subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=30000", *args],
                          capture_output=True, text=True, timeout=180)


CHAPTERS = [p.stem for p in report.chapters()]


def _formulas_in(nb) -> list[str]:
    """The $...$ and $$...$$ formulas of the notebook's Markdown (code spans left out), each
    without its dollars and with its whitespace collapsed, sorted."""
    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    text = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))
    display = re.findall(r"\$\$(.+?)\$\$", text, flags=re.S)
    rest = re.sub(r"\$\$.+?\$\$", "", text, flags=re.S)
    inline = re.findall(r"(?<![\\$])\$((?!\s)(?:[^$\n]|\n(?!\n))+?(?<![\s\\]))\$", rest)
    return sorted(" ".join(f.split()) for f in display + inline)


def _formulas_on_page(source: str) -> list[str]:
    """The math elements Sphinx wrote into a page, as TeX (without \\( \\) or \\[ \\]), sorted."""
    import html as html_module

    found = re.findall(r'class="math notranslate nohighlight">(.*?)</(?:span|div)>', source, flags=re.S)
    tex = [html_module.unescape(" ".join(f.split()))[2:-2].strip() for f in found]
    # Sphinx wraps a multi-line display formula in a split environment of its own
    unwrapped = [re.sub(r"^\\begin\{split\}\s*(.*?)\s*\\end\{split\}$", r"\1", t, flags=re.S) for t in tex]
    return sorted(unwrapped)


@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_chapter_page_loads_with_its_math_typeset_and_its_figures(site, stem, tmp_path):
    html, url = site
    source = (html / f"{stem}.html").read_text(encoding="utf-8")
    dom = _browser(tmp_path, "--dump-dom", f"{url}/{stem}.html").stdout
    nb = nbformat.read(paths.NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)
    title = next(c.source for c in nb.cells if c.cell_type == "markdown").splitlines()[0].lstrip("# ")
    assert title.split(" - ")[0] in dom and "The question." in dom
    # Every formula of the chapter's Markdown became a math element (a display formula glued to
    # its paragraph is read by MyST as inline dollars around the text between), and MathJax
    # typeset each one.
    on_page = _formulas_on_page(source)
    assert on_page == _formulas_in(nb) and on_page
    formulas = len(on_page)
    assert len(re.findall(r'id="MathJax-Element-\d+-Frame"', dom)) >= formulas
    assert not re.search(r'class="math notranslate nohighlight">\s*\\[(\[]', dom), "raw TeX left on the page"
    # every figure of the notebook is on the page and its file was written
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                  for o in c.get("outputs", []))
    images = re.findall(r'<img[^>]+src="(_images/[^"]+)"', source)
    assert len(images) >= figures
    assert all((html / src).is_file() and (html / src).stat().st_size > 1000 for src in images)
    # nothing from the internet: scripts, styles and images are local
    assert not re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//', source)
    # readers never see test plumbing or internal identifiers
    assert "# NBVAL_" not in source and "# Why:" not in source


def test_the_landing_page_says_what_the_book_ran_on_and_how_to_rerun_it(site, tmp_path):
    html, url = site
    dom = _browser(tmp_path, "--dump-dom", f"{url}/intro.html").stdout
    text = re.sub(r"<[^>]+>", "", dom)  # code blocks split words into highlighted spans
    assert "This build" in text and "Re-running it" in text and "make report" in text
    for stem in CHAPTERS:  # the navigation lists every chapter
        assert f'href="{stem}.html"' in dom
    assert "built-in generated faces" in text  # the data Q5 ran on, from its own banner


def test_a_screenshot_of_a_chapter_for_a_person_to_look_at(site, tmp_path):
    html, url = site
    target = paths.build_dir() / "book-q3.png"
    target.unlink(missing_ok=True)
    _browser(tmp_path, "--window-size=1280,1800", f"--screenshot={target}", f"{url}/q3_parameters_and_gradients.html")
    assert target.is_file() and target.stat().st_size > 50_000


def test_ran_on_reads_the_chapter_banner():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("env = setup('Q9')\nenv")])
    nb.cells[0].outputs = [nbformat.v4.new_output(
        "execute_result", data={"text/plain": "chapter : Q9 - x\ndataset : built-in faces, NOT\n"
                                              "          AffectNet\nweights : none\nseed    : 0"}, execution_count=1)]
    assert book.ran_on(nb) == {"chapter": "Q9 - x", "dataset": "built-in faces, NOT AffectNet",
                               "weights": "none", "seed": "0"}
    assert book.ran_on(nbformat.v4.new_notebook()) == {}
