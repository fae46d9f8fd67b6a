"""``pygrad.compile``: record a whole step once, replay it in C with no Python per op.

The first call with a given signature records: it runs the function eagerly
while the C engine writes every op of the forward, the backward sweep, the
gradient accumulation, ``.grad`` assignments and the fused optimizer updates
into a program (csrc/program.c). Later calls whose guards hold replay that
program in one C call, with the GIL released; their outputs are fresh
tensors with the structure the function returned. The state an optimizer the
function reaches would make at its next step is made before the first call
records (:func:`_premake_state`); where it cannot be made ahead (an optimizer
with an ``_update`` of its own), the first call is a warm-up instead (eager,
not recorded) and the second records, with the state in place; a first call whose recording read a
``.grad`` that was None and made it is recorded again at the second
(:func:`_grads_held`); a first call that cannot record was the warm-up, and
the second records or reports why it cannot.

The guards (the signature a program is cached under): the shapes, dtypes and
``requires_grad`` of the tensor arguments, the values of the other
arguments, grad mode, and, place by place, what the function reaches through
its closure, the globals it names and its arguments (see :func:`_reach`):
which tensor sits where (module parameters and buffers, optimizer parameters
and state), the plain Python values (numbers, strings, booleans, None) there
and among the modules' attributes (``training`` with them), the classes of the
modules, which optimizer. Optimizer hyperparameters are not guarded: they are
read from the optimizer at every call (its ``_update`` runs in Python without
the C update, to compute them), so an lr scheduler takes effect at once. A call
with a new signature after the first is counted (``rerecords``) and explained
(``last_change``: which guards differ from the previous call's); the
``RERECORD_WARN_AFTER``-th warns once. Every guard is checked at every call;
once a signature replays, the next call first tests the same places by the
identity of what sits there (the fast guard, :class:`_Guard`), and builds the
full signature only when something there changed.

What cannot be recorded is detected, not frozen: reading tensor values into
Python (``.item()``, ``bool(t)``, ``.numpy()``, ``.tolist()``), user gates and
``custom_op`` (a Python backward), in-place updates, hooks,
``autograd.grad``, tensors made inside the function by anything but a
recorded op. Such a function runs eagerly, with a warning (once) naming what
prevented recording; ``fullgraph=True`` raises instead.
"""

from __future__ import annotations

import functools
import itertools
import operator
import sys
import threading
import types
import warnings
import weakref
from array import array
from typing import Any, Callable

import numpy as np

from pygrad import _autograd, _creation, _recording
from pygrad._bindings import (
    _NULL,
    _check,
    doubles,
    handles,
    last_error,
    lib,
    new_program,
    program_lines,
    uint64s,
    wrap_or_none,
)
from pygrad._tensor import _DTYPE_OF_CODE, Tensor
from pygrad.errors import PygradRuntimeError
from pygrad.optim import _fused

_MAX_PROGRAMS = 8  # per function: signatures beyond it evict the oldest

_count_lock = threading.Lock()
_hook_users = 0  # threads with a hook on the fused updates now


def _dispatch(kind: str, tensors: tuple[Any, ...], scalars: tuple[Any, ...]) -> bool:
    """pygrad.optim._fused's hook while any thread needs one: this thread's own hook
    decides (other threads' updates run as usual)."""
    h = getattr(_recording.local, "fused", None)
    return False if h is None else h(kind, tensors, scalars)


def _hook_on(fn: Callable[..., bool]) -> None:
    global _hook_users
    _recording.local.fused = fn
    with _count_lock:
        _hook_users += 1
        _fused._hook = _dispatch


def _hook_off() -> None:
    global _hook_users
    _recording.local.fused = None
    with _count_lock:
        _hook_users -= 1
        if not _hook_users:
            _fused._hook = None


class CompileError(PygradRuntimeError):
    """``fullgraph=True``: the function does something a program cannot replay."""


class CompileWarning(RuntimeWarning):
    """A compiled function runs eagerly (what prevented recording is in the message)."""


class _Recording:
    def __init__(self, prog: Any, fullgraph: bool) -> None:
        self.prog = prog
        self.fullgraph = fullgraph
        self.why: str | None = None
        self.updates: list[tuple[Any, Tensor, dict[str, Any]]] = []
        self.observed: list[tuple[str, tuple[Any, ...]]] = []
        self.seeds: list[Any] = []  # the generator of each random op (None: manual_seed's)
        self.read_no_grad = False   # Python read a .grad that was None (see _grads_held)
        self.rprop_lr: dict[int, float] = {}  # Rprop step sizes made ahead: id -> the lr they were filled with

    def refuse(self, what: str) -> None:
        if self.why is None:
            self.why = what
        if self.fullgraph:
            raise CompileError(f"compile(fullgraph=True): cannot record {what}")

    def observe(self, kind: str, tensors: tuple[Any, ...], scalars: tuple[Any, ...]) -> bool:
        self.observed.append((kind, tensors))
        if kind == "rprop" and self.rprop_lr:
            lr0 = self.rprop_lr.pop(id(tensors[3]), None)
            lr = self.updates[-1][2]["lr"] if self.updates else lr0
            if lr0 is not None and lr != lr0:
                # Rprop's first step sizes are the lr of the step that makes them, and the function
                # changed it before its first step: the eager step's own sizes, and a warm-up call
                self.refuse("a change of Rprop's lr before its first step")
                with _autograd.no_grad():
                    tensors[3].fill_(lr)
        return False  # the update runs


# ---- the optimizers' scalars at each replay, without their dry run ----
# For the optimizers of pygrad.optim whose ``_update`` is the library's own, what
# that update does to the state and hands to its C update is known: these do the
# same for a run of parameters of one group (ids, and cols: the tensors the
# recorded updates were given, by argument) at once: they check that each state
# holds the recorded tensors, advance each step count and append the scalars in
# the C update's order. Where the dry run would make a state tensor or meet
# another one, they return False having changed nothing (the dry run then runs,
# and records again). undo gets (states, values before, their key) for each change.
_MISSING = object()


def _undo(undo: list[Any]) -> None:
    for sts, steps, key in reversed(undo):
        for st, step in zip(sts, steps):
            st[key] = step
    undo.clear()


def _put_back(saved: list[Any]) -> None:
    """The optimizer states CompiledFunction._scalars's dry run changed, as they were: saved holds (optimizer,
    parameter, state dict, its contents before; None: the dry run made it)."""
    for opt, p, st, before in saved:
        if before is None:
            opt.state.pop(id(p), None)
        else:
            st.clear()
            st.update(before)


class _States:
    """The optimizer states of one run of updates, at one call, with the values at some keys
    already read (by the fast guard, just before: cols, a key -> the value in each state)."""

    __slots__ = ("sts", "cols")

    def __init__(self, sts: Any, cols: dict[str, Any] | None = None) -> None:
        self.sts = sts
        self.cols = cols

    def col(self, key: str, default: Any = None) -> Any:
        """Each state's value at key (default where it has none)."""
        c = self.cols.get(key) if self.cols is not None else None
        return list(map(operator.methodcaller("get", key, default), self.sts)) if c is None else c


def _held(S: _States, key: str, rec: list[Any]) -> bool:
    """Whether each state holds the recorded tensor (or None) at key."""
    return all(map(operator.is_, S.col(key), rec))


class _Col(list):  # type: ignore[type-arg]
    """The tensors the recorded updates of a run were given as one argument (fixed once recorded),
    with whether all or some of them are None."""

    __slots__ = ("none", "some_none")

    def seal(self) -> None:
        self.none = all(map(operator.is_, self, itertools.repeat(None)))
        self.some_none = any(map(operator.is_, self, itertools.repeat(None)))


def _none(rec: _Col) -> bool:
    """Whether every recorded tensor of an argument is None."""
    return rec.none


def _some_none(rec: _Col) -> bool:
    """Whether some recorded tensor of an argument is None."""
    return rec.some_none


def _advance(S: _States, undo: list[Any]) -> list[Any] | None:
    """Each state's step count advanced (None, nothing changed: a state without one)."""
    steps = S.cols.get("step") if S.cols is not None else None  # read by the guard: every state has one
    if steps is None:
        steps = S.col("step", _MISSING)
        if any(map(operator.is_, steps, itertools.repeat(_MISSING))):
            return None
    new = list(map(operator.add, steps, itertools.repeat(1)))
    undo.append((S.sts, steps, "step"))
    any(map(operator.setitem, S.sts, itertools.repeat("step"), new))  # st["step"] = k + 1 for each
    return new


def _put(out: array, steps: list[Any], rest: tuple[Any, ...]) -> None:
    """Each update's scalars: its step count, then rest (out: C doubles)."""
    if steps.count(steps[0]) == len(steps):
        out += array("d", (steps[0],) + rest) * len(steps)
    else:
        for k in steps:
            out.append(k)
            out.extend(rest)


def _getter(ids: list[int]) -> Callable[[dict[int, Any]], Any]:
    """The states of parameters ids from an optimizer's state dict, in one call (KeyError: one has none)."""
    if len(ids) == 1:
        k = ids[0]
        return lambda state: (state[k],)
    return operator.itemgetter(*ids)


def _sgd_scalars(opt: Any, g: dict[str, Any], S: _States, cols: list[Any], out: array, undo: list[Any]) -> bool:
    mom = g["momentum"]
    rec = cols[2]
    if mom != 0 and (_some_none(rec) or not _held(S, "momentum_buffer", rec)):
        return False
    if mom == 0 and not _none(rec):
        return False
    steps = _advance(S, undo)
    if steps is None:
        return False
    _put(out, steps, (g["lr"], mom, g["dampening"], g["weight_decay"], g["nesterov"], g["maximize"]))
    return True


def _adagrad_scalars(opt: Any, g: dict[str, Any], S: _States, cols: list[Any], out: array, undo: list[Any]) -> bool:
    if _some_none(cols[2]) or not _held(S, "sum", cols[2]):
        return False
    steps = _advance(S, undo)
    if steps is None:
        return False
    _put(out, steps, (g["lr"], g["lr_decay"], g["weight_decay"], g["eps"], g["maximize"]))
    return True


def _rmsprop_scalars(opt: Any, g: dict[str, Any], S: _States, cols: list[Any], out: array, undo: list[Any]) -> bool:
    if (_some_none(cols[2]) or not _held(S, "square_avg", cols[2]) or not _held(S, "momentum_buffer", cols[3])
            or not _held(S, "grad_avg", cols[4])):
        return False
    if _advance(S, undo) is None:
        return False
    out += array("d", (g["lr"], g["alpha"], g["eps"], g["weight_decay"], g["momentum"], g["centered"],
                       g["maximize"])) * len(S.sts)
    return True


