"""The model comparison of Q5.3: size, speed and scores side by side."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def weights_megabytes(model) -> float:
    """Size of the model's ``.weights.h5`` file on disk, in MB (10^6 bytes)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.weights.h5"
        model.save_weights(path)
        return path.stat().st_size / 1e6


def latency_ms(model, image_size: int = 128, repeats: int = 20) -> float:
    """Median CPU time of one forward pass on a single image, in milliseconds (after warm-up)."""
    x = np.random.default_rng(0).uniform(0, 1, (1, image_size, image_size, 3)).astype("float32")
    model(x, training=False)  # warm-up: graph tracing and memory allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x, training=False)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def comparison_table(rows: list[dict], image_size: int = 128):
    """One row per model: ``{"model": name, "keras": model, "report": ClassificationReport}``.

    Columns: parameters, trainable, weights MB, latency ms/image (CPU, batch 1), accuracy,
    macro-F1, macro-AUC. Returns a pandas DataFrame indexed by model name.
    """
    import pandas as pd

    out = []
    for row in rows:
        model, report = row["keras"], row["report"]
        out.append({"model": row["model"], "parameters": int(model.count_params()),
                    "trainable": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
                    "weights MB": round(weights_megabytes(model), 2),
                    "ms / image": round(latency_ms(model, image_size), 1),
                    **{k: round(v, 3) for k, v in report.summary().items()}})
    return pd.DataFrame(out).set_index("model")
