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

# ruff: noqa: F401 - the imported names are re-exported through __all__ (pygrad.nn._names)

from pygrad.nn import _names, functional, init, utils
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
    LogSigmoid,
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
    Softmax2d,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanhshrink,
    Threshold,
    Unflatten,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
    ZeroPad1d,
    ZeroPad2d,
)
from pygrad.nn.layers import (
    ACTIVATIONS,
    ELU,
    MLP,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Bilinear,
    Conv1d,
    Conv2d,
    ConvTranspose1d,
    ConvTranspose2d,
    Embedding,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
    LeakyReLU,
    Linear,
    LocalResponseNorm,
    LPPool1d,
    LPPool2d,
    Maxout,
    MaxPool1d,
    MaxPool2d,
    MultiheadAttention,
    PReLU,
    ReLU,
    RMSNorm,
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
from pygrad.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = list(_names.NN_NAMES)  # the same names on both engines
