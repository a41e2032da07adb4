import hashlib
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from fercourse import __main__ as cli
from fercourse import lanes, paths, report

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))


def _digest(files):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_toc_lists_every_notebook_in_question_order():
    listed = report.chapters()
    assert [p.name for p in listed] == [p.name for p in NOTEBOOKS]  # file names sort in question order
    assert listed[0].stem.startswith("q")


def test_toc_entry_without_a_notebook_is_named(tmp_path):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: q9_missing\n")
    with pytest.raises(FileNotFoundError, match="q9_missing"):
        report.chapters(tmp_path)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_are_executed_clean_and_portable(notebook):
    nb = nbformat.read(notebook, as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert None not in counts, "commit notebooks executed"
    assert counts == list(range(1, len(counts) + 1)), "cells were executed out of order"
    text = notebook.read_text()
    assert '"output_type": "error"' not in text
    assert not re.search(r"/(root|home|tmp)/[A-Za-z0-9_.-]+/", text), "absolute machine path in outputs"
    assert not re.search(r"oneDNN custom operations|cpu_feature_guard|cuInit|NodeDef mentions attribute", text), \
        "TensorFlow C++ log lines"
    for cell in nb.cells:
        if cell.cell_type == "code" and "NBVAL_IGNORE_OUTPUT" in cell.source:
            lines = [line.strip() for line in cell.source.splitlines()]
            # nbval only honours the marker alone on its line; the reason goes on the next line.
            assert "# NBVAL_IGNORE_OUTPUT" in lines, f"marker must stand alone: {cell.source[:80]!r}"
            reason = lines[lines.index("# NBVAL_IGNORE_OUTPUT") + 1]
            assert reason.startswith("# Why: ") and len(reason) > 20, f"ignored output needs a reason: {reason!r}"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_code_and_text_outputs_fit_a_pdf_page(notebook):
    """LaTeX does not wrap verbatim lines: longer ones run off the page of the report."""
    nb = nbformat.read(notebook, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        long_code = [line for line in cell.source.splitlines() if len(line) > 88]
        assert not long_code, f"cell {index}: code lines over 88 characters: {long_code}"
        for output in cell.outputs:
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            long_out = [line for line in text.splitlines() if len(line) > 96]
            assert not long_out, f"cell {index}: output lines over 96 characters: {long_out}"


def test_combine_keeps_every_cell_in_order():
    nbs = [nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# c{i}")]) for i in range(3)]
    book = report.combine(nbs, title_lines=["a line"])
    assert [c.source for c in book.cells] == ["# c0", "# c1", "# c2"]
    assert book.metadata["title"] == report.REPORT_TITLE and book.metadata["title_lines"] == ["a line"]


def test_execute_runs_a_notebook_in_its_folder(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os; print(os.path.basename(os.getcwd()))")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = tmp_path / "chapter_dir"
    folder.mkdir()
    path = folder / "t.ipynb"
    nbformat.write(nb, path)
    done = lanes.execute(path, timeout=120)
    assert done.cells[0].outputs[0]["text"].strip() == "chapter_dir"
    # nbclient stamps each cell's execution: what the report's lanes order chapters by
    report.write_notebook(done, folder / "executed.ipynb")
    assert 0 < lanes.recorded_seconds(folder / "executed.ipynb") < 60


Q3 = paths.NOTEBOOKS_DIR / "q3_parameters_and_gradients.ipynb"
# Printed only by Q3's code cells (a sympy formula, a measured relative error): finding them in
# an export proves the *outputs* were exported, which the chapter's own prose could not fake.
OUTPUT_ONLY = ("H*P + 2*H + K + 2", "7.4014e-16")


def _output_only_strings():
    nb = nbformat.read(Q3, as_version=4)
    sources = " ".join(cell.source for cell in nb.cells)
    outputs = " ".join(json.dumps(cell.get("outputs", [])) for cell in nb.cells)
    for text in OUTPUT_ONLY:
        assert text not in sources and text in outputs, f"{text!r} must be in Q3's outputs only"
    return OUTPUT_ONLY


def test_report_without_pdf_writes_html_and_leaves_notebooks_untouched(tmp_path, monkeypatch, capsys):
    before = _digest(NOTEBOOKS)
    monkeypatch.setenv("FERCOURSE_BUILD", str(tmp_path))
    assert cli.main(["report", "q3", "--no-execute", "--no-pdf"]) == 0
    html = tmp_path / "html" / "q3_parameters_and_gradients.html"
    assert html.exists() and all(text in html.read_text() for text in _output_only_strings())
    assert (tmp_path / "executed" / "q3_parameters_and_gradients.ipynb").exists()
    assert _digest(NOTEBOOKS) == before
    out = capsys.readouterr().out
    assert "q3_parameters_and_gradients.html" in out and "PDF export skipped" not in out


def _require_pdf_tools():
    missing = report.missing_pdf_tools()
    if missing:
        if os.environ.get("FERCOURSE_REQUIRE_PDF"):
            pytest.fail(f"PDF tool-chain missing in CI: {missing}")
        pytest.skip(f"PDF export needs {missing}: {report.PDF_INSTALL_HINT}")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every committed chapter exported to PDF without executing it (``report --no-execute``)."""
    _require_pdf_tools()
    build = tmp_path_factory.mktemp("export")
    return build, report.build_report(run=False, build=build, log=lambda *_: None)


def _pdf_text_by_font(pdf) -> tuple[str, str]:
    """A PDF's text set in roman fonts and in monospaced ones, each whitespace-normalised
    (NFKC, so the fonts' ligatures read as letters; straight quotes for TeX's curly ones)."""
    import unicodedata

    from pypdf import PdfReader

    roman, mono = [], []

    def visit(text, cm, tm, font, size):
        name = str((font or {}).get("/BaseFont", ""))
        (mono if "Mono" in name else roman).append(text)

    for page in PdfReader(pdf).pages:
        page.extract_text(visitor_text=visit)
    quotes = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})  # TeX's curly quotes

    def norm(parts):
        return " ".join(unicodedata.normalize("NFKC", " ".join(parts)).translate(quotes).split())
    return norm(roman), norm(mono)


def _table_rows(notebook):
    """Each HTML table output's rows as they read in a PDF: the non-empty cells, in order."""
    from fercourse import latex_tables

    nb = nbformat.read(notebook, as_version=4)
    tables = []
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for table in latex_tables.parse_tables(output.get("data", {}).get("text/html", "")):
                rows = latex_tables.grid(table.head) + latex_tables.grid(table.body)
                tables.append([" ".join(s.text for s in row if not isinstance(s, str) and s.text) for row in rows])
    return tables


@pytest.mark.pdf
@pytest.mark.slow
def test_every_chapter_exports_to_pdf_with_its_tables_typeset_within_the_page(exported):
    build, result = exported
    assert not result.failed, [str(err) for err in result.failed]
    assert [p.name for p in result.pdfs] == [f"{p.stem}.pdf" for p in report.chapters()]
    assert result.report_pdf == build / "report.pdf"
    roman_book, _ = _pdf_text_by_font(result.report_pdf)
    tables_seen = 0
    for notebook, pdf in zip(report.chapters(), result.pdfs):
        assert pdf.read_bytes()[:5] == b"%PDF-"
        roman, mono = _pdf_text_by_font(pdf)
        for rows in _table_rows(notebook):
            tables_seen += 1
            for row in filter(None, rows):
                # typeset (roman), not the monospaced text repr; in the chapter and in the book
                assert row in roman, f"{notebook.stem}: table row {row!r} not typeset in its PDF"
                assert row in roman_book, f"{notebook.stem}: table row {row!r} not in report.pdf"
        log = (build / "logs" / f"pdf-{notebook.stem}.log").read_text(errors="replace")
        too_wide = re.findall(r"Overfull \\[hv]box \(([\d.]+)pt too (?:wide|high)\)", log)
        assert not [w for w in too_wide if float(w) > 1], f"{notebook.stem}: something runs off the page: {too_wide}"
        assert "Missing character" not in log, f"{notebook.stem}: a glyph the font lacks"
    assert tables_seen >= 20  # the chapters hold about thirty tables; a parse that found none fails


@pytest.mark.pdf
def test_chapter_and_report_pdfs_hold_the_chapters_outputs_and_a_title_page(exported):
    from pypdf import PdfReader

    build, result = exported
    chapter_pdf = build / "pdf" / "q3_parameters_and_gradients.pdf"
    for pdf in (chapter_pdf, result.report_pdf):
        text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
        for wanted in _output_only_strings():
            assert wanted in text, wanted
    book = PdfReader(result.report_pdf)
    first_pages = " ".join(book.pages[i].extract_text() for i in range(3))
    assert "Convolutional Networks" in first_pages and "Contents" in first_pages
    assert len(book.pages) > max(len(PdfReader(p).pages) for p in result.pdfs)  # every chapter, one book


def _markdown_chapter(path: Path, markdown: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {path.stem}\n\n{markdown}")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.pdf
def test_a_chapter_whose_pdf_fails_costs_the_others_nothing(tmp_path, monkeypatch, capsys):
    _require_pdf_tools()
    good = _markdown_chapter(tmp_path / "q1_good.ipynb", "Plain text, $x^2$.")
    bad = _markdown_chapter(tmp_path / "q2_bad.ipynb", "A formula LaTeX cannot read: $\\nosuchmacro{x}$.")
    monkeypatch.setattr(report, "chapters", lambda *_: [good, bad])
    build = tmp_path / "build"
    (build / "pdf").mkdir(parents=True)
    (build / "pdf" / "q2_bad.pdf").write_bytes(b"%PDF- an older run's")
    monkeypatch.setenv("FERCOURSE_BUILD", str(build))
    assert cli.main(["report", "--no-execute"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "PDF export failed for q2_bad" in err and "Undefined control sequence" in err
    assert "l." in err and "logs/pdf-q2_bad.log" in err
    assert (build / "logs" / "pdf-q2_bad.log").read_text().count("nosuchmacro") >= 1
    assert (build / "pdf" / "q1_good.pdf").read_bytes()[:5] == b"%PDF-"
    assert not (build / "pdf" / "q2_bad.pdf").exists()  # no stale PDF left to be mistaken for this run's
    from pypdf import PdfReader

    book = " ".join(page.extract_text() for page in PdfReader(build / "report.pdf").pages)
    assert "q1_good" in book and "Missing (no PDF): q2_bad" in book


def test_latex_error_names_the_first_error_and_its_line():
    log = "junk\n! Undefined control sequence.\n<argument> x\nl.42 \\multirow\n{2}\n! Emergency stop."
    assert report.latex_error(log) == "LaTeX stopped at 'Undefined control sequence.' (l.42 \\multirow)"
    assert "without an error line" in report.latex_error("nothing here")


def test_no_source_file_is_hidden_by_gitignore():
    """A pattern like `data/` once ignored fercourse/data/ and CI lost a whole package."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (paths.REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "ls-files", "--others", "--ignored",
                          "--exclude-standard", "fercourse", "tests", "notebooks", "scripts", "benchmarks"],
                         capture_output=True, text=True, check=True).stdout.split()
    hidden = [p for p in out if not (p.endswith((".pyc",)) or "__pycache__" in p or ".ipynb_checkpoints" in p)]
    assert hidden == [], f"ignored by .gitignore but part of the project: {hidden}"


def test_exports_hide_the_nbval_markers_that_the_notebook_keeps(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\n# Why: a timing.\n\nprint('kept line')")]
    shown = report.reader_copy(nb)
    assert shown.cells[0].source == "print('kept line')"
    assert nb.cells[0].source.startswith("# NBVAL_IGNORE_OUTPUT")  # the original is untouched
    html = report.export_html(nb, tmp_path / "page.html").read_text()
    assert "kept line" in html and "NBVAL_IGNORE_OUTPUT" not in html and "# Why:" not in html
    q5 = nbformat.read(paths.NOTEBOOKS_DIR / "q5_facial_expressions.ipynb", as_version=4)
    assert "NBVAL_IGNORE_OUTPUT" not in json.dumps([c.source for c in report.reader_copy(q5).cells])


def test_execution_shows_cell_progress_and_talks_to_the_kernel_over_ipc(tmp_path, capfd):
    path = tmp_path / "chapter.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("text"),
                nbformat.v4.new_code_cell("print(x + 1)"),
                nbformat.v4.new_code_cell("import time\nfrom fercourse import timings\n"
                                          "timings.status('train toy: epoch 1/2'); time.sleep(1.5)")]
    nbformat.write(nb, path)
    done = lanes.execute(path, timeout=120, progress=True)
    assert done.cells[2].outputs[0]["text"] == "2\n"
    err = capfd.readouterr().err
    assert "chapter: 100%" in err and "3/3" in err  # the code cells, counted
    assert "train toy: epoch 1/2" in err  # what the running cell said it does
    assert "over TCP" not in err and "Parent appears to have exited" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chapter.ipynb"]  # no socket files left here


@pytest.mark.pdf
def test_pandas_tables_are_typeset_in_the_pdf_not_printed_as_text(tmp_path):
    import pandas as pd
    from nbconvert import LatexExporter

    _require_pdf_tools()
    table = pd.DataFrame({"precision": [0.91, 0.8], "recall": [0.5, 0.75]}, index=["anger", "contempt"])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("table")])
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", execution_count=1, data={
        "text/plain": table.to_string(), "text/html": table.to_html(classes="dataframe")})]
    latex, _ = LatexExporter(template_name="latex").from_notebook_node(report.latex_tables(nb))
    assert "\\begin{tabular}{lrr}" in latex and "contempt & 0.80 & 0.75" in latex
    assert table.to_string().splitlines()[1] not in latex  # not the monospaced repr
    assert "text/latex" not in nb.cells[0].outputs[0]["data"]  # the notebook itself is untouched
    pdf = report.export_pdf(nb, tmp_path / "t.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")



def _numpy_predict_chapter(tmp_path, with_setup: bool):
    code = ("import time\nimport numpy as np\nfrom fercourse import setup\n"
            # without setup: the same process-wide choices (op determinism, under which the line
            # appears), but descriptor 2 left as the kernel has it
            + ("env = setup('t')\n" if with_setup else "from fercourse.session import configure_process\n"
               "configure_process()\n")
            + "import keras\nm = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
            "m.predict(np.zeros((8, 4), 'float32'), verbose=0)\ntime.sleep(1.5)\nprint('predicted')")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / f"chapter_{with_setup}.ipynb"
    nbformat.write(nb, path)
    outputs = lanes.execute(path, timeout=300).cells[0].outputs
    return "".join(o.get("text", "") for o in outputs)


def test_a_chapter_keeps_tensorflows_native_log_lines_out_of_its_outputs(tmp_path, monkeypatch):
    """TensorFlow 2.21 writes a harmless C++ error line to descriptor 2 when Keras runs NumPy
    arrays through tf.data; a kernel copies descriptor 2 into the notebook (and the PDF)."""
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)  # else ipykernel leaves fd 2 alone
    bare = _numpy_predict_chapter(tmp_path, with_setup=False)
    assert "predicted" in bare and "NodeDef mentions attribute" in bare  # the problem is real
    chapter = _numpy_predict_chapter(tmp_path, with_setup=True)
    assert "predicted" in chapter and "NodeDef" not in chapter and "E0000" not in chapter


def _chapter(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


# Each chapter leaves its mark, then waits (up to a minute) for the other's: the pair can only
# finish when both kernels run at the same time, so passing proves the lanes are concurrent
# without timing anything.
_RENDEZVOUS = """import os, time
from pathlib import Path
me = os.environ["FERCOURSE_CHAPTER"]
Path(me + ".mark").write_text(os.environ["FERCOURSE_TIMINGS"])
other = {"a": "b", "b": "a"}[me]
deadline = time.time() + 60
while not Path(other + ".mark").exists():
    assert time.time() < deadline, f"{me}: {other} never ran beside me"
    time.sleep(0.05)
print(me, os.environ.get("FERCOURSE_STATUS", "").endswith("status"))"""


def test_chapters_execute_side_by_side_each_with_its_own_environment(tmp_path):
    pair = [_chapter(tmp_path / f"{name}.ipynb", _RENDEZVOUS) for name in "ab"]
    before = dict(os.environ)
    done = lanes.execute_all(pair, 2, lambda *_: None, phase_log=tmp_path / "timings.jsonl")
    for path in pair:  # each kernel saw its own chapter's name and the shared timings file
        nb, seconds = done[path]
        assert nb.cells[0].outputs[0]["text"] == f"{path.stem} True\n" and seconds > 0
        assert (tmp_path / f"{path.stem}.mark").read_text() == str(tmp_path / "timings.jsonl")
    assert dict(os.environ) == before  # nothing leaked into this process


def test_a_failing_chapter_stops_the_ones_not_yet_started(tmp_path):
    from nbclient.exceptions import CellExecutionError

    bad = _chapter(tmp_path / "bad.ipynb", "raise ValueError('broken on purpose')")
    later = _chapter(tmp_path / "later.ipynb", "open('later.ran', 'w').close()")
    with pytest.raises(CellExecutionError, match="broken on purpose"):
        lanes.execute_all([bad, later], 1, lambda *_: None)
    assert not (tmp_path / "later.ran").exists()


def _stamped(path: Path, *spans: float) -> Path:
    """A notebook whose code cells carry nbclient's timing metadata: cell i ran ``spans[i]`` s."""
    import datetime as dt

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass") for _ in spans])
    t = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for cell, span in zip(nb.cells, spans):
        end = t + dt.timedelta(seconds=span)
        cell.metadata["execution"] = {"iopub.execute_input": t.isoformat().replace("+00:00", "Z"),
                                      "shell.execute_reply": end.isoformat().replace("+00:00", "Z")}
        t = end + dt.timedelta(seconds=100)  # the gaps between cells are not execution time
    nbformat.write(nb, path)
    return path


def test_recorded_seconds_adds_up_the_cells_execution_time(tmp_path):
    assert lanes.recorded_seconds(_stamped(tmp_path / "a.ipynb", 1.5, 2.25)) == pytest.approx(3.75)
    assert lanes.recorded_seconds(_chapter(tmp_path / "never.ipynb", "pass")) is None
    assert lanes.recorded_seconds(tmp_path / "absent.ipynb") is None


def test_longest_chapter_starts_first_and_this_machines_last_run_wins(tmp_path):
    chapters_dir, build = tmp_path / "notebooks", tmp_path / "build"
    (build / "executed").mkdir(parents=True)
    chapters_dir.mkdir()
    q1 = _stamped(chapters_dir / "q1.ipynb", 5.0)
    q2 = _stamped(chapters_dir / "q2.ipynb", 50.0)
    q3 = _chapter(chapters_dir / "q3.ipynb", "pass")  # never executed: no time, goes last
    q4 = _stamped(chapters_dir / "q4.ipynb", 5.0)
    assert lanes.longest_first([q1, q2, q3, q4], build) == [q2, q1, q4, q3]  # ties keep book order
    _stamped(build / "executed" / "q1.ipynb", 80.0)  # here q1 took longest last time
    assert lanes.longest_first([q1, q2, q3, q4], build) == [q1, q2, q4, q3]
    committed = lanes.longest_first(report.chapters(), build)
    assert committed[0].stem.startswith("q5")  # the chapter that trains


def test_default_jobs_uses_two_lanes_where_there_are_two_cores(monkeypatch):
    monkeypatch.delenv(lanes.JOBS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert lanes.default_jobs() == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert lanes.default_jobs() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert lanes.default_jobs() == 2
    monkeypatch.setenv(lanes.JOBS_ENV, "3")
    assert lanes.default_jobs() == 3
    monkeypatch.setenv(lanes.JOBS_ENV, "many")
    with pytest.raises(ValueError, match="FERCOURSE_JOBS='many'"):
        lanes.default_jobs()


def test_report_rejects_a_job_count_that_is_not_a_whole_number(capsys, monkeypatch, tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["report", "--jobs", "0"])
    assert "expected a whole number of chapters >= 1, got '0'" in capsys.readouterr().err
    monkeypatch.setenv("FERCOURSE_BUILD", str(tmp_path))
    monkeypatch.setenv(lanes.JOBS_ENV, "two")
    assert cli.main(["report", "q4", "--no-pdf"]) == 2  # one line, no stack trace
    assert capsys.readouterr().err == ("error: FERCOURSE_JOBS='two': expected a whole number of "
                                       "chapters >= 1\n")


def test_ctrl_c_interrupts_the_running_chapter_and_starts_no_other(tmp_path):
    import _thread
    import threading
    import time

    long = _chapter(tmp_path / "long.ipynb", "import time\nopen('long.started', 'w').close()\ntime.sleep(120)")
    later = _chapter(tmp_path / "later.ipynb", "open('later.ran', 'w').close()")

    def press_ctrl_c_once_it_runs():
        deadline = time.time() + 60
        while not (tmp_path / "long.started").exists() and time.time() < deadline:
            time.sleep(0.05)
        _thread.interrupt_main()

    threading.Thread(target=press_ctrl_c_once_it_runs, daemon=True).start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        lanes.execute_all([long, later], 1, lambda *_: None)
    assert time.perf_counter() - start < 60  # the kernel was interrupted, not waited for
    assert (tmp_path / "long.started").exists() and not (tmp_path / "later.ran").exists()


def test_the_second_lane_starts_with_the_long_chapters_prefetch(tmp_path):
    order = [Path("q5_facial_expressions.ipynb"), Path("q2.ipynb"), Path("q1.ipynb")]
    work = lanes.plan(order, 2)
    assert work[0] == order[0] and isinstance(work[1], lanes.Prefetch) and work[2:] == order[1:]
    assert work[1].chapter == "q5_facial_expressions" and work[1].name == "light_vgg_bn"
    assert lanes.plan(order, 1) == order  # one lane: nothing to run ahead
    assert lanes.plan(order[1:], 2) == order[1:]  # Q5 not selected: nothing of it runs


def test_the_prefetch_is_the_command_that_trains_what_q5_trains():
    """The command line must hit the very model-store entry of Q5's cell, or the prefetch is
    wasted work: same recipe call, same defaults."""
    import json

    q5 = json.loads((paths.NOTEBOOKS_DIR / "q5_facial_expressions.ipynb").read_text())
    sources = ["".join(cell["source"]) for cell in q5["cells"] if cell["cell_type"] == "code"]
    (task,) = lanes.PREFETCH
    assert task.argv == ("train", "light_vgg", "--batch-norm")
    assert any("recipes.train_light_vgg(data, batch_norm=True, verbose=0)" in s for s in sources)
    args = cli.build_parser().parse_args(list(task.argv))
    from types import SimpleNamespace

    import numpy as np

    from fercourse import recipes
    # The built-in set's Train: 150 images of each of 8 classes.
    data = {"train": SimpleNamespace(labels=np.repeat(np.arange(8), 150))}
    (name, (config, _)), = cli._configs(args, data).items()
    assert name == task.name and config == recipes.LIGHT_VGG_QUICK  # no flag changes the recipe
    assert (args.data, args.validation_split, args.faces, args.face_margin, args.class_policy, args.strategy) == \
        (None, None, None, None, "strict", "default")  # load_dataset()'s defaults, as in the chapter


def test_a_prefetch_runs_beside_a_chapter_and_a_failed_one_only_says_so(tmp_path):
    chapter = _chapter(tmp_path / "c.ipynb", "print('chapter ran')")
    ok = lanes.Prefetch("c", "toy", ("cache",))  # any quick command stands in for a training
    bad = lanes.Prefetch("c", "broken", ("train", "no_such_model"))
    said = []
    done = lanes.execute_all([chapter, ok, bad], 2, said.append, phase_log=tmp_path / "t.jsonl",
                             logs_dir=tmp_path / "logs")
    assert done[chapter][0].cells[0].outputs[0]["text"] == "chapter ran\n"
    assert done[ok][0] is True and done[bad][0] is False
    assert "cache folder:" in (tmp_path / "logs" / "prefetch-toy.log").read_text()
    assert "invalid choice" in (tmp_path / "logs" / "prefetch-broken.log").read_text()
    assert any("prefetch broken failed" in line and "c trains it itself" in line for line in said)


def test_one_chapter_alone_still_gets_its_prefetch_in_the_second_lane(tmp_path, monkeypatch):
    solo = _chapter(tmp_path / "solo.ipynb", "print('solo')")
    monkeypatch.setattr(report, "chapters", lambda: [solo])
    monkeypatch.setattr(lanes, "PREFETCH", (lanes.Prefetch("solo", "toy", ("cache",)),))
    result = report.build_report(pdf=False, build=tmp_path / "build", jobs=2, log=lambda *_: None)
    assert result.seconds["prefetch toy"] > 0 and "execute (wall)" in result.seconds
    assert list(result.phases.index) == ["solo", "prefetch toy", "all", "share"]
    assert (tmp_path / "build" / "logs" / "prefetch-toy.log").exists()
    result = report.build_report(pdf=False, build=tmp_path / "build1", jobs=1, log=lambda *_: None)
    assert "prefetch toy" not in result.seconds  # one lane: the chapter trains it in its turn
