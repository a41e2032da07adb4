"""Frozen-backbone features, computed once per (data, split, weights, size, part) and cached.

Training a head on cached features costs a matrix product per epoch instead of a VGG16
forward pass per image: at 128x128 the backbone costs ~5.1 G multiply-adds per image, the head
~2.1 M (``benchmarks/bench_features.py`` measures the ratio). Fine-tuning block 5
on cached block-4 maps skips the ~90 % of the forward pass that stays frozen.
"""
from __future__ import annotations

import sys

import numpy as np

from .. import atomic, digests, paths, timings


def feature_cache_key(**parts) -> str:
    """The file name of features computed under ``parts`` (:func:`fercourse.digests.key`)."""
    return digests.key(parts)


def _cached(key: dict, compute) -> np.ndarray:
    path = paths.cache_dir() / "features" / f"{feature_cache_key(**key)}.npy"

    def make(tmp):  # trusted later only with its checksum: a kill leaves nothing that is read
        with timings.phase("features", key.get("part", "")):
            out = compute()
        np.save(tmp, out)
        return out

    return atomic.build_once(path, np.load, make)


def _predict(model, ds, n: int, progress: bool = False) -> np.ndarray:
    from ..env import import_tensorflow, native_log_to_file

    tf, _ = import_tensorflow()
    if not n:
        return np.zeros((0, *model.output.shape[1:]), np.float32)
    # predict() runs the model as one compiled graph over the whole dataset; with ``progress``
    # Keras' own bar shows the batches (minutes for VGG16 on a CPU: a terminal must not go quiet).
    with native_log_to_file():
        out = model.predict(ds.prefetch(tf.data.AUTOTUNE), verbose=1 if progress else 0)
    return np.asarray(out, np.float32)


def backbone_features(backbone, images: np.ndarray, *, key: dict, batch_size: int = 32,
                      augment=None, progress: bool | None = None) -> np.ndarray:
    """Backbone outputs for ``images`` (N, S, S, 3) uint8 -> (N, ...) float32, cached on disk.

    ``backbone`` takes [0, 1] images (preprocessing inside). ``augment`` (a seeded callable
    on [0, 1] batches, e.g. ``augmentation_layers(seed)``) computes the features of one
    augmented copy of the images instead. ``key`` must identify data, split, weights, size,
    the part of the network and the augmented copy. ``progress`` (default: when stderr is a
    terminal) says what is computed and shows a progress bar while it is.
    """
    from ..env import import_tensorflow

    tf, _ = import_tensorflow()
    show = sys.stderr.isatty() if progress is None else progress

    def compute():
        if show:
            what = f"{key.get('part', 'backbone')} features" + (" of an augmented copy" if augment else "")
            print(f"computing {what} of {len(images)} images (once: cached afterwards)", file=sys.stderr)
        ds = tf.data.Dataset.from_tensor_slices(np.asarray(images)).batch(batch_size)
        ds = ds.map(lambda x: tf.cast(x, tf.float32) / 255.0)
        if augment is not None:
            ds = ds.map(lambda x: augment(x, training=True))
        return _predict(backbone, ds, len(images), progress=show)

    return _cached(key, compute)


def cached_outputs(model, inputs: np.ndarray, *, key: dict, batch_size: int = 64) -> np.ndarray:
    """``model.predict(inputs)`` for float inputs (N, ...) -> float32 (N, ...), cached on disk."""
    from ..env import import_tensorflow

    tf, _ = import_tensorflow()
    return _cached(key, lambda: _predict(model, tf.data.Dataset.from_tensor_slices(inputs).batch(batch_size),
                                         len(inputs)))
