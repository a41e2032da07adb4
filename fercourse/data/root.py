"""Which data a run uses, and why.

Order: an explicit argument > the ``FERCOURSE_DATA`` environment variable >
``data/affectnet`` in the repository or the working folder, when present > the built-in
generated expression set (written once into the cache folder). A root that is named
but missing is an error, never a silent fall-back to generated data.
"""
from __future__ import annotations

import dataclasses
import os
import textwrap
from pathlib import Path

from .. import paths
from .errors import DataError

LOCAL_CANDIDATES = ("data/affectnet",)


@dataclasses.dataclass(frozen=True)
class DataRoot:
    """A resolved data root: where, why, and whether it is the generated stand-in."""

    path: Path
    reason: str
    generated: bool
    description: str


def _real(path: Path, reason: str) -> DataRoot:
    if not path.is_dir():
        raise DataError(f"{reason} points to {path}, which is not a folder")
    return DataRoot(path, reason, False, f"real data: folder {paths.display_path(path)} ({reason})")


def resolve_data_root(root: str | Path | DataRoot | None = None, *, log=print, **generator_options) -> DataRoot:
    """Find the data root and print which one was chosen and why.

    ``generator_options`` go to ``fercourse.synthetic.ensure_dataset`` when the built-in
    set is used (e.g. ``train_per_class=150``).
    """
    if isinstance(root, DataRoot):
        return root
    if root is not None:
        chosen = _real(Path(root).expanduser(), "the root passed in")
    elif os.environ.get("FERCOURSE_DATA"):
        chosen = _real(Path(os.environ["FERCOURSE_DATA"]).expanduser(), "FERCOURSE_DATA")
    else:
        local = [base / c for base in (paths.REPO_ROOT, Path.cwd()) for c in LOCAL_CANDIDATES]
        found = next((p for p in local if p.is_dir()), None)
        if found is not None:
            chosen = _real(found, "found data/affectnet")
        else:
            from ..synthetic import ensure_dataset

            generated = ensure_dataset(**generator_options)
            chosen = DataRoot(generated.root, "no real data configured", True, generated.description)
    log(textwrap.fill(f"data: {chosen.description}", 88, subsequent_indent="      "))
    return chosen
