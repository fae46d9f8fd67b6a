"""The reference engine's Adamax, NAdam, RAdam, Adadelta and Rprop, in numpy (PyTorch's constructors and
update rules), and the checks of their hyperparameters that both engines share.

The C engine runs its own fused kernels for these (csrc/optim.c, through pygrad.optim.optimizer); the
rules here are the oracle the tests hold those kernels to. Each step reads the parameter and its gradient
into float64 numpy arrays, applies the rule and returns the new values; the state is kept in the
parameter's dtype (a float32 buffer is rounded once each time it is stored).

With g the gradient (negated first when ``maximize``; then + wd·p, or p ← p·(1 − lr·wd) where
decoupled), t the step count from 1:

- Adamax:   m ← lerp(m, g, 1 − β₁), u ← max(β₂·u, |g| + eps), p ← p − lr/(1 − β₁ᵗ) · m/u
- NAdam:    μₜ = β₁(1 − ½·0.96^(t·ψ)), Πμ ← Πμ·μₜ; m, v as Adam; d = √(v/(1 − β₂ᵗ)) + eps;
            p ← p − lr(1 − μₜ)/(1 − Πμ) · g/d − lr·μₜ₊₁/(1 − Πμ·μₜ₊₁) · m/d
- RAdam:    m, v as Adam; ρ∞ = 2/(1 − β₂) − 1, ρₜ = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ); when ρₜ > 5:
            p ← p − (m/(1 − β₁ᵗ))·lr·(√(1 − β₂ᵗ)/(√v + eps))·r, r the rectification; else
            p ← p − (m/(1 − β₁ᵗ))·lr
- Adadelta: v ← ρv + (1 − ρ)g², δ = √(a + eps)/√(v + eps) · g, a ← ρa + (1 − ρ)δ², p ← p − lr·δ
- Rprop:    s (from lr, in the parameter's dtype) ← s·η₊ where g·g_prev > 0, s·η₋ where < 0 (then
            g = 0), clamped to step_sizes; p ← p − sign(g)·s; g_prev ← g
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from pygrad.errors import PygradTypeError, PygradValueError

Array = np.ndarray


# the numpy helpers of the reference engine's optimizers too (pygrad.reference.optim)


def _f64(a: Any) -> Array:
    """a (an array, or a tensor's values) as float64."""
    return np.asarray(a.numpy() if hasattr(a, "numpy") else a, dtype=np.float64)


def _old(state: dict[str, Any], key: str, like: Array, fill: float = 0.0) -> Array:
    """The saved buffer ``key`` as float64, or ``fill`` everywhere on first use."""
    return _f64(state[key]) if key in state else np.full(like.shape, fill)


def _store(state: dict[str, Any], key: str, value: Array, dtype: Any) -> Array:
    """Keep ``value`` in the parameter's dtype; return it as float64 (rounded)."""
    state[key] = np.asarray(value).astype(dtype)
    return _f64(state[key])


def _lerp(start: Array, end: Array, w: float) -> Array:
    """start + w (end - start), in the two-sided form that is exact at w = 0 and 1."""
    return start + w * (end - start) if w < 0.5 else end - (end - start) * (1.0 - w)


def _real(name: str, what: str, v: Any, lo: float = 0.0) -> None:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise PygradTypeError(f"{name}: {what} must be a real number, got {type(v).__name__}")
    if not float(v) >= lo:
        raise PygradValueError(f"{name}: invalid {what} {v} (must be >= {lo})")


def _betas(name: str, betas: Any) -> None:
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise PygradValueError(f"{name}: invalid betas {tuple(betas)} (each must be in [0, 1))")


def _decay(p: Array, g: Array, h: dict[str, Any], dtype: Any, decoupled: bool) -> tuple[Array, Array]:
    """The gradient negated (maximize), then weight decay: g + wd·p, or p·(1 − lr·wd) (decoupled)."""
    if h.get("maximize"):
        g = -g
    wd = h["weight_decay"]
    if wd != 0:
        if decoupled:
            p = _f64((p * (1 - h["lr"] * wd)).astype(dtype))
        else:
            g = g + wd * p
    return p, g


class _Rules:
    """The rule of each optimizer: ``rule(p, g, state, group, dtype)`` returns the new values."""

    name = ""
    defaults: dict[str, Any] = {}

    def check(self, g: dict[str, Any]) -> None:
        _real(self.name, "learning rate", g["lr"])
        for k in ("eps", "weight_decay"):
            if k in g:
                _real(self.name, k, g[k])
        if "betas" in g:
            _betas(self.name, g["betas"])


class _Adamax(_Rules):
    name = "Adamax"

    def rule(self, p: Array, g: Array, state: dict[str, Any], h: dict[str, Any], dtype: Any) -> Array:
        state["step"] = t = state.get("step", 0) + 1
        b1, b2 = h["betas"]
        p, g = _decay(p, g, h, dtype, False)
        m = _store(state, "exp_avg", _lerp(_old(state, "exp_avg", p), g, 1 - b1), dtype)
        u = _store(state, "exp_inf", np.maximum(b2 * _old(state, "exp_inf", p), np.abs(g) + h["eps"]), dtype)
        return p - (h["lr"] / (1 - b1 ** t)) * (m / u)


class _NAdam(_Rules):
    name = "NAdam"

    def check(self, g: dict[str, Any]) -> None:
        super().check(g)
        _real(self.name, "momentum_decay", g["momentum_decay"])

    def rule(self, p: Array, g: Array, state: dict[str, Any], h: dict[str, Any], dtype: Any) -> Array:
        state["step"] = t = state.get("step", 0) + 1
        b1, b2 = h["betas"]
        psi, lr = h["momentum_decay"], h["lr"]
        p, g = _decay(p, g, h, dtype, h["decoupled_weight_decay"])
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] = prod = state.get("mu_product", 1.0) * mu
        m = _store(state, "exp_avg", _lerp(_old(state, "exp_avg", p), g, 1 - b1), dtype)
        v = _store(state, "exp_avg_sq", b2 * _old(state, "exp_avg_sq", p) + (1 - b2) * (g * g), dtype)
        d = np.sqrt(v / (1 - b2 ** t)) + h["eps"]
        p = p - (lr * (1 - mu) / (1 - prod)) * (g / d)
        return p - (lr * mu_next / (1 - prod * mu_next)) * (m / d)


