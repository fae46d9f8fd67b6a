"""Gradient clipping (``pygrad.nn.utils``, PyTorch's names and semantics). The clipped
gradient replaces ``p.grad`` (a new tensor, so a gradient someone else holds is never
written), which is what an optimizer then reads."""

from __future__ import annotations

import math
from typing import Any

from pygrad.errors import PygradTypeError, PygradValueError

from ._backend import engine_of, is_tensor


def _with_grads(op: str, parameters: Any) -> list[Any]:
    ps = [parameters] if is_tensor(parameters) else list(parameters)
    for p in ps:
        if not is_tensor(p):
            raise PygradTypeError(f"{op}: expected tensors, got {type(p).__name__}")
    return [p for p in ps if p.grad is not None]


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Any:
    """Scale every gradient in place by ``min(1, max_norm / (total_norm + 1e-6))``,
    total_norm being the ``norm_type``-norm of all gradients together (``inf`` for the
    largest magnitude), accumulated in float64. Returns total_norm (a float64 0-d tensor
    of the gradients' engine; 0.0 without gradients). ``error_if_nonfinite=True``: a total
    norm that is NaN or infinite raises RuntimeError (PyTorch's message) before any gradient
    is scaled. All of it is tensor ops, the check included (the ``check_finite_norm`` op),
    so a step that clips compiles (``pygrad.compile``) and checks at each call.
    ``foreach`` (PyTorch's choice of kernel) is accepted and changes nothing."""
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not norm_type > 0:
        raise PygradValueError(f"clip_grad_norm_: norm_type must be positive or inf, got {norm_type}")
    ps = _with_grads("clip_grad_norm_", parameters)
    gs = [p.grad for p in ps]
    if not any(g.numel() for g in gs):
        return 0.0
    E = engine_of(gs[0])
    with E.no_grad():
        parts = [g.double().abs() for g in gs if g.numel()]
        if math.isinf(norm_type):
            total = E.stack([a.max() for a in parts]).max()
        else:
            acc = (parts[0] ** norm_type).sum()
            for a in parts[1:]:
                acc = acc + (a ** norm_type).sum()
            total = acc ** (1.0 / norm_type)
        if error_if_nonfinite:
            total = total._check_finite_norm(norm_type)
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for p, g in zip(ps, gs):
            p.grad = g * coef.to(g.dtype)
    return total


def clip_grad_value_(parameters: Any, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient in place to [-clip_value, clip_value] (``foreach``, PyTorch's
    choice of kernel, is accepted and changes nothing)."""
    c = float(clip_value)
    if not c >= 0:
        raise PygradValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _with_grads("clip_grad_value_", parameters):
        E = engine_of(p)
        with E.no_grad():
            p.grad = p.grad.clamp(-c, c)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
