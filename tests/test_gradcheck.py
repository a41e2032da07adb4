import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fercourse import gradcheck as gc

finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=4), elements=finite))
def test_numeric_gradient_of_a_known_function(x):
    f = lambda v: float(np.sum(np.sin(v) * v**2))
    analytic = np.cos(x) * x**2 + 2 * x * np.sin(x)
    assert gc.relative_error(gc.numeric_gradient(f, x), analytic) < 1e-7 or np.allclose(
        gc.numeric_gradient(f, x), analytic, atol=1e-8)


def test_numeric_gradient_leaves_input_untouched_and_keeps_shape():
    x = np.arange(6.0).reshape(2, 3)
    before = x.copy()
    g = gc.numeric_gradient(lambda v: float(np.sum(v**2)), x)
    assert g.shape == x.shape
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-8)


def test_numeric_gradient_rejects_bad_eps():
    with pytest.raises(ValueError, match="eps"):
        gc.numeric_gradient(lambda v: 0.0, np.zeros(2), eps=0)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, 5, elements=finite), st.floats(1e-3, 1e3))
def test_relative_error_is_symmetric_and_scale_invariant(a, scale):
    b = a + 0.1
    assert gc.relative_error(a, b) == pytest.approx(gc.relative_error(b, a))
    assert gc.relative_error(scale * a, scale * b) == pytest.approx(gc.relative_error(a, b), rel=1e-9)
    assert gc.relative_error(a, a) == 0.0


def test_relative_error_edge_cases():
    assert gc.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert gc.relative_error([2.0], [1.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shape mismatch"):
        gc.relative_error(np.zeros(2), np.zeros(3))


def test_a_wrong_gradient_formula_fails_the_check():
    f = lambda v: float(np.sum(v**3))
    x = np.linspace(-1, 2, 7)
    reference = gc.numeric_gradient(f, x)
    right = gc.compare_gradients(3 * x**2, reference, quantity="d/dx", candidate_name="right",
                                 reference_name="fd", tolerance=1e-6)
    wrong = gc.compare_gradients(2 * x**2, reference, quantity="d/dx", candidate_name="wrong",
                                 reference_name="fd", tolerance=1e-6)
    assert right.passed and not wrong.passed
    gc.assert_all_passed([right])
    with pytest.raises(AssertionError, match="d/dx: wrong vs fd"):
        gc.assert_all_passed([right, wrong])


def test_comparison_table_has_one_row_per_comparison():
    row = gc.compare_gradients([1.0, 2.0], [1.0, 2.0], quantity="q", candidate_name="c",
                               reference_name="r", tolerance=1e-8)
    table = gc.comparison_table([row, row])
    assert list(table.columns) == ["quantity", "candidate", "reference", "rel. error", "tolerance", "passed"]
    assert len(table) == 2 and table["passed"].all()
    assert row.shape == (2,) and row.max_abs_error == 0.0


def test_tape_gradients_match_the_analytic_gradient(tf_keras):
    tf, _ = tf_keras
    w = tf.Variable(np.array([0.5, -1.5, 2.0]))
    (g,) = gc.tape_gradients(lambda: tf.reduce_sum(w**3), [w])
    np.testing.assert_allclose(g, 3 * np.array([0.5, -1.5, 2.0]) ** 2, rtol=1e-12)
    assert g.dtype == np.float64
