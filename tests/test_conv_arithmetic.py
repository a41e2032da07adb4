import numpy as np
import pytest
import scipy.signal
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fercourse.theory import conv_arithmetic as ca


@st.composite
def image_kernel_dilation(draw, max_side=20):
    f1, f2 = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    d = draw(st.integers(1, 5))
    m = draw(st.integers(ca.effective_kernel_size(f1, d), max(ca.effective_kernel_size(f1, d), max_side)))
    n = draw(st.integers(ca.effective_kernel_size(f2, d), max(ca.effective_kernel_size(f2, d), max_side)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n)), rng.normal(size=(f1, f2)), d


def _loop_reference(image, kernel, d):
    """The question's formula, written as literally as possible (loops): the oracle."""
    f1, f2 = kernel.shape
    out = np.zeros((image.shape[0] - d * (f1 - 1), image.shape[1] - d * (f2 - 1)))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = sum(kernel[m, n] * image[i + d * m, j + d * n] for m in range(f1) for n in range(f2))
    return out


@settings(max_examples=60, deadline=None)
@given(image_kernel_dilation())
def test_shape_formula_M_minus_DF_plus_D(case):
    image, kernel, d = case
    (m, n), (f1, f2) = image.shape, kernel.shape
    assert ca.dilated_correlate(image, kernel, d).shape == (m - d * f1 + d, n - d * f2 + d)
    assert ca.conv_output_size(m, f1, dilation=d) == m - d * f1 + d


