"""Check the C engine against the reference engine from your own code.

``assert_parity(fn, *inputs)`` runs ``fn`` on both engines with the same
inputs and compares outputs and the gradients of every input::

    import numpy as np
    from pygrad.testing import assert_parity

    def f(x, w):
        return (x @ w).tanh().sum(axis=0)

    assert_parity(f, np.random.randn(4, 3), np.random.randn(3, 2))

``fn`` receives Tensors of one engine and must use their methods and
operators; if it takes a parameter named ``engine``, it also receives the
engine module (``pygrad`` or ``pygrad.reference``) to call functions such as
``engine.maximum`` or build layers. :func:`engines` lists both engines so a
test suite can be parametrised over them.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from pygrad import _engines
from pygrad.errors import PygradTypeError

# default tolerances by dtype: (rtol, atol relative to the largest reference magnitude)
TOLERANCES: dict[str, tuple[float, float]] = {"float32": (2e-5, 2e-5), "float64": (1e-10, 1e-10)}


def engines() -> list[Any]:
    """The two engine modules: the C engine (``pygrad._c``, what ``import pygrad`` serves by
    default) and ``pygrad.reference``. Each has the same names (``tensor``, ``nn``, ``optim`` ...)."""
    return [_engines.resolve("c"), _engines.resolve("reference")]


def engine_name(m: Any) -> str:
    """``"c"`` or ``"reference"`` for an engine module (or the ``pygrad`` package)."""
    return "reference" if _engines.resolve(m).__name__ == _engines.REFERENCE else "c"


@contextmanager
def both_engines() -> Iterator[list[Any]]:
    """``with both_engines() as (c, ref): ...`` — a readable way to run a block on each."""
    yield engines()


@dataclass
class _Input:
    array: np.ndarray | None  # None: a non-numeric argument passed through unchanged
    value: Any
    requires_grad: bool


def _normalise(x: Any) -> _Input:
    if _engines.is_tensor(x):
        return _Input(np.array(x.numpy(), copy=True), x, x.dtype != np.bool_)
    if isinstance(x, np.ndarray):
        return _Input(np.array(x, copy=True), x, x.dtype.kind == "f")
    if isinstance(x, (numbers.Real, np.generic)) and not isinstance(x, bool):
        return _Input(np.array(float(x)), x, True)
    return _Input(None, x, False)


def _to_engine(m: Any, inp: _Input, grad: bool) -> Any:
    if inp.array is None:
        return inp.value
    a = inp.array
    dtype = a.dtype if a.dtype in (np.float32, np.float64, np.bool_) else np.float64
    t = m.tensor(a, dtype=dtype)
    if grad and inp.requires_grad and t.dtype != np.bool_:
        t.requires_grad = True
    return t


def _outputs(out: Any) -> list[Any]:
    if isinstance(out, (list, tuple)):
        return [o for o in out]
    return [out]


def _as_array(o: Any) -> np.ndarray:
    if hasattr(o, "numpy"):
        return np.asarray(o.numpy())
    return np.asarray(o)


def _compare(what: str, c: np.ndarray, r: np.ndarray, rtol: float | None, atol: float | None) -> str | None:
    """None when c matches r, else a message naming the worst element."""
    if c.shape != r.shape:
        return f"{what}: shape {c.shape} on the C engine, {r.shape} on the reference"
    if c.dtype != r.dtype:
        return f"{what}: dtype {c.dtype} on the C engine, {r.dtype} on the reference"
    if c.dtype == np.bool_:
        bad = np.argwhere(c != r)
        if bad.size:
            idx = tuple(int(i) for i in bad[0])
            return f"{what}: bool values differ at {idx}: C={c[idx].item()}, reference={r[idx].item()}"
        return None
    d_rtol, d_atol = TOLERANCES.get(str(c.dtype), TOLERANCES["float64"])
    rtol = d_rtol if rtol is None else rtol
    finite = np.isfinite(r)
    scale = float(np.max(np.abs(r[finite]), initial=1.0)) if finite.any() else 1.0
    atol = d_atol * scale if atol is None else atol
    both_nan = np.isnan(c) & np.isnan(r)
    err = np.where(both_nan, 0.0, np.abs(c.astype(np.float64) - r.astype(np.float64)))
    err = np.where(np.isinf(r) & (c == r), 0.0, err)
    allowed = atol + rtol * np.abs(r.astype(np.float64))
    excess = err - allowed
    if c.size == 0 or not (np.any(excess > 0) or np.any(np.isnan(err))):
        return None
    flat = int(np.nanargmax(np.where(np.isnan(err), np.inf, excess)))
    idx = np.unravel_index(flat, c.shape) if c.shape else ()
    idx = tuple(int(i) for i in idx)
    return (f"{what}: worst element {idx}: C={c[idx].item()!r}, reference={r[idx].item()!r}, |diff|={err[idx]:.3g} "
            f"> tolerance {allowed[idx]:.3g} (rtol={rtol:g}, atol={atol:.3g})")


def _call(fn: Callable, m: Any, args: Sequence[Any]) -> Any:
    try:
        takes_engine = "engine" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        takes_engine = False
    return fn(*args, engine=m) if takes_engine else fn(*args)


def run_on(m: Any, fn: Callable, inputs: Sequence[Any], grad: bool = True, seed: int = 0) -> dict[str, Any]:
    """Run ``fn`` on engine ``m``: its outputs and, when ``grad``, the gradients of the
    inputs that require grad after a backward from a seeded random upstream gradient."""
    norm = [_normalise(x) for x in inputs]
    args = [_to_engine(m, i, grad) for i in norm]
    outs = _outputs(_call(fn, m, args))
    result: dict[str, Any] = {"outputs": [_as_array(o).copy() for o in outs], "grads": []}
    if not grad:
        return result
    rng = np.random.default_rng(seed)
    loss = None
    for o in outs:
        if hasattr(o, "requires_grad") and o.requires_grad:
            dout = m.tensor(rng.standard_normal(o.shape), dtype=o.dtype)
            term = (o * dout).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    for a in args:
        g = getattr(a, "grad", None) if hasattr(a, "requires_grad") and a.requires_grad else None
        result["grads"].append(None if g is None else np.array(g.numpy(), copy=True))
    return result


def assert_parity(fn: Callable, *inputs: Any, rtol: float | None = None, atol: float | None = None,
                  grad: bool = True, seed: int = 0) -> None:
    """Run ``fn`` on the C engine and on the reference, and compare.

    ``inputs`` are numpy arrays, Python numbers or Tensors (of either engine);
    each becomes a fresh Tensor of each engine (float inputs require grad when
    ``grad``). Outputs (a Tensor or a tuple/list of Tensors) must agree, and so
    must every input's gradient after a backward from a random upstream
    gradient (seeded by ``seed``). Tolerances default from the dtype
    (:data:`TOLERANCES`; atol is scaled by the largest reference magnitude).
    Raises AssertionError saying which output or gradient differed, where, the
    two values and the tolerance.
    """
    if not callable(fn):
        raise PygradTypeError(f"assert_parity: fn must be callable, got {type(fn).__name__}")
    c, r = engines()
    rc = run_on(c, fn, inputs, grad, seed)
    rr = run_on(r, fn, inputs, grad, seed)
    problems = []
    if len(rc["outputs"]) != len(rr["outputs"]):
        problems.append(f"{len(rc['outputs'])} outputs on the C engine, {len(rr['outputs'])} on the reference")
    for k, (a, b) in enumerate(zip(rc["outputs"], rr["outputs"])):
        msg = _compare(f"output {k}", a, b, rtol, atol)
        if msg:
            problems.append(msg)
    for k, (a, b) in enumerate(zip(rc["grads"], rr["grads"])):
        if (a is None) != (b is None):
            problems.append(f"gradient of input {k}: missing on the {'C engine' if a is None else 'reference'}")
        elif a is not None:
            msg = _compare(f"gradient of input {k}", a, b, rtol, atol)
            if msg:
                problems.append(msg)
    if problems:
        name = getattr(fn, "__name__", repr(fn))
        raise AssertionError(f"parity failure in {name}:\n  " + "\n  ".join(problems))


def _model_run(m: Any, make_model: Callable, state: Any, inputs: Sequence[Any], loss_fn: Callable | None,
               make_optimizer: Callable | None, steps: int, seed: int) -> dict[str, Any]:
    model = _call(make_model, m, [])
    if state is not None:
        model.load_state_dict(state)
    xs = [_to_engine(m, _normalise(x), False) for x in inputs]
    opt = _call(make_optimizer, m, [list(model.parameters())]) if make_optimizer is not None else None

    def loss_of(out: Any) -> Any:
        if loss_fn is not None:
            return _call(loss_fn, m, [out])
        dout = m.tensor(np.random.default_rng(seed).standard_normal(out.shape), dtype=out.dtype)
        return (out * dout).sum()

    out = model(*xs)
    first = {"output": _as_array(out).copy()}
    loss_of(out).backward()
    first["grads"] = {n: (None if p.grad is None else np.array(p.grad.numpy(), copy=True))
                      for n, p in model.named_parameters()}
    for _ in range(steps):
        if opt is None:
            raise PygradTypeError("assert_model_parity: steps > 0 needs make_optimizer")
        opt.step()
        opt.zero_grad()
        loss_of(model(*xs)).backward()
    first["params"] = {n: np.array(p.numpy(), copy=True) for n, p in model.named_parameters()}
    first["state"] = model.state_dict()
    return first


def assert_model_parity(make_model: Callable, *inputs: Any, loss_fn: Callable | None = None,
                        make_optimizer: Callable | None = None, steps: int = 0,
                        rtol: float | None = None, atol: float | None = None, seed: int = 0) -> None:
    """Build a model on each engine from the same state_dict and compare them.

    ``make_model(engine)`` returns a :class:`pygrad.nn.Module` on that engine
    (e.g. ``lambda engine: engine.nn.MLP([4, 8, 3])``); the reference model is
    loaded with the C model's ``state_dict()``. Compared: the output on
    ``inputs``, every parameter's gradient (by name) after a backward of
    ``loss_fn(output)`` (default: a seeded random projection of the output),
    and, with ``make_optimizer(params, engine)`` and ``steps``, the parameters
    after that many optimizer steps.
    """
    c, r = engines()
    state = _call(make_model, c, []).state_dict()
    rc = _model_run(c, make_model, state, inputs, loss_fn, make_optimizer, steps, seed)
    rr = _model_run(r, make_model, state, inputs, loss_fn, make_optimizer, steps, seed)
    problems = []
    msg = _compare("output", rc["output"], rr["output"], rtol, atol)
    if msg:
        problems.append(msg)
    for kind in ("grads", "params"):
        if set(rc[kind]) != set(rr[kind]):
            problems.append(f"{kind}: parameter names differ: {sorted(rc[kind])} vs {sorted(rr[kind])}")
            continue
        for name in rc[kind]:
            a, b = rc[kind][name], rr[kind][name]
            if (a is None) != (b is None):
                problems.append(f"gradient of {name}: missing on the {'C engine' if a is None else 'reference'}")
            elif a is not None:
                what = f"gradient of {name}" if kind == "grads" else f"{name} after {steps} step(s)"
                msg = _compare(what, a, b, rtol, atol)
                if msg:
                    problems.append(msg)
    if problems:
        raise AssertionError("model parity failure:\n  " + "\n  ".join(problems))


__all__ = ["TOLERANCES", "assert_model_parity", "assert_parity", "both_engines", "engine_name", "engines", "run_on"]
