"""batch_norm, layer_norm and group_norm: both engines against a numpy loop written here, against PyTorch
(optional), against finite differences (gradcheck) and twice (gradgradcheck), in float32 and float64; the
running statistics' update; the threaded kernels on sizes that split over the pool; the errors only the C
engine can see."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.gradcheck import gradcheck, gradgradcheck

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="reference")]
TOL = {np.float32: 2e-5, np.float64: 1e-11}


def _np_norm(x: np.ndarray, axes: tuple[int, ...], eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xhat, mean, biased var) over axes, in float64."""
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps), mean, var


def _np_backward(g: np.ndarray, xhat: np.ndarray, var: np.ndarray, axes: tuple[int, ...], eps: float,
                 w: np.ndarray) -> np.ndarray:
    """dx from the formula dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = g w."""
    dxh = g.astype(np.float64) * w
    return (dxh - dxh.mean(axis=axes, keepdims=True)
            - xhat * (dxh * xhat).mean(axis=axes, keepdims=True)) / np.sqrt(var + eps)


def _run(m: Any, fn: Any, arrays: list[np.ndarray], g: np.ndarray) -> list[np.ndarray]:
    ts = [m.tensor(a, requires_grad=True) for a in arrays]
    y = fn(m, *ts)
    (y * m.tensor(g)).sum().backward()
    return [y.numpy()] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 4, 2, 3)])
