"""Learning-rate schedules (PyTorch's semantics), for any optimizer with ``param_groups``.

A scheduler remembers each group's starting rate as ``initial_lr`` and, on every
:meth:`LRScheduler.step` (usually once per epoch, after ``optimizer.step()``),
sets ``group["lr"]`` to its closed form at the new epoch count t:

- :class:`StepLR`:           lr₀ · γ^⌊t / step_size⌋
- :class:`ExponentialLR`:    lr₀ · γᵗ
- :class:`CosineAnnealingLR`: η_min + (lr₀ - η_min) · (1 + cos(π t / T_max)) / 2
- :class:`LambdaLR`:         lr₀ · λ(t)
- :class:`MultiStepLR`:      lr₀ · γ^(number of milestones ≤ t)
- :class:`LinearLR`:         lr₀ · (f₀ + (f₁ - f₀) · min(t, T) / T)
- :class:`ConstantLR`:       lr₀ · factor for t < T, then lr₀
- :class:`PolynomialLR`:     lr₀ · (1 - min(t, T)/T)^power
- :class:`MultiplicativeLR`: lr_(t-1) · λ(t)
- :class:`CosineAnnealingWarmRestarts`: cosine from lr₀ to η_min over T_i, restarting (SGDR)
- :class:`CyclicLR`:         triangular cycles between base_lr and max_lr, stepped per batch
- :class:`OneCycleLR`:       warm up from max_lr/div_factor to max_lr, anneal to
  max_lr/(div_factor·final_div_factor) (cosine or linear), stepped per batch
- :class:`SequentialLR`:     one scheduler after another, switching at milestones
- :class:`ReduceLROnPlateau`: lr · factor when a metric stops improving

Creating a scheduler performs the step to epoch 0 (which leaves lr₀ in place).
"""

from __future__ import annotations

import math
from typing import Any

from pygrad.errors import PygradTypeError, PygradValueError


def _check_cycle_momentum(name: str, groups: list[dict[str, Any]]) -> None:
    """A scheduler that cycles the momentum needs SGD's ``momentum`` or Adam's ``betas`` in every group."""
    if not all("momentum" in g or "betas" in g for g in groups):
        raise PygradValueError(f"{name}: the optimizer has no momentum or betas to cycle; pass cycle_momentum=False")


def _set_momentum(g: dict[str, Any], m: float) -> None:
    """Set a group's momentum: Adam's first beta where it has betas, else SGD's ``momentum``."""
    if "betas" in g:
        g["betas"] = (m, *tuple(g["betas"])[1:])
    else:
        g["momentum"] = m


