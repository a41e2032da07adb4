"""The built-in expression dataset: compose samples and write them in AffectNet's layout.

    <root>/Train/<class>/<class>_0000.jpg ...        <root>/Validation/<class>/...
    <root>/Train/valence_arousal.csv                  (file, valence, arousal, intensity)
    <root>/_masks/Train/<class>/<class>_0000.png     expression-region masks (bits: 1 mouth,
                                                      2 brows, 4 eyes, 8 nose)
    <root>/manifest.json                              generator version and settings

Every sample has its own random stream derived from (seed, split, class, index), so the
set is the same on every machine and any one image can be regenerated alone.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import cv2
import numpy as np

from .. import atomic, digests, paths, timings
from ..classes import AFFECTNET_CLASSES
from .expressions import REGION_BITS, sample_expression
from .faces import CANVAS, apply_pose, background, occluder, render_face, sample_identity, sample_pose

# The code that draws the images: part of the set's folder name, so a change draws it anew.
GENERATOR_CODE = ("fercourse.synthetic.generate", "fercourse.synthetic.faces", "fercourse.synthetic.expressions")
# v3 frames the face like AffectNet's crops: the canvas is cut to this box (x0, y0, x1, y1)
# around the face before resizing, so the face fills most of the image and the background,
# with its strong edges, is a small share of it (v2 kept the whole canvas: a small face in clutter).
FACE_BOX = (40, 50, 216, 226)
SPLIT_FOLDERS = {"train": "Train", "validation": "Validation"}
MASKS_FOLDER = "_masks"  # starts with "_": the loader ignores it
_YS, _XS = (np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32) / CANVAS - 0.5)


def sample_rng(seed: int, split: str, class_index: int, index: int) -> np.random.Generator:
    """The random stream of one sample."""
    split_id = list(SPLIT_FOLDERS).index(split)
    return np.random.default_rng(np.random.SeedSequence([seed, split_id, class_index, index]))


def compose_sample(cls: str, rng: np.random.Generator, size: int = 128) -> dict:
    """One image of class ``cls``: returns {"image" (size, size, 3) uint8 RGB, "mask" (size, size)
    uint8 region bits, "va", "intensity", "jpeg_quality", "aus"}."""
    expression = sample_expression(cls, rng)
    identity = sample_identity(rng)
    face, alpha, regions = render_face(identity, expression["aus"])
    keep = sum(REGION_BITS[r] for r in expression["regions"])
    regions = np.where(regions & keep, regions & keep, 0).astype(np.uint8)
    face, alpha, regions = apply_pose([face, alpha, regions], sample_pose(rng), nearest=[False, False, True])
    alpha = alpha.astype(np.float32)[..., None]
    img = background(rng).astype(np.float32) * (1 - alpha) + face.astype(np.float32) * alpha
    blocked = occluder(rng, identity["skin"])
    if blocked is not None:
        cover, cover_mask = blocked
        m = (cover_mask.astype(np.float32) / 255.0)[..., None]
        img = img * (1 - m) + cover.astype(np.float32) * m
        regions[cover_mask > 127] = 0  # what is hidden carries no evidence
    # Lighting: a directional gradient and an overall exposure.
    theta, strength = rng.uniform(0, 2 * np.pi), rng.uniform(-0.35, 0.35)
    light = rng.uniform(0.75, 1.15) * (1 + 2 * strength * (np.cos(theta) * _XS + np.sin(theta) * _YS))
    x0, y0, x1, y1 = FACE_BOX
    img = (img * light[..., None])[y0:y1, x0:x1]
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(regions[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_NEAREST)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.4))
    img += rng.normal(0, rng.uniform(0, 6), img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return {"image": img, "mask": mask, "va": expression["va"], "intensity": expression["intensity"],
            "jpeg_quality": int(rng.integers(35, 96)), "aus": expression["aus"]}


@dataclasses.dataclass(frozen=True)
class GeneratedDataset:
    """Where a generated set lives and how to describe it honestly."""

    root: Path
    seed: int
    train_per_class: int
    validation_per_class: int
    image_size: int

    @property
    def description(self) -> str:
        return (f"built-in generated faces, NOT AffectNet (seed {self.seed}; 8 classes x "
                f"{self.train_per_class} train / {self.validation_per_class} validation; {self.image_size} px): "
                f"numbers on it are not AffectNet results")


def _write_sample(root: Path, seed: int, split: str, class_index: int, index: int, image_size: int) -> str:
    """Compose one sample, write its JPEG and mask; return its valence/arousal CSV row."""
    cls, folder = AFFECTNET_CLASSES[class_index], SPLIT_FOLDERS[split]
    sample = compose_sample(cls, sample_rng(seed, split, class_index, index), image_size)
    name = f"{cls}_{index:04d}"
    bgr = cv2.cvtColor(sample["image"], cv2.COLOR_RGB2BGR)
    ok, jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, sample["jpeg_quality"]])
    ok2, png = cv2.imencode(".png", sample["mask"])
    if not (ok and ok2):
        raise RuntimeError(f"OpenCV could not encode {folder}/{cls}/{name}")
    (root / folder / cls / f"{name}.jpg").write_bytes(jpg.tobytes())
    (root / MASKS_FOLDER / folder / cls / f"{name}.png").write_bytes(png.tobytes())
    v, a = sample["va"]
    return f"{cls}/{name}.jpg,{v:.4f},{a:.4f},{sample['intensity']:.4f}"


def write_dataset(root: Path, seed: int = 0, train_per_class: int = 150, validation_per_class: int = 50,
                  image_size: int = 128) -> None:
    """Generate the whole set into ``root`` (threads: OpenCV and NumPy release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    counts = {"train": train_per_class, "validation": validation_per_class}
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for split, folder in SPLIT_FOLDERS.items():
            for cls in AFFECTNET_CLASSES:
                (root / folder / cls).mkdir(parents=True)
                (root / MASKS_FOLDER / folder / cls).mkdir(parents=True)
            jobs = [(ci, i) for ci in range(len(AFFECTNET_CLASSES)) for i in range(counts[split])]
            rows = list(pool.map(lambda job: _write_sample(root, seed, split, job[0], job[1], image_size), jobs))
            table = "file,valence,arousal,intensity\n" + "\n".join(rows) + "\n"
            (root / folder / "valence_arousal.csv").write_text(table, encoding="utf-8")
    manifest = {"generator_code": digests.code_digest(*GENERATOR_CODE), "seed": seed, "train_per_class": train_per_class,
                "validation_per_class": validation_per_class, "image_size": image_size,
                "classes": list(AFFECTNET_CLASSES), "note": "procedurally generated; not AffectNet"}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def ensure_dataset(seed: int = 0, train_per_class: int = 150, validation_per_class: int = 50,
                   image_size: int = 128) -> GeneratedDataset:
    """The generated set for these settings, written once into ``<cache>/generated/``.

    Generation writes into a temporary folder that is renamed when complete, so an
    interrupted run never leaves a half-written dataset that a later run would trust.
    """
    for name, value in (("train_per_class", train_per_class), ("validation_per_class", validation_per_class)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    key = f"expressions-{digests.code_digest(*GENERATOR_CODE)[:8]}-seed{seed}-{train_per_class}x{validation_per_class}-{image_size}px"
    root = paths.cache_dir() / "generated" / key
    info = GeneratedDataset(root, seed, train_per_class, validation_per_class, image_size)
    if (root / "manifest.json").exists():
        return info
    # Chapters executing side by side need the same set: one draws it, the other waits and
    # finds it finished (publish_dir alone would keep one copy, but after drawing both).
    with atomic.exclusive(root.parent / f".{key}.lock"):
        if (root / "manifest.json").exists():
            return info
        with timings.phase("generate", key), atomic.publish_dir(root) as tmp:
            write_dataset(tmp, seed, train_per_class, validation_per_class, image_size)
    return info


def sampled_action_units(seed: int = 0, split: str = "train", per_class: int = 150):
    """(AU intensities (N, n_AUs), labels (N,)) of the generated set's samples, without drawing them.

    The same per-sample streams as :func:`write_dataset`, so the rows are the very AU values
    the images were drawn from (samples in class order, then index order).
    """
    from .expressions import action_unit_matrix

    jobs = [(ci, i) for ci in range(len(AFFECTNET_CLASSES)) for i in range(per_class)]
    classes = [AFFECTNET_CLASSES[ci] for ci, _ in jobs]
    matrix = action_unit_matrix(classes, (sample_rng(seed, split, ci, i) for ci, i in jobs))
    return matrix, np.array([ci for ci, _ in jobs], dtype=np.int32)


def action_unit_ceiling(seed: int = 0, train_per_class: int = 150, validation_per_class: int = 50):
    """The set's own ceiling: (validation accuracy, confusion matrix (C, C)) of a logistic
    regression (scikit-learn) fitted to the *sampled AU intensities* of the training faces.

    How separable the classes are before any pixel is drawn: errors here come only from the
    ambiguous faces the generator blends on purpose.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix

    x, y = sampled_action_units(seed, "train", train_per_class)
    xv, yv = sampled_action_units(seed, "validation", validation_per_class)
    predicted = LogisticRegression(max_iter=5000).fit(x, y).predict(xv)
    return float(np.mean(predicted == yv)), confusion_matrix(yv, predicted, labels=range(len(AFFECTNET_CLASSES)))


def load_masks(dataset, split) -> np.ndarray:
    """Region masks (N, S, S) uint8 aligned with the files of ``split`` (a split name such as
    "validation", or an ``ImageSplit``, e.g. a part made by ``hold_out``); generated data only."""
    if not dataset.root.generated:
        raise ValueError("region masks exist only for the built-in generated dataset")
    part = dataset[split] if isinstance(split, str) else split
    out = np.zeros((len(part), dataset.image_size, dataset.image_size), np.uint8)
    for i, rel in enumerate(part.files):
        path = dataset.root.path / MASKS_FOLDER / Path(rel).with_suffix(".png")
        mask = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise FileNotFoundError(f"no mask for {rel} at {path}")
        out[i] = cv2.resize(mask, (dataset.image_size,) * 2, interpolation=cv2.INTER_NEAREST)
    return out
