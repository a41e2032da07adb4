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

import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import atomic, digests, paths, timings
from .decode import DEFAULT_MAX_PIXELS, SkipImage, decode_file
from .errors import DataError
from .faces import FaceOptions, face_options
from .folders import Skipped, read_layout
from .labels import match_valence_arousal
from .root import DataRoot, resolve_data_root
from .rows import take_rows

# The code that decodes images and writes the cache: part of the fingerprint, so a change decodes anew.
DECODING_CODE = ("fercourse.data.dataset", "fercourse.data.decode", "fercourse.data.rows")
SPLIT_ORDER = ("train", "validation", "test")


@dataclasses.dataclass
class ImageSplit:
    """One split, decoded. ``images`` (N, S, S, 3) uint8; ``labels`` (N,) int32 class indices."""

    name: str
    source: str  # where it came from, e.g. "Train/" or "Train/ (held out 20 %)"
    files: list[str]  # relative to the data root
    labels: np.ndarray
    images: np.ndarray
    valence_arousal: np.ndarray | None = None  # (N, 2) float32, NaN where unknown
    faces: np.ndarray | None = None  # (N, 5) float32 face x, y, w, h, eye angle (original px); NaN: none

    def __len__(self) -> int:
        return len(self.files)

    def labelled_valence_arousal(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions (K,) of the images with both labels, their (K, 2) float32 valence/arousal)."""
        if self.valence_arousal is None:
            raise DataError(f"the {self.name} split ({self.source}) has no valence/arousal table "
                            "(valence_arousal.csv with file,valence,arousal columns beside the class folders)")
        positions = np.flatnonzero(~np.isnan(self.valence_arousal).any(axis=1))
        return positions, self.valence_arousal[positions].astype(np.float32)


@dataclasses.dataclass
class ScanReport:
    """What the scan found: counts, image sizes and modes, skipped files, warnings."""

    root: str
    counts: "object"  # pandas DataFrame: classes x splits
    sizes: "object"  # pandas DataFrame: min/median/max width and height (rows) x splits
    modes: dict[str, int]
    skipped: list[Skipped]
    warnings: list[str]
    faces: "object" = None  # pandas DataFrame: faces found per class (rows) and split; None: as-is
    no_face: list[str] = dataclasses.field(default_factory=list)  # files whose whole frame is used

    def skipped_table(self):
        """The skipped files as a DataFrame (path, reason)."""
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(s) for s in self.skipped], columns=["path", "reason"])

    def __str__(self) -> str:
        lines = [f"data root: {self.root}", f"image modes: {self.modes}",
                 f"skipped files: {len(self.skipped)}"]
        lines += [f"  {s.path}: {s.reason}" for s in self.skipped[:20]]
        if len(self.skipped) > 20:
            lines.append(f"  ... and {len(self.skipped) - 20} more (see .skipped_table())")
        if self.faces is not None:
            found = ", ".join(f"{split} {int(self.faces.loc['total', split])}/{int(self.counts.loc['total', split])}"
                              for split in self.faces.columns)
            lines.append(f"faces found: {found}; no face in {len(self.no_face)} file(s), whole frame used")
            lines += [f"  {path}" for path in self.no_face[:20]]
            if len(self.no_face) > 20:
                lines.append(f"  ... and {len(self.no_face) - 20} more (see .no_face)")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclasses.dataclass
class ExpressionDataset:
    """A decoded expression dataset, ready for ``fercourse.data.pipeline``."""

    root: DataRoot
    classes: tuple[str, ...]
    splits: dict[str, ImageSplit]
    report: ScanReport
    image_size: int
    keep_aspect: bool
    fingerprint: str  # what was decoded (file list, pixels, labels) and how it was split: keys models, features
    decoded_fingerprint: str = ""  # file names, sizes, times and decoding options: keys the decoded-image cache
    face_options: FaceOptions = dataclasses.field(default_factory=FaceOptions)  # detection applied

    @property
    def name(self) -> str:
        """Where the data came from; and, when faces were detected, how they were cropped."""
        if not self.face_options.active:
            return self.root.description
        how = "cropped to the largest face" + (" with the eyes levelled" if self.face_options.mode == "align" else "")
        return (f"{self.root.description}; {how} (OpenCV Haar cascade, margin {self.face_options.margin:.0%} "
                f"per side; no face: whole frame)")

    @property
    def label(self) -> str:
        """A few words for figure titles: "built-in faces", or the data folder's name."""
        return "built-in faces" if self.root.generated else Path(self.root.path).name

    def __getitem__(self, split: str) -> ImageSplit:
        if split not in self.splits:
            raise KeyError(f"no {split!r} split; this dataset has {list(self.splits)}")
        return self.splits[split]

    def counts(self):
        """Images per class (rows) and split (columns), with totals."""
        return self.report.counts

    def describe(self) -> str:
        """Two lines for a notebook: what this data is and whether it is AffectNet."""
        import textwrap

        sizes = ", ".join(f"{name} {len(split)}" for name, split in self.splits.items())
        return (textwrap.fill(self.root.description, 88) + f"\n{len(self.classes)} classes; {sizes} images "
                f"at {self.image_size}x{self.image_size}")


