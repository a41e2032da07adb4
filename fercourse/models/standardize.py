"""Per-image standardisation as a Keras layer: the light VGG's first step.

Each image is shifted and scaled to zero mean and unit standard deviation over all its pixels
and channels (what ``tf.image.per_image_standardization`` does; Keras has no such layer). It
removes a photo's exposure and contrast before the first convolution: on the built-in set the
plain light VGG, given raw [0, 1] pixels, spent 8-25 epochs near 35-40 % before learning the
finer cues (one seed in three never left that plateau in 25 epochs); standardised, the same
seed passed 75 % by epoch 11 (docs/experiments.md, "Q5 training recipe"). No weights.
"""
from __future__ import annotations

from .lazy import lazy_classes

MIN_STD = 1.0 / 255  # a flat image is divided by one grey level, not by zero


def _register():
    from ..env import import_tensorflow

    _, keras = import_tensorflow()

    @keras.saving.register_keras_serializable(package="fercourse")
    class PerImageStandardization(keras.layers.Layer):
        """(B, H, W, C) -> the same, each image at zero mean and unit standard deviation.

        Computed in float32 also under a mixed-precision policy: a bfloat16 mean over 49,152
        pixels would keep only about three significant digits.

        ``divisor`` (default 1) divides the output once more. Only the int8 export uses it
        (``fercourse.export.rescale_standardization``), with the next convolution's kernel
        multiplied by the same power of two, so that the network computes the same function.
        """

        def __init__(self, divisor: float = 1.0, **kwargs):
            kwargs.setdefault("dtype", "float32")
            super().__init__(**kwargs)
            self.divisor = float(divisor)

        def call(self, x):
            ops = keras.ops
            x = ops.cast(x, "float32")
            mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
            std = ops.maximum(ops.std(x, axis=(1, 2, 3), keepdims=True), MIN_STD)
            if self.divisor != 1.0:  # the training graph stays exactly as it was
                std = std * self.divisor
            return (x - mean) / std

        def get_config(self):
            config = super().get_config()
            if self.divisor != 1.0:  # stored runs are keyed by the layers' configs: keep theirs
                config["divisor"] = self.divisor
            return config

        def compute_output_shape(self, input_shape):
            return input_shape

    return PerImageStandardization


__getattr__ = lazy_classes(globals(), PerImageStandardization=_register)


def standardize(images):
    """NumPy version for (B, H, W, C) arrays (tests, the deconvnet's forward pass)."""
    import numpy as np

    x = np.asarray(images, np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), MIN_STD)
    return (x - mean) / std
