"""The fused Adam is Keras' Adam, one kernel per weight: same weights after several steps
(with a learning-rate change between them, as ReduceLROnPlateau makes), same state layout
(saved weights load into either), and Keras' own path where the fused kernel does not apply."""
import numpy as np
import pytest


def _model(keras, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, activation="relu"),
                              keras.layers.Dense(3)])
    return model


def _run(tf, keras, optimizer, steps=6):
    model = _model(keras)
    variables = model.trainable_variables
    optimizer.build(variables)
    rng = np.random.default_rng(3)
    for step in range(steps):
        if step == 3:
            optimizer.learning_rate.assign(optimizer.learning_rate * 0.3)
        grads = [tf.constant(rng.normal(size=v.shape), v.dtype) for v in variables]
        optimizer.apply(grads, variables)
    return [v.numpy() for v in variables], [v.numpy() for v in optimizer.variables]


@pytest.mark.parametrize("kwargs", [{}, {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}, {"amsgrad": True}])
def test_fused_adam_steps_equal_keras_adam(tf_keras, kwargs):
    tf, keras = tf_keras
    from fercourse.train.fused_adam import adam

    theirs = _run(tf, keras, keras.optimizers.Adam(0.01, **kwargs))
    ours_opt = adam(0.01, **kwargs)
    assert isinstance(ours_opt, keras.optimizers.Adam)
    ours = _run(tf, keras, ours_opt)
    for mine, keras_value in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-6)
    # the weights did move (a no-op optimizer would also "agree" with itself)
    assert not np.allclose(ours[0][0], _model(keras).trainable_variables[0].numpy())


def test_fused_adam_inside_fit_and_state_loads_into_keras_adam(tf_keras, tmp_path):
    tf, keras = tf_keras
    from fercourse.train.fused_adam import adam

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 5)).astype("float32"), rng.integers(0, 3, 32)
    trained = []
    for optimizer in (keras.optimizers.Adam(0.01), adam(0.01)):
        model = _model(keras)
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        trained.append(model)
    for mine, keras_value in zip(trained[1].get_weights(), trained[0].get_weights()):
        np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-6)
    # a backup written with the fused Adam resumes under Keras' Adam, moments included
    path = tmp_path / "state.weights.h5"
    trained[1].save_weights(path)
    fresh = _model(keras, seed=1)
    fresh.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    fresh.optimizer.build(fresh.trainable_variables)
    fresh.load_weights(path)
    for mine, saved in zip(fresh.optimizer.variables, trained[1].optimizer.variables):
        np.testing.assert_array_equal(mine.numpy(), saved.numpy())


def test_fused_adam_serialises(tf_keras):
    _, keras = tf_keras
    from fercourse.train.fused_adam import adam

    optimizer = adam(3e-4, beta_2=0.99)
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(clone) is type(optimizer)
    assert clone.get_config()["beta_2"] == 0.99


def test_fused_adam_runs_one_kernel_per_weight(tf_keras):
    tf, keras = tf_keras
    from fercourse.train.fused_adam import adam

    def kernels(optimizer):
        model = _model(keras)
        variables = model.trainable_variables
        optimizer.build(variables)
        grads = [tf.zeros_like(v) for v in variables]
        graph = tf.function(lambda: optimizer.apply(grads, variables)).get_concrete_function().graph
        return [op.type for op in graph.get_operations()]

    ours, theirs = kernels(adam(0.01)), kernels(keras.optimizers.Adam(0.01))
    assert ours.count("ResourceApplyAdam") == 4  # two kernels, two biases
    assert "ResourceApplyAdam" not in theirs
    assert len(ours) < len(theirs)
