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
``RERECORD_WARN_AFTER``-th warns once.

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

from pygrad import _autograd, _recording
from pygrad._bindings import _NULL, _check, doubles, handles, last_error, lib, new_program, program_lines, wrap_or_none
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


_SCALAR_TYPES = frozenset((bool, int, float, str, type(None)))


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
    (functions, Python modules, arrays) are not followed. With ``names``, one description
    per trail entry is appended (a message's words only: ``path`` is x as an expression
    from its root, ``where`` the root's kind).
    """
    tx = type(x)
    if tx is Tensor or (tx not in _SCALAR_TYPES and isinstance(x, Tensor)):
        trail.append(id(x))
        tensors.setdefault(id(x), x)
        if names is not None:
            names.append(f"the tensor `{path}`{where}")
        return
    if tx in _SCALAR_TYPES or isinstance(x, _SCALARS):
        trail.append((tx, x))
        if names is not None:
            names.append(f"the value of `{path}`{where}")
        return
    module, optimizer = _CLASSES or _classes()
    if isinstance(x, module):
        _reach_modules(x, tensors, trail, seen, names, path, where, module)
        return
    if isinstance(x, optimizer):
        k = seen.get(id(x))
        if k is not None:
            trail.append(("again", k))
            if names is not None:
                names.append(f"the optimizer `{path}`{where}")
            return
        seen[id(x)] = len(seen)
        trail.append(("opt", id(x)))
        if names is not None:
            names.append(f"the optimizer `{path}`{where}")
        for gi, g in enumerate(x.param_groups):
            trail.append(("group", id(g)))
            if names is not None:
                names.append(f"`{path}.param_groups[{gi}]`{where}")
            for pi, t in enumerate(g["params"]):
                at = f"{path}.param_groups[{gi}]['params'][{pi}]" if names is not None else ""
                trail.append(id(t))
                tensors.setdefault(id(t), t)
                if names is not None:
                    names.append(f"the tensor `{at}`{where}")
                st = x.state.get(id(t))
                if st:
                    for k, v in st.items():
                        if isinstance(v, Tensor):
                            trail.append(id(v))
                            tensors.setdefault(id(v), v)
                            if names is not None:
                                names.append(f"the tensor `{path}.state[id({at})][{k!r}]`{where}")
        return
    if depth <= 0:
        return
    if tx is list or tx is tuple or isinstance(x, (list, tuple)):
        items: Any = enumerate(x)
        mark: Any = -1 - len(x)
    elif tx is dict or isinstance(x, dict):
        items = x.items()
        mark = ("keys", tuple(x))
    elif not callable(x) and not isinstance(x, types.ModuleType) and hasattr(x, "__dict__"):
        items = vars(x).items()
        mark = ("obj", tx, tuple(vars(x)))
    else:
        return
    k = seen.get(id(x))
    if k is not None:
        trail.append(("again", k))
        if names is not None:
            names.append(f"`{path}`{where}")
        return
    seen[id(x)] = len(seen)
    trail.append(mark)
    if names is not None:
        names.append(f"`{path}`{where}")
    attr = mark.__class__ is tuple and mark[0] == "obj"
    for k, v in items:
        tv = type(v)
        if names is None:  # the fast path: leaves inline
            if tv is Tensor:
                trail.append(id(v))
                tensors.setdefault(id(v), v)
            elif tv in _SCALAR_TYPES:
                trail.append((tv, v))
            else:
                _reach(v, depth - 1, tensors, trail, seen)
        else:
            sub = f"{path}.{k}" if attr else f"{path}[{k!r}]"
            _reach(v, depth - 1, tensors, trail, seen, names, sub, where)


def _reach_modules(x: Any, tensors: dict[int, Tensor], trail: list[Any], seen: dict[int, int],
                   names: list[str] | None, path: str, where: str, module: type) -> None:
    """_reach for a module: the whole tree below it, depth first (no recursion)."""
    stack = [(x, path)]
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
        if names is not None:
            names.append(f"the module `{p}`{where}")
        kids = []
        for k, v in m.__dict__.items():
            tv = type(v)
            if tv is Tensor or (tv not in _SCALAR_TYPES and isinstance(v, Tensor)):
                trail.append(id(v))
                tensors.setdefault(id(v), v)
                if names is not None:
                    names.append(f"the tensor `{p}.{k}`{where}")
            elif tv in _SCALAR_TYPES or isinstance(v, _SCALARS):
                trail.append((tv, v))
                if names is not None:
                    what = "the training flag" if k == "training" else "the attribute"
                    names.append(f"{what} `{p}.{k}`{where}")
            elif isinstance(v, module):
                kids.append((v, f"{p}.{k}" if names is not None else p))
        stack.extend(reversed(kids))


# A signature (the key a program is cached under) is a tuple of these parts, so that
# a new one can be compared with the previous one part by part (_what_changed).
_K_SPEC, _K_ARGS, _K_TRAIL, _K_MODES = range(4)

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
        return f"a {item[2]} tensor of shape {item[1]}"
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
            out.append(f"{name}'s dtype changed from {a[2]} to {b[2]}")
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
    if old[_K_SPEC] != new[_K_SPEC]:
        (_, ((_, p0), (_, k0))), (_, ((_, p1), (_, k1))) = old[_K_SPEC], new[_K_SPEC]
        if len(p0) != len(p1):
            out.append(f"the number of positional arguments changed from {len(p0)} to {len(p1)}")
        elif [k for k, _ in k0] != [k for k, _ in k1]:
            out.append(f"the keyword arguments changed from {[k for k, _ in k0]} to {[k for k, _ in k1]}")
        else:
            out.append("the nesting of the arguments (tuples, lists, dicts, their lengths) changed")
    else:
        leaves = _leaf_names(new[_K_SPEC])
        for name, a, b in zip(leaves, old[_K_ARGS], new[_K_ARGS]):
            if a != b:
                out += _arg_changes(name, a, b, leaves)
    (g0, i0), (g1, i1) = old[_K_MODES], new[_K_MODES]
    if g0 != g1:
        out.append(f"grad mode changed from {'enabled' if g0 else 'disabled'} to {'enabled' if g1 else 'disabled'}")
    if i0 != i1:
        out.append(f"inference mode changed from {'on' if i0 else 'off'} to {'on' if i1 else 'off'}")
    if old[_K_TRAIL] != new[_K_TRAIL]:
        out += _trail_changes(old[_K_TRAIL], new[_K_TRAIL], names())
    return out


class _Entry:
    """One signature's state: "warm" (seen once), "ready" (a program), "eager" (cannot record)."""

    def __init__(self, key: Any) -> None:
        self.key = key                    # the signature (see CompiledFunction._signature)
        self.state = "warm"
        self.prog: Any = None
        self.spec: Any = None
        self.kinds: list[Any] = []        # per output leaf: "T" (a tensor), or the Python value returned
        self.updates: list[tuple[Any, Tensor, dict[str, Any], tuple[Any, ...]]] = []
        self.keep: list[Any] = []         # the captured tensors: their ids stay theirs
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
        self.rerecords = 0  # calls that met a new signature after the first (or replaced optimizer state)
        self.last_change: str | None = None  # which guards differed at the latest of those, in words
        functools.update_wrapper(self, fn)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self.__call__, obj)

    # ---- the guard ----
    def _roots(self) -> list[tuple[Any, str, str]]:
        """What the function reaches besides its arguments: (object, name, which root)."""
        fn = self.fn
        roots: list[tuple[Any, str, str]] = []
        if isinstance(fn, types.MethodType):
            roots.append((fn.__self__, "self", ""))
            fn = fn.__func__
        code = getattr(fn, "__code__", None)
        free = code.co_freevars if code else ()
        for name, cell in zip(free, getattr(fn, "__closure__", None) or ()):
            try:
                roots.append((cell.cell_contents, name, " (a closure variable)"))
            except ValueError:  # an empty cell
                pass
        g = getattr(fn, "__globals__", {})
        for name in code.co_names if code else ():
            if name in g:
                roots.append((g[name], name, " (a global)"))
        return roots

    def _signature(self, args: tuple[Any, ...], kwargs: dict[str, Any], names: list[str] | None = None
                   ) -> tuple[Any, list[Tensor], list[Tensor], str | None]:
        """(the signature, the tensor arguments, the captured tensors, why the call cannot be
        recorded or None). With ``names``, the walk also describes each trail entry (slower)."""
        leaves: list[Any] = []
        spec = _flatten((args, kwargs), leaves)
        exprs = _leaf_names(spec, "args", "kwargs") if names is not None else None
        inputs: list[Tensor] = []
        items: list[Any] = []
        first: dict[int, int] = {}  # id -> the first leaf that is this tensor
        tensors: dict[int, Tensor] = {}
        trail: list[Any] = []
        seen: dict[int, int] = {}
        bad = None
        for k, x in enumerate(leaves):
            if isinstance(x, Tensor):
                same = first.setdefault(id(x), k)
                items.append(("T", x.shape, x.dtype, x.requires_grad, -1 if same == k else same))
                inputs.append(x)
            elif isinstance(x, _SCALARS):
                items.append((type(x), x))
            elif _is_module(x) or _is_optimizer(x) or (hasattr(x, "__dict__") and not callable(x)):
                items.append(("obj", id(x)))
                _reach(x, 2, tensors, trail, seen, names, exprs[k] if exprs else "")
            else:
                bad = bad or f"an argument of type {type(x).__name__} (pass tensors, numbers or modules)"
        for r, name, where in self._roots():
            _reach(r, 2, tensors, trail, seen, names, name, where)
        for t in inputs:
            tensors.pop(id(t), None)
        captured = list(tensors.values())
        key = (spec, tuple(items), tuple(trail), (_autograd.is_grad_enabled(), bool(lib.pg_inference_mode())))
        try:
            hash(key)
        except TypeError:
            key, bad = None, bad or "an argument that cannot be compared"
        return key, inputs, captured, bad

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
            if self._last is not None:
                self._new_signature(self._explain(self._last.key, key, args, kwargs))
            if len(self._cache) >= _MAX_PROGRAMS:
                self._cache.pop(next(iter(self._cache)))
                self._warn_once_recompiles()
            entry = self._cache[key] = _Entry(key)
            self._last = entry
            out = self.fn(*args, **kwargs)  # warm-up, eager
            after = self._signature(args, kwargs)[0]
            if after is not None and after != key:  # what the warm-up made (optimizer state) is reachable now:
                del self._cache[key]                # the next call records under the signature it will have
                self._last = self._cache.setdefault(after, entry)
                entry.key = after
            return out
        self._last = entry
        if entry.state == "eager":
            return self.fn(*args, **kwargs)
        if entry.state == "warm":
            return self._record(entry, inputs, captured, args, kwargs)
        out = self._replay(entry, inputs)
        if out is _RERECORD:
            self._new_signature("the optimizer's state tensors were replaced")
            entry.state = "warm"
            return self._record(entry, inputs, captured, args, kwargs)
        return out

    def _new_signature(self, why: str) -> None:
        """A call that records again (its guards differ from the previous call's): counted,
        and the RERECORD_WARN_AFTER-th warns once, naming the guard that changed."""
        self.rerecords += 1
        self.last_change = why
        if self.rerecords == RERECORD_WARN_AFTER:
            warnings.warn(f"pygrad.compile: {getattr(self.fn, '__qualname__', self.fn)} met a new signature "
                          f"{self.rerecords} times since its first call, the latest because {why}. Each new "
                          f"signature runs the function eagerly twice (a warm-up, then the recording) before it "
                          f"replays: keep what the guards compare fixed, or pass values that change as tensors "
                          f"(docs/compile.md, the guards)", CompileWarning, stacklevel=3)

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
