"""The model comparison of Q5.3: size, speed and scores side by side."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .. import timings


def weights_megabytes(model) -> float:
    """Size on disk of the model's weights alone, as an HDF5 file, in MB (10^6 bytes).

    Not ``model.save_weights``: on a trained model that also writes the optimizer's state
    (Adam keeps two more values per weight: 3x the size). The file written here holds one
    dataset per weight variable (non-trainable ones such as batch-norm statistics
    included) -- what a phone would have to ship.
    """
    import h5py

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.h5"
        with h5py.File(path, "w") as handle:
            for i, variable in enumerate(model.weights):
                handle.create_dataset(f"{i}:{variable.path}", data=np.asarray(variable))
        return path.stat().st_size / 1e6


def latency_ms(model, image_size: int = 128, repeats: int = 20) -> float:
    """Median wall time of one forward pass on a single (1, S, S, 3) image, in milliseconds,
    through Keras' compiled predict function (after a warm-up that traces it).

    Why compiled: called eagerly, layer by layer, the figure is mostly Python dispatch, which
    costs a small model as much as a large one and so understates the small model's lead.
    """
    x = np.random.default_rng(0).uniform(0, 1, (1, image_size, image_size, 3)).astype("float32")
    return timings.median_ms(lambda: model.predict_on_batch(x), repeats)


def trainable_count(model) -> int:
    """Parameters in the model's trainable weights."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def comparison_table(rows: list[dict], image_size: int = 128, timings: bool = True):
    """One row per model: ``{"model": name, "keras": model, "report": ClassificationReport}``.

    Optional row keys: ``"trained"`` (parameters that training changed, when the model's
    trainable flags no longer say so: a VGG16 whose block 5 was fine-tuned on cached maps),
    ``"weights"`` (where its weights started), ``"epochs"`` (its training budget) and
    ``"seconds"`` (training time).
    Columns: parameters, trained, weights MB, latency ms/image (CPU, batch 1; skipped when
    ``timings`` is false), accuracy, macro-F1, macro-AUC [, weights, training s]. Returns a
    pandas DataFrame indexed by model name.
    """
    import pandas as pd

    out = []
    for row in rows:
        model, report = row["keras"], row["report"]
        line = {"model": row["model"], "parameters": int(model.count_params()),
                "trained": int(row.get("trained", trainable_count(model))),
                "weights MB": round(weights_megabytes(model), 2)}
        if timings:
            line["ms / image"] = round(latency_ms(model, image_size), 1)
        line.update({k: round(v, 3) for k, v in report.summary().items()})
        for key in ("weights", "epochs"):  # descriptive columns, passed through as given
            if key in row:
                line[key] = row[key]
        if "seconds" in row:
            line["training s"] = round(float(row["seconds"]))
        out.append(line)
    return pd.DataFrame(out).set_index("model")
