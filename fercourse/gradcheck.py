"""Gradient checking: numeric gradients, relative errors, comparison tables.

Used by every chapter that derives a gradient by hand. The convention throughout:
gradients are float64 NumPy arrays, and the error of a candidate ``g`` against a
reference ``r`` is the *normwise* relative error

    rel(g, r) = max_i |g_i - r_i| / max(max_i |g_i|, max_i |r_i|),

which, unlike an element-wise ratio, does not explode on entries that are zero
because a ReLU is inactive.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Sequence

import numpy as np


def numeric_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite-difference gradient of a scalar function ``f`` at ``x``.

    ``x`` may have any shape; the result has the same shape, in float64. The
    truncation error is O(eps^2); with float64 and eps=1e-6 expect ~1e-9 relative.
    """
    x = np.array(x, dtype=np.float64)  # a private copy: f may not see a half-perturbed caller array
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    grad = np.empty_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        plus = float(f(x))
        flat[i] = orig - eps
        minus = float(f(x))
        flat[i] = orig
        gflat[i] = (plus - minus) / (2.0 * eps)
    return grad


def relative_error(candidate, reference) -> float:
    """Normwise relative error ``max|c - r| / max(max|c|, max|r|)`` (0 when both are 0)."""
    c = np.asarray(candidate, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if c.shape != r.shape:
        raise ValueError(f"shape mismatch: candidate {c.shape} vs reference {r.shape}")
    scale = max(np.max(np.abs(c), initial=0.0), np.max(np.abs(r), initial=0.0))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(c - r)) / scale)


@dataclasses.dataclass(frozen=True)
class GradientComparison:
    """One row of a gradient check: ``candidate`` measured against ``reference``."""

    quantity: str
    candidate: str
    reference: str
    shape: tuple[int, ...]
    max_abs_error: float
    relative_error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.relative_error < self.tolerance

    def as_dict(self) -> dict:
        # Kept narrow on purpose: the table has to fit a PDF page as plain text.
        return {
            "quantity": self.quantity,
            "candidate": self.candidate,
            "reference": self.reference,
            "rel. error": self.relative_error,
            "tolerance": self.tolerance,
            "passed": self.passed,
        }


def compare_gradients(
    candidate,
    reference,
    *,
    quantity: str,
    candidate_name: str,
    reference_name: str,
    tolerance: float,
) -> GradientComparison:
    """Measure one gradient against another; see :func:`relative_error`."""
    c = np.asarray(candidate, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    rel = relative_error(c, r)
    return GradientComparison(
        quantity=quantity,
        candidate=candidate_name,
        reference=reference_name,
        shape=tuple(c.shape),
        max_abs_error=float(np.max(np.abs(c - r), initial=0.0)),
        relative_error=rel,
        tolerance=tolerance,
    )


def comparison_table(rows: Iterable[GradientComparison]):
    """A pandas DataFrame of comparisons, one row each (for display in a notebook)."""
    import pandas as pd

    return pd.DataFrame([row.as_dict() for row in rows])


def assert_all_passed(rows: Sequence[GradientComparison]) -> None:
    """Raise ``AssertionError`` naming every comparison that missed its tolerance."""
    failed = [r for r in rows if not r.passed]
    if failed:
        lines = [
            f"{r.quantity}: {r.candidate} vs {r.reference} relative error {r.relative_error:.3e} "
            f">= tolerance {r.tolerance:.0e}"
            for r in failed
        ]
        raise AssertionError("gradient check failed:\n" + "\n".join(lines))


def tape_gradients(loss_fn: Callable[[], "object"], variables: Sequence) -> list[np.ndarray]:
    """Gradients of ``loss_fn()`` with respect to ``variables`` by ``tf.GradientTape``.

    Returns float64 NumPy arrays in the order of ``variables``.
    """
    from .env import import_tensorflow

    tf, _ = import_tensorflow()
    with tf.GradientTape() as tape:
        loss = loss_fn()
    grads = tape.gradient(loss, list(variables))
    return [np.asarray(g, dtype=np.float64) for g in grads]