@settings(max_examples=40, deadline=None)
@given(image_kernel_dilation(max_side=12))
def test_vectorised_reference_equals_the_literal_formula(case):
    image, kernel, d = case
    np.testing.assert_allclose(ca.dilated_correlate(image, kernel, d), _loop_reference(image, kernel, d),
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(image_kernel_dilation())
def test_kronecker_kernel_trimmed_reproduces_the_dilated_correlation(case):
    image, kernel, d = case
    dilated = ca.dilate_kernel(kernel, d)
    assert dilated.shape == (d * (kernel.shape[0] - 1) + 1, d * (kernel.shape[1] - 1) + 1)
    np.testing.assert_allclose(ca.dilated_correlate(image, dilated, 1), ca.dilated_correlate(image, kernel, d),
                               rtol=1e-12, atol=1e-12)
    # scipy's independent correlation with the dilated kernel agrees as well
    np.testing.assert_allclose(scipy.signal.correlate2d(image, dilated, mode="valid"),
                               ca.dilated_correlate(image, kernel, d), rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(image_kernel_dilation())
def test_untrimmed_kronecker_kernel_is_D_minus_1_smaller(case):
    image, kernel, d = case
    full = ca.dilate_kernel(kernel, d, trim=False)
    np.testing.assert_array_equal(full, np.kron(kernel, ca.kron_factor(d)))
    assert full.shape == (d * kernel.shape[0], d * kernel.shape[1])
    assert not full[full.shape[0] - (d - 1):, :].any() and not full[:, full.shape[1] - (d - 1):].any()
    assume(full.shape[0] <= image.shape[0] and full.shape[1] <= image.shape[1])
    out = ca.dilated_correlate(image, full, 1)
    ref = ca.dilated_correlate(image, kernel, d)
    assert out.shape == (ref.shape[0] - (d - 1), ref.shape[1] - (d - 1))
    np.testing.assert_allclose(out, ref[: out.shape[0], : out.shape[1]], rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(image_kernel_dilation())
def test_reference_equals_tf_nn_conv2d(tf_keras, case):
    image, kernel, d = case
    np.testing.assert_allclose(ca.tf_dilated_conv(image, kernel, d), ca.dilated_correlate(image, kernel, d),
                               rtol=1e-10, atol=1e-12)


def test_kron_factor_is_a_single_one_top_left():
    a = ca.kron_factor(3)
    assert a.shape == (3, 3) and a[0, 0] == 1 and a.sum() == 1
    np.testing.assert_array_equal(ca.kron_factor(1), [[1.0]])


@pytest.mark.parametrize("call, match", [
    (lambda: ca.dilated_correlate(np.zeros((3, 3)), np.zeros((4, 4))), "spans 4x4 pixels.*only 3x3"),
    (lambda: ca.dilated_correlate(np.zeros((5, 5)), np.zeros((2, 2)), dilation=5), r"dilation 5\) but the image"),
    (lambda: ca.dilated_correlate(np.zeros((5, 5)), np.zeros((2, 2)), dilation=0), "dilation must be an integer >= 1"),
    (lambda: ca.dilated_correlate(np.zeros((5, 5)), np.zeros((2, 2)), dilation=1.5), "dilation must be an integer"),
    (lambda: ca.dilated_correlate(np.zeros(5), np.zeros((2, 2))), "image must be a 2-D array"),
    (lambda: ca.dilated_correlate(np.zeros((5, 5)), np.zeros((2, 2, 1))), "kernel must be a 2-D array"),
    (lambda: ca.dilate_kernel(np.zeros((0, 2)), 2), "kernel is empty"),
    (lambda: ca.conv_output_size(5, 3, dilation=3), "span 7 exceeds the padded input 5"),
    (lambda: ca.conv_output_size(5, 3, stride=0), "stride must be an integer >= 1"),
])
def test_bad_inputs_get_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_conv_output_size_general_formula():
    assert ca.conv_output_size(128, 3, padding=1) == 128
    assert ca.conv_output_size(128, 2, stride=2) == 64
    assert ca.conv_output_size(787, 2) == 786
    assert ca.conv_output_size(786, 2, stride=2) == 393
    assert ca.conv_output_size(10, 3, stride=2, padding=1, dilation=2) == 4


def test_symbolic_output_size():
    sym = ca.symbolic_output_size()
    m, n, f, d = sym["symbols"]
    assert sym["matches"]
    assert sym["rows"].subs({m: 10, f: 3, d: 2}) == 6


def test_receptive_field_recurrences_on_known_stacks():
    assert [rf.size for rf in ca.receptive_fields([ca.ConvLayer(3)] * 4)] == [3, 5, 7, 9]
    assert [rf.size for rf in ca.receptive_fields([ca.ConvLayer(3, dilation=2**i) for i in range(4)])] == [3, 7, 15, 31]
    vgg_block = [ca.ConvLayer(3, padding=1), ca.ConvLayer(3, padding=1), ca.ConvLayer(2, stride=2)]
    rfs = ca.receptive_fields(vgg_block * 2, input_size=128)
    assert [(rf.size, rf.jump, rf.output) for rf in rfs] == [(3, 1, 128), (5, 1, 128), (6, 2, 64),
                                                             (10, 2, 64), (14, 2, 64), (16, 4, 32)]


@st.composite
def small_stacks(draw):
    depth = draw(st.integers(1, 4))
    layers = []
    for _ in range(depth):
        k = draw(st.integers(1, 4))
        if draw(st.booleans()):
            layers.append(ca.ConvLayer(k, dilation=draw(st.integers(1, 3))))
        else:
            layers.append(ca.ConvLayer(k, stride=draw(st.integers(1, 2))))
    return layers


@settings(max_examples=20, deadline=None)
@given(small_stacks())
def test_receptive_field_calculator_matches_the_gradient_support_of_keras_stacks(tf_keras, layers):
    rf = ca.receptive_fields(layers)[-1]
    side = rf.size + 2 * rf.jump + 4  # room for at least one full field
    model = ca.conv_stack(layers)
    grad = ca.gradient_map(model, (side, side), position=(0, 0))
    assert ca.support_extent(grad) == (rf.size, rf.size)
    # and the first unit's field is centred where the calculator says
    rows = np.flatnonzero(grad.any(axis=1))
    assert (rows[0] + rows[-1]) / 2 == pytest.approx(rf.start)


def test_growth_table_closed_forms_and_measurements_agree(tf_keras):
    table = ca.growth_table(4)
    assert (table["plain"] == table["1+L(K-1)"]).all() and (table["plain"] == table["plain (grad)"]).all()
    assert (table["dilated"] == table["1+(K-1)(2^L-1)"]).all()
    assert (table["dilated"] == table["dilated (grad)"]).all()
    assert table["dilated"].tolist() == [3, 7, 15, 31]


def test_kronecker_checks_report_agreement_and_the_trim(tf_keras):
    rng = np.random.default_rng(1)
    result = ca.kronecker_checks(rng.normal(size=(20, 17)), rng.normal(size=(3, 3)), 3)
    assert result["max |reference - tf.nn.conv2d|"] < 1e-12
    assert result["max |reference - correlate(I, trimmed K(x)A)|"] < 1e-12
    assert result["dilated output shape"] == (14, 11)
    assert result["untrimmed K(x)A output shape"] == (12, 9)
    assert result["untrimmed output = top-left block"]


def test_output_size_checks(tf_keras):
    table = ca.output_size_checks([(9, 12, 3, 2), (20, 20, 5, 4)])
    assert table["agree"].all()


def test_conv_stack_rejects_unsupported_padding(tf_keras):
    with pytest.raises(ValueError, match="padding 0 or"):
        ca.conv_stack([ca.ConvLayer(3, padding=2)])
