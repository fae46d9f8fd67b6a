"""Optimizers, learning-rate schedules and gradient descent of the reference engine, in numpy.

The same API as :mod:`pygrad.optim` (PyTorch's constructors and update
rules), written from the formulas without the C kernels, as the oracle the
tests hold them to. Each update reads the parameter, its gradient and its
state in float64, evaluates the rule in the order of its docstring, and
stores state and parameter back in the parameter's dtype (so float32 values
are rounded once per step, as the C kernels do).
"""

from __future__ import annotations

import math
import numbers
import types as _types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from pygrad import _copying
from pygrad._optim_rules import _decay, _f64, _lerp, _old, _store
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError

from .autograd import enable_grad, no_grad
from .tensor import Tensor, float32, float64, tensor

Array = np.ndarray


class Optimizer:
    """Parameter groups, per-parameter state (numpy arrays in the parameter's dtype),
    ``zero_grad``, ``step``, ``state_dict`` / ``load_state_dict``."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, (Tensor, dict)) or not isinstance(params, Iterable):
            raise PygradTypeError(
                f"{name}: params must be an iterable of Tensors or of dicts, got {type(params).__name__}")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise PygradValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # copy, deepcopy, pickle: the state follows the (copied) parameters (pygrad._copying)
    def __getstate__(self) -> dict[str, Any]:
        return _copying.optimizer_getstate(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        _copying.optimizer_setstate(self, state)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add ``{"params": [...], hyperparameter: value}``; missing hyperparameters take the defaults."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise PygradTypeError(f"{name}: a parameter group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise PygradTypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a reference Tensor")
            if not p.requires_grad or not p.is_leaf:
                raise PygradValueError(
                    f"{name}: parameter {i} (shape {p.shape}) must be a leaf tensor that requires grad")
            if id(p) in seen:
                raise PygradValueError(f"{name}: parameter {i} (shape {p.shape}) appears in more than one group")
            seen.add(id(p))
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}, "params": params}
        self._check(full)
        self.param_groups.append(full)

    def _check(self, group: dict[str, Any]) -> None:
        """ValueError for hyperparameters out of range."""

    def _rule(self, p: Array, g: Array, state: dict[str, Any], group: dict[str, Any], dtype: np.dtype) -> Array:
        """The new parameter values (float64) from p and g (float64); updates ``state``."""
        raise NotImplementedError

    def zero_grad(self, set_to_none: bool = True) -> None:
        """``p.grad = None`` for every parameter (or fill the gradients with zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()`` if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(id(p), {})
                new = self._rule(_f64(p.numpy()), _f64(p.grad.numpy()), state, group, p.dtype)
                with no_grad():
                    p.copy_(new.astype(p.dtype))
        return loss

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [...]}``, parameters numbered in group order."""
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {index[k]: {n: (v.copy() if isinstance(v, np.ndarray) else v) for n, v in st.items()}
                 for k, st in self.state.items() if k in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` into an optimizer over parameters of the same shapes."""
        name = type(self).__name__
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if groups is None or "state" not in state_dict:
            raise PygradValueError(f"{name}: load_state_dict expects a dict with 'state' and 'param_groups'")
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups]:
            raise PygradValueError(f"{name}: the saved state's groups do not match this optimizer's")
        params = [p for g in self.param_groups for p in g["params"]]
        new_state: dict[int, dict[str, Any]] = {}
        for i, st in state_dict["state"].items():
            p = params[int(i)]
            entry = {}
            for k, v in st.items():
                if isinstance(v, np.ndarray):
                    if v.shape != p.shape:
                        raise ShapeError(f"{name}: saved state {k!r} of parameter {i} has shape {v.shape}, "
                                         f"the parameter {p.shape}")
                    v = v.astype(p.dtype)
                entry[k] = v
            new_state[id(p)] = entry
        for g, saved in zip(self.param_groups, groups):
            g.update({k: v for k, v in saved.items() if k != "params"})
        self.state = new_state


