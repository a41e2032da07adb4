"""Class activation map methods for Keras 3 models, one small class each over :class:`BaseCAM`.

* :class:`CAM` -- Zhou et al. 2016: the classifier's weights on globally averaged maps.
* :class:`GradCAM` -- Selvaraju et al. 2017: maps weighted by their mean score gradient.
* :class:`GradCAMPlusPlus` -- Chattopadhay et al. 2018: pixel-weighted gradients.
* :class:`ScoreCAM` -- Wang et al. 2020: gradient-free; each upsampled map masks the input
  and the class probability it keeps is its weight (a cross-check on the gradient methods).

Every method takes a batch: ``method(images (B, H, W, 3) in [0, 1], classes=None)`` returns
maps (B, H, W) in [0, 1], upsampled bilinearly to the input size; ``classes=None`` explains
the predicted class. One tape serves the whole batch: in inference mode the samples do not
interact, so the gradient of the summed scores holds each sample's own gradient.
"""
from __future__ import annotations

import numpy as np

from ..env import import_tensorflow
from .forward import TappedForward, final_dense

tf, keras = import_tensorflow()


def normalise_maps(maps) -> np.ndarray:
    """Scale each map (B, ...) to [0, 1] by its own min and max (all-equal maps become 0)."""
    maps = np.asarray(maps, np.float32)
    flat = maps.reshape(len(maps), -1)
    low, high = flat.min(axis=1, keepdims=True), flat.max(axis=1, keepdims=True)
    span = np.where(high - low > 1e-12, high - low, np.inf)
    return ((flat - low) / span).reshape(maps.shape).astype(np.float32)


