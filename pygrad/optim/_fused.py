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
             nesterov: bool = False, maximize: bool = False) -> None:
    """One SGD update of ``param`` in place (PyTorch's rule), not recorded.

    g = ±grad + wd·p (``maximize`` negates the gradient first); with momentum μ: b = g at step 1,
    else μ·b + (1 - dampening)·g, and d = g + μ·b (Nesterov) or b; p ← p - lr·d. ``momentum_buf`` (param's shape
    and dtype) is needed when μ ≠ 0 and is updated in place.
    """
    if _hook is not None and _hook("sgd", (param, grad, momentum_buf),
                                   (step, lr, momentum, dampening, weight_decay, nesterov, maximize)):
        return
    _check(lib.pg_sgd_step(_state_arg("sgd_step", "param", param), _state_arg("sgd_step", "grad", grad),
                           _state_arg("sgd_step", "momentum_buf", momentum_buf), int(step), float(lr),
                           float(momentum), float(dampening), float(weight_decay), bool(nesterov), bool(maximize)))


def adagrad_step(param: Tensor, grad: Tensor, state_sum: Tensor, step: int, lr: float, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, eps: float = 1e-10, maximize: bool = False) -> None:
    """One AdaGrad update in place: g = ±grad + wd·p (``maximize`` negates the gradient first),
    s ← s + g², p ← p - clr·g/(√s + eps), clr = lr / (1 + (step - 1)·lr_decay)."""
    if _hook is not None and _hook("adagrad", (param, grad, state_sum),
                                   (step, lr, lr_decay, weight_decay, eps, maximize)):
        return
    _check(lib.pg_adagrad_step(_state_arg("adagrad_step", "param", param), _state_arg("adagrad_step", "grad", grad),
                               _state_arg("adagrad_step", "state_sum", state_sum), int(step), float(lr),
                               float(lr_decay), float(weight_decay), float(eps), bool(maximize)))


def rmsprop_step(param: Tensor, grad: Tensor, square_avg: Tensor, momentum_buf: Tensor | None,
                 grad_avg: Tensor | None, lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 maximize: bool = False) -> None:
    """One RMSProp update in place, with g = ±grad + wd·p (``maximize`` negates the gradient first):
    v ← α·v + (1 - α)·g², den = √(v - ḡ²) + eps (centered, with ḡ the running mean of g) or √v + eps;
    p ← p - lr·g/den, or through a momentum buffer b ← μ·b + g/den, p ← p - lr·b."""
    if _hook is not None and _hook("rmsprop", (param, grad, square_avg, momentum_buf, grad_avg),
                                   (lr, alpha, eps, weight_decay, momentum, centered, maximize)):
        return
    op = "rmsprop_step"
    _check(lib.pg_rmsprop_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                               _state_arg(op, "square_avg", square_avg), _state_arg(op, "momentum_buf", momentum_buf),
                               _state_arg(op, "grad_avg", grad_avg), float(lr), float(alpha), float(eps),
                               float(weight_decay), float(momentum), bool(centered), bool(maximize)))


def adam_step(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, max_exp_avg_sq: Tensor | None,
              step: int, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
              weight_decay: float = 0.0, decoupled_weight_decay: bool = False, amsgrad: bool = False,
              maximize: bool = False) -> None:
    """One Adam (or AdamW, ``decoupled_weight_decay=True``) update in place:
    m ← β₁m + (1 - β₁)g, v ← β₂v + (1 - β₂)g², p ← p - lr/(1 - β₁ᵗ) · m / (√v/√(1 - β₂ᵗ) + eps).
    Adam adds wd·p to g; AdamW first scales p by (1 - lr·wd). ``amsgrad`` uses the running
    maximum of v (kept in ``max_exp_avg_sq``). ``maximize`` negates the gradient first."""
    if _hook is not None and _hook("adam", (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq),
                                   (step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad,
                                    maximize)):
        return
    op = "adamw_step" if decoupled_weight_decay else "adam_step"
    _check(lib.pg_adam_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                            _state_arg(op, "exp_avg", exp_avg), _state_arg(op, "exp_avg_sq", exp_avg_sq),
                            _state_arg(op, "max_exp_avg_sq", max_exp_avg_sq), int(step), float(lr), float(beta1),
                            float(beta2), float(eps), float(weight_decay), bool(decoupled_weight_decay),
                            bool(amsgrad), bool(maximize)))


