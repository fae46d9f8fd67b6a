"""Plain gradient descent on a function of one tensor, with the notes' stopping rules.

Seed 004's algorithm: from x⁰, repeat xᵏ = xᵏ⁻¹ - η ∇f(xᵏ⁻¹) until the value
stops changing, |f(xᵏ) - f(xᵏ⁻¹)| < ε (``tol``), or the gradient is small,
‖∇f(xᵏ)‖ < δ (``gtol``), or ``max_iter`` updates have been made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from pygrad import _c as E
from pygrad.errors import PygradTypeError, PygradValueError
from pygrad.optim import _fused


@dataclass
class MinimizeResult:
    """What :func:`minimize` found.

    ``x``: the last point (a numpy array of x0's shape); ``fun``: f(x);
    ``grad_norm``: ‖∇f(x)‖; ``nit``: the number of updates made; ``reason``:
    ``"tol"`` (the value changed by less than tol), ``"gtol"`` (the gradient
    norm fell below gtol), ``"max_iter"``, or ``"nonfinite"`` (f or its gradient
    became inf or nan); ``history``: f at every point visited.
    """

    x: np.ndarray
    fun: float
    grad_norm: float
    nit: int
    reason: str
    history: list[float] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """True when a tolerance (not the iteration limit, not a blow-up) stopped the descent."""
        return self.reason in ("tol", "gtol")


def _check_args(lr: float, tol: float, gtol: float, max_iter: int) -> None:
    if not lr > 0:
        raise PygradValueError(f"minimize: lr must be > 0, got {lr}")
    if not (tol >= 0 and gtol >= 0):
        raise PygradValueError(f"minimize: tol and gtol must be >= 0, got {tol} and {gtol}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0:
        raise PygradValueError(f"minimize: max_iter must be an int >= 0, got {max_iter!r}")


def minimize(f: Callable[[E.Tensor], E.Tensor], x0: Any, lr: float = 0.1, tol: float = 1e-10,
             gtol: float = 1e-8, max_iter: int = 10_000) -> MinimizeResult:
    """Minimise ``f`` by gradient descent from ``x0`` with step size ``lr``.

    ``f`` maps a tensor of x0's shape to a one-element tensor. ``x0``: numbers,
    an array or a Tensor (float64 unless it is float32 data). Each iteration
    evaluates fᵏ = f(xᵏ) and gᵏ = ∇f(xᵏ) by backprop, then stops if
    ‖gᵏ‖ < gtol, or |fᵏ - fᵏ⁻¹| < tol, or k = max_iter; otherwise it steps
    xᵏ⁺¹ = xᵏ - lr·gᵏ (a fused C update).
    """
    _check_args(lr, tol, gtol, max_iter)
    data = x0.numpy() if isinstance(x0, E.Tensor) else np.asarray(x0)
    dtype = E.float32 if data.dtype == np.float32 else E.float64
    x = E.tensor(data, dtype=dtype, requires_grad=True)
    history: list[float] = []
    prev = None
    k = 0
    while True:
        x.grad = None
        fx = f(x)
        if not isinstance(fx, E.Tensor) or fx.numel() != 1:
            what = f"a tensor of shape {fx.shape}" if isinstance(fx, E.Tensor) else type(fx).__name__
            raise PygradTypeError(f"minimize: f must return a one-element Tensor, got {what}")
        fx.backward()
        g = x.grad
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run ends as "nonfinite"
            gnorm = float(np.linalg.norm(g.numpy())) if g is not None else 0.0
        value = float(fx.item())
        history.append(value)
        if not (math.isfinite(value) and math.isfinite(gnorm)):
            reason = "nonfinite"
        elif gnorm < gtol:
            reason = "gtol"
        elif prev is not None and abs(value - prev) < tol:
            reason = "tol"
        elif k >= max_iter:
            reason = "max_iter"
        else:
            _fused.sgd_step(x, g, None, k + 1, lr)
            prev = value
            k += 1
            continue
        return MinimizeResult(x=x.numpy().copy(), fun=value, grad_norm=gnorm, nit=k, reason=reason, history=history)
