"""Classification metrics from predicted probabilities, all through scikit-learn."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..data.pipeline import as_tf_dataset
from ..inference import outputs


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

    def _onehot(self) -> tuple[np.ndarray, np.ndarray]:
        """(one-vs-rest indicator matrix (N, C), mask of the classes present in y_true (C,))."""
        from sklearn.preprocessing import label_binarize

        n = len(self.classes)
        onehot = label_binarize(self.y_true, classes=range(n))
        if n == 2:
            onehot = np.hstack([1 - onehot, onehot])
        return onehot, onehot.min(axis=0) != onehot.max(axis=0)

    def roc(self) -> dict:
        """One-vs-rest ROC per class plus micro and macro averages.

        Returns {name: (fpr, tpr, auc)} for each class present in ``y_true`` (an absent
        class has no ROC curve), "micro" and "macro". The AUCs are scikit-learn's
        ``roc_auc_score``; the macro curve averages the per-class TPRs on the union of
        their FPR grids (what a plot needs; scikit-learn has no macro ROC curve).
        """
        from sklearn.metrics import roc_auc_score, roc_curve

        onehot, present = self._onehot()
        curves = {}
        for i, name in enumerate(self.classes):
            if present[i]:
                fpr, tpr, _ = roc_curve(onehot[:, i], self.proba[:, i])
                curves[name] = (fpr, tpr, float(roc_auc_score(onehot[:, i], self.proba[:, i])))
        per_class = list(curves.values())
        grid = np.unique(np.concatenate([c[0] for c in per_class]))
        mean_tpr = np.mean([np.interp(grid, c[0], c[1]) for c in per_class], axis=0)
        fpr, tpr, _ = roc_curve(onehot.ravel(), self.proba.ravel())
        curves["micro"] = (fpr, tpr, self.micro_auc)
        curves["macro"] = (grid, mean_tpr, self.macro_auc)
        return curves

    @property
    def macro_auc(self) -> float:
        """Mean one-vs-rest AUC over the classes present: ``roc_auc_score(average="macro")``
        (with every class present, ``roc_auc_score(y_true, proba, multi_class="ovr")``); NaN
        when ``y_true`` holds a single class."""
        from sklearn.metrics import roc_auc_score

        onehot, present = self._onehot()
        if not present.any():  # one class only (e.g. a cross-validation fold of one subject)
            return float("nan")
        return float(roc_auc_score(onehot[:, present], self.proba[:, present], average="macro"))

    @property
    def micro_auc(self) -> float:
        """AUC of all (sample, class) pairs pooled: ``roc_auc_score(average="micro")``."""
        from sklearn.metrics import roc_auc_score

        onehot, _ = self._onehot()
        return float(roc_auc_score(onehot, self.proba, average="micro"))

    def summary(self) -> dict:
        return {"accuracy": self.accuracy, "macro-F1": self.macro_f1, "macro-AUC": self.macro_auc}


def predict_proba(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """(y_true (N,), proba (N, classes) float64) over a tf.data.Dataset of (images, labels)
    batches that yields the same order each time it is read (not reshuffled): the labels as
    read, the probabilities from :func:`fercourse.inference.outputs`."""
    y_true = np.concatenate([np.asarray(y) for _, y in dataset])
    return y_true, outputs(model, dataset).astype(np.float64)


def predict_split(model, split, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(y_true (N,), proba (N, classes) float64) of ``model`` on an ``ImageSplit``, in its order.

    Kept per exact weights, images and labels (``fercourse.memo``): a chapter re-run on a warm
    cache reads what the same model predicted on the same images instead of running every
    stored model over every image again (for the light VGGs in float32, most of a warm Q5).
    """
    labels = np.asarray(split.labels)
    proba = outputs(model, as_tf_dataset(split, batch_size=batch_size), batch_size=batch_size,
                    cache="split_predictions", key=(split.images, labels))
    return labels, proba.astype(np.float64)
