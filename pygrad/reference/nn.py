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

from pygrad.nn import functional, init, layers
from pygrad.nn.layers import ACTIVATIONS, ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from pygrad.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, MulticlassHingeLoss, SVMLoss
from pygrad.nn.module import IncompatibleKeys, Module, Sequential

_ENGINE = "pygrad.reference"


class Linear(layers.Linear):
    __doc__ = layers.Linear.__doc__
    _default_engine = _ENGINE


class PReLU(layers.PReLU):
    __doc__ = layers.PReLU.__doc__
    _default_engine = _ENGINE


class Maxout(layers.Maxout):
    __doc__ = layers.Maxout.__doc__
    _default_engine = _ENGINE


class MLP(layers.MLP):
    __doc__ = layers.MLP.__doc__
    _default_engine = _ENGINE
    _linear = Linear
    _prelu = PReLU


__all__ = [
    "Module", "Sequential", "IncompatibleKeys", "Linear", "MLP", "Maxout", "PReLU", "ReLU", "LeakyReLU", "ELU",
    "Sigmoid", "Tanh", "ACTIVATIONS", "CrossEntropyLoss", "SVMLoss", "MulticlassHingeLoss", "MSELoss",
    "BCEWithLogitsLoss", "functional", "init",
]
