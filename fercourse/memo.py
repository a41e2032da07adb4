"""Deterministic analysis results, computed once per inputs and cached under ``<cache>/results/``.

Some analyses of a trained model cost more than loading it: Score-CAM runs the network once per
channel and image, deletion/insertion curves once per step and image. Their results depend only
on the model (architecture and weights), the input arrays and the parameters, so a result is
keyed by exactly those (and ``RESULTS_VERSION``); a warm re-run of a chapter reads it, and any
change to weights, inputs or parameters computes it again. Files are checksummed and written
atomically, like every other cache.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from . import atomic, paths

RESULTS_VERSION = 1  # bump when a cached computation changes, so old results are not reused


def model_digest(model) -> str:
    """The model's architecture and weights, as one digest."""
    from .train.store import architecture_digest, weights_digest

    return f"{architecture_digest(model)}:{weights_digest(model)}"


def _feed(digest, part) -> None:
    if isinstance(part, np.ndarray) or hasattr(part, "__array__") and not hasattr(part, "weights"):
        array = np.ascontiguousarray(np.asarray(part))
        digest.update(f"array{array.shape}{array.dtype.str}".encode())
        digest.update(array.tobytes())
    elif hasattr(part, "weights") and hasattr(part, "layers"):  # a Keras model
        digest.update(f"model{model_digest(part)}".encode())
    else:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    digest.update(b"|")


def key_of(*parts) -> str:
    """A digest of ``parts``: arrays by shape, dtype and bytes; Keras models by
    :func:`model_digest`; anything else by its JSON."""
    digest = hashlib.sha256(f"v{RESULTS_VERSION}".encode())
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()[:20]


def cached_array(name: str, parts: tuple, compute) -> np.ndarray:
    """``compute()`` (an array), computed once per ``key_of(name, *parts)``."""
    path = paths.cache_dir() / "results" / f"{name}-{key_of(name, *parts)}.npy"
    if atomic.verify(path):
        return np.load(path)
    atomic.remove_with_checksum(path)
    out = np.asarray(compute())
    with atomic.publish(path) as tmp:
        np.save(tmp, out)
    atomic.checksum(path)
    return out
