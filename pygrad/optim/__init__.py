"""pygrad.optim: optimizers with fused C updates, learning-rate schedules, and
plain gradient descent with the notes' stopping rules.

    >>> opt = pygrad.optim.Adam(model.parameters(), lr=1e-2)
    >>> for X, y in loader:
    ...     opt.zero_grad()
    ...     loss = F.cross_entropy(model(X), y)
    ...     loss.backward()
    ...     opt.step()

The optimizers follow PyTorch's constructors and update rules; the same API
on numpy is :mod:`pygrad.reference.optim`, which this module serves instead
under ``PYGRAD_BACKEND=python`` (the C optimizers stay in
:mod:`pygrad.optim.optimizer`).
"""

from pygrad import _engines
from pygrad._schedules import (  # engine-neutral: they only set param_groups' rates
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
from pygrad.optim import lr_scheduler

if _engines.backend() == "python":
    from pygrad.reference.optim import (
        SGD,
        Adadelta,
        Adagrad,
        Adam,
        Adamax,
        AdamW,
        CosineAnnealingLR,
        ExponentialLR,
        LRScheduler,
        MinimizeResult,
        NAdam,
        Optimizer,
        RAdam,
        RMSprop,
        Rprop,
        StepLR,
        minimize,
    )
else:
    from pygrad.optim._c import (
        SGD,
        Adadelta,
        Adagrad,
        Adam,
        Adamax,
        AdamW,
        CosineAnnealingLR,
        ExponentialLR,
        LRScheduler,
        MinimizeResult,
        NAdam,
        Optimizer,
        RAdam,
        RMSprop,
        Rprop,
        StepLR,
        minimize,
    )

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "lr_scheduler", "LRScheduler", "StepLR",
    "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "MultiStepLR", "LinearLR", "OneCycleLR", "SequentialLR",
    "ReduceLROnPlateau", "minimize", "MinimizeResult", "Adamax", "NAdam", "RAdam", "Adadelta", "Rprop",
    "ConstantLR", "PolynomialLR", "MultiplicativeLR", "CosineAnnealingWarmRestarts", "CyclicLR",
]
