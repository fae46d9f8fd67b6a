"""PyTorch's ``torch.utils`` namespace, for code written for PyTorch: :mod:`pygrad.utils.data`."""

from pygrad.utils import data

__all__ = ["data"]
