"""Optimizers whose updates run as fused C kernels (csrc/optim.c).

Each optimizer keeps PyTorch's constructor arguments and semantics: parameter
groups (a list of dicts, each with its own hyperparameters), per-parameter
state created on the first :meth:`Optimizer.step`, ``zero_grad(set_to_none=True)``
and ``state_dict()`` / ``load_state_dict()``. A parameter whose ``.grad`` is
None is skipped by ``step``. The update itself is one C call per parameter,
in place, outside the tape (it bumps the parameter's version and records
nothing, whatever the grad mode).

The same API on numpy, written independently as the oracle of the parity
tests, is :mod:`pygrad.reference.optim`.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from pygrad import _c as E
from pygrad import _copying, _engines, _optim_rules, _recording
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError
from pygrad.optim import _fused

ParamsArg = Iterable[Any]
"""Tensors, or dicts with a ``"params"`` list of tensors and per-group hyperparameters."""


class Optimizer:
    """Base class: parameter groups, state, ``zero_grad``, ``state_dict``.

    Subclasses set ``defaults`` (their hyperparameters), check them in
    :meth:`_check_group` and update one parameter in :meth:`_update`.
    """

    def __init__(self, params: ParamsArg, defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, (E.Tensor, dict)) or not isinstance(params, Iterable):
            raise PygradTypeError(
                f"{name}: params must be an iterable of Tensors or of dicts, got {type(params).__name__}")
        self.defaults: dict[str, Any] = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}  # id(param) -> that parameter's state
        groups = list(params)
        if not groups:
            raise PygradValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines + [")"])

    # copy, deepcopy, pickle: the state follows the (copied) parameters (pygrad._copying)
    def __getstate__(self) -> dict[str, Any]:
        return _copying.optimizer_getstate(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        _copying.optimizer_setstate(self, state)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group: ``{"params": [...], hyperparameter: value, ...}``; missing
        hyperparameters take the optimizer's defaults."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise PygradTypeError(f"{name}: a parameter group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, E.Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            self._check_param(p, i)
            if id(p) in seen:
                raise PygradValueError(f"{name}: parameter {i} (shape {p.shape}) appears in more than one group")
            seen.add(id(p))
        g = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}, "params": params}
        self._check_group(g)
        self.param_groups.append(g)

    def _check_param(self, p: Any, i: int) -> None:
        name = type(self).__name__
        if not isinstance(p, E.Tensor):
            hint = " (reference tensors go with pygrad.reference.optim)" if _engines.is_tensor(p) else ""
            raise PygradTypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a pygrad Tensor{hint}")
        if not p.requires_grad or not p.is_leaf:
            raise PygradValueError(
                f"{name}: parameter {i} (shape {p.shape}) must be a leaf tensor that requires grad")

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError for hyperparameters out of range."""

    def _update(self, p: E.Tensor, grad: E.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``p.grad = None`` (default), or fill them with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    if g is not None:
                        g.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()`` if given
        (it is called first, with grad mode on, to recompute the loss)."""
        loss = None
        if closure is not None:
            with E.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                state = self.state.setdefault(id(p), {})
                if _recording.RECORDING:  # pygrad.compile
                    _recording.note_update(self, p, group)
                self._update(p, g, state, group)
        return loss

    def _makes_state(self) -> bool:
        """Whether the next step would make state for some parameter (its first step): pygrad.compile
        then makes that state before its first call records (pygrad._compile._premake_state), or runs
        that call eagerly first. Any parameter without state counts, whatever the function does with it."""
        state = self.state
        return any(not state.get(id(p)) for g in self.param_groups if self._keeps_state(g) for p in g["params"])

    def _keeps_state(self, group: dict[str, Any]) -> bool:
        """Whether a step of ``group`` keeps state between steps (beyond the step count)."""
        return True

    def _zeros(self, p: E.Tensor, value: float = 0.0) -> E.Tensor:
        """A state buffer of p's shape and dtype."""
        return E.full(p.shape, value, dtype=p.dtype)

    def _advance(self, p: E.Tensor, state: dict[str, Any], *buffers: str) -> int:
        """The state's zero buffers named (made at p's first step) and its step count, advanced and returned."""
        if buffers[0] not in state:
            for name in buffers:
                state[name] = self._zeros(p)
        state["step"] = t = state.get("step", 0) + 1
        return t

    # ---- saving and restoring ----
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: value}}, "param_groups": [...]}`` with parameters
        numbered in group order (as PyTorch); tensors are saved as numpy copies."""
        index = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {}
        for pid, st in self.state.items():
            if pid in index:
                state[index[pid]] = {k: (v.numpy().copy() if isinstance(v, E.Tensor) else v) for k, v in st.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, into an optimizer over parameters of
        the same shapes, grouped the same way."""
        name = type(self).__name__
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if groups is None or "state" not in state_dict:
            raise PygradValueError(f"{name}: load_state_dict expects a dict with 'state' and 'param_groups'")
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise PygradValueError(
                f"{name}: the saved state has groups of sizes {[len(g['params']) for g in groups]}, "
                f"this optimizer {[len(g['params']) for g in self.param_groups]}")
        params = [p for g in self.param_groups for p in g["params"]]
        new_state: dict[int, dict[str, Any]] = {}
        for i, st in state_dict["state"].items():
            p = params[int(i)]
            entry = {}
            for k, v in st.items():
                if isinstance(v, np.ndarray):
                    if v.shape != p.shape:
                        raise ShapeError(
                            f"{name}: saved state {k!r} of parameter {i} has shape {v.shape}, the parameter {p.shape}")
                    v = E.tensor(v, dtype=p.dtype)
                entry[k] = v
            new_state[id(p)] = entry
        for g, saved in zip(self.param_groups, groups):
            g.update({k: v for k, v in saved.items() if k != "params"})
        self.state = new_state


