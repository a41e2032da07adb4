"""Q3 with sympy: parameter counts as formulas, and a symbolic proof of the gradients.

Parameter counts are expressions in the layer sizes, so a reader sees *why* the
total is 7904 and what changes it. The gradient proof builds the whole cost of a
reduced network symbolically and shows that ``sympy.diff`` of it minus the
chapter's hand formula simplifies to exactly 0.

ReLU is handled as the question's derivation does: away from its kink,
ReLU(u) = r * u with r = 1[u > 0] constant. Each unit gets its own symbol r
(an activation pattern), so one proof covers every pattern at once.
"""
from __future__ import annotations

import dataclasses

import sympy as sp

from .q3_network import Q3Spec

# Layer sizes as symbols: input length n, padding p, kernel width K, pool width q,
# pool stride s, hidden units H.
n, p, K, q, s, H = sp.symbols("n p K q s H", integer=True, positive=True)
SIZE_SYMBOLS = {"input_length": n, "padding": p, "kernel_width": K, "pool_width": q,
                "pool_stride": s, "hidden_units": H}

PADDED_LENGTH = n + 2 * p
CONV_LENGTH = PADDED_LENGTH - K + 1
POOL_LENGTH = sp.floor((CONV_LENGTH - q) / s) + 1
# The pooled length appears in the counts as its own symbol P, so the formulas stay
# readable; substitutions() gives P its value from POOL_LENGTH.
P = sp.Symbol("P", integer=True, positive=True)


def parameter_formulas() -> dict[str, sp.Expr]:
    """Trainable parameters of each layer as a sympy expression in the sizes.

    conv1: K weights (one input channel, one filter) + 1 bias; avgpool1: none;
    fc1: one weight per (pooled input, unit) + one bias per unit; z: H weights + 1 bias.
    The pooled length is the symbol ``P``; its formula is ``POOL_LENGTH``.
    """
    return {
        "pad": sp.Integer(0),
        "conv1": K * 1 * 1 + 1,
        "avgpool1": sp.Integer(0),
        "flatten": sp.Integer(0),
        "fc1": P * H + H,
        "z": H * 1 + 1,
    }


def substitutions(spec: Q3Spec) -> dict:
    """Map each size symbol (and the pooled length P) to its value in ``spec``."""
    subs = {sym: getattr(spec, name) for name, sym in SIZE_SYMBOLS.items()}
    subs[P] = int(POOL_LENGTH.subs(subs))
    return subs


def parameter_table(spec: Q3Spec = Q3Spec(), model=None):
    """Formula, its value, and Keras' ``count_params()`` per layer (plus a total row).

    Returns a pandas DataFrame with columns layer, formula, formula value, Keras, equal.
    """
    import pandas as pd

    from .q3_network import build_q3_model

    model = model if model is not None else build_q3_model(spec)
    subs = substitutions(spec)
    rows = []
    for name, expr in parameter_formulas().items():
        value = int(expr.subs(subs))
        keras_count = int(model.get_layer(name).count_params())
        rows.append({"layer": name, "formula": str(expr), "formula value": value,
                     "Keras": keras_count, "equal": value == keras_count})
    total_expr = sp.Add(*parameter_formulas().values())
    total, keras_total = int(total_expr.subs(subs)), int(model.count_params())
    rows.append({"layer": "total", "formula": str(total_expr), "formula value": total,
                 "Keras": keras_total, "equal": total == keras_total})
    return pd.DataFrame(rows)


def total_parameters(spec: Q3Spec) -> int:
    """Total trainable parameters of the Q3 network of size ``spec`` (from the formulas)."""
    return int(sp.Add(*parameter_formulas().values()).subs(substitutions(spec)))


