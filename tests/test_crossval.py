"""Subject-independent cross-validation: the folds, the groups, the scores, the command line."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import class_tree
from fercourse import __main__ as cli
from fercourse.data.splits import ImageSplit
from fercourse.errors import DataError
from fercourse.evaluate import CrossValidationDisplay, cross_validate, subject_groups
from fercourse.evaluate.crossval import fold_indices

REPO = Path(__file__).resolve().parents[1]


def test_a_subject_comes_from_the_pattern_or_the_table(tmp_path):
    files = ["Train/happy/S005_001.png", "Validation/sad/S012_003.png"]
    assert list(subject_groups(files, r"^(S\d+)_")) == ["S005", "S012"]
    assert list(subject_groups(files, r"S\d+")) == ["S005", "S012"]  # no group: the whole match
    table = tmp_path / "subjects.csv"
    table.write_text("file,subject\nS005_001.png,anna\nValidation/sad/S012_003.png,ben\n")
    assert list(subject_groups(files, table=table)) == ["anna", "ben"]  # by name or by path
    assert subject_groups(files) is None


def test_a_bad_pattern_or_an_unmatched_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"--groups '\^\(S\[0-9\]\+_' is not a regular expression: missing \)"):
        subject_groups(["a.png"], "^(S[0-9]+_")
    with pytest.raises(DataError, match="Train/happy/photo.png: its name does not match"):
        subject_groups(["Train/happy/S1_a.png", "Train/happy/photo.png"], r"^(S\d+)_")
    table = tmp_path / "subjects.csv"
    table.write_text("file,person\nS1_a.png,x\n")
    with pytest.raises(DataError, match="needs a 'file' column and a 'subject' column"):
        subject_groups(["S1_a.png"], table=table)
    with pytest.raises(DataError, match="S2_b.png: no 'person'"):
        subject_groups(["S1_a.png", "S2_b.png"], table=table, column="person")


@settings(max_examples=40, deadline=None)
@given(subjects=st.integers(4, 12), classes=st.integers(2, 5), folds=st.integers(2, 4), seed=st.integers(0, 9),
       missing=st.sets(st.integers(0, 59), max_size=8))
def test_no_subject_is_in_two_folds(subjects, classes, folds, seed, missing):
    # Each subject shows some of the classes (a few images missing), as real sets do.
    rows = [(s, c) for s in range(subjects) for c in range(classes) if s * classes + c not in missing]
    groups = np.array([f"S{s}" for s, _ in rows])
    labels = np.array([c for _, c in rows])
    tests = fold_indices(labels, groups, folds, seed)
    assert len(tests) == folds
    assert sorted(np.concatenate(tests).tolist()) == list(range(len(rows)))  # every image once
    seen = [set(groups[t]) for t in tests]
    for i in range(folds):
        for j in range(i + 1, folds):
            assert not seen[i] & seen[j]


def test_folds_are_balanced_within_one_image_per_class():
    # 20 subjects with one image of each of 4 classes: 5 folds of 4 whole subjects each.
    groups = np.repeat([f"S{s}" for s in range(20)], 4)
    labels = np.tile(np.arange(4), 20)
    uneven = np.repeat(np.arange(3), [17, 9, 30])  # no subjects: scikit-learn's StratifiedKFold
    for y, tests in ((labels, fold_indices(labels, groups, 5)), (labels, fold_indices(labels, None, 5)),
                     (uneven, fold_indices(uneven, None, 4))):
        counts = np.array([[np.sum(y[t] == c) for c in range(y.max() + 1)] for t in tests])
        assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all(), counts
    loso = fold_indices(labels, groups, "loso")
    assert len(loso) == 20 and all(len(set(groups[t])) == 1 for t in loso)
    with pytest.raises(DataError, match="leave-one-subject-out needs the subjects"):
        fold_indices(labels, None, "loso")
    with pytest.raises(DataError, match="30 folds need at least 30 subjects; there are 20"):
        fold_indices(labels, groups, 30)


def _split(n_subjects=6, classes=4, seed=0):
    """One image per subject and class; each class has its own mean grey level."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(classes), n_subjects)
    images = (rng.integers(0, 40, (len(labels), 8, 8, 3)) + 50 * labels[:, None, None, None]).astype(np.uint8)
    files = [f"Train/c{c}/S{i // classes}_{c}.png" for i, c in enumerate(labels)]
    return ImageSplit("all", "test", files, labels, images)


def test_cross_validation_trains_on_the_other_folds_and_sums_their_scores():
    split, said, seen = _split(), [], []

    def fit(train, test, fold):  # nearest class mean of the grey level
        seen.append((fold, set(train.files), set(test.files)))
        means = np.array([train.images[train.labels == c].mean() for c in range(4)])
        grey = np.asarray(test.images).reshape(len(test), -1).mean(axis=1)
        proba = np.exp(-np.abs(grey[:, None] - means[None]) / 10)
        return proba / proba.sum(axis=1, keepdims=True), "fitted"

    groups = subject_groups(split.files, r"(S\d+)_")
    result = cross_validate(split, ("a", "b", "c", "d"), fit, folds=3, groups=groups, log=said.append)
    assert [f for f, _, _ in seen] == [1, 2, 3]
    for _, train, test in seen:
        assert not train & test and len(train | test) == len(split)
        assert not {f.split("/")[-1].split("_")[0] for f in train} & {f.split("/")[-1].split("_")[0] for f in test}
    assert result.confusion().sum() == len(split)
    table = result.table()
    assert list(table.index) == ["fold 1", "fold 2", "fold 3", "mean", "std"]
    accuracies = [f.report.accuracy for f in result.folds]
    assert result.summary()["accuracy"] == pytest.approx((np.mean(accuracies), np.std(accuracies, ddof=1)))
    assert result.summary()["accuracy"][0] > 0.9  # the grey levels separate the classes
    assert "subject-independent (6 subjects)" in result.scheme and "± " in result.describe()
    assert any(line.startswith("fold 2 of 3 done") and "min left" in line for line in said)
    assert any(line.startswith("fold 2 of 3: training on 16 images, testing on 8 (subjects S") for line in said)
    display = CrossValidationDisplay.from_result(result)
    assert len(display.ax_) == 2 and display.confusion_display_.confusion_matrix.sum() == len(split)
    assert "may share subjects" in cross_validate(split, "abcd", fit, folds=2, log=lambda *_: None).scheme