def _adam_scalars(opt: Any, g: dict[str, Any], S: _States, cols: list[Any], out: array, undo: list[Any]) -> bool:
    if (_some_none(cols[2]) or not _held(S, "exp_avg", cols[2]) or not _held(S, "exp_avg_sq", cols[3])
            or not _held(S, "max_exp_avg_sq", cols[4])):
        return False
    b1, b2 = g["betas"]
    rest = (g["lr"], b1, b2, g["eps"], g["weight_decay"], opt._decoupled, g["amsgrad"], g["maximize"])
    steps = _advance(S, undo)
    if steps is None:
        return False
    _put(out, steps, rest)
    return True


def _two_buffers(S: _States, cols: list[Any], a: str, b: str) -> bool:
    """Whether each state holds the recorded tensors at a and b (arguments 2 and 3)."""
    return not _some_none(cols[2]) and _held(S, a, cols[2]) and _held(S, b, cols[3])


def _nadam_scalars(opt: Any, g: dict[str, Any], S: _States, cols: list[Any], out: array, undo: list[Any]) -> bool:
    if not _two_buffers(S, cols, "exp_avg", "exp_avg_sq"):
        return False
    prods = S.col("mu_product", _MISSING)
    if any(map(operator.is_, prods, itertools.repeat(_MISSING))):
        return False
    b1, b2 = g["betas"]
    psi = g["momentum_decay"]
    steps = _advance(S, undo)
    if steps is None:
        return False
    undo.append((S.sts, prods, "mu_product"))
    from pygrad.optim.optimizer import nadam_mu

    rest = (g["lr"], b1, b2, g["eps"], g["weight_decay"], psi, g["decoupled_weight_decay"], g["maximize"])
    for st, t, prod in zip(S.sts, steps, prods):
        st["mu_product"] = prod = prod * nadam_mu(b1, t, psi)
        out.append(t)
        out.append(prod)
        out.extend(rest)
    return True


def _stepped(a: str, b: str, rest: Callable[[dict[str, Any]], tuple[Any, ...]]) -> Callable[..., bool]:
    """The scalars of an optimizer with state buffers a, b and a step count: (step, *rest(group)) per
    parameter, the steps advanced."""

    def scalars(opt: Any, g: dict[str, Any], S: _States, cols: list[Any], out: array, undo: list[Any]) -> bool:
        if not _two_buffers(S, cols, a, b):
            return False
        row = rest(g)
        steps = _advance(S, undo)
        if steps is None:
            return False
        _put(out, steps, row)
        return True

    return scalars


def _unstepped(a: str, b: str, rest: Callable[[dict[str, Any]], tuple[Any, ...]]) -> Callable[..., bool]:
    """The same for an optimizer whose kernel takes no step count: rest(group) per parameter."""

    def scalars(opt: Any, g: dict[str, Any], S: _States, cols: list[Any], out: array, undo: list[Any]) -> bool:
        if not _two_buffers(S, cols, a, b) or _advance(S, undo) is None:
            return False
        out += array("d", rest(g)) * len(S.sts)
        return True

    return scalars


_adamax_scalars = _stepped("exp_avg", "exp_inf", lambda g: (g["lr"], *g["betas"], g["eps"], g["weight_decay"],
                                                             g["maximize"]))
_radam_scalars = _stepped("exp_avg", "exp_avg_sq", lambda g: (g["lr"], *g["betas"], g["eps"], g["weight_decay"],
                                                                g["decoupled_weight_decay"], g["maximize"]))
_adadelta_scalars = _unstepped("square_avg", "acc_delta", lambda g: (g["lr"], g["rho"], g["eps"],
                                                                     g["weight_decay"], g["maximize"]))
_rprop_scalars = _unstepped("prev", "step_size", lambda g: (*g["etas"], *g["step_sizes"], g["maximize"]))


_FAST_SCALARS: dict[Any, Callable[..., bool]] = {}  # an optimizer class's _update -> the above


def _scalars_of(opt: Any) -> Callable[..., bool] | None:
    if not _FAST_SCALARS:
        from pygrad.optim import optimizer as o

        _FAST_SCALARS.update({o.SGD._update: _sgd_scalars, o.Adagrad._update: _adagrad_scalars,
                              o.RMSprop._update: _rmsprop_scalars, o.Adam._update: _adam_scalars,
                              o.Adamax._update: _adamax_scalars, o.NAdam._update: _nadam_scalars,
                              o.RAdam._update: _radam_scalars, o.Adadelta._update: _adadelta_scalars,
                              o.Rprop._update: _rprop_scalars})
    return _FAST_SCALARS.get(getattr(type(opt), "_update", None))


# ---- the structure of arguments and results ----

_SCALARS = (bool, int, float, str, type(None))


_FLAT_SPECS: dict[tuple[type, int], Any] = {}  # (tuple or list, n) -> the spec of n leaves in one


def _flatten(x: Any, leaves: list[Any]) -> Any:
    """x's nested tuples, lists and dicts as a spec; leaves appended in order."""
    tx = type(x)
    if tx is tuple or tx is list:
        for v in x:
            tv = type(v)
            if tv is tuple or tv is list or tv is dict:
                return (tx, tuple([_flatten(v, leaves) for v in x]))
        leaves.extend(x)  # leaves only: the spec of its length
        spec = _FLAT_SPECS.get((tx, len(x)))
        if spec is None:
            spec = (tx, (None,) * len(x))
            if len(x) <= 64:
                _FLAT_SPECS[(tx, len(x))] = spec
        return spec
    if tx is dict:
        return (dict, tuple([(k, _flatten(v, leaves)) for k, v in x.items()]))
    leaves.append(x)
    return None


def _unflatten(spec: Any, leaves: Any) -> Any:
    if spec is None:
        return next(leaves)
    kind, items = spec
    if kind is dict:
        return {k: _unflatten(s, leaves) for k, s in items}
    return kind(_unflatten(s, leaves) for s in items)


_NO_ROOT = object()  # a missing root (not a method; a global the code names but that is not defined)
_NESTED = (tuple, list, dict)  # what _flatten descends into (these exact types)
_SPECS: dict[int, Any] = {}  # n -> the spec of n positional leaf arguments and no keywords

_CLASSES: list[type] = []  # nn.Module, optim.Optimizer: imported at the first guard (they import this module's peers)


def _classes() -> list[type]:
    if not _CLASSES:
        from pygrad.nn.module import Module
        from pygrad.optim.optimizer import Optimizer

        _CLASSES[:] = [Module, Optimizer]
    return _CLASSES


_SCALAR_TYPES = frozenset((bool, int, float, str, type(None)))
_JUST_TENSORS = {Tensor}
_HANDLE, _SHAPE = operator.attrgetter("_p"), operator.attrgetter("shape")


# What the walk does with an object, by its type (memoized: a class's bases do not change)
_K_TENSOR, _K_SCALAR, _K_MODULE, _K_OPTIM, _K_SEQ, _K_DICT, _K_OBJ, _K_SKIP = range(8)
_KIND_OF: dict[type, int] = {}


def _kind_of(tx: type) -> int:
    k = _KIND_OF.get(tx)
    if k is None:
        module, optimizer = _classes()
        callable_ = any("__call__" in c.__dict__ for c in tx.__mro__)  # callable(x) for x of type tx
        k = (_K_TENSOR if issubclass(tx, Tensor) else _K_SCALAR if issubclass(tx, _SCALARS) else
             _K_MODULE if issubclass(tx, module) else _K_OPTIM if issubclass(tx, optimizer) else
             _K_SEQ if issubclass(tx, (list, tuple)) else _K_DICT if issubclass(tx, dict) else
             _K_SKIP if callable_ or issubclass(tx, types.ModuleType) else _K_OBJ)
        _KIND_OF[tx] = k
    return k


def _reach(x: Any, depth: int, tensors: dict[int, Tensor], trail: list[Any], seen: dict[int, int],
           names: list[str] | None = None, path: str = "", where: str = "") -> None:
    """Walk x: the tensors it reaches (into ``tensors``, by id, each once: the captured
    tensors) and, into ``trail``, one entry for everything the guard compares, in the order
    met, so that two walks give equal trails only if every place they look holds the same:

    - a tensor: its id (each time it is met: which tensor sits where);
    - a number, string, boolean or None: ``(type, value)``;
    - a list or tuple walked: ``-1 - len``; a dict: ``("keys", keys)``; a plain object:
      ``("obj", class, attribute names)``; a module: its class, then its attributes'
      numbers, strings, booleans, None (``training`` with them) and tensors (parameters,
      buffers, others), then its sub-modules, the whole tree; an optimizer:
      ``("opt", id)`` (its updates are bound to it), each group's ``("group", id)``, its
      parameters and their state tensors;
    - an object walked before, met again: ``("again", k)``, k its order among those walked
      (so a second name for one list, rebound to another, is seen).

    Lists, tuples, dicts and plain objects are walked ``depth`` levels down; other objects
    (functions, classes, Python modules, arrays) are not followed. With ``names``, one
    description per trail entry is appended (a message's words only: ``path`` is x as an
    expression from its root, ``where`` the root's kind); the walk is the same.
    """
    tx = type(x)
    kind = _KIND_OF.get(tx)
    if kind is None:
        kind = _kind_of(tx)
    if kind == _K_TENSOR:
        trail.append(id(x))
        tensors.setdefault(id(x), x)
        if names is not None:
            names.append(f"the tensor `{path}`{where}")
        return
    if kind == _K_SCALAR:
        trail.append((tx, x))
        if names is not None:
            names.append(f"the value of `{path}`{where}")
        return
    if kind == _K_SKIP or (depth <= 0 and kind >= _K_SEQ) or (kind == _K_OBJ and not hasattr(x, "__dict__")):
        return
    k = seen.get(id(x))
    if k is not None:
        trail.append(("again", k))
        if names is not None:
            names.append(f"{'the module ' if kind == _K_MODULE else 'the optimizer ' if kind == _K_OPTIM else ''}"
                         f"`{path}`{where}")
        return
    if kind == _K_MODULE:
        _reach_modules(x, tensors, trail, seen, names, path, where)
    elif kind == _K_OPTIM:
        seen[id(x)] = len(seen)
        _reach_optimizer(x, tensors, trail, names, path, where)
    else:
        seen[id(x)] = len(seen)
        if kind == _K_SEQ:
            items: Any = enumerate(x)
            trail.append(-1 - len(x))
        elif kind == _K_DICT:
            items = x.items()
            trail.append(("keys", tuple(x)))
        else:
            d = vars(x)
            items = d.items()
            trail.append(("obj", tx, tuple(d)))
        if names is None and kind == _K_SEQ and len(x) > 8 and set(map(type, x)) == _JUST_TENSORS:
            ids = list(map(id, x))  # tensors only: as the loop below, at once
            trail.extend(ids)
            tensors.update(zip(ids, x))
        elif names is None:
            for _, v in items:  # leaves inline
                tv = type(v)
                if tv is Tensor:
                    trail.append(id(v))
                    tensors.setdefault(id(v), v)
                elif tv in _SCALAR_TYPES:
                    trail.append((tv, v))
                else:
                    _reach(v, depth - 1, tensors, trail, seen)
        else:
            names.append(f"`{path}`{where}")
            for k, v in items:
                sub = f"{path}.{k}" if kind == _K_OBJ else f"{path}[{k!r}]"
                _reach(v, depth - 1, tensors, trail, seen, names, sub, where)


