"""Subject-independent k-fold cross-validation, as results on small expression sets (CK+, JAFFE,
Oulu-CASIA) are reported: folds over every image, stratified by class, never splitting a subject
across folds (scikit-learn's ``StratifiedGroupKFold``, or ``LeaveOneGroupOut`` for
leave-one-subject-out). The training is the caller's (``fercourse.recipes.cross_validate`` runs
the Q5 recipes); this module splits, scores, sums and draws.
"""
from __future__ import annotations

import csv
import dataclasses
import re
import time
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np

from ..errors import DataError
from ..figures import axes_for, drawn
from .metrics import ClassificationReport

METRICS = ("accuracy", "macro-F1", "macro-AUC")


def subject_groups(files: list[str], pattern: str | None = None, table: str | Path | None = None,
                   column: str = "subject") -> np.ndarray | None:
    """The subject of each file (N,) as strings, or None when neither source is given.

    ``pattern``: a regular expression searched in each file's name; its first group (or the
    whole match) is the subject, e.g. ``^(S\\d+)_`` for CK+-style ``S005_001.png``. ``table``: a
    CSV with a ``file`` column (a file's name or its path under the data root) and ``column``.
    A bad pattern, or a file that it or the table does not cover, is a :class:`DataError`
    naming it.
    """
    if pattern is not None and table is not None:
        raise DataError("give the subjects by a pattern or by a table, not both")
    if pattern is not None:
        try:
            rx = re.compile(pattern)
        except re.error as err:
            raise DataError(f"--groups {pattern!r} is not a regular expression: {err}") from None
        groups = []
        for f in files:
            found = rx.search(PurePosixPath(f).name)
            subject = found and found.group(1 if rx.groups else 0)
            if not subject:
                raise DataError(f"{f}: its name does not match --groups {pattern!r}, so its subject is "
                                "unknown (every file needs one)")
            groups.append(subject)
        return np.asarray(groups)
    if table is None:
        return None
    with open(table, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "file" not in rows[0] or column not in rows[0]:
        raise DataError(f"{table}: needs a 'file' column and a {column!r} column (found "
                        f"{list(rows[0]) if rows else 'no rows'})")
    subject_of = {r["file"].strip(): r[column].strip() for r in rows}
    groups = []
    for f in files:
        g = subject_of.get(f) or subject_of.get(PurePosixPath(f).name)
        if not g:
            raise DataError(f"{f}: no {column!r} in {table} (looked for its path and its name in the 'file' column)")
        groups.append(g)
    return np.asarray(groups)


def fold_indices(labels: np.ndarray, groups: np.ndarray | None, folds: int | str = 10,
                 seed: int = 0) -> list[np.ndarray]:
    """The test rows of each fold: ``folds`` stratified folds (subjects kept whole when
    ``groups`` is given), or ``"loso"``, one fold per subject."""
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

    labels = np.asarray(labels)
    if folds == "loso":
        if groups is None:
            raise DataError("leave-one-subject-out needs the subjects: pass --groups REGEX or --groups-csv FILE")
        splitter = LeaveOneGroupOut()
    else:
        if not isinstance(folds, (int, np.integer)) or folds < 2:
            raise DataError(f"--folds must be 'loso' or a whole number >= 2, got {folds!r}")
        units = len(np.unique(groups)) if groups is not None else len(labels)
        if folds > units:
            raise DataError(f"{folds} folds need at least {folds} {'subjects' if groups is not None else 'images'}; "
                            f"there are {units}")
        splitter = (StratifiedGroupKFold(folds, shuffle=True, random_state=seed) if groups is not None
                    else StratifiedKFold(folds, shuffle=True, random_state=seed))
    import warnings

    with warnings.catch_warnings():  # a class rarer than the folds: said by the per-fold counts
        warnings.simplefilter("ignore", UserWarning)
        return [np.sort(test) for _, test in splitter.split(np.zeros(len(labels)), labels, groups)]


@dataclasses.dataclass
class FoldResult:
    """One fold: its test rows, their scores, and where its model came from."""

    fold: int
    test: np.ndarray  # (M,) rows of the pooled images
    report: ClassificationReport
    provenance: str  # e.g. "trained in 41 s" or "loaded from the model store"
    seconds: float


@dataclasses.dataclass
class CrossValidation:
    """Scores of every fold; ``scheme`` says how the folds were made."""

    classes: tuple[str, ...]
    folds: list[FoldResult]
    scheme: str

    def table(self):
        """Accuracy, macro-F1 and macro-AUC per fold, then their mean and standard deviation."""
        import pandas as pd

        rows = pd.DataFrame([{"images": len(f.test), **f.report.summary()} for f in self.folds],
                            index=[f"fold {f.fold}" for f in self.folds])
        scores = rows[list(METRICS)]  # a fold without a score (a one-class fold's AUC) is left out
        rows.loc["mean"] = [rows["images"].sum(), *scores.mean()]
        rows.loc["std"] = [np.nan, *scores.std(ddof=1)]
        return rows.astype({"images": "Int64"})

    def summary(self) -> dict[str, tuple[float, float]]:
        """``{metric: (mean, standard deviation over folds)}``."""
        table = self.table()
        return {m: (float(table.loc["mean", m]), float(table.loc["std", m])) for m in METRICS}

    def confusion(self) -> np.ndarray:
        """The confusion matrices of every fold summed (rows: true class); (C, C) counts."""
        return sum(f.report.confusion() for f in self.folds)

    def describe(self) -> str:
        """One line per metric, as papers report it: mean ± standard deviation over the folds."""
        return "\n".join(f"{m:9s} {mean:.3f} ± {std:.3f}" for m, (mean, std) in self.summary().items())


def cross_validate(split, classes, fit: Callable[[object, object, int], tuple[np.ndarray, str]], *,
                   folds: int | str = 10, groups: np.ndarray | None = None, seed: int = 0,
                   log=print) -> CrossValidation:
    """Cross-validate over ``split`` (an ``ImageSplit`` of every image).

    ``fit(train, test, fold)`` trains on the ``train`` split and returns (the (M, C)
    probabilities of ``test``'s images, where the model came from); folds come from
    :func:`fold_indices`. ``log`` gets a line per fold: its scores and the time left.
    """
    tests = fold_indices(split.labels, groups, folds, seed)
    if groups is not None:
        scheme = (f"leave-one-subject-out ({len(tests)} subjects)" if folds == "loso" else
                  f"{len(tests)}-fold, stratified, subject-independent ({len(np.unique(groups))} subjects)")
    else:
        scheme = f"{len(tests)}-fold, stratified; no subjects given, so the folds may share subjects"
    log(f"cross-validation: {scheme}, {len(split)} images")
    results, start = [], time.perf_counter()
    for i, test in enumerate(tests, 1):
        began = time.perf_counter()
        train_part = split.rows(np.setdiff1d(np.arange(len(split)), test), "train", f"folds other than {i}")
        test_part = split.rows(test, "validation", f"fold {i}")
        held = f" (subjects {', '.join(sorted(set(groups[test])))})" if groups is not None else ""
        log(f"fold {i} of {len(tests)}: training on {len(train_part)} images, testing on {len(test)}{held}")
        proba, provenance = fit(train_part, test_part, i)
        report = ClassificationReport(tuple(classes), np.asarray(test_part.labels), np.asarray(proba, np.float64))
        results.append(FoldResult(i, test, report, provenance, time.perf_counter() - began))
        elapsed = time.perf_counter() - start
        left = elapsed / i * (len(tests) - i)
        log(f"fold {i} of {len(tests)} done: {len(train_part)} training / {len(test)} test images, {provenance}; "
            f"accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}"
            + (f"; about {left / 60:.1f} min left" if i < len(tests) else ""))
    return CrossValidation(tuple(classes), results, scheme)


@dataclasses.dataclass
class CrossValidationDisplay:
    """Per-fold bars of each metric (mean ± std in the legend) beside the summed confusion matrix."""

    result: CrossValidation
    title: str = ""

    @classmethod
    def from_result(cls, result: CrossValidation, title: str = "", *, ax=None,
                    draw: bool = True) -> "CrossValidationDisplay":
        return drawn(cls(result, title), draw, ax)

    def plot(self, ax=None):
        """Two axes: the folds' scores, and the confusion matrix summed over the folds."""
        from sklearn.metrics import ConfusionMatrixDisplay

        self.figure_, ax = axes_for(ax, (1, 2), (11, 4.2))
        table, summary, folds = self.result.table(), self.result.summary(), len(self.result.folds)
        width = 0.8 / len(METRICS)
        for k, metric in enumerate(METRICS):
            mean, std = summary[metric]
            ax[0].bar(np.arange(folds) + (k - 1) * width, table[metric].iloc[:folds], width,
                      label=f"{metric} {mean:.2f} ± {std:.2f}")
        ax[0].set(xticks=range(folds), xticklabels=[str(f.fold) for f in self.result.folds], xlabel="fold",
                  ylim=(0, 1), ylabel="score on the fold's images", title=self.title or self.result.scheme)
        ax[0].legend(fontsize=8, loc="lower right")
        self.confusion_display_ = ConfusionMatrixDisplay(self.result.confusion(), display_labels=self.result.classes)
        self.confusion_display_.plot(ax=ax[1], colorbar=False, xticks_rotation=45)
        ax[1].set_title("confusion summed over the folds (rows: true class)")
        self.ax_ = ax
        return self
