"""The package's layers (``[tool.importlinter]`` in pyproject.toml) hold, and the check bites.

``lint-imports`` reads every import, including those inside functions: a module may import from
its own layer and those below it, and no two modules of a package import each other in a cycle.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_layers_and_acyclic_contracts_are_kept():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "fercourse", tmp_path / "fercourse", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, code: str) -> None:
    path.write_text(path.read_text() + "\n\n" + code)


def test_an_upward_import_inside_a_function_breaks_the_layers(tmp_path):
    root = _copy(tmp_path)
    _append(root / "fercourse" / "data" / "root.py",
            "def _chapters():\n    from ..report import chapters\n\n    return chapters()\n")
    done = _lint(root)
    assert done.returncode != 0
    assert "fercourse.data is not allowed to import fercourse.report" in done.stdout


def test_a_cycle_inside_a_package_breaks_the_acyclic_contract(tmp_path):
    root = _copy(tmp_path)
    # cam.displays imports cam.overlay; overlay importing displays back closes a cycle
    _append(root / "fercourse" / "cam" / "overlay.py", "def _late():\n    from . import displays\n\n    return displays\n")
    done = _lint(root)
    assert done.returncode != 0
    assert "no import cycles between the modules of any package BROKEN" in done.stdout
