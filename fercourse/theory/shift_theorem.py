"""The brief's correlation on the cycle Z_n, and its shift theorem checked with symbolic signals."""
from __future__ import annotations

import numpy as np


def correlate(f, psi) -> np.ndarray:
    """The brief's correlation on the cycle Z_n: ``(f * psi)(x) = sum_y f(y) psi(y - x)`` for
    1-D ``f`` and ``psi`` of equal length n (indices mod n)."""
    f, psi = np.asarray(f), np.asarray(psi)
    n = len(f)
    return np.array([sum(f[y] * psi[(y - x) % n] for y in range(n)) for x in range(n)])


def symbolic_shift_check(n: int = 5):
    """The shift theorem on Z_n with symbolic signals: for every shift t and position x,
    ``((L_t f) * psi)(x) - (L_t (f * psi))(x)``, simplified. Returns (the n x n sympy
    Matrix of those differences, rows = t, and one worked expression as a string)."""
    import sympy as sp

    f = sp.symbols(f"f0:{n}")
    psi = sp.symbols(f"psi0:{n}")

    def corr(a, x):  # (a * psi)(x) = sum_y a(y) psi(y - x)
        return sum(a[y] * psi[(y - x) % n] for y in range(n))

    def shifted(a, t):  # (L_t a)(y) = a(y - t)
        return [a[(y - t) % n] for y in range(n)]

    lhs = lambda t, x: corr(shifted(f, t), x)  # noqa: E731
    rhs = lambda t, x: corr(f, (x - t) % n)  # (L_t (f * psi))(x) = (f * psi)(x - t)  # noqa: E731
    diffs = sp.Matrix(n, n, lambda t, x: sp.expand(lhs(t, x) - rhs(t, x)))
    example = f"((L_1 f) * psi)(0) = {sp.expand(lhs(1, 0))}\n  (f * psi)(-1)    = {sp.expand(rhs(1, 0))}"
    return diffs, example
