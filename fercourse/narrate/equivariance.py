"""Sentences about Q1's measurements: equivariance error per layer, shift consistency."""
from __future__ import annotations


def layer_sentence(table) -> str:
    """From :func:`layer_errors`: how the error (averaged over the shifts) grows with depth,
    and whether shifts that are multiples of a layer's stride fare better."""
    by_layer = table.groupby("layer", sort=False)["error"].mean()
    aligned = table[(table["shift"] % table["stride"]) == 0]["error"]
    misaligned = table[(table["shift"] % table["stride"]) != 0]["error"]
    largest = table["shift"].max()
    text = (f"Averaged over the shifts, the error is {by_layer.iloc[0]:.2f} at {by_layer.index[0]} and rises to "
            f"{by_layer.max():.2f} at {by_layer.idxmax()}")
    # "... and is X at the last layer" only where the peak is not the last layer itself.
    text += "." if by_layer.idxmax() == by_layer.index[-1] else (
        f"; it is {by_layer.iloc[-1]:.2f} at {by_layer.index[-1]}.")
    if len(aligned) and len(misaligned):
        relation = ("higher" if misaligned.mean() > aligned.mean() + 0.02 else
                    "lower" if misaligned.mean() < aligned.mean() - 0.02 else "about the same")
        text += (f" For shifts that are not a multiple of the layer's stride it is {relation} "
                 f"({misaligned.mean():.2f} against {aligned.mean():.2f}).")
    text += (f" It is not zero even for a shift of {largest} pixels, a multiple of every stride (largest "
             f"{table[table['shift'] == largest]['error'].max():.2f}): with circular padding such a shift would "
             "be exact, so this part comes from the zero padding, at the image borders and at the seam the "
             "circular shift makes.")
    return text


def consistency_sentence(curves: dict, accuracies: dict) -> str:
    """Compare shift-consistency curves (name -> :func:`consistency_curve` table) and the
    models' validation accuracies (name -> float)."""
    names = list(curves)
    means = {n: float(curves[n]["consistency"].mean()) for n in names}
    best = max(names, key=means.get)
    worst = min(names, key=means.get)
    largest = {n: curves[n].iloc[-1] for n in names}
    text = (f"Averaged over shifts of 1-{int(curves[best]['max shift'].max())} pixels, {best} keeps its "
            f"prediction for {100 * means[best]:.1f} % of the faces and {worst} for {100 * means[worst]:.1f} %")
    at_largest = ", ".join(f"{n} {100 * largest[n]['consistency']:.1f} %" for n in names)
    text += f" (at the largest shift: {at_largest})."
    acc = ", ".join(f"{n} {100 * a:.1f} %" for n, a in accuracies.items())
    text += f" Validation accuracy: {acc}."
    return text
