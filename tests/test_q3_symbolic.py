import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fercourse.theory import q3_network as q3
from fercourse.theory import q3_symbolic as q3s


def test_parameter_formulas_give_the_question_counts():
    subs = q3s.substitutions(q3.Q3Spec())
    counts = {name: int(expr.subs(subs)) for name, expr in q3s.parameter_formulas().items()}
    assert counts == {"pad": 0, "conv1": 3, "avgpool1": 0, "flatten": 0, "fc1": 7880, "z": 21}
    assert q3s.total_parameters(q3.Q3Spec()) == 7904
    assert subs[q3s.P] == 393


def test_parameter_table_matches_keras_layer_by_layer(tf_keras):
    table = q3s.parameter_table()
    assert table["equal"].all()
    assert table.set_index("layer").loc["total", "Keras"] == 7904


def test_variant_table_formula_equals_keras(tf_keras):
    table = q3s.variant_table()
    assert (table["total (formula)"] == table["total (Keras)"]).all()
    assert table.set_index("variant").loc["no padding", "total (formula)"] == 7884
    assert table.set_index("variant").loc["pool stride 1", "total (formula)"] == 15744


def test_pool_length_formula_matches_keras_shapes(tf_keras):
    ran = []

    @settings(max_examples=25, deadline=None)
    @given(n=st.integers(3, 60), p=st.integers(0, 3), k=st.integers(1, 5), q=st.integers(1, 4),
           s=st.integers(1, 4), h=st.integers(1, 8))
    def check(n, p, k, q, s, h):
        assume(n + 2 * p - k + 1 >= q)  # the pool fits in the convolution's output
        spec = q3.Q3Spec(input_length=n, padding=p, kernel_width=k, pool_width=q, pool_stride=s, hidden_units=h)
        ran.append(1)
        model = q3.build_q3_model(spec)
        assert model.get_layer("avgpool1").output.shape[1] == q3s.substitutions(spec)[q3s.P]
        assert model.count_params() == q3s.total_parameters(spec)

    check()
    assert len(ran) >= 20  # the examples were checked, not skipped


def test_symbolic_network_computes_the_same_z_as_numpy():
    spec = q3.Q3Spec(input_length=5, hidden_units=3)
    net = q3s.SymbolicNetwork.build(spec)
    params, x, _ = q3.example(spec, seed=5)
    fw = q3.forward(params, x, spec)
    values = {sym: val for sym, val in zip(net.x_pad[1:-1], x)}
    values.update(dict(zip(net.wc, params.wc)))
    values.update({net.bc: params.bc, net.bf: params.bf})
    values.update({net.wa[i, j]: params.wa[i, j] for i in range(3) for j in range(3)})
    values.update(dict(zip(net.bm, params.bm)))
    values.update(dict(zip(net.wf, params.wf)))
    values.update({r: float(u > 0) for r, u in zip(net.rc, fw.u)})
    values.update({r: float(s > 0) for r, s in zip(net.rf, fw.s)})
    assert float(net.z.xreplace(values)) == pytest.approx(fw.z, rel=1e-12)


def test_symbolic_network_refuses_the_full_size():
    with pytest.raises(ValueError, match="small specs"):
        q3s.SymbolicNetwork.build(q3.Q3Spec())


def test_prove_gradients_accepts_the_hand_formulas_and_rejects_the_draft():
    proof = q3s.prove_gradients()
    assert proof.dwc1_difference_is_zero and proof.dwa_differences_are_zero
    assert proof.draft_dwc1_differs and proof.draft_dwa_differs
    assert all(v is True for v in proof.summary().values())


def test_prove_gradients_on_a_non_square_network_skips_the_undefined_draft():
    proof = q3s.prove_gradients(q3.Q3Spec(input_length=7, hidden_units=2))
    assert proof.dwc1_difference_is_zero and proof.dwa_differences_are_zero
    assert proof.draft_dwa_differs is None


def test_is_zero_and_differs_somewhere_on_known_expressions():
    a, b = sp.symbols("a b", real=True)
    sig = 1 / (1 + sp.exp(-(a * b)))
    identity = sp.diff(sig, a) - b * sig * (1 - sig)  # sigma' = sigma (1 - sigma)
    assert q3s.is_zero(identity)
    assert not q3s.is_zero(identity + a)
    assert q3s.differs_somewhere(identity + a) or q3s.differs_somewhere(identity + a, seed=1)
    assert not q3s.differs_somewhere(sp.Integer(0))
