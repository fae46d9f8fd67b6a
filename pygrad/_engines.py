"""Which engine: the one answer, for everything written once for both engines.

pygrad has two engines with the same API: the C engine (the module
``pygrad._c``, what ``import pygrad`` serves by default) and the pure-Python
reference engine (``pygrad.reference``). Each Tensor class names its engine in
a class attribute ``_engine`` (the engine module's name); ``nn``, ``optim``,
``gates``, ``gradcheck``, ``functional``, ``viz`` and ``testing`` ask this
module which engine a tensor belongs to, and so run on the engine of their
inputs. Mixing the two engines' tensors in one op is a TypeError naming both
(:func:`mix_error`), never a silent copy.

This module imports neither engine; an engine is imported when first asked
for, so the reference engine runs where the C extension is not built.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import import_module
from types import ModuleType
from typing import Any

from pygrad.errors import PygradRuntimeError, PygradTypeError, PygradValueError

C = "pygrad._c"
"""The C engine's module."""
REFERENCE = "pygrad.reference"
"""The reference engine's module."""

_LABEL = {C: "pygrad", REFERENCE: "pygrad.reference"}  # the names users know, used in messages
_ALIASES = {"c": C, "pygrad": C, C: C, "reference": REFERENCE, "python": REFERENCE, REFERENCE: REFERENCE}


def backend() -> str:
    """``"c"`` or ``"python"``: the engine ``PYGRAD_BACKEND`` asks ``import pygrad`` to serve."""
    requested = os.environ.get("PYGRAD_BACKEND", "c").strip().lower() or "c"
    if requested in ("python", "reference"):
        return "python"
    if requested == "c":
        return "c"
    raise ImportError(f"PYGRAD_BACKEND={requested!r}: expected 'c' (the default) or 'python' (the reference engine)")


def default_name() -> str:
    """The module name of the engine ``import pygrad`` serves (see :func:`backend`)."""
    return REFERENCE if backend() == "python" else C


def default() -> ModuleType:
    """The engine ``import pygrad`` serves: used when nothing else names one."""
    return import_module(default_name())


def name_of(x: Any) -> str | None:
    """The module name of the engine whose Tensor ``x`` is, or None for anything else."""
    name = getattr(type(x), "_engine", None)
    return name if name in _LABEL else None


def is_tensor(x: Any) -> bool:
    """True for a Tensor of either engine."""
    return getattr(type(x), "_engine", None) in _LABEL


def label(engine: ModuleType | str) -> str:
    """The engine's name as users write it: ``"pygrad"`` or ``"pygrad.reference"``."""
    name = engine if isinstance(engine, str) else engine.__name__
    return _LABEL.get(_ALIASES.get(name, name), name)


def engine_of(x: Any, op: str = "engine") -> ModuleType:
    """The engine module of Tensor ``x`` (PygradTypeError for anything else)."""
    name = getattr(type(x), "_engine", None)
    if name not in _LABEL:
        raise PygradTypeError(f"{op}: expected a pygrad Tensor, got {type(x).__name__}")
    return import_module(name)


def resolve(engine: ModuleType | str | None, default: ModuleType | str | None = None, op: str = "engine") -> ModuleType:
    """The engine module named by ``engine``.

    ``engine``: an engine module (``pygrad._c``, ``pygrad.reference``, or the
    ``pygrad`` package: whichever engine it serves), a name (``"c"``,
    ``"pygrad"``, ``"reference"``, ``"pygrad.reference"``, ``"python"``), or
    None for ``default`` (itself None: :func:`default`). An unknown name
    raises PygradValueError; anything else PygradTypeError.
    """
    if engine is None:
        engine = default
        if engine is None:
            return import_module(default_name())
    if isinstance(engine, str):
        if engine not in _ALIASES:
            raise PygradValueError(f"{op}: engine must be 'pygrad' or 'pygrad.reference' (or 'c', 'reference'), "
                                   f"got {engine!r}")
        return import_module(_ALIASES[engine])
    if isinstance(engine, ModuleType):
        if engine.__name__ in _LABEL:
            return engine
        name = getattr(getattr(engine, "Tensor", None), "_engine", None)  # e.g. the pygrad package
        if name in _LABEL:
            return import_module(name)
    raise PygradTypeError(f"{op}: engine must be an engine module or its name ('pygrad', 'pygrad.reference'), "
                          f"got {type(engine).__name__}")


