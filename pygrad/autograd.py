"""pygrad.autograd: PyTorch's autograd functions, for either engine.

    >>> import pygrad as pg
    >>> x = pg.tensor([1.0, 2.0], requires_grad=True)
    >>> h = x * x                                  # a non-leaf
    >>> y = (h * 3.0).sum()
    >>> pg.autograd.grad(y, [x, h])                # dy/dx = 6x, dy/dh = 3; no .grad written
    (tensor([ 6., 12.]), tensor([3., 3.]))

:func:`grad` returns d(outputs)/d(inputs) for any tensors of the graph,
leaves or not, and writes no ``.grad``; :func:`backward` accumulates into
``.grad`` from several outputs at once (or into the ``inputs`` given only).
Both run on the engine of their tensors (the C engine's ``pygrad.Tensor`` or
``pygrad.reference.Tensor``); the grad-mode switches are the engines' own
(``pygrad.no_grad``, ``pygrad.reference.no_grad``, ...). This module imports
no engine itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pygrad import _engines
from pygrad.errors import PygradRuntimeError, PygradTypeError, PygradValueError

__all__ = ["backward", "grad"]


def _tensors(arg: Any, what: str, op: str) -> list[Any]:
    items = [arg] if _engines.is_tensor(arg) else list(arg) if isinstance(arg, Sequence) else None
    if items is None or not items:
        raise PygradTypeError(f"{op}: {what} must be a Tensor or a non-empty sequence of Tensors, got "
                              f"{type(arg).__name__ if items is None else 'an empty sequence'}")
    for i, t in enumerate(items):
        if not _engines.is_tensor(t):
            raise PygradTypeError(f"{op}: {what}[{i}] is a {type(t).__name__}, not a Tensor")
    return items


def _grads_for(outputs: list[Any], grads: Any, op: str, name: str) -> list[Any]:
    """One upstream gradient (a Tensor of the output's engine and dtype, or None) per output."""
    if grads is None:
        gl: list[Any] = [None] * len(outputs)
    elif _engines.is_tensor(grads) or not isinstance(grads, Sequence):
        gl = [grads]
    else:
        gl = list(grads)
    if len(gl) != len(outputs):
        raise PygradValueError(f"{op}: {name} has {len(gl)} elements but there are {len(outputs)} outputs")
    out = []
    for i, (t, g) in enumerate(zip(outputs, gl)):
        eng = _engines.engine_of(t, op)
        if g is None:
            if t.numel() != 1:
                raise PygradRuntimeError(f"{op}: grad can be implicitly created only for scalar outputs; output {i} "
                                         f"has shape {tuple(t.shape)}: pass {name}")
            out.append(None)
            continue
        if _engines.is_tensor(g) and _engines.name_of(g) != _engines.name_of(t):
            raise _engines.mix_error(op, t, g)
        gt = g if _engines.is_tensor(g) else eng.tensor(g, dtype=t.dtype)
        if tuple(gt.shape) != tuple(t.shape):
            raise PygradRuntimeError(f"{op}: mismatch in shape: {name}[{i}] has shape {tuple(gt.shape)} and output "
                                     f"[{i}] has shape {tuple(t.shape)}")
        out.append(gt if gt.dtype == t.dtype else gt.astype(t.dtype))
    return out


def _one_engine(tensors: list[Any], op: str) -> Any:
    eng = _engines.name_of(tensors[0])
    for t in tensors[1:]:
        if _engines.name_of(t) != eng:
            raise _engines.mix_error(op, tensors[0], t)
    return _engines.engine_of(tensors[0], op)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None, *,
         materialize_grads: bool = False) -> tuple[Any, ...]:
    """Σ_k grad_outputs[k] · d outputs[k] / d inputs[j], for each input j, as a tuple.

    ``outputs`` and ``inputs``: a Tensor or a sequence of Tensors; inputs may be
    leaves or any tensor of the graph, and must require grad. ``grad_outputs``:
    one upstream gradient per output (None for a one-element output: 1).
    Writes no ``.grad``. The graph is released unless ``retain_graph``
    (default: ``create_graph``); ``create_graph=True`` records the computation,
    so the results can be differentiated again. An input the outputs do not
    depend on raises unless ``allow_unused`` (then its result is None, or zeros
    with ``materialize_grads``). Only the part of the graph that leads to the
    inputs is swept; tensor hooks on the way run.
    """
    outs = _tensors(outputs, "outputs", "grad")
    ins = _tensors(inputs, "inputs", "grad")
    eng = _one_engine(outs + ins, "grad")
    if materialize_grads and allow_unused is False:
        raise PygradValueError("grad: materialize_grads=True needs allow_unused to be True or None")
    allow = bool(allow_unused) or materialize_grads
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise PygradRuntimeError(f"grad: one of the differentiated Tensors (inputs[{i}], shape "
                                     f"{tuple(t.shape)}) does not require grad")
    for i, t in enumerate(outs):
        if not t.requires_grad:
            raise PygradRuntimeError(f"grad: element {i} of outputs does not require grad and does not have a "
                                     "grad_fn")
    gl = _grads_for(outs, grad_outputs, "grad", "grad_outputs")
    retain = create_graph if retain_graph is None else retain_graph
    res = eng._autograd_run(outs, gl, ins, bool(retain), bool(create_graph))
    result = []
    for i, (t, r) in enumerate(zip(ins, res)):
        if r is None:
            if not allow:
                raise PygradRuntimeError(
                    f"grad: one of the differentiated Tensors (inputs[{i}], shape {tuple(t.shape)}) appears to "
                    "not have been used in the graph; set allow_unused=True if this is the desired behavior")
            if materialize_grads:
                r = eng.zeros(tuple(t.shape), dtype=t.dtype)
        result.append(r)
    return tuple(result)


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Any = None) -> None:
    """Accumulate Σ_k grad_tensors[k] · d tensors[k] / d leaf into the ``.grad`` of
    every leaf that requires grad (one sweep for all of ``tensors``).

    With ``inputs`` (a Tensor or sequence, leaves or not), only their ``.grad``
    is accumulated, and only the graph leading to them is swept; a non-leaf
    input gets ``.grad`` as with ``retain_grad``. ``retain_graph`` defaults to
    ``create_graph``.
    """
    outs = _tensors(tensors, "tensors", "backward")
    ins = None if inputs is None else _tensors(inputs, "inputs", "backward")
    eng = _one_engine(outs + (ins or []), "backward")
    for i, t in enumerate(outs):
        if not t.requires_grad:
            raise PygradRuntimeError(f"backward: element {i} of tensors does not require grad and does not have a "
                                     "grad_fn")
    gl = _grads_for(outs, grad_tensors, "backward", "grad_tensors")
    retain = create_graph if retain_graph is None else retain_graph
    if ins is None:
        eng._autograd_run(outs, gl, None, bool(retain), bool(create_graph))
        return
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise PygradRuntimeError(f"backward: inputs[{i}] (shape {tuple(t.shape)}) does not require grad")
    uniq: list[Any] = []
    for t in ins:
        if not any(t is u for u in uniq):
            uniq.append(t)
    res = eng._autograd_run(outs, gl, uniq, bool(retain), bool(create_graph))
    for t, g in zip(uniq, res):
        if g is None:
            continue
        if create_graph:
            t.grad = g if t.grad is None else t.grad + g
        else:
            with eng.no_grad():
                t.grad = g.detach() if t.grad is None else t.grad + g
        hooks = getattr(t, "_post_hooks", None)
        run = hooks() if callable(hooks) else None
        if run is not None:
            run.run_post(t)
