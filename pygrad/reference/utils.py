"""``torch.utils`` for the reference engine: ``pygrad.reference.utils.data`` is
:mod:`pygrad.utils.data` with its loader's tensors made by this engine."""

from pygrad.utils.data import bound

data = bound("reference")

__all__ = ["data"]