def _subjects_tree(root: Path, train_subjects=4, validation_subjects=2) -> Path:
    """One 64 px image per subject and class; files named ``s<k>_<class>.png``."""
    return class_tree(root, {"Train": range(train_subjects),
                             "Validation": range(train_subjects, train_subjects + validation_subjects)},
                      cue="level", name="s{i}_{cls}.png")


# The command line, with one change: the process kills itself (SIGKILL) in the second epoch of
# the second fold's training, after its first epoch was recorded.
KILLED_IN_FOLD_2 = """
import os, signal, sys
import keras
from fercourse import __main__ as cli
from fercourse.train import fit

trainings = []

class KillInFold2(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        trainings.append(1)
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if len(trainings) == 2 and self.epoch == 1 and batch >= 1:
            os.kill(os.getpid(), signal.SIGKILL)

fit._status_callback = lambda *args: KillInFold2()
sys.exit(cli.main(sys.argv[1:]))
"""


def test_the_command_cross_validates_by_subject_and_a_killed_fold_resumes(tmp_path):
    root = _subjects_tree(tmp_path / "data")
    flags = ["cross-validate", "light_vgg", "--data", str(root), "--folds", "3", "--groups", r"^(s\d+)_",
             "--epochs", "2", "--batch-size", "4", "--patience", "5"]
    env = {**os.environ, "FERCOURSE_CACHE": str(tmp_path / "cache")}
    env.pop("FERCOURSE_DATA", None)
    killed = subprocess.run([sys.executable, "-c", KILLED_IN_FOLD_2, *flags], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert "fold 1 of 3 done" in killed.stdout and "fold 2 of 3 done" not in killed.stdout
    done = subprocess.run([sys.executable, "-m", "fercourse", *flags], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "3-fold, stratified, subject-independent (6 subjects)" in out
    fold_lines = [line for line in out.splitlines() if line.startswith("fold ") and " of 3 done:" in line]
    assert len(fold_lines) == 3
    assert "loaded from the model store" in fold_lines[0]  # fold 1 finished before the kill
    assert "(resumed after epoch 1)" in fold_lines[1]  # fold 2 went on from its backup
    assert "trained in" in fold_lines[2]
    for line in fold_lines:
        assert "32 training / 16 test images" in line  # 2 whole subjects x 8 classes per fold
    for word in ("mean", "std", "accuracy", "macro-F1", "macro-AUC", "confusion summed over the folds"):
        assert word in out
    assert "to reproduce: python -m fercourse cross-validate light_vgg --data" in out
    assert "--folds 3 --groups '^(s\\d+)_'" in out
    entries = list((tmp_path / "cache" / "models").glob("light_vgg_plain-*/meta.json"))
    assert len(entries) == 3 and all(json.loads(p.read_text())["complete"] for p in entries)


def test_the_command_names_a_bad_pattern_and_an_unmatched_file(tmp_path, monkeypatch, capsys):
    root = _subjects_tree(tmp_path / "data", 2, 1)
    shutil.rmtree(root / "Validation")  # the folds pool every image: Train/ alone will do
    (root / "Train" / "happy" / "photo.png").write_bytes((root / "Train" / "happy" / "s0_happy.png").read_bytes())
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))
    base = ["cross-validate", "light_vgg", "--data", str(root), "--folds", "2"]
    assert cli.main([*base, "--groups", "^(s[0-9+_"]) == 2
    assert "is not a regular expression" in capsys.readouterr().err
    assert cli.main([*base, "--groups", r"^(s\d+)_"]) == 2
    assert "Train/happy/photo.png: its name does not match --groups" in capsys.readouterr().err
    assert cli.main([*base[:-1], "many"]) == 2
    assert "--folds must be a whole number >= 2" in capsys.readouterr().err


def test_leave_one_subject_out_scores_a_subject_of_one_class():
    split = _split(n_subjects=3)
    lone = ImageSplit("all", "test", ["Train/c2/S9_x.png"], np.array([2]), np.full((1, 8, 8, 3), 130, np.uint8))
    split = ImageSplit.joined([split, lone], "all", "test")

    def fit(train, test, fold):
        return np.full((len(test), 4), 0.25), "constant"

    result = cross_validate(split, "abcd", fit, folds="loso", groups=subject_groups(split.files, r"(S\d+)_"),
                            log=lambda *_: None)
    assert result.scheme.startswith("leave-one-subject-out (4 subjects)")
    assert np.isnan(result.folds[-1].report.macro_auc)  # one class: no ROC
    assert result.summary()["macro-AUC"][0] == pytest.approx(0.5)  # the mean of the other folds
    assert result.confusion().sum() == 13
