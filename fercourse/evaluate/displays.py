"""Figures that keep their numbers, in the spirit of scikit-learn's ``*Display`` objects.

Each display is built from data (``from_report``, ``from_history``), holds the values
behind the figure as attributes (tests and notebooks read them), and draws with ``plot``.
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

    @property
    def aucs(self) -> dict[str, float]:
        return {name: c[2] for name, c in self.curves.items()}

    def plot(self, ax=None):
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(5.2, 4.6))[1]
        for name, (fpr, tpr, area) in self.curves.items():
            style = {"micro": dict(ls=":", lw=2.5, color="black"), "macro": dict(ls="--", lw=2.5, color="0.35")}
            ax.plot(fpr, tpr, label=f"{name} ({area:.2f})", **style.get(name, dict(lw=1.2)))
        ax.plot([0, 1], [0, 1], color="0.8", lw=0.8)
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

    @property
    def normalized(self) -> np.ndarray:
        rows = self.matrix.sum(axis=1, keepdims=True)
        return np.divide(self.matrix, rows, out=np.zeros(self.matrix.shape), where=rows > 0)

    def plot(self, axes=None):
        import matplotlib.pyplot as plt
        import seaborn as sns

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4.4))
        names = list(self.classes)
        sns.heatmap(self.matrix, annot=True, fmt="d", cmap="Blues", cbar=False, ax=axes[0],
                    xticklabels=names, yticklabels=names)
        sns.heatmap(self.normalized, annot=True, fmt=".2f", cmap="Blues", cbar=False, vmin=0, vmax=1,
                    ax=axes[1], xticklabels=names, yticklabels=names)
        for ax, kind in zip(axes, ("counts", "row-normalised (recall on the diagonal)")):
            ax.set(xlabel="predicted", ylabel="true", title=f"{self.title} {kind}".strip())
            ax.tick_params(labelsize=7)
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
