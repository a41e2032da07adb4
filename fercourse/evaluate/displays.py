"""Figures that keep their numbers, in the spirit of scikit-learn's ``*Display`` objects.

Each display is built from data (``from_report``, ``from_predictions``, ``from_history``),
holds the values behind the figure as attributes (tests and notebooks read them), and draws
with ``plot``. The ROC and confusion figures are scikit-learn's ``RocCurveDisplay`` and
``ConfusionMatrixDisplay`` underneath; these classes add what a multi-class chapter needs
(every class with micro and macro averages on one axis; counts beside recall).
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class RocDisplay:
    """One-vs-rest ROC curves: ``curves[name] = (fpr, tpr, auc)`` incl. "micro" and "macro"."""

    curves: dict
    title: str = ""

    @classmethod
    def from_report(cls, report, title: str = "") -> "RocDisplay":
        return cls(report.roc(), title)

    @classmethod
    def from_predictions(cls, y_true, proba, classes, title: str = "") -> "RocDisplay":
        """From labels (N,) and class probabilities (N, C)."""
        from .metrics import ClassificationReport

        return cls.from_report(ClassificationReport(tuple(classes), np.asarray(y_true), np.asarray(proba)), title)

    @property
    def aucs(self) -> dict[str, float]:
        return {name: c[2] for name, c in self.curves.items()}

    def plot(self, ax=None):
        import matplotlib.pyplot as plt
        from sklearn.metrics import RocCurveDisplay

        ax = ax or plt.subplots(figsize=(5.2, 4.6))[1]
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
    def from_report(cls, report, title: str = "") -> "ConfusionDisplay":
        return cls(report.confusion(), report.classes, title)

    @classmethod
    def from_predictions(cls, y_true, y_pred, classes, title: str = "") -> "ConfusionDisplay":
        """From true and predicted labels (N,) each; ``classes`` names label 0, 1, ..."""
        from sklearn.metrics import confusion_matrix

        return cls(confusion_matrix(y_true, y_pred, labels=range(len(classes))), tuple(classes), title)

    @property
    def normalized(self) -> np.ndarray:
        rows = self.matrix.sum(axis=1, keepdims=True)
        return np.divide(self.matrix, rows, out=np.zeros(self.matrix.shape), where=rows > 0)

    def plot(self, axes=None):
        import matplotlib.pyplot as plt
        from sklearn.metrics import ConfusionMatrixDisplay

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4.4))
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
        self.axes_ = axes
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
    def from_history(cls, records: list[dict], title: str = "") -> "HistoryDisplay":
        keys = [k for k in (records[0] if records else {}) if k != "epoch"]
        return cls({k: [r[k] for r in records] for k in keys}, title)

    def plot(self, axes=None):
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        metrics = [m for m in ("loss", "accuracy") if m in self.curves]
        if axes is None:
            _, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.2), squeeze=False)
            axes = axes[0]
        for ax, metric in zip(axes, metrics):
            epochs = np.arange(1, len(self.curves[metric]) + 1)
            ax.plot(epochs, self.curves[metric], "o-", ms=3, label="train")
            if f"val_{metric}" in self.curves:
                ax.plot(epochs, self.curves[f"val_{metric}"], "s-", ms=3, label=MONITOR_LABEL)
            ax.set(xlabel="epoch", ylabel=metric, title=f"{self.title} {metric}".strip())
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            ax.legend()
        self.axes_ = axes
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
    def from_histories(cls, histories: dict[str, list[dict]], title: str = "",
                       epochs: int | None = None) -> "HistoryComparisonDisplay":
        return cls({name: HistoryDisplay.from_history(records[:epochs]).curves
                    for name, records in histories.items()}, title)

    def table(self):
        """Last-epoch values per run (pandas DataFrame: runs x metrics, plus epoch count)."""
        import pandas as pd

        rows = {name: {"epochs": len(next(iter(c.values()), [])), **{k: v[-1] for k, v in c.items() if v}}
                for name, c in self.runs.items()}
        return pd.DataFrame(rows).T

    def plot(self, axes=None):
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        metrics = [m for m in ("loss", "accuracy") if any(m in c for c in self.runs.values())]
        if axes is None:
            _, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.2), squeeze=False)
            axes = axes[0]
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for ax, metric in zip(axes, metrics):
            for colour, (name, curves) in zip(colours, self.runs.items()):
                for key, style in ((metric, "--"), (f"val_{metric}", "-")):
                    if key in curves:
                        epochs = np.arange(1, len(curves[key]) + 1)
                        label = f"{name}, {MONITOR_LABEL if key.startswith('val_') else 'train'}"
                        ax.plot(epochs, curves[key], style, marker="o", ms=3, color=colour, label=label)
            ax.set(xlabel="epoch", ylabel=metric, title=f"{self.title} {metric}".strip())
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=7)
        self.axes_ = axes
        return self