_OPTIMIZERS: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()  # the optimizers walked, by id


def _premake_state(key: Any) -> list[tuple[Any, int]] | None:
    """Before a signature's first call records: the state each optimizer the signature ``key``
    reaches would make at its next step, made now, as its own ``_update`` makes it (a dry run with
    the C update left out, its step count and other numbers then dropped: the step counts from the
    start). Returns (optimizer, id(parameter)) of each state made, for :func:`_drop_unstepped`; or
    None when an optimizer would make state that cannot be made ahead (an ``_update`` other than
    pygrad.optim's own): the first call is then a warm-up, eager, and the second records, since a
    program recorded at the step that makes the state would be of another step. The state made
    ahead holds what the step would have made (the C updates branch on the step count, so SGD's
    momentum buffer still starts as the gradient). Rprop's step sizes start at the lr of the step
    that makes them: they are made with the lr now, and a function that changes the lr before
    its first step makes that call a warm-up (``_Recording.observe`` refills them)."""
    opts = []
    _recording.local.rprop_lr = rprop_lr = {}  # for the recording's check (_Recording.observe)
    for t in key[2]:
        if type(t) is tuple and len(t) == 2 and t[0] == "opt":
            opt = _OPTIMIZERS.get(t[1])
            if opt is None:
                return None
            if opt._makes_state():
                if _scalars_of(opt) is None:
                    return None
                opts.append(opt)
    made: list[tuple[Any, int]] = []
    if not opts:
        return made
    _hook_on(lambda kind, tensors, scalars: True)  # the C update does not run
    try:
        for opt in opts:
            state = opt.state
            for g in opt.param_groups:
                if not opt._keeps_state(g):
                    continue
                for p in g["params"]:
                    if state.get(id(p)) or not p.requires_grad:
                        continue
                    st: dict[str, Any] = {}
                    opt._update(p, p, st, g)  # the parameter stands for its gradient, as in _scalars
                    state[id(p)] = {k: v for k, v in st.items() if isinstance(v, Tensor)}
                    made.append((opt, id(p)))
                    if "step_size" in st and getattr(type(opt), "_update", None) is _rprop_update():
                        rprop_lr[id(st["step_size"])] = g["lr"]
    finally:
        _hook_off()
    return made


def _rprop_update() -> Any:
    from pygrad.optim import optimizer as o

    return o.Rprop._update


def _drop_unstepped(made: list[tuple[Any, int]]) -> None:
    """The state :func:`_premake_state` made for a parameter the call did not step (it had no
    gradient) is dropped, as the eager step would not have made it."""
    for opt, pid in made:
        st = opt.state.get(pid)
        if st is not None and "step" not in st:
            del opt.state[pid]


def _is_module(x: Any) -> bool:
    return isinstance(x, _classes()[0])


def _grads_held(inputs: list[Tensor], captured: list[Tensor]) -> list[bool]:
    """Which of these tensors hold a ``.grad``. A step recorded at a first call that made the
    gradients (or dropped them), and that read a ``.grad`` that was None, may have seen None where
    the next call sees a tensor (``zero_grad(set_to_none=False)`` zeroes only the gradients there
    are): it is recorded again at the next call. (The C program itself follows a ``.grad`` that
    is there or not at each run, and refuses a run without one it reads.)"""
    return [t.grad is not None for t in itertools.chain(inputs, captured)]


def _reach_optimizer(x: Any, tensors: dict[int, Tensor], trail: list[Any], names: list[str] | None,
                     path: str, where: str) -> None:
    """_reach for an optimizer: itself, its groups, parameters and state tensors."""
    trail.append(("opt", id(x)))
    _OPTIMIZERS[id(x)] = x
    if names is not None:
        names.append(f"the optimizer `{path}`{where}")
    state = x.state
    for gi, g in enumerate(x.param_groups):
        trail.append(("group", id(g)))
        if names is not None:
            names.append(f"`{path}.param_groups[{gi}]`{where}")
        params = g["params"]
        if names is None and len(params) > 8:  # no state tensors: as the loop below, at once
            ids = list(map(id, params))
            held = [v for st in map(state.get, ids) if st for v in st.values()]
            if not any(issubclass(t, Tensor) for t in set(map(type, held))):
                trail.extend(ids)
                tensors.update(zip(ids, params))
                continue
        for pi, t in enumerate(params):
            trail.append(id(t))
            tensors.setdefault(id(t), t)
            at = f"{path}.param_groups[{gi}]['params'][{pi}]" if names is not None else ""
            if names is not None:
                names.append(f"the tensor `{at}`{where}")
            st = state.get(id(t))
            if st:
                for k, v in st.items():
                    if type(v) is Tensor or isinstance(v, Tensor):
                        trail.append(id(v))
                        tensors.setdefault(id(v), v)
                        if names is not None:
                            names.append(f"the tensor `{path}.state[id({at})][{k!r}]`{where}")


def _reach_modules(x: Any, tensors: dict[int, Tensor], trail: list[Any], seen: dict[int, int],
                   names: list[str] | None, path: str, where: str) -> None:
    """_reach for a module: the whole tree below it, depth first (no recursion)."""
    stack = [(x, path)]
    kinds = _KIND_OF
    while stack:
        m, p = stack.pop()
        k = seen.get(id(m))
        if k is not None:
            trail.append(("again", k))
            if names is not None:
                names.append(f"the module `{p}`{where}")
            continue
        seen[id(m)] = len(seen)
        trail.append(type(m))
        kids = []
        if names is None:
            for v in m.__dict__.values():
                tv = type(v)
                c = kinds.get(tv)
                if c is None:
                    c = _kind_of(tv)
                if c == _K_TENSOR:
                    trail.append(id(v))
                    tensors.setdefault(id(v), v)
                elif c == _K_SCALAR:
                    trail.append((tv, v))
                elif c == _K_MODULE:
                    kids.append((v, p))
        else:
            names.append(f"the module `{p}`{where}")
            for a, v in m.__dict__.items():
                tv = type(v)
                c = _kind_of(tv)
                if c == _K_TENSOR:
                    trail.append(id(v))
                    tensors.setdefault(id(v), v)
                    names.append(f"the tensor `{p}.{a}`{where}")
                elif c == _K_SCALAR:
                    trail.append((tv, v))
                    names.append(f"{'the training flag' if a == 'training' else 'the attribute'} `{p}.{a}`{where}")
                elif c == _K_MODULE:
                    kids.append((v, f"{p}.{a}"))
        if kids:
            stack.extend(reversed(kids))


# A signature (the key a program is cached under) is a tuple of these parts, so that
# a new one can be compared with the previous one part by part (_what_changed).
_S_SPEC, _S_ARGS, _S_TRAIL, _S_MODES = range(4)

RERECORD_WARN_AFTER = 3
"""A function that meets this many new signatures after its first warns (once, a CompileWarning)."""


def _leaf_names(spec: Any, pos_name: str = "", kw_name: str = "") -> list[str]:
    """The name of each argument leaf, in the order _flatten lists them: "argument 0[1]",
    "argument lr"; with pos_name and kw_name, as expressions ("args[0][1]", "kwargs['lr']")."""
    out: list[str] = []

    def walk(s: Any, name: str) -> None:
        if s is None:
            out.append(name)
        elif s[0] is dict:
            for k, sub in s[1]:
                walk(sub, f"{name}[{k!r}]")
        else:
            for i, sub in enumerate(s[1]):
                walk(sub, f"{name}[{i}]")

    (_, ((_, pos), (_, kw))) = spec
    for i, s in enumerate(pos):
        walk(s, f"{pos_name}[{i}]" if pos_name else f"argument {i}")
    for k, s in kw:
        walk(s, f"{kw_name}[{k!r}]" if kw_name else f"argument {k}")
    return out


def _show(item: Any) -> str:
    """An argument's signature item (or a fact) in words."""
    if type(item) is tuple and item and item[0] == "T":
        return f"a {_DTYPE_OF_CODE[item[2]]} tensor of shape {item[1]}"
    if type(item) is tuple and item and item[0] == "obj":
        return "an object"
    if type(item) is tuple and len(item) == 2 and isinstance(item[0], type):
        v = item[1]
        return f"{v!r} ({item[0].__name__})" if isinstance(v, (int, float)) and not isinstance(v, bool) else repr(v)
    return repr(item)


def _arg_changes(name: str, a: Any, b: Any, leaves: list[str]) -> list[str]:
    """How argument leaf ``name`` differs between two signatures' items a (before) and b
    (leaves: the names of all argument leaves)."""
    if a[0] == "T" and b[0] == "T":
        out = []
        if a[1] != b[1]:
            out.append(f"{name}'s shape changed from {a[1]} to {b[1]}")
        if a[2] != b[2]:
            out.append(f"{name}'s dtype changed from {_DTYPE_OF_CODE[a[2]]} to {_DTYPE_OF_CODE[b[2]]}")
        if a[3] != b[3]:
            out.append(f"{name}'s requires_grad changed from {a[3]} to {b[3]}")
        if a[4] != b[4]:
            was, now = (f"the same tensor as {leaves[k]}" if k >= 0 else "a tensor of its own" for k in (a[4], b[4]))
            out.append(f"{name} was {was}, and is {now} now")
        return out
    if a[0] == "obj" and b[0] == "obj":
        return [f"{name} is another object"]
    return [f"{name} changed from {_show(a)} to {_show(b)}"]


