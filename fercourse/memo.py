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

HASH_BLOCK = 64 << 20  # bytes of an array hashed at a time
RESULTS_VERSION = 1  # bump when a cached computation changes, so old results are not reused


def model_digest(model) -> str:
    """The model's architecture and weights, as one digest."""
    from .train.store import architecture_digest, weights_digest

    return f"{architecture_digest(model)}:{weights_digest(model)}"


def _feed(digest, part) -> None:
    if isinstance(part, bytes):
        digest.update(f"bytes{len(part)}".encode())
        digest.update(part)
    elif isinstance(part, np.ndarray) or hasattr(part, "__array__") and not hasattr(part, "weights"):
        array = np.atleast_1d(part if isinstance(part, np.ndarray) else np.asarray(part))
        digest.update(f"array{array.shape}{array.dtype.str}".encode())
        # In slices along the first axis: a memory-mapped split of real data is hashed with
        # bounded memory (the bytes fed, and so the key, are those of the whole array).
        rows = max(1, HASH_BLOCK // max(1, array[:1].nbytes))
        for start in range(0, len(array), rows):
            digest.update(np.ascontiguousarray(array[start:start + rows]).tobytes())
    elif hasattr(part, "weights") and hasattr(part, "layers"):  # a Keras model
        digest.update(f"model{model_digest(part)}".encode())
    else:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    digest.update(b"|")


def key_of(*parts) -> str:
    """A digest of ``parts``: bytes as they are; arrays by shape, dtype and bytes; Keras models
    by :func:`model_digest`; anything else by its JSON."""
    digest = hashlib.sha256(f"v{RESULTS_VERSION}".encode())
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()[:20]


def cached_bytes(name: str, parts: tuple, compute, *, folder: str = "results", suffix: str = "") -> bytes:
    """``compute()`` (bytes), computed once per ``key_of(name, *parts)`` and kept as
    ``<cache>/<folder>/<name>-<key><suffix>`` (checksummed, written atomically)."""
    path = paths.cache_dir() / folder / f"{name}-{key_of(name, *parts)}{suffix}"

    def make(tmp):
        data = compute()
        tmp.write_bytes(data)
        return data

    return atomic.build_once(path, lambda done: done.read_bytes(), make)


def cached_array(name: str, parts: tuple, compute, *, folder: str = "results") -> np.ndarray:
    """``compute()`` (an array), computed once per ``key_of(name, *parts)``."""
    import io

    def as_npy() -> bytes:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(compute()))
        return buffer.getvalue()

    return np.load(io.BytesIO(cached_bytes(name, parts, as_npy, folder=folder, suffix=".npy")))
