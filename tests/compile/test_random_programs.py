"""pygrad.compile on random programs: a replay is bit-identical to the eager step.

Hypothesis builds a random training step from the op table: a chain of values
of one shape (r, c) through differentiable elementwise ops (unary, with
scalars, binary with another value of the chain, a parameter or an argument,
so values fan out and gradients accumulate), broken now and then by a
reduction broadcast back, a softmax along an axis, a matmul with a square
weight, or a broadcast with a bias vector. The consecutive elementwise ops of
one shape are what the replay fuses into blocked passes (csrc/program.c,
PYGRAD_COMPILE_FUSE), so the sizes are drawn both small and past one block
(8192 bytes per operand), never a multiple of 2048 elements, in float32 and
float64. The step is ``loss = sum(h * dout)`` with a random upstream ``dout``,
then ``backward()`` and one of: the gradients returned (set to None first),
gradients accumulating across calls, or an SGD step with momentum.

The same step runs eagerly, compiled with fusion, and compiled with
PYGRAD_COMPILE_FUSE=0 (read by the C program when a recording ends), each from
its own copy of the same parameters, for several calls with new argument
values; losses, returned gradients, ``.grad`` of the parameters and of the
argument that requires grad, and the parameters are compared with
``np.array_equal`` (NaN equal to NaN): the replay runs the eager kernels, or
their rows, on the same values in the same order.

Inputs of ops with a restricted domain are mapped into it first (sigmoid,
tanh, scaled), with more elementwise ops, so the chains stay chains.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import pygrad as pg
from pygrad import _optable, optim
from pygrad._compile import CompileWarning

CALLS = 6  # per run: the recording (after a warm-up when an optimizer makes state), then replays
EXAMPLES = int(os.environ.get("PYGRAD_COMPILE_EXAMPLES", "100"))
SEED = os.environ.get("PYGRAD_COMPILE_SEED")  # an int: random generation from it (else derandomized)

# ---- the ops: every name is an op-table row ----

# where an op's input is mapped first (h -> a value in the op's domain)
_DOMAIN: dict[str, Callable[[Any], Any]] = {
    "any": lambda h: h,
    "grow": lambda h: h.tanh() * 3.0,                  # exp, sinh ...: bounded inputs
    "positive": lambda h: h.sigmoid() * 1.5 + 0.5,     # in (0.5, 2)
    "unit": lambda h: h.tanh() * 0.9,
    "halfpi": lambda h: h.tanh() * 1.2,
    "away0": lambda h: h,                              # kinks: both runs take the same side
    "nonint": lambda h: h,                             # zero gradients
}
_GROW = {"exp", "exp2", "expm1", "sinh", "cosh", "square"}

# unary: (op-table name, domain, apply(h, u)) with u a uniform draw in [0, 1) for a parameter
UNARY: list[tuple[str, str, Callable[[Any, float], Any]]] = [
    (op.name, "grow" if op.name in _GROW else op.domain, lambda h, u, n=op.name: getattr(h, n)())
    for op in _optable.ELEMENTWISE
] + [
    ("neg", "any", lambda h, u: -h),
    ("add_scalar", "any", lambda h, u: h + (u * 4 - 2)),
    ("mul_scalar", "any", lambda h, u: h * (u * 3 - 1.5)),
    ("div_scalar", "any", lambda h, u: h / (0.25 + u)),
    ("rdiv_scalar", "positive", lambda h, u: (1 + u) / h),
    ("pow_scalar", "positive", lambda h, u: h ** [2, 3, 0.5, 1.5, -1][int(u * 5)]),
    ("rpow_scalar", "grow", lambda h, u: (0.5 + 2 * u) ** h),
    ("sqrt", "positive", lambda h, u: h.sqrt()),
    ("reciprocal", "positive", lambda h, u: h.reciprocal()),
    ("abs", "any", lambda h, u: h.abs()),
    ("sigmoid", "any", lambda h, u: h.sigmoid()),
    ("tanh", "any", lambda h, u: h.tanh()),
    ("relu", "any", lambda h, u: h.relu()),
    ("leaky_relu", "any", lambda h, u: h.leaky_relu(0.01 + 0.3 * u)),
    ("elu", "grow", lambda h, u: h.elu(0.5 + u)),
    ("clamp", "any", lambda h, u: h.clamp(-u, u + 0.1)),
    ("hardtanh", "any", lambda h, u: pg.nn.functional.hardtanh(h, -u, u + 0.1)),
]

# binary, same shape: (name, domain of a, domain of b, apply(a, b))
BINARY: list[tuple[str, str, str, Callable[[Any, Any], Any]]] = [
    ("add", "any", "any", lambda a, b: a + b),
    ("sub", "any", "any", lambda a, b: a - b),
    ("mul", "unit", "unit", lambda a, b: a * b),
    ("div", "any", "positive", lambda a, b: a / b),
    ("pow", "positive", "unit", lambda a, b: a ** b),
    ("maximum", "any", "any", lambda a, b: pg.maximum(a, b)),
    ("minimum", "any", "any", lambda a, b: pg.minimum(a, b)),
    ("atan2", "any", "positive", lambda a, b: pg.atan2(a, b)),
    ("fmod", "any", "positive", lambda a, b: pg.fmod(a, b)),
    ("remainder", "any", "positive", lambda a, b: pg.remainder(a, b)),
]

REDUCE = ["sum", "mean", "max", "min"]
ROWWISE = ["softmax", "log_softmax"]
OTHER = ["matmul", "logsumexp"]
MOVES = ["reshape", "permute", "cast", "where"]  # an elementwise op on a view, transposed, in the other dtype


def test_the_programs_use_op_table_names() -> None:
    names = {n for n, *_ in UNARY} | {n for n, *_ in BINARY} | set(REDUCE) | set(ROWWISE) | set(OTHER) | set(MOVES)
    assert names <= set(_optable.OP_BY_NAME)
    assert {op.name for op in _optable.ELEMENTWISE} <= names


# ---- a program: data (hypothesis shrinks it), applied by _forward and _step_fn ----

@st.composite
def programs(draw: Any) -> dict[str, Any]:
    dtype = draw(st.sampled_from(["float32", "float64"]))
    c = draw(st.integers(1, 24))
    if draw(st.booleans()):  # small
        r = draw(st.integers(1, 12))
    else:  # past one fused block (8192 bytes) per operand, up to ~11 blocks (two threads from ~3 ops)
        es = 4 if dtype == "float32" else 8
        r = draw(st.integers(8192 // (es * c) + 1, 90_000 // (es * c) + 1))
    if r * c % 2048 == 0:
        r += 1
    n = draw(st.integers(1, 14))
    steps: list[tuple[Any, ...]] = []
    pool = 4  # x0, x1, p0, p1; every step's result joins the pool
    for _ in range(n):
        kind = draw(st.sampled_from(["unary"] * 5 + ["binary"] * 4 + ["reduce", "rowwise", "other", "bias", "move"]))
        if kind == "unary":
            steps.append(("unary", draw(st.integers(0, len(UNARY) - 1)), draw(st.floats(0, 0.999))))
        elif kind == "binary":
            steps.append(("binary", draw(st.integers(0, len(BINARY) - 1)), draw(st.integers(0, pool - 1)),
                          draw(st.booleans())))
        elif kind == "reduce":
            steps.append(("reduce", draw(st.sampled_from(REDUCE)), draw(st.sampled_from([0, 1, None])),
                          draw(st.integers(0, pool - 1))))
        elif kind == "rowwise":
            steps.append(("rowwise", draw(st.sampled_from(ROWWISE)), draw(st.sampled_from([0, 1]))))
        elif kind == "other":
            steps.append((draw(st.sampled_from(OTHER)), draw(st.sampled_from([0, 1]))))
        elif kind == "move":
            steps.append((draw(st.sampled_from(MOVES)), draw(st.integers(0, len(UNARY) - 1)),
                          draw(st.integers(0, pool - 1))))
        else:
            steps.append(("bias",))
        pool += 1
    return {"dtype": dtype, "shape": (r, c), "steps": steps,
            "mode": draw(st.sampled_from(["grads", "accumulate", "sgd", "two_losses"])),
            "x0_grad": draw(st.booleans()), "seed": draw(st.integers(0, 2**16))}


def _params(prog: dict[str, Any]) -> list[Any]:
    """Fresh parameters of the program (the same values at each call): p0, p1 (r, c), bias (c,), W (c, c)."""
    r, c = prog["shape"]
    rng = np.random.default_rng(prog["seed"])
    vals = [rng.standard_normal((r, c)), rng.standard_normal((r, c)), rng.standard_normal(c) * 0.5,
            rng.standard_normal((c, c)) / math.sqrt(c)]
    return [pg.tensor(v, dtype=prog["dtype"], requires_grad=True) for v in vals]


def _arguments(prog: dict[str, Any], k: int) -> tuple[Any, ...]:
    """Call k's arguments: x0 (requires grad if the program says so), x1, dout, and a bool mask
    (an argument: a comparison inside the step is not a recorded op)."""
    r, c = prog["shape"]
    rng = np.random.default_rng([prog["seed"], k])
    x0, x1, dout = (pg.tensor(rng.standard_normal((r, c)), dtype=prog["dtype"]) for _ in range(3))
    x0.requires_grad = prog["x0_grad"]
    return x0, x1, dout, pg.tensor(rng.random((r, c)) < 0.5)


def _forward(prog: dict[str, Any], params: list[Any], x0: Any, x1: Any, mask: Any) -> Any:
    p0, p1, bias, w = params
    pool = [x0, x1, p0, p1]
    h = x0 + p0  # a parameter always gets a gradient; the others when the chain uses them
    for step in prog["steps"]:
        kind = step[0]
        if kind == "unary":
            _, dom, fn = UNARY[step[1]]
            h = fn(_DOMAIN[dom](h), step[2])
        elif kind == "binary":
            _, da, db, fn = BINARY[step[1]]
            a, b = (h, pool[step[2]]) if step[3] else (pool[step[2]], h)
            h = fn(_DOMAIN[da](a), _DOMAIN[db](b))
        elif kind == "reduce":
            red = getattr(h, step[1])(axis=step[2], keepdims=True)
            h = pool[step[3]] + red.tanh() if step[2] is not None else h * red.tanh()
        elif kind == "rowwise":
            h = getattr(h, step[1])(axis=step[2])
        elif kind == "matmul":
            h = (h @ w).tanh() if step[1] else h @ w
        elif kind == "logsumexp":
            h = h - h.logsumexp(dim=step[1], keepdim=True)
        elif kind in MOVES:
            _, dom, fn = UNARY[step[1]]
            x = _DOMAIN[dom](h)
            if kind == "reshape":
                h = fn(x.reshape(-1), 0.5).reshape(h.shape)
            elif kind == "permute":
                h = fn(x.T, 0.5).T
            elif kind == "cast":
                other = "float64" if h.dtype == pg.float32 else "float32"
                h = fn(x.astype(other), 0.5).astype(h.dtype) * pool[step[2]]
            else:
                h = pg.where(mask, fn(x, 0.5), pool[step[2]])
        else:
            h = h + bias
        pool.append(h)
    return h


def _step_fn(prog: dict[str, Any], params: list[Any]) -> Callable[..., Any]:
    mode = prog["mode"]
    opt = optim.SGD(params, lr=0.01, momentum=0.9) if mode == "sgd" else None

    def step(x0: Any, x1: Any, dout: Any, mask: Any) -> Any:
        if mode in ("grads", "two_losses"):
            for p in params:
                p.grad = None
        elif mode == "sgd":
            opt.zero_grad()
        h = _forward(prog, params, x0, x1, mask)
        loss = (h * dout).sum()
        if mode == "two_losses":  # two sweeps of one graph add into the same .grads
            loss.backward(retain_graph=True)
            loss = (h * h).mean()
        loss.backward()
        if mode == "sgd":
            opt.step()
        return (loss, [p.grad for p in params]) if mode in ("grads", "two_losses") else loss
    return step


@contextlib.contextmanager
def _fuse(on: bool):
    """PYGRAD_COMPILE_FUSE for the recordings made inside (the C program reads it when one ends)."""
    old = os.environ.get("PYGRAD_COMPILE_FUSE")
    if not on:
        os.environ["PYGRAD_COMPILE_FUSE"] = "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYGRAD_COMPILE_FUSE", None)
        else:
            os.environ["PYGRAD_COMPILE_FUSE"] = old


def _run(prog: dict[str, Any], how: str) -> list[list[np.ndarray | None]]:
    """Every call's results (loss, returned gradients, .grads, parameters), run eagerly or compiled."""
    params = _params(prog)
    step = _step_fn(prog, params)
    fn = step if how == "eager" else pg.compile(step, fullgraph=True)
    out = []
    for k in range(CALLS):
        args = _arguments(prog, k)
        x0 = args[0]
        with _fuse(how != "unfused"):
            res = fn(*args)
        loss, grads = res if prog["mode"] in ("grads", "two_losses") else (res, [])
        vals = [loss.numpy().copy()] + [None if g is None else g.numpy().copy() for g in grads]
        vals += [None if p.grad is None else p.grad.numpy().copy() for p in params]
        vals += [p.numpy().copy() for p in params]
        if prog["x0_grad"]:
            vals.append(x0.grad.numpy().copy())
        out.append(vals)
    if how != "eager":
        _recorded_once(fn)
    return out