@dataclasses.dataclass
class SymbolicNetwork:
    """The Q3 network written out in sympy for a (small) ``spec``.

    Index conventions are 1-based, as in the text: ``x_pad[0]`` and ``x_pad[-1]`` are
    the zero padding, ``wc[k-1]`` is W^C_k, ``wa[i-1][j-1]`` is W^A_{ij}.
    ``rc[m-1]`` and ``rf[i-1]`` are the ReLU activation indicators of c_m and f_i.
    """

    spec: Q3Spec
    x_pad: list
    wc: list
    bc: sp.Symbol
    wa: sp.Matrix
    bm: list
    wf: list
    bf: sp.Symbol
    y: sp.Symbol
    rc: list
    rf: list
    a: list
    z: sp.Expr
    cost: sp.Expr

    @classmethod
    def build(cls, spec: Q3Spec) -> "SymbolicNetwork":
        if spec.pool_length * spec.hidden_units > 64:
            raise ValueError("the symbolic network is meant for small specs (P * H <= 64); "
                             f"got P={spec.pool_length}, H={spec.hidden_units}")
        xs = sp.symbols(f"x_1:{spec.input_length + 1}", real=True)
        x_pad = [sp.Integer(0)] * spec.padding + list(xs) + [sp.Integer(0)] * spec.padding
        wc = list(sp.symbols(f"W^C_1:{spec.kernel_width + 1}", real=True))
        bc, bf, y = sp.symbols("b^C b^F Y", real=True)
        h, pl, cl = spec.hidden_units, spec.pool_length, spec.conv_length
        wa = sp.Matrix(h, pl, lambda i, j: sp.Symbol(f"W^A_{{{i + 1},{j + 1}}}", real=True))
        bm = list(sp.symbols(f"b^M_1:{h + 1}", real=True))
        wf = list(sp.symbols(f"W^F_1:{h + 1}", real=True))
        rc = list(sp.symbols(f"r^c_1:{cl + 1}", nonnegative=True))
        rf = list(sp.symbols(f"r^f_1:{h + 1}", nonnegative=True))
        c = [rc[m] * (sum(wc[k] * x_pad[m + k] for k in range(spec.kernel_width)) + bc) for m in range(cl)]
        a = [sum(c[j * spec.pool_stride : j * spec.pool_stride + spec.pool_width]) / spec.pool_width
             for j in range(pl)]
        f = [rf[i] * (sum(wa[i, j] * a[j] for j in range(pl)) + bm[i]) for i in range(h)]
        t = sum(wf[i] * f[i] for i in range(h)) + bf
        z = 1 / (1 + sp.exp(-t))
        cost = -y * sp.log(z) - (1 - y) * sp.log(1 - z)
        return cls(spec, x_pad, wc, bc, wa, bm, wf, bf, y, rc, rf, a, z, cost)

    # -- the chapter's hand formulas, written with the same symbols ----------------
    def hand_dcost_dwa(self, j: int, i: int) -> sp.Expr:
        """dCost/dW^A_{ji} = (z - Y) W^F_j 1[f_j > 0] a_i   (1-based j, i)."""
        return (self.z - self.y) * self.wf[j - 1] * self.rf[j - 1] * self.a[i - 1]

    def hand_dcost_dwc1(self, pool_factor=None) -> sp.Expr:
        """dCost/dW^C_1 = sum_m (1/q) dCost/da_{j(m)} 1[c_m > 0] x~_{m-1}.

        ``pool_factor`` overrides the 1/q (the draft answer's version uses 1).
        """
        spec = self.spec
        factor = sp.Rational(1, spec.pool_width) if pool_factor is None else pool_factor
        h = spec.hidden_units
        dcost_da = [sum((self.z - self.y) * self.wf[k] * self.rf[k] * self.wa[k, j] for k in range(h))
                    for j in range(spec.pool_length)]
        total = sp.Integer(0)
        for j in range(spec.pool_length):
            for m in range(j * spec.pool_stride, j * spec.pool_stride + spec.pool_width):
                total += factor * dcost_da[j] * self.rc[m] * self.x_pad[m]
        return total

    def draft_dcost_dwa(self, j: int, i: int) -> sp.Expr:
        """The draft's dCost/dW^A_{ji} = (z - Y) W^F_i 1(f_i > 0) a_j, needing H == P."""
        return (self.z - self.y) * self.wf[i - 1] * self.rf[i - 1] * self.a[j - 1]


def is_zero(expr: sp.Expr) -> bool:
    """True when ``expr`` simplifies to exactly 0.

    The derivative of the cost contains the sigmoid's exp(-t) with t a long
    polynomial. Replacing exp(-t) by a fresh symbol E turns the expression into a
    rational function of E and the parameters; if that is identically zero, so is the
    original (it is the special case E = exp(-t)). ``cancel`` decides that exactly.
    """
    exps = list(expr.atoms(sp.exp))
    subs = {e: sp.Symbol(f"E_{k}", positive=True) for k, e in enumerate(exps)}
    return sp.cancel(sp.together(expr.xreplace(subs))) == 0


