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
    CELU,
    GELU,
    GLU,
    SELU,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    CosineSimilarity,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    Flatten,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    LogSoftmax,
    Mish,
    ModuleDict,
    ModuleList,
    PairwiseDistance,
    Parameter,
    ParameterDict,
    ParameterList,
    PixelShuffle,
    PixelUnshuffle,
    ReflectionPad1d,
    ReflectionPad2d,
    ReLU6,
    ReplicationPad1d,
    ReplicationPad2d,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanhshrink,
    Threshold,
    Unflatten,
    ZeroPad1d,
    ZeroPad2d,
)
from pygrad.nn.layers import (
    ACTIVATIONS,
    ELU,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    LeakyReLU,
    LocalResponseNorm,
    LPPool1d,
    LPPool2d,
    MaxPool1d,
    MaxPool2d,
    ReLU,
    RReLU,
    Sigmoid,
    Tanh,
    Upsample,
)
from pygrad.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    MulticlassHingeLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    NLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    SVMLoss,
    TripletMarginLoss,
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
RMSNorm, ConvTranspose1d, Bilinear = _bound["RMSNorm"], _bound["ConvTranspose1d"], _bound["Bilinear"]
InstanceNorm1d, InstanceNorm2d = _bound["InstanceNorm1d"], _bound["InstanceNorm2d"]


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
__all__ += [
    "ParameterList", "ParameterDict", "Dropout1d", "Dropout2d", "Dropout3d", "Softmax", "LogSoftmax", "Softmin",
    "SELU", "CELU", "Hardswish", "Softsign", "Tanhshrink", "GLU", "Threshold", "Softshrink", "Hardshrink",
    "PixelShuffle", "PixelUnshuffle", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d",
    "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "CosineSimilarity",
    "PairwiseDistance", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "RMSNorm", "ConvTranspose1d", "Bilinear",
    "L1Loss", "MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
    "PoissonNLLLoss", "GaussianNLLLoss",
]
__all__ += [
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "LPPool1d", "LPPool2d", "LocalResponseNorm", "RReLU", "InstanceNorm1d",
    "InstanceNorm2d", "MultiMarginLoss", "MultiLabelSoftMarginLoss",
]
