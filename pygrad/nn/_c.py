"""The layers of :mod:`pygrad.nn` building their parameters on the C engine, whatever
``PYGRAD_BACKEND`` says: ``pygrad._c.nn``, the C twin of :mod:`pygrad.reference.nn`."""

# ruff: noqa: F401 - the imported names are re-exported through __all__ (pygrad.nn._names)

from __future__ import annotations

from pygrad._engines import C
from pygrad.nn import _names, functional, init, layers, utils
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
from pygrad.nn.transformer import TransformerDecoder, TransformerEncoder

# Linear, PReLU, Maxout and MLP with their parameters on this engine by default
_bound = layers.bound_to(C, __name__)
Linear, PReLU, Maxout, MLP = _bound["Linear"], _bound["PReLU"], _bound["Maxout"], _bound["MLP"]
Embedding = _bound["Embedding"]
Conv1d, Conv2d = _bound["Conv1d"], _bound["Conv2d"]
BatchNorm1d, BatchNorm2d = _bound["BatchNorm1d"], _bound["BatchNorm2d"]
LayerNorm, GroupNorm = _bound["LayerNorm"], _bound["GroupNorm"]
MultiheadAttention = _bound["MultiheadAttention"]
ConvTranspose2d = _bound["ConvTranspose2d"]
RMSNorm, ConvTranspose1d, Bilinear = _bound["RMSNorm"], _bound["ConvTranspose1d"], _bound["Bilinear"]
InstanceNorm1d, InstanceNorm2d = _bound["InstanceNorm1d"], _bound["InstanceNorm2d"]
TransformerEncoderLayer, TransformerDecoderLayer = _bound["TransformerEncoderLayer"], _bound["TransformerDecoderLayer"]
Transformer = _bound["Transformer"]


__all__ = list(_names.NN_NAMES)  # the same names on both engines
