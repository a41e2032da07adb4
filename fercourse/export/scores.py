"""Scoring the exports: size, latency, accuracy and agreement with the Keras model, per format."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..inference import outputs
from .surgery import float32_copy, fold_batch_norm, has_batch_norm
from .tflite import FORMATS, cached_predictions, cached_tflite, interpreter, latency_ms, quiet


@dataclasses.dataclass
class ExportRow:
    """One exported format: its size, speed, accuracy and agreement with the Keras model."""

    model: str
    format: str
    megabytes: float
    ms_per_image: float
    accuracy: float
    keras_accuracy: float
    argmax_agreement: float


def score_exports(name: str, model, images: np.ndarray, labels: np.ndarray, representative: np.ndarray, *,
                  threads: int | None = None, fold: bool = True,
                  formats=FORMATS) -> tuple[list[ExportRow], dict[str, bytes]]:
    """Export ``model`` in ``formats`` and score each on ``images`` (uint8) / ``labels``.

    ``fold=False`` keeps batch-norm layers as they are (to measure what folding buys).
    Returns the rows and the flatbuffers (``{format: bytes}``), so a caller can save them.
    """
    with quiet():  # LiteRT's runtime beside TensorFlow's logs op-registry notes on stderr
        return _score_exports(name, model, images, labels, representative, threads, fold, formats)


def _score_exports(name, model, images, labels, representative, threads, fold, formats):
    reference = float32_copy(model)
    # Kept per exact weights and images, like the interpreter's predictions: a warm chapter only
    # measures the latencies (the Keras forward on every image cost more than the rest).
    keras_proba = outputs(reference, np.asarray(images, np.uint8), cache="keras_proba", folder="exports")
    keras_pred = keras_proba.argmax(axis=1)
    keras_accuracy = float(np.mean(keras_pred == labels))
    source = fold_batch_norm(reference) if fold and has_batch_norm(reference) else reference
    rows, files = [], {}
    for kind in formats:
        flat = cached_tflite(source, kind, representative if kind == "int8" else None)
        runner = interpreter(flat, threads)  # the latency is measured with the caller's threads
        pred = cached_predictions(flat, images, threads).argmax(axis=1)  # ~2x faster on 2 cores
        rows.append(ExportRow(name, kind, len(flat) / 1e6, latency_ms(runner, images[0]),
                              float(np.mean(pred == labels)), keras_accuracy, float(np.mean(pred == keras_pred))))
        files[kind] = flat
    return rows, files


def export_table(rows: list[ExportRow]):
    """The rows as a DataFrame indexed by (model, format)."""
    import pandas as pd

    frame = pd.DataFrame([dataclasses.asdict(r) for r in rows]).set_index(["model", "format"])
    return frame.rename(columns={"megabytes": "MB", "ms_per_image": "ms / image",
                                 "keras_accuracy": "Keras accuracy", "argmax_agreement": "agrees with Keras"})
