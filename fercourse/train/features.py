"""Frozen-backbone features, computed once per (data, split, weights, size) and cached.

Training a head on cached features costs a matrix product per epoch instead of a VGG16
forward pass per image: on a 2-core CPU the backbone is ~5 GFLOPs per 128x128 image, the
head ~4 MFLOPs (``benchmarks/bench_features.py`` measures the ratio).
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from .. import paths


def feature_cache_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def backbone_features(backbone, images: np.ndarray, *, key: dict, batch_size: int = 32,
                      flip: bool = False) -> np.ndarray:
    """Backbone outputs for ``images`` (N, S, S, 3) uint8 -> (N, ...) float32, cached on disk.

    ``backbone`` takes [0, 1] images (preprocessing inside). ``flip`` computes the features
    of the horizontally mirrored images (a cheap, label-preserving second view).
    ``key`` must identify data, split, weights and size (it names the cache file).
    """
    from .. import atomic
    from ..env import import_tensorflow

    tf, _ = import_tensorflow()
    path = paths.cache_dir() / "features" / f"{feature_cache_key(flip=flip, **key)}.npy"
    if path.exists():
        return np.load(path)
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(images)).batch(batch_size)
    ds = ds.map(lambda x: tf.cast(x, tf.float32) / 255.0)
    if flip:
        ds = ds.map(lambda x: x[:, :, ::-1, :])
    # predict() runs the backbone as one compiled graph over the whole dataset.
    out = np.asarray(backbone.predict(ds.prefetch(tf.data.AUTOTUNE), verbose=0), np.float32) \
        if len(images) else np.zeros((0,), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    import io

    buffer = io.BytesIO()
    np.save(buffer, out)
    atomic.write_bytes(path, buffer.getvalue())
    return out
