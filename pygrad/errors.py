"""Exception types shared by the C engine and the reference engine.

Every exception pygrad raises derives from :class:`PygradError` and from the
builtin a Python user would expect (``ValueError``, ``TypeError`` ...), so
``except ValueError`` and ``except pygrad.PygradError`` both work.
This module is pure Python and imports nothing from the C extension.
"""

from __future__ import annotations


class PygradError(Exception):
    """Base class of every error pygrad raises."""


class ShapeError(PygradError, ValueError):
    """Shapes that do not fit the op (broadcasting, matmul, reshape, axes)."""


class PygradValueError(PygradError, ValueError):
    """An argument has an invalid value (not a shape problem)."""


class PygradTypeError(PygradError, TypeError):
    """An argument has the wrong Python type or dtype."""


class PygradIndexError(PygradError, IndexError):
    """An index is out of range."""


class PygradRuntimeError(PygradError, RuntimeError):
    """The graph cannot do what was asked (backward twice, stale saved value...)."""


class PygradMemoryError(PygradError, MemoryError):
    """An allocation failed or would be too large."""


__all__ = [
    "PygradError",
    "ShapeError",
    "PygradValueError",
    "PygradTypeError",
    "PygradIndexError",
    "PygradRuntimeError",
    "PygradMemoryError",
]
