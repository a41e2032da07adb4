"""Batch normalisation whose training step on image maps is one fused kernel.

Keras 3's ``BatchNormalization`` computes the batch moments, the normalisation and their
gradients as a dozen separate element-wise ops, each a pass over the activations (in
float32 even under a bfloat16 policy). TensorFlow's ``FusedBatchNormV3`` (oneDNN on the
CPU) does the forward pass in one kernel and the backward pass in another, in the
activations' own dtype, which brings the batch-norm light VGG's training step close to the
plain form's (``benchmarks/bench_training.py`` times both).

Same weights, same arithmetic, same moving-average rule as Keras' layer (tested against
it): it *is* a ``keras.layers.BatchNormalization`` (``isinstance`` holds, so batch-norm
folding and the deconvnet treat it as one), and everything but the training pass on a
4-D (B, H, W, C) input with channels last - inference, dense layers, masks - is Keras'
own code.
"""
from __future__ import annotations

from .lazy import lazy_classes


def fused_batch_normalization(**kwargs):
    """A :class:`FusedBatchNormalization` layer (keyword arguments as Keras' layer)."""
    return __getattr__("FusedBatchNormalization")(**kwargs)


def _layer_class():
    from ..env import import_tensorflow

    tf, keras = import_tensorflow()

    @keras.saving.register_keras_serializable(package="fercourse")
    class FusedBatchNormalization(keras.layers.BatchNormalization):
        """``keras.layers.BatchNormalization`` with a fused training pass on (B, H, W, C)."""

        def _fusable(self, inputs, training, mask) -> bool:
            return (bool(training) and self.trainable and mask is None and len(inputs.shape) == 4
                    and self.axis in (-1, 3) and not self.renorm and self.center and self.scale)

        def call(self, inputs, training=None, mask=None):
            if not self._fusable(inputs, training, mask):
                return super().call(inputs, training=training, mask=mask)
            x = inputs if inputs.dtype in (tf.float32, tf.bfloat16, tf.float16) else tf.cast(inputs, tf.float32)
            empty = tf.zeros([0], tf.float32)  # no running statistics in: they are updated below
            y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=tf.cast(self.gamma, tf.float32), offset=tf.cast(self.beta, tf.float32),
                mean=empty, variance=empty, epsilon=self.epsilon, exponential_avg_factor=1.0,
                data_format="NHWC", is_training=True)
            # The kernel normalises with the biased batch variance but returns the unbiased one;
            # Keras' moving variance follows the biased one, and so does this layer.
            n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
            variance = variance * (n - 1.0) / tf.maximum(n, 1.0)
            momentum = self.momentum
            self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
            return tf.cast(y, self.compute_dtype)

    return FusedBatchNormalization


__getattr__ = lazy_classes(globals(), FusedBatchNormalization=_layer_class)
