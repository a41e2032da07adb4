"""Stratified hold-outs: the monitor slice of Train (early stopping) and, for a data set without
one, a Validation split. The code here is part of every model-store key and of the data
fingerprint when Validation is carved out (:func:`fercourse.digests.code_digest`): a change of
method never reloads a model trained on other images.
"""
from __future__ import annotations

import math

import numpy as np

from .rows import take_rows
from .splits import ImageSplit


def held_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
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


def hold_out_rows(split: dict, fraction: float, seed: int) -> tuple[dict, dict]:
    """Stratified split of a decoded split into (kept, held-out) parts."""
    held_mask = np.zeros(len(split["labels"]), bool)
    held_mask[held_indices(np.asarray(split["labels"]), fraction, seed)] = True

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
    kept, held = hold_out_rows({"source": split.source, "files": split.files, "labels": split.labels,
                            "images": split.images, "va": split.valence_arousal, "faces": split.faces},
                           fraction, seed)
    as_split = lambda n, p: ImageSplit(n, p["source"], p["files"], p["labels"], p["images"], p["va"],  # noqa: E731
                                       p["faces"])
    return as_split(split.name, kept), as_split(name, held)
