"""Translation equivariance, measured: shift operators, the equivariance error of any callable,
shift consistency of a classifier (Zhang 2019), anti-aliased down-sampling and a rotation-lifting
convolution, all in NumPy. Elsewhere: the same measured on a trained Keras model
(:mod:`~fercourse.theory.model_equivariance`), the shift theorem in sympy
(:mod:`~fercourse.theory.shift_theorem`), the Keras anti-aliasing layer
(:mod:`fercourse.models.blurpool`) and the sentences about the results (:mod:`fercourse.narrate`).

Arrays are channels-last: a 1-D signal is (..., L, C) or (L,), an image (..., H, W, C). The
shift ``L_t`` moves content *forward*: ``(L_t x)[i] = x[i - t]``.

* ``mode="circular"``: content leaving one side re-enters at the other (the torus, where the
  convolution theorem holds exactly);
* ``mode="zero"``: the vacated pixels become 0 (what a camera sees when a face moves);
* sub-pixel shifts (:func:`fourier_shift`): multiply the spectrum by a phase ramp (circular).
"""
from __future__ import annotations

import math

import numpy as np


def _spatial_axes(x, dims: int) -> tuple[int, ...]:
    """The ``dims`` spatial axes of channels-last ``x`` (a bare 1-D/2-D array has no channels)."""
    x = np.asarray(x)
    if x.ndim == dims:
        return tuple(range(dims))
    if x.ndim < dims + 1:
        raise ValueError(f"need at least {dims + 1} dimensions (..., spatial, channels), got shape {x.shape}")
    return tuple(range(x.ndim - dims - 1, x.ndim - 1))


def shift(x, t, mode: str = "circular") -> np.ndarray:
    """``L_t x`` for an integer shift ``t`` (int for 1-D, (ty, tx) for 2-D; channels-last)."""
    offsets = (t,) if np.isscalar(t) else tuple(t)
    if any(int(o) != o for o in offsets):
        raise ValueError(f"integer shifts only, got {t!r} (use fourier_shift for sub-pixel shifts)")
    offsets = tuple(int(o) for o in offsets)
    x = np.asarray(x)
    axes = _spatial_axes(x, len(offsets))
    if mode == "circular":
        return np.roll(x, offsets, axis=axes)
    if mode != "zero":
        raise ValueError(f"mode must be 'circular' or 'zero', got {mode!r}")
    out = np.zeros_like(x)
    src, dst = [slice(None)] * x.ndim, [slice(None)] * x.ndim
    for axis, o in zip(axes, offsets):
        n = x.shape[axis]
        if abs(o) >= n:
            return out
        src[axis] = slice(max(0, -o), n - max(0, o))
        dst[axis] = slice(max(0, o), n - max(0, -o))
    out[tuple(dst)] = x[tuple(src)]
    return out


