"""Model surgery before export: float32 copies, batch norm folded into the layer before it, the
standardisation rescaled for int8. Each returns a new model computing the same function."""
from __future__ import annotations

import numpy as np

from ..env import import_tensorflow


def float32_copy(model):
    """The same network and weights with every layer in float32 (a mixed-precision model's
    bfloat16/float16 compute would otherwise be baked into the exported graph)."""
    _, keras = import_tensorflow()

    def strip(value):
        if isinstance(value, dict):
            if value.get("class_name") == "DTypePolicy" or value.get("class_name") == "FloatDTypePolicy":
                return "float32"
            return {k: ("float32" if k == "dtype" and not isinstance(v, dict) else strip(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    copy = model.__class__.from_config(strip(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def fold_batch_norm(model):
    """A copy of ``model`` without BatchNormalization layers: each one that directly follows a
    Conv2D or Dense is folded into it (``w' = w * g / sqrt(v + eps)``, ``b' = (b - m) * g /
    sqrt(v + eps) + beta``). Functional chains only; raises if a BN has no foldable parent.
    """
    _, keras = import_tensorflow()
    model = float32_copy(model)
    layers = model.layers
    folded, keep = {}, []
    for i, layer in enumerate(layers):
        if isinstance(layer, keras.layers.BatchNormalization):
            parent = layers[i - 1]
            if not isinstance(parent, (keras.layers.Conv2D, keras.layers.Dense)) or parent.activation.__name__ != "linear":
                raise ValueError(f"{layer.name} does not follow a linear Conv2D/Dense; cannot fold it")
            gamma, beta, mean, var = (np.asarray(w, np.float64) for w in layer.get_weights())
            scale = gamma / np.sqrt(var + layer.epsilon)
            kernel, bias = (np.asarray(w, np.float64) for w in parent.get_weights()) if parent.use_bias else \
                (np.asarray(parent.get_weights()[0], np.float64), np.zeros_like(mean))
            folded[parent.name] = [(kernel * scale).astype(np.float32), ((bias - mean) * scale + beta).astype(np.float32)]
        else:
            keep.append(layer)
    return _rebuild_chain(model, keep, {name: {"use_bias": True} for name in folded}, folded, "folded")


def _rebuild_chain(model, layers, configs: dict, weights: dict, suffix: str):
    """A new functional chain of ``layers`` (the input layer first), each rebuilt from its config
    updated with ``configs[name]`` and given ``weights[name]`` or its own weights."""
    _, keras = import_tensorflow()
    x = inputs = keras.Input(model.input_shape[1:], name=model.layers[0].name)
    for layer in layers[1:]:
        x = layer.__class__.from_config({**layer.get_config(), **configs.get(layer.name, {})})(x)
    out = keras.Model(inputs, x, name=f"{model.name}_{suffix}")
    for layer in out.layers[1:]:
        layer.set_weights(weights.get(layer.name) or model.get_layer(layer.name).get_weights())
    return out


def standardization_divisor(representative: np.ndarray) -> float:
    """The power of two ``k`` that brings the standardised images' range within that of the
    centred pixels ``x - mean`` over the uint8 calibration images (N, S, S, 3) (at least 1).

    Why: TFLite's int8 converter gives ``x - mean`` the int8 scale of the standardised output
    ``(x - mean) / std`` it feeds (measured: 0.039 for both, when ``x - mean`` alone needs 0.006).
    Its range is ~7x wider, so the image reached the first convolution with ~36 grey levels and
    the batch-norm light VGG's int8 copy lost 1.3 points. Divided by ``k`` inside, the output's
    range is no wider than its input's, and the shared scale is the fine one.
    """
    from ..models.standardize import standardize

    x = np.asarray(representative, np.float32) / 255.0
    centred = np.abs(x - x.mean(axis=(1, 2, 3), keepdims=True)).max()
    if centred < 0.5 / 255:  # flat images: nothing to centre (what is left is float round-off)
        return 1.0
    ratio = float(np.abs(standardize(x)).max() / centred)
    return float(2.0 ** max(0, int(np.ceil(np.log2(ratio)))))


def rescale_standardization(model, divisor: float):
    """A copy of ``model`` whose ``standardize`` layer divides its output by ``divisor`` too and
    whose next layer, a convolution, has its kernel multiplied by it: the same function (exactly,
    for a power of two) with a narrower input to the convolution. ``model`` unchanged, returned,
    when it has no standardize layer followed by a Conv2D or ``divisor`` is 1.
    """
    _, keras = import_tensorflow()
    from ..models.standardize import PerImageStandardization

    layers = model.layers
    at = next((i for i, layer in enumerate(layers) if isinstance(layer, PerImageStandardization)), None)
    if divisor == 1 or at is None or at + 1 >= len(layers) or not isinstance(layers[at + 1], keras.layers.Conv2D):
        return model
    std, conv = layers[at], layers[at + 1]
    kernel, *rest = conv.get_weights()
    return _rebuild_chain(model, layers, {std.name: {"divisor": std.divisor * divisor}},
                          {conv.name: [kernel * np.float32(divisor), *rest]}, "rescaled")


def has_batch_norm(model) -> bool:
    """Whether ``model`` has a BatchNormalization layer (at its top level)."""
    _, keras = import_tensorflow()
    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
