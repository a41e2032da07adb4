"""Augmentation for faces: random layers on the fly (one fused warp + Keras' contrast and
brightness layers), and an explicit offline expansion.

Chosen for faces (the Q5 chapter explains why): horizontal flips (faces are nearly
symmetric and expressions are not left/right specific -- though contempt is one-sided,
its mirror is still contempt), small rotations, zooms and shifts (head pose and
framing vary), contrast and brightness (lighting). No vertical flips: an upside-down
face is not a pose the model will meet, and it swaps the roles of brows and mouth.
"""
from __future__ import annotations

import math

import numpy as np

# Rotation factor is a fraction of a full turn: 0.03 * 360 = +-10.8 degrees. Milder than v2's
# (+-14 degrees, zoom 0.1, shifts 0.08, contrast 0.25, brightness 0.15): on the face-crop framing
# of generator v3 those ranges cut off chins and brows, and the plain light VGG was still at
# 43 % after 13 epochs where these reached 72 % after 12 (benchmarks/calibrate_synthetic.py).
DEFAULTS = {"rotation": 0.03, "zoom": 0.08, "translation": 0.05, "contrast": 0.2, "brightness": 0.1}


# Bumped whenever the same ranges would draw different images, so that models and features
# cached with the old augmentation are not reused: 2 = flip, rotation, zoom and shift fused
# into one warp (1: Keras' four layers in a row).
IMPLEMENTATION = 2


def augmentation_settings(**overrides) -> dict:
    """The augmentation ranges in force (DEFAULTS updated by ``overrides``)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown augmentation setting(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **overrides}


def augmentation_key(**overrides) -> dict:
    """What decides the augmented images - the ranges and the implementation - for cache keys."""
    return {**augmentation_settings(**overrides), "implementation": IMPLEMENTATION}


def augmentation_layers(seed: int = 0, **overrides):
    """A ``keras.Sequential`` of random layers for batches of images in [0, 1] (B, S, S, 3).

    The geometric part (flip, rotation, zoom, shift) is one :class:`RandomFaceWarp`: one
    resampling per image instead of Keras' four layers in a row. Every layer keeps values
    inside [0, 1] (contrast and brightness clip to that range; the warp interpolates
    between existing values).
    """
    from .env import import_tensorflow

    _, keras = import_tensorflow()
    cfg = augmentation_settings(**overrides)
    layers = keras.layers
    return keras.Sequential([
        random_face_warp(cfg["rotation"], cfg["zoom"], cfg["translation"], seed=seed),
        layers.RandomContrast(cfg["contrast"], value_range=(0.0, 1.0), seed=seed + 4),
        layers.RandomBrightness(cfg["brightness"], value_range=(0.0, 1.0), seed=seed + 5),
    ], name="face_augmentation")


def warp_matrices(flip, angle, zoom, shift_x, shift_y, height: int, width: int):
    """Output-to-input pixel maps of flip, then rotation, zoom and shift, as one matrix each.

    All arguments but the sizes are (B,) tensors: ``flip`` 0/1, ``angle`` in radians,
    ``zoom`` a scale (> 1 shows more of the frame, as in ``keras.layers.RandomZoom``),
    shifts in pixels. Returns (B, 8) rows ``[a0, a1, a2, b0, b1, b2, 0, 0]`` for
    ``keras.ops.image.affine_transform``: the output pixel (x, y) reads the input at
    (a0 x + a1 y + a2, b0 x + b1 y + b2).

    Each Keras layer maps its output back to its input, so a chain applied in the order
    flip, rotate, zoom, shift reads ``F R Z T p``; the product is taken here once.
    Rotation and zoom act about the centre ((W - 1) / 2, (H - 1) / 2), as Keras' do.
    """
    from .env import import_tensorflow

    _, keras = import_tensorflow()
    ops = keras.ops
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    sign = 1.0 - 2.0 * ops.cast(flip, "float32")          # -1 where flipped
    cos, sin = ops.cos(angle) * zoom, ops.sin(angle) * zoom
    # R Z T about the centre: p_in - c = zoom * rot(angle) (p_out - shift - c)
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    tx = cx - a0 * (cx + shift_x) - a1 * (cy + shift_y)
    ty = cy - b0 * (cx + shift_x) - b1 * (cy + shift_y)
    # then the flip: x_in -> (W - 1) - x_in where flipped, i.e. x -> sign * (x - cx) + cx
    a0, a1, tx = sign * a0, sign * a1, sign * (tx - cx) + cx
    zeros = ops.zeros_like(a0)
    return ops.stack([a0, a1, tx, b0, b1, ty, zeros, zeros], axis=1)


def random_face_warp(rotation: float, zoom: float, translation: float, seed: int = 0):
    """A Keras layer: horizontal flip, rotation, zoom and shift of (B, H, W, C) batches, fused.

    Same ranges as ``RandomFlip("horizontal")``, ``RandomRotation(rotation)`` (a fraction of
    a full turn), ``RandomZoom(zoom)`` (aspect kept) and ``RandomTranslation(translation,
    translation)`` (fractions of the size), reflect fill, bilinear; but composed into one
    matrix and resampled once. Why: each Keras layer resamples the whole batch; on a 2-core
    CPU the four of them cost about a quarter of a light-VGG training step
    (``benchmarks/bench_training.py``), and one bilinear resampling also blurs less than three.
    Identity when ``training`` is false.
    """
    from .env import import_tensorflow

    _, keras = import_tensorflow()
    return _warp_class(keras)(rotation, zoom, translation, seed=seed)


_WARP_CLASS = None


def _warp_class(keras):
    """The layer class, defined once (it needs the Keras imported by ``import_tensorflow``)."""
    global _WARP_CLASS
    if _WARP_CLASS is not None:
        return _WARP_CLASS
    ops = keras.ops

    @keras.saving.register_keras_serializable(package="fercourse")
    class RandomFaceWarp(keras.layers.Layer):
        def __init__(self, rotation, zoom, translation, seed=0, **kwargs):
            super().__init__(**kwargs)
            self.rotation, self.zoom, self.translation = float(rotation), float(zoom), float(translation)
            self.seed = int(seed)
            self.generator = keras.random.SeedGenerator(self.seed)
            self.supports_masking = False

        def call(self, images, training=True):
            if not training:
                return images
            images = ops.convert_to_tensor(images)
            shape = ops.shape(images)
            batch, height, width = shape[0], images.shape[1], images.shape[2]

            def uniform(limit):
                return keras.random.uniform((batch,), -limit, limit, seed=self.generator)

            flip = ops.cast(keras.random.uniform((batch,), 0.0, 1.0, seed=self.generator) < 0.5,
                            "float32")
            angle = uniform(self.rotation * 2.0 * math.pi)
            scale = 1.0 + uniform(self.zoom)
            shift_x = uniform(self.translation) * width
            shift_y = uniform(self.translation) * height
            matrices = warp_matrices(flip, angle, scale, shift_x, shift_y, height, width)
            out = ops.image.affine_transform(ops.cast(images, "float32"), matrices,
                                             interpolation="bilinear", fill_mode="reflect")
            return ops.cast(out, images.dtype)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "rotation": self.rotation, "zoom": self.zoom,
                    "translation": self.translation, "seed": self.seed}

    _WARP_CLASS = RandomFaceWarp
    return _WARP_CLASS


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