def _kind(e: Any) -> str:
    """What a trail entry (see _reach) is."""
    if type(e) is int:
        return "tensor" if e >= 0 else "len"
    if type(e) is tuple:
        return e[0] if type(e[0]) is str else "value"
    return "module"


def _what(e: Any) -> str:
    k = _kind(e)
    return {"tensor": "a tensor", "len": "a list or tuple", "value": _show(e), "keys": "a dict",
            "opt": "an optimizer", "group": "a dict", "again": "an object met before under another name",
            "module": f"a {getattr(e, '__name__', '?')} module",
            "obj": f"a {getattr(e[1], '__name__', '?')} object" if k == "obj" else ""}[k]


def _trail_change(nm: str, a: Any, b: Any) -> str:
    """How one place the guard looks at (named nm) differs: it held a, it holds b."""
    k = _kind(a)
    if k != _kind(b):
        return f"{nm} was {_what(a)} and is {_what(b)} now"
    if k == "tensor":
        return f"{nm} is another tensor object"
    if k == "value":
        return f"{nm} changed from {_show(a)} to {_show(b)}"
    if k == "len":
        return f"{nm} changed length from {-1 - a} to {-1 - b}"
    if k == "module":
        return f"{nm} changed class from {a.__name__} to {b.__name__}"
    if k == "keys":
        return f"{nm} changed keys from {list(a[1])} to {list(b[1])}"
    if k == "obj":
        if a[1] is not b[1]:
            return f"{nm} changed class from {a[1].__name__} to {b[1].__name__}"
        return f"{nm} changed attributes from {list(a[2])} to {list(b[2])}"
    if k == "opt":
        return f"{nm} is another optimizer object"
    if k == "group":
        return f"{nm} is another dict"
    return f"{nm} is another of the objects met before"


def _trail_changes(a: tuple[Any, ...], b: tuple[Any, ...], names: list[str]) -> list[str]:
    """The differences of two trails (names: b's entries described)."""
    if len(a) == len(b):
        out = [_trail_change(names[k], x, y) for k, (x, y) in enumerate(zip(a, b)) if x != y]
        flags = [f for f in out if f.startswith("the training flag ")]
        if len(flags) > 1:  # model.train() / eval(): one line
            k = flags[0].index(" changed from ")
            out = [f"{flags[0][:k]} and {len(flags) - 1} more training flags{flags[0][k:]}"] + \
                [f for f in out if f not in flags]
        return out
    k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    d = len(b) - len(a)
    if d > 0 and a[k:] == b[k + d:]:  # places inserted at k
        first = f"{names[k]} is new" if d == 1 else f"{names[k]} and {d - 1} more are new"
    elif d < 0 and a[k - d:] == b[k:]:  # places gone at k
        first = f"{-d} before {names[k]} are gone" if k < len(b) else f"the last {-d} are gone"
    else:
        first = _trail_change(names[k], a[k], b[k]) if k < min(len(a), len(b)) else "at the end"
    was = set(a)
    fresh = [names[i] for i, e in enumerate(b) if type(e) is int and e >= 0 and e not in was]
    more = f"; new: {', '.join(fresh[:3])}{', ...' if len(fresh) > 3 else ''}" if fresh else ""
    return [f"what the function reaches changed ({len(a)} guarded places, now {len(b)}), first: {first}{more}"]


def _what_changed(old: tuple[Any, ...], new: tuple[Any, ...], names: Callable[[], list[str]]) -> list[str]:
    """The guards whose values differ between signatures old and new, in words (names:
    the naming walk of the new signature's call, made only when needed)."""
    out: list[str] = []
    if old[_S_SPEC] != new[_S_SPEC]:
        (_, ((_, p0), (_, k0))), (_, ((_, p1), (_, k1))) = old[_S_SPEC], new[_S_SPEC]
        if len(p0) != len(p1):
            out.append(f"the number of positional arguments changed from {len(p0)} to {len(p1)}")
        elif [k for k, _ in k0] != [k for k, _ in k1]:
            out.append(f"the keyword arguments changed from {[k for k, _ in k0]} to {[k for k, _ in k1]}")
        else:
            out.append("the nesting of the arguments (tuples, lists, dicts, their lengths) changed")
    else:
        leaves = _leaf_names(new[_S_SPEC])
        for name, a, b in zip(leaves, old[_S_ARGS], new[_S_ARGS]):
            if a != b:
                out += _arg_changes(name, a, b, leaves)
    (g0, i0), (g1, i1) = old[_S_MODES], new[_S_MODES]
    if g0 != g1:
        out.append(f"grad mode changed from {'enabled' if g0 else 'disabled'} to {'enabled' if g1 else 'disabled'}")
    if i0 != i1:
        out.append(f"inference mode changed from {'on' if i0 else 'off'} to {'on' if i1 else 'off'}")
    if old[_S_TRAIL] != new[_S_TRAIL]:
        out += _trail_changes(old[_S_TRAIL], new[_S_TRAIL], names())
    return out


def _arg_leaves(args: tuple[Any, ...], kwargs: dict[str, Any], short: bool = True) -> tuple[Any, Any]:
    """(the spec of the arguments' structure, their leaves), as _flatten((args, kwargs)) gives them
    (short: flat positional arguments without flattening)."""
    if short and not kwargs and not any(type(a) in _NESTED for a in args):
        return _SPECS.get(len(args)) or _SPECS.setdefault(len(args), _flatten(((None,) * len(args), {}), [])), args
    leaves: list[Any] = []
    return _flatten((args, kwargs), leaves), leaves


def _arg_items(leaves: Any) -> tuple[list[Any], list[Tensor], list[tuple[int, Any]], str | None]:
    """The signature's items of the argument leaves (see _signature), the tensor arguments, the
    objects among them that the guard walks (leaf index, object), and why the call cannot be
    recorded (None: it can)."""
    inputs: list[Tensor] = []
    items: list[Any] = []
    objs: list[tuple[int, Any]] = []
    first: dict[int, int] = {}  # id -> the first leaf that is this tensor
    bad = None
    if len(leaves) > 8 and set(map(type, leaves)) == _JUST_TENSORS:  # tensors only: as the loop below, at once
        n = len(leaves)
        ids = list(map(id, leaves))
        first = dict(zip(reversed(ids), range(n - 1, -1, -1)))  # id -> its first leaf
        handles_ = list(map(_HANDLE, leaves))
        items = list(zip(itertools.repeat("T"), map(_SHAPE, leaves), map(lib.pg_tensor_dtype, handles_),
                         map(bool, map(lib.pg_tensor_requires_grad, handles_)),
                         [-1 if f == k else f for k, f in enumerate(map(first.__getitem__, ids))]))
        return items, list(leaves), objs, bad
    for k, x in enumerate(leaves):
        tx = type(x)
        kind = _KIND_OF.get(tx)
        if kind is None:
            kind = _kind_of(tx)
        if kind == _K_TENSOR:
            same = first.setdefault(id(x), k)  # the same tensor passed twice: one input in both places
            items.append(("T", x.shape, lib.pg_tensor_dtype(x._p), bool(lib.pg_tensor_requires_grad(x._p)),
                          -1 if same == k else same))
            inputs.append(x)
        elif kind == _K_SCALAR:
            items.append((tx, x))
        elif kind in (_K_MODULE, _K_OPTIM) or (hasattr(x, "__dict__") and (
                kind != _K_SKIP or isinstance(x, types.ModuleType))):
            items.append(("obj", id(x)))
            objs.append((k, x))
        else:
            bad = bad or f"an argument of type {tx.__name__} (pass tensors, numbers or modules)"
    return items, inputs, objs, bad


# ---- the fast guard ----
# A full signature walks everything the function reaches and builds a key of it. Between two
# calls of a training loop almost nothing there changes, so once a full signature has found a
# program, a _Guard is built from the same walk: every object the walk read from, held (so that
# being the same object means what it meant), with what the walk read there: the items of each
# list walked, the keys and values of each dict and plain object, the attribute values of each
# module, an optimizer's groups, parameters and state. The next call tests these with identity
# comparisons run in C (all(map(operator.is_, now, then))); when one differs, a slower test
# compares that place as the signature does (a number by type and value, an object the walk
# does not follow by being still one it does not follow), and when that differs too the call
# takes the full signature. Every guard of the signature is tested at every call: a guard
# passes only if the full signature would be the one it was built from (PYGRAD's own tests
# check that at every fast call: _VERIFY_FAST).

_GUARD_BUILDS = 4  # fast guards a function builds in a row while none passes, before it gives them up
_VERIFY_FAST = False  # tests: every call the fast guard passes also computes the full signature and compares
_EMPTY = object()  # an empty closure cell
_M_TENSOR, _M_SCALAR, _M_WALKED, _M_IGNORED = range(4)  # what the walk does with a value (see _mode)
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class whose instances' __class__ may be reassigned
_DICT_OR_NONE = {dict, type(None)}
_JUST_DICT = {dict}
_IS_TENSOR_TYPE: dict[type, bool] = {}  # memo: issubclass(t, Tensor)
_CONTENTS = operator.attrgetter("cell_contents")


def _tensor_types(ts: Any) -> bool:
    """Whether any of the types ts is a tensor class."""
    for t in ts:
        f = _IS_TENSOR_TYPE.get(t)
        if f is None:
            f = _IS_TENSOR_TYPE[t] = issubclass(t, Tensor)
        if f:
            return True
    return False


def _mode(v: Any, depth: int) -> int:
    """What _reach does with v met ``depth`` levels down: reads it as a tensor or a number,
    walks it, or ignores it."""
    tv = type(v)
    kind = _KIND_OF.get(tv)
    if kind is None:
        kind = _kind_of(tv)
    if kind == _K_TENSOR:
        return _M_TENSOR
    if kind == _K_SCALAR:
        return _M_SCALAR
    if kind == _K_SKIP or (depth <= 0 and kind >= _K_SEQ) or (kind == _K_OBJ and not hasattr(v, "__dict__")):
        return _M_IGNORED
    return _M_WALKED


def _module_mode(v: Any) -> int:
    """What _reach_modules does with a module's attribute value v."""
    tv = type(v)
    kind = _KIND_OF.get(tv)
    if kind is None:
        kind = _kind_of(tv)
    return _M_TENSOR if kind == _K_TENSOR else _M_SCALAR if kind == _K_SCALAR else _M_WALKED \
        if kind == _K_MODULE else _M_IGNORED


