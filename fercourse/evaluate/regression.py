"""Valence/arousal scores as AffectNet reports them: RMSE, Pearson, sign agreement, CCC.

For one dimension with targets ``y`` and predictions ``p`` (N,):

* RMSE = sqrt(mean((p - y)^2))                                      (lower is better)
* Pearson r = cov(p, y) / (std(p) std(y))                             (pattern, not scale)
* SAGR = mean(sign(p) == sign(y))   (sign agreement: positive vs negative valence/arousal)
* CCC = 2 cov(p, y) / (var(p) + var(y) + (mean(p) - mean(y))^2)       (Lin's concordance:
  1 only for p = y; penalises a shifted or shrunk prediction that Pearson forgives)

A constant predictor (the training mean) has Pearson undefined (reported 0) and CCC 0:
the baseline every regressor must beat.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..figures import axes_for, drawn

DIMENSIONS = ("valence", "arousal")


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(p, np.float64) - np.asarray(y, np.float64)) ** 2)))


def pearson(y: np.ndarray, p: np.ndarray) -> float:
    """Pearson's r; 0 when either side is constant (no linear relation can be measured)."""
    y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
    if np.std(y) == 0 or np.std(p) == 0:
        return 0.0
    return float(np.corrcoef(y, p)[0, 1])


def sagr(y: np.ndarray, p: np.ndarray) -> float:
    """Sign agreement rate: the share of samples whose prediction has the target's sign."""
    return float(np.mean(np.sign(np.asarray(y)) == np.sign(np.asarray(p))))


def ccc(y: np.ndarray, p: np.ndarray) -> float:
    """Lin's concordance correlation coefficient (population moments)."""
    y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
    covariance = np.mean((y - y.mean()) * (p - p.mean()))
    denominator = y.var() + p.var() + (y.mean() - p.mean()) ** 2
    return float(2 * covariance / denominator) if denominator > 0 else 0.0


METRICS = {"RMSE": rmse, "Pearson": pearson, "SAGR": sagr, "CCC": ccc}


@dataclasses.dataclass
class RegressionReport:
    """Scores of a valence/arousal regressor on one split: ``y_true``, ``y_pred`` (N, 2)."""

    y_true: np.ndarray
    y_pred: np.ndarray
    dimensions: tuple[str, ...] = DIMENSIONS

    def table(self):
        """DataFrame: one row per dimension, one column per metric."""
        import pandas as pd

        return pd.DataFrame({name: [fn(self.y_true[:, d], self.y_pred[:, d]) for d in range(len(self.dimensions))]
                             for name, fn in METRICS.items()}, index=list(self.dimensions))

    def against(self, baseline: "RegressionReport", names=("model", "mean predictor")):
        """This report next to a baseline's (e.g. the training mean), rows (dimension, who)."""
        import pandas as pd

        return pd.concat({names[0]: self.table(), names[1]: baseline.table()}).swaplevel().sort_index(
            level=0, sort_remaining=False).loc[list(self.dimensions)]

    @classmethod
    def mean_predictor(cls, y_train: np.ndarray, y_true: np.ndarray) -> "RegressionReport":
        """The constant predictor that outputs the training mean for every image."""
        return cls(y_true, np.tile(np.nanmean(y_train, axis=0), (len(y_true), 1)))


@dataclasses.dataclass
class ValenceArousalDisplay:
    """Predicted vs true per dimension (with the identity line) and the circumplex (valence x
    arousal) of the predictions coloured by class (drawn as :mod:`fercourse.figures` says)."""

    report: RegressionReport
    labels: np.ndarray
    classes: tuple[str, ...]
    title: str = ""

    @classmethod
    def from_report(cls, report: RegressionReport, labels, classes, title: str = "", *, ax=None,
                    draw: bool = True) -> "ValenceArousalDisplay":
        """``labels`` (N,): each image's class, for the circumplex's colours."""
        return drawn(cls(report, np.asarray(labels), tuple(classes), title), draw, ax)

    def plot(self, ax=None):
        """The two dimensions and the circumplex (``ax``: three Axes)."""
        import seaborn as sns

        y, p = self.report.y_true, self.report.y_pred
        fig, axes = axes_for(ax, (1, 3), (12, 3.9))
        scores = self.report.table()
        for d, (ax, name) in enumerate(zip(axes, self.report.dimensions)):
            ax.scatter(y[:, d], p[:, d], s=6, alpha=0.5)
            ax.plot([-1, 1], [-1, 1], color="black", lw=1, label="identity")
            ax.set(xlim=(-1, 1), ylim=(-1, 1), xlabel=f"true {name}", ylabel=f"predicted {name}", aspect="equal",
                   title=f"{name}: CCC {scores.loc[name, 'CCC']:.2f}, RMSE {scores.loc[name, 'RMSE']:.2f}")
            ax.legend(loc="upper left", fontsize=8)
        palette = sns.color_palette("tab10", len(self.classes))
        ax = axes[2]
        for c, name in enumerate(self.classes):
            mask = self.labels == c
            ax.scatter(p[mask, 0], p[mask, 1], s=6, alpha=0.6, color=palette[c], label=name)
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set(xlim=(-1, 1), ylim=(-1, 1), xlabel="predicted valence", ylabel="predicted arousal", aspect="equal",
               title="circumplex of the predictions")
        ax.legend(fontsize=7, markerscale=2, ncol=2, loc="lower left")
        if self.title:
            fig.suptitle(self.title)
        fig.tight_layout()
        self.figure_, self.ax_ = fig, axes
        return self
