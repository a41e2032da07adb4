"""CAM figures that keep their numbers (like ``fercourse.evaluate``'s displays, and drawn the same
way: :mod:`fercourse.figures`)."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..figures import axes_for, drawn
from .overlay import overlay


@dataclasses.dataclass
class CamGridDisplay:
    """Rows = classes; per row, the chosen misses then hits, each a map over its image.

    ``tiles[c]`` holds one (index, true, predicted, confidence) or None (no such image) per
    column of class ``c``'s row: ``per_class`` misclassified columns, then ``per_class`` correct
    ones, as ``examples`` chose them; the tile shows the prediction of the model whose
    ``proba`` is passed (so another model's maps can be shown on the same images).
    """

    images: np.ndarray
    maps: np.ndarray
    tiles: dict
    classes: tuple
    per_class: int
    title: str = ""

    @classmethod
    def from_examples(cls, images, maps_by_index: dict, y_true, proba, examples, classes, title: str = "", *,
                      ax=None, draw: bool = True) -> "CamGridDisplay":
        """``maps_by_index``: split index -> map (H, W) for every index of ``examples``."""
        predicted, confidence = np.asarray(proba).argmax(1), np.asarray(proba).max(1)
        def column(indices):
            tiles = [(i, int(y_true[i]), int(predicted[i]), float(confidence[i])) for i in indices]
            return tiles + [None] * (examples.per_class - len(tiles))

        tiles = {c: column(examples.misses[c]) + column(examples.hits[c]) for c in sorted(examples.hits)}
        return drawn(cls(images, maps_by_index, tiles, tuple(classes), examples.per_class, title), draw, ax)

    def plot(self, ax=None, cell: float = 1.3):
        """One row of tiles per class (``ax``: classes x 2 per_class Axes; ``cell``: inches per
        tile of a new figure)."""
        rows, cols = len(self.tiles), 2 * self.per_class
        fig, self.ax_ = axes_for(ax, (rows, cols), (cols * cell + 1.3, rows * cell + 0.4))
        axes = np.reshape(self.ax_, (rows, cols))
        for r, (c, row) in enumerate(self.tiles.items()):
            for k, tile in enumerate(row):
                ax = axes[r, k]
                ax.set_xticks([]), ax.set_yticks([])
                ax.grid(False)
                if tile is None:
                    ax.text(0.5, 0.5, "none", ha="center", va="center", fontsize=7, color="0.5")
                    for side in ax.spines.values():
                        side.set_visible(False)
                else:
                    i, true, pred, conf = tile
                    ax.imshow(overlay(self.images[i], self.maps[i]))
                    colour = "tab:green" if true == pred else "tab:red"
                    ax.set_title(f"{self.classes[pred]} {conf:.2f}", fontsize=7, color=colour, pad=2)
                if k == 0:
                    ax.set_ylabel(self.classes[c], rotation=0, ha="right", va="center", fontsize=8)
        axes[0, 0].annotate("misclassified", (0, 1.35), xycoords="axes fraction", fontsize=8)
        axes[0, self.per_class].annotate("correct", (0, 1.35), xycoords="axes fraction", fontsize=8)
        fig.suptitle(self.title or "class activation maps (tile title: predicted class, confidence)", fontsize=9)
        fig.tight_layout()
        self.figure_ = fig
        return self


@dataclasses.dataclass
class PerturbationDisplay:
    """Mean deletion and insertion curves per method (random map included), AUC in the legend."""

    curves: dict  # method -> {"deletion": PerturbationCurves, "insertion": PerturbationCurves}
    title: str = ""

    @classmethod
    def from_maps(cls, model, images, maps_by_method: dict, classes, *, steps: int = 12, seed: int = 0,
                  title: str = "", ax=None, draw: bool = True) -> "PerturbationDisplay":
        """Deletion and insertion curves of ``model`` for each method's maps (N, H, W) and
        for a random map (the baseline), all following ``classes`` (N,)."""
        from .faithfulness import perturbation_curves, random_maps

        maps_by_method = {**maps_by_method, "random": random_maps(np.shape(images)[:3], seed)}
        curves = {m: {kind: perturbation_curves(model, images, maps, classes, kind=kind, steps=steps)
                      for kind in ("deletion", "insertion")} for m, maps in maps_by_method.items()}
        return drawn(cls(curves, title), draw, ax)

    @property
    def aucs(self) -> dict:
        """method -> {"deletion": mean AUC, "insertion": mean AUC}."""
        return {m: {k: float(v.auc.mean()) for k, v in kinds.items()} for m, kinds in self.curves.items()}

    def plot(self, ax=None):
        """Deletion and insertion side by side (``ax``: two Axes)."""
        kinds = ("deletion", "insertion")
        self.figure_, axes = axes_for(ax, (1, 2), (9.5, 3.6))
        for ax, kind in zip(axes, kinds):
            for method, by_kind in self.curves.items():
                if kind not in by_kind:
                    continue
                curves = by_kind[kind]
                style = dict(color="0.5", ls="--") if method == "random" else {}
                ax.plot(curves.fractions, curves.mean_curve, label=f"{method} ({curves.auc.mean():.3f})", **style)
            better = "lower" if kind == "deletion" else "higher"
            ax.set(xlabel=f"fraction of pixels {'removed' if kind == 'deletion' else 'revealed'}",
                   ylabel="probability of the class", title=f"{kind} (AUC; {better} is better)", ylim=(0, 1))
            ax.legend(fontsize=7)
        if self.title:
            self.figure_.suptitle(self.title)
        self.figure_.tight_layout()
        self.ax_ = axes
        return self
