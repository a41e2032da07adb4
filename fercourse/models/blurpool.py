"""Anti-aliased down-sampling as a Keras layer (Zhang 2019, "Making convolutional networks
shift-invariant again"): the anti-aliased light VGG's pooling, and Q1's subject.

The theory and its NumPy version live in :mod:`fercourse.theory.equivariance`; the layer lives
here, with the other layers the models are built from.
"""
from __future__ import annotations

from .lazy import lazy_classes


def _register():
    from ..env import import_tensorflow

    tf, keras = import_tensorflow()

    @keras.saving.register_keras_serializable(package="fercourse")
    class BlurPool2D(keras.layers.Layer):
        """Anti-aliased down-sampling (Zhang 2019): blur with a binomial filter, then subsample.

        Input (B, H, W, C) -> (B, ceil(H / strides), ceil(W / strides), C). Reflect padding,
        so a constant image stays constant. Put it after ``MaxPooling2D(2, strides=1)`` to
        make an anti-aliased max-pool ("MaxBlurPool").
        """

        def __init__(self, filter_size: int = 3, strides: int = 2, **kwargs):
            super().__init__(**kwargs)
            self.filter_size, self.strides = int(filter_size), int(strides)

        def call(self, x):
            # The n-tap binomial filter is n - 1 two-tap box filters in a row, and subsampling
            # after the last one is that box filter at the layer's stride: so n - 1 2x2 average
            # pools (nothing to learn or save). Why not a depthwise convolution with the 2-D
            # kernel: on CPUs with native bfloat16 it made the anti-aliased light VGG's training
            # step slower (benchmarks/bench_training.py times both; tests check they agree).
            pad = (self.filter_size - 1) // 2, self.filter_size // 2
            x = tf.pad(x, [[0, 0], pad, pad, [0, 0]], mode="REFLECT")
            for step in range(self.filter_size - 1):
                last = step == self.filter_size - 2
                x = tf.nn.avg_pool2d(x, 2, self.strides if last else 1, "VALID")
            if self.filter_size == 1:
                x = x[:, :: self.strides, :: self.strides]
            return x

        def compute_output_shape(self, input_shape):
            b, h, w, c = input_shape
            size = lambda n: None if n is None else -(-n // self.strides)  # noqa: E731
            return (b, size(h), size(w), c)

        def get_config(self):
            return {**super().get_config(), "filter_size": self.filter_size, "strides": self.strides}

    return BlurPool2D


__getattr__ = lazy_classes(globals(), BlurPool2D=_register)
