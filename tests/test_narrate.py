"""Prose computed from results: the verdicts follow the numbers (fercourse.narrate)."""
import numpy as np
import pandas as pd

from conftest import says

from fercourse import narrate
from fercourse.evaluate import ClassificationReport


def _report(y_true, y_pred, classes=("a", "b", "c")):
    proba = np.full((len(y_pred), len(classes)), 0.1)
    proba[np.arange(len(y_pred)), y_pred] = 0.8
    return ClassificationReport(classes, np.asarray(y_true), proba / proba.sum(1, keepdims=True))


def test_ranking_follows_the_numbers_and_calls_ties_and_chance():
    text = narrate.ranking_sentence({"x": 0.60, "y": 0.80}, chance=0.125)
    assert says(text, "y 80.0%", "x 60.0%", "y ahead 20.0 points", "above chance 12.5%")
    assert says(narrate.ranking_sentence({"x": 0.805, "y": 0.80}), "x 80.5%", "y 80.0%", "x y level")
    assert says(narrate.ranking_sentence({"x": 0.15, "y": 0.8}, chance=0.125), "y 80.0%", "x 15.0%",
                "y ahead 65.0 points", "x within 5 points chance")


def test_top_confusions_and_the_paragraph_name_the_real_cells():
    # true a: 2 right, 3 taken for b; true b: all right; true c: 1 taken for a, 4 never right -> c recall 0
    y_true = [0] * 5 + [1] * 5 + [2] * 5
    y_pred = [0, 0, 1, 1, 1] + [1] * 5 + [0] + [1] * 4
    report = _report(y_true, y_pred)
    shared = pd.DataFrame([["", "AU1", ""], ["AU1", "", ""], ["", "", ""]], index=list("abc"), columns=list("abc"))
    table = narrate.top_confusions(report, k=2, shared=shared, confusable={"c": "b", "b": "c"})
    assert table[["true", "predicted", "count"]].values.tolist() == [["c", "b", 4], ["a", "b", 3]]
    assert table["share"].tolist() == [0.8, 0.6] and table["blended pair"].tolist() == [True, False]
    text = narrate.confusion_paragraph(report, "m", shared, k=2, confusable={"c": "b", "b": "c"})
    assert says(text, "c b 4 80% c ambiguous", "a b 3 60% a AU1")
    assert says(text, "weakest c 0%") and says(text, "no c face right")


def test_fit_sentence_judges_the_gap():
    assert "overfits" in narrate.fit_sentence("m", 1.0, 0.5)
    assert "underfits" in narrate.fit_sentence("m", 0.4, 0.38)
    assert "agree" in narrate.fit_sentence("m", 0.86, 0.84)


def test_stuck_at_chance_counts_the_first_epochs_only():
    chance = float(np.log(8))
    history = [{"val_loss": chance}, {"val_loss": chance + 0.01}, {"val_loss": 1.5}, {"val_loss": chance}]
    assert narrate.stuck_at_chance(history, 8) == 2


def test_photo_sentence_states_the_counts_and_whether_darker_faces_are_missed():
    score = {"drawn": 9, "found": 8, "matched": 7, "false": 1, "correct": 6}
    text = narrate.photo_sentence(score, [1.0, 0.9, 0.5])
    assert says(text, "9 faces", "7", "1", "6 7") and says(text, "100%, 90%, 50%", "darker missed more often")
    even = narrate.photo_sentence(score, [0.9, 0.9, 0.85])
    assert says(even, "90%, 90%, 85%", "about as often") and not says(even, "darker")
    assert "skin tone" not in narrate.photo_sentence(score)
