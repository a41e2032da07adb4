"""Execute the chapter notebooks and export them: HTML, one PDF per chapter, the whole report.

Chapter order comes from the Jupyter Book table of contents (``notebooks/_toc.yml``),
so the book and the PDF never disagree. Everything is written under the build folder
(``build/`` by default); the committed notebooks are only rewritten on request
(:func:`execute_in_place`).

PDF export goes through nbconvert's LaTeX exporter, which needs ``xelatex`` and
``pandoc``. Where they are missing the report still executes the notebooks and
writes HTML, and says exactly what to install.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import shutil
import subprocess
import time
from pathlib import Path

from . import atomic, lanes, paths, timings
from . import latex_tables as latex_tables_module

TEMPLATES_DIR = paths.PACKAGE_DIR / "templates"
PDF_TOOLS = ("xelatex", "pandoc")
PDF_INSTALL_HINT = (
    "apt-get install -y --no-install-recommends texlive-xetex texlive-fonts-recommended "
    "texlive-plain-generic lmodern pandoc   (Debian/Ubuntu; on conda: see environment.yml)"
)
REPORT_TITLE = "Convolutional Networks"
REPORT_SUBTITLE = "Homework 4, answered and checked by code (fercourse)"


def chapters(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """The chapter notebooks in book order, as listed in ``_toc.yml``.

    Raises ``FileNotFoundError`` naming the toc entry whose notebook is missing.
    """
    import yaml

    toc_path = notebooks_dir / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    entries = [entry["file"] for part in toc.get("parts", [toc]) for entry in part.get("chapters", [])]
    found = []
    for entry in entries:
        path = notebooks_dir / f"{entry}.ipynb"
        if not path.exists():
            raise FileNotFoundError(f"{paths.display_path(toc_path)} lists {entry!r}, but {path.name} does not exist")
        found.append(path)
    return found


def missing_pdf_tools() -> list[str]:
    """The PDF tool-chain programs not found on PATH (empty when PDF export can run)."""
    return [tool for tool in PDF_TOOLS if shutil.which(tool) is None]


def write_notebook(nb, path: Path) -> Path:
    """Save a notebook node atomically."""
    import nbformat

    return atomic.write_text(path, nbformat.writes(nb))


TEST_MARKERS = ("# NBVAL_", "# Why:")


def reader_copy(nb):
    """A copy of ``nb`` for readers: the nbval markers (``# NBVAL_...`` and the ``# Why: ...``
    reason under them) are test plumbing, so they are cut from the code cells (with the blank
    line after them). The notebook on disk keeps them: nbval reads them there."""
    import copy

    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        kept = [line for line in lines if not line.lstrip().startswith(TEST_MARKERS)]
        if len(kept) != len(lines):
            while kept and not kept[0].strip():
                kept.pop(0)
            cell.source = "\n".join(kept)
    return out


def latex_tables(nb):
    """A copy of ``nb`` whose HTML tables (pandas DataFrames, Stylers) also carry a LaTeX form,
    so that the PDF shows them as typeset tables (nbconvert's LaTeX export would otherwise fall
    back to the monospaced text repr); see :mod:`fercourse.latex_tables` for the layout."""
    import copy

    out = copy.deepcopy(nb)
    for cell in out.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {})
            html = data.get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            if "<table" in html and "text/latex" not in data:
                latex = latex_tables_module.html_to_latex(html)
                if latex:
                    data["text/latex"] = latex
    return out


def export_html(nb, path: Path) -> Path:
    """Write ``nb`` as a standalone HTML page (math via MathJax, figures inline), without the
    test markers (:func:`reader_copy`)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(reader_copy(nb))
    return atomic.write_text(path, body)


def _title_of(nb, fallback: str) -> str:
    """The first Markdown heading of the notebook, without its leading #'s."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


class PdfExportError(Exception):
    """A chapter (or the whole report) whose PDF could not be made: which one, the first LaTeX
    error and the line it stopped at, and the log file that holds the rest."""

    def __init__(self, name: str, error: str, log_file: Path | None):
        self.name, self.error, self.log_file = name, error, log_file
        where = f"; the whole log is {paths.display_path(log_file)}" if log_file else ""
        super().__init__(f"{name}: no PDF - {error}{where}")


def latex_error(log_text: str) -> str:
    """The first error of a LaTeX run's output ("! ..." and the "l.N ..." line it stopped at)."""
    lines = log_text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("! "):
            where = next((text.strip() for text in lines[index + 1:index + 12] if text.startswith("l.")), "")
            return f"LaTeX stopped at '{line[2:].strip()}'" + (f" ({where})" if where else "")
    return "LaTeX failed without an error line (see the log)"


