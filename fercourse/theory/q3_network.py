"""Q3: the small 1-D CNN -- its Keras form, and its forward and backward pass by hand.

Notation follows the question (1-based in the text, 0-based in the arrays):

    x~ = pad(x, p)                                    length n + 2p        (787)
    u_m = sum_k W^C_k x~_{m+k-2} + b^C,  c_m = ReLU(u_m)   m = 1..n+2p-K+1 (786)
    a_j = mean(c over pool window j)  = (c_{2j-1} + c_{2j}) / 2             (393)
    s_i = sum_j W^A_{ij} a_j + b^M_i,    f_i = ReLU(s_i)   i = 1..H        (20)
    t   = sum_i W^F_i f_i + b^F,         z   = sigmoid(t)
    Cost = -Y log z - (1 - Y) log(1 - z)

All arrays are float64 so that hand-derived gradients can be compared with
autodiff to ~1e-15.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..gradcheck import compare_gradients, numeric_gradient, tape_gradients

LAYER_NAMES = ("pad", "conv1", "avgpool1", "flatten", "fc1", "z")


@dataclasses.dataclass(frozen=True)
class Q3Spec:
    """Sizes of the Q3 network. Defaults are the question's."""

    input_length: int = 785
    padding: int = 1
    kernel_width: int = 2
    pool_width: int = 2
    pool_stride: int = 2
    hidden_units: int = 20

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name == "padding" else 1
            if not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"Q3Spec.{field.name} must be an integer >= {minimum}, got {value!r}")
        if self.conv_length < self.pool_width:
            raise ValueError(
                f"the convolution output ({self.conv_length}) is shorter than the pool width "
                f"({self.pool_width}); increase input_length or padding"
            )

    @property
    def padded_length(self) -> int:
        return self.input_length + 2 * self.padding

    @property
    def conv_length(self) -> int:
        return self.padded_length - self.kernel_width + 1

    @property
    def pool_length(self) -> int:
        return (self.conv_length - self.pool_width) // self.pool_stride + 1


@dataclasses.dataclass
class Q3Params:
    """Every trainable parameter of the network, as float64 arrays.

    Shapes: ``wc`` (K,), ``bc`` (), ``wa`` (H, P), ``bm`` (H,), ``wf`` (H,), ``bf`` ().
    ``wa[i, j]`` is W^A_{i+1, j+1}: the weight from pooled unit j to hidden unit i.
    """

    wc: np.ndarray
    bc: float
    wa: np.ndarray
    bm: np.ndarray
    wf: np.ndarray
    bf: float

    @classmethod
    def random(cls, spec: Q3Spec, seed: int = 0) -> "Q3Params":
        """Glorot-scaled weights and small positive biases (so that most ReLUs are active)."""
        rng = np.random.default_rng(seed)
        k, h, p = spec.kernel_width, spec.hidden_units, spec.pool_length
        return cls(
            wc=rng.normal(0.0, 1.0, k) / np.sqrt(k),
            bc=0.1,
            wa=rng.normal(0.0, np.sqrt(2.0 / (p + h)), (h, p)),
            bm=rng.uniform(0.0, 0.2, h),
            wf=rng.normal(0.0, np.sqrt(2.0 / (h + 1)), h),
            bf=0.0,
        )

    def to_keras(self, model) -> None:
        """Write these parameters into a model built by :func:`build_q3_model`."""
        model.get_layer("conv1").set_weights([self.wc[:, None, None], np.array([self.bc])])
        model.get_layer("fc1").set_weights([self.wa.T, self.bm])
        model.get_layer("z").set_weights([self.wf[:, None], np.array([self.bf])])


