"""Frozen-backbone features, computed once per (data, split, weights, size, part) and cached.

Training a head on cached features costs a matrix product per epoch instead of a VGG16
forward pass per image: at 128x128 the backbone costs ~5.1 G multiply-adds per image, the head
~2.1 M (``benchmarks/bench_features.py`` measures the ratio). Fine-tuning block 5
on cached block-4 maps skips the ~90 % of the forward pass that stays frozen.
"""
from __future__ import annotations

import sys

import numpy as np

from .. import memo, timings
from ..env import import_tensorflow
from ..inference import outputs


def _kept(key: dict, compute) -> np.ndarray:
    """``compute()``, timed as a features phase, once per ``key`` (``<cache>/features/``)."""
    def timed():
        with timings.phase("features", key.get("part", "")):
            return compute()

    return memo.cached_array("features", (key,), timed, folder="features")


def backbone_features(backbone, images: np.ndarray, *, key: dict, batch_size: int = 32,
                      augment=None, progress: bool | None = None) -> np.ndarray:
    """Backbone outputs for ``images`` (N, S, S, 3) uint8 -> (N, ...) float32, cached on disk.

    ``backbone`` takes [0, 1] images (preprocessing inside). ``augment`` (a seeded callable
    on [0, 1] batches, e.g. ``augmentation_layers(seed)``) computes the features of one
    augmented copy of the images instead. ``key`` must identify data, split, weights, size,
    the part of the network and the augmented copy. ``progress`` (default: when stderr is a
    terminal) says what is computed and shows a progress bar while it is.
    """
    tf, _ = import_tensorflow()
    show = sys.stderr.isatty() if progress is None else progress

    def compute():
        if show:
            what = f"{key.get('part', 'backbone')} features" + (" of an augmented copy" if augment else "")
            print(f"computing {what} of {len(images)} images (once: cached afterwards)", file=sys.stderr)
        if augment is None:
            return outputs(backbone, np.asarray(images), batch_size=batch_size, progress=show)
        ds = tf.data.Dataset.from_tensor_slices(np.asarray(images)).batch(batch_size)
        ds = ds.map(lambda x: augment(tf.cast(x, tf.float32) / 255.0, training=True))
        return outputs(backbone, ds, progress=show)

    return _kept(key, compute)


def cached_outputs(model, inputs: np.ndarray, *, key: dict, batch_size: int = 64) -> np.ndarray:
    """:func:`fercourse.inference.outputs` of float ``inputs`` (N, ...) -> float32 (N, ...), cached
    under ``key``."""
    return _kept(key, lambda: outputs(model, inputs, batch_size=batch_size))
