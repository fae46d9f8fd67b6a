"""Learning-rate schedules (PyTorch's semantics), for any optimizer with ``param_groups``.

A scheduler remembers each group's starting rate as ``initial_lr`` and, on every
:meth:`LRScheduler.step` (usually once per epoch, after ``optimizer.step()``),
sets ``group["lr"]`` to its closed form at the new epoch count t:

- :class:`StepLR`:           lr₀ · γ^⌊t / step_size⌋
- :class:`ExponentialLR`:    lr₀ · γᵗ
- :class:`CosineAnnealingLR`: η_min + (lr₀ - η_min) · (1 + cos(π t / T_max)) / 2

Creating a scheduler performs the step to epoch 0 (which leaves lr₀ in place).
"""

from __future__ import annotations

import math
from typing import Any

from pygrad.errors import PygradTypeError, PygradValueError


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
