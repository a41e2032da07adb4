"""The nbval set-up compares what it should: round-off is sanitised, real numbers are not."""
import subprocess
import sys

import nbformat

from fercourse import paths

SANITIZE = paths.NOTEBOOKS_DIR / "nbval_sanitize.cfg"


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, (source, stored) in enumerate(cells, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=i)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
        nb.cells.append(cell)
    nbformat.write(nb, path)


def _nbval(path):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE),
         "-p", "no:cacheprovider", "-q", "-o", "addopts=", str(path)],
        capture_output=True, text=True, timeout=300, cwd=path.parent)


def test_round_off_differences_pass_but_changed_counts_fail(tmp_path):
    ok = tmp_path / "ok.ipynb"
    _notebook(ok, [("print(f'{7.4014e-16:.4e}')", "2.2204e-16\n"), ("print(7904)", "7904\n"),
                   ("print(f'{0.0:.4e}')", "1.1102e-16\n")])  # exact zero vs round-off: the same noise
    assert _nbval(ok).returncode == 0

    bad = tmp_path / "bad.ipynb"
    _notebook(bad, [("print(7904)", "7905\n")])
    done = _nbval(bad)
    assert done.returncode != 0 and "7905" in done.stdout

    ignored = tmp_path / "ignored.ipynb"  # the marker as the notebooks write it really switches comparison off
    _notebook(ignored, [("# NBVAL_IGNORE_OUTPUT\n# Why: a timing\nprint(123)", "456\n")])
    assert _nbval(ignored).returncode == 0

    tolerance = tmp_path / "tolerance.ipynb"  # 1e-06 is not round-off: compared
    _notebook(tolerance, [("print(f'{1e-6:.4e}')", "1.0000e-05\n")])
    assert _nbval(tolerance).returncode != 0
    half = tmp_path / "half.ipynb"  # a real error (the draft's 0.5) against zero: compared
    _notebook(half, [("print(f'{0.0:.4e}')", "5.0000e-01\n")])
    assert _nbval(half).returncode != 0


def test_the_built_in_sets_code_digest_is_sanitised_but_its_size_is_not(tmp_path):
    same = tmp_path / "same.ipynb"  # the generator's code changed: another digest, the same set
    _notebook(same, [("print('<cache>/generated/expressions-0123abcd-seed0-150x50-128px')",
                      "<cache>/generated/expressions-5b693bec-seed0-150x50-128px\n")])
    assert _nbval(same).returncode == 0
    other = tmp_path / "other.ipynb"  # another size of set: compared
    _notebook(other, [("print('<cache>/generated/expressions-0123abcd-seed0-20x50-128px')",
                       "<cache>/generated/expressions-5b693bec-seed0-150x50-128px\n")])
    assert _nbval(other).returncode != 0
