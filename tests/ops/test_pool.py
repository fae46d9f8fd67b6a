"""max_pool2d / avg_pool2d and their modules on both engines: against a plain numpy loop (PyTorch's
window rules written out), against PyTorch when installed, gradcheck and gradgradcheck in float64,
errors naming the op."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradValueError, ShapeError
from pygrad.gradcheck import gradcheck, gradgradcheck

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]


def _p(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _out(n, k, s, p, d, ceil):
    span = n + 2 * p - d * (k - 1) - 1
    o = (math.ceil(span / s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def loop_pool(x, kind, k, s, p, d=(1, 1), ceil=False, count_include_pad=True):
    """One loop per output element: max (first maximum, its plane index) or average of the window."""
    h, w = x.shape[-2:]
    oh, ow = _out(h, k[0], s[0], p[0], d[0], ceil), _out(w, k[1], s[1], p[1], d[1], ceil)
    flat = x.reshape(-1, h, w)
    y, idx = np.zeros((flat.shape[0], oh, ow)), np.zeros((flat.shape[0], oh, ow), dtype=np.int64)
    for n in range(flat.shape[0]):
        for a in range(oh):
            for b in range(ow):
                if kind == "max":
                    best, at = -np.inf, -1
                    for i in range(k[0]):
                        for j in range(k[1]):
                            r, c = a * s[0] - p[0] + i * d[0], b * s[1] - p[1] + j * d[1]
                            if 0 <= r < h and 0 <= c < w and (at < 0 or flat[n, r, c] > best):
                                best, at = flat[n, r, c], r * w + c
                    y[n, a, b], idx[n, a, b] = best, at
                else:
                    r0, c0 = a * s[0] - p[0], b * s[1] - p[1]
                    r1, c1 = min(r0 + k[0], h + p[0]), min(c0 + k[1], w + p[1])
                    count = (r1 - r0) * (c1 - c0)
                    r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, h), min(c1, w)
                    if not count_include_pad:
                        count = (r1 - r0) * (c1 - c0)
                    y[n, a, b] = flat[n, r0:r1, c0:c1].sum() / count
    shape = x.shape[:-2] + (oh, ow)
    return y.reshape(shape), idx.reshape(shape)


# (shape, kernel_size, stride, padding, dilation, ceil_mode)
CASES = [
    ((2, 3, 6, 6), 2, None, 0, 1, False),
    ((1, 2, 7, 5), 3, 2, 1, 1, False),
    ((2, 2, 7, 6), (3, 2), (2, 1), (1, 1), 1, True),
    ((1, 1, 8, 8), 3, 3, 0, 1, True),
    ((3, 5, 5), 2, 1, 1, 2, False),          # unbatched, dilated (max only)
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_max_pool2d_matches_a_loop_routing_ties_to_the_first(engine, case) -> None:
    shape, k, s, p, d, ceil = case
    rng = np.random.default_rng(1)
    x = np.round(rng.standard_normal(shape), 1)  # rounded: many ties
    X = engine.tensor(x, requires_grad=True)
    y, i = engine.nn.functional.max_pool2d(X, k, s, p, d, ceil, return_indices=True)
    want, widx = loop_pool(x, "max", _p(k), _p(k if s is None else s), _p(p), _p(d), ceil)
    np.testing.assert_array_equal(y.numpy(), want)
    np.testing.assert_array_equal(i.numpy(), widx)
    assert i.dtype == engine.int64
    v = rng.standard_normal(want.shape)
    (y * engine.tensor(v)).sum().backward()
    dx = np.zeros(x.shape).reshape(-1, x.shape[-2] * x.shape[-1])
    for n, (row, g) in enumerate(zip(widx.reshape(dx.shape[0], -1), v.reshape(dx.shape[0], -1))):
        np.add.at(dx[n], row, g)
    np.testing.assert_allclose(X.grad.numpy(), dx.reshape(x.shape), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", CASES[:4], ids=[str(i) for i in range(4)])
def test_avg_pool2d_matches_a_loop(engine, case, count_include_pad) -> None:
    shape, k, s, p, _, ceil = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
        X = engine.tensor(x, dtype=dtype, requires_grad=True)
        y = engine.nn.functional.avg_pool2d(X, k, s, p, ceil, count_include_pad)
        want, _ = loop_pool(x, "avg", _p(k), _p(k if s is None else s), _p(p), ceil=ceil,
                            count_include_pad=count_include_pad)
        assert y.dtype == X.dtype
        np.testing.assert_allclose(y.numpy(), want, rtol=tol, atol=tol)
        # linear: Σ dx·x = Σ v·y
        v = rng.standard_normal(want.shape)
        (y * engine.tensor(v, dtype=dtype)).sum().backward()
        np.testing.assert_allclose(np.sum(X.grad.numpy() * x), np.sum(v * want), rtol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_pools_against_pytorch(case) -> None:
    torch = pytest.importorskip("torch")
    shape, k, s, p, d, ceil = case
    x = np.round(np.random.default_rng(3).standard_normal(shape), 1)
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = torch.nn.functional.max_pool2d(tx, k, s, p, d, ceil, return_indices=True)
    ty.sum().backward()
    for engine in (pygrad, ref):
        X = engine.tensor(x, requires_grad=True)
        y, i = engine.nn.functional.max_pool2d(X, k, s, p, d, ceil, True)
        y.sum().backward()
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        np.testing.assert_array_equal(X.grad.numpy(), tx.grad.numpy())
    if d == 1:
        for cip in (True, False):
            ta = torch.nn.functional.avg_pool2d(torch.tensor(x), k, s, p, ceil, cip)
            for engine in (pygrad, ref):
                a = engine.nn.functional.avg_pool2d(engine.tensor(x), k, s, p, ceil, cip)
                np.testing.assert_allclose(a.numpy(), ta.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_gradcheck_and_gradgradcheck(engine) -> None:
    rng = np.random.default_rng(4)
    # distinct values spaced well beyond the finite-difference step: no window changes its maximum
    x = engine.tensor(rng.permutation(36).reshape(1, 1, 6, 6) * 0.1, dtype="float64", requires_grad=True)
    F = engine.nn.functional
    v = engine.tensor(rng.standard_normal((1, 1, 3, 3)))
    for f in (lambda a: (F.max_pool2d(a, 3, 2, 1) * v).sum(), lambda a: (F.avg_pool2d(a, 3, 2, 1) * v).sum(),
              lambda a: (F.max_pool2d(a * a, 2, 2, 0, 1, True) ** 2).sum()):
        assert gradcheck(f, (x,))
        assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_arguments(engine) -> None:
    F = engine.nn.functional
    x = engine.zeros(1, 1, 4, 4)
    with pytest.raises(ShapeError, match=r"max_pool2d: expected a 3-d .* \(4, 4\)"):
        F.max_pool2d(engine.zeros(4, 4), 2)
    with pytest.raises(PygradValueError, match="avg_pool2d: padding .* at most half"):
        F.avg_pool2d(x, 2, padding=2)
    with pytest.raises(ShapeError, match="max_pool2d: the output .* would be empty"):
        F.max_pool2d(x, 5)
    with pytest.raises(PygradValueError, match="max_pool2d: stride"):
        F.max_pool2d(x, 2, stride=0)
    with pytest.raises(PygradValueError, match="avg_pool2d: kernel_size"):
        F.avg_pool2d(x, (2, 2, 2))


@pytest.mark.parametrize("engine", ENGINES)
def test_pool_modules(engine) -> None:
    x = engine.tensor(np.arange(32.0).reshape(1, 2, 4, 4))
    np.testing.assert_array_equal(engine.nn.MaxPool2d(2)(x).numpy(),
                                  [[[[5, 7], [13, 15]], [[21, 23], [29, 31]]]])
    np.testing.assert_array_equal(engine.nn.AvgPool2d(2)(x).numpy(),
                                  [[[[2.5, 4.5], [10.5, 12.5]], [[18.5, 20.5], [26.5, 28.5]]]])
    y, i = engine.nn.MaxPool2d(2, return_indices=True)(x)
    np.testing.assert_array_equal(i.numpy()[0, 0], [[5, 7], [13, 15]])
    assert list(engine.nn.MaxPool2d(2).parameters()) == []
    assert "kernel_size=2" in repr(engine.nn.AvgPool2d(2))


# wide planes: the vector code for stride-2 columns (8 float or 4 double lanes) with a scalar tail, and
# columns past the last window
WIDE = [((2, 3, 9, 41), 2, 2, 0), ((1, 2, 8, 36), 2, 2, 0), ((2, 2, 11, 45), 3, 2, 1), ((1, 3, 7, 38), 3, 2, 0),
        ((1, 2, 6, 53), (2, 4), 2, (1, 2))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", WIDE, ids=[str(i) for i in range(len(WIDE))])
def test_max_pool2d_wide_rows_match_a_loop(case, dtype) -> None:
    shape, k, s, p = case
    rng = np.random.default_rng(4)
    x = np.round(rng.standard_normal(shape), 1).astype(dtype)  # many ties: the first maximum
    X = pygrad.tensor(x, requires_grad=True)
    y, i = pygrad.nn.functional.max_pool2d(X, k, s, p, return_indices=True)
    want, widx = loop_pool(x.astype(np.float64), "max", _p(k), _p(s), _p(p))
    np.testing.assert_array_equal(y.numpy(), want.astype(dtype))
    np.testing.assert_array_equal(i.numpy(), widx)
    v = rng.standard_normal(want.shape).astype(dtype)
    (dx,) = pygrad.autograd.grad(y, X, pygrad.tensor(v))
    want_dx = np.zeros(x.shape, dtype).reshape(-1, x.shape[-2] * x.shape[-1])
    for n, (row, g) in enumerate(zip(widx.reshape(want_dx.shape[0], -1), v.reshape(want_dx.shape[0], -1))):
        np.add.at(want_dx[n], row, g)
    np.testing.assert_array_equal(dx.numpy(), want_dx.reshape(x.shape))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool2d_wide_rows_nan_wins(dtype) -> None:
    x = np.random.default_rng(5).standard_normal((1, 1, 4, 40)).astype(dtype)
    x[0, 0, 1, 7] = x[0, 0, 2, 20] = x[0, 0, 3, 21] = np.nan
    for k, s, p in ((2, 2, 0), (3, 2, 1)):
        X = pygrad.tensor(x, requires_grad=True)
        y = pygrad.nn.functional.max_pool2d(X, k, s, p)
        want, idx = loop_pool(np.nan_to_num(x, nan=np.inf), "max", _p(k), _p(s), _p(p))
        want[np.isinf(want)] = np.nan
        np.testing.assert_array_equal(y.numpy(), want.astype(dtype))
        (dx,) = pygrad.autograd.grad(y, X, pygrad.tensor(np.ones(want.shape, dtype)))
        # each NaN window sends its gradient to a NaN
        assert np.all(np.isnan(x.reshape(-1)[idx.reshape(-1)][np.isnan(want.reshape(-1))]))
        assert dx.numpy().sum() == want.size


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 3, 8, 36), (1, 2, 9, 43)])
def test_avg_pool2d_2x2_backward_wide_rows(shape, dtype) -> None:
    rng = np.random.default_rng(6)
    X = pygrad.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
    for div in (None, 3):
        y = pygrad.nn.functional.avg_pool2d(X, 2, 2, divisor_override=div)
        g = rng.standard_normal(tuple(y.shape)).astype(dtype)
        g.reshape(-1)[::5] = -0.0
        (dx,) = pygrad.autograd.grad(y, X, pygrad.tensor(g))
        want = np.zeros(shape, dtype)
        oh, ow = g.shape[-2:]
        t = np.dtype(dtype).type
        want[..., : 2 * oh, : 2 * ow] = np.repeat(np.repeat(g / t(div or 4), 2, -2), 2, -1) + t(0)
        np.testing.assert_array_equal(dx.numpy(), want)
        assert not np.signbit(dx.numpy()[dx.numpy() == 0]).any()  # 0 + (-0 / 4) is +0


# max_pool2d 3x3 at stride 2 in float: 16 output columns per vector (AVX-512), masked at the row's end, and
# with W = 2·OW every row's interior in one run over the plane; widths around the vector, padding, ceil_mode
@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("pad", [0, 1])
@pytest.mark.parametrize("width", [1, 2, 3, 15, 16, 17, 31, 32, 33, 34, 35, 64, 65, 67])
def test_max_pool2d_3x3_stride_2_widths_match_a_loop(width, pad, ceil) -> None:
    shape = (2, 2, 5 + pad, width)
    if width + 2 * pad < 3:
        pytest.skip("no window fits")
    rng = np.random.default_rng(width * 4 + pad * 2 + ceil)
    x = np.round(rng.standard_normal(shape), 1).astype(np.float32)  # many ties: the first maximum
    x.reshape(-1)[rng.random(x.size) < 0.05] = -0.0
    X = pygrad.tensor(x, requires_grad=True)
    y, i = pygrad.nn.functional.max_pool2d(X, 3, 2, pad, ceil_mode=ceil, return_indices=True)
    want, widx = loop_pool(x.astype(np.float64), "max", (3, 3), (2, 2), (pad, pad), ceil=ceil)
    np.testing.assert_array_equal(y.numpy(), want.astype(np.float32))
    np.testing.assert_array_equal(np.signbit(y.numpy()), np.signbit(x.reshape(2, 2, -1)[
        np.arange(2)[:, None, None], np.arange(2)[None, :, None], widx.reshape(2, 2, -1)]).reshape(want.shape))
    np.testing.assert_array_equal(i.numpy(), widx)
    v = rng.standard_normal(want.shape).astype(np.float32)
    (dx,) = pygrad.autograd.grad(y, X, pygrad.tensor(v))
    want_dx = np.zeros(x.shape, np.float32).reshape(-1, x.shape[-2] * x.shape[-1])
    for n, (row, g) in enumerate(zip(widx.reshape(want_dx.shape[0], -1), v.reshape(want_dx.shape[0], -1))):
        np.add.at(want_dx[n], row, g)  # in output order, as the kernel adds
    np.testing.assert_array_equal(dx.numpy(), want_dx.reshape(x.shape))


@pytest.mark.parametrize("width", [34, 56])
def test_max_pool2d_3x3_stride_2_nan_and_infinities(width) -> None:
    rng = np.random.default_rng(width)
    x = rng.standard_normal((1, 3, 9, width)).astype(np.float32)
    x.reshape(-1)[rng.random(x.size) < 0.05] = np.nan
    x.reshape(-1)[rng.random(x.size) < 0.05] = np.inf
    x.reshape(-1)[rng.random(x.size) < 0.05] = -np.inf
    X = pygrad.tensor(x, requires_grad=True)
    y, i = pygrad.nn.functional.max_pool2d(X, 3, 2, 1, return_indices=True)
    flat = x.reshape(3, -1)
    # PyTorch's rule: the window's last NaN, else its first maximum (-inf included)
    want_i = np.zeros(i.numpy().shape, np.int64)
    oh, ow = want_i.shape[-2:]
    for c in range(3):
        for a in range(oh):
            for b in range(ow):
                best, at = None, -1
                for r in range(2 * a - 1, 2 * a + 2):
                    for q in range(2 * b - 1, 2 * b + 2):
                        if 0 <= r < x.shape[2] and 0 <= q < width:
                            v = flat[c, r * width + q]
                            if at < 0 or v > best or np.isnan(v):
                                best, at = v, r * width + q
                want_i[0, c, a, b] = at
    np.testing.assert_array_equal(i.numpy(), want_i)
    np.testing.assert_array_equal(y.numpy(), np.take_along_axis(flat, want_i.reshape(3, -1), 1).reshape(y.shape))
    g = rng.standard_normal(want_i.shape).astype(np.float32)
    (dx,) = pygrad.autograd.grad(y, X, pygrad.tensor(g))
    want_dx = np.zeros_like(flat)
    for c in range(3):
        np.add.at(want_dx[c], want_i[0, c].reshape(-1), g[0, c].reshape(-1))
    np.testing.assert_array_equal(dx.numpy(), want_dx.reshape(x.shape))


def _max_3x3_2_1_check(x, threads) -> None:
    """max_pool2d(x, 3, 2, 1) in float32 on `threads` threads: y, the indices and dx against the float64
    kernels' indices (the same rule: the window's last NaN, else its first maximum), dx as np.add.at adds the
    upstream (with -0 in it) in output order from 0"""
    planes, hw = x.shape[0] * x.shape[1], x.shape[2] * x.shape[3]
    F = pygrad.nn.functional
    _, want_i = F.max_pool2d(pygrad.tensor(x.astype(np.float64)), 3, 2, 1, return_indices=True)
    want_i = want_i.numpy().reshape(planes, -1)
    rng = np.random.default_rng(x.shape[-1])
    g = rng.standard_normal((planes, want_i.shape[1])).astype(np.float32)
    g[:, ::5] = -0.0
    want_dx = np.zeros((planes, hw), np.float32)
    for n in range(planes):
        np.add.at(want_dx[n], want_i[n], g[n])
    before = pygrad.get_num_threads()
    pygrad.set_num_threads(threads)
    try:
        X = pygrad.tensor(x, requires_grad=True)
        y, i = F.max_pool2d(X, 3, 2, 1, return_indices=True)
        y2 = F.max_pool2d(X, 3, 2, 1)
        (dx,) = pygrad.autograd.grad(y2, X, pygrad.tensor(g.reshape(y.shape)))
    finally:
        pygrad.set_num_threads(before)
    np.testing.assert_array_equal(i.numpy().reshape(planes, -1), want_i)
    want_y = np.take_along_axis(x.reshape(planes, -1), want_i, 1)
    for have in (y, y2):
        np.testing.assert_array_equal(have.numpy().reshape(planes, -1), want_y)
        h = have.numpy().reshape(-1)
        assert (np.signbit(h) == np.signbit(want_y.reshape(-1)))[~np.isnan(h)].all()
    np.testing.assert_array_equal(dx.numpy().reshape(planes, -1), want_dx)
    assert not np.signbit(dx.numpy()[dx.numpy() == 0]).any()  # 0 + -0 is +0


# max_pool2d 3x3/2 with padding 1 on planes of even height and width in float (AVX-512): one pass per plane,
# dx's rows built from each window's winner; widths up to 4 vectors (128) and past them (130: the two-stage
# kernel), ties and -0, a plane with a NaN (run again by the two-stage kernel) beside clean ones, 1 and 2 threads
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("width", [2, 4, 30, 32, 34, 56, 96, 128, 130])
def test_max_pool2d_3x3_stride_2_pad_1_even_planes(width, threads) -> None:
    rng = np.random.default_rng(width)
    x = np.round(rng.standard_normal((3, 2, 8, width)), 1).astype(np.float32)  # ties: the first maximum
    x.reshape(-1)[rng.random(x.size) < 0.1] = -0.0
    x.reshape(-1)[rng.random(x.size) < 0.02] = -np.inf
    x[1, 0, 3, width // 2] = np.nan
    x[2, 1, 0, 0] = np.nan
    _max_3x3_2_1_check(x, threads)


# adaptive_avg_pool2d to 1 x 1: the backward a broadcast of 0 + g / (H·W); 16 MiB of float32 output and more
# is written with streaming stores
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (64, 64, 32, 32)])
def test_adaptive_avg_pool2d_1x1_backward_is_a_broadcast(shape, dtype) -> None:
    rng = np.random.default_rng(7)
    X = pygrad.tensor(np.zeros(shape, dtype), requires_grad=True)
    y = pygrad.nn.functional.adaptive_avg_pool2d(X, 1)
    g = rng.standard_normal(tuple(y.shape)).astype(dtype)
    g.reshape(-1)[::3] = -0.0
    (dx,) = pygrad.autograd.grad(y, X, pygrad.tensor(g))
    t = np.dtype(dtype).type
    want = np.broadcast_to(g / t(shape[2] * shape[3]) + t(0), shape)
    np.testing.assert_array_equal(dx.numpy(), want)
    assert not np.signbit(dx.numpy()[dx.numpy() == 0]).any()  # 0 + (-0 / HW) is +0


def _sep_avg(x, k, p, count_include_pad, divisor, g=None):
    """avg_pool2d at stride 1 with an output the size of the input (k = 2·p + 1), in the separable kernels'
    order, in x's dtype: forward Σ_rows (0 + Σ_cols x) / div; with g, the transpose Σ_cols (0 + Σ_rows g / div);
    each sum from 0, ascending, over zero padding (which changes no bit but NaN payloads)."""
    t = x.dtype.type
    h, w = x.shape[-2:]
    rows = np.minimum(np.arange(h) + p[0] + 1, h) - np.maximum(np.arange(h) - p[0], 0)
    cols = np.minimum(np.arange(w) + p[1] + 1, w) - np.maximum(np.arange(w) - p[1], 0)
    count = np.full((h, w), k[0] * k[1]) if count_include_pad else rows[:, None] * cols[None, :]
    div = np.full((h, w), divisor, x.dtype) if divisor else count.astype(x.dtype)

    def across(a):  # 0 + Σ_cols, zero-padded
        a = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(p[1], p[1])])
        s = np.full(a.shape[:-1] + (w,), t(0))
        for kx in range(k[1]):
            s = s + a[..., kx:kx + w]
        return s

    def down(a):  # 0 + Σ_rows, zero-padded
        a = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(p[0], p[0]), (0, 0)])
        s = np.full(a.shape[:-2] + (h, a.shape[-1]), t(0))
        for ky in range(k[0]):
            s = s + a[..., ky:ky + h, :]
        return s

    with np.errstate(invalid="ignore", over="ignore"):
        return down(across(x)) / div if g is None else across(down(g / div))


# avg_pool2d at stride 1 with an output the size of the input (3x3 pad 1, 5x5 pad 2, ...): in float, one
# AVX-512 pass per plane, 16 columns per vector masked at the rows' ends, rows past the plane zeros; the same
# bits as the separable kernels' order (NaN payloads aside), widths around the vector, both dtypes, 1 and 2
# threads alike
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kp", [((3, 3), (1, 1)), ((5, 5), (2, 2)), ((3, 5), (1, 2)), ((1, 3), (0, 1)),
                                ((7, 1), (3, 0)), ((1, 1), (0, 0))], ids=str)
@pytest.mark.parametrize("width", [1, 2, 3, 15, 16, 17, 31, 32, 33, 48, 56])
def test_avg_pool2d_same_size_stride_1_in_the_separable_order(width, kp, dtype) -> None:
    k, p = kp
    rng = np.random.default_rng(width * 7 + k[0] * 3 + k[1])
    for height in (1, 2, 4, 9):
        x = rng.standard_normal((2, 3, height, width)).astype(dtype)
        f = x.reshape(-1)
        f[rng.random(f.size) < 0.03] = np.nan
        f[rng.random(f.size) < 0.03] = np.inf
        f[rng.random(f.size) < 0.03] = -np.inf
        f[rng.random(f.size) < 0.1] = -0.0
        g = rng.standard_normal(x.shape).astype(dtype)
        g.reshape(-1)[rng.random(g.size) < 0.1] = -0.0
        g.reshape(-1)[rng.random(g.size) < 0.02] = np.nan
        for cip, ceil, div in [(True, False, None), (False, False, None), (True, True, None), (False, True, 7)]:
            got, before = [], pygrad.get_num_threads()
            for threads in (1, 2):
                pygrad.set_num_threads(threads)
                try:
                    X = pygrad.tensor(x, requires_grad=True)
                    y = pygrad.nn.functional.avg_pool2d(X, k, 1, p, ceil_mode=ceil, count_include_pad=cip,
                                                        divisor_override=div)
                    (dx,) = pygrad.autograd.grad(y, X, pygrad.tensor(g))
                finally:
                    pygrad.set_num_threads(before)
                got.append((y.numpy(), dx.numpy()))
            assert got[0][0].tobytes() == got[1][0].tobytes() and got[0][1].tobytes() == got[1][1].tobytes()
            for have, want in zip(got[0], (_sep_avg(x, k, p, cip, div), _sep_avg(x, k, p, cip, div, g))):
                np.testing.assert_array_equal(have, want)  # NaN where NaN
                np.testing.assert_array_equal(np.signbit(have)[~np.isnan(want)], np.signbit(want)[~np.isnan(want)])
            y = got[0][0]
            if not div:  # and the float64 loop, on the planes without NaN or inf
                finite = np.isfinite(x).all(axis=(-2, -1), keepdims=True)
                want, _ = loop_pool(np.where(finite, x, 0).astype(np.float64), "avg", k, (1, 1), p,
                                    count_include_pad=cip)
                tol = 1e-6 if dtype == "float32" else 1e-14
                np.testing.assert_allclose(np.where(finite, y, 0), np.where(finite, want, 0), rtol=tol, atol=tol)


def _rowsum_order(x):
    """Σ over each plane in the separable kernels' order, in x's dtype: each row's sum as pg__rowsum (rows of 16
    or more: eight partial sums 0 + x[k] + x[k + 8] + ..., then ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)),
    then the tail), then 0 + Σ over the rows, ascending."""
    t = x.dtype.type
    w = x.shape[-1]
    if w < 16:
        s = np.full(x.shape[:-1], t(0))
        for i in range(w):
            s = s + x[..., i]
    else:
        n8 = w // 8 * 8
        a = np.full(x.shape[:-1] + (8,), t(0))
        for i in range(0, n8, 8):
            a = a + x[..., i:i + 8]
        s = ((a[..., 0] + a[..., 1]) + (a[..., 2] + a[..., 3])) + ((a[..., 4] + a[..., 5]) + (a[..., 6] + a[..., 7]))
        for i in range(n8, w):
            s = s + x[..., i]
    tot = np.full(x.shape[:-2], t(0))
    for r in range(x.shape[-2]):
        tot = tot + s[..., r]
    return tot


# adaptive_avg_pool2d to 1 x 1 in float: whole rows of a multiple of 8 columns (AVX2, eight rows at a time)
# and the rest (the separable kernels) sum in one order, the same bits, at 1 and 2 threads
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hw", [(1, 16), (7, 16), (8, 24), (9, 56), (17, 40), (3, 20), (5, 8), (56, 56)])
def test_adaptive_avg_pool2d_1x1_sums_in_the_separable_order(hw, dtype) -> None:
    rng = np.random.default_rng(hw[0] * 100 + hw[1])
    x = rng.standard_normal((3, 5) + hw).astype(dtype) * 10.0 ** rng.integers(-3, 4, (3, 5) + hw)
    x = x.astype(dtype)
    want = (_rowsum_order(x) / np.dtype(dtype).type(hw[0] * hw[1]))[..., None, None]
    got, before = [], pygrad.get_num_threads()
    try:
        for threads in (1, 2):
            pygrad.set_num_threads(threads)
            got.append(pygrad.nn.functional.adaptive_avg_pool2d(pygrad.tensor(x), 1).numpy())
    finally:
        pygrad.set_num_threads(before)
    np.testing.assert_array_equal(got[0], want)
    np.testing.assert_array_equal(got[1], want)


# outputs of 16 MiB and more are built a plane at a time in a tile and streamed out: the same values as the
# small planes' direct writes (2x2/2 max and avg backward, the same-size stride-1 average both ways)
def test_large_outputs_through_the_streaming_tile() -> None:
    rng = np.random.default_rng(11)
    shape = (64, 64, 32, 32)  # 16 MiB of float32
    x = np.round(rng.standard_normal(shape), 1).astype(np.float32)  # ties: the first maximum
    X = pygrad.tensor(x, requires_grad=True)
    F = pygrad.nn.functional
    y, idx = F.max_pool2d(X, 2, 2, return_indices=True)
    g = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    (dx,) = pygrad.autograd.grad(y, X, pygrad.tensor(g))
    want = np.zeros((64 * 64, 32 * 32), np.float32)
    np.put_along_axis(want, idx.numpy().reshape(64 * 64, -1), g.reshape(64 * 64, -1), 1)
    np.testing.assert_array_equal(dx.numpy(), want.reshape(shape))
    y = F.avg_pool2d(X, 2, 2)
    (dx,) = pygrad.autograd.grad(y, X, pygrad.tensor(g))
    np.testing.assert_array_equal(dx.numpy(), np.repeat(np.repeat(g / np.float32(4), 2, -2), 2, -1) + np.float32(0))
    y = F.avg_pool2d(X, 3, 1, 1)
    g = rng.standard_normal(shape).astype(np.float32)
    (dx,) = pygrad.autograd.grad(y, X, pygrad.tensor(g))
    np.testing.assert_array_equal(y.numpy(), _sep_avg(x, (3, 3), (1, 1), True, None))
    np.testing.assert_array_equal(dx.numpy(), _sep_avg(x, (3, 3), (1, 1), True, None, g))
    _max_3x3_2_1_check(x, 1)  # dx of 16 MiB through the tile


# the strided max pools' outputs of 8 MiB and more (y, and the int64 indices) go through a tile too
def test_large_max_pool_outputs_through_the_streaming_tile() -> None:
    rng = np.random.default_rng(12)
    x = np.round(rng.standard_normal((32, 64, 64, 64)), 1).astype(np.float32)  # 32 MiB: y 8 MiB
    x[3, 5, 7, 9] = np.nan
    _max_3x3_2_1_check(x, 2)
    y, idx = pygrad.nn.functional.max_pool2d(pygrad.tensor(x), 2, 2, return_indices=True)
    np.testing.assert_array_equal(y.numpy().reshape(32 * 64, -1),
                                  np.take_along_axis(x.reshape(32 * 64, -1), idx.numpy().reshape(32 * 64, -1), 1))
