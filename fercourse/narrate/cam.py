"""Sentences about explanation maps: regions, failures, faithfulness, the GAP variant, the penalty."""
from __future__ import annotations

import numpy as np


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def region_sentence(table, method: str = "Grad-CAM") -> str:
    """From :func:`~fercourse.cam.region_table`: how many classes beat chance, and the range."""
    rows = table.dropna(subset=["energy"])
    if rows.empty:
        return "No image here has a stored expression region, so the maps cannot be scored against one."
    ratio = rows["energy / chance"]
    above = int((ratio > 1).sum())
    pointing_above = int((rows["pointing"] > rows["chance"]).sum())
    missing = [c for c in table.index if c not in rows.index]
    text = (f"{method} puts more of its energy inside the regions the action units move than a flat map would "
            f"for {above} of {len(rows)} classes (energy / chance from {ratio.min():.2f} for {ratio.idxmin()} "
            f"to {ratio.max():.2f} for {ratio.idxmax()}); its peak lands in the region more often than chance for "
            f"{pointing_above} of {len(rows)}.")
    if missing:
        text += f" ({', '.join(missing)}: no image with a visible region.)"
    return text


def failure_sentence(energy, confidence, correct, pairs=None) -> str:
    """What the misclassified images have in common: their maps' energy in the region and the
    model's confidence, against the correct ones; ``pairs``: the share of the errors that fall
    on pairs ambiguous by construction (optional)."""
    energy, confidence, correct = np.asarray(energy, float), np.asarray(confidence, float), np.asarray(correct, bool)
    if correct.all():
        return "Every validation image is classified correctly: there are no failures to compare."
    e_hit, e_miss = np.nanmean(energy[correct]), np.nanmean(energy[~correct])
    c_hit, c_miss = confidence[correct].mean(), confidence[~correct].mean()
    where = "less" if e_miss < e_hit else "more" if e_miss > e_hit else "as much"
    text = (f"The {int((~correct).sum())} misclassified faces put {where} of their map's energy in the expression "
            f"regions than the correct ones ({_pct(e_miss)} vs {_pct(e_hit)}), and the model is "
            f"{'less' if c_miss < c_hit else 'more'} sure of them ({c_miss:.2f} vs {c_hit:.2f} mean confidence).")
    if pairs is not None:
        text += f" {_pct(pairs)} of the errors fall on the pairs that share expressions by construction."
    return text


def faithfulness_sentence(aucs: dict, baseline: str = "random") -> str:
    """From ``PerturbationDisplay.aucs``: which methods beat the random map on deletion
    (lower AUC) and insertion (higher), and the best on each."""
    methods = [m for m in aucs if m != baseline]
    if baseline not in aucs or not methods:
        return ""
    base = aucs[baseline]
    deletion = [m for m in methods if aucs[m]["deletion"] < base["deletion"]]
    insertion = [m for m in methods if aucs[m]["insertion"] > base["insertion"]]
    best_d = min(methods, key=lambda m: aucs[m]["deletion"])
    best_i = max(methods, key=lambda m: aucs[m]["insertion"])
    return (f"Deleting pixels in the maps' order lowers the class probability faster than in a random order for "
            f"{len(deletion)} of {len(methods)} methods (best: {best_d}, AUC {aucs[best_d]['deletion']:.3f} vs "
            f"{base['deletion']:.3f}); revealing them raises it faster for {len(insertion)} of {len(methods)} "
            f"(best: {best_i}, {aucs[best_i]['insertion']:.3f} vs {base['insertion']:.3f}).")


def improvement_sentence(before: dict, after: dict, name_before: str, name_after: str) -> str:
    """Compare two rows (dicts with parameters, accuracy, energy in region, deletion AUC)."""
    d_acc = after["accuracy"] - before["accuracy"]
    size = before["parameters"] / after["parameters"]
    acc = ("the same accuracy" if abs(d_acc) < 0.005 else
           f"{abs(100 * d_acc):.1f} points {'more' if d_acc > 0 else 'less'} accuracy")
    text = f"{name_after} has {size:.1f}x fewer parameters than {name_before} and {acc}"
    if "energy in region" in before and np.isfinite(before["energy in region"]):
        d_e = after["energy in region"] - before["energy in region"]
        text += (f"; its maps put {'more' if d_e > 0 else 'less'} of their energy in the expression regions "
                 f"({_pct(after['energy in region'])} vs {_pct(before['energy in region'])})")
    if "pointing game" in before and np.isfinite(before["pointing game"]):
        text += (f", their peak lands in a region for {_pct(after['pointing game'])} of the faces "
                 f"(vs {_pct(before['pointing game'])})")
    if "deletion AUC" in before:
        better = after["deletion AUC"] < before["deletion AUC"]
        text += (f", and deleting by its maps lowers the class probability {'faster' if better else 'more slowly'} "
                 f"(deletion AUC {after['deletion AUC']:.3f} vs {before['deletion AUC']:.3f})")
    return text + "."


def penalty_sentence(control: dict, guided: dict, weight: float) -> str:
    """Region-penalised fine-tuning against the same fine-tuning without the penalty (rows of
    :func:`~fercourse.cam.explanation_row`)."""
    d_acc = guided["accuracy"] - control["accuracy"]
    acc = ("the same accuracy" if abs(d_acc) < 0.005 else
           f"{abs(100 * d_acc):.1f} points {'more' if d_acc > 0 else 'less'} accuracy")
    d_e = guided["energy in region"] - control["energy in region"]
    return (f"With the penalty (weight {weight:g}) the maps put {_pct(guided['energy in region'])} of their energy in "
            f"the expression regions against {_pct(control['energy in region'])} for the same fine-tuning without "
            f"it ({'+' if d_e >= 0 else '-'}{abs(100 * d_e):.0f} points), their peak lands in a region for "
            f"{_pct(guided['pointing game'])} of the faces (control: {_pct(control['pointing game'])}), at {acc} "
            f"({guided['accuracy']:.3f} vs {control['accuracy']:.3f}).")
