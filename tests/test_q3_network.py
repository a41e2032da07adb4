import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fercourse.gradcheck import relative_error
from fercourse.theory import q3_network as q3

SPEC = q3.Q3Spec()


def test_spec_sizes_follow_the_question():
    assert (SPEC.padded_length, SPEC.conv_length, SPEC.pool_length) == (787, 786, 393)
    assert q3.Q3Spec(padding=0).pool_length == 392
    assert q3.Q3Spec(pool_stride=1).pool_length == 785


@pytest.mark.parametrize("kwargs, match", [
    ({"hidden_units": 0}, "hidden_units"),
    ({"padding": -1}, "padding"),
    ({"kernel_width": 2.5}, "kernel_width"),
    ({"input_length": 2, "padding": 0, "pool_width": 4}, "shorter than the pool width"),
])
def test_spec_rejects_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        q3.Q3Spec(**kwargs)


def test_keras_model_has_the_question_layers_and_7904_parameters(tf_keras):
    model = q3.build_q3_model(SPEC)
    assert [layer.name for layer in model.layers] == list(q3.LAYER_NAMES)
    assert [layer.count_params() for layer in model.layers] == [0, 3, 0, 0, 7880, 21]
    assert model.count_params() == 7904
    assert tuple(model.outputs[0].shape) == (None, 1)


def test_numpy_forward_equals_the_keras_model(tf_keras):
    params, x, _ = q3.example(SPEC, seed=2)
    model = q3.build_q3_model(SPEC, dtype="float64")
    params.to_keras(model)
    z_keras = float(model(x[None, :, None])[0, 0])
    assert q3.forward(params, x, SPEC).z == pytest.approx(z_keras, rel=1e-13)


def test_forward_rejects_a_wrong_input_length():
    params, _, _ = q3.example(SPEC)
    with pytest.raises(ValueError, match=r"shape \(785,\)"):
        q3.forward(params, np.zeros(784), SPEC)


@pytest.mark.parametrize("seed, y", [(0, 1.0), (1, 0.0), (2, 1.0)])
def test_hand_gradients_equal_gradient_tape_at_full_size(tf_keras, seed, y):
    params, x, _ = q3.example(SPEC, seed=seed)
    hand = q3.hand_gradients(params, x, y, SPEC)
    tape = q3.keras_gradients(params, x, y, SPEC)
    assert set(hand) == set(q3.PARAMETER_KEYS)
    for key in q3.PARAMETER_KEYS:
        assert np.shape(hand[key]) == np.shape(tape[key]), key
        assert relative_error(hand[key], tape[key]) < 1e-8, key
    # The activations of the example are mixed, so the ReLU gates are really exercised.
    fw = q3.forward(params, x, SPEC)
    assert 0.2 < (fw.u > 0).mean() < 1.0 and 0.2 < (fw.s > 0).mean() < 1.0


def test_hand_gradients_equal_finite_differences():
    params, x, y = q3.example(SPEC, seed=4)
    hand = q3.hand_gradients(params, x, y, SPEC)
    fd = q3.finite_difference_gradients(params, x, y, SPEC)
    assert relative_error(hand["W^C"], fd["W^C"]) < 1e-6
    assert relative_error(hand["W^A"], fd["W^A"]) < 1e-6


def test_hand_gradients_equal_tape_for_random_architectures(tf_keras):
    ran = []

    @settings(max_examples=15, deadline=None)
    @given(n=st.integers(4, 30), padding=st.integers(0, 2), k=st.integers(1, 4), q=st.integers(1, 3),
           stride=st.integers(1, 3), h=st.integers(1, 6), seed=st.integers(0, 10_000))
    def check(n, padding, k, q, stride, h, seed):
        assume(n + 2 * padding - k + 1 >= q)  # the pool fits in the convolution's output
        spec = q3.Q3Spec(input_length=n, padding=padding, kernel_width=k, pool_width=q,
                         pool_stride=stride, hidden_units=h)
        ran.append(1)
        params, x, y = q3.example(spec, seed=seed)
        hand, tape = q3.hand_gradients(params, x, y, spec), q3.keras_gradients(params, x, y, spec)
        for key in q3.PARAMETER_KEYS:
            assert relative_error(hand[key], tape[key]) < 1e-8, key

    check()
    assert len(ran) >= 12  # the examples were checked, not skipped


def test_pooling_halves_the_gradient():
    params, x, y = q3.example(SPEC)
    up = q3.upstream_gradients(params, x, y, SPEC)
    assert up["a"].shape == (393,) and up["c"].shape == (786,)
    np.testing.assert_array_equal(up["c"], 0.5 * np.repeat(up["a"], 2))


def test_draft_formulas_are_caught(tf_keras):
    params, x, y = q3.example(SPEC)
    true = q3.hand_gradients(params, x, y, SPEC)["W^C"][0]
    assert q3.draft_dcost_dwc1(params, x, y, SPEC) == pytest.approx(2 * true, rel=1e-12)
    (row,) = q3.draft_checks(params, x, y, SPEC)
    assert not row.passed and row.relative_error == pytest.approx(0.5)
    with pytest.raises(ValueError, match="H == P"):
        q3.draft_dcost_dwa(params, x, y, SPEC)


def test_draft_dwa_on_a_square_network_is_the_transpose(tf_keras):
    small = q3.Q3Spec(input_length=5, hidden_units=3)
    params, x, y = q3.example(small, seed=1)
    true = q3.hand_gradients(params, x, y, small)["W^A"]
    np.testing.assert_allclose(q3.draft_dcost_dwa(params, x, y, small), true.T)
    rows = q3.draft_checks(params, x, y, small)
    assert len(rows) == 2 and not any(r.passed for r in rows)


def test_gradient_checks_table_passes_for_the_correct_formulas(tf_keras):
    params, x, y = q3.example(SPEC)
    rows = q3.gradient_checks(params, x, y, SPEC)
    assert len(rows) == 9 and all(r.passed for r in rows)
    assert {r.reference for r in rows} == {"GradientTape", "finite differences"}