class _RAdam(_Rules):
    name = "RAdam"

    def rule(self, p: Array, g: Array, state: dict[str, Any], h: dict[str, Any], dtype: Any) -> Array:
        state["step"] = t = state.get("step", 0) + 1
        b1, b2 = h["betas"]
        lr = h["lr"]
        p, g = _decay(p, g, h, dtype, h["decoupled_weight_decay"])
        m = _store(state, "exp_avg", _lerp(_old(state, "exp_avg", p), g, 1 - b1), dtype)
        v = _store(state, "exp_avg_sq", b2 * _old(state, "exp_avg_sq", p) + (1 - b2) * (g * g), dtype)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        m_hat = m / bc1
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * (b2 ** t) / bc2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            return p - m_hat * lr * (math.sqrt(bc2) / (np.sqrt(v) + h["eps"])) * rect
        return p - m_hat * lr


class _Adadelta(_Rules):
    name = "Adadelta"

    def check(self, g: dict[str, Any]) -> None:
        super().check(g)
        if not 0.0 <= g["rho"] <= 1.0:
            raise PygradValueError(f"Adadelta: invalid rho {g['rho']} (must be in [0, 1])")

    def rule(self, p: Array, g: Array, state: dict[str, Any], h: dict[str, Any], dtype: Any) -> Array:
        state["step"] = state.get("step", 0) + 1
        rho, eps = h["rho"], h["eps"]
        p, g = _decay(p, g, h, dtype, False)
        v = _store(state, "square_avg", rho * _old(state, "square_avg", p) + (1 - rho) * (g * g), dtype)
        acc = _old(state, "acc_delta", p)
        delta = np.sqrt(acc + eps) / np.sqrt(v + eps) * g
        _store(state, "acc_delta", rho * acc + (1 - rho) * (delta * delta), dtype)
        return p - h["lr"] * delta


