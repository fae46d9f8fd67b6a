"""pygrad.optim: optimizers with fused C updates, learning-rate schedules, and
plain gradient descent with the notes' stopping rules.

    >>> opt = pygrad.optim.Adam(model.parameters(), lr=1e-2)
    >>> for X, y in loader:
    ...     opt.zero_grad()
    ...     loss = F.cross_entropy(model(X), y)
    ...     loss.backward()
    ...     opt.step()

The optimizers follow PyTorch's constructors and update rules; the same API
on numpy is :mod:`pygrad.reference.optim`.
"""

from pygrad.optim import lr_scheduler
from pygrad.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, LRScheduler, StepLR
from pygrad.optim.minimize import MinimizeResult, minimize
from pygrad.optim.optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "lr_scheduler", "LRScheduler", "StepLR",
    "ExponentialLR", "CosineAnnealingLR", "minimize", "MinimizeResult",
]
