"""Learning-rate schedules (PyTorch's ``torch.optim.lr_scheduler``): see :mod:`pygrad._schedules`,
where they are written once for both engines (they only set ``param_groups``' rates)."""

from pygrad._schedules import (  # noqa: F401 - re-exported
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

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "MultiStepLR", "LinearLR",
           "OneCycleLR", "SequentialLR", "ReduceLROnPlateau"]