def adamax_step(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_inf: Tensor, step: int, lr: float,
                beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
                maximize: bool = False) -> None:
    """One Adamax update in place: g = ±grad + wd·p, m ← lerp(m, g, 1 - β₁), u ← max(β₂·u, |g| + eps),
    p ← p - lr/(1 - β₁ᵗ) · m/u (``maximize`` negates the gradient first)."""
    if _hook is not None and _hook("adamax", (param, grad, exp_avg, exp_inf),
                                   (step, lr, beta1, beta2, eps, weight_decay, maximize)):
        return
    op = "adamax_step"
    _check(lib.pg_adamax_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                              _state_arg(op, "exp_avg", exp_avg), _state_arg(op, "exp_inf", exp_inf), int(step),
                              float(lr), float(beta1), float(beta2), float(eps), float(weight_decay), bool(maximize)))


def nadam_step(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, step: int, mu_product: float,
               lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
               momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, maximize: bool = False) -> None:
    """One NAdam update in place, with μₜ = β₁(1 - ½·0.96^(t·ψ)) and ``mu_product`` = μ₁⋯μₜ (the
    caller's running product): m, v as Adam, d = √(v/(1 - β₂ᵗ)) + eps,
    p ← p - lr(1 - μₜ)/(1 - Πμ) · g/d - lr·μₜ₊₁/(1 - Πμ·μₜ₊₁) · m/d."""
    if _hook is not None and _hook("nadam", (param, grad, exp_avg, exp_avg_sq),
                                   (step, mu_product, lr, beta1, beta2, eps, weight_decay, momentum_decay,
                                    decoupled_weight_decay, maximize)):
        return
    op = "nadam_step"
    _check(lib.pg_nadam_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                             _state_arg(op, "exp_avg", exp_avg), _state_arg(op, "exp_avg_sq", exp_avg_sq), int(step),
                             float(mu_product), float(lr), float(beta1), float(beta2), float(eps),
                             float(weight_decay), float(momentum_decay), bool(decoupled_weight_decay),
                             bool(maximize)))


def radam_step(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, step: int, lr: float,
               beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
               decoupled_weight_decay: bool = False, maximize: bool = False) -> None:
    """One RAdam update in place: m, v as Adam; with ρₜ > 5,
    p ← p - (m/(1 - β₁ᵗ))·lr·(√(1 - β₂ᵗ)/(√v + eps))·r (r the rectification), else p ← p - (m/(1 - β₁ᵗ))·lr."""
    if _hook is not None and _hook("radam", (param, grad, exp_avg, exp_avg_sq),
                                   (step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize)):
        return
    op = "radam_step"
    _check(lib.pg_radam_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                             _state_arg(op, "exp_avg", exp_avg), _state_arg(op, "exp_avg_sq", exp_avg_sq), int(step),
                             float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
                             bool(decoupled_weight_decay), bool(maximize)))


def adadelta_step(param: Tensor, grad: Tensor, square_avg: Tensor, acc_delta: Tensor, lr: float = 1.0,
                  rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0, maximize: bool = False) -> None:
    """One Adadelta update in place: v ← ρv + (1 - ρ)g², δ = √(a + eps)/√(v + eps)·g,
    a ← ρa + (1 - ρ)δ², p ← p - lr·δ."""
    if _hook is not None and _hook("adadelta", (param, grad, square_avg, acc_delta),
                                   (lr, rho, eps, weight_decay, maximize)):
        return
    op = "adadelta_step"
    _check(lib.pg_adadelta_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                                _state_arg(op, "square_avg", square_avg), _state_arg(op, "acc_delta", acc_delta),
                                float(lr), float(rho), float(eps), float(weight_decay), bool(maximize)))


def rprop_step(param: Tensor, grad: Tensor, prev: Tensor, step_size: Tensor, etaminus: float = 0.5,
               etaplus: float = 1.2, step_size_min: float = 1e-6, step_size_max: float = 50.0,
               maximize: bool = False) -> None:
    """One Rprop update in place: s ← clamp(s·η₊ where g·g_prev > 0, s·η₋ where < 0 (then g ← 0),
    step_sizes), p ← p - sign(g)·s, g_prev ← g (``step_size`` starts at lr, ``prev`` at 0)."""
    if _hook is not None and _hook("rprop", (param, grad, prev, step_size),
                                   (etaminus, etaplus, step_size_min, step_size_max, maximize)):
        return
    op = "rprop_step"
    _check(lib.pg_rprop_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                             _state_arg(op, "prev", prev), _state_arg(op, "step_size", step_size), float(etaminus),
                             float(etaplus), float(step_size_min), float(step_size_max), bool(maximize)))
