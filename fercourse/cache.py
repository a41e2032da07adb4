"""What the cache folder holds, per kind, and clearing it (all or one kind).

Everything fercourse computes lives under one folder (``fercourse.paths.cache_dir()``,
``FERCOURSE_CACHE`` to move it); the user's data folders are only ever read.

    generated/  the built-in expression dataset (regenerated from its seed on demand)
    decoded/    decoded, resized images of a data folder (memory-mapped ``.npy``)
    features/   frozen-backbone features (``.npy`` + ``.sha256``)
    exports/    TFLite conversions and their predictions (``fercourse.export``)
    results/    analysis results of trained models (Score-CAM, deletion/insertion; ``fercourse.memo``)
    models/     the model store: weights, histories, checkpoints
    logs/       TensorFlow's C++ log (kept out of notebooks)
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from . import paths

KINDS = {
    "generated": "the built-in dataset, regenerated from its seed when needed",
    "decoded": "decoded images of each data folder, re-decoded when needed",
    "features": "frozen-backbone features, recomputed when needed",
    "exports": "TFLite conversions and their predictions, redone when needed",
    "results": "analysis results of trained models (CAM maps, curves), recomputed when needed",
    "models": "trained models: clearing them means training again",
    "logs": "TensorFlow's log file",
}


@dataclasses.dataclass(frozen=True)
class KindUsage:
    kind: str
    entries: int
    megabytes: float
    what: str


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def usage(root: Path | None = None) -> list[KindUsage]:
    """One row per kind (and ``other`` for anything unexpected), in ``KINDS`` order."""
    root = Path(root) if root is not None else paths.cache_dir()
    rows = []
    for kind, what in KINDS.items():
        folder = root / kind
        children = list(folder.iterdir()) if folder.is_dir() else []
        # Hidden names are lock files and unfinished temporaries: their bytes count, not as entries.
        entries = sum(not child.name.startswith(".") for child in children)
        rows.append(KindUsage(kind, entries, sum(map(_size, children)) / 1e6, what))
    other = [p for p in root.iterdir() if p.name not in KINDS] if root.is_dir() else []
    if other:
        rows.append(KindUsage("other", len(other), sum(map(_size, other)) / 1e6, "not written by fercourse"))
    return rows


def clear(kinds: list[str] | None = None, root: Path | None = None) -> list[str]:
    """Delete the named kinds (default: all of ``KINDS``); returns what was deleted."""
    root = Path(root) if root is not None else paths.cache_dir()
    kinds = list(KINDS) if not kinds or kinds == ["all"] else kinds
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown cache kind(s) {unknown}; choose from {['all', *KINDS]}")
    done = []
    for kind in kinds:
        folder = root / kind
        if folder.exists():
            shutil.rmtree(folder)
            done.append(kind)
    return done


def table(root: Path | None = None) -> str:
    """The usage as aligned text, with the folder it describes on top."""
    root = Path(root) if root is not None else paths.cache_dir()
    rows = usage(root)
    lines = [f"cache folder: {root}", f"{'kind':10s} {'entries':>7s} {'MB':>9s}  what"]
    lines += [f"{r.kind:10s} {r.entries:7d} {r.megabytes:9.1f}  {r.what}" for r in rows]
    lines.append(f"{'total':10s} {sum(r.entries for r in rows):7d} {sum(r.megabytes for r in rows):9.1f}")
    return "\n".join(lines)