def _at_least(name: str, what: str, v: float) -> None:
    if not isinstance(v, numbers.Real):
        raise PygradTypeError(f"{name}: {what} must be a real number, got {type(v).__name__}")
    if isinstance(v, int) and not -1e308 < v < 1e308:
        raise PygradValueError(f"{name}: invalid {what} of {v.bit_length()} bits: it does not fit a float "
                               "(must be a number >= 0)")
    if not v >= 0:
        raise PygradValueError(f"{name}: invalid {what} {v} (must be >= 0)")


class SGD(Optimizer):
    """g = ∇ (-∇ when maximize) + wd·p; b = g (first step) or μ·b + (1 - dampening)·g;
    d = g + μ·b (Nesterov), b (momentum) or g; p ← p - lr·d."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=bool(maximize)))

    def _check(self, g: dict[str, Any]) -> None:
        for k in ("lr", "momentum", "weight_decay"):
            _at_least("SGD", "learning rate" if k == "lr" else k, g[k])
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise PygradValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")

    def _rule(self, p: Array, g: Array, state: dict[str, Any], h: dict[str, Any], dtype: np.dtype) -> Array:
        state["step"] = state.get("step", 0) + 1
        _, g = _decay(p, g, h, dtype, False)
        mu = h["momentum"]
        if mu != 0:
            if state["step"] == 1:
                b = _store(state, "momentum_buffer", g, dtype)
            else:
                b = _store(state, "momentum_buffer", mu * _f64(state["momentum_buffer"]) + (1 - h["dampening"]) * g,
                           dtype)
            g = g + mu * b if h["nesterov"] else b
        return p - h["lr"] * g


class Adagrad(Optimizer):
    """g = ∇ (-∇ when maximize) + wd·p; s ← s + g²; p ← p - clr·(g / (√s + eps)), clr = lr / (1 + (t - 1)·lr_decay)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=bool(maximize)))

    def _check(self, g: dict[str, Any]) -> None:
        for k in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _at_least("Adagrad", "learning rate" if k == "lr" else k, g[k])

    def _rule(self, p: Array, g: Array, state: dict[str, Any], h: dict[str, Any], dtype: np.dtype) -> Array:
        start = _old(state, "sum", p, h["initial_accumulator_value"]).astype(dtype)
        state["step"] = t = state.get("step", 0) + 1
        _, g = _decay(p, g, h, dtype, False)
        clr = h["lr"] / (1 + (t - 1) * h["lr_decay"])
        s = _store(state, "sum", _f64(start) + g * g, dtype)
        return p - clr * (g / (np.sqrt(s) + h["eps"]))


