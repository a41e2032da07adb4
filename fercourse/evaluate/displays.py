"""Figures that keep their numbers, in the spirit of scikit-learn's ``*Display`` objects.

Each display is built from data (``from_report``, ``from_predictions``, ``from_history``),
holds the values behind the figure as attributes (tests and notebooks read them), and draws
as :mod:`fercourse.figures` says: ``from_*`` draws unless ``draw=False``, ``plot(ax=...)``
sets ``figure_`` and ``ax_``. The ROC and confusion figures are scikit-learn's ``RocCurveDisplay`` and
``ConfusionMatrixDisplay`` underneath; these classes add what a multi-class chapter needs
(every class with micro and macro averages on one axis; counts beside recall).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..figures import axes_for, drawn


@dataclasses.dataclass
class RocDisplay:
    """One-vs-rest ROC curves: ``curves[name] = (fpr, tpr, auc)`` incl. "micro" and "macro"."""

    curves: dict
    title: str = ""

    @classmethod
    def from_report(cls, report, title: str = "", *, ax=None, draw: bool = True) -> "RocDisplay":
        return drawn(cls(report.roc(), title), draw, ax)

    @classmethod
    def from_predictions(cls, y_true, proba, classes, title: str = "", *, ax=None, draw: bool = True) -> "RocDisplay":
        """From labels (N,) and class probabilities (N, C)."""
        from .metrics import ClassificationReport

        report = ClassificationReport(tuple(classes), np.asarray(y_true), np.asarray(proba))
        return cls.from_report(report, title, ax=ax, draw=draw)

    @property
    def aucs(self) -> dict[str, float]:
        return {name: c[2] for name, c in self.curves.items()}

    def plot(self, ax=None):
        from sklearn.metrics import RocCurveDisplay

        self.figure_, ax = axes_for(ax, (1, 1), (5.2, 4.6))
        style = {"micro": dict(ls=":", lw=2.5, color="black"), "macro": dict(ls="--", lw=2.5, color="0.35")}
        last = len(self.curves) - 1
        self.displays_ = {}
        for i, (name, (fpr, tpr, area)) in enumerate(self.curves.items()):
            display = RocCurveDisplay(fpr=fpr, tpr=tpr, roc_auc=area, name=name)
            display.plot(ax=ax, curve_kwargs=style.get(name, dict(lw=1.2)), plot_chance_level=i == last,
                         chance_level_kw=dict(color="0.8", lw=0.8, ls="-", label="_chance"))
            self.displays_[name] = display
        ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01),
               title=self.title or "ROC, one vs rest (AUC)")
        ax.legend(fontsize=7, loc="lower right")
        self.ax_ = ax
        return self


@dataclasses.dataclass
class ConfusionDisplay:
    """Confusion matrix, raw counts and row-normalised, as seaborn heatmaps."""

    matrix: np.ndarray
    classes: tuple[str, ...]
    title: str = ""

    @classmethod
    def from_report(cls, report, title: str = "", *, ax=None, draw: bool = True) -> "ConfusionDisplay":
        return drawn(cls(report.confusion(), report.classes, title), draw, ax)

    @classmethod
    def from_predictions(cls, y_true, y_pred, classes, title: str = "", *, ax=None,
                         draw: bool = True) -> "ConfusionDisplay":
        """From true and predicted labels (N,) each; ``classes`` names label 0, 1, ..."""
        from sklearn.metrics import confusion_matrix

        matrix = confusion_matrix(y_true, y_pred, labels=range(len(classes)))
        return drawn(cls(matrix, tuple(classes), title), draw, ax)

    @property
    def normalized(self) -> np.ndarray:
        rows = self.matrix.sum(axis=1, keepdims=True)
        return np.divide(self.matrix, rows, out=np.zeros(self.matrix.shape), where=rows > 0)

    def plot(self, ax=None):
        """Counts and row-normalised matrix side by side (``ax``: two Axes)."""
        from sklearn.metrics import ConfusionMatrixDisplay

        self.figure_, axes = axes_for(ax, (1, 2), (11, 4.4))
        names = list(self.classes)
        self.displays_ = []
        for ax, matrix, fmt, kind in ((axes[0], self.matrix, "d", "counts"),
                                      (axes[1], self.normalized, ".2f", "row-normalised (recall on the diagonal)")):
            display = ConfusionMatrixDisplay(matrix, display_labels=names)
            display.plot(ax=ax, cmap="Blues", colorbar=False, values_format=fmt, xticks_rotation=45,
                         im_kw=dict(vmin=0, vmax=1) if fmt != "d" else None, text_kw=dict(fontsize=7))
            ax.set(xlabel="predicted", ylabel="true", title=f"{self.title} {kind}".strip())
            ax.tick_params(labelsize=7)
            ax.grid(False)
            self.displays_.append(display)
        self.ax_ = axes
        return self


MONITOR_LABEL = "monitor (held out of Train)"


@dataclasses.dataclass
class HistoryDisplay:
    """Training curves: loss and accuracy, train vs the monitored split, per epoch.

    Keras names the monitored split's metrics ``val_*``; in this course that is the slice held
    out of Train for early stopping (``MONITOR_LABEL``), never the reported Validation split.
    """

    curves: dict[str, list[float]]
    title: str = ""

    @classmethod
    def from_history(cls, records: list[dict], title: str = "", *, ax=None, draw: bool = True) -> "HistoryDisplay":
        keys = [k for k in (records[0] if records else {}) if k != "epoch"]
        return drawn(cls({k: [r[k] for r in records] for k in keys}, title), draw, ax)

    def plot(self, ax=None):
        """Loss and accuracy side by side (``ax``: one Axes per metric present)."""
        from matplotlib.ticker import MaxNLocator

        metrics = [m for m in ("loss", "accuracy") if m in self.curves]
        self.figure_, self.ax_ = axes_for(ax, (1, len(metrics)), (5 * len(metrics), 3.2))
        for ax, metric in zip(np.ravel(self.ax_), metrics):
            epochs = np.arange(1, len(self.curves[metric]) + 1)
            ax.plot(epochs, self.curves[metric], "o-", ms=3, label="train")
            if f"val_{metric}" in self.curves:
                ax.plot(epochs, self.curves[f"val_{metric}"], "s-", ms=3, label=MONITOR_LABEL)
            ax.set(xlabel="epoch", ylabel=metric, title=f"{self.title} {metric}".strip())
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            ax.legend()
        return self


@dataclasses.dataclass
class HistoryComparisonDisplay:
    """Several runs' curves on shared axes: ``runs[name][metric]`` = per-epoch values.

    Solid lines are validation, dashed lines training; one colour per run. ``epochs``
    (optional) cuts every run to its first ``epochs`` epochs, for an equal-budget view.
    """

    runs: dict[str, dict[str, list[float]]]
    title: str = ""

    @classmethod
    def from_histories(cls, histories: dict[str, list[dict]], title: str = "", epochs: int | None = None, *,
                       ax=None, draw: bool = True) -> "HistoryComparisonDisplay":
        runs = {name: HistoryDisplay.from_history(records[:epochs], draw=False).curves
                for name, records in histories.items()}
        return drawn(cls(runs, title), draw, ax)

    def table(self):
        """Last-epoch values per run (pandas DataFrame: runs x metrics, plus epoch count)."""
        import pandas as pd

        rows = {name: {"epochs": len(next(iter(c.values()), [])), **{k: v[-1] for k, v in c.items() if v}}
                for name, c in self.runs.items()}
        return pd.DataFrame(rows).T

    def plot(self, ax=None):
        """Loss and accuracy side by side (``ax``: one Axes per metric present)."""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        metrics = [m for m in ("loss", "accuracy") if any(m in c for c in self.runs.values())]
        self.figure_, self.ax_ = axes_for(ax, (1, len(metrics)), (5 * len(metrics), 3.2))
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for ax, metric in zip(np.ravel(self.ax_), metrics):
            for colour, (name, curves) in zip(colours, self.runs.items()):
                for key, style in ((metric, "--"), (f"val_{metric}", "-")):
                    if key in curves:
                        epochs = np.arange(1, len(curves[key]) + 1)
                        label = f"{name}, {MONITOR_LABEL if key.startswith('val_') else 'train'}"
                        ax.plot(epochs, curves[key], style, marker="o", ms=3, color=colour, label=label)
            ax.set(xlabel="epoch", ylabel=metric, title=f"{self.title} {metric}".strip())
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=7)
        return self