def _same_place(now: Any, then: Any, mode: int, depth: int) -> bool:
    """Whether the signature sees no difference between ``now`` and what was there (``then``,
    which the walk treated as ``mode``): a tensor or an object it walks must be the same object,
    a number equal with its type, an object it ignores still one it ignores."""
    if now is then:
        return True
    if mode == _M_SCALAR:
        return _mode(now, depth) == _M_SCALAR and (type(now), now) == (type(then), then)
    if mode == _M_IGNORED:
        return _mode(now, depth) == _M_IGNORED
    return False


def _others(items: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[type, ...]]:
    """The items whose class could be reassigned (instances of classes written in Python, not
    tensors or numbers), with their classes: a new class may change what the walk does."""
    o = tuple(v for v in items
              if type(v).__flags__ & _HEAP_TYPE and _KIND_OF.get(type(v)) not in (_K_TENSOR, _K_SCALAR))
    return o, tuple(map(type, o))


def _classes_same(rec: list[Any], at: int) -> bool:
    """rec[at], rec[at + 1]: the objects of _others and their classes, unchanged."""
    return all(map(operator.is_, map(type, rec[at]), rec[at + 1]))


# Each check is a list [test, the object, what was read ...]; the test returns whether the
# signature would see the same there, and may refresh what it compares with when only objects
# it does not distinguish changed.

def _seq_ok(rec: list[Any]) -> bool:
    _, x, items, depth = rec[:4]
    if len(x) == len(items) and all(map(operator.is_, x, items)):
        return _classes_same(rec, 4)
    now = tuple(x)
    if len(now) != len(items) or not all(map(_same_place, now, items, [_mode(v, depth) for v in items],
                                              itertools.repeat(depth))):
        return False
    rec[2], (rec[4], rec[5]) = now, _others(now)
    return True


def _dict_ok(rec: list[Any]) -> bool:
    _, x, keys, vals, depth = rec[:5]
    if type(x) is not dict:
        return False
    return _mapping_ok(rec, x, keys, vals, depth, 2)


def _obj_ok(rec: list[Any]) -> bool:
    _, x, cls, keys, vals, depth = rec[:6]
    if type(x) is not cls:
        return False
    d = vars(x)
    if type(d) is not dict:
        return False
    return _mapping_ok(rec, d, keys, vals, depth, 3)


def _mapping_ok(rec: list[Any], d: dict[Any, Any], keys: tuple[Any, ...], vals: tuple[Any, ...], depth: int,
                at: int) -> bool:
    """A dict's keys and values (rec[at], rec[at + 1]) as the walk reads them."""
    if len(d) == len(keys) and all(map(operator.is_, d, keys)) and all(map(operator.is_, d.values(), vals)):
        return _classes_same(rec, at + 3)
    now_keys, now = tuple(d), tuple(d.values())
    if now_keys != keys or not all(map(_same_place, now, vals, [_mode(v, depth) for v in vals],
                                       itertools.repeat(depth))):
        return False
    rec[at], rec[at + 1], (rec[at + 3], rec[at + 4]) = now_keys, now, _others(now)
    return True


def _module_ok(rec: list[Any]) -> bool:
    _, m, cls, vals = rec[:4]
    if type(m) is not cls:
        return False
    d = m.__dict__
    if type(d) is not dict:
        return False
    if len(d) == len(vals) and all(map(operator.is_, d.values(), vals)):
        return _classes_same(rec, 4)
    # the walk reads the tensors, numbers and sub-modules among the values, in order
    now = tuple(d.values())
    a = [(v, k) for v in now if (k := _module_mode(v)) != _M_IGNORED]
    b = [(v, k) for v in vals if (k := _module_mode(v)) != _M_IGNORED]
    if len(a) != len(b) or any(ka != kb or not _same_place(va, vb, kb, 0) for (va, ka), (vb, kb) in zip(a, b)):
        return False
    rec[3], (rec[4], rec[5]) = now, _others(now)
    return True


def _opt_facts(state: Any, ids: list[int]) -> tuple[Any, ...] | None:
    """What the walk reads of an optimizer's state for parameters ids: the state tensors in order
    and where they sit (None: a state that is not a dict)."""
    sts = list(map(state.get, ids))
    if not set(map(type, sts)) <= _DICT_OR_NONE:
        return None
    vals = list(itertools.chain.from_iterable(map(dict.values, filter(None, sts))))
    types_ = set(map(type, vals))
    if not _tensor_types(types_):
        return ()
    for t in types_:  # each in the memo
        _tensor_types((t,))
    flags = list(map(_IS_TENSOR_TYPE.__getitem__, map(type, vals)))
    return (list(map(bool, sts)), list(map(len, filter(None, sts))), flags, list(itertools.compress(vals, flags)))


def _opt_layout(state: dict[int, Any], ids: list[int]) -> tuple[Any, ...] | None:
    """When every parameter's state is a dict with the same keys K (SGD's {"step"}, Adam's moments ...)
    and each key holds tensors in all of them or in none: (K, a getter of the states, a getter of the
    values at K, the tensor keys' positions in K with their tensors, the others' positions); None
    otherwise (the general comparison, _opt_facts, applies)."""
    if not ids:
        return None
    sts = list(map(state.get, ids))
    if set(map(type, sts)) != {dict}:
        return None
    keys = set(map(tuple, sts))
    if len(keys) != 1:
        return None
    (K,) = keys
    if not K:
        return None
    vals = list(map(operator.itemgetter(*K), sts))
    cols = [vals] if len(K) == 1 else list(zip(*vals))
    tens, plain = [], []
    for j, col in enumerate(cols):
        types_ = set(map(type, col))
        if not _tensor_types(types_):
            plain.append(j)
        elif all(_tensor_types((t,)) for t in types_):
            tens.append((j, tuple(col)))
        else:
            return None
    return K, _getter(ids), operator.itemgetter(*K), tens, plain


def _opt_ok(rec: list[Any]) -> bool:
    _, o, cls, groups, params, ids, facts, layout, _ = rec
    rec[8] = None
    if type(o) is not cls:
        return False
    gs = o.param_groups
    if type(gs) not in (list, tuple) or len(gs) != len(groups) or not all(map(operator.is_, gs, groups)):
        return False
    for g, ps in zip(groups, params):
        p = g["params"]
        if type(p) not in (list, tuple) or len(p) != len(ps) or not all(map(operator.is_, p, ps)):
            return False
    state = o.state
    if type(state) is not dict:
        return False
    if layout is not None and _layout_ok(rec, state, layout):
        return True
    if not facts:  # no state tensors: none may have appeared
        sts = list(map(state.get, ids))
        if not set(map(type, sts)) <= _DICT_OR_NONE:
            return False
        return not _tensor_types(set(map(type, itertools.chain.from_iterable(map(dict.values, filter(None, sts))))))
    now = _opt_facts(state, ids)
    return bool(now) and now[:3] == facts[:3] and all(map(operator.is_, now[3], facts[3]))


def _layout_ok(rec: list[Any], state: dict[int, Any], layout: tuple[Any, ...]) -> bool:
    """The states still as _opt_layout found them: each a dict of exactly the keys K (in K's
    order when two of them hold tensors), the same tensors at the tensor keys, none at the
    others. The states and their values by key are kept for the optimizer's scalars (rec[8])."""
    K, get_states, get_vals, tens, plain = layout
    try:
        sts = get_states(state)
        if set(map(type, sts)) != _JUST_DICT or set(map(len, sts)) != {len(K)}:
            return False
        vals = list(map(get_vals, sts))  # every key of K in each: its keys are K
    except KeyError:
        return False
    cols = (vals,) if len(K) == 1 else tuple(zip(*vals))
    for j in plain:
        if _tensor_types(set(map(type, cols[j]))):
            return False
    for j, was in tens:
        if not all(map(operator.is_, cols[j], was)):
            return False
    if len(tens) > 1 and set(map(tuple, sts)) != {K}:  # the order the walk meets their tensors in
        return False
    rec[8] = (sts, dict(zip(K, cols)))
    return True


class _Unsupported(Exception):
    """The walk meets something the fast guard does not model (a subclass of list, dict ...)."""


