"""Which engine a layer builds its parameters with: pygrad.nn's view of :mod:`pygrad._engines`.

pygrad.nn is written once for both engines: a layer creates its parameters
with an engine module (``pygrad._c``, the C engine, or ``pygrad.reference``;
by default the one ``import pygrad`` serves) and every op it applies is a
method of the tensors or a function of their engine. Neither engine is
imported at import time, so ``pygrad.reference.nn`` can use pygrad.nn
without touching the C engine.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from pygrad import _engines
from pygrad.errors import PygradTypeError


def resolve(engine: ModuleType | str | None, default: ModuleType | str | None = None) -> ModuleType:
    """The engine module for ``engine`` (a module or a name; None: ``default``, itself
    None for the engine ``import pygrad`` serves); see :func:`pygrad._engines.resolve`."""
    return _engines.resolve(engine, default)


def engine_of(x: Any) -> ModuleType:
    """The engine whose Tensor ``x`` is (PygradTypeError for anything else)."""
    return _engines.engine_of(x)


is_tensor = _engines.is_tensor
label = _engines.label


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