def upsample(maps, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of maps (B, h, w) to (B, *size)."""
    return tf.image.resize(np.asarray(maps, np.float32)[..., None], size, method="bilinear").numpy()[..., 0]


class BaseCAM:
    """Common machinery: target layer, batching, class choice, upsampling and normalisation.

    Subclasses implement ``_weights(images, activations, scores_fn, classes)`` returning
    per-channel weights (B, K), or override ``_raw`` for maps not of that form.
    ``target_layer``: a layer name, or None for the last convolutional output.
    """

    name = "base"

    def __init__(self, model, target_layer: str | None = None, batch_size: int = 32):
        self.model = model
        self.forward = TappedForward(model, target_layer)
        self.target_layer = self.forward.target.name
        self.batch_size = batch_size

    def __call__(self, images, classes=None) -> np.ndarray:
        """Maps (B, H, W) in [0, 1] for ``classes`` (B,) or the predicted classes."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4:
            raise ValueError(f"images must be (B, H, W, C), got shape {images.shape}")
        chosen = None if classes is None else np.broadcast_to(np.asarray(classes, np.int64), (len(images),))
        out, predicted = [], []
        for start in range(0, len(images), self.batch_size):
            batch = images[start:start + self.batch_size]
            wanted = None if chosen is None else chosen[start:start + self.batch_size]
            raw, used = self._raw(batch, wanted)
            out.append(upsample(raw, images.shape[1:3]))
            predicted.append(used)
        self.classes_ = np.concatenate(predicted)
        return normalise_maps(np.concatenate(out))

    def _raw(self, batch, classes):
        x = tf.convert_to_tensor(batch)
        self.forward.prepare(x[:2])  # eager, once: how to run the model
        wanted = tf.constant(-1 if classes is None else classes, tf.int64, shape=(len(batch),))
        activations, gradients, chosen = self._compute(x, wanted)
        classes = chosen.numpy()
        weights = self._weights(x, activations, gradients if self.needs_gradients else None, classes)
        maps = tf.nn.relu(tf.einsum("bhwk,bk->bhw", activations, weights))
        return maps.numpy(), classes

    @property
    def _compute(self):
        """(activations, d score / d activations, classes) of a batch, as one traced graph
        (layer-by-layer replay in eager mode cost 4x the time); -1 picks the predicted class."""
        if not hasattr(self, "_compiled"):
            def compute(x, wanted):
                with tf.GradientTape() as tape:
                    activations, scores = self.forward(x, tape)
                    classes = tf.where(wanted < 0, tf.argmax(scores, axis=1), wanted)
                    chosen = tf.gather(scores, classes, axis=1, batch_dims=1)
                gradients = tape.gradient(chosen, activations)
                return tf.cast(activations, tf.float32), tf.cast(gradients, tf.float32), classes

            self._compiled = tf.function(compute, reduce_retracing=True)
        return self._compiled

    needs_gradients = True

    def _weights(self, images, activations, gradients, classes):
        raise NotImplementedError


class GradCAM(BaseCAM):
    """Grad-CAM: channel weight = spatial mean of d(score)/d(A_k)."""

    name = "Grad-CAM"

    def _weights(self, images, activations, gradients, classes):
        return tf.reduce_mean(gradients, axis=(1, 2))


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++: weights sum ReLU(gradients) with per-pixel coefficients
    alpha = g^2 / (2 g^2 + sum(A) g^3) (the exponential-score closed form)."""

    name = "Grad-CAM++"

    def _weights(self, images, activations, gradients, classes):
        g2, g3 = gradients ** 2, gradients ** 3
        total = tf.reduce_sum(activations, axis=(1, 2), keepdims=True)
        denominator = 2.0 * g2 + total * g3
        alpha = tf.math.divide_no_nan(g2, tf.where(tf.abs(denominator) > 1e-12, denominator, 1.0))
        return tf.reduce_sum(alpha * tf.nn.relu(gradients), axis=(1, 2))


class CAM(BaseCAM):
    """The original CAM, for a model whose classifier is global average pooling -> Dense.

    Weight of map k for class c = the Dense kernel's ``W[k, c]``. Raises ``ValueError``
    for models without that head (use Grad-CAM there).
    """

    name = "CAM"
    needs_gradients = False

    def __init__(self, model, target_layer: str | None = None, batch_size: int = 32):
        super().__init__(model, target_layer, batch_size)
        dense = final_dense(model)
        gap = [layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
        channels = self.forward.target.output.shape[-1]
        if dense is None or not gap or dense.kernel.shape[0] != channels:
            raise ValueError(f"CAM needs global average pooling of {self.target_layer!r} followed by one "
                             f"Dense layer; model {model.name!r} has another head (use GradCAM)")
        self.kernel = dense.kernel

    def _weights(self, images, activations, gradients, classes):
        return tf.transpose(tf.gather(tf.cast(self.kernel, tf.float32), classes, axis=1))


class ScoreCAM(BaseCAM):
    """Score-CAM: each upsampled, normalised map masks the image; the softmax (over channels)
    of the class probabilities the masked images keep weights the maps. No gradients.

    Costs one forward pass per channel and image: ``channels`` keeps only the most active maps.
    """

    name = "Score-CAM"
    needs_gradients = False

    def __init__(self, model, target_layer: str | None = None, batch_size: int = 8, channels: int | None = 32):
        super().__init__(model, target_layer, batch_size)
        self.channels = channels

    def __call__(self, images, classes=None) -> np.ndarray:
        """As :meth:`BaseCAM.__call__`; with ``classes`` given, computed once per (model, images,
        classes, layer, channels) and cached (``fercourse.memo``): it is the slow method."""
        if classes is None:
            return BaseCAM.__call__(self, images, classes)
        from ..memo import cached_array

        images = np.asarray(images, np.float32)
        chosen = np.broadcast_to(np.asarray(classes, np.int64), (len(images),))
        maps = cached_array("score_cam", (self.model, images, chosen, self.target_layer, self.channels),
                            lambda: BaseCAM.__call__(self, images, chosen))
        self.classes_ = np.array(chosen)
        return maps

    def _weights(self, images, activations, gradients, classes):
        size = images.shape[1:3]
        b, _, _, k = activations.shape
        keep = k if self.channels is None else min(self.channels, k)
        strongest = tf.math.top_k(tf.reduce_mean(activations, axis=(1, 2)), keep).indices  # (B, keep)
        weights = np.zeros((b, k), np.float32)
        for i in range(b):
            maps = tf.gather(activations[i], strongest[i], axis=-1)  # (h, w, keep)
            masks = normalise_maps(upsample(tf.transpose(maps, (2, 0, 1)), size))  # (keep, H, W)
            masked = images[i][None] * masks[..., None]
            probabilities = np.asarray(self.model.predict_on_batch(masked), np.float32)[:, classes[i]]
            weights[i, strongest[i].numpy()] = tf.nn.softmax(probabilities).numpy()
        return tf.convert_to_tensor(weights)


METHODS = {m.name: m for m in (CAM, GradCAM, GradCAMPlusPlus, ScoreCAM)}
