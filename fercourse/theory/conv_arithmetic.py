"""Convolution arithmetic: dilated correlation, dilated kernels, output sizes, receptive fields.

Used by the Q4 chapter and by any chapter that needs the sizes of a convolution. Images
are 2-D arrays indexed (row, column); "convolution" means cross-correlation, as in every
deep-learning library and as the question defines it:

    (K * I)(i, j) = sum_m sum_n K(m, n) I(i + D m, j + D n),   valid positions only.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np


def _as_2d(name: str, array) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return arr


def _check_dilation(dilation) -> int:
    if isinstance(dilation, bool) or not isinstance(dilation, (int, np.integer)) or dilation < 1:
        raise ValueError(f"dilation must be an integer >= 1, got {dilation!r}")
    return int(dilation)


def effective_kernel_size(size: int, dilation: int = 1) -> int:
    """Span of a kernel of ``size`` taps with ``dilation``: D (F - 1) + 1."""
    return _check_dilation(dilation) * (size - 1) + 1


def dilated_correlate(image, kernel, dilation: int = 1) -> np.ndarray:
    """The question's dilated correlation, valid positions only.

    ``image`` (M, N), ``kernel`` (F1, F2) -> output (M - D(F1-1), N - D(F2-1)), float64.
    Vectorised: one strided view of all windows, then one ``einsum`` (no loop over pixels).
    """
    image = _as_2d("image", image).astype(np.float64)
    kernel = _as_2d("kernel", kernel).astype(np.float64)
    d = _check_dilation(dilation)
    span = tuple(effective_kernel_size(f, d) for f in kernel.shape)
    if span[0] > image.shape[0] or span[1] > image.shape[1]:
        raise ValueError(
            f"the dilated kernel spans {span[0]}x{span[1]} pixels (kernel {kernel.shape[0]}x{kernel.shape[1]}, "
            f"dilation {d}) but the image is only {image.shape[0]}x{image.shape[1]}"
        )
    windows = np.lib.stride_tricks.sliding_window_view(image, span)[:, :, ::d, ::d]  # (out_r, out_c, F1, F2)
    return np.einsum("ijmn,mn->ij", windows, kernel)


def kron_factor(dilation: int) -> np.ndarray:
    """The D x D matrix A of Q4.3: 1 at its top-left entry, 0 elsewhere."""
    d = _check_dilation(dilation)
    a = np.zeros((d, d))
    a[0, 0] = 1.0
    return a


def dilate_kernel(kernel, dilation: int, trim: bool = True) -> np.ndarray:
    """The dilated kernel K' = K (x) A (Kronecker product), float64.

    Untrimmed it is (D F1, D F2), with D - 1 all-zero trailing rows and columns; ``trim``
    removes them, leaving (D(F1-1)+1, D(F2-1)+1), whose valid correlation reproduces
    :func:`dilated_correlate` exactly.
    """
    kernel = _as_2d("kernel", kernel).astype(np.float64)
    d = _check_dilation(dilation)
    full = np.kron(kernel, kron_factor(d))
    if not trim:
        return full
    return full[: full.shape[0] - (d - 1), : full.shape[1] - (d - 1)]


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution along one axis: floor((n + 2p - D(k-1) - 1) / s) + 1.

    Raises ``ValueError`` when the dilated kernel does not fit the padded input.
    """
    for name, value, minimum in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                                 ("padding", padding, 0)):
        if not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    span = effective_kernel_size(kernel, dilation)
    if span > size + 2 * padding:
        raise ValueError(f"kernel span {span} exceeds the padded input {size + 2 * padding}")
    return (size + 2 * padding - span) // stride + 1