class _Guard:
    """The facts of one call's signature (see the section's comment), built by walking as
    _signature does; check() tells whether another call would have the same signature."""

    def __init__(self, cf: CompiledFunction, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                 runs: list[Any] | None = None) -> None:
        self.key = key
        self.modes = key[_S_MODES]
        spec, leaves = _arg_leaves(args, kwargs)
        items, inputs, objs, bad = _arg_items(leaves)
        if bad is not None or spec != key[_S_SPEC] or tuple(items) != key[_S_ARGS]:
            raise _Unsupported
        self.objs = [(k, x, type(x)) for k, x in objs]  # (leaf, object, its class) of the objects passed
        # the call's own arguments, while the next calls pass the same objects (see check)
        self.args: tuple[Any, ...] | None = args if not kwargs and all(map(_frozen, args)) else None
        self.inputs = inputs
        self.rg_handles = list(map(_HANDLE, inputs))
        self.rgs = list(map(lib.pg_tensor_requires_grad, self.rg_handles))
        self.c_in: Any = None
        self.checks: list[list[Any]] = []
        seen: dict[int, int] = {}
        for _, x, _ in self.objs:
            self._walk(x, 2, seen)
        bound, cells, g, used = cf._sources
        if bound is not _NO_ROOT:
            self._walk(bound, 2, seen)
        self.cell_objs: list[Any] = []
        for _, cell in cells:
            try:
                x = cell.cell_contents
            except ValueError:  # an empty cell
                self.cell_objs.append(_EMPTY)
                continue
            self.cell_objs.append(x)
            self._walk(x, 2, seen)
        self.cell_list = [c for _, c in cells]
        self.any_empty = any(map(operator.is_, self.cell_objs, itertools.repeat(_EMPTY)))
        self.globals, self.names = g, used
        self.global_objs = [g.get(name, _NO_ROOT) for name in used]
        for x in self.global_objs:
            if x is not _NO_ROOT:
                self._walk(x, 2, seen)
        self.root_classes = [(x, type(x)) for x in (*self.cell_objs, *self.global_objs, bound)
                             if type(x).__flags__ & _HEAP_TYPE]
        # the runs of optimizer updates (see _record) over exactly the parameters of an optimizer
        # whose states the check reads by layout: the scalars take those states as just read
        # (only when no other run updates them: a later run must see the first one's steps)
        recs = {id(r[1]): r for r in self.checks if r[0] is _opt_ok and r[7] is not None}
        uses = [id(r[1]) for r in runs or ()]
        self.links = [(k, recs[id(r[1])]) for k, r in enumerate(runs or ()) if id(r[1]) in recs
                      and uses.count(id(r[1])) == 1 and r[3] == recs[id(r[1])][5]]

    def _walk(self, x: Any, depth: int, seen: dict[int, int]) -> None:
        """_reach's walk, noting what it reads instead of what it finds."""
        tx = type(x)
        mode = _mode(x, depth)
        if mode != _M_WALKED or id(x) in seen:
            return
        kind = _KIND_OF[tx]
        if kind == _K_MODULE:
            stack = [x]
            while stack:
                m = stack.pop()
                if id(m) in seen:
                    continue
                seen[id(m)] = len(seen)
                d = m.__dict__
                if type(d) is not dict:
                    raise _Unsupported
                vals = tuple(d.values())
                self.checks.append([_module_ok, m, type(m), vals, *_others(vals)])
                stack.extend(reversed([v for v in vals if _module_mode(v) == _M_WALKED]))
            return
        seen[id(x)] = len(seen)
        if kind == _K_OPTIM:
            gs = x.param_groups
            if type(gs) not in (list, tuple) or any(type(g) is not dict for g in gs):
                raise _Unsupported
            params = tuple(tuple(g["params"]) for g in gs)
            if any(type(g["params"]) not in (list, tuple) for g in gs) or type(x.state) is not dict:
                raise _Unsupported
            ids = [id(t) for ps in params for t in ps]
            facts = _opt_facts(x.state, ids)
            if facts is None:
                raise _Unsupported
            self.checks.append([_opt_ok, x, tx, tuple(gs), params, ids, facts, _opt_layout(x.state, ids), None])
            return
        if kind == _K_SEQ:
            if tx is not list and tx is not tuple:
                raise _Unsupported
            vals = tuple(x)
            if tx is list:  # a tuple cannot change: the place holding it is checked
                self.checks.append([_seq_ok, x, vals, depth - 1, *_others(vals)])
        elif kind == _K_DICT:
            if tx is not dict:
                raise _Unsupported
            vals = tuple(x.values())
            self.checks.append([_dict_ok, x, tuple(x), vals, depth - 1, *_others(vals)])
        else:
            d = vars(x)
            if type(d) is not dict:
                raise _Unsupported
            vals = tuple(d.values())
            self.checks.append([_obj_ok, x, tx, tuple(d), vals, depth - 1, *_others(vals)])
        for v in vals:
            self._walk(v, depth - 1, seen)

    def states(self) -> dict[int, _States] | None:
        """The optimizer states the check has just read, by run of updates (see links)."""
        if not self.links:
            return None
        return {k: _States(*rec[8]) for k, rec in self.links if rec[8] is not None}

    def forget_args(self) -> None:
        """Let go of the arguments of the call the guard was built at."""
        if self.args is not None:
            self.args = self.c_in = None
            self.inputs, self.rg_handles, self.rgs = [], [], []

    def check(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Tensor] | None:
        """The tensor arguments of a call whose signature is this guard's (None: it may not be)."""
        if (_autograd.is_grad_enabled(), bool(lib.pg_inference_mode())) != self.modes:
            return None
        if self.any_empty:
            for cell, x in zip(self.cell_list, self.cell_objs):
                try:
                    if cell.cell_contents is not x:
                        return None
                except ValueError:
                    if x is not _EMPTY:
                        return None
        else:
            try:
                if not all(map(operator.is_, map(_CONTENTS, self.cell_list), self.cell_objs)):
                    return None
            except ValueError:  # a cell emptied
                return None
        g = self.globals
        if not all(map(operator.is_, map(g.get, self.names, itertools.repeat(_NO_ROOT)), self.global_objs)):
            return None
        for x, cls in self.root_classes:
            if type(x) is not cls:
                return None
        for rec in self.checks:
            if not rec[0](rec):
                return None
        a = self.args
        if a is not None and not kwargs and len(args) == len(a) and all(map(operator.is_, args, a)):
            # the same objects, all tuples, tensors and numbers: only requires_grad can differ
            if list(map(lib.pg_tensor_requires_grad, self.rg_handles)) != self.rgs:
                return None
            return self.inputs
        self.forget_args()  # other arguments: the guard no longer holds the first ones
        key = self.key
        spec, leaves = _arg_leaves(args, kwargs)
        if spec != key[_S_SPEC]:
            return None
        items, inputs, objs, bad = _arg_items(leaves)
        if bad is not None or len(objs) != len(self.objs) or tuple(items) != key[_S_ARGS]:
            return None
        for (k, x), (j, y, cls) in zip(objs, self.objs):
            if k != j or x is not y or type(x) is not cls:
                return None
        return inputs


def _frozen(x: Any) -> bool:
    """Whether x is a tensor, a number or a tuple of those, nested: the same object holds the same."""
    tx = type(x)
    if tx is tuple:
        return all(map(_frozen, x))
    kind = _KIND_OF.get(tx)
    if kind is None:
        kind = _kind_of(tx)
    return kind == _K_TENSOR or kind == _K_SCALAR


def _outside() -> int:
    """The ``stacklevel`` that makes a warning issued by the function calling this one point at the
    first frame outside this module: the user's call of the compiled function."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


class _Entry:
    """One signature's state: "warm" (to record at its next call), "ready" (a program), "eager" (cannot record)."""

    def __init__(self, key: Any) -> None:
        self.key = key                    # the signature (see CompiledFunction._signature)
        self.state = "warm"
        self.prog: Any = None
        self.spec: Any = None
        self.kinds: list[Any] = []        # per output leaf: "T" (a tensor), or the Python value returned
        self.n_out = 0                    # how many of them are tensors
        self.sbufs: list[Any] = []        # per optimizer update: a C double array for its scalars
        self.runs: Any = None             # consecutive updates of one optimizer group (_runs_of), or _UNPLANNED
        self.abuf: Any = None             # every update's scalars, passed to C in one call: numpy's view
        self.aptr: Any = None             # and its C pointer
        self.c_out: Any = None            # the C array the outputs are returned in
        self.shape: Any = None            # _ONE_TENSOR, tuple or list (of tensors only): what is returned
        self.guard: _Guard | None = None  # the fast guard of this signature (see _Guard)
        self.updates: list[tuple[Any, Tensor, dict[str, Any], tuple[Any, ...]]] = []
        self.keep: list[Any] = []         # the captured tensors: their ids stay theirs
        self.seeds: list[Any] = []        # the generators each replay draws the random ops' seeds from
        self.why: str | None = None
        self.read_no_grad = False         # its recording read a .grad that was None (see _grads_held)


_prepared = False
_warmed = False


def _prepare() -> None:
    """Once per process, when the first function is compiled: what its first recording would do
    first otherwise. cffi parses the C type of an array at its first ``ffi.new`` and makes its
    wrapper of a C function at the first use of its name, some 80 us in all for the recording's
    (twice the vectorised micrograd step, which a recording should cost a few of). Then
    :func:`_warm_up`."""
    global _prepared
    if not _prepared:
        _prepared = True
        handles([])
        doubles([0.0])
        new_program()
        for name in ("pg_program_record_begin", "pg_program_record_end", "pg_program_n_seeds", "pg_program_run",
                     "pg_program_set_seeds", "pg_program_set_all_optim_scalars", "pg_program_set_optim_scalars"):
            getattr(lib, name)
    if not _warmed:
        _warm_up()


def _warm_up() -> None:
    """Once per process, at a compile outside any recording and in the plain modes: a tiny step of
    its own (a linear layer, a bias, ReLU, a mean, backward, an SGD update, float32, on tensors made
    here) compiled, recorded and replayed. A process's first recording otherwise runs each Python
    function and C path of recording, planning and replaying for the first time, on code and data
    not in any cache, which made it cost twice what the same recording costs afterwards (some
    0.1-0.15 ms: more than the vectorised micrograd step it records, of some 0.05 ms); this costs
    0.5-1 ms of CPU time, once, when the first function is compiled. It changes nothing of the
    caller's: no generator is drawn from, the tensors and the program are freed at the end, grad
    mode and inference mode are put back."""
    global _warmed
    if (_warmed or getattr(_recording.local, "rec", None) is not None
            or getattr(_recording.local, "fused", None) is not None or lib.pg_detect_anomaly()):
        return
    _warmed = True
    from pygrad.optim import SGD

    was_inference = lib.pg_set_inference_mode(0)
    was_grad = lib.pg_set_grad_enabled(1)
    try:
        w = _creation.tensor([[0.5, -0.25], [0.125, 1.0]], dtype=np.float32, requires_grad=True)
        b = _creation.tensor([0.25, -0.5], dtype=np.float32, requires_grad=True)
        opt = SGD([w, b], lr=0.125)

        def step(x: Tensor) -> Tensor:
            opt.zero_grad()
            loss = ((x @ w + b).relu() * 0.5).mean()
            loss.backward()
            opt.step()
            return loss

        x = _creation.tensor([[1.0, -2.0], [3.0, 0.5]], dtype=np.float32)
        fn = CompiledFunction(step, False)
        for _ in range(3):  # a warm-up call, the recording, a replay
            fn(x)
        fn._cache.clear()
        fn._last = None
    finally:
        lib.pg_set_grad_enabled(was_grad)
        lib.pg_set_inference_mode(was_inference)


