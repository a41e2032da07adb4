"""Keys from content: one canonical digest for every cache (features, results, the model store).

A key must change whenever what determines a result changes, and only then. So each value is
serialised canonically - its type, then its content - and anything whose content cannot be
read that way is refused, never ``str()``-ed: the text form of a large NumPy array elides its
middle with "...", so two different arrays would share a key.

- ``None``, bools, ints, floats, strings, bytes: as themselves (NumPy scalars as Python ones);
- lists and tuples: their items in order; dicts (string keys only): their items sorted by key;
- dataclass instances: their class name and fields;
- NumPy arrays (and array-likes): shape, dtype and every byte, hashed a slice at a time (a
  memory-mapped split of real data is keyed with bounded memory);
- Keras models: their architecture and weights (:func:`model_digest`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

HASH_BLOCK = 64 << 20  # bytes of an array hashed at a time


def model_digest(model) -> str:
    """The model's architecture and weights, as one digest."""
    from .train.store import architecture_digest, weights_digest

    return f"{architecture_digest(model)}:{weights_digest(model)}"


def _is_model(value) -> bool:
    return hasattr(value, "weights") and hasattr(value, "layers")


def feed(digest, value) -> None:
    """Add ``value``'s canonical form to a hashlib ``digest``; TypeError for what has none."""
    if value is None or isinstance(value, (bool, int, float, str)):
        digest.update(b"j" + json.dumps(value).encode() + b";")
    elif isinstance(value, np.generic):
        feed(digest, value.item())
    elif isinstance(value, bytes):
        digest.update(f"b{len(value)}:".encode() + value)
    elif isinstance(value, (list, tuple)):
        digest.update(f"l{len(value)}[".encode())
        for item in value:
            feed(digest, item)
        digest.update(b"]")
    elif isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"cannot key a dict with non-string keys: {sorted(map(repr, value))[:5]}")
        digest.update(f"d{len(value)}{{".encode())
        for k in sorted(value):
            feed(digest, k)
            feed(digest, value[k])
        digest.update(b"}")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        digest.update(f"c{type(value).__qualname__}".encode())
        feed(digest, {f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    elif _is_model(value):
        digest.update(f"m{model_digest(value)};".encode())
    elif isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        array = np.asarray(value)
        digest.update(f"a{array.shape}{array.dtype.str}:".encode())
        flat = array.reshape(-1) if array.ndim == 0 else array
        rows = max(1, HASH_BLOCK // max(1, flat[:1].nbytes))
        for start in range(0, len(flat), rows):
            digest.update(np.ascontiguousarray(flat[start:start + rows]).tobytes())
    else:
        raise TypeError(f"cannot key a {type(value).__name__}: pass what determines it "
                        "(numbers, strings, arrays, dicts, a dataclass, a Keras model)")


def key(*parts, length: int = 20) -> str:
    """The hex digest (``length`` digits) of ``parts`` in their canonical form."""
    digest = hashlib.sha256()
    for part in parts:
        feed(digest, part)
    return digest.hexdigest()[:length]