def _check_min(name: str, what: str, v: float, lo: float = 0.0) -> None:
    if not isinstance(v, numbers.Real):
        raise PygradTypeError(f"{name}: {what} must be a real number, got {type(v).__name__}")
    try:
        f = float(v)
    except OverflowError:
        raise PygradValueError(f"{name}: invalid {what} of {int(v).bit_length()} bits: it does not fit a float "
                               f"(must be a number >= {lo})") from None
    if not f >= lo:
        raise PygradValueError(f"{name}: invalid {what} {v} (must be >= {lo})")


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and Nesterov momentum.

    With g = ∇p + wd·p (weight decay; ``maximize`` ascends: g = -∇p + wd·p), momentum μ and buffer b:

        b ← g (first step), then b ← μ·b + (1 - dampening)·g
        d = g + μ·b (Nesterov) or b (momentum) or g (plain)
        p ← p - lr·d

    ("Parameter = parameter - learning rate * gradient", seed 001; momentum
    accumulates an exponentially decaying sum of past gradients; Nesterov
    applies the gradient step after the momentum step as a correction.)
    """

    def __init__(self, params: ParamsArg, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov, "maximize": bool(maximize)})

    def _check_group(self, g: dict[str, Any]) -> None:
        _check_min("SGD", "learning rate", g["lr"])
        _check_min("SGD", "momentum", g["momentum"])
        _check_min("SGD", "weight_decay", g["weight_decay"])
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise PygradValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")

    def _keeps_state(self, group: dict[str, Any]) -> bool:
        return group["momentum"] != 0

    def _update(self, p: E.Tensor, grad: E.Tensor, state: dict[str, Any], g: dict[str, Any]) -> None:
        state["step"] = state.get("step", 0) + 1
        buf = None
        if g["momentum"] != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = self._zeros(p)
        _fused.sgd_step(p, grad, buf, state["step"], g["lr"], g["momentum"], g["dampening"], g["weight_decay"],
                        g["nesterov"], g["maximize"])


class Adagrad(Optimizer):
    """AdaGrad: per-coordinate steps that shrink with the accumulated squared gradients.

        g = ∇p + wd·p,   s ← s + g²,   p ← p - clr · g / (√s + eps)
        clr = lr / (1 + (t - 1)·lr_decay)

    (``maximize`` ascends: the gradient is negated first.)

    ("learning rate × gradient / sqrt(accumulated gradient norms)", seed 001.)
    """

    def __init__(self, params: ParamsArg, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "eps": eps,
                                  "maximize": bool(maximize)})

    def _check_group(self, g: dict[str, Any]) -> None:
        _check_min("Adagrad", "learning rate", g["lr"])
        _check_min("Adagrad", "lr_decay", g["lr_decay"])
        _check_min("Adagrad", "weight_decay", g["weight_decay"])
        _check_min("Adagrad", "initial_accumulator_value", g["initial_accumulator_value"])
        _check_min("Adagrad", "eps", g["eps"])

    def _update(self, p: E.Tensor, grad: E.Tensor, state: dict[str, Any], g: dict[str, Any]) -> None:
        if "sum" not in state:
            state["sum"] = self._zeros(p, g["initial_accumulator_value"])
        state["step"] = state.get("step", 0) + 1
        _fused.adagrad_step(p, grad, state["sum"], state["step"], g["lr"], g["lr_decay"], g["weight_decay"], g["eps"],
                            g["maximize"])


class RMSprop(Optimizer):
    """RMSProp: steps scaled by a running root-mean-square of the gradients.

        g = ∇p + wd·p,   v ← α·v + (1 - α)·g²
        den = √v + eps, or √(v - ḡ²) + eps when centered (ḡ ← running mean of g)
        p ← p - lr·g/den, or with momentum μ: b ← μ·b + g/den, p ← p - lr·b

    (``maximize`` ascends: the gradient is negated first.)
    """

    def __init__(self, params: ParamsArg, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum, "centered": centered, "maximize": bool(maximize)})

    def _check_group(self, g: dict[str, Any]) -> None:
        for what in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            _check_min("RMSprop", "learning rate" if what == "lr" else what, g[what])

    def _update(self, p: E.Tensor, grad: E.Tensor, state: dict[str, Any], g: dict[str, Any]) -> None:
        if "square_avg" not in state:
            state["square_avg"] = self._zeros(p)
            if g["momentum"] > 0:
                state["momentum_buffer"] = self._zeros(p)
            if g["centered"]:
                state["grad_avg"] = self._zeros(p)
        state["step"] = state.get("step", 0) + 1
        _fused.rmsprop_step(p, grad, state["square_avg"], state.get("momentum_buffer"), state.get("grad_avg"), g["lr"],
                            g["alpha"], g["eps"], g["weight_decay"], g["momentum"], g["centered"], g["maximize"])


class Adam(Optimizer):
    """Adam: momentum on the gradient and on its square, with bias correction.

        g = ∇p + wd·p (L2 penalty; AdamW decays p instead)
        m ← β₁·m + (1 - β₁)·g,   v ← β₂·v + (1 - β₂)·g²   (amsgrad: v̂ = running max of v)
        p ← p - lr/(1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + eps)

    (``maximize`` ascends: the gradient is negated first.)
    """

    _decoupled = False

    def __init__(self, params: ParamsArg, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "maximize": bool(maximize)})

    def _check_group(self, g: dict[str, Any]) -> None:
        name = type(self).__name__
        _check_min(name, "learning rate", g["lr"])
        _check_min(name, "eps", g["eps"])
        _check_min(name, "weight_decay", g["weight_decay"])
        betas = g["betas"]
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise PygradValueError(f"{name}: invalid betas {betas} (each must be in [0, 1))")

    def _update(self, p: E.Tensor, grad: E.Tensor, state: dict[str, Any], g: dict[str, Any]) -> None:
        if "exp_avg" not in state:
            state["exp_avg"] = self._zeros(p)
            state["exp_avg_sq"] = self._zeros(p)
            if g["amsgrad"]:
                state["max_exp_avg_sq"] = self._zeros(p)
        state["step"] = state.get("step", 0) + 1
        b1, b2 = g["betas"]
        _fused.adam_step(p, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"), state["step"],
                         g["lr"], b1, b2, g["eps"], g["weight_decay"], self._decoupled, g["amsgrad"], g["maximize"])


class AdamW(Adam):
    """Adam with decoupled weight decay: p ← p·(1 - lr·wd) before the Adam step
    (instead of adding wd·p to the gradient)."""

    _decoupled = True

    def __init__(self, params: ParamsArg, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


class _Checked(Optimizer):
    """Adamax, NAdam, RAdam, Adadelta, Rprop: hyperparameters checked by the rules both engines share
    (pygrad._optim_rules), so the two raise the same messages."""

    _kind = ""  # the optimizer whose checks apply (subclasses of Adamax ... keep Adamax's)

    def _check_group(self, g: dict[str, Any]) -> None:
        _optim_rules.check(self._kind, g)


class Adamax(_Checked):
    """Adamax (Adam with the infinity norm):

        g = ±∇p + wd·p,   m ← lerp(m, g, 1 - β₁),   u ← max(β₂·u, |g| + eps)
        p ← p - lr/(1 - β₁ᵗ) · m/u

    (``maximize`` ascends: the gradient is negated first, as everywhere below.)
    """

    _kind = "Adamax"

    def __init__(self, params: ParamsArg, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "maximize": bool(maximize)})

    def _update(self, p: E.Tensor, grad: E.Tensor, state: dict[str, Any], g: dict[str, Any]) -> None:
        t = self._advance(p, state, "exp_avg", "exp_inf")
        b1, b2 = g["betas"]
        _fused.adamax_step(p, grad, state["exp_avg"], state["exp_inf"], t, g["lr"], b1, b2, g["eps"],
                           g["weight_decay"], g["maximize"])


def nadam_mu(beta1: float, step: int, momentum_decay: float) -> float:
    """NAdam's momentum factor of a step: μₜ = β₁(1 - ½·0.96^(t·ψ))."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))


