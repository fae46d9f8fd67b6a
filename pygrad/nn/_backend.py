"""Which engine a layer builds its parameters with, and which engine a tensor belongs to.

pygrad.nn is written once for both engines: a layer creates its parameters
with an engine module (``pygrad``, the C engine, or ``pygrad.reference``) and
every op it applies is a method of the tensors or a function of that
engine. This module imports neither engine at import time, so that
``pygrad.reference.nn`` can use pygrad.nn without touching the C engine.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

import numpy as np

from pygrad.errors import PygradTypeError

_NAMES = {"c": "pygrad", "pygrad": "pygrad", "reference": "pygrad.reference", "pygrad.reference": "pygrad.reference"}


def resolve(engine: ModuleType | str | None, default: str) -> ModuleType:
    """The engine module for ``engine``: a module, ``"c"`` / ``"pygrad"``, ``"reference"``,
    or None for ``default``."""
    if engine is None:
        engine = default
    if isinstance(engine, str):
        if engine not in _NAMES:
            raise PygradTypeError(f"engine: expected 'c', 'reference' or an engine module, got {engine!r}")
        return import_module(_NAMES[engine])
    if isinstance(engine, ModuleType) and hasattr(engine, "Tensor") and hasattr(engine, "tensor"):
        return engine
    raise PygradTypeError(f"engine: expected 'c', 'reference' or an engine module, got {engine!r}")


def engine_of(x: Any) -> ModuleType:
    """The engine whose Tensor ``x`` is (PygradTypeError for anything else)."""
    c = import_module("pygrad")
    if isinstance(x, c.Tensor):
        return c
    ref = import_module("pygrad.reference")
    if isinstance(x, ref.Tensor):
        return ref
    raise PygradTypeError(f"expected a pygrad Tensor, got {type(x).__name__}")


def is_tensor(x: Any) -> bool:
    """True for a Tensor of either engine."""
    try:
        engine_of(x)
    except PygradTypeError:
        return False
    return True


def as_tensor_like(x: Any, like: Any, op: str) -> Any:
    """``x`` as a tensor of ``like``'s engine: tensors pass, arrays and numbers are
    converted to ``like``'s dtype."""
    if is_tensor(x):
        return x
    if isinstance(x, (np.ndarray, np.generic, list, tuple, int, float)):
        return engine_of(like).tensor(np.asarray(x), dtype=like.dtype)
    raise PygradTypeError(f"{op}: expected a Tensor or an array, got {type(x).__name__}")


def generator(seed: np.random.Generator | int | None) -> np.random.Generator | None:
    """An int seeds a new numpy Generator; a Generator passes; None stays None (the engine's
    own generator, seeded by ``manual_seed``, is then used)."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise PygradTypeError(f"generator: expected None, an int seed or a numpy Generator, got {seed!r}")