def build_q3_model(spec: Q3Spec = Q3Spec(), dtype: str = "float32"):
    """The Q3 network in Keras. Input (batch, n, 1) -> output (batch, 1) in (0, 1).

    ZeroPadding1D(p) -> Conv1D(1, K, relu) -> AveragePooling1D(q, s) -> Flatten ->
    Dense(H, relu) -> Dense(1, sigmoid). Layer names: ``LAYER_NAMES``.
    """
    from ..env import import_tensorflow

    _, keras = import_tensorflow()
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(spec.input_length, 1), dtype=dtype),
            layers.ZeroPadding1D(spec.padding, name="pad", dtype=dtype),
            layers.Conv1D(1, spec.kernel_width, activation="relu", name="conv1", dtype=dtype),
            layers.AveragePooling1D(spec.pool_width, strides=spec.pool_stride, name="avgpool1", dtype=dtype),
            layers.Flatten(name="flatten", dtype=dtype),
            layers.Dense(spec.hidden_units, activation="relu", name="fc1", dtype=dtype),
            layers.Dense(1, activation="sigmoid", name="z", dtype=dtype),
        ],
        name="q3_cnn",
    )


def example(spec: Q3Spec = Q3Spec(), seed: int = 0) -> tuple[Q3Params, np.ndarray, float]:
    """A reproducible (params, x, y) triple: Glorot weights, x ~ N(0, 1)^n, label Y = 1."""
    params = Q3Params.random(spec, seed)
    x = np.random.default_rng(seed + 1).normal(0.0, 1.0, spec.input_length)
    return params, x, 1.0


@dataclasses.dataclass
class Q3Forward:
    """Every intermediate of one forward pass (0-based arrays)."""

    x_pad: np.ndarray  # (n + 2p,)
    u: np.ndarray  # (C,) conv pre-activation
    c: np.ndarray  # (C,)
    a: np.ndarray  # (P,)
    s: np.ndarray  # (H,) FC1 pre-activation
    f: np.ndarray  # (H,)
    t: float
    z: float


def _pool_matrix(spec: Q3Spec) -> np.ndarray:
    """(P, C) matrix M with a = M c: row j averages pool window j."""
    m = np.zeros((spec.pool_length, spec.conv_length))
    for j in range(spec.pool_length):
        start = j * spec.pool_stride
        m[j, start : start + spec.pool_width] = 1.0 / spec.pool_width
    return m


def _check_input(x, spec: Q3Spec) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (spec.input_length,):
        raise ValueError(f"x must have shape ({spec.input_length},), got {x.shape}")
    return x


def forward(params: Q3Params, x, spec: Q3Spec = Q3Spec()) -> Q3Forward:
    """The forward pass of one sample ``x`` (shape (n,)), in float64."""
    x = _check_input(x, spec)
    x_pad = np.pad(x, spec.padding)
    windows = np.lib.stride_tricks.sliding_window_view(x_pad, spec.kernel_width)  # (C, K)
    u = windows @ params.wc + params.bc
    c = np.maximum(u, 0.0)
    a = _pool_matrix(spec) @ c
    s = params.wa @ a + params.bm
    f = np.maximum(s, 0.0)
    t = float(params.wf @ f + params.bf)
    z = float(1.0 / (1.0 + np.exp(-t)))
    return Q3Forward(x_pad=x_pad, u=u, c=c, a=a, s=s, f=f, t=t, z=z)


def cost(params: Q3Params, x, y: float, spec: Q3Spec = Q3Spec()) -> float:
    """Binary cross-entropy of one sample: -Y log z - (1 - Y) log(1 - z)."""
    z = forward(params, x, spec).z
    return float(-y * np.log(z) - (1.0 - y) * np.log(1.0 - z))


def _backward(params: Q3Params, x, y: float, spec: Q3Spec,
              fw: Q3Forward | None = None) -> dict[str, np.ndarray]:
    """Every gradient of the chain rule, parameters and intermediates (see hand_gradients).

    ``fw`` reuses a forward pass the caller already has.
    """
    fw = fw if fw is not None else forward(params, x, spec)
    delta = fw.z - y
    g_s = delta * params.wf * (fw.s > 0)
    g_a = params.wa.T @ g_s
    g_c = _pool_matrix(spec).T @ g_a  # each c_m receives 1/q of every window that averages it
    g_u = g_c * (fw.u > 0)
    windows = np.lib.stride_tricks.sliding_window_view(fw.x_pad, spec.kernel_width)
    return {
        "W^C": windows.T @ g_u,
        "b^C": np.array(g_u.sum()),
        "W^A": np.outer(g_s, fw.a),
        "b^M": g_s,
        "W^F": delta * fw.f,
        "b^F": np.array(delta),
        "a": g_a,
        "c": g_c,
        "s": g_s,
    }