def _fingerprint(root: Path, layouts, options: dict) -> str:
    digest = hashlib.sha256()
    digests.feed(digest, {"code": digests.code_digest(*DECODING_CODE), **options})
    for name in sorted(layouts):
        layout = layouts[name]
        entries = [p for files in layout.files.values() for p in files] + list(layout.label_tables)
        for path in sorted(entries):
            stat = path.stat()
            digest.update(f"{name}|{path.relative_to(root).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def split_key(fingerprint: str, **split) -> str:
    """A fingerprint extended by how a split was drawn (e.g. ``holdout=0.2, seed=0``)."""
    return digests.key({"data": fingerprint, **split})


DECODE_CHUNK = 256  # images decoded per round: memory stays bounded for a set of any size


def _decode_into(handle, root: Path, files: list[Path], size, keep_aspect, max_pixels, progress, desc,
                 faces: FaceOptions | None = None):
    """Decode ``files`` in threads (Pillow and OpenCV release the GIL), appending each image's
    raw bytes to ``handle`` -- never the whole set in memory. Returns (infos, kept, skipped)."""
    from tqdm.auto import tqdm

    def work(path):
        try:
            return decode_file(path, size, keep_aspect, max_pixels, faces)
        except SkipImage as err:
            return err

    infos, kept, skipped = [], [], []
    workers = min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(files), desc=desc, disable=not progress, unit="img") as bar:
        for start in range(0, len(files), DECODE_CHUNK):
            chunk = files[start:start + DECODE_CHUNK]
            for path, result in zip(chunk, pool.map(work, chunk)):
                if isinstance(result, SkipImage):
                    skipped.append(Skipped(path.relative_to(root).as_posix(), str(result)))
                else:
                    handle.write(np.ascontiguousarray(result[0], dtype=np.uint8).tobytes())
                    infos.append(result[1])
                    kept.append(path)
            bar.update(len(chunk))
    return infos, kept, skipped


def _raw_to_npy(raw: Path, target: Path, shape: tuple) -> None:
    """Wrap raw uint8 rows in an ``.npy`` header, copying in chunks (bounded memory)."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
              "shape": tuple(int(d) for d in shape)}
    with open(target, "wb") as out, open(raw, "rb") as src:
        np.lib.format.write_array_header_1_0(out, header)
        shutil.copyfileobj(src, out, 1 << 22)
    raw.unlink()


def _size_rows(name: str, infos: list[dict]) -> dict:
    if not infos:
        return {"split": name, "images": 0}
    w = np.array([i["width"] for i in infos])
    h = np.array([i["height"] for i in infos])
    return {"split": name, "images": len(infos), "width min": int(w.min()), "width median": int(np.median(w)),
            "width max": int(w.max()), "height min": int(h.min()), "height median": int(np.median(h)),
            "height max": int(h.max())}


def _face_rows(infos: list[dict]) -> np.ndarray:
    """(N, 5) float32: each image's face box and eye angle in original pixels, NaN where none."""
    rows = np.full((len(infos), 5), np.nan, np.float32)
    for row, info in zip(rows, infos):
        if info.get("face") is not None:
            row[:4] = info["face"]
            row[4] = np.nan if info.get("angle") is None else info["angle"]
    return rows


