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
- Keras models: their architecture and weights (:func:`model_digest`);
- code: :func:`code_digest` of the modules that compute a result, instead of version numbers
  bumped by hand (which get forgotten, and then old results are reused).
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np

HASH_BLOCK = 64 << 20  # bytes of an array hashed at a time


@functools.lru_cache(maxsize=None)
def code_digest(*modules: str) -> str:
    """A digest (16 hex digits) of the code of ``modules`` (dotted names): their syntax trees
    without docstrings, so that editing a comment or a docstring keeps what was cached and editing
    code discards it. Read from the source files, without importing the modules."""
    digest = hashlib.sha256()
    for name in modules:
        tree = ast.parse(Path(importlib.util.find_spec(name).origin).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        digest.update(f"{name}\0{ast.dump(tree)}\0".encode())
    return digest.hexdigest()[:16]


def architecture_digest(model) -> str:
    """A digest of a built model's architecture: every layer's class and config, in order.

    Part of the store key, so that editing a builder (a dropout rate, a unit count, a
    momentum) can never reload weights trained for the old network. Layer *names* are left
    out: Keras numbers unnamed layers by how many were made before, which is not architecture.
    Only the layer's own name: the name inside a layer's dtype policy ("float32",
    "mixed_bfloat16") is architecture - a head rebuilt in float32 must not reload weights trained
    in bfloat16.
    """
    def layers(m):
        for layer in m.layers:
            yield layer
            if hasattr(layer, "layers"):  # nested models (a backbone inside a transfer model)
                yield from layers(layer)

    def config(layer):
        return {k: v for k, v in layer.get_config().items() if k != "name"}

    rows = [[type(layer).__name__, config(layer) if not hasattr(layer, "layers") else None]
            for layer in layers(model)]
    rows.append([list(model.input_shape) if not isinstance(model.input_shape, list) else model.input_shape,
                 int(model.count_params())])
    return key({"layers": rows}, length=16)


def weights_digest(model) -> str:
    """sha256 (16 hex digits) of a model's weights, in order: what cached features depend on."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight)).tobytes())
    return digest.hexdigest()[:16]


def model_digest(model) -> str:
    """The model's architecture and weights, as one digest."""
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
