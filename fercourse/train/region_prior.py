"""Training that penalises class evidence outside the expression regions.

"Right for the right reasons" (Ross et al. 2017) penalised input gradients outside annotated
regions; with a global-average-pooling head the class activation map is part of the forward
pass, so the penalty can act on it directly: for each training image, the share of its
true class's CAM (ReLU of the class-weighted maps) that falls outside the regions the face's
action units move. The loss is cross-entropy + ``weight`` x that share. It needs region
masks, so it exists for the built-in set only (the generator stores them).
"""
from __future__ import annotations

import numpy as np

from ..env import import_tensorflow

tf, keras = import_tensorflow()


def pool_masks(masks, size: int) -> np.ndarray:
    """Region masks (N, S, S) (any region bit set counts) averaged to (N, size, size):
    each cell holds the fraction of its pixels inside a region. ``S`` must be a multiple."""
    masks = np.asarray(masks) > 0
    n, s = masks.shape[:2]
    if s % size:
        raise ValueError(f"mask size {s} is not a multiple of the map size {size}")
    f = s // size
    return masks.reshape(n, size, f, size, f).mean(axis=(2, 4)).astype(np.float32)


def outside_share(activations, kernel, labels, inside):
    """Share (B,) of each image's true-class CAM outside its region.

    ``activations`` (B, h, w, K), ``kernel`` (K, C) of the Dense head, ``labels`` (B,),
    ``inside`` (B, h, w) fraction of each cell inside the region. Images without a region
    count 0 (nothing to say about them).
    """
    weights = tf.transpose(tf.gather(tf.cast(kernel, tf.float32), tf.cast(labels, tf.int32), axis=1))  # (B, K)
    cam = tf.nn.relu(tf.einsum("bhwk,bk->bhw", tf.cast(activations, tf.float32), weights))
    total = tf.reduce_sum(cam, axis=(1, 2))
    outside = tf.reduce_sum(cam * (1.0 - inside), axis=(1, 2))
    has_region = tf.cast(tf.reduce_sum(inside, axis=(1, 2)) > 0, tf.float32)
    return has_region * tf.math.divide_no_nan(outside, total)


class RegionGuided(keras.Model):
    """A GAP-head classifier (the same graph and weights) whose training batches are
    ``((images, inside), labels)``, ``inside`` from :func:`pool_masks`; everything else
    (inference, the monitor slice, saving) is the classifier's own. Logs ``outside``, the
    mean outside share of the training batches.
    """

    def __init__(self, classifier, target_layer: str = "block5_conv2", weight: float = 1.0):
        super().__init__(classifier.inputs[0], classifier.outputs[0], name=f"{classifier.name}_region_guided")
        self._tap = keras.Model(classifier.inputs, [classifier.get_layer(target_layer).output, classifier.output])
        self.weight = float(weight)
        self.outside_tracker = keras.metrics.Mean(name="outside")

    def train_step(self, data):
        (images, inside), labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            activations, probabilities = self._tap(images, training=True)
            loss = self.compute_loss(x=images, y=labels, y_pred=probabilities, sample_weight=sample_weight)
            share = outside_share(activations, self.layers[-1].kernel, labels, inside)
            loss = loss + self.weight * tf.reduce_mean(share)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.outside_tracker.update_state(share)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            elif metric.name != "outside":
                metric.update_state(labels, probabilities, sample_weight=sample_weight)
        return self.get_metrics_result()