def _build_cache(folder: Path, root: Path, layouts, classes, size, keep_aspect, max_pixels, progress,
                 faces: FaceOptions | None = None) -> None:
    """Decode every split straight into a new cache folder, published atomically when complete.

    ``meta.json`` records each file's byte size, checked before the cache is trusted. With
    active ``faces`` it also records, per split, each image's face box (``<split>.faces.npy``)
    and the files where none was found.
    """
    detect = faces is not None and faces.active
    if detect:
        from .faces import cascade_folder

        cascade_folder()  # import OpenCV's cascades here, not first in a decoding thread
    index = {name: i for i, name in enumerate(classes)}
    skipped, warnings, sizes, modes = [], [], [], {}
    no_face = []
    meta = {"classes": list(classes), "splits": {}, "faces": dataclasses.asdict(faces) if detect else None}
    with atomic.publish_dir(folder) as tmp:
        for name in [s for s in SPLIT_ORDER if s in layouts]:
            layout = layouts[name]
            skipped.extend(layout.skipped)
            warnings.extend(f"{layout.class_folders[c].relative_to(root).as_posix()}/ is empty"
                            for c in layout.empty_classes if c in layout.class_folders)
            files = [p for c in classes for p in layout.files.get(c, [])]
            raw = tmp / f"{name}.images.raw"
            with open(raw, "wb") as handle:
                what = "decoding + finding faces in" if detect else "decoding"
                infos, kept, bad = _decode_into(handle, root, files, size, keep_aspect, max_pixels, progress,
                                                f"{what} {layout.folder.name}/", faces if detect else None)
            _raw_to_npy(raw, tmp / f"{name}.images.npy", (len(kept), size, size, 3))
            skipped.extend(bad)
            for info in infos:
                modes[info["mode"]] = modes.get(info["mode"], 0) + 1
            label_of = {p: index[c] for c in classes for p in layout.files.get(c, [])}
            labels = np.array([label_of[p] for p in kept], dtype=np.int32)
            np.save(tmp / f"{name}.labels.npy", labels)
            if detect:
                boxes = _face_rows(infos)
                np.save(tmp / f"{name}.faces.npy", boxes)
                no_face += [p.relative_to(root).as_posix() for p, box in zip(kept, boxes) if np.isnan(box[0])]
            va = match_valence_arousal(layout.label_tables, layout.folder, kept)
            if va is not None:
                np.save(tmp / f"{name}.va.npy", va)
            meta["splits"][name] = {"source": f"{layout.folder.name}/",
                                    "files": [p.relative_to(root).as_posix() for p in kept], "va": va is not None}
            sizes.append(_size_rows(name, infos))
            for c in classes:
                if c in layout.class_folders and layout.files.get(c) and not np.any(labels == index[c]):
                    warnings.append(f"{layout.class_folders[c].relative_to(root).as_posix()}/ has no readable image")
        meta["report"] = {"skipped": [dataclasses.asdict(s) for s in skipped], "warnings": warnings,
                          "sizes": sizes, "modes": modes, "no_face": no_face}
        meta["bytes"] = {p.name: p.stat().st_size for p in tmp.iterdir()}
        meta["content"] = _content_digest(tmp, meta)
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def _content_digest(folder: Path, meta: dict) -> str:
    """What the decoded data *is*: the classes, each split's file list, and the bytes of its
    arrays (pixels, labels, faces, valence/arousal) -- not when the files were written.

    Why: the decoded-image cache is keyed by the files' sizes and modification times (cheap to
    check on every load), but models and features keyed that way were trained again whenever the
    same images got new times: a regenerated built-in set, a copied cache, a ``touch``.
    """
    digest = hashlib.sha256()
    digests.feed(digest, {"classes": meta["classes"], "faces": meta["faces"], "splits": meta["splits"]})
    for path in sorted(folder.glob("*.npy")):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:20]


