"""The fused batch normalisation is Keras' layer, faster: same outputs, gradients, moving
statistics and weights, and it is still a ``BatchNormalization`` for everything that asks."""
import numpy as np
import pytest


def _pair(keras, shape, momentum=0.9):
    from fercourse.models.batch_norm import fused_batch_normalization

    theirs = keras.layers.BatchNormalization(momentum=momentum)
    ours = fused_batch_normalization(momentum=momentum)
    for layer in (theirs, ours):
        layer.build(shape)
    rng = np.random.default_rng(0)
    gamma, beta = rng.uniform(0.5, 2, shape[-1]), rng.normal(0, 1, shape[-1])
    for layer in (theirs, ours):
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    return theirs, ours


@pytest.mark.parametrize("shape", [(4, 6, 5, 3), (2, 3, 3, 7)])
def test_fused_training_pass_equals_keras_layer(tf_keras, shape):
    tf, keras = tf_keras
    theirs, ours = _pair(keras, shape)
    assert isinstance(ours, keras.layers.BatchNormalization)
    rng = np.random.default_rng(1)
    weights = tf.constant(rng.normal(size=shape), tf.float32)
    for step in range(3):  # three updates: the moving statistics follow the same rule
        x = tf.constant(rng.normal(2.0, 3.0, shape), tf.float32)
        grads, outs = [], []
        for layer in (theirs, ours):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * weights)
            outs.append(y.numpy())
            grads.append([g.numpy() for g in tape.gradient(loss, [x, layer.gamma, layer.beta])])
        np.testing.assert_allclose(outs[1], outs[0], atol=2e-5)
        for mine, keras_grad in zip(grads[1], grads[0]):
            np.testing.assert_allclose(mine, keras_grad, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.moving_variance.numpy(), theirs.moving_variance.numpy(), rtol=1e-5)
    x = rng.normal(2.0, 3.0, shape).astype("float32")
    np.testing.assert_allclose(ours(x, training=False), theirs(x, training=False), atol=1e-5)


def test_dense_inputs_and_frozen_layers_use_keras_own_path(tf_keras):
    tf, keras = tf_keras
    theirs, ours = _pair(keras, (8, 5))
    x = np.random.default_rng(2).normal(size=(8, 5)).astype("float32")
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), atol=1e-5)
    ours.trainable = False  # frozen: inference statistics even when training, as Keras does
    np.testing.assert_allclose(ours(x, training=True), ours(x, training=False), atol=1e-6)


def test_bfloat16_batch_norm_variant_trains_and_round_trips(tf_keras, tmp_path):
    from fercourse.models import light_vgg
    from fercourse.train import policy_scope

    tf, keras = tf_keras
    with policy_scope("mixed_bfloat16"):
        model = light_vgg(3, batch_norm=True, dropout=0.5, input_size=32)
        layer = model.get_layer("block1_bn")
        assert type(layer).__name__ == "FusedBatchNormalization" and layer.compute_dtype == "bfloat16"
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        x, y = rng.random((8, 32, 32, 3)).astype("float32"), rng.integers(0, 3, 8)
        before = layer.moving_mean.numpy().copy()
        losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
        assert np.all(np.isfinite(losses)) and not np.allclose(layer.moving_mean.numpy(), before)
        model.save(tmp_path / "bn.keras")
        again = keras.models.load_model(tmp_path / "bn.keras")
        np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