def differs_somewhere(expr: sp.Expr, seed: int = 0) -> bool:
    """True when ``expr`` is non-zero at a random point (all ReLU indicators set to 1).

    A witness for claims that an expression is *not* zero, complementing :func:`is_zero`.
    """
    import random

    rng = random.Random(seed)
    point = {}
    for sym in expr.free_symbols:
        point[sym] = 1 if sym.name.startswith("r^") else sp.Rational(rng.randint(-9, 9), 10)
    return abs(float(expr.xreplace(point).evalf())) > 1e-12


@dataclasses.dataclass
class GradientProof:
    """Outcome of :func:`prove_gradients` on a reduced network."""

    spec: Q3Spec
    dwc1_difference_is_zero: bool
    dwa_differences_are_zero: bool
    draft_dwc1_differs: bool
    draft_dwa_differs: bool | None  # None where the draft formula is undefined (H != P)
    dwc1_hand: sp.Expr

    def summary(self) -> dict[str, bool | None]:
        return {
            "sympy.diff - hand dCost/dW^C_1 == 0": self.dwc1_difference_is_zero,
            "sympy.diff - hand dCost/dW^A_ji == 0 (all j, i)": self.dwa_differences_are_zero,
            "draft dCost/dW^C_1 differs from sympy.diff": self.draft_dwc1_differs,
            "draft dCost/dW^A_ji differs from sympy.diff": self.draft_dwa_differs,
        }


def prove_gradients(spec: Q3Spec = Q3Spec(input_length=5, hidden_units=3)) -> GradientProof:
    """Differentiate the full symbolic cost and compare with the hand formulas.

    The default reduced instance has n=5 (pad 7, conv 6, pool 3) and H=3 = P, so the
    draft's W^A formula is defined and can be tested too.
    """
    net = SymbolicNetwork.build(spec)
    w1 = net.wc[0]
    dwc1 = sp.diff(net.cost, w1)
    dwc1_ok = is_zero(dwc1 - net.hand_dcost_dwc1())
    draft_wc1_differs = differs_somewhere(dwc1 - net.hand_dcost_dwc1(pool_factor=sp.Integer(1)))
    dwa_ok = all(
        is_zero(sp.diff(net.cost, net.wa[j - 1, i - 1]) - net.hand_dcost_dwa(j, i))
        for j in range(1, spec.hidden_units + 1)
        for i in range(1, spec.pool_length + 1)
    )
    draft_dwa_differs = None
    if spec.hidden_units == spec.pool_length:
        draft_dwa_differs = any(
            differs_somewhere(sp.diff(net.cost, net.wa[j - 1, i - 1]) - net.draft_dcost_dwa(j, i))
            for j in range(1, spec.hidden_units + 1)
            for i in range(1, spec.pool_length + 1)
        )
    return GradientProof(spec, dwc1_ok, dwa_ok, draft_wc1_differs, draft_dwa_differs, net.hand_dcost_dwc1())


VARIANTS = {
    "as asked": Q3Spec(),
    "no padding": Q3Spec(padding=0),
    "pool stride 1": Q3Spec(pool_stride=1),
    "no pooling (q = s = 1)": Q3Spec(pool_width=1, pool_stride=1),
}


def variant_table(variants: dict[str, Q3Spec] = VARIANTS):
    """Pooled length and total parameters of network variants, by formula and by Keras.

    Returns a pandas DataFrame with columns variant, P, fc1, total (formula), total (Keras).
    """
    import pandas as pd

    from .q3_network import build_q3_model

    fc1 = parameter_formulas()["fc1"]
    rows = []
    for name, spec in variants.items():
        subs = substitutions(spec)
        rows.append({"variant": name, "P": subs[P], "fc1": int(fc1.subs(subs)),
                     "total (formula)": total_parameters(spec),
                     "total (Keras)": int(build_q3_model(spec).count_params())})
    return pd.DataFrame(rows)
