"""The decoded-image cache: every image of a data set decoded once, in threads, into
``<cache>/decoded/<fingerprint>/`` - one uint8 array per split (memory-mapped when read), labels,
face boxes, valence/arousal and ``meta.json`` (the scan's report, each file's size, the content
digest). The folder is published atomically and trusted only when every file has its size.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import atomic, digests, timings
from .decode import SkipImage, decode_file
from .faces import FaceOptions
from .folders import Skipped
from .labels import match_valence_arousal
from .splits import SPLIT_ORDER

# The code that decodes images and writes the cache: part of the fingerprint, so a change decodes anew.
DECODING_CODE = ("fercourse.data.decoded", "fercourse.data.decode", "fercourse.data.labels")
DECODE_CHUNK = 256  # images decoded per round: memory stays bounded for a set of any size


def fingerprint(root: Path, layouts, options: dict) -> str:
    """The cache folder's name: the decoding code and options, every file's path, size and time."""
    digest = hashlib.sha256()
    digests.feed(digest, {"code": digests.code_digest(*DECODING_CODE), **options})
    for name in sorted(layouts):
        layout = layouts[name]
        entries = [p for files in layout.files.values() for p in files] + list(layout.label_tables)
        for path in sorted(entries):
            stat = path.stat()
            digest.update(f"{name}|{path.relative_to(root).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


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


def build(folder: Path, root: Path, layouts, classes, size, keep_aspect, max_pixels, progress,
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


def is_valid(folder: Path) -> bool:
    """The cache folder is complete: ``meta.json`` parses and every file has its recorded size."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        return bool(meta["content"]) and all((folder / name).stat().st_size == size
                                             for name, size in meta["bytes"].items())
    except (OSError, ValueError, KeyError):
        return False


def read(folder: Path):
    """(classes, splits as dicts, the scan's report, the content digest) of a valid cache folder."""
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


def ensure(folder: Path, root: Path, layouts, classes, size, keep_aspect, max_pixels, progress,
           faces: FaceOptions | None = None):
    """:func:`read` of ``folder``, decoded into it first unless it holds a valid cache."""
    if not is_valid(folder):
        # Two processes needing the same folder at once (the report's two lanes, or a chapter and
        # the command line) take turns: the second finds the first one's cache, decoding nothing.
        with atomic.exclusive(folder.parent / f".{folder.name}.lock"):
            if not is_valid(folder):
                shutil.rmtree(folder, ignore_errors=True)  # incomplete or damaged (or from older code)
                with timings.phase("decode", str(root)):
                    build(folder, root, layouts, classes, size, keep_aspect, max_pixels, progress, faces)
    return read(folder)

