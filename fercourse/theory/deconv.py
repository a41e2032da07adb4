"""Q2: transposed convolution as the adjoint of convolution, and a Zeiler-Fergus deconvnet.

* :func:`adjoint_gap` checks ``<conv(x), y> = <conv_transpose(y), x>`` with ``tf.nn.conv2d``
  and ``tf.nn.conv2d_transpose``; :func:`convolution_matrix` writes a small convolution as the
  matrix ``C`` (so ``conv(x) = C x`` and the transposed convolution is ``C^T``).
* :class:`Deconvnet` projects one feature map (or its strongest activation) of a Keras model
  made of Conv2D (ReLU or linear) and MaxPooling2D layers back to pixel space. The backward
  pass has three rules that differ only at the ReLUs (Springenberg et al. 2015):
  ``"deconvnet"`` keeps the positive part of the signal coming back (Zeiler & Fergus 2014),
  ``"gradient"`` keeps it where the forward pre-activation was positive (backpropagation),
  ``"guided"`` does both (guided backpropagation). Max-pooling is undone through its switches
  (the position of each window's maximum) in all three.
"""
from __future__ import annotations

import numpy as np

from ..env import import_tensorflow

tf, keras = import_tensorflow()


def adjoint_gap(x_shape, kernel_shape, stride: int = 1, padding: str = "SAME", seed: int = 0) -> float:
    """Relative gap ``|<conv(x), y> - <conv_T(y), x>| / (|conv(x)| |y|)`` for random ``x``
    (B, H, W, C), kernel (k, k, C, C') and ``y`` of conv(x)'s shape, in float64."""
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.standard_normal(x_shape))
    kernel = tf.constant(rng.standard_normal(kernel_shape))
    forward = tf.nn.conv2d(x, kernel, stride, padding)
    y = tf.constant(rng.standard_normal(forward.shape))
    back = tf.nn.conv2d_transpose(y, kernel, x.shape, stride, padding)
    lhs = float(tf.reduce_sum(forward * y))
    rhs = float(tf.reduce_sum(back * x))
    return abs(lhs - rhs) / float(tf.norm(forward) * tf.norm(y))


def convolution_matrix(input_size: int, kernel, stride: int = 1) -> np.ndarray:
    """The matrix ``C`` of a single-channel, "valid" 2-D cross-correlation of an
    ``input_size`` x ``input_size`` image with ``kernel`` (k x k) at ``stride``: ``conv(x)``
    flattened equals ``C @ x.ravel()``; ``C.T`` is the transposed convolution."""
    kernel = np.asarray(kernel, np.float64)
    k = kernel.shape[0]
    out = (input_size - k) // stride + 1
    matrix = np.zeros((out * out, input_size * input_size))
    for i in range(out):
        for j in range(out):
            window = np.zeros((input_size, input_size))
            window[i * stride:i * stride + k, j * stride:j * stride + k] = kernel
            matrix[i * out + j] = window.ravel()
    return matrix


def unpool(values, switches, size: int = 2) -> np.ndarray:
    """Put each pooled value (B, h, w, C) back at its switch: ``switches`` (B, h*size, w*size, C)
    is 1 where the forward max-pool took its maximum, 0 elsewhere."""
    up = np.repeat(np.repeat(np.asarray(values), size, axis=1), size, axis=2)
    return up * np.asarray(switches)


