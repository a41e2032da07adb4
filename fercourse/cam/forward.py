"""Run a Keras 3 model so that one inner convolution's output is visible to a gradient tape.

Class activation methods need two things from one forward pass: the activations ``A`` of a
target layer (B, h, w, K) and the class scores. Keras 3 cannot build
``keras.Model(model.inputs, inner.output)`` when ``inner`` sits inside a nested model (the VGG16
transfer model nests its backbone and its head), so :class:`TappedForward` executes the model
layer by layer, descending into nested models, and records ``A`` on the way. It checks once,
on the first batch, that this replay gives the model's own output; where it does not (a graph
that is not a chain of layers), it falls back to a two-output functional model, which works
for any top-level target.

Scores are the logits where the model ends in ``Dense(softmax)`` (the standard choice for
Grad-CAM: softmax saturates and couples the classes), otherwise the model's outputs.
"""
from __future__ import annotations

import numpy as np

from ..env import import_tensorflow

tf, keras = import_tensorflow()

POOLING = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


def _is_model(layer) -> bool:
    return isinstance(layer, keras.Model)


def _layers(model):
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _walk(model):
    """Every layer in execution order, nested models expanded in place (the model itself too)."""
    for layer in _layers(model):
        if _is_model(layer):
            yield from _walk(layer)
        yield layer


def _rank(layer) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def find_target_layer(model, name: str | None = None):
    """The layer whose maps the methods weight: ``name`` if given (searched in nested models
    too), else the last layer with a 4-D output that is not a pooling layer or a model.

    Raises ``ValueError`` naming the model when there is none.
    """
    layers = list(_walk(model))
    if name is not None:
        for layer in layers:
            if layer.name == name:
                if _rank(layer) != 4:
                    raise ValueError(f"layer {name!r} of model {model.name!r} has output shape "
                                     f"{layer.output.shape}; class activation maps need (B, h, w, K)")
                return layer
        raise ValueError(f"model {model.name!r} has no layer named {name!r}; its layers: "
                         f"{', '.join(layer.name for layer in layers)}")
    for layer in reversed(layers):
        if _rank(layer) == 4 and not _is_model(layer) and not isinstance(layer, POOLING):
            return layer
    raise ValueError(f"model {model.name!r} has no layer with a 4-D output (B, h, w, K) to explain")


def _contains(model, layer) -> bool:
    return any(inner is layer for inner in _walk(model))


def _softmax_dense(layer) -> bool:
    return (isinstance(layer, keras.layers.Dense)
            and getattr(layer.activation, "__name__", "") == "softmax")


def final_dense(model):
    """The Dense layer that produces the output (descending into a nested last model), or None."""
    last = _layers(model)[-1]
    if _is_model(last):
        return final_dense(last)
    return last if isinstance(last, keras.layers.Dense) else None


class TappedForward:
    """``forward(images) -> (activations (B, h, w, K), scores (B, C))`` in inference mode.

    ``scores`` are logits when the model ends in ``Dense(softmax)``; ``uses_logits`` says which.
    """

    def __init__(self, model, target_layer: str | None = None):
        self.model = model
        self.target = find_target_layer(model, target_layer)
        dense = final_dense(model)
        self.uses_logits = dense is not None and _softmax_dense(dense)
        self._mode = None  # "replay" or "split", decided on the first call
        self._tape = None

    # -- the two ways of running the model ---------------------------------------------------
    def _replay(self, model, x, last: bool):
        """Run ``model``'s layers in order on ``x``; returns (output, activations or None)."""
        found = None
        layers = _layers(model)
        for i, layer in enumerate(layers):
            is_last = last and i == len(layers) - 1
            if _is_model(layer) and (is_last or _contains(layer, self.target)):
                x, inner = self._replay(layer, x, is_last)
                found = inner if inner is not None else found
            elif is_last and self.uses_logits and _softmax_dense(layer):
                x = tf.matmul(tf.cast(x, layer.kernel.dtype), layer.kernel) + layer.bias
            else:
                x = layer(x, training=False)
            if layer is self.target:
                if self._tape is not None:  # frozen layers are not watched by default
                    self._tape.watch(x)
                found = x
        return x, found

    def _split(self, x):
        if not hasattr(self, "_split_model"):
            self._split_model = keras.Model(self.model.inputs, [self.target.output, self.model.outputs[0]])
        activations, probabilities = self._split_model(x, training=False)
        if self.uses_logits:  # log-probabilities: logits up to a per-sample constant
            probabilities = tf.math.log(tf.maximum(tf.cast(probabilities, tf.float32), 1e-12))
        return activations, probabilities

    def _decide(self, x) -> None:
        try:
            scores, activations = self._replay(self.model, x, True)
            ok = activations is not None
            if ok:
                expected = np.asarray(self.model(x, training=False), np.float32)
                got = np.asarray(tf.nn.softmax(tf.cast(scores, tf.float32)) if self.uses_logits else scores,
                                 np.float32)
                ok = got.shape == expected.shape and np.allclose(got, expected, atol=2e-2)
        except (ValueError, TypeError):
            ok = False
        if ok:
            self._mode = "replay"
            return
        if not _contains_top_level(self.model, self.target):
            raise ValueError(
                f"layer {self.target.name!r} sits inside a nested model of {self.model.name!r} whose layers "
                "are not a simple chain; name a top-level layer of the model as the target")
        self._mode = "split"

    def prepare(self, images) -> None:
        """Decide, eagerly and once, how to run the model (call before tracing a graph)."""
        if self._mode is None:
            self._decide(tf.convert_to_tensor(images, tf.float32))

    def __call__(self, images, tape=None):
        """Activations and scores of ``images``; with ``tape`` (a ``tf.GradientTape``), the
        activations are watched, so ``tape.gradient(scores, activations)`` works for frozen
        models too."""
        x = tf.convert_to_tensor(images, tf.float32)
        if self._mode is None:
            self._decide(x[:2])
        if self._mode == "replay":
            self._tape = tape
            try:
                scores, activations = self._replay(self.model, x, True)
            finally:
                self._tape = None
        else:
            if tape is not None:  # everything downstream of the target must be recorded
                tape.watch(self.model.weights)
            activations, scores = self._split(x)
        return activations, tf.cast(scores, tf.float32)


def _contains_top_level(model, layer) -> bool:
    return any(inner is layer for inner in _layers(model))