def _recorded_once(fn) -> None:
    """Recorded once and replayed the rest; or twice, when the first call's recording read a .grad
    that was None and the call made one (the program then depends on it: pygrad._compile._grads_held)."""
    assert fn.records in (1, 2), "recorded once, replayed the rest"
    assert fn.fast_calls >= CALLS - 4, "the last calls replay"


def _describe(prog: dict[str, Any]) -> str:
    names = []
    for s in prog["steps"]:
        names.append(UNARY[s[1]][0] if s[0] == "unary" else BINARY[s[1]][0] if s[0] == "binary" else
                     f"{s[1]}" if s[0] in ("reduce", "rowwise", "matmul", "logsumexp") else
                     f"{s[0]}({UNARY[s[1]][0]})" if s[0] in MOVES else s[0])
    return f"{prog['dtype']} {prog['shape']} {prog['mode']}: " + " -> ".join(names)


def _seeded(fn: Callable[..., Any]) -> Callable[..., Any]:
    return hypothesis_seed(int(SEED))(fn) if SEED is not None else fn


@_seeded
@settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_a_random_step_replays_bit_identically(prog: dict[str, Any]) -> None:
    r, c = prog["shape"]
    big = r * c * (4 if prog["dtype"] == "float32" else 8) > 8192
    event(f"{prog['dtype']}, {'past one block' if big else 'small'}")
    event(f"mode {prog['mode']}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        eager, fused, unfused = (_run(prog, how) for how in ("eager", "fused", "unfused"))
    for k in range(CALLS):
        assert len(eager[k]) == len(fused[k]) == len(unfused[k])
        for i, (e, f, u) in enumerate(zip(eager[k], fused[k], unfused[k])):
            if e is None or f is None or u is None:  # a parameter the chain does not use has no gradient
                assert e is None and f is None and u is None, f"call {k}, value {i}; " + _describe(prog)
                continue
            assert e.dtype == f.dtype == u.dtype and e.shape == f.shape == u.shape
            assert np.array_equal(e, u, equal_nan=True), f"unfused replay differs: call {k}, value {i}; " \
                + _describe(prog)
            assert np.array_equal(e, f, equal_nan=True), f"fused replay differs: call {k}, value {i}; " \
                + _describe(prog)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_long_elementwise_chain_over_many_blocks(dtype: str) -> None:
    """The fused path's own case: 30 elementwise ops over 1.2 MiB per operand (many blocks, threads, scratch)."""
    steps = [("unary", i % len(UNARY), 0.37) if i % 3 else ("binary", i % len(BINARY), i % 4, bool(i % 2))
             for i in range(30)]
    prog = {"dtype": dtype, "shape": (301, 1021) if dtype == "float32" else (151, 1021), "steps": steps,
            "mode": "accumulate", "x0_grad": True, "seed": 7}
    eager, fused, unfused = (_run(prog, how) for how in ("eager", "fused", "unfused"))
    for k in range(CALLS):
        for e, f, u in zip(eager[k], fused[k], unfused[k]):
            if e is None:
                assert f is None and u is None
                continue
            assert np.array_equal(e, u, equal_nan=True)
            assert np.array_equal(e, f, equal_nan=True)


# ---- programs written scalar by scalar (0-d values, as micrograd's demo) ----
# A step of many one-element values runs on words of the program's arena, its
# micro-ops reordered by dependency level and batched by kind (csrc/program.c):
# values fan out, are read after they are overwritten in place (a .grad
# accumulating), and words are reused, so the order matters.

@st.composite
def scalar_programs(draw: Any) -> dict[str, Any]:
    dtype = draw(st.sampled_from(["float32", "float64"]))
    n_params, n_inputs = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    pool = n_params + n_inputs
    steps: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 40))):
        if draw(st.booleans()):
            steps.append(("unary", draw(st.integers(0, len(UNARY) - 1)), draw(st.integers(0, pool - 1)),
                          draw(st.floats(0, 0.999))))
        else:
            steps.append(("binary", draw(st.integers(0, len(BINARY) - 1)), draw(st.integers(0, pool - 1)),
                          draw(st.integers(0, pool - 1))))
        pool += 1
    return {"dtype": dtype, "n_params": n_params, "n_inputs": n_inputs, "steps": steps,
            "n_loss": draw(st.integers(1, 4)), "mode": draw(st.sampled_from(["grads", "accumulate", "sgd"])),
            "hold": draw(st.booleans()), "seed": draw(st.integers(0, 2**16))}


