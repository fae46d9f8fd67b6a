"""pygrad.reference.nn: the layers of :mod:`pygrad.nn`, building their parameters on
the reference engine.

The module code is shared with the C engine (it only composes ops through the
tensors' own methods and the engine's functions); what differs is where the
parameters live, so a model built here runs entirely on the reference engine:

    >>> import pygrad.reference as ref
    >>> model = ref.nn.MLP([2, 16, 3], generator=0)
    >>> model(ref.randn(4, 2)).shape
    (4, 3)
"""

from __future__ import annotations

from pygrad.nn import functional, init, layers, utils
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
    AdaptiveAvgPool2d,
    AvgPool2d,
    LeakyReLU,
    MaxPool2d,
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

_ENGINE = "pygrad.reference"


# Linear, PReLU, Maxout and MLP with their parameters on this engine by default
_bound = layers.bound_to(_ENGINE, __name__)
Linear, PReLU, Maxout, MLP = _bound["Linear"], _bound["PReLU"], _bound["Maxout"], _bound["MLP"]
Embedding = _bound["Embedding"]
Conv1d, Conv2d = _bound["Conv1d"], _bound["Conv2d"]
BatchNorm1d, BatchNorm2d = _bound["BatchNorm1d"], _bound["BatchNorm2d"]
LayerNorm, GroupNorm = _bound["LayerNorm"], _bound["GroupNorm"]
MultiheadAttention = _bound["MultiheadAttention"]
ConvTranspose2d = _bound["ConvTranspose2d"]


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