PARAMETER_KEYS = ("W^C", "b^C", "W^A", "b^M", "W^F", "b^F")


def hand_gradients(params: Q3Params, x, y: float, spec: Q3Spec = Q3Spec()) -> dict[str, np.ndarray]:
    """The hand-derived gradients of the cost (the chapter's formulas), one sample.

    Keys: ``W^C`` (K,), ``b^C``, ``W^A`` (H, P), ``b^M`` (H,), ``W^F`` (H,), ``b^F``;
    ``W^C_1`` is ``W^C[0]``. Each line is one equation of the derivation:

        dCost/dt        = z - Y                                    (sigmoid + BCE)
        dCost/ds_i      = (z - Y) W^F_i 1[s_i > 0]
        dCost/dW^A_{ji} = (z - Y) W^F_j 1[s_j > 0] a_i
        dCost/da_i      = sum_k (z - Y) W^F_k 1[s_k > 0] W^A_{ki}
        dCost/dc_m      = sum over windows j containing m of dCost/da_j / q   (the 1/2)
        dCost/dW^C_1    = sum_m dCost/dc_m 1[u_m > 0] x~_{m-1}
    """
    grads = _backward(params, x, y, spec)
    return {key: grads[key] for key in PARAMETER_KEYS}


def upstream_gradients(params: Q3Params, x, y: float, spec: Q3Spec = Q3Spec()) -> dict[str, np.ndarray]:
    """dCost/da (P,) and dCost/dc (C,): the gradient before and after the average pool."""
    grads = _backward(params, x, y, spec)
    return {"a": grads["a"], "c": grads["c"]}


def draft_dcost_dwc1(params: Q3Params, x, y: float, spec: Q3Spec = Q3Spec()) -> float:
    """The draft answer's dCost/dW^C_1, with its indices repaired but its pooling factor as written.

    The draft sums over a pooled index j inside ``W^F_j`` and ``W^A_{ji}`` -- which do
    not exist at full size (W^F has H entries, j runs to P) -- and drops the 1/q of the
    average pool. Repairing only the indices leaves the missing 1/q, so the result is
    q times the true gradient.
    """
    fw = forward(params, x, spec)
    g_a = _backward(params, x, y, spec, fw)["a"]
    routing = (_pool_matrix(spec) > 0).astype(np.float64)  # 1 where c_m feeds a_j: no 1/q
    g_u = (routing.T @ g_a) * (fw.u > 0)
    return float(g_u @ fw.x_pad[: spec.conv_length])


def draft_dcost_dwa(params: Q3Params, x, y: float, spec: Q3Spec = Q3Spec()) -> np.ndarray:
    """The draft's ``dCost/dW^A_{ji} = (z - Y) W^F_i 1(f_i > 0) a_j``, taken literally.

    It indexes W^F (H entries) by the pooled index and a (P entries) by the hidden
    index, so it is only defined when H == P; otherwise a ``ValueError`` says so.
    Returns an (H, P) array laid out like ``W^A``.
    """
    h, p = spec.hidden_units, spec.pool_length
    if h != p:
        raise ValueError(
            f"the draft formula for dCost/dW^A_ji is not defined here: it reads W^F_i for pooled "
            f"index i up to P={p}, but W^F has only H={h} entries (it needs H == P)"
        )
    fw = forward(params, x, spec)
    g_s = _backward(params, x, y, spec, fw)["s"]
    return np.outer(fw.a, g_s)  # [j, i] = a_j g_s[i]: the true gradient, transposed


