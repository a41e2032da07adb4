"""Augmentation for faces: Keras preprocessing layers on the fly, and an explicit offline expansion.

Chosen for faces (the Q5 chapter explains why): horizontal flips (faces are nearly
symmetric and expressions are not left/right specific -- though contempt is one-sided,
its mirror is still contempt), small rotations, zooms and shifts (head pose and
framing vary), contrast and brightness (lighting). No vertical flips: an upside-down
face is not a pose the model will meet, and it swaps the roles of brows and mouth.
"""
from __future__ import annotations

import numpy as np

# Rotation factor is a fraction of a full turn: 0.03 * 360 = +-10.8 degrees. Milder than v2's
# (+-14 degrees, zoom 0.1, shifts 0.08, contrast 0.25, brightness 0.15): on the face-crop framing
# of generator v3 those ranges cut off chins and brows, and the plain light VGG was still at
# 43 % after 13 epochs where these reached 72 % after 12 (benchmarks/calibrate_synthetic.py).
DEFAULTS = {"rotation": 0.03, "zoom": 0.08, "translation": 0.05, "contrast": 0.2, "brightness": 0.1}


def augmentation_settings(**overrides) -> dict:
    """The augmentation ranges in force (DEFAULTS updated by ``overrides``); part of cache keys."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown augmentation setting(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **overrides}


def augmentation_layers(seed: int = 0, **overrides):
    """A ``keras.Sequential`` of random layers for batches of images in [0, 1] (B, S, S, 3).

    Every layer keeps values inside [0, 1] (contrast and brightness clip to that range;
    geometric layers interpolate between existing values).
    """
    from .env import import_tensorflow

    _, keras = import_tensorflow()
    cfg = augmentation_settings(**overrides)
    layers = keras.layers
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(cfg["rotation"], fill_mode="reflect", seed=seed + 1),
        layers.RandomZoom(cfg["zoom"], fill_mode="reflect", seed=seed + 2),
        layers.RandomTranslation(cfg["translation"], cfg["translation"], fill_mode="reflect", seed=seed + 3),
        layers.RandomContrast(cfg["contrast"], value_range=(0.0, 1.0), seed=seed + 4),
        layers.RandomBrightness(cfg["brightness"], value_range=(0.0, 1.0), seed=seed + 5),
    ], name="face_augmentation")


def expand_offline(images: np.ndarray, labels: np.ndarray, factor: int, seed: int = 0,
                   batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The originals plus ``factor - 1`` augmented copies of each: ``factor * N`` samples.

    ``images`` (N, S, S, 3): uint8 in, uint8 out (4x less memory than float32); float
    in [0, 1] in, float32 out. Returns (images, labels) in memory; nothing is written
    to the data folder.
    """
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be an integer >= 1, got {factor!r}")
    as_uint8 = images.dtype == np.uint8
    augment = augmentation_layers(seed)
    copies = [np.asarray(images) if as_uint8 else np.asarray(images, np.float32)]
    for _ in range(factor - 1):
        out = []
        for i in range(0, len(images), batch_size):
            batch = np.asarray(images[i : i + batch_size], np.float32)
            batch = batch / 255.0 if as_uint8 else batch
            augmented = np.asarray(augment(batch, training=True))
            out.append(np.rint(augmented * 255.0).astype(np.uint8) if as_uint8 else augmented)
        copies.append(np.concatenate(out) if out else copies[0][:0])
    return np.concatenate(copies), np.tile(np.asarray(labels), factor)


def count_table(labels_before: np.ndarray, labels_after: np.ndarray, classes):
    """Samples per class before and after expansion, with totals (pandas DataFrame)."""
    import pandas as pd

    table = pd.DataFrame({
        "before": [int(np.sum(labels_before == i)) for i in range(len(classes))],
        "after": [int(np.sum(labels_after == i)) for i in range(len(classes))],
    }, index=list(classes))
    table.loc["total"] = table.sum()
    return table
