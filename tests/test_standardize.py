"""The light VGG's first layer: per-image standardisation (fercourse.models.standardize)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fercourse.models.standardize import MIN_STD, standardize


def test_the_layer_matches_tensorflow_and_numpy(tf_keras):
    tf, _ = tf_keras
    from fercourse.models.standardize import PerImageStandardization

    images = np.random.default_rng(0).random((3, 16, 16, 3)).astype(np.float32) * [[[[0.2, 0.5, 1.0]]]]
    out = np.asarray(PerImageStandardization()(images))
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1, atol=1e-4)
    np.testing.assert_allclose(out, tf.image.per_image_standardization(images).numpy(), atol=1e-5)
    np.testing.assert_allclose(out, standardize(images), atol=1e-5)


def test_a_flat_image_is_not_divided_by_zero(tf_keras):
    from fercourse.models.standardize import PerImageStandardization

    flat = np.full((1, 8, 8, 3), 0.4, np.float32)
    out = np.asarray(PerImageStandardization()(flat))
    assert np.isfinite(out).all() and np.abs(out).max() < 1e-5
    # nearly flat (noise far below one grey level): divided by the floor, one grey level, so
    # sensor noise is not blown up to unit variance
    rng = np.random.default_rng(0)
    faint = (0.4 + rng.normal(0, 1e-4, (1, 8, 8, 3))).astype(np.float32)
    out = np.asarray(PerImageStandardization()(faint))
    np.testing.assert_allclose(out, (faint - faint.mean()) / MIN_STD, rtol=1e-3, atol=1e-6)
    assert np.abs(out).max() < 0.2


def test_exposure_and_contrast_do_not_change_the_light_vggs_output(tf_keras):
    """Property: f(a * x + b) = f(x) for any gain a > 0 and offset b - the layer removes both,
    so the whole network is blind to a photo's exposure (within float32 round-off)."""
    from fercourse.models import light_vgg

    model = light_vgg(8)
    base = np.random.default_rng(1).random((1, 128, 128, 3)).astype(np.float32) * 0.5 + 0.25
    reference = model.predict(base, verbose=0)
    ran = []

    @settings(max_examples=12, deadline=None)
    @given(gain=st.floats(0.3, 1.8), offset=st.floats(-0.2, 0.2))
    def check(gain, offset):
        ran.append(1)
        shifted = (base * gain + offset).astype(np.float32)
        np.testing.assert_allclose(model.predict(shifted, verbose=0), reference, atol=2e-4)

    check()
    assert len(ran) >= 10
    assert model.get_layer("standardize").count_params() == 0
    assert model.count_params() == 3_744_664  # the table's count: the layer adds none


def test_the_deconvnet_runs_the_standardisation_first(tf_keras):
    """Its forward pass through the light VGG reproduces Keras' own block-2 activations."""
    from fercourse.models import light_vgg
    from fercourse.theory.deconv import Deconvnet

    _, keras = tf_keras
    keras.utils.set_random_seed(0)
    model = light_vgg(8)
    images = np.random.default_rng(2).random((2, 128, 128, 3)).astype(np.float32)
    net = Deconvnet(model, "block2_conv2")
    assert net.standardize
    ours, _ = net.forward(images)
    theirs = keras.Model(model.input, model.get_layer("block2_conv2").output).predict(images, verbose=0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
