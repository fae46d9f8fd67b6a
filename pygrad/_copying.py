"""``copy.copy``, ``copy.deepcopy`` and ``pickle`` for both engines' Tensors,
for Modules and for optimizers: the protocol written once.

Tensors (PyTorch's behaviour where it defines one):

- ``copy.copy(t)``: a new leaf sharing t's storage (writes show in both), with
  t's ``requires_grad``; no ``.grad``, no graph.
- ``copy.deepcopy(t)``: a leaf owning a copy of t's values, with t's
  ``requires_grad`` and a deep copy of ``.grad``. A non-leaf raises
  (PygradRuntimeError), as in PyTorch: detach it first.
- ``pickle``: reduced to :func:`rebuild_tensor` of (engine name, a numpy copy of
  the values, ``requires_grad``); the unpickled tensor is a leaf and carries no
  graph and no ``.grad``. (``pygrad.save`` writes a format that never runs code
  on load; prefer it for files from others.)

Optimizers key their per-parameter state by ``id(param)``; their pickled form
keys it by the parameter's position instead, so a copy's state follows the
copied parameters (``deepcopy((model, opt))`` gives an optimizer of the copied
model's parameters, with its state).

Modules hold their engine module as an attribute (``_E``); module objects
cannot be pickled, so the pickled form names the engine instead.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

import numpy as np

from pygrad import _engines
from pygrad.errors import PygradRuntimeError, PygradValueError


def rebuild_tensor(engine: str, values: np.ndarray, requires_grad: bool) -> Any:
    """The tensor a pickle holds: a leaf of ``engine`` (its module name) with these values."""
    if engine not in (_engines.C, _engines.REFERENCE):
        raise PygradValueError(f"unpickling a tensor: unknown engine {engine!r}")
    E = import_module(engine)
    return E.tensor(np.asarray(values), dtype=np.asarray(values).dtype, requires_grad=bool(requires_grad))


def tensor_reduce(t: Any) -> tuple[Any, tuple[str, np.ndarray, bool]]:
    """``Tensor.__reduce_ex__``: values, dtype and ``requires_grad``; never the graph."""
    return rebuild_tensor, (type(t)._engine, np.array(t.numpy(), copy=True), bool(t.requires_grad))


def tensor_copy(t: Any) -> Any:
    """``Tensor.__copy__``: a leaf sharing t's storage, with t's ``requires_grad``."""
    c = t.detach()
    if t.requires_grad:
        c.requires_grad = True
    return c


def tensor_deepcopy(t: Any, memo: dict[int, Any]) -> Any:
    """``Tensor.__deepcopy__``: a leaf owning a copy of t's values, ``requires_grad`` and ``.grad``."""
    if not t.is_leaf:
        raise PygradRuntimeError(
            f"deepcopy: only leaf tensors (made by the user, not by a recorded op) support deepcopy; this "
            f"tensor of shape {t.shape} was made by {t.grad_fn.name}: deepcopy t.detach() instead")
    E = import_module(type(t)._engine)
    new = E.tensor(np.array(t.numpy(), copy=True), dtype=t.dtype)
    memo[id(t)] = new
    g = t.grad
    if g is not None:
        import copy

        new.grad = copy.deepcopy(g if g.is_leaf else g.detach(), memo)
    if t.requires_grad:
        new.requires_grad = True
    return new


# ---------------------------------------------------------------------------
# optimizers: state keyed by parameter position in the pickled form
# ---------------------------------------------------------------------------


def optimizer_getstate(opt: Any) -> dict[str, Any]:
    """The optimizer's ``__dict__`` with ``state`` keyed by parameter position."""
    d = dict(opt.__dict__)
    position = {id(p): i for i, p in enumerate(p for g in opt.param_groups for p in g["params"])}
    d["state"] = {position[k]: v for k, v in opt.state.items() if k in position}
    return d


def optimizer_setstate(opt: Any, d: dict[str, Any]) -> None:
    """Restore :func:`optimizer_getstate`'s dict: ``state`` keyed by ``id`` of the (copied) parameters."""
    opt.__dict__.update(d)
    params = [p for g in opt.param_groups for p in g["params"]]
    opt.state = {id(params[i]): v for i, v in d["state"].items()}


# ---------------------------------------------------------------------------
# modules: engine modules as names in the pickled form
# ---------------------------------------------------------------------------


class _ModuleRef:
    """A module held by a Module (its engine, ``_E``), as a picklable name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _ModuleRef, (self.name,)


def module_getstate(m: Any) -> dict[str, Any]:
    """The Module's ``__dict__`` with module objects (the engine) replaced by their names."""
    return {k: (_ModuleRef(v.__name__) if isinstance(v, ModuleType) else v) for k, v in m.__dict__.items()}


def module_setstate(m: Any, d: dict[str, Any]) -> None:
    """Restore :func:`module_getstate`'s dict (bypassing ``Module.__setattr__``)."""
    m.__dict__.update({k: (import_module(v.name) if isinstance(v, _ModuleRef) else v) for k, v in d.items()})
