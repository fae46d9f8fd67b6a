"""``pygrad.compile``: record a whole step once, replay it in C with no Python per op.

The first call with a given signature runs the function eagerly (a warm-up:
optimizer state and gradients that are made lazily exist afterwards). The
second records: it runs eagerly too, while the C engine writes every op of
the forward, the backward sweep, the gradient accumulation, ``.grad``
assignments and the fused optimizer updates into a program (csrc/program.c).
Later calls whose guards hold replay that program in one C call, with the
GIL released; their outputs are fresh tensors with the structure the
function returned.

The guards (the signature a program is cached under): the shapes, dtypes and
``requires_grad`` of the tensor arguments, the values of the other
arguments, grad mode, the identity of every tensor the function can reach
through its closure, the globals it names and its arguments (module
parameters and buffers, optimizer parameters and state), the modules'
``training`` flags and the plain Python values (numbers, strings) among those
globals and closure cells. Optimizer hyperparameters are not guarded: they are
read from the optimizer at every call (its ``_update`` runs in Python without
the C update, to compute them), so an lr scheduler takes effect at once.

What cannot be recorded is detected, not frozen: reading tensor values into
Python (``.item()``, ``bool(t)``, ``.numpy()``, ``.tolist()``), user gates and
``custom_op`` (a Python backward), in-place updates, hooks,
``autograd.grad``, tensors made inside the function by anything but a
recorded op. Such a function runs eagerly, with a warning (once) naming what
prevented recording; ``fullgraph=True`` raises instead.
"""

from __future__ import annotations

import functools
import threading
import types
import warnings
from typing import Any, Callable

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
from pygrad._tensor import Tensor
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

    def refuse(self, what: str) -> None:
        if self.why is None:
            self.why = what
        if self.fullgraph:
            raise CompileError(f"compile(fullgraph=True): cannot record {what}")

    def observe(self, kind: str, tensors: tuple[Any, ...], scalars: tuple[Any, ...]) -> bool:
        self.observed.append((kind, tensors))
        return False  # the update runs


# ---- the structure of arguments and results ----

_SCALARS = (bool, int, float, str, type(None))


def _flatten(x: Any, leaves: list[Any]) -> Any:
    """x's nested tuples, lists and dicts as a spec; leaves appended in order."""
    if isinstance(x, (tuple, list)) and type(x) in (tuple, list):
        return (type(x), tuple(_flatten(v, leaves) for v in x))
    if type(x) is dict:
        return (dict, tuple((k, _flatten(v, leaves)) for k, v in x.items()))
    leaves.append(x)
    return None


def _unflatten(spec: Any, leaves: Any) -> Any:
    if spec is None:
        return next(leaves)
    kind, items = spec
    if kind is dict:
        return {k: _unflatten(s, leaves) for k, s in items}
    return kind(_unflatten(s, leaves) for s in items)


_CLASSES: list[type] = []  # nn.Module, optim.Optimizer: imported at the first guard (they import this module's peers)


def _classes() -> list[type]:
    if not _CLASSES:
        from pygrad.nn.module import Module
        from pygrad.optim.optimizer import Optimizer

        _CLASSES[:] = [Module, Optimizer]
    return _CLASSES


def _is_module(x: Any) -> bool:
    return isinstance(x, _classes()[0])


def _is_optimizer(x: Any) -> bool:
    return isinstance(x, _classes()[1])


def _reach(x: Any, depth: int, tensors: dict[int, Tensor], facts: list[Any], seen: set[int]) -> None:
    """The tensors x reaches (into tensors) and what else the guard compares (facts)."""
    if id(x) in seen:
        return
    seen.add(id(x))
    if isinstance(x, Tensor):
        tensors.setdefault(id(x), x)
    elif isinstance(x, _SCALARS):
        facts.append(x)
    elif _is_module(x):
        for m in x.modules():
            facts.append(m.training)
        for t in x.parameters():
            tensors.setdefault(id(t), t)
        for t in x.buffers():
            tensors.setdefault(id(t), t)
    elif _is_optimizer(x):
        for g in x.param_groups:
            for t in g["params"]:
                tensors.setdefault(id(t), t)
                for v in x.state.get(id(t), {}).values():
                    if isinstance(v, Tensor):
                        tensors.setdefault(id(v), v)
    elif depth > 0 and isinstance(x, (tuple, list)):
        for v in x:
            _reach(v, depth - 1, tensors, facts, seen)
    elif depth > 0 and isinstance(x, dict):
        for v in x.values():
            _reach(v, depth - 1, tensors, facts, seen)
    elif depth > 0 and not callable(x) and not isinstance(x, types.ModuleType) and hasattr(x, "__dict__"):
        for v in vars(x).values():
            _reach(v, depth - 1, tensors, facts, seen)