class RMSprop(Optimizer):
    """g = ∇ (-∇ when maximize) + wd·p; v ← α·v + (1 - α)·g²; den = √v + eps, or √(v - ḡ²) + eps with
    ḡ ← lerp(ḡ, g, 1 - α) (centered); p ← p - lr·(g/den), or b ← μ·b + g/den, p ← p - lr·b."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=bool(maximize)))

    def _check(self, g: dict[str, Any]) -> None:
        for k in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            _at_least("RMSprop", "learning rate" if k == "lr" else k, g[k])

    def _rule(self, p: Array, g: Array, state: dict[str, Any], h: dict[str, Any], dtype: np.dtype) -> Array:
        state["step"] = state.get("step", 0) + 1
        _, g = _decay(p, g, h, dtype, False)
        a = h["alpha"]
        v = _store(state, "square_avg", a * _old(state, "square_avg", p) + (1 - a) * (g * g), dtype)
        if h["centered"]:
            mean = _store(state, "grad_avg", _lerp(_old(state, "grad_avg", p), g, 1 - a), dtype)
            den = np.sqrt(v - mean * mean) + h["eps"]
        else:
            den = np.sqrt(v) + h["eps"]
        if h["momentum"] > 0:
            b = _store(state, "momentum_buffer", h["momentum"] * _old(state, "momentum_buffer", p) + g / den, dtype)
            return p - h["lr"] * b
        return p - h["lr"] * (g / den)


class Adam(Optimizer):
    """g = ∇ (-∇ when maximize) + wd·p (AdamW instead: p ← p·(1 - lr·wd)); m ← lerp(m, g, 1 - β₁);
    v ← β₂·v + (1 - β₂)·g² (amsgrad: v ← max(v̂, v)); p ← p - lr/(1 - β₁ᵗ)·(m / (√v/√(1 - β₂ᵗ) + eps))."""

    _decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=bool(maximize)))

    def _check(self, g: dict[str, Any]) -> None:
        name = type(self).__name__
        for k in ("lr", "eps", "weight_decay"):
            _at_least(name, "learning rate" if k == "lr" else k, g[k])
        if len(g["betas"]) != 2 or not all(0 <= b < 1 for b in g["betas"]):
            raise PygradValueError(f"{name}: invalid betas {g['betas']} (each must be in [0, 1))")

    def _rule(self, p: Array, g: Array, state: dict[str, Any], h: dict[str, Any], dtype: np.dtype) -> Array:
        state["step"] = t = state.get("step", 0) + 1
        b1, b2 = h["betas"]
        lr = h["lr"]
        p, g = _decay(p, g, h, dtype, self._decoupled)
        m = _store(state, "exp_avg", _lerp(_old(state, "exp_avg", p), g, 1 - b1), dtype)
        v = _store(state, "exp_avg_sq", b2 * _old(state, "exp_avg_sq", p) + (1 - b2) * (g * g), dtype)
        if h["amsgrad"]:
            v = _store(state, "max_exp_avg_sq", np.maximum(_old(state, "max_exp_avg_sq", p), v), dtype)
        den = np.sqrt(v) / math.sqrt(1 - b2 ** t) + h["eps"]
        return p - (lr / (1 - b1 ** t)) * (m / den)


class AdamW(Adam):
    """Adam with decoupled weight decay (default wd = 1e-2)."""

    _decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


# ---------------------------------------------------------- schedules ---


class LRScheduler:
    """Sets each group's ``lr`` to ``lr_at(initial_lr, epoch)`` on every step (epoch 0 at creation)."""

    def __init__(self, optimizer: Any, last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            if last_epoch == -1:
                g.setdefault("initial_lr", g["lr"])
            elif "initial_lr" not in g:
                raise PygradValueError(f"{type(self).__name__}: 'initial_lr' missing to resume at {last_epoch}")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The rate at ``epoch`` of a group that started at ``base_lr``."""
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The rates of every group at the current epoch."""
        return [self.lr_at(b, self.last_epoch) for b in self.base_lrs]

    def step(self) -> None:
        """Advance one epoch."""
        self.last_epoch += 1
        self._last_lr = self.get_lr()
        for g, lr in zip(self.optimizer.param_groups, self._last_lr):
            g["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The rates set by the last step."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr₀ · γ^⌊t / step_size⌋."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if not isinstance(step_size, int) or isinstance(step_size, bool) or step_size < 1:
            raise PygradValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """lr₀ · γᵗ."""

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """η_min + (lr₀ - η_min)·(1 + cos(π t / T_max))/2."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:  # noqa: N803
        if not isinstance(T_max, int) or isinstance(T_max, bool) or T_max < 1:
            raise PygradValueError(f"CosineAnnealingLR: T_max must be a positive int, got {T_max!r}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


# ---------------------------------------------------- gradient descent ---


@dataclass
class MinimizeResult:
    """``x`` (last point), ``fun`` = f(x), ``grad_norm``, ``nit`` (updates made), ``reason``
    (``"tol"``, ``"gtol"``, ``"max_iter"`` or ``"nonfinite"``), ``history`` (f at each point)."""

    x: np.ndarray
    fun: float
    grad_norm: float
    nit: int
    reason: str
    history: list[float] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """True when tol or gtol stopped the descent."""
        return self.reason in ("tol", "gtol")


def minimize(f: Callable[[Tensor], Tensor], x0: Any, lr: float = 0.1, tol: float = 1e-10, gtol: float = 1e-8,
             max_iter: int = 10_000) -> MinimizeResult:
    """Gradient descent xᵏ⁺¹ = xᵏ - lr ∇f(xᵏ) until ‖∇f(xᵏ)‖ < gtol, |f(xᵏ) - f(xᵏ⁻¹)| < tol,
    or ``max_iter`` updates."""
    if not lr > 0:
        raise PygradValueError(f"minimize: lr must be > 0, got {lr}")
    if not (tol >= 0 and gtol >= 0):
        raise PygradValueError(f"minimize: tol and gtol must be >= 0, got {tol} and {gtol}")
    if not isinstance(max_iter, int) or isinstance(max_iter, bool) or max_iter < 0:
        raise PygradValueError(f"minimize: max_iter must be an int >= 0, got {max_iter!r}")
    data = x0.numpy() if isinstance(x0, Tensor) else np.asarray(x0)
    x = tensor(data, dtype=float32 if data.dtype == np.float32 else float64, requires_grad=True)
    history: list[float] = []
    prev: float | None = None
    k = 0
    while True:
        x.grad = None
        fx = f(x)
        if not isinstance(fx, Tensor) or fx.size != 1:
            raise PygradTypeError("minimize: f must return a one-element Tensor")
        fx.backward()
        g = _f64(x.grad.numpy())
        value = float(fx.item())
        with np.errstate(over="ignore", invalid="ignore"):
            gnorm = float(np.sqrt(np.sum(g * g)))
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
            with no_grad():
                x.copy_((_f64(x.numpy()) - lr * g).astype(x.dtype))
            prev = value
            k += 1
            continue
        return MinimizeResult(x=x.numpy().copy(), fun=value, grad_norm=gnorm, nit=k, reason=reason, history=history)


# the schedules written once for both engines (pygrad._schedules), and a lr_scheduler namespace
# as torch.optim has, holding this module's own StepLR, ExponentialLR and CosineAnnealingLR;
# Adamax, NAdam, RAdam, Adadelta, Rprop: numpy rules in pygrad._optim_rules (the C engine has kernels)
from pygrad import _optim_rules  # noqa: E402 - bound below, after this module's Optimizer
from pygrad._schedules import (  # noqa: E402
    ConstantLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
)

_more = _optim_rules.bind(Optimizer)
Adamax, NAdam, RAdam, Adadelta, Rprop = (_more[k] for k in ("Adamax", "NAdam", "RAdam", "Adadelta", "Rprop"))

lr_scheduler = _types.ModuleType(f"{__name__}.lr_scheduler", "The learning-rate schedules (torch.optim.lr_scheduler).")
for _n in ("LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "MultiStepLR", "LinearLR",
           "OneCycleLR", "SequentialLR", "ReduceLROnPlateau", "ConstantLR", "PolynomialLR", "MultiplicativeLR",
           "CosineAnnealingWarmRestarts", "CyclicLR"):
    setattr(lr_scheduler, _n, globals()[_n])

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "LRScheduler", "StepLR", "ExponentialLR",
    "CosineAnnealingLR", "LambdaLR", "MultiStepLR", "LinearLR", "OneCycleLR", "SequentialLR", "ReduceLROnPlateau",
    "lr_scheduler", "MinimizeResult", "minimize", "Adamax", "NAdam", "RAdam", "Adadelta", "Rprop",
    "ConstantLR", "PolynomialLR", "MultiplicativeLR",
    "CosineAnnealingWarmRestarts", "CyclicLR",
]
