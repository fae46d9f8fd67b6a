"""The optimizers with fused C updates, whatever ``PYGRAD_BACKEND`` says: ``pygrad._c.optim``."""

from pygrad.optim import lr_scheduler
from pygrad.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)
from pygrad.optim.minimize import MinimizeResult, minimize
from pygrad.optim.optimizer import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, Optimizer, RAdam, RMSprop, Rprop

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "lr_scheduler", "LRScheduler", "StepLR",
    "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "MultiStepLR", "LinearLR", "OneCycleLR", "SequentialLR",
    "ReduceLROnPlateau", "minimize", "MinimizeResult", "Adamax", "NAdam", "RAdam", "Adadelta", "Rprop",
]