class CompiledFunction:
    """What ``pygrad.compile`` returns: call it like the function."""

    def __init__(self, fn: Callable[..., Any], fullgraph: bool) -> None:
        self.fn = fn
        self.fullgraph = fullgraph
        self._cache: dict[Any, _Entry] = {}
        self._lock = threading.RLock()  # one call at a time (a recursive call is let through)
        self._last: _Entry | None = None
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self.records = 0  # how many programs were recorded (tests, diagnostics)
        self._builds = _GUARD_BUILDS  # fast guards that may still be built before one passes
        self.fast_calls = 0  # calls whose signature the fast guard found (tests, diagnostics)
        self.rerecords = 0  # calls that met a new signature after the first (or replaced optimizer state)
        self.last_change: str | None = None  # which guards differed at the latest of those, in words
        self._sources = self._root_sources()
        if not _is_module(fn):  # a module's attributes are reached through __getattr__ instead
            functools.update_wrapper(self, fn)
        _prepare()

    def _name(self) -> str:
        """The function's name in messages (a module's class name)."""
        fn = self.fn
        return getattr(fn, "__qualname__", None) or type(fn).__qualname__

    def __getattr__(self, name: str) -> Any:
        """For a compiled module (``model = pygrad.compile(model)``, as PyTorch's OptimizedModule): its
        attributes, ``parameters()``, ``train()``, ``state_dict()`` ... are the module's."""
        fn = self.__dict__.get("fn")
        if fn is not None and _is_module(fn):
            return getattr(fn, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self.__call__, obj)

    # ---- the guard ----
    def _root_sources(self) -> tuple[Any, list[tuple[str, Any]], dict[str, Any], tuple[str, ...]]:
        """What the roots are read from (fixed for a function): the bound object of a method,
        the closure cells with their names, the globals and the names the code uses."""
        fn = self.fn
        bound = _NO_ROOT
        if isinstance(fn, types.MethodType):
            bound, fn = fn.__self__, fn.__func__
        elif _is_module(fn):  # a module called: itself (its parameters, buffers, submodules) and its forward's names
            bound, fn = fn, getattr(type(fn).forward, "__func__", type(fn).forward)
        code = getattr(fn, "__code__", None)
        cells = list(zip(code.co_freevars, getattr(fn, "__closure__", None) or ())) if code else []
        return bound, cells, getattr(fn, "__globals__", {}), code.co_names if code else ()

    def _signature(self, args: tuple[Any, ...], kwargs: dict[str, Any], names: list[str] | None = None
                   ) -> tuple[Any, list[Tensor], list[Tensor], str | None]:
        """(the signature, the tensor arguments, the captured tensors, why the call cannot be
        recorded or None). With ``names``, the walk also describes each trail entry (slower).
        The signature may be unhashable (an argument that cannot be compared): see __call__."""
        spec, leaves = _arg_leaves(args, kwargs, names is None)
        exprs = _leaf_names(spec, "args", "kwargs") if names is not None else None
        tensors: dict[int, Tensor] = {}
        trail: list[Any] = []
        seen: dict[int, int] = {}
        items, inputs, objs, bad = _arg_items(leaves)
        for k, x in objs:
            _reach(x, 2, tensors, trail, seen, names, exprs[k] if exprs else "")
        bound, cells, g, used = self._sources
        if bound is not _NO_ROOT:
            _reach(bound, 2, tensors, trail, seen, names, "self")
        for name, cell in cells:
            try:
                x = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            _reach(x, 2, tensors, trail, seen, names, name, " (a closure variable)")
        for name in used:
            x = g.get(name, _NO_ROOT)
            if x is not _NO_ROOT:
                _reach(x, 2, tensors, trail, seen, names, name, " (a global)")
        for t in inputs:
            tensors.pop(id(t), None)
        key = (spec, tuple(items), tuple(trail), (_autograd.is_grad_enabled(), bool(lib.pg_inference_mode())))
        return key, inputs, list(tensors.values()), bad

    def _explain(self, old: Any, new: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Which guards differ between the previous call's signature and this call's."""
        def names() -> list[str]:
            n: list[str] = []
            self._signature(args, kwargs, n)
            return n

        changes = _what_changed(old, new, names) if old is not None else []
        return "; ".join(changes[:4]) + (f" (and {len(changes) - 4} more)" if len(changes) > 4 else "") \
            if changes else "the optimizer's state tensors were replaced"

    # ---- calls ----
    def _warn(self, why: str) -> None:
        if self.fullgraph:
            raise CompileError(f"compile(fullgraph=True): {self._name()}: cannot record {why}")
        if why not in self._warned:
            self._warned.add(why)
            warnings.warn(f"pygrad.compile: {self._name()} runs eagerly: cannot record "
                          f"{why}", CompileWarning, stacklevel=_outside())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # one call at a time: a replay sets the program's scalars and seeds and then runs it, and two
        # threads interleaving those would mix their values; another thread waits here (its wait lets
        # the GIL go) until this call has returned
        with self._lock:
            return self._call(args, kwargs)

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if getattr(_recording.local, "rec", None) is not None or getattr(_recording.local, "fused", None) is not None:
            return self.fn(*args, **kwargs)  # inside another function's recording: that one records this call
        last = self._last
        guard = last.guard if last is not None else None
        if guard is not None:
            inputs = guard.check(args, kwargs)
            if inputs is not None:  # the signature of the last call: its program runs
                if _VERIFY_FAST:
                    self._verify(guard, args, kwargs)
                self._builds = _GUARD_BUILDS
                self.fast_calls += 1
                if inputs is guard.inputs and guard.c_in is None:
                    guard.c_in = handles(inputs)
                out = self._replay(last, inputs, guard.c_in if inputs is guard.inputs else None, guard.states())
                if out is not _RERECORD:
                    return out
                key, inputs, captured, bad = self._signature(args, kwargs)
                return self._rerecord(last, inputs, captured, args, kwargs)
            guard.forget_args()
            if not self._builds:  # guards built lately have not passed again: the full signature only
                last.guard = None
        key, inputs, captured, bad = self._signature(args, kwargs)
        if bad is None:
            try:
                entry = self._cache.get(key)
            except TypeError:  # unhashable
                bad = "an argument that cannot be compared"
        if bad is not None:
            self._warn(bad)
            return self.fn(*args, **kwargs)
        if entry is None:
            if self._last is not None:
                self._new_signature(self._explain(self._last.key, key, args, kwargs))
            if len(self._cache) >= _MAX_PROGRAMS:
                self._cache.pop(next(iter(self._cache)))
                self._warn_once_recompiles()
            entry = self._cache[key] = _Entry(key)
            self._last = entry
            made = _premake_state(key)
            if made is None:
                out = self.fn(*args, **kwargs)  # warm-up, eager
                changed = False
            else:
                if made:  # the state made ahead is reachable now: the signature the call records under
                    del self._cache[key]
                    key, inputs, captured, bad = self._signature(args, kwargs)
                    if key in self._cache:  # met before: this call runs eagerly (the next finds that entry)
                        self._last = self._cache[key]
                        return self.fn(*args, **kwargs)
                    self._cache[key] = entry
                    entry.key = key
                had = _grads_held(inputs, captured)
                try:
                    out = self._record(entry, inputs, captured, args, kwargs, first=True)
                finally:
                    _drop_unstepped(made)
                changed = entry.read_no_grad and had != _grads_held(inputs, captured)
            after, _, _, bad = self._signature(args, kwargs)
            if bad is None and after != key:  # what the call made (optimizer state, say) is reachable now:
                del self._cache[key]            # the next call records under the signature it will have
                self._last = self._cache.setdefault(after, entry)
                entry.key = after
                changed = True
            if changed and entry.state == "ready":  # a program of the state before the call, which
                entry.state, entry.prog, entry.guard = "warm", None, None  # the next call is not in
            return out
        self._last = entry
        if entry.state == "eager":
            return self.fn(*args, **kwargs)
        if entry.state == "warm":
            return self._record(entry, inputs, captured, args, kwargs)
        if entry.runs is _UNPLANNED:
            entry.runs = _runs_of(entry.updates)
        if self._builds:  # the next call may take the fast guard
            self._builds -= 1
            try:
                entry.guard = _Guard(self, key, args, kwargs, entry.runs)
            except _Unsupported:
                entry.guard = None
        out = self._replay(entry, inputs)
        if out is _RERECORD:
            return self._rerecord(entry, inputs, captured, args, kwargs)
        return out

    def _rerecord(self, entry: _Entry, inputs: list[Tensor], captured: list[Tensor], args: Any, kwargs: Any) -> Any:
        """A replay found the optimizer's state tensors replaced: record the step again."""
        self._new_signature("the optimizer's state tensors were replaced")
        entry.state, entry.guard = "warm", None
        return self._record(entry, inputs, captured, args, kwargs)

    def _verify(self, guard: _Guard, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """_VERIFY_FAST: the fast guard passed; the full signature must be the guard's."""
        key = self._signature(args, kwargs)[0]
        if key != guard.key or self._cache.get(key) is not self._last:
            raise AssertionError(f"compile: the fast guard passed a call of another signature: "
                                 f"{self._explain(guard.key, key, args, kwargs)}")

    def _new_signature(self, why: str) -> None:
        """A call that records again (its guards differ from the previous call's): counted,
        and the RERECORD_WARN_AFTER-th warns once, naming the guard that changed."""
        self.rerecords += 1
        self.last_change = why
        if self.rerecords == RERECORD_WARN_AFTER:
            warnings.warn(f"pygrad.compile: {self._name()} met a new signature "
                          f"{self.rerecords} times since its first call, the latest because {why}. Each new "
                          f"signature is recorded (some eager steps' time) before it replays: keep what the "
                          f"guards compare fixed, or pass values that change as tensors "
                          f"(docs/compile.md, the guards)", CompileWarning, stacklevel=_outside())

    def _warn_once_recompiles(self) -> None:
        msg = f"more than {_MAX_PROGRAMS} signatures (shapes, captured tensors, ...) were seen: programs are evicted"
        if msg not in self._warned and not self.fullgraph:
            self._warned.add(msg)
            warnings.warn(f"pygrad.compile: {self._name()}: {msg}", CompileWarning,
                          stacklevel=_outside())

    def _record(self, entry: _Entry, inputs: list[Tensor], captured: list[Tensor], args: Any, kwargs: Any,
                first: bool = False) -> Any:
        """Run the function while recording it. ``first``: a signature's first call, which records when it
        can; when it cannot, it was a warm-up (the entry stays "warm", nothing is said, fullgraph does not
        raise) and the second call records, or reports why it cannot (a first call may meet what it makes
        lazily itself: a module's tensor made at its first forward)."""
        if getattr(_recording.local, "rec", None) is not None or getattr(_recording.local, "fused", None) is not None:
            return self.fn(*args, **kwargs)  # nested in another recording: the outer one records this
        prog = new_program()
        c_in, c_cap = handles(inputs), handles(captured)
        _check(lib.pg_program_record_begin(prog, c_in, len(inputs), c_cap, len(captured)))
        rec = _Recording(prog, self.fullgraph and not first)
        if first:
            rec.rprop_lr, _recording.local.rprop_lr = getattr(_recording.local, "rprop_lr", {}), {}
        _recording.local.rec = rec
        _hook_on(rec.observe)
        with _count_lock:
            _recording.RECORDING += 1
        ended = False
        try:
            out = self.fn(*args, **kwargs)
            leaves: list[Any] = []
            spec = _flatten(out, leaves)
            outs = [x for x in leaves if isinstance(x, Tensor)]
            for x in leaves:
                if not isinstance(x, (Tensor, *_SCALARS)):
                    rec.refuse(f"returning a {type(x).__name__}")
            if len(rec.observed) != len(rec.updates):
                rec.refuse("an optimizer update outside Optimizer.step")
            c_out = handles(outs)
            ended = True
            st = lib.pg_program_record_end(prog, c_out, len(outs))
        finally:
            with _count_lock:
                _recording.RECORDING -= 1
            _recording.local.rec = None
            _hook_off()
            if not ended:
                lib.pg_program_record_end(prog, _NULL, 0)
        if rec.why is None and not st and len(rec.seeds) != lib.pg_program_n_seeds(prog):
            rec.why = "a random op whose seed was not drawn by pygrad's dropout (its mask would be frozen)"
        if rec.why is not None or st:
            why = rec.why
            if why is None:
                why = last_error().removeprefix("compile: cannot record ")
            if first:
                entry.state, entry.prog = "warm", None
                return out
            entry.state, entry.why, entry.prog = "eager", why, None
            self._warn(why)
            return out
        entry.state, entry.prog, entry.spec = "ready", prog, spec
        entry.read_no_grad = rec.read_no_grad
        entry.kinds = ["T" if isinstance(x, Tensor) else x for x in leaves]
        entry.n_out = len(outs)
        entry.shape = (_ONE_TENSOR if spec is None and entry.kinds == ["T"] else
                       spec[0] if spec is not None and spec[0] is not dict and entry.kinds == ["T"] * len(spec[1])
                       and not any(spec[1]) else None)
        entry.updates = [(o, p, g, ts) for (o, p, g), (_, ts) in zip(rec.updates, rec.observed)]
        entry.sbufs = []  # each update's scalars, passed to C by a dry run (_replay makes them)
        entry.runs = _UNPLANNED  # made by the first replay (_runs_of), which the recording need not wait for
        entry.keep = captured
        entry.seeds = rec.seeds
        self.records += 1
        return out

    def _scalars(self, entry: _Entry, saved: list[Any] | None = None) -> Any:
        """Each recorded optimizer update's scalars, computed now by the optimizer's own
        ``_update`` with the C update left out; _RERECORD when its tensors changed. saved gets
        each state as it was before (see _put_back)."""
        got: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
        keep = got.append

        def capture(kind: str, tensors: tuple[Any, ...], scalars: tuple[Any, ...]) -> bool:
            keep((tensors, scalars))
            return True  # the update does not run

        if saved is None:
            saved = []  # (the state dict, its contents before; None: it was made now)
        _hook_on(capture)
        try:
            for opt, p, group, _ in entry.updates:
                st = opt.state.get(id(p))
                saved.append((opt, p, st, None if st is None else st.copy()))
                opt._update(p, p, opt.state.setdefault(id(p), {}) if st is None else st, group)
        finally:
            _hook_off()
        same = len(got) == len(entry.updates)
        for (ts, _), (_, _, _, was) in zip(got, entry.updates) if same else ():
            if len(ts) != len(was):
                same = False
            for k in range(len(ts)) if same else ():
                if k != 1 and ts[k] is not was[k]:  # 1: the gradient (the parameter itself in this dry run)
                    same = False
                    break
            if not same:
                break
        if same:
            return [sc for _, sc in got]
        _put_back(saved)  # state replaced (load_state_dict ...): put it back, record again
        return _RERECORD

    def _fast_scalars(self, entry: _Entry, pre: dict[int, _States] | None, undo: list[Any]) -> bool:
        """The updates' scalars without the optimizers' dry run (see _sgd_scalars), handed
        to C in one call; False (nothing changed) where the dry run must run. pre: the states
        of some runs, as the fast guard has just read them; undo gets the changes made (_undo)."""
        flat = array("d")
        try:
            for k, (fast, opt, group, ids, cols, get) in enumerate(entry.runs):
                S = pre.get(k) if pre else None
                if S is None:
                    state = opt.state
                    sts = get(state) if type(state) is dict else list(map(state.get, ids))  # KeyError: below
                    if any(map(operator.is_, sts, itertools.repeat(None))):
                        _undo(undo)
                        return False
                    S = _States(sts)
                if not fast(opt, group, S, cols, flat, undo):
                    _undo(undo)
                    return False
        except Exception:  # not a number (the dry run converts as the eager update does), or as the dry
            _undo(undo)    # run would raise it, after the same changes
            return False
        n = len(flat)
        if entry.abuf is None or n > len(entry.abuf):
            # C doubles that numpy writes into: a tensor's buffer, its data pointer handed to C
            t = _creation.zeros(max(n, 1), dtype=np.float64)
            entry.abuf, entry.aptr = t._host_view(), lib.pg_tensor_data(t._p)
        entry.abuf[:n] = np.frombuffer(flat, dtype=np.float64)
        _check(lib.pg_program_set_all_optim_scalars(entry.prog, entry.aptr, n))
        return True

    def _replay(self, entry: _Entry, inputs: list[Tensor], c_in: Any = None, pre: dict[int, _States] | None = None
                ) -> Any:
        """Run entry's program on inputs (c_in: their handles, when the guard kept them; pre: the
        optimizer states the guard has just read); the outputs, or _RERECORD when the optimizer's
        state tensors were replaced."""
        prog = entry.prog
        if entry.runs is _UNPLANNED:
            entry.runs = _runs_of(entry.updates)
        undo: list[Any] = []
        saved: list[Any] = []
        if entry.updates and (entry.runs is None or not self._fast_scalars(entry, pre, undo)):
            scalars = self._scalars(entry, saved)
            if scalars is _RERECORD:
                return _RERECORD
            if len(entry.sbufs) != len(entry.updates):  # made at the first dry run
                entry.sbufs = [doubles([0.0] * 16) for _ in entry.updates]
            for k, (sc, buf) in enumerate(zip(scalars, entry.sbufs)):
                n = len(sc)
                if n > len(buf):
                    buf = doubles(sc)
                try:
                    buf[0:n] = sc
                except TypeError:  # not a real number: as the eager update would take it
                    buf[0:n] = [float(v) for v in sc]
                _check(lib.pg_program_set_optim_scalars(prog, k, buf, n))
        if entry.seeds:  # each random op's next seed, drawn as the eager call draws it
            seeds = [_creation._draw_seed(g) for g in entry.seeds]
            _check(lib.pg_program_set_seeds(prog, uint64s(seeds), len(seeds)))
        c_out = entry.c_out
        if c_out is None:
            c_out = entry.c_out = handles([], entry.n_out)
        status = lib.pg_program_run(prog, handles(inputs) if c_in is None else c_in, len(inputs), c_out)
        if status:  # an op refused a value (a label, a probability, a norm) before the updates ran, as
            _undo(undo)  # the eager step raises before its optimizer step: the step counts go back
            _put_back(saved)
            _check(status)
        shape = entry.shape
        if shape is _ONE_TENSOR:
            return wrap_or_none(c_out[0])
        outs = list(map(wrap_or_none, c_out[0:entry.n_out]))
        if shape is not None:  # a tuple or list of tensors
            return shape(outs)
        it = iter(outs)
        leaves = [next(it) if k == "T" else k for k in entry.kinds]
        return _unflatten(entry.spec, iter(leaves))

    @property
    def program(self) -> str | None:
        """The program of the last call's signature, one instruction a line (None: not recorded)."""
        e = self._last
        if e is None or e.prog is None:
            return None
        return "\n".join(f"{i:4d}  {ln}" for i, ln in enumerate(program_lines(e.prog)))


_RERECORD = object()
_ONE_TENSOR = object()
_UNPLANNED = object()  # _Entry.runs before the first replay


def _runs_of(updates: list[tuple[Any, Tensor, dict[str, Any], tuple[Any, ...]]]) -> list[Any] | None:
    """A program's recorded optimizer updates (optimizer, parameter, group, tensors by argument) as
    runs of consecutive updates of one group, each parameter once: (fast scalars, optimizer, group,
    parameter ids, recorded tensors by argument, the ids' state getter); None when an optimizer
    has no fast scalars (its dry run gives them)."""
    runs: list[Any] = []
    in_run: set[int] = set()  # the parameters of the last run: one updated again starts another
    last_o: Any = None
    fast: Any = None
    for o, p, g, ts in updates:
        if o is not last_o:
            last_o, fast = o, _scalars_of(o)
        if fast is None:
            return None
        if not (runs and runs[-1][1] is o and runs[-1][2] is g) or id(p) in in_run:
            runs.append((fast, o, g, [], [_Col() for _ in ts]))
            in_run.clear()
        in_run.add(id(p))
        runs[-1][3].append(id(p))
        for col, t in zip(runs[-1][4], ts):
            col.append(t)
    for r in runs:
        for col in r[4]:
            col.seal()
    return [(*r, _getter(r[3])) for r in runs] if runs else None


def compile(model: Callable[..., Any] | None = None, *, fullgraph: bool = False,  # noqa: A001 - PyTorch's name
            dynamic: bool | None = None, backend: Any = None, mode: str | None = None,
            options: dict[str, Any] | None = None, name: str | None = None, disable: bool = False) -> Any:
    """Record ``model`` (a training step, an inference function, a module) once and replay it in C.

    Usable as ``@pygrad.compile`` or ``@pygrad.compile(fullgraph=True)``, or ``model =
    pygrad.compile(model)``. See docs/compile.md for what is recorded, the guards, and what runs
    eagerly. PyTorch's other arguments are taken so that its code runs unchanged: ``disable=True``
    returns ``model`` itself, as PyTorch does; ``dynamic``, ``backend``, ``mode`` and ``options``
    choose among PyTorch's compilers and change nothing here (one program per signature, each
    new shape recorded once); ``name`` labels PyTorch's compiled region.
    """
    if mode is not None and not isinstance(mode, str):
        raise TypeError(f"compile: mode must be a string or None, got {type(mode).__name__}")
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"compile: options must be a dict or None, got {type(options).__name__}")
    if mode is not None and options is not None:
        raise RuntimeError("compile: either mode or options can be specified, not both (PyTorch's rule)")
    if model is None:
        return lambda f: compile(f, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                 options=options, name=name, disable=disable)
    if not callable(model):
        raise TypeError(f"compile: expected a function or a module, got {type(model).__name__}")
    if disable:
        return model
    return CompiledFunction(model, fullgraph)
