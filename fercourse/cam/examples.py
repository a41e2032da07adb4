"""Which validation images to explain: per class, the surest hits and the surest mistakes."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Examples:
    """Indices into the scored split, chosen deterministically.

    ``hits[c]`` / ``misses[c]``: up to ``per_class`` indices of class ``c`` predicted right /
    wrong, most confident prediction first. ``shortfalls`` names the classes with fewer.
    """

    hits: dict[int, list[int]]
    misses: dict[int, list[int]]
    per_class: int

    @property
    def shortfalls(self) -> dict[int, tuple[int, int]]:
        """class -> (hits found, misses found) where either is below ``per_class``."""
        return {c: (len(self.hits[c]), len(self.misses[c])) for c in self.hits
                if len(self.hits[c]) < self.per_class or len(self.misses[c]) < self.per_class}

    def indices(self) -> np.ndarray:
        """All chosen indices, class by class: misses first, then hits."""
        return np.array([i for c in sorted(self.hits) for i in self.misses[c] + self.hits[c]], np.int64)


def pick_examples(y_true, proba, per_class: int = 2) -> Examples:
    """For every class, the ``per_class`` most confident correct and wrong predictions.

    ``y_true`` (N,) labels, ``proba`` (N, C) probabilities. Confidence = the predicted class's
    probability; ties broken by index, so the choice is the same on every run.
    """
    y_true, proba = np.asarray(y_true), np.asarray(proba)
    predicted, confidence = proba.argmax(axis=1), proba.max(axis=1)
    hits, misses = {}, {}
    for c in range(proba.shape[1]):
        for store, wanted in ((hits, True), (misses, False)):
            idx = np.flatnonzero((y_true == c) & ((predicted == c) == wanted))
            idx = idx[np.lexsort((idx, -confidence[idx]))]
            store[c] = [int(i) for i in idx[:per_class]]
    return Examples(hits, misses, per_class)