def _pdf_exporter(book: bool, log_file: Path | None):
    """nbconvert's PDF exporter, keeping LaTeX's log (it is written in a temporary folder)."""
    from nbconvert import PDFExporter
    from nbconvert.exporters.pdf import LatexFailed

    class Exporter(PDFExporter):
        def run_latex(self, filename, raise_on_failure=LatexFailed):
            try:
                return super().run_latex(filename, raise_on_failure)
            finally:
                produced = Path(filename).with_suffix(".log")
                if log_file is not None and produced.exists():
                    atomic.write_bytes(log_file, produced.read_bytes())

    template = "fercourse_report.tex.j2" if book else "fercourse_chapter.tex.j2"
    return Exporter(template_name="latex", template_file=template, extra_template_paths=[str(TEMPLATES_DIR)])


def export_pdf(nb, path: Path, *, book: bool = False, log_file: Path | None = None) -> Path:
    """Write ``nb`` as a PDF through LaTeX (xelatex), without the test markers, with tables
    typeset (:func:`latex_tables`).

    ``book=True`` uses the report layout: title page, table of contents, and every
    top-level heading as a chapter. ``log_file``: where to keep LaTeX's log. A failure raises
    :class:`PdfExportError` (the first LaTeX error and the log), and removes an older ``path``
    so that a stale PDF is never taken for this run's.
    """
    from nbconvert.exporters.pdf import LatexFailed

    exporter = _pdf_exporter(book, log_file)
    if log_file is not None:  # an older run's log must not stand in for this one's
        log_file.unlink(missing_ok=True)
    try:
        data, _ = exporter.from_notebook_node(latex_tables(reader_copy(nb)),
                                              resources={"metadata": {"name": path.stem}})
    except LatexFailed as err:
        path.unlink(missing_ok=True)
        if log_file is not None and not log_file.exists():
            atomic.write_text(log_file, err.output)
        raise PdfExportError(path.stem, latex_error(err.output), log_file) from None
    return atomic.write_bytes(path, data)


def combine(notebooks: list, *, title_lines: list[str] | None = None):
    """One notebook holding every chapter in order, with the report's title metadata."""
    import nbformat

    book = nbformat.v4.new_notebook()
    book.metadata.update(notebooks[0].metadata)
    for nb in notebooks:
        book.cells.extend(nb.cells)
    book.metadata["title"] = REPORT_TITLE
    book.metadata["subtitle"] = REPORT_SUBTITLE
    book.metadata["title_lines"] = list(title_lines or [])
    book.metadata["date"] = _dt.date.today().isoformat()
    return book


def _git_revision() -> str:
    try:
        out = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclasses.dataclass
class ReportResult:
    """What :func:`build_report` wrote, and how long each step took (seconds)."""

    executed: list[Path] = dataclasses.field(default_factory=list)
    html: list[Path] = dataclasses.field(default_factory=list)
    pdfs: list[Path] = dataclasses.field(default_factory=list)
    report_pdf: Path | None = None
    missing_tools: list[str] = dataclasses.field(default_factory=list)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    failed: list[PdfExportError] = dataclasses.field(default_factory=list)  # PDFs that could not be made
    phases: object = None  # timings.phase_table of the executed chapters (pandas), when run


def _select(select: list[str] | None) -> list[Path]:
    """The chapters (book order) whose file names start with one of the prefixes (all if None)."""
    return [p for p in chapters() if not select or any(p.stem.startswith(s) for s in select)]


