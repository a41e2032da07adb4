"""Where things live: the repository, the notebooks, the build folder and the cache.

Nothing else belongs here. Every location can be overridden by an environment
variable so that a grader can point the course at another disk:

* ``FERCOURSE_CACHE`` -- cache folder (generated data, decoded images, model store);
  default: the platform's user cache folder (platformdirs), ``~/.cache/fercourse`` on Linux.
* ``FERCOURSE_BUILD`` -- build folder (executed notebooks, HTML, PDF); default ``<repo>/build``.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def cache_dir() -> Path:
    """The user's cache folder for fercourse (created on first use)."""
    env = os.environ.get("FERCOURSE_CACHE")
    if env:
        root = Path(env).expanduser()
    else:  # the platform's user cache folder: ~/.cache/fercourse on Linux (XDG_CACHE_HOME honoured)
        import platformdirs

        root = Path(platformdirs.user_cache_dir("fercourse", appauthor=False))
    root.mkdir(parents=True, exist_ok=True)
    return root


def build_dir() -> Path:
    """The folder the report writes into (created on first use)."""
    env = os.environ.get("FERCOURSE_BUILD")
    root = Path(env).expanduser() if env else REPO_ROOT / "build"
    root.mkdir(parents=True, exist_ok=True)
    return root


def display_path(path: Path | str) -> str:
    """``path`` relative to the repo, the cache folder or home, for printing.

    Notebook outputs end up in a report that others read, so they never show
    this machine's absolute paths.
    """
    path = Path(path).expanduser().resolve()
    # Most specific first: the cache may live inside the repository (CI puts it in build/).
    anchors = [(cache_dir().resolve(), "<cache>"), (REPO_ROOT, "."), (Path.home().resolve(), "~")]
    for anchor, label in anchors:
        try:
            rel = path.relative_to(anchor)
        except ValueError:
            continue
        return label if rel == Path(".") else f"{label}/{rel.as_posix()}"
    return path.as_posix()
