"""pygrad.nn: modules (layers and models), their initialisation, and losses.

    >>> import pygrad as pg
    >>> from pygrad import nn
    >>> model = nn.MLP([2, 100, 3], activation="relu", generator=0)
    >>> scores = model(pg.randn(5, 2))          # (5, 3)
    >>> [name for name, _ in model.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']

The classes here build their parameters on the C engine; the same classes
for the reference engine are in :mod:`pygrad.reference.nn`.
"""

from pygrad.nn import functional, init, utils
from pygrad.nn.containers import (
    GELU,
    Dropout,
    Flatten,
    Hardsigmoid,
    Hardtanh,
    Identity,
    Mish,
    ModuleDict,
    ModuleList,
    Parameter,
    ReLU6,
    SiLU,
    Softplus,
    Unflatten,
)
from pygrad.nn.layers import (
    ACTIVATIONS,
    ELU,
    MLP,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Embedding,
    GroupNorm,
    LayerNorm,
    LeakyReLU,
    Linear,
    Maxout,
    MaxPool2d,
    MultiheadAttention,
    PReLU,
    ReLU,
    Sigmoid,
    Tanh,
    Upsample,
)
from pygrad.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    MSELoss,
    MulticlassHingeLoss,
    NLLLoss,
    SmoothL1Loss,
    SVMLoss,
)
from pygrad.nn.module import IncompatibleKeys, Module, Sequential

__all__ = [
    "Module", "Sequential", "IncompatibleKeys", "Embedding", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d",
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "AdaptiveAvgPool2d", "Upsample",
    "Linear", "MLP", "Maxout", "PReLU", "ReLU",
    "LeakyReLU", "ELU",
    "Sigmoid", "Tanh", "ACTIVATIONS", "CrossEntropyLoss", "SVMLoss", "MulticlassHingeLoss", "MSELoss",
    "BCEWithLogitsLoss", "NLLLoss", "BCELoss", "HuberLoss", "SmoothL1Loss", "KLDivLoss", "functional", "init",
    "utils", "Parameter", "Identity", "Flatten", "Unflatten", "ModuleList",
    "ModuleDict", "GELU", "SiLU", "Mish", "Softplus", "Hardtanh", "ReLU6", "Hardsigmoid", "Dropout",
    "MultiheadAttention",
]