class _Entry:
    """One signature's state: "warm" (seen once), "ready" (a program), "eager" (cannot record)."""

    def __init__(self) -> None:
        self.state = "warm"
        self.prog: Any = None
        self.spec: Any = None
        self.kinds: list[Any] = []        # per output leaf: "T" (a tensor), or the Python value returned
        self.updates: list[tuple[Any, Tensor, dict[str, Any], tuple[Any, ...]]] = []
        self.keep: list[Any] = []         # the captured tensors: their ids stay theirs
        self.seeds: list[Any] = []        # the generators each replay draws the random ops' seeds from
        self.why: str | None = None


class CompiledFunction:
    """What ``pygrad.compile`` returns: call it like the function."""

    def __init__(self, fn: Callable[..., Any], fullgraph: bool) -> None:
        self.fn = fn
        self.fullgraph = fullgraph
        self._cache: dict[Any, _Entry] = {}
        self._last: _Entry | None = None
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self.records = 0  # how many programs were recorded (tests, diagnostics)
        functools.update_wrapper(self, fn)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self.__call__, obj)

    # ---- the guard ----
    def _roots(self) -> list[Any]:
        fn = self.fn
        roots: list[Any] = []
        if isinstance(fn, types.MethodType):
            roots.append(fn.__self__)
            fn = fn.__func__
        code = getattr(fn, "__code__", None)
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                roots.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        g = getattr(fn, "__globals__", {})
        for name in code.co_names if code else ():
            if name in g:
                roots.append(g[name])
        return roots

    def _signature(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, list[Tensor], list[Tensor],
                                                                                    str | None]:
        leaves: list[Any] = []
        spec = _flatten((args, kwargs), leaves)
        inputs: list[Tensor] = []
        items: list[Any] = [spec]
        tensors: dict[int, Tensor] = {}
        facts: list[Any] = []
        seen: set[int] = set()
        bad = None
        for x in leaves:
            if isinstance(x, Tensor):
                items.append((tuple(x.shape), x.dtype, x.requires_grad))
                if any(x is t for t in inputs):
                    items.append(("same", [i for i, t in enumerate(inputs) if t is x][0]))
                inputs.append(x)
            elif isinstance(x, _SCALARS):
                items.append((type(x), x))
            elif _is_module(x) or _is_optimizer(x) or (hasattr(x, "__dict__") and not callable(x)):
                items.append(("obj", id(x)))
                _reach(x, 2, tensors, facts, seen)
            else:
                bad = bad or f"an argument of type {type(x).__name__} (pass tensors, numbers or modules)"
        for r in self._roots():
            _reach(r, 2, tensors, facts, seen)
        for t in inputs:
            tensors.pop(id(t), None)
        captured = list(tensors.values())
        items.append(tuple(tensors))
        items.append(tuple(facts))
        items.append((_autograd.is_grad_enabled(), bool(lib.pg_inference_mode())))
        try:
            key = tuple(items)
            hash(key)
        except TypeError:
            key, bad = None, bad or "an argument that cannot be compared"
        return key, inputs, captured, bad

    # ---- calls ----
    def _warn(self, why: str) -> None:
        if self.fullgraph:
            raise CompileError(f"compile(fullgraph=True): {self.__qualname__}: cannot record {why}")
        if why not in self._warned:
            self._warned.add(why)
            warnings.warn(f"pygrad.compile: {getattr(self.fn, '__qualname__', self.fn)} runs eagerly: cannot record "
                          f"{why}", CompileWarning, stacklevel=3)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key, inputs, captured, bad = self._signature(args, kwargs)
        if bad is not None:
            self._warn(bad)
            return self.fn(*args, **kwargs)
        entry = self._cache.get(key)
        if entry is None:
            if len(self._cache) >= _MAX_PROGRAMS:
                self._cache.pop(next(iter(self._cache)))
                self._warn_once_recompiles()
            entry = self._cache[key] = _Entry()
            self._last = entry
            return self.fn(*args, **kwargs)  # warm-up, eager
        self._last = entry
        if entry.state == "eager":
            return self.fn(*args, **kwargs)
        if entry.state == "warm":
            return self._record(entry, inputs, captured, args, kwargs)
        out = self._replay(entry, inputs)
        if out is _RERECORD:
            entry.state = "warm"
            return self._record(entry, inputs, captured, args, kwargs)
        return out

    def _warn_once_recompiles(self) -> None:
        msg = f"more than {_MAX_PROGRAMS} signatures (shapes, captured tensors, ...) were seen: programs are evicted"
        if msg not in self._warned and not self.fullgraph:
            self._warned.add(msg)
            warnings.warn(f"pygrad.compile: {getattr(self.fn, '__qualname__', self.fn)}: {msg}", CompileWarning,
                          stacklevel=3)

    def _record(self, entry: _Entry, inputs: list[Tensor], captured: list[Tensor], args: Any, kwargs: Any) -> Any:
        if getattr(_recording.local, "rec", None) is not None or getattr(_recording.local, "fused", None) is not None:
            return self.fn(*args, **kwargs)  # nested in another recording: the outer one records this
        prog = new_program()
        c_in, c_cap = handles(inputs), handles(captured)
        _check(lib.pg_program_record_begin(prog, c_in, len(inputs), c_cap, len(captured)))
        rec = _Recording(prog, self.fullgraph)
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
            entry.state, entry.why, entry.prog = "eager", why, None
            self._warn(why)
            return out
        entry.state, entry.prog, entry.spec = "ready", prog, spec
        entry.kinds = ["T" if isinstance(x, Tensor) else x for x in leaves]
        entry.updates = [(o, p, g, ts) for (o, p, g), (_, ts) in zip(rec.updates, rec.observed)]
        entry.keep = captured
        entry.seeds = rec.seeds
        self.records += 1
        return out

    def _scalars(self, entry: _Entry) -> Any:
        """Each recorded optimizer update's scalars, computed now by the optimizer's own
        ``_update`` with the C update left out; _RERECORD when its tensors changed."""
        got: list[tuple[str, tuple[Any, ...], tuple[Any, ...]]] = []

        def capture(kind: str, tensors: tuple[Any, ...], scalars: tuple[Any, ...]) -> bool:
            got.append((kind, tensors, scalars))
            return True  # the update does not run

        saved = [(opt.state.get(id(p)), dict(opt.state.get(id(p), {}))) for opt, p, _, _ in entry.updates]
        _hook_on(capture)
        try:
            for opt, p, group, _ in entry.updates:
                opt._update(p, p, opt.state.setdefault(id(p), {}), group)
        finally:
            _hook_off()
        same = len(got) == len(entry.updates) and all(
            all(a is b for k, (a, b) in enumerate(zip(ts, was)) if k != 1)
            for (_, ts, _), (_, _, _, was) in zip(got, entry.updates))
        if not same:  # state replaced (load_state_dict ...): put the step counts back, record again
            for st, copy in saved:
                if st is not None:
                    st.clear()
                    st.update(copy)
            return _RERECORD
        return [tuple(float(s) for s in sc) for _, _, sc in got]

    def _replay(self, entry: _Entry, inputs: list[Tensor]) -> Any:
        scalars = self._scalars(entry) if entry.updates else []
        if scalars is _RERECORD:
            return _RERECORD
        prog = entry.prog
        for k, sc in enumerate(scalars):
            _check(lib.pg_program_set_optim_scalars(prog, k, doubles(sc), len(sc)))
        if entry.seeds:  # each random op's next seed, drawn as the eager call draws it
            seeds = [_creation._draw_seed(g) for g in entry.seeds]
            _check(lib.pg_program_set_seeds(prog, uint64s(seeds), len(seeds)))
        n_out = sum(1 for k in entry.kinds if k == "T")
        c_in, c_out = handles(inputs), handles([], n_out)
        _check(lib.pg_program_run(prog, c_in, len(inputs), c_out))
        it = iter([c_out[i] for i in range(n_out)])
        leaves = [wrap_or_none(next(it)) if k == "T" else k for k in entry.kinds]
        return _unflatten(entry.spec, iter(leaves))

    @property
    def program(self) -> str | None:
        """The program of the last call's signature, one instruction a line (None: not recorded)."""
        e = self._last
        if e is None or e.prog is None:
            return None
        return "\n".join(f"{i:4d}  {ln}" for i, ln in enumerate(program_lines(e.prog)))


_RERECORD = object()


def compile(fn: Callable[..., Any] | None = None, *, fullgraph: bool = False) -> Any:  # noqa: A001 - PyTorch's name
    """Record ``fn`` (a training step, an inference function) once and replay it in C.

    Usable as ``@pygrad.compile`` or ``@pygrad.compile(fullgraph=True)``. See
    docs/compile.md for what is recorded, the guards, and what runs eagerly.
    """
    if fn is None:
        return lambda f: CompiledFunction(f, fullgraph)
    if not callable(fn):
        raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
    return CompiledFunction(fn, fullgraph)