def _cache_is_valid(folder: Path) -> bool:
    """The cache folder is complete: ``meta.json`` parses and every file has its recorded size."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        return bool(meta["content"]) and all((folder / name).stat().st_size == size
                                             for name, size in meta["bytes"].items())
    except (OSError, ValueError, KeyError):
        return False


def _read_cache(folder: Path):
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    splits = {}
    for name, info in meta["splits"].items():
        splits[name] = {
            "source": info["source"], "files": info["files"],
            "images": np.load(folder / f"{name}.images.npy", mmap_mode="r"),
            "labels": np.load(folder / f"{name}.labels.npy"),
            "va": np.load(folder / f"{name}.va.npy") if info["va"] else None,
            "faces": np.load(folder / f"{name}.faces.npy") if meta.get("faces") else None,
        }
    report = meta["report"]
    report["skipped"] = [Skipped(**s) for s in report["skipped"]]
    return meta["classes"], splits, report, meta["content"]


# How a stratified hold-out is drawn: part of every model-store key (``fit.train``) and of the
# data fingerprint when Validation is carved out of Train, so that a change of method never
# reloads a model trained on other images. 2: scikit-learn's train_test_split(stratify=...);
# 1 was a hand-written per-class draw.
HOLD_OUT_METHOD = 2


def _held_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Row numbers of a stratified ``fraction`` of ``labels`` (scikit-learn's train_test_split).

    Classes with a single sample stay out of the draw (stratification needs two); the held
    part gets at least one sample per remaining class, so every class is scored.
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount(labels) if len(labels) else np.zeros(0, int)
    pool = np.flatnonzero(counts[labels] > 1) if len(labels) else np.zeros(0, int)
    classes = len(np.unique(labels[pool]))
    if classes == 0:
        return np.zeros(0, int)
    # ceil(fraction * n), as train_test_split counts a fractional test_size
    size = min(max(math.ceil(fraction * len(pool)), classes), len(pool) - classes)
    _, held = train_test_split(pool, test_size=size, stratify=labels[pool], random_state=seed)
    return np.sort(held)


def _hold_out(split: dict, fraction: float, seed: int) -> tuple[dict, dict]:
    """Stratified split of a decoded split into (kept, held-out) parts."""
    held_mask = np.zeros(len(split["labels"]), bool)
    held_mask[_held_indices(np.asarray(split["labels"]), fraction, seed)] = True

    def take(mask, source):
        return {"source": source, "files": [f for f, m in zip(split["files"], mask) if m],
                "labels": split["labels"][mask], "images": take_rows(split["images"], np.flatnonzero(mask)),
                "va": None if split["va"] is None else split["va"][mask],
                "faces": None if split.get("faces") is None else split["faces"][mask]}

    return (take(~held_mask, split["source"]),
            take(held_mask, f"{split['source']} (held out {fraction:.0%})"))


def hold_out(split: ImageSplit, fraction: float, seed: int = 0, name: str = "monitor") -> tuple[ImageSplit, ImageSplit]:
    """Stratified ``(rest, held)`` parts of ``split``: ``fraction`` of each class goes to ``held``.

    The Q5 trainings hold out a slice of Train this way for early stopping, so that the
    reported Validation split is only ever used to score.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    kept, held = _hold_out({"source": split.source, "files": split.files, "labels": split.labels,
                            "images": split.images, "va": split.valence_arousal, "faces": split.faces},
                           fraction, seed)
    as_split = lambda n, p: ImageSplit(n, p["source"], p["files"], p["labels"], p["images"], p["va"],  # noqa: E731
                                       p["faces"])
    return as_split(split.name, kept), as_split(name, held)


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
    if face_opts.active:  # only then: the as-is caches of earlier versions keep their keys
        options["faces"] = face_opts.key()
    fingerprint = _fingerprint(base, layouts, options)
    cache = paths.cache_dir() / "decoded" / fingerprint
    if not _cache_is_valid(cache):
        # Two processes needing the same folder at once (the report's two lanes, or a chapter and
        # the command line) take turns: the second finds the first one's cache, decoding nothing.
        with atomic.exclusive(cache.parent / f".{fingerprint}.lock"):
            if not _cache_is_valid(cache):
                shutil.rmtree(cache, ignore_errors=True)  # incomplete or damaged (or from an older version)
                show = sys.stderr.isatty() if progress is None else progress
                with timings.phase("decode", str(base)):
                    _build_cache(cache, base, layouts, classes, image_size, keep_aspect, max_pixels, show,
                                 face_opts)
    cached_classes, splits, parts, content = _read_cache(cache)
    for name, split in splits.items():
        if not len(split["files"]):
            bad = [s for s in parts["skipped"] if s.path.startswith(split["source"])]
            shown = "; ".join(f"{s.path}: {s.reason}" for s in bad[:3]) + ("; ..." if len(bad) > 3 else "")
            raise DataError(f"{base / split['source']} holds no readable image in its class folders"
                            + (f" ({len(bad)} file(s) skipped - {shown})" if bad else "")
                            + ". Put .jpg or .png images into the class folders.")
    split_fingerprint = content  # models and features: keyed by what was decoded, not by file times
    if "validation" not in splits:
        splits["train"], splits["validation"] = _hold_out(splits["train"], validation_split, seed)
        # A different hold-out is a different training set: models and features trained on one
        # must never be reloaded for another (the validation images would leak into training).
        split_fingerprint = split_key(content, holdout=validation_split, seed=seed, method=HOLD_OUT_METHOD)
    import pandas as pd

    ordered = {name: splits[name] for name in SPLIT_ORDER if name in splits}
    counts = pd.DataFrame({name: [int(np.sum(s["labels"] == i)) for i in range(len(cached_classes))]
                           for name, s in ordered.items()}, index=list(cached_classes))
    counts.loc["total"] = counts.sum()
    face_counts = None
    if all(s["faces"] is not None for s in ordered.values()):  # faces were detected
        face_counts = pd.DataFrame({name: [int(np.sum(~np.isnan(s["faces"][:, 0]) & (s["labels"] == i)))
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
        face_options=face_opts,
        splits={name: ImageSplit(name, s["source"], s["files"], s["labels"], s["images"], s["va"], s["faces"])
                for name, s in ordered.items()},
    )
