"""The region penalty (Q5 part 4's second improvement) and the GAP variant's start."""
from __future__ import annotations

import numpy as np


def test_pool_masks_averages_cells_and_checks_the_size():
    import pytest

    from fercourse.train.region_prior import pool_masks

    masks = np.zeros((1, 4, 4), np.uint8)
    masks[0, :2, :2] = 2   # one full cell
    masks[0, 2, 2] = 1     # a quarter of another
    np.testing.assert_allclose(pool_masks(masks, 2)[0], [[1.0, 0.0], [0.0, 0.25]])
    with pytest.raises(ValueError, match="multiple"):
        pool_masks(masks, 3)


def test_outside_share_on_known_maps(tf_keras):
    from fercourse.train.region_prior import outside_share

    activations = np.zeros((3, 2, 2, 1), np.float32)
    activations[:, 0, 0, 0] = 1.0   # all evidence in the top-left cell
    kernel = np.array([[1.0, -1.0]], np.float32)
    inside = np.zeros((3, 2, 2), np.float32)
    inside[0, 0, 0] = 1.0           # region = that cell: nothing outside
    inside[1, 1, 1] = 1.0           # region elsewhere: all outside
    #               image 2: no region at all: no penalty
    share = outside_share(activations, kernel, np.array([0, 0, 0]), inside).numpy()
    np.testing.assert_allclose(share, [0.0, 1.0, 0.0])
    # the class whose weight is negative has no positive evidence at all: nothing to penalise
    assert outside_share(activations, kernel, np.array([1, 1, 1]), inside).numpy().max() == 0.0


def test_the_penalty_moves_the_evidence_into_the_region(tf_keras):
    """Two classes told apart by the colour of a blob (red or green) that appears in *both*
    halves of the image; the region is the left half. Trained with the penalty, the map
    leaves the right half, and the task is still learnt."""
    from fercourse.train.region_prior import RegionGuided, outside_share, pool_masks

    tf, keras = tf_keras
    rng = np.random.default_rng(0)
    n = 64
    labels = rng.integers(0, 2, n)
    images = rng.random((n, 16, 16, 3), dtype=np.float32) * 0.2
    for columns in (slice(2, 6), slice(10, 14)):   # left: inside the region; right: outside
        images[labels == 0, 6:10, columns, 0] += 0.8
        images[labels == 1, 6:10, columns, 1] += 0.8
    masks = np.zeros((n, 16, 16), np.uint8)
    masks[:, :, :8] = 1
    inside = pool_masks(masks, 8)

    def share_after(weight: float) -> float:
        keras.utils.set_random_seed(1)
        x = inputs = keras.Input((16, 16, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="block5_conv2")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
        guided = RegionGuided(model, "block5_conv2", weight)
        guided.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
        data = tf.data.Dataset.from_tensor_slices(((images, inside), labels)).batch(16)
        history = guided.fit(data, epochs=40, verbose=0)
        assert history.history["accuracy"][-1] > 0.9  # it still learns the task
        activations = keras.Model(model.inputs, model.get_layer("block5_conv2").output)(images)
        return float(np.mean(outside_share(activations, model.layers[-1].kernel, labels, inside)))

    free, penalised = share_after(0.0), share_after(2.0)
    assert penalised < 0.5 * free, (free, penalised)


def test_gap_variant_starts_from_the_source_convolutions_and_a_fitted_head(tf_keras):
    from fercourse.models import copy_convolutions, light_vgg, light_vgg_gap
    from fercourse.recipes import head_from_logistic_regression

    tf, keras = tf_keras
    keras.utils.set_random_seed(0)
    source, target = light_vgg(3, input_size=32), light_vgg_gap(3, input_size=32)
    copied = copy_convolutions(source, target)
    assert len(copied) == 10
    np.testing.assert_array_equal(target.get_layer("block3_conv1").get_weights()[0],
                                  source.get_layer("block3_conv1").get_weights()[0])
    rng = np.random.default_rng(0)
    images = rng.random((30, 32, 32, 3), dtype=np.float32)
    labels = np.arange(30) % 3
    train_accuracy = head_from_logistic_regression(target, tf.data.Dataset.from_tensor_slices(images).batch(8),
                                                   labels)
    predicted = np.asarray(target.predict(images, verbose=0)).argmax(1)
    assert abs(np.mean(predicted == labels) - train_accuracy) < 1e-6  # the head *is* the regression