def _run_scalar(prog: dict[str, Any], how: str) -> list[list[np.ndarray | None]]:
    rng = np.random.default_rng(prog["seed"])
    params = [pg.tensor(v, dtype=prog["dtype"], requires_grad=True) for v in rng.standard_normal(prog["n_params"])]
    opt = optim.SGD(params, lr=0.05, momentum=0.5) if prog["mode"] == "sgd" else None

    def step(xs: Any) -> Any:
        if prog["mode"] == "sgd":
            opt.zero_grad()
        elif prog["mode"] == "grads":
            for p in params:
                p.grad = None
        pool = [*params, *xs]
        for s in prog["steps"]:
            if s[0] == "unary":
                _, dom, fn = UNARY[s[1]]
                pool.append(fn(_DOMAIN[dom](pool[s[2]]), s[3]))
            else:
                _, da, db, fn = BINARY[s[1]]
                pool.append(fn(_DOMAIN[da](pool[s[2]]), _DOMAIN[db](pool[s[3]])))
        loss = sum(pool[-prog["n_loss"]:], 0.01 * sum(p * p for p in params))
        loss.backward()
        if opt is not None:
            opt.step()
        return loss

    fn = step if how == "eager" else pg.compile(step, fullgraph=True)
    out, held = [], []
    for k in range(CALLS):
        r = np.random.default_rng([prog["seed"], k])
        xs = tuple(pg.tensor(v, dtype=prog["dtype"]) for v in r.standard_normal(prog["n_inputs"]))
        with _fuse(how != "unfused"):
            loss = fn(xs)
        if prog["hold"] and prog["mode"] == "accumulate" and not held:  # .grads held by the caller too
            held = [p.grad for p in params]
        vals = [loss.numpy().copy()] + [None if p.grad is None else p.grad.numpy().copy() for p in params]
        out.append(vals + [p.numpy().copy() for p in params])
    if how != "eager":
        _recorded_once(fn)
    return out


@_seeded
@settings(max_examples=EXAMPLES // 2, deadline=None, derandomize=SEED is None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scalar_programs())
def test_a_random_scalar_step_replays_bit_identically(prog: dict[str, Any]) -> None:
    event(f"{prog['dtype']}, mode {prog['mode']}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        eager, fused, unfused = (_run_scalar(prog, how) for how in ("eager", "fused", "unfused"))
    for k in range(CALLS):
        for i, (e, f, u) in enumerate(zip(eager[k], fused[k], unfused[k])):
            if e is None or f is None or u is None:
                assert e is None and f is None and u is None, f"call {k}, value {i}"
                continue
            assert e.dtype == f.dtype == u.dtype and e.shape == f.shape == u.shape == ()
            assert np.array_equal(e, u, equal_nan=True), f"unfused replay differs: call {k}, value {i}; {prog}"
            assert np.array_equal(e, f, equal_nan=True), f"fused replay differs: call {k}, value {i}; {prog}"
