"""Sentences about the mobile export table (:func:`fercourse.export.score_exports`)."""
from __future__ import annotations

from ..export import ExportRow


def export_sentences(rows: list[ExportRow], unfolded: ExportRow | None = None,
                     folded_tensors: int | None = None, unfolded_tensors: int | None = None) -> str:
    """What the export table says, computed from it: the int8 file against the goals (<= 4 MB,
    <= 1 point of accuracy lost), and, for a batch-norm model scored unfolded as well (its
    ``model`` named "<model>, ..."), what folding changed in the file and in latency."""
    out = []
    for model in dict.fromkeys(r.model for r in rows):
        by = {r.format: r for r in rows if r.model == model}
        if "int8" not in by or "float32" not in by:
            continue
        q, f = by["int8"], by["float32"]
        lost = 100 * (q.keras_accuracy - q.accuracy)
        change = ("keeps the Keras model's accuracy" if abs(lost) < 0.05 else
                  f"{'loses' if lost > 0 else 'gains'} {abs(lost):.1f} points of accuracy")
        goal = "meets" if q.megabytes <= 4 and lost <= 1 else "misses"
        out.append(f"{model}: int8 is {q.megabytes:.1f} MB ({f.megabytes / q.megabytes:.1f}x smaller than "
                   f"float32), runs in {q.ms_per_image:.1f} ms per image against {f.ms_per_image:.1f} ms, "
                   f"agrees with Keras on {q.argmax_agreement:.1%} of the validation images and {change} - "
                   f"it {goal} the goal of at most 4 MB and 1 point.")
    if unfolded is not None:
        folded = next((r for r in rows if r.model == unfolded.model.split(",")[0] and r.format == "float32"), None)
        if folded is not None and folded_tensors is not None and unfolded_tensors is not None:
            how = ("the converter had already folded them: both files hold the same "
                   f"{folded_tensors} tensors" if folded_tensors == unfolded_tensors else
                   f"folding removed {unfolded_tensors - folded_tensors} of {unfolded_tensors} tensors")
            out.append(f"Batch norm folded into the layers before it: {how}; float32 latency "
                       f"{unfolded.ms_per_image:.1f} ms per image unfolded, {folded.ms_per_image:.1f} ms folded "
                       f"(medians of 30 calls; differences under ~10 % are within this machine's noise).")
    return " ".join(out)
