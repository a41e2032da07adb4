"""Q2: the adjoint identity, the convolution matrix, unpooling switches and the deconvnet."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fercourse.theory.deconv import Deconvnet, adjoint_gap, convolution_matrix, pool_switches, unpool


def test_transposed_convolution_is_the_adjoint():
    ran = []

    @settings(max_examples=30, deadline=None)
    @given(size=st.integers(5, 12), k=st.sampled_from([1, 2, 3, 4, 5]), stride=st.sampled_from([1, 2, 3]),
           padding=st.sampled_from(["SAME", "VALID"]), cin=st.integers(1, 3), cout=st.integers(1, 3),
           seed=st.integers(0, 1000))
    def check(size, k, stride, padding, cin, cout, seed):
        assume(padding == "SAME" or k <= size)  # a VALID kernel wider than the image has no output
        ran.append(1)
        assert adjoint_gap((2, size, size, cin), (k, k, cin, cout), stride, padding, seed) < 1e-12

    check()
    assert len(ran) >= 25  # the examples were checked, not skipped


@pytest.mark.parametrize("stride", [1, 2])
def test_the_convolution_matrix_and_its_transpose(tf_keras, stride):
    tf, _ = tf_keras
    rng = np.random.default_rng(stride)
    kernel, x = rng.standard_normal((3, 3)), rng.standard_normal((7, 7))
    matrix = convolution_matrix(7, kernel, stride)
    conv = tf.nn.conv2d(x[None, :, :, None], kernel[:, :, None, None], stride, "VALID").numpy()
    np.testing.assert_allclose(matrix @ x.ravel(), conv.ravel(), atol=1e-12)
    y = rng.standard_normal(conv.shape)
    back = tf.nn.conv2d_transpose(y, kernel[:, :, None, None], (1, 7, 7, 1), stride, "VALID").numpy()
    np.testing.assert_allclose(matrix.T @ y.ravel(), back.ravel(), atol=1e-12)


def test_unpooling_puts_each_value_at_its_switch():
    x = np.array([[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 7.0, 1.0], [0.0, 0.0, 1.0, 1.0], [9.0, 2.0, 1.0, 0.0]])
    switches = pool_switches(x[None, :, :, None])[0, :, :, 0]
    np.testing.assert_array_equal(switches, [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0]])
    back = unpool(np.array([[10.0, 20.0], [30.0, 40.0]])[None, :, :, None], switches[None, :, :, None])[0, :, :, 0]
    np.testing.assert_array_equal(back, [[0, 10, 0, 0], [0, 0, 20, 0], [0, 0, 40, 0], [30, 0, 0, 0]])


def test_a_one_filter_deconvnet_projection_is_the_filter(tf_keras):
    _, keras = tf_keras
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 3, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(1, 3, activation="relu", name="c")])
    model.get_layer("c").set_weights([kernel, np.zeros(1, np.float32)])
    image = rng.random((1, 12, 12, 3)).astype(np.float32)
    activations, _ = Deconvnet(model, "c").forward(image)
    row, col = np.unravel_index(activations[0, ..., 0].argmax(), activations.shape[1:3])
    projection = Deconvnet(model, "c").project(image, 0)[0]
    patch = projection[row:row + 3, col:col + 3]
    np.testing.assert_allclose(patch / patch.flat[np.abs(patch).argmax()],
                               kernel[..., 0] / kernel[..., 0].flat[np.abs(patch).argmax()], atol=1e-5)
    outside = projection.copy()
    outside[row:row + 3, col:col + 3] = 0
    assert np.abs(outside).max() == 0  # nothing elsewhere


def test_the_gradient_rule_is_backpropagation_and_guided_is_the_positive_part(tf_keras):
    tf, keras = tf_keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Conv2D(4, 3, padding="same",
                                                                              activation="relu", name="top")])
    images = np.random.default_rng(1).random((2, 16, 16, 3)).astype(np.float32)
    deconv = Deconvnet(model, "top")
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        top = model(x)[..., 1]
        # the projection starts from the activation's value a, so it is d(a^2 / 2)/dx = a da/dx
        score = tf.reduce_sum(tf.reduce_max(tf.reshape(top, (2, -1)), axis=1) ** 2) / 2
    np.testing.assert_allclose(deconv.project(images, 1, rule="gradient"), tape.gradient(score, x).numpy(),
                               atol=1e-5)
    guided = deconv.project(images, 1, rule="guided")
    assert np.abs(guided).sum() <= np.abs(deconv.project(images, 1, rule="gradient")).sum() + 1e-6


def test_the_deconvnet_refuses_layers_it_cannot_undo(tf_keras):
    _, keras = tf_keras
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.BatchNormalization(name="bn"),
                              keras.layers.Conv2D(2, 3, name="c")])
    with pytest.raises(ValueError, match="'bn'"):
        Deconvnet(model, "c")
    with pytest.raises(ValueError, match="no layer 'nope'"):
        Deconvnet(keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)]), "nope")


def test_the_radial_spectrum_of_a_sinusoid_peaks_at_its_frequency():
    from fercourse.theory.inversion import radial_spectrum

    s = 64
    yy, xx = np.indices((s, s))
    wave = 0.5 + 0.5 * np.cos(2 * np.pi * (10 * xx + 0 * yy) / s)  # 10 cycles per image width
    freqs, profile = radial_spectrum(np.repeat(wave[None, :, :, None], 3, axis=3))
    assert freqs[np.argmax(profile)] == pytest.approx(10 / s)


def test_transposed_convolutions_make_checkerboards_unless_the_kernel_divides_the_stride(tf_keras):
    from fercourse.theory.inversion import checkerboard, unevenness

    assert unevenness(checkerboard("transposed k3 s2")) > 0.2
    assert unevenness(checkerboard("transposed k4 s2")) < 1e-6
    assert unevenness(checkerboard("resize + conv3")) < 1e-6


def test_decoders_reach_the_image_size(tf_keras):
    from fercourse.theory.inversion import decoder

    assert decoder((32, 32, 32)).output_shape == (None, 128, 128, 3)
    assert decoder((8, 8, 128)).output_shape == (None, 128, 128, 3)
    with pytest.raises(ValueError, match="power of 2"):
        decoder((12, 12, 4))


def test_top_channels_and_images_rank_by_peak():
    from fercourse.theory.deconv import top_channels_and_images

    peaks = np.array([[1.0, 0.0, 5.0], [3.0, 0.1, 4.0], [2.0, 0.2, 0.0]])
    assert top_channels_and_images(peaks, channels=2, images=2) == {2: [0, 1], 0: [1, 2]}


def test_phase_correlation_recovers_a_known_shift_and_position_kept_scores_it():
    from fercourse.theory.inversion import estimated_shift, position_kept

    rng = np.random.default_rng(0)
    image = np.clip(rng.random((64, 64, 3)) * 0.2 + 0.4, 0, 1)
    image[20:40, 10:30] = 1.0
    moved = np.roll(image, (3, 7), axis=(0, 1))
    np.testing.assert_allclose(estimated_shift(image, moved)[0], [3, 7], atol=0.2)
    identity = lambda x: x  # noqa: E731
    blur_all = lambda x: np.repeat(np.asarray(x).mean(axis=(1, 2), keepdims=True), 64, 1).repeat(64, 2)  # noqa: E731
    assert position_kept(identity, image[None], (0, 8))[0] < 0.5
    assert position_kept(blur_all, image[None], (0, 8))[0] > 4  # a constant image has no position
