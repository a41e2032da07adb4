"""Image grids for the chapters: samples per class, augmented copies, detected and cropped faces."""
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


def face_crops_figure(data, split: str = "train", n: int = 6, *, seed: int = 0, cell: float = 2.0):
    """What ``load_dataset(..., faces="crop"/"align")`` did: for ``n`` files of ``split`` (found
    faces first, then up to two where none was found), the original frame with the detected face
    (blue) and the square that was cropped (orange, turned when the eyes were levelled) above the
    (S, S) image the models see. Returns the matplotlib Figure."""
    import math

    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon, Rectangle
    from PIL import Image

    from .data.decode import to_rgb_uint8
    from .data.faces import crop_box

    part = data[split]
    if part.faces is None:
        raise ValueError(f"{data.label}: loaded with faces='as-is'; there are no face boxes to show "
                         "(load_dataset(..., faces='crop'))")
    rng = np.random.default_rng(seed)
    found = np.flatnonzero(~np.isnan(part.faces[:, 0]))
    missing = np.flatnonzero(np.isnan(part.faces[:, 0]))
    shown_missing = rng.choice(missing, size=min(2, len(missing), n), replace=False) if len(missing) else []
    shown = list(rng.choice(found, size=min(n - len(shown_missing), len(found)), replace=False)) + list(shown_missing)
    fig, axes = plt.subplots(2, len(shown), figsize=(cell * len(shown), 2 * cell), squeeze=False)
    for col, i in enumerate(shown):
        with Image.open(data.root.path / part.files[i]) as image:
            frame = to_rgb_uint8(image)
        top, bottom = axes[0, col], axes[1, col]
        top.imshow(frame)
        x, y, w, h, angle = (float(v) for v in part.faces[i])
        if math.isnan(x):
            top.set_title("no face: whole frame", fontsize=8)
        else:
            top.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="tab:blue", linewidth=1.5))
            x0, y0, side = crop_box((x, y, w, h), data.face_options.margin)
            turn = 0.0 if math.isnan(angle) else math.radians(angle)
            cx, cy, half = x0 + side / 2, y0 + side / 2, side / 2
            # The crop's corners in the frame: the square turned by -angle (the crop undoes the tilt).
            corners = [(cx + dx * math.cos(turn) + dy * math.sin(turn), cy - dx * math.sin(turn) + dy * math.cos(turn))
                       for dx, dy in ((-half, -half), (half, -half), (half, half), (-half, half))]
            top.add_patch(Polygon(corners, closed=True, fill=False, edgecolor="tab:orange", linewidth=1.5))
            title = "face" if math.isnan(angle) else f"face, eyes {angle:+.0f}°"
            top.set_title(title, fontsize=8)
        bottom.imshow(np.asarray(part.images[i]))
        bottom.set_title(data.classes[int(part.labels[i])], fontsize=8)
        for ax in (top, bottom):
            ax.set_xticks([]), ax.set_yticks([])
            ax.grid(False)
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel(f"{data.image_size}x{data.image_size} input")
    fig.suptitle(f"{data.label}: faces found and cropped ({data.face_options.mode}, margin "
                 f"{data.face_options.margin:.0%} per side)")
    fig.tight_layout()
    return fig
