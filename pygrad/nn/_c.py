"""The layers of :mod:`pygrad.nn` building their parameters on the C engine, whatever
``PYGRAD_BACKEND`` says: ``pygrad._c.nn``, the C twin of :mod:`pygrad.reference.nn`."""

from __future__ import annotations

from pygrad._engines import C
from pygrad.nn import functional, init, layers
from pygrad.nn.layers import ACTIVATIONS, ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from pygrad.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, MulticlassHingeLoss, SVMLoss
from pygrad.nn.module import IncompatibleKeys, Module, Sequential

# Linear, PReLU, Maxout and MLP with their parameters on this engine by default
_bound = layers.bound_to(C, __name__)
Linear, PReLU, Maxout, MLP = _bound["Linear"], _bound["PReLU"], _bound["Maxout"], _bound["MLP"]


__all__ = [
    "Module", "Sequential", "IncompatibleKeys", "Linear", "MLP", "Maxout", "PReLU", "ReLU", "LeakyReLU", "ELU",
    "Sigmoid", "Tanh", "ACTIVATIONS", "CrossEntropyLoss", "SVMLoss", "MulticlassHingeLoss", "MSELoss",
    "BCEWithLogitsLoss", "functional", "init",
]