def keras_gradients(params: Q3Params, x, y: float, spec: Q3Spec = Q3Spec()) -> dict[str, np.ndarray]:
    """The same gradients by ``tf.GradientTape`` through the float64 Keras model."""
    from ..env import import_tensorflow

    tf, _ = import_tensorflow()
    model = build_q3_model(spec, dtype="float64")
    params.to_keras(model)
    xb = tf.constant(_check_input(x, spec)[None, :, None])
    yb = tf.constant(float(y), dtype=tf.float64)

    def loss():
        z = model(xb)[0, 0]
        return -yb * tf.math.log(z) - (1.0 - yb) * tf.math.log(1.0 - z)

    conv, fc1, out = (model.get_layer(n) for n in ("conv1", "fc1", "z"))
    g = tape_gradients(loss, [conv.kernel, conv.bias, fc1.kernel, fc1.bias, out.kernel, out.bias])
    return {
        "W^C": g[0][:, 0, 0],
        "b^C": g[1][0],
        "W^A": g[2].T,
        "b^M": g[3],
        "W^F": g[4][:, 0],
        "b^F": g[5][0],
    }


def finite_difference_gradients(
    params: Q3Params, x, y: float, spec: Q3Spec = Q3Spec(), eps: float = 1e-6
) -> dict[str, np.ndarray]:
    """``dCost/dW^C`` and ``dCost/dW^A`` by central differences of :func:`cost` (float64)."""

    def perturbed(name):
        def f(value):
            trial = dataclasses.replace(params, **{name: value})
            return cost(trial, x, y, spec)

        return f

    return {
        "W^C": numeric_gradient(perturbed("wc"), params.wc, eps),
        "W^A": numeric_gradient(perturbed("wa"), params.wa, eps),
    }


def gradient_checks(params: Q3Params, x, y: float, spec: Q3Spec = Q3Spec()):
    """The chapter's check table: hand formulas vs GradientTape and finite differences.

    Tolerances: 1e-8 against autodiff (both exact up to rounding), 1e-6 against
    central differences (truncation error ~eps^2 times the third derivative).
    Returns a list of :class:`~fercourse.gradcheck.GradientComparison`.
    """
    hand = hand_gradients(params, x, y, spec)
    tape = keras_gradients(params, x, y, spec)
    fd = finite_difference_gradients(params, x, y, spec)
    rows = []
    for label, pick in (("dCost/dW^C_1", lambda g: g["W^C"][0]), ("dCost/dW^A", lambda g: g["W^A"])):
        rows.append(compare_gradients(pick(hand), pick(tape), quantity=label, candidate_name="hand formula",
                                      reference_name="GradientTape", tolerance=1e-8))
        rows.append(compare_gradients(pick(hand), pick(fd), quantity=label, candidate_name="hand formula",
                                      reference_name="finite differences", tolerance=1e-6))
    for key in ("W^C", "b^C", "b^M", "W^F", "b^F"):
        rows.append(compare_gradients(hand[key], tape[key], quantity=f"dCost/d{key}",
                                      candidate_name="hand formula", reference_name="GradientTape",
                                      tolerance=1e-8))
    return rows


def draft_checks(params: Q3Params, x, y: float, spec: Q3Spec = Q3Spec()):
    """The draft answer's formulas measured against ``tf.GradientTape`` (they should fail).

    dW^C_1 always; dW^A only where the draft's formula is defined (H == P).
    """
    tape = keras_gradients(params, x, y, spec)
    rows = [compare_gradients(draft_dcost_dwc1(params, x, y, spec), tape["W^C"][0], quantity="dCost/dW^C_1",
                              candidate_name="draft formula", reference_name="GradientTape", tolerance=1e-8)]
    if spec.hidden_units == spec.pool_length:
        rows.append(compare_gradients(draft_dcost_dwa(params, x, y, spec), tape["W^A"], quantity="dCost/dW^A",
                                      candidate_name="draft formula", reference_name="GradientTape",
                                      tolerance=1e-8))
    return rows
