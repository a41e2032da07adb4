"""Classification metrics from predicted probabilities, all through scikit-learn."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class ClassificationReport:
    """Scores of one model on one split. ``proba`` (N, C) rows sum to 1; ``y_true`` (N,)."""

    classes: tuple[str, ...]
    y_true: np.ndarray
    proba: np.ndarray

    @property
    def y_pred(self) -> np.ndarray:
        return self.proba.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(self.y_true, self.y_pred))

    @property
    def macro_f1(self) -> float:
        from sklearn.metrics import f1_score

        return float(f1_score(self.y_true, self.y_pred, average="macro", labels=range(len(self.classes)),
                              zero_division=0))

    def per_class(self):
        """Precision, recall, F1 and support per class (pandas DataFrame)."""
        import pandas as pd
        from sklearn.metrics import precision_recall_fscore_support

        p, r, f, s = precision_recall_fscore_support(self.y_true, self.y_pred, labels=range(len(self.classes)),
                                                     zero_division=0)
        return pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s}, index=list(self.classes))

    def confusion(self, normalize: str | None = None) -> np.ndarray:
        """Confusion matrix (rows: true class); ``normalize="true"`` gives row fractions."""
        from sklearn.metrics import confusion_matrix

        return confusion_matrix(self.y_true, self.y_pred, labels=range(len(self.classes)), normalize=normalize)

    def roc(self) -> dict:
        """One-vs-rest ROC per class plus micro and macro averages.

        Returns {name: (fpr, tpr, auc)} for each class, "micro" and "macro". The macro
        curve averages the per-class TPRs on the union of their FPR grid.
        """
        from sklearn.metrics import auc, roc_curve
        from sklearn.preprocessing import label_binarize

        n = len(self.classes)
        onehot = label_binarize(self.y_true, classes=range(n))
        if n == 2:
            onehot = np.hstack([1 - onehot, onehot])
        curves = {}
        for i, name in enumerate(self.classes):
            if onehot[:, i].min() == onehot[:, i].max():
                continue  # a class absent from y_true has no ROC curve
            fpr, tpr, _ = roc_curve(onehot[:, i], self.proba[:, i])
            curves[name] = (fpr, tpr, float(auc(fpr, tpr)))
        fpr, tpr, _ = roc_curve(onehot.ravel(), self.proba.ravel())
        per_class = [v for k, v in curves.items()]
        grid = np.unique(np.concatenate([c[0] for c in per_class]))
        mean_tpr = np.mean([np.interp(grid, c[0], c[1]) for c in per_class], axis=0)
        curves["micro"] = (fpr, tpr, float(auc(fpr, tpr)))
        curves["macro"] = (grid, mean_tpr, float(np.mean([c[2] for c in per_class])))
        return curves

    @property
    def macro_auc(self) -> float:
        """Mean of the per-class one-vs-rest AUCs (equals sklearn's roc_auc_score(multi_class='ovr'))."""
        return self.roc()["macro"][2]

    def summary(self) -> dict:
        return {"accuracy": self.accuracy, "macro-F1": self.macro_f1, "macro-AUC": self.macro_auc}


def predict_proba(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, proba) over a tf.data.Dataset of (images, labels) batches."""
    ys, ps = [], []
    for x, y in dataset:
        ps.append(np.asarray(model(x, training=False), dtype=np.float64))
        ys.append(np.asarray(y))
    return np.concatenate(ys), np.concatenate(ps)
