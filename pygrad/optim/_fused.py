"""The fused optimizer updates of the C engine (csrc/optim.c), used by pygrad.optim.

Each is one C call per parameter, in place, not recorded on the tape.
"""

from __future__ import annotations

from typing import Any

from pygrad._bindings import _NULL, _check, lib
from pygrad._tensor import Tensor
from pygrad.errors import PygradTypeError

# pygrad.compile's view of the updates: when set, each update first calls
# _hook(kind, tensors, scalars) (the scalars in the C function's order) and is
# left out when it returns True (pygrad._compile computes a replay's scalars so)
_hook: Any = None


def _state_arg(op: str, what: str, t: Any) -> Any:
    """The C handle of an optimizer tensor argument (None: NULL)."""
    if t is None:
        return _NULL
    if not isinstance(t, Tensor):
        raise PygradTypeError(f"{op}: {what} must be a pygrad Tensor, got {type(t).__name__}")
    return t._p


def sgd_step(param: Tensor, grad: Tensor, momentum_buf: Tensor | None, step: int, lr: float,
             momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
             nesterov: bool = False) -> None:
    """One SGD update of ``param`` in place (PyTorch's rule), not recorded.

    g = grad + wd·p; with momentum μ: b = g at step 1, else μ·b + (1 - dampening)·g,
    and d = g + μ·b (Nesterov) or b; p ← p - lr·d. ``momentum_buf`` (param's shape
    and dtype) is needed when μ ≠ 0 and is updated in place.
    """
    if _hook is not None and _hook("sgd", (param, grad, momentum_buf),
                                   (step, lr, momentum, dampening, weight_decay, nesterov)):
        return
    _check(lib.pg_sgd_step(_state_arg("sgd_step", "param", param), _state_arg("sgd_step", "grad", grad),
                           _state_arg("sgd_step", "momentum_buf", momentum_buf), int(step), float(lr),
                           float(momentum), float(dampening), float(weight_decay), bool(nesterov)))


def adagrad_step(param: Tensor, grad: Tensor, state_sum: Tensor, step: int, lr: float, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, eps: float = 1e-10) -> None:
    """One AdaGrad update in place: g = grad + wd·p, s ← s + g², p ← p - clr·g/(√s + eps),
    clr = lr / (1 + (step - 1)·lr_decay)."""
    if _hook is not None and _hook("adagrad", (param, grad, state_sum), (step, lr, lr_decay, weight_decay, eps)):
        return
    _check(lib.pg_adagrad_step(_state_arg("adagrad_step", "param", param), _state_arg("adagrad_step", "grad", grad),
                               _state_arg("adagrad_step", "state_sum", state_sum), int(step), float(lr),
                               float(lr_decay), float(weight_decay), float(eps)))


def rmsprop_step(param: Tensor, grad: Tensor, square_avg: Tensor, momentum_buf: Tensor | None,
                 grad_avg: Tensor | None, lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
    """One RMSProp update in place: v ← α·v + (1 - α)·g², den = √(v - ḡ²) + eps (centered, with
    ḡ the running mean of g) or √v + eps; p ← p - lr·g/den, or through a momentum buffer
    b ← μ·b + g/den, p ← p - lr·b."""
    if _hook is not None and _hook("rmsprop", (param, grad, square_avg, momentum_buf, grad_avg),
                                   (lr, alpha, eps, weight_decay, momentum, centered)):
        return
    op = "rmsprop_step"
    _check(lib.pg_rmsprop_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                               _state_arg(op, "square_avg", square_avg), _state_arg(op, "momentum_buf", momentum_buf),
                               _state_arg(op, "grad_avg", grad_avg), float(lr), float(alpha), float(eps),
                               float(weight_decay), float(momentum), bool(centered)))


def adam_step(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, max_exp_avg_sq: Tensor | None,
              step: int, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
              weight_decay: float = 0.0, decoupled_weight_decay: bool = False, amsgrad: bool = False) -> None:
    """One Adam (or AdamW, ``decoupled_weight_decay=True``) update in place:
    m ← β₁m + (1 - β₁)g, v ← β₂v + (1 - β₂)g², p ← p - lr/(1 - β₁ᵗ) · m / (√v/√(1 - β₂ᵗ) + eps).
    Adam adds wd·p to g; AdamW first scales p by (1 - lr·wd). ``amsgrad`` uses the running
    maximum of v (kept in ``max_exp_avg_sq``)."""
    if _hook is not None and _hook("adam", (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq),
                                   (step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad)):
        return
    op = "adamw_step" if decoupled_weight_decay else "adam_step"
    _check(lib.pg_adam_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                            _state_arg(op, "exp_avg", exp_avg), _state_arg(op, "exp_avg_sq", exp_avg_sq),
                            _state_arg(op, "max_exp_avg_sq", max_exp_avg_sq), int(step), float(lr), float(beta1),
                            float(beta2), float(eps), float(weight_decay), bool(decoupled_weight_decay),
                            bool(amsgrad)))
