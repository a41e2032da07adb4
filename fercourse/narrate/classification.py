"""Sentences about classifiers: rankings, fit, the confusions that matter, chance level."""
from __future__ import annotations

import numpy as np


def top_confusions(report, k: int = 4, shared=None, confusable: dict | None = None):
    """The ``k`` largest off-diagonal cells of the confusion matrix (pandas DataFrame).

    Columns: true, predicted, count, share (of the true class's samples) and, when
    ``shared`` (a classes x classes table such as ``synthetic.expressions.shared_action_units()``)
    is given, the action units the two classes have in common; when ``confusable`` (class ->
    the class whose expression some of its samples also carry) is given, whether the pair is
    ambiguous by construction.
    """
    import pandas as pd

    counts = report.confusion()
    totals = counts.sum(axis=1)
    cells = [(counts[i, j], i, j) for i in range(len(counts)) for j in range(len(counts)) if i != j and counts[i, j]]
    rows = []
    for count, i, j in sorted(cells, key=lambda c: (-c[0], c[1], c[2]))[:k]:
        true, predicted = report.classes[i], report.classes[j]
        row = {"true": true, "predicted": predicted, "count": int(count), "share": float(count / totals[i])}
        if shared is not None:
            row["shared AUs"] = shared.loc[true, predicted] or "-"
        if confusable is not None:
            row["blended pair"] = confusable.get(true) == predicted or confusable.get(predicted) == true
        rows.append(row)
    extra = (["shared AUs"] if shared is not None else []) + (["blended pair"] if confusable is not None else [])
    return pd.DataFrame(rows, columns=["true", "predicted", "count", "share"] + extra)


def confusion_paragraph(report, name: str, shared=None, k: int = 3, confusable: dict | None = None) -> str:
    """Which classes ``name`` confuses most and why, the weakest and strongest class, as Markdown."""
    table = top_confusions(report, k, shared, confusable)
    recall = report.per_class()["recall"]
    weakest, strongest = recall.idxmin(), recall.idxmax()
    if table.empty:
        return f"**{name}** makes no error on this split."
    parts = []
    for row in table.to_dict("records"):
        reasons = []
        if row.get("shared AUs", "-") != "-":
            reasons.append(f"they share {row['shared AUs']}")
        if row.get("blended pair"):
            reasons.append("an ambiguous pair by construction")
        if shared is not None and not reasons:
            reasons.append("no prototype AU in common")
        because = f" ({'; '.join(reasons)})" if reasons else ""
        parts.append(f"{row['true']} taken for {row['predicted']} {row['count']} times "
                     f"({row['share']:.0%} of {row['true']}){because}")
    never = [c for c, r in recall.items() if r == 0]
    tail = (f" It gets no {', '.join(never)} face right." if never
            else " Every class is recognised at least sometimes.")
    return (f"**{name}**: the most frequent confusions are " + "; ".join(parts) + ". "
            f"The weakest class is {weakest} (recall {recall[weakest]:.0%}), the strongest {strongest} "
            f"(recall {recall[strongest]:.0%})." + tail)


def ranking_sentence(scores: dict[str, float], metric: str = "validation accuracy", chance: float | None = None,
                     tie: float = 0.01) -> str:
    """"Metric: A 81.0%, B 74.0%. A is ahead by 7.0 points; ..." - the verdict decided by the numbers.

    Scores within ``tie`` of each other are called level rather than ranked; with ``chance``,
    the sentence says which scores are within 5 points of it.
    """
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    listing = ", ".join(f"{name} {value:.1%}" for name, value in ranked)
    (best, top), (second, runner) = ranked[0], ranked[1] if len(ranked) > 1 else (None, None)
    if second is None:
        verdict = f"{best} reaches {top:.1%}"  # one model: nothing to rank
    elif top - runner <= tie:
        verdict = f"{best} and {second} are level (within {tie:.0%})"
    else:
        verdict = f"{best} is ahead by {100 * (top - runner):.1f} points"
    above = ""
    if chance is not None:
        below = [name for name, value in ranked if value <= chance + 0.05]
        above = (f"; {' and '.join(below)} {'is' if len(below) == 1 else 'are'} within 5 points of chance "
                 f"({chance:.1%})" if below else f"; all are clearly above chance ({chance:.1%})")
    return f"{metric.capitalize()}: {listing}. {verdict}{above}."


def fit_sentence(name: str, train_accuracy: float, validation_accuracy: float) -> str:
    """Over- or under-fitting of one model, judged from its inference-mode scores."""
    gap = train_accuracy - validation_accuracy
    if gap > 0.15:
        judgement = "it overfits: it fits its training faces much better than new ones"
    elif train_accuracy < 0.6:
        judgement = "it underfits: even its training faces are not fitted well"
    else:
        judgement = "training and validation agree: it generalises about as well as it fits"
    return (f"{name}: {train_accuracy:.1%} on its training images (inference mode), "
            f"{validation_accuracy:.1%} on Validation - {judgement}.")


def chance_level(num_classes: int) -> float:
    """Accuracy of a uniform guess (classes balanced)."""
    return 1.0 / num_classes


def stuck_at_chance(history: list[dict], num_classes: int, epochs: int = 3, tolerance: float = 0.02) -> int:
    """How many of the first ``epochs`` epochs had a monitored loss within ``tolerance`` of ln C."""
    chance = float(np.log(num_classes))
    return sum(1 for r in history[:epochs] if abs(r.get("val_loss", np.inf) - chance) < tolerance)