def build_report(
    *,
    select: list[str] | None = None,
    run: bool = True,
    pdf: bool = True,
    build: Path | None = None,
    jobs: int | None = None,
    log=print,
) -> ReportResult:
    """Execute (``run``) and export the chapters into ``build`` (default: the build folder).

    ``select`` keeps only chapters whose file name starts with one of the given
    prefixes (e.g. ``["q3"]``). ``jobs``: chapters executing at once, each in its own kernel
    (default :func:`lanes.default_jobs`), started longest first, with Q5's independent
    training run ahead in the second lane (:mod:`fercourse.lanes`). Layout of the output::

        build/executed/<chapter>.ipynb   build/html/<chapter>.html
        build/pdf/<chapter>.pdf          build/report.pdf
        build/timings.csv                seconds per chapter and phase (when run)
        build/logs/prefetch-<model>.log  what a prefetch printed
        build/logs/pdf-<chapter>.log     LaTeX's log of each PDF

    A chapter whose PDF fails is listed in ``result.failed`` and left out of ``report.pdf``;
    the other chapters' PDFs are still written.
    """
    import nbformat

    build = Path(build) if build is not None else paths.build_dir()
    selected = _select(select)
    if not selected:
        raise ValueError(f"no chapter matches {select}; chapters are {[p.stem for p in chapters()]}")
    result = ReportResult(missing_tools=missing_pdf_tools() if pdf else [])
    # The chapters' kernels record their expensive phases (generate, decode, features, train)
    # here, so the report can say where each chapter's time went.
    phase_log = build / "timings.jsonl"
    phase_log.parent.mkdir(parents=True, exist_ok=True)
    phase_log.unlink(missing_ok=True)
    executed_nbs, chapter_seconds, work = [], {}, []
    if run:
        start = time.perf_counter()
        work, done = lanes.run(selected, build, jobs, log, phase_log=phase_log, logs_dir=build / "logs")
        result.seconds["execute (wall)"] = time.perf_counter() - start
    for notebook in selected:
        if run:
            nb, chapter_seconds[notebook.stem] = done[notebook]
            result.seconds[f"execute {notebook.stem}"] = chapter_seconds[notebook.stem]
        else:
            nb = nbformat.read(notebook, as_version=4)
        executed_nbs.append(nb)
        result.executed.append(write_notebook(nb, build / "executed" / notebook.name))
        result.html.append(export_html(nb, build / "html" / f"{notebook.stem}.html"))
    for task in (item for item in work if isinstance(item, lanes.Prefetch)):
        chapter_seconds[task.label] = result.seconds[task.label] = done[task][1]
    if chapter_seconds:
        result.phases = timings.phase_table(timings.read(phase_log), chapter_seconds)
        atomic.write_text(build / "timings.csv", result.phases.to_csv())
    if pdf and not result.missing_tools:
        _export_pdfs(result, selected, executed_nbs, build, log)
    return result


def _export_pdfs(result: ReportResult, selected: list[Path], executed_nbs: list, build: Path, log) -> None:
    """Each chapter's PDF, then the report of the chapters whose PDF worked; a chapter that fails
    is named in ``result.failed`` (and logged) and costs the others nothing."""
    made = []
    for notebook, nb in zip(selected, executed_nbs):
        start = time.perf_counter()
        nb.metadata["title"] = _title_of(nb, notebook.stem)
        try:
            result.pdfs.append(export_pdf(nb, build / "pdf" / f"{notebook.stem}.pdf",
                                          log_file=build / "logs" / f"pdf-{notebook.stem}.log"))
            made.append((notebook, nb))
        except PdfExportError as err:
            result.failed.append(err)
            log(str(err))
        result.seconds[f"pdf {notebook.stem}"] = time.perf_counter() - start
    if not made:
        (build / "report.pdf").unlink(missing_ok=True)
        return
    start = time.perf_counter()
    lines = [f"Chapters: {', '.join(p.stem for p, _ in made)}", f"Built from revision {_git_revision()}"]
    if result.failed:
        lines.append(f"Missing (no PDF): {', '.join(err.name for err in result.failed)}")
    book = combine([nb for _, nb in made], title_lines=lines)
    try:
        result.report_pdf = export_pdf(book, build / "report.pdf", book=True, log_file=build / "logs" / "pdf-report.log")
    except PdfExportError as err:
        result.failed.append(err)
        log(str(err))
    result.seconds["pdf report"] = time.perf_counter() - start


def execute_in_place(select: list[str] | None = None, jobs: int | None = None, log=print) -> list[Path]:
    """Re-execute the committed chapter notebooks and save them over themselves (``jobs`` at
    once, as in :func:`build_report`).

    This is the one command that rewrites tracked files: use it after changing a
    chapter, so that the committed outputs (which nbval compares) are fresh.
    """
    selected = _select(select)
    _, done = lanes.run(selected, paths.build_dir(), jobs,
                        lambda text: log(text.replace("executing ", "executing in place ")))
    return [write_notebook(done[notebook][0], notebook) for notebook in selected]
