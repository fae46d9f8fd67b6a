"""The layers of :mod:`pygrad.nn` building their parameters on the C engine, whatever
``PYGRAD_BACKEND`` says: ``pygrad._c.nn``, the C twin of :mod:`pygrad.reference.nn`."""

from __future__ import annotations

from pygrad._engines import C
from pygrad.nn import functional, init, layers
from pygrad.nn.layers import ACTIVATIONS, ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from pygrad.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, MulticlassHingeLoss, SVMLoss
from pygrad.nn.module import IncompatibleKeys, Module, Sequential


class Linear(layers.Linear):
    __doc__ = layers.Linear.__doc__
    _default_engine = C


class PReLU(layers.PReLU):
    __doc__ = layers.PReLU.__doc__
    _default_engine = C


class Maxout(layers.Maxout):
    __doc__ = layers.Maxout.__doc__
    _default_engine = C


class MLP(layers.MLP):
    __doc__ = layers.MLP.__doc__
    _default_engine = C
    _linear = Linear
    _prelu = PReLU


__all__ = [
    "Module", "Sequential", "IncompatibleKeys", "Linear", "MLP", "Maxout", "PReLU", "ReLU", "LeakyReLU", "ELU",
    "Sigmoid", "Tanh", "ACTIVATIONS", "CrossEntropyLoss", "SVMLoss", "MulticlassHingeLoss", "MSELoss",
    "BCEWithLogitsLoss", "functional", "init",
]
