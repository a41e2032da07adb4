"""Running a model over many inputs: the one batched, optionally cached prediction path.

Everything in fercourse that runs a network over a set of images or features - scoring a split,
frozen-backbone features, the transfer head's probabilities, the export table's reference -
goes through :func:`outputs`: a ``tf.data`` pipeline, prefetched, through Keras' compiled
``predict`` (one graph over the whole set). NumPy arrays are fed through ``tf.data`` rather than
Keras' NumPy adapter, whose parallel map TensorFlow 2.21 logs an op-definition mismatch for,
straight into a notebook. Results can be kept per exact model and inputs
(:func:`fercourse.memo.cached_array`).
"""
from __future__ import annotations

import numpy as np

from . import memo
from .env import import_tensorflow, native_log_to_file


def outputs(model, inputs, *, batch_size: int = 64, cache: str | None = None, key=None,
            folder: str = "results", progress: bool = False) -> np.ndarray:
    """``model``'s outputs for ``inputs``, in order: float32 (N, ...).

    ``inputs``: a NumPy array (N, ...) - uint8 arrays are images, divided by 255 as in the data
    pipeline; other dtypes go in as they are - or a ``tf.data.Dataset`` of batches (``x`` or
    ``(x, y)``; ``y`` is ignored). ``cache``: a name; the result is then computed once per model
    (architecture and weights), inputs (for a dataset: ``key``, what determines its content) and
    batch size, and kept under ``<cache>/<folder>/``. ``progress``: Keras' progress bar.
    """
    def compute() -> np.ndarray:
        tf, _ = import_tensorflow()
        data = inputs
        if not isinstance(inputs, tf.data.Dataset):
            array = np.asarray(inputs)
            if not len(array):
                return np.zeros((0, *model.output.shape[1:]), np.float32)
            data = tf.data.Dataset.from_tensor_slices(array).batch(batch_size)
            if array.dtype == np.uint8:
                data = data.map(lambda x: tf.cast(x, tf.float32) / 255.0)
        with native_log_to_file():
            out = model.predict(data.prefetch(tf.data.AUTOTUNE), verbose=1 if progress else 0)
        return np.asarray(out, np.float32)

    if cache is None:
        return compute()
    if key is None and not isinstance(inputs, np.ndarray):
        raise TypeError("outputs(cache=...) of a tf.data.Dataset needs key=: what determines its content")
    return memo.cached_array(cache, (model, inputs if key is None else key, batch_size), compute, folder=folder)