class NAdam(_Checked):
    """NAdam (Adam with Nesterov momentum and momentum decay ψ), PyTorch's rule:

        μₜ = β₁(1 - ½·0.96^(t·ψ)),   Πμ ← Πμ·μₜ (``state["mu_product"]``)
        m, v as Adam (decoupled_weight_decay: p ← p·(1 - lr·wd) instead of g + wd·p)
        d = √(v/(1 - β₂ᵗ)) + eps
        p ← p - lr(1 - μₜ)/(1 - Πμ) · g/d - lr·μₜ₊₁/(1 - Πμ·μₜ₊₁) · m/d
    """

    _kind = "NAdam"

    def __init__(self, params: ParamsArg, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "momentum_decay": momentum_decay,
                                  "decoupled_weight_decay": bool(decoupled_weight_decay),
                                  "maximize": bool(maximize)})

    def _update(self, p: E.Tensor, grad: E.Tensor, state: dict[str, Any], g: dict[str, Any]) -> None:
        t = self._advance(p, state, "exp_avg", "exp_avg_sq")
        b1, b2 = g["betas"]
        psi = g["momentum_decay"]
        state["mu_product"] = prod = state.get("mu_product", 1.0) * nadam_mu(b1, t, psi)
        _fused.nadam_step(p, grad, state["exp_avg"], state["exp_avg_sq"], t, prod, g["lr"], b1, b2, g["eps"],
                          g["weight_decay"], psi, g["decoupled_weight_decay"], g["maximize"])