class LRScheduler:
    """Base class: subclasses give :meth:`lr_at` (the rate of group i at epoch t)."""

    def __init__(self, optimizer: Any, last_epoch: int = -1) -> None:
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list):
            raise PygradTypeError(f"{type(self).__name__}: expected an optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for g in groups:
                g.setdefault("initial_lr", g["lr"])
        elif any("initial_lr" not in g for g in groups):
            raise PygradValueError(
                f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs 'initial_lr' in every group")
        self.base_lrs: list[float] = [g["initial_lr"] for g in groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []
        self._initial_step()

    def _initial_step(self) -> None:
        """The step to epoch 0 every scheduler takes when made."""
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The learning rate at ``epoch`` of a group that started at ``base_lr``."""
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The rates of every group at the current epoch."""
        return [self.lr_at(b, self.last_epoch) for b in self.base_lrs]

    def step(self) -> None:
        """Advance one epoch and set every group's ``lr``."""
        self.last_epoch += 1
        lrs = self.get_lr()
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = lr
        self._last_lr = lrs

    def get_last_lr(self) -> list[float]:
        """The rates the last :meth:`step` set."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr = lr₀ · γ^⌊t / step_size⌋: decay by γ every ``step_size`` epochs."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise PygradValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """lr = lr₀ · γᵗ: decay by γ every epoch."""

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (lr₀ - η_min)·(1 + cos(π t / T_max))/2: half a cosine from lr₀ down to
    η_min over ``T_max`` epochs (and back up after, as PyTorch)."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:  # noqa: N803
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise PygradValueError(f"CosineAnnealingLR: T_max must be a positive int, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


def _schedule_int(name: str, what: str, v: Any, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise PygradValueError(f"{name}: {what} must be an int >= {lo}, got {v!r}")
    return v


class LambdaLR(LRScheduler):
    """lr = lr₀ · λ(t), with one λ or one per parameter group."""

    def __init__(self, optimizer: Any, lr_lambda: Any, last_epoch: int = -1) -> None:
        n = len(getattr(optimizer, "param_groups", []))
        fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(fns) != n or not all(callable(f) for f in fns):
            raise PygradTypeError(f"{type(self).__name__}: lr_lambda must be a callable or a list of {n} callables")
        self.lr_lambdas = fns
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [b * float(f(self.last_epoch)) for b, f in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer and the lambdas (functions are not state)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}


class MultiStepLR(LRScheduler):
    """lr = lr₀ · γ^k, k the number of milestones reached (a repeated milestone counts twice)."""

    def __init__(self, optimizer: Any, milestones: Any, gamma: float = 0.1, last_epoch: int = -1) -> None:
        ms = list(milestones)
        if any(isinstance(m, bool) or not isinstance(m, int) for m in ms):
            raise PygradTypeError(f"MultiStepLR: milestones must be ints, got {ms!r}")
        self.milestones = sorted(ms)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** sum(1 for m in self.milestones if m <= epoch)


class LinearLR(LRScheduler):
    """lr = lr₀ · f(t), f going linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` steps and staying there (a linear warm-up by default)."""

    def __init__(self, optimizer: Any, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise PygradValueError(f"LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1], got "
                                   f"{start_factor} and {end_factor}")
        self.start_factor, self.end_factor = float(start_factor), float(end_factor)
        self.total_iters = _schedule_int("LinearLR", "total_iters", total_iters, 0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        frac = 1.0 if self.total_iters == 0 else min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * frac)


class ConstantLR(LRScheduler):
    """lr = lr₀ · factor for the first ``total_iters`` epochs, lr₀ after."""

    def __init__(self, optimizer: Any, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1) -> None:
        if not 0 <= factor <= 1:
            raise PygradValueError(f"ConstantLR: factor must be in [0, 1], got {factor}")
        self.factor = float(factor)
        self.total_iters = _schedule_int("ConstantLR", "total_iters", total_iters, 0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * (self.factor if epoch < self.total_iters else 1.0)


class PolynomialLR(LRScheduler):
    """lr = lr₀ · (1 − min(t, T)/T)^power: down to 0 over ``total_iters`` epochs."""

    def __init__(self, optimizer: Any, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        self.total_iters = _schedule_int("PolynomialLR", "total_iters", total_iters)
        self.power = float(power)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * (1.0 - min(epoch, self.total_iters) / self.total_iters) ** self.power


class MultiplicativeLR(LambdaLR):
    """lr_t = lr_(t−1) · λ(t) for t ≥ 1 (one λ or one per group): the group's current rate is
    multiplied, so it composes with changes made by others, as PyTorch's."""

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch <= 0:
            return [g["lr"] for g in groups]
        return [g["lr"] * float(f(self.last_epoch)) for g, f in zip(groups, self.lr_lambdas)]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: lr = η_min + (lr₀ − η_min)(1 + cos(π T_cur / T_i))/2, restarting at lr₀ when T_cur reaches
    T_i; the first period is T_0 epochs and each next one T_mult times longer. ``step(epoch)`` takes a
    fractional epoch (a step per batch: ``step(epoch + i / iters)``), as PyTorch's."""

    def __init__(self, optimizer: Any, T_0: int, T_mult: int = 1, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1) -> None:
        self.T_0 = _schedule_int("CosineAnnealingWarmRestarts", "T_0", T_0)
        self.T_mult = _schedule_int("CosineAnnealingWarmRestarts", "T_mult", T_mult)
        self.eta_min = float(eta_min)
        self.T_i, self.T_cur = self.T_0, float(last_epoch)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (b - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for b in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:  # type: ignore[override]
        """Advance one epoch, or go to ``epoch`` (any non-negative number)."""
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        else:
            if not isinstance(epoch, (int, float)) or isinstance(epoch, bool) or epoch < 0:
                raise PygradValueError(f"CosineAnnealingWarmRestarts: epoch must be a non-negative number, got "
                                       f"{epoch!r}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur, self.T_i = epoch % self.T_0, self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i, self.T_cur = self.T_0, epoch
        self.last_epoch = math.floor(epoch)
        lrs = self.get_lr()
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = lr
        self._last_lr = lrs


class CyclicLR(LRScheduler):
    """Cyclical rates (Smith), stepped per batch: between ``base_lr`` and ``max_lr`` over cycles of
    ``step_size_up`` + ``step_size_down`` steps, the amplitude scaled by ``mode``: 'triangular' (1),
    'triangular2' (halved each cycle), 'exp_range' (γ^t), or ``scale_fn`` (of the cycle or of the step,
    ``scale_mode``). With ``cycle_momentum`` the momentum moves the other way between ``max_momentum``
    and ``base_momentum`` (SGD's ``momentum``, Adam's first beta)."""

    def __init__(self, optimizer: Any, base_lr: Any, max_lr: Any, step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular", gamma: float = 1.0,
                 scale_fn: Any = None, scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum: Any = 0.8, max_momentum: Any = 0.9, last_epoch: int = -1) -> None:
        groups = optimizer.param_groups

        def per_group(v: Any, what: str) -> list[float]:
            vals = list(v) if isinstance(v, (list, tuple)) else [v] * len(groups)
            if len(vals) != len(groups):
                raise PygradValueError(f"CyclicLR: {len(vals)} {what} values for {len(groups)} parameter groups")
            return [float(x) for x in vals]

        if last_epoch == -1:
            for g, lr in zip(groups, per_group(base_lr, "base_lr")):
                g["lr"] = g["initial_lr"] = lr
        self.max_lrs = per_group(max_lr, "max_lr")
        up = float(_schedule_int("CyclicLR", "step_size_up", step_size_up))
        down = up if step_size_down is None else float(_schedule_int("CyclicLR", "step_size_down", step_size_down))
        self.total_size, self.step_ratio = up + down, up / (up + down)
        if scale_fn is None:
            if mode not in ("triangular", "triangular2", "exp_range"):
                raise PygradValueError(f"CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range', got "
                                       f"{mode!r}")
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        else:
            if not callable(scale_fn) or scale_mode not in ("cycle", "iterations"):
                raise PygradValueError("CyclicLR: scale_fn must be callable and scale_mode 'cycle' or 'iterations'")
            self.scale_mode = scale_mode
        self.mode, self.gamma, self._scale_fn = mode, float(gamma), scale_fn
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            _check_cycle_momentum("CyclicLR", groups)
            self.base_momentums = per_group(base_momentum, "base_momentum")
            self.max_momentums = per_group(max_momentum, "max_momentum")
            if last_epoch == -1:
                for g, m in zip(groups, self.max_momentums):
                    _set_momentum(g, m)
        super().__init__(optimizer, last_epoch)

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at x (the cycle, or the step count)."""
        if self._scale_fn is not None:
            return float(self._scale_fn(x))
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        scale = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        s = self.scale_fn(cycle if self.scale_mode == "cycle" else t)
        lrs = [b + (m - b) * scale * s for b, m in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for g, lo, hi in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums):
                _set_momentum(g, hi - (hi - lo) * scale * s)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer and a scale function (functions are not state)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_scale_fn")}


class OneCycleLR(LRScheduler):
    """The one-cycle policy, stepped once per batch: from ``max_lr / div_factor`` up to
    ``max_lr`` over the first ``pct_start`` of ``total_steps`` (= ``epochs ·
    steps_per_epoch`` when not given), then down to ``max_lr / (div_factor ·
    final_div_factor)``, along half cosines (``anneal_strategy="cos"``) or
    straight lines (``"linear"``). Sets each group's ``initial_lr``, ``max_lr``
    and ``min_lr`` (PyTorch's keys). With ``cycle_momentum`` (the default, as in
    PyTorch) the momentum (SGD's ``momentum``, Adam's first beta) moves the
    other way, between ``max_momentum`` and ``base_momentum``."""

    def __init__(self, optimizer: Any, max_lr: Any, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: Any = 0.85, max_momentum: Any = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise PygradValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = _schedule_int("OneCycleLR", "epochs", epochs) * \
                _schedule_int("OneCycleLR", "steps_per_epoch", steps_per_epoch)
        self.total_steps = _schedule_int("OneCycleLR", "total_steps", total_steps)
        if not 0 < pct_start < 1:
            raise PygradValueError(f"OneCycleLR: pct_start must be in (0, 1), got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise PygradValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        groups = optimizer.param_groups
        maxes = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(maxes) != len(groups):
            raise PygradValueError(f"OneCycleLR: {len(maxes)} max_lr values for {len(groups)} parameter groups")
        if last_epoch == -1:
            for g, m in zip(groups, maxes):
                g["initial_lr"] = m / div_factor
                g["max_lr"] = m
                g["min_lr"] = g["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            _check_cycle_momentum("OneCycleLR", groups)
            bases = list(base_momentum) if isinstance(base_momentum, (list, tuple)) else [base_momentum] * len(groups)
            tops = list(max_momentum) if isinstance(max_momentum, (list, tuple)) else [max_momentum] * len(groups)
            if last_epoch == -1:
                for g, lo, hi in zip(groups, bases, tops):
                    _set_momentum(g, hi)
                    g["max_momentum"], g["base_momentum"] = hi, lo
        up = float(pct_start * self.total_steps) - 1
        # (end step, lr from, lr to, momentum from, momentum to): momentum moves against the rate
        if three_phase:
            self.phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (2 * up, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                           (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self.phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t > self.total_steps:  # PyTorch's bound: the step after the last one still computes a rate
            raise PygradValueError(f"OneCycleLR: stepped {t} times, more than total_steps = {self.total_steps}")
        lrs = []
        for g in self.optimizer.param_groups:
            start_step = 0.0
            lr = g["min_lr"]
            for i, (end_step, a, b, ma, mb) in enumerate(self.phases):
                if t <= end_step or i == len(self.phases) - 1:
                    pct = (t - start_step) / (end_step - start_step) if end_step > start_step else 1.0
                    lr = self._anneal(g[a], g[b], pct)
                    if self.cycle_momentum:
                        _set_momentum(g, self._anneal(g[ma], g[mb], pct))
                    break
                start_step = end_step
            lrs.append(lr)
        return lrs


class SequentialLR(LRScheduler):
    """The schedulers one after another: ``schedulers[i]`` runs from ``milestones[i-1]``
    on, restarted at its own epoch 0 there (PyTorch's semantics)."""

    def __init__(self, optimizer: Any, schedulers: Any, milestones: Any, last_epoch: int = -1) -> None:
        scheds, ms = list(schedulers), list(milestones)
        if len(scheds) < 1 or len(ms) != len(scheds) - 1:
            raise PygradValueError(f"SequentialLR: {len(scheds)} schedulers need {len(scheds) - 1} milestones, "
                                   f"got {len(ms)}")
        if any(s.optimizer is not optimizer for s in scheds):
            raise PygradValueError("SequentialLR: every scheduler must drive the given optimizer")
        self.optimizer = optimizer
        self._schedulers = scheds
        self._milestones = ms
        self.last_epoch = last_epoch + 1
        for g in optimizer.param_groups:  # undo the schedulers' own first steps, restart the first one
            g["lr"] = g["initial_lr"]
        for s in scheds:
            s.last_epoch -= 1
        scheds[0]._initial_step()
        self._last_lr = scheds[0].get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        i = sum(1 for m in self._milestones if m <= self.last_epoch)
        s = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            s.last_epoch = -1
        s.step()
        self._last_lr = s.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        out["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        for s, sd in zip(self._schedulers, state.pop("_schedulers")):
            s.load_state_dict(sd)
        self.__dict__.update(state)


class ReduceLROnPlateau:
    """Multiply every group's lr by ``factor`` when ``step(metric)`` has not improved for
    more than ``patience`` calls (``mode`` "min" or "max"; ``threshold`` relative or
    absolute by ``threshold_mode``), then wait ``cooldown`` calls; never below ``min_lr``."""

    def __init__(self, optimizer: Any, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr: Any = 0.0,
                 eps: float = 1e-8) -> None:
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list):
            raise PygradTypeError(f"ReduceLROnPlateau: expected an optimizer, got {type(optimizer).__name__}")
        if not factor < 1.0:
            raise PygradValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise PygradValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max' and threshold_mode 'rel' or "
                                   f"'abs', got {mode!r} and {threshold_mode!r}")
        self.optimizer = optimizer
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * len(groups)
        self.mode, self.factor, self.patience = mode, factor, _schedule_int("ReduceLROnPlateau", "patience",
                                                                            patience, 0)
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = _schedule_int("ReduceLROnPlateau", "cooldown", cooldown, 0), eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in groups]

    def _better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            return a < (best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics: Any) -> None:
        """One epoch's metric (a number or a one-element tensor)."""
        current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        self.last_epoch += 1
        if self._better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g, lo in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(g["lr"] * self.factor, lo)
                if g["lr"] - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
