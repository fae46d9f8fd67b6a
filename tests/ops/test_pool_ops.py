"""The pooling ops (max_pool2d, avg_pool2d, adaptive_avg_pool2d, avg_pool2d_input_grad) and interpolate on
both engines: against PyTorch over a grid of kernel, stride, padding, dilation and ceil_mode (values,
indices, gradients with a random upstream), NaN and ties, float64 gradcheck and gradgradcheck, the
modules, one thread against two, hand-worked values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.gradcheck import gradcheck, gradgradcheck

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]
DTYPES = [("float64", 1e-12), ("float32", 2e-5)]


def _grid(dilations=(1, 2)):
    out = []
    for k, s, d, ceil in itertools.product((1, 2, 3, (3, 2)), (None, 1, 2, (2, 1)), dilations, (False, True)):
        kk = k if isinstance(k, tuple) else (k, k)
        for p in sorted({0, kk[0] // 2, (kk[0] // 2, kk[1] // 2)}, key=str):
            out.append((k, s, p, d, ceil))
    return out


MAX_GRID = _grid()
AVG_GRID = [g for g in _grid((1,)) if g[3] == 1]


def _ids(grid):
    return [f"k{k}-s{s}-p{p}-d{d}-{'ceil' if c else 'floor'}".replace(" ", "") for k, s, p, d, c in grid]


@pytest.mark.parametrize("case", MAX_GRID, ids=_ids(MAX_GRID))
def test_max_pool2d_against_pytorch(case) -> None:
    torch = pytest.importorskip("torch")
    k, s, p, d, ceil = case
    rng = np.random.default_rng(abs(hash(str(case))) % 2**32)
    x = np.round(rng.standard_normal((2, 3, 7, 6)), 1)  # rounded: ties in most windows
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = torch.nn.functional.max_pool2d(tx, k, s, p, d, ceil, return_indices=True)
    v = rng.standard_normal(tuple(ty.shape))
    (ty * torch.tensor(v)).sum().backward()
    for engine in (pygrad, ref):
        for dtype, tol in DTYPES:
            X = engine.tensor(x, dtype=dtype, requires_grad=True)
            y, i = engine.nn.functional.max_pool2d(X, k, s, p, d, ceil, return_indices=True)
            (y * engine.tensor(v, dtype=dtype)).sum().backward()
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
            np.testing.assert_array_equal(i.numpy(), ti.numpy())
            assert i.dtype == engine.int64 and y.dtype == X.dtype
            np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("case", AVG_GRID, ids=_ids(AVG_GRID))
def test_avg_pool2d_against_pytorch(case) -> None:
    torch = pytest.importorskip("torch")
    k, s, p, _, ceil = case
    rng = np.random.default_rng(abs(hash(str(case))) % 2**32)
    x = rng.standard_normal((2, 2, 7, 6))
    for cip, div in ((True, None), (False, None), (True, 3)):
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.nn.functional.avg_pool2d(tx, k, s, p, ceil, cip, div)
        v = rng.standard_normal(tuple(ty.shape))
        (ty * torch.tensor(v)).sum().backward()
        for engine in (pygrad, ref):
            for dtype, tol in DTYPES:
                X = engine.tensor(x, dtype=dtype, requires_grad=True)
                y = engine.nn.functional.avg_pool2d(X, k, s, p, ceil, cip, div)
                (y * engine.tensor(v, dtype=dtype)).sum().backward()
                np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
                np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


ADAPTIVE = [((2, 3, 7, 5), 1), ((1, 2, 7, 5), (3, 2)), ((1, 2, 5, 5), (5, 5)), ((2, 1, 4, 6), (7, 4)),
            ((1, 2, 9, 9), (None, 4)), ((3, 6, 5), (2, 3))]


@pytest.mark.parametrize("shape,out", ADAPTIVE, ids=[str(i) for i in range(len(ADAPTIVE))])
def test_adaptive_avg_pool2d_against_pytorch(shape, out) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.adaptive_avg_pool2d(tx, out)
    v = rng.standard_normal(tuple(ty.shape))
    (ty * torch.tensor(v)).sum().backward()
    for engine in (pygrad, ref):
        for dtype, tol in DTYPES:
            X = engine.tensor(x, dtype=dtype, requires_grad=True)
            y = engine.nn.functional.adaptive_avg_pool2d(X, out)
            (y * engine.tensor(v, dtype=dtype)).sum().backward()
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
            np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)
            m = engine.nn.AdaptiveAvgPool2d(out)
            np.testing.assert_allclose(m(X).numpy(), ty.detach().numpy(), rtol=tol, atol=tol)


INTERP = [
    ((1, 2, 3, 4), dict(size=(5, 7), mode="nearest")),
    ((1, 2, 5, 4), dict(scale_factor=2, mode="nearest")),
    ((1, 2, 5, 7), dict(scale_factor=(0.5, 1.7), mode="nearest")),
    ((1, 2, 5, 7), dict(scale_factor=1.3, mode="nearest", recompute_scale_factor=True)),
    ((2, 3, 6), dict(size=11, mode="nearest")),
    ((2, 3, 6), dict(scale_factor=2.5, mode="linear")),
    ((2, 3, 6), dict(size=4, mode="linear", align_corners=True)),
    ((1, 2, 3, 4), dict(size=(5, 7), mode="bilinear")),
    ((1, 2, 3, 4), dict(size=(5, 7), mode="bilinear", align_corners=True)),
    ((2, 1, 6, 5), dict(scale_factor=0.5, mode="bilinear")),
    ((2, 1, 6, 5), dict(scale_factor=(1.5, 2.3), mode="bilinear")),
    ((2, 1, 6, 5), dict(scale_factor=(1.5, 2.3), mode="bilinear", recompute_scale_factor=True)),
    ((1, 1, 4, 4), dict(size=(1, 1), mode="bilinear", align_corners=True)),
    ((1, 1, 1, 3), dict(size=(4, 6), mode="bilinear", align_corners=False)),
]


@pytest.mark.parametrize("shape,kw", INTERP, ids=[str(i) for i in range(len(INTERP))])
def test_interpolate_against_pytorch(shape, kw) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.interpolate(tx, **kw)
    v = rng.standard_normal(tuple(ty.shape))
    (ty * torch.tensor(v)).sum().backward()
    for engine in (pygrad, ref):
        for dtype, tol in DTYPES:
            X = engine.tensor(x, dtype=dtype, requires_grad=True)
            y = engine.nn.functional.interpolate(X, **kw)
            (y * engine.tensor(v, dtype=dtype)).sum().backward()
            assert y.dtype == X.dtype
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
            np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)
            up = engine.nn.Upsample(**kw)
            np.testing.assert_allclose(up(X).numpy(), ty.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("engine", ENGINES)
def test_nan_propagates_and_ties_go_to_the_first(engine) -> None:
    nan = float("nan")
    x = engine.tensor([[[[1.0, nan, 2.0, 2.0], [nan, 0.0, 1.0, 2.0]]]], dtype="float64", requires_grad=True)
    y, i = engine.nn.functional.max_pool2d(x, 2, return_indices=True)
    assert np.isnan(y.numpy()[0, 0, 0, 0]) and y.numpy()[0, 0, 0, 1] == 2.0
    # PyTorch's rule: a NaN replaces the maximum so far, so the last NaN of a window is its index
    np.testing.assert_array_equal(i.numpy(), [[[[4, 2]]]])
    (y * engine.tensor([[[[3.0, 5.0]]]], dtype="float64")).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0, 0, 5, 0], [3, 0, 0, 0]]]])
    # the average of a window holding a NaN is NaN, the others are not touched
    a = engine.nn.functional.avg_pool2d(x.detach(), 2).numpy()
    assert np.isnan(a[0, 0, 0, 0]) and a[0, 0, 0, 1] == 1.75
    # -inf everywhere: the first element is the maximum
    z = engine.tensor(np.full((1, 1, 2, 2), -np.inf))
    np.testing.assert_array_equal(engine.nn.functional.max_pool2d(z, 2, return_indices=True)[1].numpy(),
                                  [[[[0]]]])


@pytest.mark.parametrize("engine", ENGINES)
def test_hand_worked_values(engine) -> None:
    """x = 0..15 as 4 x 4: the numbers worked on paper."""
    F = engine.nn.functional
    x = engine.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    np.testing.assert_array_equal(F.max_pool2d(x, 2).numpy().ravel(), [5, 7, 13, 15])
    # 3x3 windows, padding 1, stride 2: rows/cols [-1, 2) and [1, 4): sums 0+1+4+5, 1+2+3+5+6+7,
    # 4+5+8+9+12+13, 5+6+7+9+10+11+13+14+15 over 9 (the pad counted) or over the elements inside
    np.testing.assert_allclose(F.avg_pool2d(x, 3, 2, 1).numpy().ravel(), [10 / 9, 24 / 9, 51 / 9, 90 / 9])
    np.testing.assert_allclose(F.avg_pool2d(x, 3, 2, 1, count_include_pad=False).numpy().ravel(),
                               [10 / 4, 24 / 6, 51 / 6, 90 / 9])
    # adaptive 4 -> 3: rows [0, 2), [1, 3), [2, 4)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 3).numpy().ravel(),
                               [2.5, 3.5, 4.5, 6.5, 7.5, 8.5, 10.5, 11.5, 12.5])
    # bilinear 1x2 -> 1x4, half-pixel centres: src = (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 (clamped)
    r = engine.tensor([[[[1.0, 3.0]]]])
    np.testing.assert_allclose(F.interpolate(r, size=(1, 4), mode="bilinear").numpy().ravel(), [1, 1.5, 2.5, 3])
    np.testing.assert_allclose(F.interpolate(r, size=(1, 4), mode="bilinear", align_corners=True).numpy().ravel(),
                               [1, 1 + 2 / 3, 1 + 4 / 3, 3])
    np.testing.assert_array_equal(F.interpolate(r, scale_factor=(1, 2)).numpy().ravel(), [1, 1, 3, 3])


@pytest.mark.parametrize("engine", ENGINES)
def test_gradcheck_and_gradgradcheck(engine) -> None:
    rng = np.random.default_rng(4)
    F = engine.nn.functional
    # distinct values spaced well beyond the finite-difference step: no window changes its maximum
    x = engine.tensor(rng.permutation(2 * 49).reshape(1, 2, 7, 7) * 0.1, dtype="float64", requires_grad=True)
    fns = [
        lambda a: F.max_pool2d(a, 3, 2, 1, 2, True),
        lambda a: F.max_pool2d(a * a, (2, 3), 1, (1, 0)),
        lambda a: F.avg_pool2d(a, 3, 2, 1, True, False),
        lambda a: F.avg_pool2d(a * a, 2, 1, divisor_override=3),
        lambda a: F.adaptive_avg_pool2d(a, (3, 5)),
        lambda a: F.adaptive_avg_pool2d(a * a, (None, 2)),
        lambda a: F.interpolate(a * a, (5, 9), mode="bilinear"),
        lambda a: F.interpolate(a, scale_factor=1.5),
        lambda a: a._avg_pool2d_input_grad((7, 8), (3, 2), (1, 1), (1, 0), False, True, 0),
        lambda a: (a * a)._adaptive_avg_pool2d_input_grad((9, 11)),
    ]
    for f in fns:
        v = engine.tensor(rng.standard_normal(tuple(f(x).shape)))
        g = lambda a, f=f, v=v: (f(a) * v).sum()  # noqa: E731
        assert gradcheck(g, (x,))
        assert gradgradcheck(g, (x,))


@pytest.mark.parametrize("engine", ENGINES)
def test_max_pool_double_backward_is_the_gather_of_the_upstream(engine) -> None:
    """dx = scatter(g at the argmax): d(Σ dx·u)/dg = u gathered at the argmax."""
    rng = np.random.default_rng(9)
    x = engine.tensor(rng.permutation(36).reshape(1, 1, 6, 6) * 1.0, dtype="float64")
    g = engine.tensor(rng.standard_normal((1, 1, 3, 3)), requires_grad=True)
    u = rng.standard_normal((1, 1, 6, 6))
    xx = x.detach().requires_grad_()
    y, idx = engine.nn.functional.max_pool2d(xx, 2, return_indices=True)
    (dx,) = pygrad.autograd.grad(y, xx, g, create_graph=True)
    (dx * engine.tensor(u)).sum().backward()
    want = np.take_along_axis(u.reshape(1, 1, -1), idx.numpy().reshape(1, 1, -1), 2).reshape(1, 1, 3, 3)
    np.testing.assert_allclose(g.grad.numpy(), want, rtol=1e-12)


def test_one_thread_and_two_give_the_same_results() -> None:
    rng = np.random.default_rng(5)
    x = pygrad.tensor(rng.standard_normal((4, 16, 40, 40)).astype(np.float32), requires_grad=True)
    F = pygrad.nn.functional
    runs = []
    before = pygrad.get_num_threads()
    try:
        for n in (1, 2):
            pygrad.set_num_threads(n)
            x.grad = None
            ys = [F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 2), F.adaptive_avg_pool2d(x, 7)]
            sum(((y * y).sum() for y in ys), pygrad.tensor(0.0)).backward()
            runs.append([y.numpy() for y in ys] + [x.grad.numpy()])
    finally:
        pygrad.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("engine", ENGINES)
def test_modules(engine) -> None:
    x = engine.tensor(np.arange(32.0).reshape(2, 4, 4))  # unbatched (C, H, W)
    m = engine.nn.AvgPool2d(2, divisor_override=1)
    np.testing.assert_array_equal(m(x).numpy()[0], [[10, 18], [42, 50]])
    assert engine.nn.AdaptiveAvgPool2d((1, 1))(x).shape == (2, 1, 1)
    assert "output_size=(1, 1)" in repr(engine.nn.AdaptiveAvgPool2d((1, 1)))
    up = engine.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    assert up(x.reshape(1, 2, 4, 4)).shape == (1, 2, 8, 8) and "bilinear" in repr(up)
    assert list(up.parameters()) == [] and list(engine.nn.AdaptiveAvgPool2d(2).parameters()) == []
    y, i = engine.nn.MaxPool2d(2, ceil_mode=True, return_indices=True)(engine.tensor(np.arange(25.0).reshape(1, 5, 5)))
    np.testing.assert_array_equal(i.numpy()[0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_batch(engine) -> None:
    x = engine.zeros(0, 3, 6, 6, requires_grad=True)
    F = engine.nn.functional
    for y in (F.max_pool2d(x, 2), F.avg_pool2d(x, 3, 1, 1), F.adaptive_avg_pool2d(x, 2),
              F.interpolate(x, scale_factor=2, mode="bilinear")):
        assert y.shape[0] == 0
        y.sum().backward()
        assert x.grad.shape == x.shape
