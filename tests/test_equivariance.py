"""Q1: shift operators, equivariance and invariance errors, shift consistency, blur-pool."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import says

from fercourse.theory.equivariance import (binomial_filter, conv2d, equivariance_error, fourier_shift,
                                           invariance_error, max_pool, shift, shift_consistency)


def _images(seed=0, n=2, size=16, channels=3):
    return np.random.default_rng(seed).standard_normal((n, size, size, channels))


def test_shift_moves_content_forward_and_zero_mode_fills_zeros():
    x = np.arange(5.0)
    np.testing.assert_array_equal(shift(x, 2), [3, 4, 0, 1, 2])
    np.testing.assert_array_equal(shift(x, 2, "zero"), [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(shift(x, -1, "zero"), [1, 2, 3, 4, 0])
    image = np.arange(16.0).reshape(1, 4, 4, 1)
    assert shift(image, (1, 2))[0, 1, 2, 0] == image[0, 0, 0, 0]
    with pytest.raises(ValueError, match="fourier_shift"):
        shift(x, 0.5)


def test_fourier_shift_is_the_circular_shift_at_integers_and_composes():
    x = np.random.default_rng(0).standard_normal((1, 15, 15, 2))
    np.testing.assert_allclose(fourier_shift(x, (3, -2)), shift(x, (3, -2)), atol=1e-12)
    np.testing.assert_allclose(fourier_shift(fourier_shift(x, (0.5, 0.25)), (0.5, 0.75)), shift(x, (1, 1)),
                               atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(ty=st.integers(-7, 7), tx=st.integers(-7, 7), k=st.sampled_from([1, 3, 5]), seed=st.integers(0, 10_000))
def test_circular_convolution_is_exactly_equivariant(ty, tx, k, seed):
    kernel = np.random.default_rng(seed).standard_normal((k, k, 3, 4))
    error = equivariance_error(lambda x: conv2d(x, kernel), _images(seed), (ty, tx))
    assert error < 1e-6


def test_zero_padding_breaks_equivariance_only_near_the_borders():
    kernel = np.random.default_rng(1).standard_normal((3, 3, 3, 2))
    f = lambda x: conv2d(x, kernel, padding="zero")  # noqa: E731
    t = (2, 3)
    assert equivariance_error(f, _images(), t, mode="zero") > 1e-2
    # the vacated strip (|t|) and the kernel's half-width (1): outside them, exact
    assert equivariance_error(f, _images(), t, mode="zero", border=max(t) + 1) < 1e-6


def test_strided_maps_are_equivariant_only_for_multiples_of_the_stride():
    kernel = np.random.default_rng(2).standard_normal((3, 3, 3, 2))
    strided = lambda x: conv2d(x, kernel, stride=2)  # noqa: E731
    assert equivariance_error(strided, _images(), (2, 4), stride=2) < 1e-6
    assert equivariance_error(strided, _images(), (1, 0), stride=2) > 0.1
    pooled = lambda x: max_pool(conv2d(x, kernel))  # noqa: E731
    assert equivariance_error(pooled, _images(), (4, 2), stride=2) < 1e-6
    assert equivariance_error(pooled, _images(), (1, 1), stride=2) > 0.1


def test_blur_pool_lowers_max_pool_error_for_odd_shifts(tf_keras):
    from fercourse.models.blurpool import BlurPool2D

    _, keras = tf_keras
    plain = keras.layers.MaxPooling2D(2)
    blur = keras.Sequential([keras.layers.MaxPooling2D(2, strides=1, padding="same"), BlurPool2D(3, 2)])
    errors = {name: np.mean([equivariance_error(lambda x: np.asarray(f(x)), _images(s, size=32), (1, 1),
                                                stride=2, border=2) for s in range(5)])
              for name, f in (("max", plain), ("blur", blur))}
    assert errors["blur"] < 0.7 * errors["max"], errors


def test_blur_pool_keeps_constants_sums_to_one_and_round_trips(tf_keras, tmp_path):
    from fercourse.models.blurpool import BlurPool2D

    _, keras = tf_keras
    assert binomial_filter(3).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(binomial_filter(3)[1], [0.125, 0.25, 0.125])
    layer = BlurPool2D(3, 2)
    out = np.asarray(layer(np.full((1, 8, 8, 2), 5.0, np.float32)))
    assert out.shape == (1, 4, 4, 2) and np.allclose(out, 5.0)
    model = keras.Sequential([keras.Input((8, 8, 2)), BlurPool2D(3, 2, name="blur")])
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).random((2, 8, 8, 2)).astype(np.float32)
    np.testing.assert_allclose(again(x), model(x), atol=1e-6)
    assert again.get_layer("blur").get_config()["strides"] == 2


def test_global_average_pooling_of_a_circular_convolution_is_invariant():
    kernel = np.random.default_rng(3).standard_normal((3, 3, 3, 5))
    f = lambda x: np.maximum(conv2d(x, kernel), 0).mean(axis=(1, 2))  # noqa: E731
    assert invariance_error(f, _images(), (5, -3)) < 1e-6


def test_shift_consistency_of_a_constant_classifier_is_total():
    images = _images(size=12)
    constant = lambda x: np.tile([0.2, 0.8], (len(x), 1))  # noqa: E731
    assert shift_consistency(constant, images, 4) == {"consistency": 1.0, "probability change": 0.0}
    # a classifier that reads one pixel is shaken by shifts
    pixel = lambda x: np.stack([x[:, 6, 6, 0] > 0, x[:, 6, 6, 0] <= 0], axis=1).astype(float)  # noqa: E731
    assert shift_consistency(pixel, _images(n=200, size=12), 4)["consistency"] < 0.8


def test_p4_lifting_is_rotation_equivariant_and_a_plain_convolution_is_not():
    from fercourse.theory.equivariance import p4_error

    rng = np.random.default_rng(4)
    errors = p4_error(rng.standard_normal((2, 12, 12, 3)), rng.standard_normal((3, 3, 3, 4)))
    assert errors["p4 lifting convolution"] < 1e-6
    assert errors["plain convolution"] > 0.3


def test_activation_centroid_finds_a_blob():
    from fercourse.theory.model_equivariance import activation_centroid

    maps = np.zeros((1, 10, 10, 2))
    maps[0, 2, 7, 0] = 1.0
    maps[0, 4, 7, 1] = 1.0
    np.testing.assert_allclose(activation_centroid(maps)[0], [3.0, 7.0])


def test_layer_errors_of_a_circular_model_are_zero_for_multiples_of_each_stride(tf_keras):
    from fercourse.theory.model_equivariance import layer_errors

    _, keras = tf_keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 1, name="c1"),
                              keras.layers.MaxPooling2D(2, name="p1"), keras.layers.Conv2D(4, 1, name="c2"),
                              keras.layers.MaxPooling2D(2, name="p2")])
    table = layer_errors(model, _images(size=16).astype(np.float32), shifts=(1, 2, 4))
    err = table.set_index(["layer", "shift"])["error"]
    assert list(table["stride"].unique()) == [1, 2, 4]
    assert err["c1", 1] < 1e-6 and err["p1", 2] < 1e-6 and err["p2", 4] < 1e-6
    assert err["p1", 1] > 0.05 and err["p2", 2] > 0.05


def test_the_shift_theorem_holds_symbolically_and_numerically():
    from fercourse.theory.shift_theorem import correlate, symbolic_shift_check

    diffs, example = symbolic_shift_check(5)
    assert diffs.is_zero_matrix and "L_1 f" in example
    rng = np.random.default_rng(0)
    f, psi = rng.standard_normal(7), rng.standard_normal(7)
    for t in range(7):
        np.testing.assert_allclose(correlate(shift(f, t), psi), shift(correlate(f, psi), t), atol=1e-12)
    # the definition is a correlation: psi slides over f (psi = delta at 0 gives f back)
    np.testing.assert_allclose(correlate(f, np.eye(7)[0]), f)


def test_a_cnn_generalises_across_positions_where_a_dense_network_does_not(tf_keras):
    from fercourse.theory.position_toy import position_generalisation

    result = position_generalisation(n_train=300, n_test=200, epochs=20)
    cnn, dense = result["convolutional (shared weights)"], result["dense"]
    assert cnn["right accuracy"] > 0.9
    assert dense["right accuracy"] < cnn["right accuracy"] - 0.3
    assert cnn["parameters"] < dense["parameters"] / 50


def test_q1_sentences_follow_the_numbers():
    import pandas as pd

    from fercourse.narrate import consistency_sentence, layer_sentence

    table = pd.DataFrame({"layer": ["c1", "p1", "c1", "p1"], "stride": [1, 2, 1, 2], "shift": [1, 1, 2, 2],
                          "error": [0.1, 0.9, 0.1, 0.2]})
    text = layer_sentence(table)
    assert says(text, "0.10 c1", "rises 0.55 p1", "higher 0.90 0.13", "2 pixels", "0.20")
    deeper = pd.concat([table, pd.DataFrame({"layer": ["c2"], "stride": [2], "shift": [2], "error": [0.3]})])
    assert says(layer_sentence(deeper), "0.10 c1", "0.55 p1", "0.30 c2", "0.90 0.17")
    curves = {"plain": pd.DataFrame({"max shift": [1, 2], "consistency": [0.9, 0.8]}),
              "blur": pd.DataFrame({"max shift": [1, 2], "consistency": [0.95, 0.9]})}
    text = consistency_sentence(curves, {"plain": 0.9, "blur": 0.91})
    assert says(text, "1-2", "blur 92.5 %", "plain 85.0 %", "plain 80.0 %", "blur 90.0 %")
    assert says(text, "plain 90.0 %", "blur 91.0 %")


def test_circular_max_blur_pool_is_exact_for_even_shifts_and_better_for_odd_ones():
    from fercourse.theory.equivariance import max_blur_pool

    x = _images(7, size=16)
    for t in ((2, 0), (4, 6)):
        assert equivariance_error(max_blur_pool, x, t, stride=2) < 1e-12
    odd = [(1, 0), (1, 1), (3, 1)]
    blurred = np.mean([equivariance_error(max_blur_pool, x, t, stride=2) for t in odd])
    plain = np.mean([equivariance_error(max_pool, x, t, stride=2) for t in odd])
    assert blurred < 0.7 * plain
    assert max_blur_pool(np.full((1, 8, 8, 1), 3.0)).shape == (1, 4, 4, 1)


@pytest.mark.parametrize("size,strides,shape", [(3, 2, (2, 9, 10, 3)), (3, 2, (1, 8, 8, 4)), (2, 2, (1, 7, 6, 2)),
                                                 (4, 3, (1, 11, 9, 2)), (5, 1, (1, 6, 7, 1)), (1, 2, (1, 5, 5, 2))])
def test_blur_pool_equals_a_depthwise_convolution_with_the_binomial_filter(tf_keras, size, strides, shape):
    from fercourse.models.blurpool import BlurPool2D

    tf, _ = tf_keras
    x = np.random.default_rng(size).random(shape).astype(np.float32)
    pad = (size - 1) // 2, size // 2
    padded = tf.pad(x, [[0, 0], pad, pad, [0, 0]], mode="REFLECT")
    kernel = np.repeat(binomial_filter(size)[:, :, None, None], shape[-1], axis=2)
    expected = tf.nn.depthwise_conv2d(padded, kernel, [1, strides, strides, 1], "VALID")
    got = BlurPool2D(size, strides)(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_consistency_curve_of_a_model_is_computed_once_and_equals_the_plain_one(tf_keras, tmp_path, monkeypatch):
    import pandas as pd

    from fercourse.theory.model_equivariance import consistency_curve, model_consistency_curve

    _, keras = tf_keras
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(3, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    images = _images(n=6, size=12)[..., :1].astype(np.float32)
    expected = consistency_curve(model.predict_on_batch, images, [1, 3])
    first = model_consistency_curve(model, images, [1, 3])
    pd.testing.assert_frame_equal(first, expected[first.columns], check_dtype=False)
    calls, real = [], model.predict_on_batch
    monkeypatch.setattr(model, "predict_on_batch", lambda x: calls.append(len(x)) or real(x))
    again = model_consistency_curve(model, images, [1, 3])
    assert not calls  # read from the cache
    pd.testing.assert_frame_equal(again, first)
    dense = model.layers[-1]
    dense.kernel.assign(dense.kernel * 0.5)
    model_consistency_curve(model, images, [1, 3])
    assert calls  # other weights: computed again


def test_position_toy_is_trained_once_per_settings(tmp_path, monkeypatch):
    from fercourse.theory import position_toy

    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path))
    runs = []
    monkeypatch.setattr(position_toy, "_train_and_score",
                        lambda *args: runs.append(args) or {"cnn": {"right accuracy": 0.9}})
    first = position_toy.position_generalisation(n_train=8, n_test=8, epochs=1)
    assert position_toy.position_generalisation(n_train=8, n_test=8, epochs=1) == first
    assert len(runs) == 1
    position_toy.position_generalisation(n_train=8, n_test=8, epochs=2)
    assert len(runs) == 2
