"""Q2: up-convolutional inversion (Dosovitskiy & Brox 2016), up-sampling artefacts and spectra.

* :func:`decoder` -- an up-convolutional network from a layer's features back to the image:
  stride-2 transposed convolutions (kernel 4, divisible by the stride) with ReLU, then a 3x3
  convolution to RGB in [0, 1] (sigmoid).
* :func:`feature_extractor` -- the frozen classifier up to a layer.
* :func:`checkerboard` -- how unevenly an up-sampler covers its output (Odena et al. 2016).
* :func:`radial_spectrum` -- azimuthally averaged power spectrum (Durall et al. 2020).
"""
from __future__ import annotations

import numpy as np

from ..env import import_tensorflow

tf, keras = import_tensorflow()


def feature_extractor(model, layer: str):
    """``model``'s inputs -> ``layer``'s output (a new functional model sharing the weights)."""
    return keras.Model(model.inputs, model.get_layer(layer).output, name=f"features_{layer}")


def decoder(feature_shape, output_size: int = 128, widths=(64, 32, 16, 8), name: str = "decoder"):
    """Features (B, h, w, C) -> images (B, S, S, 3) in [0, 1], ``S = output_size``.

    ``log2(S / h)`` up-steps, each ``Conv2DTranspose(kernel 4, stride 2, same) + ReLU``; the
    widths are the last entries of ``widths`` (coarse to fine). Raises for non-power-of-2 ratios.
    """
    h = feature_shape[0]
    steps = int(round(np.log2(output_size / h)))
    if h * 2 ** steps != output_size:
        raise ValueError(f"output size {output_size} is not {h} times a power of 2")
    layers = keras.layers
    x = inputs = keras.Input(tuple(feature_shape), name="features")
    for i, width in enumerate(widths[len(widths) - steps:] if steps else []):
        x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", activation="relu", name=f"up{i + 1}")(x)
    outputs = layers.Conv2D(3, 3, padding="same", activation="sigmoid", dtype="float32", name="rgb")(x)
    return keras.Model(inputs, outputs, name=name)


def checkerboard(kind: str, size: int = 16, seed: int = 0) -> np.ndarray:
    """The output (2*size, 2*size) of an up-sampler with all-ones weights applied to a constant
    input: uniform for a good up-sampler, a checkerboard when windows overlap unevenly.

    ``kind``: "transposed k3 s2" (3 is not divisible by 2), "transposed k4 s2", or
    "resize + conv3" (nearest-neighbour up-sampling, then a 3x3 convolution).
    """
    x = np.ones((1, size, size, 1), np.float32)
    if kind.startswith("transposed"):
        k = int(kind.split()[1][1:])
        out = tf.nn.conv2d_transpose(x, np.ones((k, k, 1, 1), np.float32), (1, 2 * size, 2 * size, 1), 2, "SAME")
    elif kind == "resize + conv3":
        up = tf.image.resize(x, (2 * size, 2 * size), method="nearest")
        out = tf.nn.conv2d(up, np.ones((3, 3, 1, 1), np.float32), 1, "SAME")
    else:
        raise ValueError(f"unknown up-sampler {kind!r}")
    return out.numpy()[0, :, :, 0]


def unevenness(output, border: int = 2) -> float:
    """Relative spread (std / mean) of an up-sampler's output away from the border: 0 = even."""
    inner = np.asarray(output)[border:-border, border:-border]
    return float(inner.std() / inner.mean())


def radial_spectrum(images) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthally averaged power spectrum of grayscale versions of ``images`` (B, S, S, 3) in
    [0, 1]: (spatial frequency in cycles per pixel (S//2,), mean log10 power per ring)."""
    gray = np.asarray(images, np.float64).mean(axis=-1)
    gray = gray - gray.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fftshift(np.fft.fft2(gray), axes=(1, 2))) ** 2
    s = gray.shape[1]
    yy, xx = np.indices((s, s)) - s // 2
    radius = np.hypot(yy, xx).round().astype(int)
    rings = np.arange(s // 2)
    log_power = np.log10(power.mean(axis=0) + 1e-12)
    profile = np.array([log_power[radius == r].mean() for r in rings])
    return rings / s, profile


def estimated_shift(reference, moved) -> np.ndarray:
    """The translation (dy, dx) that takes ``reference`` to ``moved`` (images (H, W, 3) or
    batches (B, H, W, 3)), by OpenCV's phase correlation of their grayscale versions;
    sub-pixel, (B, 2)."""
    import cv2

    ref, mov = np.asarray(reference, np.float64), np.asarray(moved, np.float64)
    if ref.ndim == 3:
        ref, mov = ref[None], mov[None]
    window = cv2.createHanningWindow(ref.shape[1:3][::-1], cv2.CV_64F)
    out = []
    for a, b in zip(ref.mean(-1), mov.mean(-1)):
        (dx, dy), _ = cv2.phaseCorrelate(a, b, window)
        out.append((dy, dx))
    return np.array(out)


def position_kept(reconstruct, images, shift: tuple[int, int] = (0, 8)) -> np.ndarray:
    """How well a reconstruction follows a moved input: shift the images (circularly) by
    ``shift``, reconstruct both versions, and estimate the displacement between the two
    reconstructions. Returns the error |estimated - true| in pixels per image (B,)."""
    images = np.asarray(images, np.float32)
    moved = np.roll(images, shift, axis=(1, 2))
    estimate = estimated_shift(reconstruct(images), reconstruct(moved))
    return np.abs(estimate - np.asarray(shift, np.float64)).max(axis=1)