def test_batch_norm_training_against_the_formula(m: Any, dtype: Any, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(shape[1]).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, shape[1]) + (1,) * (len(shape) - 2)
    xhat, mean, var = _np_norm(x, axes, 1e-5)
    y, dx, dw, db = _run(m, lambda e, a, c, d: e.nn.functional.batch_norm(a, None, None, c, d, True), [x, w, b], g)
    tol = TOL[dtype]
    np.testing.assert_allclose(y, xhat * w.reshape(bshape) + b.reshape(bshape), rtol=tol, atol=tol)
    want = _np_backward(g, xhat, var, axes, 1e-5, w.reshape(bshape).astype(np.float64))
    np.testing.assert_allclose(dx, want, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(dw, (g * xhat).sum(axis=axes), rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(db, g.sum(axis=axes), rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_running_statistics(m: Any, dtype: Any) -> None:
    """r = (1 - momentum) r + momentum s, the variance unbiased (n / (n - 1)); eval then uses r."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 2, 3)).astype(dtype)
    rm, rv = m.tensor(np.array([0.5, -1.0], dtype=dtype)), m.tensor(np.array([2.0, 0.5], dtype=dtype))
    m.nn.functional.batch_norm(m.tensor(x), rm, rv, training=True, momentum=0.25)
    mean = x.astype(np.float64).mean(axis=(0, 2))
    var = x.astype(np.float64).var(axis=(0, 2), ddof=1)
    tol = TOL[dtype] * 10
    np.testing.assert_allclose(rm.numpy(), 0.75 * np.array([0.5, -1.0]) + 0.25 * mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(rv.numpy(), 0.75 * np.array([2.0, 0.5]) + 0.25 * var, rtol=tol, atol=tol)
    y = m.nn.functional.batch_norm(m.tensor(x), rm, rv, eps=1e-3)
    want = (x - rm.numpy().reshape(1, 2, 1)) / np.sqrt(rv.numpy().reshape(1, 2, 1) + 1e-3)
    np.testing.assert_allclose(y.numpy(), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("m", ENGINES)
def test_running_statistics_are_not_recorded_and_the_eval_node_keeps_its_copy(m: Any) -> None:
    """The eval node's backward reads the running statistics it normalised with, even after a training step
    updated them in place."""
    rng = np.random.default_rng(3)
    x = m.tensor(rng.standard_normal((4, 2)), dtype=m.float64, requires_grad=True)
    rm, rv = m.zeros(2, dtype=m.float64), m.tensor([4.0, 9.0], dtype=m.float64)
    y = m.nn.functional.batch_norm(x, rm, rv)  # eval: y = x / sqrt(var + eps)
    m.nn.functional.batch_norm(m.tensor(rng.standard_normal((4, 2)) * 5, dtype=m.float64), rm, rv, training=True)
    assert not rm.requires_grad and not rv.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(1 / np.sqrt(np.array([4.0, 9.0]) + 1e-5), (4, 2)),
                               rtol=1e-12)


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "ns"), [((4, 7), (7,)), ((2, 3, 4, 5), (4, 5)), ((3, 1, 9), (1, 9))])
def test_layer_norm_against_the_formula(m: Any, dtype: Any, shape: tuple[int, ...], ns: tuple[int, ...]) -> None:
    rng = np.random.default_rng(4)
    x, g = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    w, b = rng.standard_normal(ns).astype(dtype), rng.standard_normal(ns).astype(dtype)
    axes = tuple(range(len(shape) - len(ns), len(shape)))
    xhat, _, var = _np_norm(x, axes, 1e-5)
    y, dx, dw, db = _run(m, lambda e, a, c, d: e.nn.functional.layer_norm(a, ns, c, d), [x, w, b], g)
    tol = TOL[dtype] * 10
    lead = tuple(range(len(shape) - len(ns)))
    np.testing.assert_allclose(y, xhat * w + b, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, _np_backward(g, xhat, var, axes, 1e-5, w.astype(np.float64)), rtol=tol, atol=tol)
    np.testing.assert_allclose(dw, (g * xhat).sum(axis=lead), rtol=tol, atol=tol)
    np.testing.assert_allclose(db, g.sum(axis=lead), rtol=tol, atol=tol)


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "groups"), [((2, 6, 5), 3), ((3, 4, 2, 2), 1), ((2, 4, 3, 2), 4)])
def test_group_norm_against_the_formula(m: Any, dtype: Any, shape: tuple[int, ...], groups: int) -> None:
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    c = shape[1]
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    grouped = (shape[0], groups, -1)
    xhat, _, var = _np_norm(x.reshape(grouped), (2,), 1e-5)
    bshape = (1, c) + (1,) * (len(shape) - 2)
    y, dx, dw, db = _run(m, lambda e, a, p, q: e.nn.functional.group_norm(a, groups, p, q), [x, w, b], g)
    tol = TOL[dtype] * 10
    xh = xhat.reshape(shape)
    np.testing.assert_allclose(y, xh * w.reshape(bshape) + b.reshape(bshape), rtol=tol, atol=tol)
    wb = np.broadcast_to(w.reshape(bshape), shape).astype(np.float64).reshape(grouped)
    want = _np_backward(g.reshape(grouped), xhat, var, (2,), 1e-5, wb).reshape(shape)
    np.testing.assert_allclose(dx, want, rtol=tol, atol=tol)
    axes = (0,) + tuple(range(2, len(shape)))
    np.testing.assert_allclose(dw, (g * xh).sum(axis=axes), rtol=tol, atol=tol)
    np.testing.assert_allclose(db, g.sum(axis=axes), rtol=tol, atol=tol)


def _cases(m: Any) -> dict[str, tuple[Any, list[np.ndarray]]]:
    rng = np.random.default_rng(6)
    F = m.nn.functional  # noqa: N806
    run = (m.tensor([0.3, -0.2, 0.1], dtype=m.float64), m.tensor([0.5, 1.5, 2.0], dtype=m.float64))
    x = rng.standard_normal((3, 3, 4))
    w3, b3 = rng.standard_normal(3), rng.standard_normal(3)
    w4, b4 = rng.standard_normal(4), rng.standard_normal(4)
    x6 = rng.standard_normal((2, 6, 2))
    w6, b6 = rng.standard_normal(6), rng.standard_normal(6)
    return {
        "batch_norm-train": (lambda a, c, d: F.batch_norm(a, None, None, c, d, True), [x, w3, b3]),
        "batch_norm-eval": (lambda a, c, d: F.batch_norm(a, *run, c, d), [x, w3, b3]),
        "layer_norm": (lambda a, c, d: F.layer_norm(a, (4,), c, d), [x, w4, b4]),
        "layer_norm-plain": (lambda a: F.layer_norm(a, (3, 4)), [x]),
        "group_norm": (lambda a, c, d: F.group_norm(a, 3, c, d), [x6, w6, b6]),
    }


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("name", list(_cases(ref)))
def test_gradcheck_and_gradgradcheck_in_float64(m: Any, name: str) -> None:
    fn, arrays = _cases(m)[name]
    ts = [m.tensor(a, dtype=m.float64, requires_grad=True) for a in arrays]
    v = m.tensor(np.random.default_rng(7).standard_normal(fn(*ts).shape), dtype=m.float64)

    def f(*xs: Any) -> Any:
        return (fn(*xs) * v).sum()

    assert gradcheck(f, ts)
    assert gradgradcheck(f, ts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["batch", "layer", "group"])
def test_large_sizes_split_over_threads_match_the_reference(dtype: Any, kind: str) -> None:
    """Sizes above the kernels' per-thread grain: the pooled kernels (and the summed per-thread partials of
    dw, db) agree with the reference engine."""
    rng = np.random.default_rng(8)
    shape = (8, 6, 40, 37) if kind != "layer" else (300, 513)
    x, g = rng.standard_normal(shape).astype(dtype) * 3 + 1, rng.standard_normal(shape).astype(dtype)
    c = shape[1] if kind != "layer" else shape[-1]
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)

    def fn(e: Any, a: Any, p: Any, q: Any) -> Any:
        F = e.nn.functional  # noqa: N806
        if kind == "batch":
            return F.batch_norm(a, None, None, p, q, True)
        if kind == "layer":
            return F.layer_norm(a, (c,), p, q)
        return F.group_norm(a, 3, p, q)

    threads = pygrad.get_num_threads()
    try:
        pygrad.set_num_threads(2)
        got = _run(pygrad, fn, [x, w, b], g)
    finally:
        pygrad.set_num_threads(threads)
    want = _run(ref, fn, [x, w, b], g)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    for a, r in zip(got, want):
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol * max(1.0, float(np.abs(r).max())))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["batch", "batch-eval", "batch-1d", "batch-1d-eval", "layer", "group"])
def test_results_do_not_depend_on_the_number_of_threads(dtype: Any, kind: str) -> None:
    """y, dx, dw and db are bit-identical on 1 and 2 threads (dw, db sum over chunks of statistics fixed by
    the shape, never by the thread count), at a size whose results the kernels store with streaming stores
    (8 MiB and more) and with rows that start off the vectors' alignment; and they match the reference.
    batch_norm takes its input in the order of memory here (segments shorter than 64 KiB), a channel's
    range of each row on each thread; the 1-d cases ((N, C): segments of one element) have a loop of
    their own."""
    rng = np.random.default_rng(10)
    big = 4_300_000 * 4 // np.dtype(dtype).itemsize  # elements: 16.4 MB
    if kind == "layer":
        shape: tuple[int, ...] = (big // 1027, 1027)
    elif kind.startswith("batch-1d"):
        shape = (big // 517, 517)
    else:
        shape = (big // (6 * 509), 6, 509)
    kind = kind.replace("-1d", "")
    x, g = rng.standard_normal(shape).astype(dtype) * 3 + 1, rng.standard_normal(shape).astype(dtype)
    c = shape[1] if kind != "layer" else shape[-1]
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    rm, rv = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2.0, c).astype(dtype)

    def fn(e: Any, a: Any, p: Any, q: Any) -> Any:
        F = e.nn.functional  # noqa: N806
        if kind == "batch":
            return F.batch_norm(a, None, None, p, q, True)
        if kind == "batch-eval":
            return F.batch_norm(a, e.tensor(rm), e.tensor(rv), p, q, False)
        if kind == "layer":
            return F.layer_norm(a, (c,), p, q)
        return F.group_norm(a, 3, p, q)

    threads = pygrad.get_num_threads()
    runs = []
    try:
        for n in (1, 2):
            pygrad.set_num_threads(n)
            runs.append(_run(pygrad, fn, [x, w, b], g))
    finally:
        pygrad.set_num_threads(threads)
    for a, b2 in zip(*runs):
        np.testing.assert_array_equal(a, b2)
    want = _run(ref, fn, [x, w, b], g)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    for a, r in zip(runs[0], want):
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol * max(1.0, float(np.abs(r).max())))


def test_c_engine_checks_what_the_functional_would() -> None:
    """The C entry points check their arguments themselves (called past the functional's checks)."""
    x = pygrad.ones(2, 3, 4)
    with pytest.raises(ValueError, match=r"batch_norm: weight of shape \(4,\), expected \(3,\)"):
        x._batch_norm(None, None, pygrad.ones(4), None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="batch_norm: expected more than 1 value per channel"):
        pygrad.ones(1, 3)._batch_norm(None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(TypeError, match="batch_norm: running_var of dtype float64"):
        x._batch_norm(pygrad.zeros(3), pygrad.ones(3, dtype=pygrad.float64), None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(3,\) does not match"):
        x._layer_norm((3,), None, None, 1e-5)
    with pytest.raises(ValueError, match="group_norm: expected the number of channels"):
        x._group_norm(2, None, None, 1e-5)


@pytest.mark.parametrize("m", ENGINES)
def test_functional_argument_types_are_checked(m: Any) -> None:
    F = m.nn.functional
    x = m.ones(2, 4, 3)
    for bad in ("a", 2.5, [3, "b"], True):
        with pytest.raises(TypeError, match="layer_norm: normalized_shape must be an int or a sequence of ints"):
            F.layer_norm(x, bad)
    for bad in (2.5, "2", True, None):
        with pytest.raises(TypeError, match="group_norm: num_groups must be an int"):
            F.group_norm(x, bad)
    np.testing.assert_allclose(F.group_norm(x, np.int64(2)).numpy(), F.group_norm(x, 2).numpy())


@pytest.mark.parametrize("m", ENGINES)
def test_nan_propagates_and_empty_batches_give_empty_results(m: Any) -> None:
    F = m.nn.functional  # noqa: N806
    x = m.tensor([[1.0, float("nan")], [2.0, 3.0]])
    y = F.batch_norm(x, None, None, training=True).numpy()
    assert np.isnan(y[:, 1]).all() and np.isfinite(y[:, 0]).all()
    assert F.layer_norm(m.zeros(0, 4), (4,)).shape == (0, 4)
    assert F.group_norm(m.zeros(0, 4, 2), 2).shape == (0, 4, 2)
    e = m.zeros(0, 3, requires_grad=True)
    F.layer_norm(e, (3,)).sum().backward()
    assert e.grad.shape == (0, 3)


# ---- PyTorch, when installed ----


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["batch-train", "batch-eval", "layer", "group"])
def test_values_and_gradients_match_pytorch(dtype: Any, kind: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    shape = (4, 6, 5, 3)
    x, g = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    c = 6 if kind != "layer" else 3
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    rm, rv = rng.standard_normal(6).astype(dtype), rng.uniform(0.5, 2.0, 6).astype(dtype)
    outs = []
    for lib in (pygrad, torch):
        X, W, B = (lib.tensor(a, requires_grad=True) for a in (x, w, b))  # noqa: N806
        RM, RV = lib.tensor(rm.copy()), lib.tensor(rv.copy())  # noqa: N806
        F = pygrad.nn.functional if lib is pygrad else torch.nn.functional  # noqa: N806
        if kind.startswith("batch"):
            y = F.batch_norm(X, RM, RV, W, B, kind == "batch-train", 0.2, 1e-4)
        elif kind == "layer":
            y = F.layer_norm(X, (3,), W, B, 1e-4)
        else:
            y = F.group_norm(X, 2, W, B, 1e-4)
        (y * lib.tensor(g)).sum().backward()
        outs.append([np.asarray(t.detach().numpy()) for t in (y, X.grad, W.grad, B.grad, RM, RV)])
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for a, t in zip(*outs):
        np.testing.assert_allclose(a, t, rtol=tol, atol=tol)