def mix_error(op: str, a: Any, b: Any) -> PygradTypeError:
    """The error for an op given tensors of both engines (``a``, ``b``: tensors or engine names)."""
    la, lb = sorted(label(x if isinstance(x, str) else name_of(x) or type(x).__name__) for x in (a, b))
    return PygradTypeError(
        f"{op}: cannot mix Tensors of {la} and {lb} in one op; use one engine "
        f"(move a tensor with the other engine's tensor(t.numpy()))")


def refuse_grad_weight(op: str, function: str, argument: str, w: Any) -> None:
    """Refuse, as PyTorch 2.13 does, a loss weight ``w`` that requires grad while its engine's grad mode
    is on: its losses do not differentiate their weights (``function``, the name PyTorch's message
    gives, "is not differentiable with respect to argument" ``argument``). PygradRuntimeError with
    PyTorch's sentences, the weight's shape and the fix; under ``no_grad`` the weight is a constant, and
    anything but a tensor passes. The C engine's ops word it alike (csrc/ops_nn.c)."""
    if is_tensor(w) and w.requires_grad and engine_of(w).is_grad_enabled():
        raise PygradRuntimeError(f"{op}: the function '{function}' is not differentiable with respect to argument "
                                 f"'{argument}' (of shape {tuple(w.shape)}). This input cannot have requires_grad "
                                 f"True; pass {argument}.detach()")


def common(op: str, values: Iterable[Any], engine: ModuleType | str | None = None,
           default: ModuleType | str | None = None) -> ModuleType:
    """The one engine of the Tensors among ``values``.

    Tensors of both engines raise :func:`mix_error`. ``engine``, when given,
    wins, and every Tensor must belong to it. With no Tensors and no
    ``engine``: ``default`` (None: :func:`default`).
    """
    names: list[str] = []
    for v in values:
        n = name_of(v)
        if n is not None and n not in names:
            names.append(n)
    if engine is not None:
        mod = resolve(engine, op=op)
        other = [n for n in names if n != mod.__name__]
        if other:
            raise PygradTypeError(f"{op}: engine={label(mod)!r} but got Tensors of {label(other[0])!r}; use one engine")
        return mod
    if len(names) > 1:
        raise mix_error(op, names[0], names[1])
    if names:
        return import_module(names[0])
    return resolve(default, op=op)


def copy_warning(op: str = "tensor", stacklevel: int = 3) -> None:
    """Warn that ``tensor(t)`` of a Tensor copies its values and cuts them from the graph (as PyTorch does)."""
    import warnings

    warnings.warn(f"{op}: to copy construct from a tensor, it is recommended to use t.detach() (same engine) or "
                  "tensor(t.numpy()); the result is a copy detached from t's graph", UserWarning, stacklevel=stacklevel)


def custom_grads(grads: Any, n_inputs: int) -> list[Any]:
    """What a ``custom_op`` backward returned, as one gradient (or None) per input.

    A list or tuple of exactly ``n_inputs`` entries; a single gradient (a Tensor
    or array) is accepted for an op of one input, as in PyTorch. Anything else
    raises, naming the rule: an input must never silently get no gradient.
    """
    if is_tensor(grads) or hasattr(grads, "__array_interface__"):
        if n_inputs == 1:
            return [grads]
        raise PygradTypeError(f"custom: backward returned a single gradient for {n_inputs} inputs; return a list "
                              f"or tuple of {n_inputs} (None for an input without one)")
    if not isinstance(grads, (list, tuple)):
        raise PygradTypeError(f"custom: backward must return a list or tuple of {n_inputs} gradients, got "
                              f"{type(grads).__name__}")
    if len(grads) != n_inputs:
        raise PygradValueError(f"custom: backward returned {len(grads)} gradient(s) for {n_inputs} inputs; "
                               "return one per input (None for an input without one)")
    return list(grads)
