"""Load an expression dataset: scan the folders, decode every image once, cache the result.

``load_dataset()`` is the one entry point of the Q5 chapter. It

1. resolves the data root (``fercourse.data.root``),
2. reads the split/class layout (``fercourse.data.folders``),
3. decodes every candidate file to a fixed-size RGB uint8 array in parallel threads
   (``fercourse.data.decode``), skipping bad files with a reason,
4. stores the arrays under ``<cache>/decoded/<fingerprint>/`` (fingerprint of the file
   list with sizes and modification times, and the decoding options), so a second
   run only memory-maps them, and
5. returns an :class:`ExpressionDataset` holding the arrays, labels, optional
   valence/arousal and a :class:`ScanReport`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import digests, paths
from . import decoded
from .decode import DEFAULT_MAX_PIXELS
from .errors import DataError
from .faces import face_options
from .folders import read_layout
from .holdout import hold_out
from .root import resolve_data_root
from .splits import SPLIT_ORDER, ExpressionDataset, ImageSplit, ScanReport


def load_dataset(
    root: str | Path | None = None,
    *,
    image_size: int = 128,
    keep_aspect: bool = False,
    class_policy: str = "strict",
    validation_split: float | None = None,
    seed: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool | None = None,
    announce: bool = True,
    faces: str | None = None,
    face_margin: float | None = None,
    log=print,
) -> ExpressionDataset:
    """Scan, decode and cache the dataset at ``root`` (see ``resolve_data_root`` for the default).

    ``validation_split`` carves a stratified validation set out of Train when the data
    has no Validation folder (otherwise a missing Validation split is an error).
    ``progress`` shows a progress bar while decoding (default: when stderr is a terminal).
    ``announce=False`` leaves out the line saying which data was chosen (a chapter's
    ``setup()`` banner says it once); warnings and skipped files are still logged.
    ``faces``: "as-is" (AffectNet-style face crops: the default, or ``FERCOURSE_FACES``),
    "crop" (detect the largest face and crop to it, ``face_margin`` of its side added on each
    side) or "align" (crop, and level the eyes); see ``fercourse.data.faces``. Detection runs
    once per file; files without a face keep the whole frame and are listed in the report.
    """
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}")
    if validation_split is not None and not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be between 0 and 1, got {validation_split}")
    face_opts = face_options(faces, face_margin)
    data_root = resolve_data_root(root, log=log if announce else (lambda *_: None))
    base = data_root.path
    layouts, classes = read_layout(base, class_policy)
    if "validation" not in layouts and validation_split is None:
        found = ", ".join(layout.folder.name + "/" for layout in layouts.values())
        raise DataError(f"{base}: no Validation split (looked for Validation/, val/, valid/ in any case; "
                        f"found {found}). Add one, or pass validation_split=0.2 (command line: --validation-split "
                        f"0.2) to hold out part of Train.")
    options = {"size": image_size, "keep_aspect": keep_aspect, "max_pixels": max_pixels,
               "classes": list(classes), "policy": class_policy}
    if face_opts.active:  # only then: an as-is load keeps the key it has without face options
        options["faces"] = face_opts.key()
    fingerprint = decoded.fingerprint(base, layouts, options)
    show = sys.stderr.isatty() if progress is None else progress
    cached_classes, splits, parts, content = decoded.ensure(paths.cache_dir() / "decoded" / fingerprint, base,
                                                            layouts, classes, image_size, keep_aspect,
                                                            max_pixels, show, face_opts)
    for name, split in splits.items():
        if not len(split["files"]):
            bad = [s for s in parts["skipped"] if s.path.startswith(split["source"])]
            shown = "; ".join(f"{s.path}: {s.reason}" for s in bad[:3]) + ("; ..." if len(bad) > 3 else "")
            raise DataError(f"{base / split['source']} holds no readable image in its class folders"
                            + (f" ({len(bad)} file(s) skipped - {shown})" if bad else "")
                            + ". Put .jpg or .png images into the class folders.")
    split_fingerprint = content  # models and features: keyed by what was decoded, not by file times
    splits = {name: ImageSplit(name, s["source"], s["files"], s["labels"], s["images"], s["va"], s["faces"])
              for name, s in splits.items()}
    if "validation" not in splits:
        splits["train"], splits["validation"] = hold_out(splits["train"], validation_split, seed, "validation")
        # A different hold-out is a different training set: models and features trained on one
        # must never be reloaded for another (the validation images would leak into training).
        split_fingerprint = digests.key({"data": content, "holdout": validation_split, "seed": seed,
                                         "method": digests.code_digest("fercourse.data.holdout")})
    import pandas as pd

    ordered = {name: splits[name] for name in SPLIT_ORDER if name in splits}
    counts = pd.DataFrame({name: [int(np.sum(s.labels == i)) for i in range(len(cached_classes))]
                           for name, s in ordered.items()}, index=list(cached_classes))
    counts.loc["total"] = counts.sum()
    face_counts = None
    if all(s.faces is not None for s in ordered.values()):  # faces were detected
        face_counts = pd.DataFrame({name: [int(np.sum(~np.isnan(s.faces[:, 0]) & (s.labels == i)))
                                           for i in range(len(cached_classes))]
                                    for name, s in ordered.items()}, index=list(cached_classes))
        face_counts.loc["total"] = face_counts.sum()
    report = ScanReport(root=paths.display_path(base), counts=counts,
                        sizes=pd.DataFrame(parts["sizes"]).set_index("split").T,
                        modes=parts["modes"], skipped=parts["skipped"], warnings=parts["warnings"],
                        faces=face_counts, no_face=list(parts.get("no_face") or []))
    for warning in report.warnings:
        log(f"warning: {warning}")
    if report.skipped:
        log(f"skipped {len(report.skipped)} file(s); see dataset.report.skipped_table()")
    if report.no_face:
        log(f"no face found in {len(report.no_face)} file(s): the whole frame is used "
            "(see dataset.report.no_face)")
    return ExpressionDataset(
        root=data_root, classes=tuple(cached_classes), report=report, image_size=image_size,
        keep_aspect=keep_aspect, fingerprint=split_fingerprint, decoded_fingerprint=fingerprint,
        face_options=face_opts, splits=ordered)
