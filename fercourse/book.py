"""The HTML book: Jupyter Book (1.x, Sphinx) over the executed chapters, built offline.

Nothing is executed here: the chapters are the committed notebooks (executed and checked by
nbval) or the report's freshly executed copies. The sources are staged into
``build/book-src`` as readers see them (nbval markers cut, as in the PDF), with a landing
page that says what the book is, which data and weights each chapter ran on, and how to
re-run it. MathJax comes from the ``jupyter-server-mathjax`` package (MathJax 2 with its
STIX-Web fonts) instead of a CDN, so the pages render without a network.
"""
from __future__ import annotations

import datetime as _dt
import shutil
import subprocess
import sys
from pathlib import Path

from . import paths

# MathJax 2 from the local copy the classic Jupyter notebook used: its combined TeX + HTML-CSS
# configuration and its STIX-Web fonts (the package ships no other output or font).
MATHJAX_PATH = "../mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
MATHJAX_CONFIG = {
    # MyST marks every section "tex2jax_ignore" and every formula "math" (for MathJax 3's
    # processHtmlClass); MathJax 2 is told the same here.
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]], "processEscapes": True,
                "processEnvironments": True, "ignoreClass": "tex2jax_ignore|mathjax_ignore",
                "processClass": "tex2jax_process|mathjax_process|math|output_area"},
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None,
                 "linebreaks": {"automatic": True}},
    "messageStyle": "none",
}


def mathjax_folder() -> Path:
    """The local MathJax 2 distribution (from the ``jupyter-server-mathjax`` package)."""
    try:
        import jupyter_server_mathjax
    except ImportError as err:  # pragma: no cover - a requirement
        raise RuntimeError("the book needs jupyter-server-mathjax (pip install -r requirements.txt)") from err
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def ran_on(nb) -> dict[str, str]:
    """What a chapter says it ran on: the fields of its ``setup()`` banner (chapter, dataset,
    weights, seed, policy), read from the executed notebook; {} if it has none."""
    for cell in nb.cells:
        if cell.cell_type != "code" or "setup(" not in cell.source:
            continue
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "")
            if text.startswith("chapter"):
                fields, key = {}, None
                for line in text.splitlines():
                    name, sep, value = line.partition(":")
                    if sep and name.strip() and not line.startswith(" "):
                        key = name.strip()
                        fields[key] = value.strip()
                    elif key:  # a wrapped continuation line
                        fields[key] += " " + line.strip()
                return fields
    return {}


def landing_section(chapters: dict[str, object], revision: str) -> str:
    """Markdown appended to the landing page: what each chapter ran on, and how to re-run."""
    rows = ["| chapter | data | weights |", "|---|---|---|"]
    for stem, nb in chapters.items():
        fields = ran_on(nb)
        rows.append(f"| {fields.get('chapter', stem)} | {fields.get('dataset', '-')} | {fields.get('weights', '-')} |")
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return "\n".join([
        "", "## This build", "",
        f"Built on {stamp} from revision `{revision}`, from notebooks that were executed before "
        "the build (the book itself runs nothing). What each chapter ran on, as it printed it:", "",
        *rows, "",
        "## Re-running it", "",
        "```bash",
        "make report   # execute every chapter on the built-in data; build/report.pdf + HTML",
        "make book     # this HTML book from the executed chapters (offline)",
        "make test     # unit tests + strict nbval re-execution of every chapter",
        "```", "",
        "With the AffectNet subset, point the project at it first: `export FERCOURSE_DATA=/path/to/AffectNet` "
        "(a folder with `Train/` and `Validation/`, one sub-folder per class).", "",
    ])


def stage(notebooks: list[Path], target: Path, revision: str) -> Path:
    """Copy the book's sources into ``target``: reader copies of the chapters, the landing
    page with its build section, the table of contents, the configuration, local MathJax."""
    import nbformat
    import yaml

    from .report import reader_copy

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    chapters = {}
    for path in notebooks:
        nb = reader_copy(nbformat.read(path, as_version=4))
        nbformat.write(nb, target / path.name)
        chapters[path.stem] = nb
    source = paths.NOTEBOOKS_DIR
    shutil.copy(source / "_toc.yml", target / "_toc.yml")
    intro = (source / "intro.md").read_text(encoding="utf-8")
    (target / "intro.md").write_text(intro.rstrip() + "\n" + landing_section(chapters, revision), encoding="utf-8")
    config = yaml.safe_load((source / "_config.yml").read_text(encoding="utf-8"))
    # MathJax goes to the site's root through html_extra_path (not _static: Jupyter Book would
    # add every .js file there to every page). Sphinx reads mathjax_path relative to _static.
    config.setdefault("sphinx", {}).setdefault("config", {}).update({
        "mathjax_path": MATHJAX_PATH,
        "mathjax2_config": MATHJAX_CONFIG,
        "html_extra_path": ["_extra"],
    })
    config["only_build_toc_files"] = True
    (target / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    shutil.copytree(mathjax_folder(), target / "_extra" / "mathjax",
                    ignore=shutil.ignore_patterns("localization", "*.map", "__pycache__"))
    return target


def build_book(notebooks: list[Path] | None = None, build: Path | None = None, log=print) -> Path:
    """Build the HTML book into ``build/book``; returns its ``index.html``.

    ``notebooks`` default to the committed chapters (in the table of contents' order).
    Raises RuntimeError with Jupyter Book's own message when the build fails.
    """
    from .report import _git_revision, chapters as toc_chapters

    build = Path(build) if build is not None else paths.build_dir()
    notebooks = list(notebooks) if notebooks is not None else toc_chapters()
    source = stage(notebooks, build / "book-src", _git_revision())
    out = build / "book"
    if out.exists():
        shutil.rmtree(out)
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source), "--path-output", str(out),
               "--quiet"]
    log(f"building the HTML book from {len(notebooks)} executed chapters (nothing is re-executed) ...")
    done = subprocess.run(command, capture_output=True, text=True)
    index = out / "_build" / "html" / "index.html"
    if done.returncode != 0 or not index.exists():
        raise RuntimeError(f"jupyter-book build failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return index