def pool_switches(x, size: int = 2) -> np.ndarray:
    """Where each ``size`` x ``size`` window of ``x`` (B, H, W, C) has its maximum (one per
    window: the first in row-major order on ties), as a 0/1 array of ``x``'s shape."""
    x = np.asarray(x)
    b, h, w, c = x.shape
    windows = x.reshape(b, h // size, size, w // size, size, c).transpose(0, 1, 3, 5, 2, 4)
    flat = windows.reshape(b, h // size, w // size, c, size * size)
    first = np.argmax(flat, axis=-1)
    onehot = np.eye(size * size, dtype=x.dtype)[first]  # (b, h', w', c, size*size)
    return (onehot.reshape(b, h // size, w // size, c, size, size).transpose(0, 1, 4, 2, 5, 3)
            .reshape(b, h, w, c))


RULES = ("deconvnet", "guided", "gradient")


class Deconvnet:
    """Project activations of ``layer`` of a Keras ``model`` back to the input.

    ``model``: a chain of Conv2D (ReLU or linear activation, any padding Keras supports with
    stride 1) and MaxPooling2D(2) layers up to ``layer`` (what follows is ignored), optionally
    after a first per-image standardisation (the light VGG's): the projection then lands in
    the standardised image, which is what the first convolution sees. Other layers raise
    ``ValueError`` naming them.
    """

    def __init__(self, model, layer: str):
        self.model = model
        chain = []
        self.standardize = False
        for item in model.layers:
            if isinstance(item, keras.layers.InputLayer):
                continue
            if type(item).__name__ == "PerImageStandardization" and not chain and not self.standardize:
                self.standardize = True
                continue
            if isinstance(item, keras.layers.Conv2D) and item.strides == (1, 1):
                activation = getattr(item.activation, "__name__", "")
                if activation not in ("relu", "linear"):
                    raise ValueError(f"layer {item.name!r}: activation {activation!r}; the deconvnet handles relu/linear")
            elif isinstance(item, keras.layers.MaxPooling2D) and item.pool_size == (2, 2) and item.strides == (2, 2):
                pass
            else:
                raise ValueError(f"layer {item.name!r} ({type(item).__name__}) is not a stride-1 Conv2D or a "
                                 f"2x2 MaxPooling2D: the deconvnet cannot undo it")
            chain.append(item)
            if item.name == layer:
                break
        else:
            raise ValueError(f"model {model.name!r} has no layer {layer!r} before its first other layer")
        self.chain = chain
        self.layer = layer

    def forward(self, images):
        """Run the chain; returns the target activations and the records the backward pass needs."""
        from ..models.standardize import standardize

        x = tf.constant(standardize(images) if self.standardize else np.asarray(images, np.float32))
        records = []
        for item in self.chain:
            if isinstance(item, keras.layers.Conv2D):
                pre = tf.nn.conv2d(x, tf.cast(item.kernel, tf.float32), 1, item.padding.upper()) + tf.cast(
                    item.bias, tf.float32)
                relu = getattr(item.activation, "__name__", "") == "relu"
                records.append(("conv", item, pre.numpy() if relu else None))
                x = tf.nn.relu(pre) if relu else pre
            else:
                records.append(("pool", item, pool_switches(x.numpy())))
                x = tf.nn.max_pool2d(x, 2, 2, "VALID")
        return x.numpy(), records

    def project(self, images, channel: int, *, rule: str = "deconvnet", strongest: bool = True) -> np.ndarray:
        """Pixel-space projection (B, H, W, 3) of ``channel`` of the target layer for each image.

        ``strongest=True`` keeps only the channel's largest activation in each image (Zeiler &
        Fergus' choice); otherwise the whole map.
        """
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        activations, records = self.forward(images)
        signal = np.zeros_like(activations)
        chosen = activations[..., channel]
        if strongest:
            flat = chosen.reshape(len(chosen), -1).argmax(axis=1)
            rows, cols = np.unravel_index(flat, chosen.shape[1:])
            signal[np.arange(len(chosen)), rows, cols, channel] = chosen[np.arange(len(chosen)), rows, cols]
        else:
            signal[..., channel] = chosen
        r = tf.constant(signal)
        for kind, item, record in reversed(records):
            if kind == "pool":
                r = tf.constant(unpool(r.numpy(), record).astype(np.float32))
                continue
            if record is not None:  # a ReLU: the three rules differ only here
                if rule in ("deconvnet", "guided"):
                    r = tf.nn.relu(r)
                if rule in ("gradient", "guided"):
                    r = r * tf.cast(record > 0, r.dtype)
            shape = (r.shape[0], *item.input.shape[1:])
            r = tf.nn.conv2d_transpose(r, tf.cast(item.kernel, tf.float32), shape, 1, item.padding.upper())
        return r.numpy()


def strongest_activations(model, layer: str, images, batch_size: int = 50) -> np.ndarray:
    """Each image's largest activation of every channel of ``layer``: (N, C), computed in
    batches (a full early-layer map of a whole split would not fit in memory)."""
    tap = keras.Model(model.inputs, model.get_layer(layer).output)
    out = [np.asarray(tap.predict_on_batch(np.asarray(images[i:i + batch_size], np.float32)), np.float32).max(axis=(1, 2))
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out)


def top_channels_and_images(peaks, channels: int = 4, images: int = 3) -> dict[int, list[int]]:
    """From :func:`strongest_activations`: the ``channels`` channels with the largest mean peak,
    each with the indices of its ``images`` top-activating images (strongest first)."""
    peaks = np.asarray(peaks)
    order = np.argsort(-peaks.mean(axis=0), kind="stable")[:channels]
    return {int(c): [int(i) for i in np.argsort(-peaks[:, c], kind="stable")[:images]] for c in order}