class _Rprop(_Rules):
    name = "Rprop"

    def check(self, g: dict[str, Any]) -> None:
        super().check(g)
        etaminus, etaplus = g["etas"]
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise PygradValueError(f"Rprop: invalid etas {tuple(g['etas'])} (need 0 < eta- < 1 < eta+)")
        lo, hi = g["step_sizes"]
        if not 0.0 <= lo <= hi:
            raise PygradValueError(f"Rprop: invalid step_sizes {tuple(g['step_sizes'])}")

    def rule(self, p: Array, g: Array, state: dict[str, Any], h: dict[str, Any], dtype: Any) -> Array:
        state["step"] = state.get("step", 0) + 1
        etaminus, etaplus = h["etas"]
        lo, hi = h["step_sizes"]
        if h.get("maximize"):
            g = -g
        prev = _old(state, "prev", p)
        # the sizes start at lr as the parameter's dtype holds it (as PyTorch's full_like(p, lr))
        size = _old(state, "step_size", p, fill=float(np.asarray(h["lr"], dtype=np.float64).astype(dtype)))
        sign = np.sign(g * prev)  # NaN stays NaN, in the factor and the size, as in PyTorch
        factor = np.where(sign > 0, etaplus, np.where(sign < 0, etaminus, np.where(sign == 0, 1.0, sign)))
        size = np.clip(size * factor, lo, hi)
        size = _store(state, "step_size", size, dtype)
        g = np.where(sign < 0, 0.0, g)
        _store(state, "prev", g, dtype)
        return p - np.sign(g) * size


RULES: dict[str, _Rules] = {r.name: r for r in (_Adamax(), _NAdam(), _RAdam(), _Adadelta(), _Rprop())}


def check(name: str, group: dict[str, Any]) -> None:
    """ValueError (TypeError) for the hyperparameters of optimizer ``name`` out of range: both engines'."""
    RULES[name].check(group)


def bind(base: type) -> dict[str, type]:
    """The five optimizers as subclasses of the reference engine's ``Optimizer``."""

    def make(rules: _Rules, signature: Any) -> type:
        def check(self: Any, g: dict[str, Any]) -> None:
            rules.check(g)

        def rule(self: Any, p: Array, g: Array, state: dict[str, Any], h: dict[str, Any], dtype: Any) -> Array:
            return rules.rule(p, g, state, h, dtype)

        ns = {"__init__": signature, "__doc__": _DOCS[rules.name], "__module__": base.__module__,
              "_check_group": check, "_check": check, "_rule": rule}
        return type(rules.name, (base,), ns)

    def adamax(self: Any, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0.0, maximize: bool = False) -> None:
        base.__init__(self, params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                     "maximize": bool(maximize)})

    def nadam(self: Any, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
              eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
              decoupled_weight_decay: bool = False, maximize: bool = False) -> None:
        base.__init__(self, params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                     "momentum_decay": momentum_decay,
                                     "decoupled_weight_decay": bool(decoupled_weight_decay),
                                     "maximize": bool(maximize)})

    def radam(self: Any, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
              eps: float = 1e-8, weight_decay: float = 0.0, decoupled_weight_decay: bool = False,
              maximize: bool = False) -> None:
        base.__init__(self, params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                     "decoupled_weight_decay": bool(decoupled_weight_decay),
                                     "maximize": bool(maximize)})

    def adadelta(self: Any, params: Any, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, maximize: bool = False) -> None:
        base.__init__(self, params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                                     "maximize": bool(maximize)})

    def rprop(self: Any, params: Any, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
              step_sizes: tuple[float, float] = (1e-6, 50), maximize: bool = False) -> None:
        base.__init__(self, params, {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes),
                                     "maximize": bool(maximize)})

    sigs = {"Adamax": adamax, "NAdam": nadam, "RAdam": radam, "Adadelta": adadelta, "Rprop": rprop}
    return {name: make(r, sigs[name]) for name, r in RULES.items()}


_DOCS = {
    "Adamax": "Adamax (Adam with the infinity norm): m ← lerp(m, g, 1 − β₁), u ← max(β₂u, |g| + eps), "
              "p ← p − lr/(1 − β₁ᵗ) · m/u (pygrad._optim_rules; maximize ascends).",
    "NAdam": "NAdam (Adam with Nesterov momentum and momentum decay ψ), PyTorch's rule "
             "(pygrad._optim_rules; maximize ascends).",
    "RAdam": "RAdam (Adam with the variance rectification, plain momentum SGD while ρₜ ≤ 5), PyTorch's rule "
             "(pygrad._optim_rules; maximize ascends).",
    "Adadelta": "Adadelta: v ← ρv + (1 − ρ)g², δ = √(a + eps)/√(v + eps)·g, a ← ρa + (1 − ρ)δ², p ← p − lr·δ "
                "(pygrad._optim_rules; maximize ascends).",
    "Rprop": "Rprop (resilient backpropagation): per-element step sizes grown by η₊ while the gradient keeps "
             "its sign and shrunk by η₋ when it flips (pygrad._optim_rules; maximize ascends).",
}
