"""Adam with each weight's update in one kernel (TensorFlow's ``ResourceApplyAdam``).

Keras 3's ``Adam.update_step`` is written in backend-neutral ops: per weight about ten
element-wise passes (subtract, multiply, square, sqrt, divide, three assigns), each reading
and writing the whole tensor. The light VGG has 3.7 million weights (fc1 alone 2.1 million),
and the fused kernel, which reads the weight, its two moments and the gradient once, takes
about half the time of Keras' update (``benchmarks/bench_training`` times both inside the real
step). With batches of 8 the update is paid every 8 images, so it is a visible share of the step.

Same arithmetic as Keras' Adam, written the same way::

    alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
    m += (g - m) * (1 - beta_1);  v += (g*g - v) * (1 - beta_2)
    w -= alpha * m / (sqrt(v) + epsilon)

(tested: the same weights after several steps, to float32 rounding). ``amsgrad``, sparse
gradients and ``tf.distribute`` strategies other than the default one take Keras' own path.
The class keeps Keras' variables and config, so saved weights and optimizer state load into
either.
"""
from __future__ import annotations

from functools import lru_cache

from ..env import import_tensorflow


@lru_cache(maxsize=1)
def _fused_adam_class():
    tf, keras = import_tensorflow()

    @keras.saving.register_keras_serializable(package="fercourse")
    class FusedAdam(keras.optimizers.Adam):
        """``keras.optimizers.Adam`` whose dense update is one ``ResourceApplyAdam`` per weight."""

        def update_step(self, gradient, variable, learning_rate):
            if self.amsgrad or isinstance(gradient, tf.IndexedSlices) or tf.distribute.has_strategy():
                return super().update_step(gradient, variable, learning_rate)
            dtype = variable.dtype
            step = tf.cast(self.iterations + 1, dtype)
            index = self._get_variable_index(variable)
            beta_1 = tf.cast(self.beta_1, dtype)
            beta_2 = tf.cast(self.beta_2, dtype)
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
                beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
                lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
                epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False)

    return FusedAdam


def adam(learning_rate: float = 1e-3, **kwargs):
    """A fused Adam (``FusedAdam``, same arguments as ``keras.optimizers.Adam``)."""
    return _fused_adam_class()(learning_rate, **kwargs)