@dataclasses.dataclass(frozen=True)
class ConvLayer:
    """One convolution (or pooling) layer along one axis, for receptive-field arithmetic."""

    kernel: int
    stride: int = 1
    dilation: int = 1
    padding: int = 0
    name: str = ""

    @property
    def span(self) -> int:
        return effective_kernel_size(self.kernel, self.dilation)


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one unit after a layer (input pixels, along one axis).

    ``size``: how many input pixels one unit sees; ``jump``: input pixels between two
    neighbouring units; ``start``: input coordinate of the centre of the first unit's
    field (pixel centres at 0, 1, ...); ``output``: the feature-map length, when the
    input length is known.
    """

    layer: str
    size: int
    jump: int
    start: float
    output: int | None


def receptive_fields(layers: Sequence[ConvLayer], input_size: int | None = None) -> list[ReceptiveField]:
    """Receptive field after each layer of a stack (the standard recurrences).

        jump_l  = jump_{l-1} * s_l
        size_l  = size_{l-1} + (span_l - 1) * jump_{l-1},   span_l = D_l (k_l - 1) + 1
        start_l = start_{l-1} + ((span_l - 1) / 2 - p_l) * jump_{l-1}
    """
    size, jump, start, length = 1, 1, 0.0, input_size
    out = []
    for i, layer in enumerate(layers):
        size = size + (layer.span - 1) * jump
        start = start + ((layer.span - 1) / 2 - layer.padding) * jump
        jump = jump * layer.stride
        if length is not None:
            length = conv_output_size(length, layer.kernel, layer.stride, layer.padding, layer.dilation)
        out.append(ReceptiveField(layer.name or f"layer {i + 1}", size, jump, start, length))
    return out


def receptive_field_table(layers: Sequence[ConvLayer], input_size: int | None = None):
    """:func:`receptive_fields` as a pandas DataFrame (one row per layer)."""
    import pandas as pd

    rows = []
    for layer, rf in zip(layers, receptive_fields(layers, input_size)):
        rows.append({"layer": rf.layer, "kernel": layer.kernel, "stride": layer.stride,
                     "dilation": layer.dilation, "RF size": rf.size, "jump": rf.jump, "start": rf.start,
                     **({"output": rf.output} if input_size is not None else {})})
    return pd.DataFrame(rows)


def gradient_map(model, input_shape: tuple[int, int], position: tuple[int, int] | None = None) -> np.ndarray:
    """|d output / d input| of one output unit of a Keras model, summed over channels.

    ``model`` maps (1, H, W, C) to (1, H', W', C'); the unit is channel-summed output at
    ``position`` (default: the centre). The input is all ones; for a linear stack the
    map does not depend on it. Returns an (H, W) float64 array: the *effective*
    receptive field, whose non-zero support is the theoretical receptive field.
    """
    from ..env import import_tensorflow

    tf, _ = import_tensorflow()
    channels = model.inputs[0].shape[-1]
    x = tf.Variable(tf.ones((1, *input_shape, channels), dtype=model.inputs[0].dtype))
    with tf.GradientTape() as tape:
        y = model(x)
        r, c = position if position is not None else (y.shape[1] // 2, y.shape[2] // 2)
        unit = tf.reduce_sum(y[0, r, c, :])
    grad = tape.gradient(unit, x)
    return np.abs(np.asarray(grad, dtype=np.float64)[0]).sum(axis=-1)


def support_extent(grad: np.ndarray, tol: float = 0.0) -> tuple[int, int]:
    """Height and width of the bounding box of the entries of ``grad`` above ``tol``."""
    rows = np.flatnonzero(np.any(np.abs(grad) > tol, axis=1))
    cols = np.flatnonzero(np.any(np.abs(grad) > tol, axis=0))
    if rows.size == 0:
        return 0, 0
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def conv_stack(layers: Sequence[ConvLayer], channels: int = 1, seed: int = 0, dtype: str = "float64"):
    """A linear Keras stack of Conv2D layers matching ``layers`` (square kernels, no bias).

    Without activations and biases the gradient of an output unit has no accidental
    zeros, so its support is exactly the receptive field. Padding follows each layer's
    ``padding`` (0 -> "valid"; (span - 1) / 2 -> "same").
    """
    from ..env import import_tensorflow

    _, keras = import_tensorflow()
    model_layers = [keras.Input(shape=(None, None, channels), dtype=dtype)]
    for i, layer in enumerate(layers):
        if layer.padding == 0:
            padding = "valid"
        elif 2 * layer.padding == layer.span - 1 and layer.stride == 1:
            padding = "same"
        else:
            raise ValueError(f"layer {i + 1}: Keras supports padding 0 or (span-1)/2 only, got {layer.padding}")
        model_layers.append(keras.layers.Conv2D(
            channels, layer.kernel, strides=layer.stride, dilation_rate=layer.dilation, padding=padding,
            use_bias=False, dtype=dtype, name=f"conv{i + 1}",  # display names may hold "/"
            kernel_initializer=keras.initializers.RandomUniform(0.1, 1.0, seed=seed + i),
        ))
    return keras.Sequential(model_layers)


# --- checks used by the Q4 chapter ------------------------------------------------------

def symbolic_output_size() -> dict:
    """Q4.2 with sympy: the output size from the effective kernel size.

    Returns the symbols and expressions ``span = D(F-1)+1``, ``rows = M - span + 1``,
    ``cols = N - span + 1``, and ``matches`` -- whether rows - (M - DF + D) and
    cols - (N - DF + D) simplify to 0.
    """
    import sympy as sp

    M, N, F, D = sp.symbols("M N F D", integer=True, positive=True)
    span = D * (F - 1) + 1
    rows, cols = sp.expand(M - span + 1), sp.expand(N - span + 1)
    matches = sp.simplify(rows - (M - D * F + D)) == 0 and sp.simplify(cols - (N - D * F + D)) == 0
    return {"symbols": (M, N, F, D), "span": span, "rows": rows, "cols": cols, "matches": bool(matches)}


def tf_dilated_conv(image, kernel, dilation: int) -> np.ndarray:
    """``tf.nn.conv2d(..., dilations=D, padding="VALID")`` on a 2-D image and kernel, float64."""
    from ..env import import_tensorflow

    tf, _ = import_tensorflow()
    image = _as_2d("image", image).astype(np.float64)
    kernel = _as_2d("kernel", kernel).astype(np.float64)
    out = tf.nn.conv2d(image[None, :, :, None], kernel[:, :, None, None], strides=1, padding="VALID",
                       dilations=_check_dilation(dilation))
    return np.asarray(out)[0, :, :, 0]


def output_size_checks(sizes: Sequence[tuple[int, int, int, int]], seed: int = 0):
    """For each (M, N, F, D): the formula (M-DF+D, N-DF+D) against the shapes produced by
    :func:`dilated_correlate` and by ``tf.nn.conv2d``. Returns a pandas DataFrame."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for m, n, f, d in sizes:
        image, kernel = rng.normal(size=(m, n)), rng.normal(size=(f, f))
        formula = (m - d * f + d, n - d * f + d)
        ours, theirs = dilated_correlate(image, kernel, d).shape, tf_dilated_conv(image, kernel, d).shape
        rows.append({"M": m, "N": n, "F": f, "D": d, "formula": formula, "reference": ours,
                     "tf.nn.conv2d": theirs, "agree": formula == ours == theirs})
    return pd.DataFrame(rows)


def kronecker_checks(image, kernel, dilation: int) -> dict:
    """Q4.3 numerically: the dilated correlation three ways, and the untrimmed shape.

    Returns max |difference| between the reference and ``tf.nn.conv2d``, between the
    reference and ordinary correlation with the trimmed K (x) A, and the output shapes
    of the dilated correlation and of correlation with the *untrimmed* K (x) A.
    """
    reference = dilated_correlate(image, kernel, dilation)
    via_tf = tf_dilated_conv(image, kernel, dilation)
    via_kron = dilated_correlate(image, dilate_kernel(kernel, dilation, trim=True), 1)
    untrimmed = dilated_correlate(image, dilate_kernel(kernel, dilation, trim=False), 1)
    return {
        "max |reference - tf.nn.conv2d|": float(np.max(np.abs(reference - via_tf))),
        "max |reference - correlate(I, trimmed K(x)A)|": float(np.max(np.abs(reference - via_kron))),
        "dilated output shape": reference.shape,
        "untrimmed K(x)A output shape": untrimmed.shape,
        "untrimmed output = top-left block": bool(np.allclose(untrimmed, reference[: untrimmed.shape[0],
                                                                                      : untrimmed.shape[1]])),
    }


def _measured_width(layers: Sequence[ConvLayer]) -> int:
    """Width of the gradient support of the centre unit of a real Keras stack."""
    side = receptive_fields(layers)[-1].size + 2  # just large enough for one full field
    return support_extent(gradient_map(conv_stack(layers), (side, side)))[1]


def growth_table(max_layers: int, kernel: int = 3, measure: bool = True):
    """Receptive field of L stacked K x K layers, plain (D=1) vs dilated (D = 1, 2, 4, ...).

    Closed forms: plain 1 + L(K-1); dilated with doubling rates 1 + (K-1)(2^L - 1).
    With ``measure``, each value is also read off the gradient support of a real Keras stack.
    """
    import pandas as pd

    rows = []
    for depth in range(1, max_layers + 1):
        plain = [ConvLayer(kernel) for _ in range(depth)]
        dilated = [ConvLayer(kernel, dilation=2**i) for i in range(depth)]
        row = {"L": depth,
               "plain": receptive_fields(plain)[-1].size,
               "1+L(K-1)": 1 + depth * (kernel - 1)}
        if measure:
            row["plain (grad)"] = _measured_width(plain)
        row["dilated"] = receptive_fields(dilated)[-1].size
        row["1+(K-1)(2^L-1)"] = 1 + (kernel - 1) * (2**depth - 1)
        if measure:
            row["dilated (grad)"] = _measured_width(dilated)
        rows.append(row)
    return pd.DataFrame(rows)

