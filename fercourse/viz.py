"""Image grids for the chapters: samples per class, augmented copies, (later) CAM overlays."""
from __future__ import annotations

import numpy as np


def pick_per_class(labels: np.ndarray, per_class: int, seed: int = 0) -> dict[int, np.ndarray]:
    """``per_class`` random indices of each label present (fewer where a class has fewer)."""
    rng = np.random.default_rng(seed)
    picks = {}
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        picks[int(label)] = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return picks


def class_grid(images_by_class: dict[int, list], classes, *, title: str | None = None, cell: float = 1.35):
    """A figure with one row per class and one column per image.

    ``images_by_class``: label -> list of (S, S, 3) images (uint8, or float in [0, 1]).
    Returns the matplotlib Figure (call ``plt.show()`` to display it).
    """
    import matplotlib.pyplot as plt

    rows = sorted(images_by_class)
    cols = max(len(v) for v in images_by_class.values())
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * cell + 1.2, len(rows) * cell), squeeze=False)
    for r, label in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            ax.grid(False)
            if c < len(images_by_class[label]):
                image = np.asarray(images_by_class[label][c])
                ax.imshow(image if image.dtype == np.uint8 else np.clip(image, 0, 1))
            else:
                ax.axis("off")
            if c == 0:
                ax.set_ylabel(classes[label], rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