class RAdam(_Checked):
    """RAdam (Adam with the variance rectification), PyTorch's rule:

        m, v as Adam (decoupled_weight_decay: p ← p·(1 - lr·wd) instead of g + wd·p)
        ρ∞ = 2/(1 - β₂) - 1,   ρₜ = ρ∞ - 2t·β₂ᵗ/(1 - β₂ᵗ)
        ρₜ > 5:  p ← p - (m/(1 - β₁ᵗ))·lr·(√(1 - β₂ᵗ)/(√v + eps))·r,
                 r = √((ρₜ - 4)(ρₜ - 2)ρ∞ / ((ρ∞ - 4)(ρ∞ - 2)ρₜ))
        else:    p ← p - (m/(1 - β₁ᵗ))·lr
    """

    _kind = "RAdam"

    def __init__(self, params: ParamsArg, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled_weight_decay: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "decoupled_weight_decay": bool(decoupled_weight_decay),
                                  "maximize": bool(maximize)})

    def _update(self, p: E.Tensor, grad: E.Tensor, state: dict[str, Any], g: dict[str, Any]) -> None:
        t = self._advance(p, state, "exp_avg", "exp_avg_sq")
        b1, b2 = g["betas"]
        _fused.radam_step(p, grad, state["exp_avg"], state["exp_avg_sq"], t, g["lr"], b1, b2, g["eps"],
                          g["weight_decay"], g["decoupled_weight_decay"], g["maximize"])


class Adadelta(_Checked):
    """Adadelta:

        g = ±∇p + wd·p,   v ← ρv + (1 - ρ)g²,   δ = √(a + eps)/√(v + eps) · g
        a ← ρa + (1 - ρ)δ²,   p ← p - lr·δ
    """

    _kind = "Adadelta"

    def __init__(self, params: ParamsArg, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                                  "maximize": bool(maximize)})

    def _update(self, p: E.Tensor, grad: E.Tensor, state: dict[str, Any], g: dict[str, Any]) -> None:
        self._advance(p, state, "square_avg", "acc_delta")
        _fused.adadelta_step(p, grad, state["square_avg"], state["acc_delta"], g["lr"], g["rho"], g["eps"],
                             g["weight_decay"], g["maximize"])


class Rprop(_Checked):
    """Rprop (resilient backpropagation): per-element step sizes s (starting at lr), grown by η₊
    while the gradient keeps its sign and shrunk by η₋ when it flips:

        s ← clamp(s·η₊ where g·g_prev > 0, s·η₋ where < 0 (and g ← 0 there), step_sizes)
        p ← p - sign(g)·s,   g_prev ← g
    """

    _kind = "Rprop"

    def __init__(self, params: ParamsArg, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes),
                                  "maximize": bool(maximize)})

    def _update(self, p: E.Tensor, grad: E.Tensor, state: dict[str, Any], g: dict[str, Any]) -> None:
        if "prev" not in state:
            state["prev"] = self._zeros(p)
            state["step_size"] = self._zeros(p, g["lr"])
        state["step"] = state.get("step", 0) + 1
        (etaminus, etaplus), (lo, hi) = g["etas"], g["step_sizes"]
        _fused.rprop_step(p, grad, state["prev"], state["step_size"], etaminus, etaplus, lo, hi, g["maximize"])