def fourier_shift(x, t) -> np.ndarray:
    """Circular shift by a real ``t`` (scalar for 1-D, (ty, tx) for 2-D) via a phase ramp.

    Equals :func:`shift` (circular) for integer ``t``; in between it is the band-limited
    interpolation. Real input gives real output.
    """
    offsets = (float(t),) if np.isscalar(t) else tuple(float(o) for o in t)
    x = np.asarray(x, np.float64)
    axes = _spatial_axes(x, len(offsets))
    spectrum = np.fft.fftn(x, axes=axes)
    for axis, o in zip(axes, offsets):
        n = x.shape[axis]
        freq = np.fft.fftfreq(n)
        ramp = np.exp(-2j * np.pi * freq * o)
        if n % 2 == 0 and o != int(o):
            ramp[n // 2] = np.cos(np.pi * o)  # the Nyquist bin has no sign: keep the result real
        shape = [1] * x.ndim
        shape[axis] = n
        spectrum = spectrum * ramp.reshape(shape)
    return np.real(np.fft.ifftn(spectrum, axes=axes))


def crop(y, border: int, dims: int) -> np.ndarray:
    """``y`` without ``border`` pixels on each side of its last ``dims`` spatial axes."""
    if border <= 0:
        return y
    index = [slice(None)] * y.ndim
    for axis in _spatial_axes(y, dims):
        if 2 * border >= y.shape[axis]:
            raise ValueError(f"border {border} leaves nothing of an axis of length {y.shape[axis]}")
        index[axis] = slice(border, y.shape[axis] - border)
    return y[tuple(index)]


def equivariance_error(f, x, t, *, stride: int = 1, mode: str = "circular", border: int = 0) -> float:
    """``||f(L_t x) - L_t' f(x)|| / ||f(x)||`` with ``t' = t / stride``.

    ``f``: any callable (a function, a Keras layer or model) from channels-last arrays to
    arrays. ``t``: int (1-D) or (ty, tx). Where ``t / stride`` is not an integer, the output
    shift is the sub-pixel Fourier shift (the best a down-sampled map could do). ``border``
    excludes that many positions at each edge of the output from both norms.
    """
    offsets = (t,) if np.isscalar(t) else tuple(t)
    dims = len(offsets)
    x = np.asarray(x, np.float32)
    y = np.asarray(f(x), np.float64)
    y_shifted_input = np.asarray(f(shift(x, offsets if dims > 1 else offsets[0], mode)), np.float64)
    out_offsets = tuple(o / stride for o in offsets)
    if all(float(o).is_integer() for o in out_offsets):
        moved = shift(y, tuple(int(o) for o in out_offsets) if dims > 1 else int(out_offsets[0]), mode)
    else:
        moved = fourier_shift(y, out_offsets if dims > 1 else out_offsets[0])
    a, b = crop(y_shifted_input, border, dims), crop(moved, border, dims)
    norm = np.linalg.norm(crop(y, border, dims))
    return float(np.linalg.norm(a - b) / norm) if norm > 0 else float(np.linalg.norm(a - b))


def invariance_error(f, x, t, mode: str = "circular") -> float:
    """``||f(L_t x) - f(x)|| / ||f(x)||``: for outputs without spatial axes (pooled, logits)."""
    x = np.asarray(x, np.float32)
    y = np.asarray(f(x), np.float64)
    y2 = np.asarray(f(shift(x, t, mode)), np.float64)
    norm = np.linalg.norm(y)
    return float(np.linalg.norm(y2 - y) / norm) if norm > 0 else float(np.linalg.norm(y2 - y))


def shift_consistency(predict, images, max_shift: int, *, seed: int = 0, mode: str = "circular",
                      batch_size: int = 64) -> dict:
    """Zhang (2019)'s shift consistency of a classifier at one shift size.

    For each image two shifts are drawn, each component uniform in ``[-max_shift, max_shift]``;
    ``predict`` (images (B, H, W, C) -> probabilities (B, K)) classifies both. Returns
    ``{"consistency": share of images whose two classes agree, "probability change": mean
    |p_c(x1) - p_c(x2)| for the class c predicted for x1}``.
    """
    images = np.asarray(images, np.float32)
    rng = np.random.default_rng(seed)
    offsets = rng.integers(-max_shift, max_shift + 1, size=(2, len(images), 2))
    probs = []
    for k in range(2):
        moved = np.stack([shift(img, tuple(o), mode) for img, o in zip(images, offsets[k])])
        probs.append(np.concatenate([np.asarray(predict(moved[i:i + batch_size]), np.float64)
                                     for i in range(0, len(moved), batch_size)]))
    c1, c2 = probs[0].argmax(1), probs[1].argmax(1)
    rows = np.arange(len(images))
    return {"consistency": float(np.mean(c1 == c2)),
            "probability change": float(np.mean(np.abs(probs[0][rows, c1] - probs[1][rows, c1])))}


def conv2d(x, kernel, *, padding: str = "circular", stride: int = 1) -> np.ndarray:
    """Cross-correlation of images (B, H, W, C) with ``kernel`` (k, k, C, C') by ``tf.nn.conv2d``.

    ``padding="circular"``: the image is wrapped around by k // 2 on each side (the torus);
    ``"zero"``: Keras' "same" zero padding. Returns (B, H / stride, W / stride, C') float64.
    """
    from ..env import import_tensorflow

    tf, _ = import_tensorflow()
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    k = kernel.shape[0]
    if padding == "circular":
        lo, hi = (k - 1) // 2, k // 2
        x = np.pad(x, [(0, 0), (lo, hi), (lo, hi), (0, 0)], mode="wrap")
        return tf.nn.conv2d(x, kernel, stride, "VALID").numpy()
    if padding == "zero":
        return tf.nn.conv2d(x, kernel, stride, "SAME").numpy()
    raise ValueError(f"padding must be 'circular' or 'zero', got {padding!r}")


def max_pool(x, size: int = 2) -> np.ndarray:
    """Non-overlapping max-pooling of (B, H, W, C) (H, W multiples of ``size``)."""
    x = np.asarray(x)
    b, h, w, c = x.shape
    return x.reshape(b, h // size, size, w // size, size, c).max(axis=(2, 4))


def max_blur_pool(x, size: int = 3) -> np.ndarray:
    """Zhang's anti-aliased max-pool on the torus, for (B, H, W, C): the max over 2x2 windows
    at stride 1, a binomial blur (``size`` taps), then every second pixel - all circular, so
    that even shifts stay exact (:class:`fercourse.models.blurpool.BlurPool2D` is the Keras layer, with reflect padding)."""
    x = np.asarray(x, np.float64)
    m = np.maximum.reduce([np.roll(x, (-dy, -dx), axis=(1, 2)) for dy in (0, 1) for dx in (0, 1)])
    kernel = binomial_filter(size).astype(np.float64)
    half = (size - 1) // 2
    blurred = sum(kernel[i, j] * np.roll(m, (half - i, half - j), axis=(1, 2))
                  for i in range(size) for j in range(size))
    return blurred[:, ::2, ::2]


def binomial_filter(size: int = 3) -> np.ndarray:
    """The 2-D binomial low-pass filter (size x size), normalised to sum 1: [1, 2, 1] x [1, 2, 1] / 16."""
    row = np.array([math.comb(size - 1, k) for k in range(size)], np.float64)
    kernel = np.outer(row, row)
    return (kernel / kernel.sum()).astype(np.float32)


def rotate90(x, k: int = 1) -> np.ndarray:
    """Rotate images (B, H, W, ...) by k quarter turns (counter-clockwise)."""
    return np.rot90(np.asarray(x), k, axes=(1, 2))


def p4_lift(x, kernel) -> np.ndarray:
    """A rotation-lifting convolution (Cohen & Welling 2016, group p4): the image correlated
    (circularly) with the kernel turned by 0, 90, 180 and 270 degrees.

    ``x`` (B, H, W, C), ``kernel`` (k, k, C, C') -> (B, H, W, 4, C'). Rotating the input by 90
    degrees rotates every map and shifts the rotation axis by one (see :func:`p4_error`).
    ``k`` must be odd so that the kernel turns about its centre pixel.
    """
    kernel = np.asarray(kernel)
    if kernel.shape[0] % 2 == 0:
        raise ValueError("p4_lift needs an odd kernel size (the rotation centre is a pixel)")
    return np.stack([conv2d(x, np.rot90(kernel, r, axes=(0, 1))) for r in range(4)], axis=3)


def p4_error(x, kernel) -> dict:
    """Relative errors of the two rotation checks: the lifting layer is equivariant
    (``lift(R x) == R roll(lift(x), 1 along rotations)``), a plain convolution is not
    (``conv(R x)`` vs ``R conv(x)``)."""
    x = np.asarray(x, np.float64)
    lifted, lifted_rot = p4_lift(x, kernel), p4_lift(rotate90(x), kernel)
    expected = rotate90(np.roll(lifted, 1, axis=3))
    plain, plain_rot = conv2d(x, kernel), conv2d(rotate90(x), kernel)
    rel = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))  # noqa: E731
    return {"p4 lifting convolution": rel(lifted_rot, expected), "plain convolution": rel(plain_rot, rotate90(plain))}
