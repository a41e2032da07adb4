"""Stratified hold-outs: the monitor slice of Train (early stopping) and, for a data set without
one, a Validation split. The code here is part of every model-store key and of the data
fingerprint when Validation is carved out (:func:`fercourse.digests.code_digest`): a change of
method never reloads a model trained on other images.
"""
from __future__ import annotations

import math

import numpy as np

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


def hold_out(split: ImageSplit, fraction: float, seed: int = 0, name: str = "monitor") -> tuple[ImageSplit, ImageSplit]:
    """Stratified ``(rest, held)`` parts of ``split``: ``fraction`` of each class goes to ``held``.

    The Q5 trainings hold out a slice of Train this way for early stopping, so that the
    reported Validation split is only ever used to score.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    held = held_indices(split.labels, fraction, seed)
    kept = np.setdiff1d(np.arange(len(split)), held)
    return split.rows(kept), split.rows(held, name, f"{split.source} (held out {fraction:.0%})")
