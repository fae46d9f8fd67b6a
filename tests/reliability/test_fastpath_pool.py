"""Adversarial tests of max_pool2d's fast paths (csrc/ops_pool.c) against a plain numpy oracle.

The paths under test, each chosen by the geometry alone:

- 3x3 stride 2 padding 1 on float32 planes of even height and width with OW <= 64: the one-pass AVX-512
  kernel (pg__m3: forward, backward, indices), which hands a plane holding a NaN to the separable one;
- any other 3x3 stride 2 in float32: the separable AVX-512 kernel (pg__max32);
- 2x2 stride 2 without padding in float32: the AVX-512 forward a row at a time (pg__max22_fwd32);
- each of them builds its outputs in a tile streamed out when the whole output is large (8 MiB forward,
  16 MiB backward), so the large cases below cross those thresholds.

The oracle (`np_max_pool`) follows the reference engine's rule (pygrad/reference/ops.py, MaxPool2d.argmax)
window element by window element in row-major order: v replaces the running maximum when v > m or v is
NaN, so ties go to the first maximum and NaN to the last NaN; it is checked against the reference engine
itself on small cases. Values are compared bit for bit (NaN by NaN-ness: the fast paths may write another
NaN payload), the indices exactly, dx exactly (each dx element is the sum of its windows' upstream values
in output order, on every path), and every result is the same with 1 and 2 threads.
"""

from __future__ import annotations

import numpy as np
import pytest
from _audit import fuzz_with, restore_threads  # noqa: F401  (restore_threads: an autouse fixture)
from hypothesis import strategies as st

import pygrad as pg
import pygrad.reference as ref

F = pg.nn.functional
fuzz = fuzz_with(40)




def _out(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    span = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    if span < 0:
        return 0
    o = span // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def np_max_pool(x: np.ndarray, k, s, p, d=(1, 1), ceil=False) -> tuple[np.ndarray, np.ndarray]:
    """y and the flat indices (-1: a window with nothing inside the input), vectorised over the windows."""
    n, c, h, w = x.shape
    oh, ow = _out(h, k[0], s[0], p[0], d[0], ceil), _out(w, k[1], s[1], p[1], d[1], ceil)
    y = np.full((n, c, oh, ow), -np.inf, dtype=x.dtype)
    idx = np.full((n, c, oh, ow), -1, dtype=np.int64)
    for i in range(k[0]):
        iy = np.arange(oh) * s[0] - p[0] + i * d[0]
        for j in range(k[1]):
            ix = np.arange(ow) * s[1] - p[1] + j * d[1]
            ok = ((iy >= 0) & (iy < h))[:, None] & ((ix >= 0) & (ix < w))[None, :]
            v = x[:, :, np.clip(iy, 0, h - 1)[:, None], np.clip(ix, 0, w - 1)[None, :]]
            take = ok & ((idx < 0) | (v > y) | np.isnan(v))
            y = np.where(take, v, y)
            idx = np.where(take, (iy[:, None] * w + ix[None, :]), idx)
    return y, idx


def np_max_pool_dx(x: np.ndarray, g: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """dx[argmax] += g, in output order, in g's dtype (as np.add.at adds: one at a time)."""
    n, c, h, w = x.shape
    dx = np.zeros((n * c, h * w), dtype=g.dtype)
    ii = idx.reshape(n * c, -1)
    gg = g.reshape(n * c, -1)
    rows = np.broadcast_to(np.arange(n * c)[:, None], ii.shape)
    ok = ii >= 0
    np.add.at(dx, (rows[ok], ii[ok]), gg[ok])
    return dx.reshape(x.shape)


def assert_same_values(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Bit for bit (so -0 and +0 differ), NaN against NaN whatever its payload."""
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape, got.dtype, want.dtype)
    gn, wn = np.isnan(got), np.isnan(want)
    bad = (gn != wn) | (~gn & (got.view(f"u{got.itemsize}") != want.view(f"u{want.itemsize}")))
    if bad.any():
        at = tuple(int(a[0]) for a in np.nonzero(bad))
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} differ, first at {at}: got {got[at]!r}, "
                             f"want {want[at]!r}")


def run_c(x: np.ndarray, g: np.ndarray, k, s, p, d=(1, 1), ceil=False, threads=1, transpose_x=False,
          transpose_g=False):
    """max_pool2d on the C engine: y, indices, dx (the upstream g, possibly through a transpose)."""
    pg.set_num_threads(threads)
    if transpose_x:  # the input reaches the op through a transpose of a (N, C, W, H) leaf
        X = pg.tensor(np.ascontiguousarray(x.transpose(0, 1, 3, 2)), requires_grad=True)
        xin = X.transpose(2, 3)
    else:
        X = pg.tensor(x, requires_grad=True)
        xin = X
    y, i = F.max_pool2d(xin, k, s, p, d, ceil, return_indices=True)
    y2 = F.max_pool2d(xin, k, s, p, d, ceil)  # without indices: the plain forward kernel
    if transpose_g:  # the upstream arrives through a transpose op in the graph
        G = pg.tensor(np.ascontiguousarray(g.transpose(0, 1, 3, 2)))
        (y2.transpose(2, 3) * G).sum().backward()
    else:
        y2.backward(pg.tensor(g))
    dx = X.grad.numpy()
    if transpose_x:
        dx = dx.transpose(0, 1, 3, 2)
    return y.numpy(), i.numpy(), y2.numpy(), np.ascontiguousarray(dx)


def check(x: np.ndarray, k, s, p, d=(1, 1), ceil=False, seed=0, threads=(1, 2), planes=None, **kw) -> None:
    """The C engine's y, indices and dx against the oracle's, with each number of threads; `planes`: the
    (n, c) planes the oracle checks (all when None), for large inputs."""
    rng = np.random.default_rng(seed)
    n, c, h, w = x.shape
    g = rng.standard_normal((n, c, _out(h, k[0], s[0], p[0], d[0], ceil), _out(w, k[1], s[1], p[1], d[1], ceil)))
    g = g.astype(x.dtype)
    sel = (slice(None),) if planes is None else (planes[0], planes[1])
    xs = x[sel] if planes is None else x[sel][None]
    want_y, want_i = np_max_pool(xs, k, s, p, d, ceil)
    want_dx = np_max_pool_dx(xs, g[sel] if planes is None else g[sel][None], want_i)
    results = []
    for nthreads in threads:
        y, i, y2, dx = run_c(x, g, k, s, p, d, ceil, threads=nthreads, **kw)
        results.append((y, i, y2, dx))
        if planes is not None:
            y, i, y2, dx = (a[sel][None] for a in (y, i, y2, dx))
        tag = f"{x.dtype} {x.shape} k={k} s={s} p={p} d={d} ceil={ceil} threads={nthreads}"
        assert_same_values(y, want_y, f"y (with indices) {tag}")
        assert_same_values(y2, want_y, f"y {tag}")
        np.testing.assert_array_equal(i, want_i, err_msg=f"indices {tag}")
        assert_same_values(dx, want_dx, f"dx {tag}")
    for a, b in zip(results[0], results[-1]):  # 1 and 2 threads: the same bits
        assert_same_values(a, b, "1 thread against 2") if a.dtype.kind == "f" else np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- the oracle against the reference ----


@pytest.mark.parametrize("case", [
    ((2, 3, 6, 8), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((1, 2, 7, 5), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 2, 6, 6), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 1, 9, 7), (3, 2), (2, 1), (1, 1), (2, 1), False),
])
def test_the_oracle_agrees_with_the_reference_engine(case) -> None:
    shape, k, s, p, d, ceil = case
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=shape).astype(np.float64)  # many ties
    x.flat[::7] = np.nan
    x.flat[3::11] = -np.inf
    X = ref.tensor(x, requires_grad=True)
    y, i = ref.nn.functional.max_pool2d(X, k, s, p, d, ceil, return_indices=True)
    g = rng.standard_normal(y.shape)
    y.backward(ref.tensor(g))
    wy, wi = np_max_pool(x, k, s, p, d, ceil)
    assert_same_values(y.numpy(), wy, "reference y")
    np.testing.assert_array_equal(i.numpy(), wi)
    assert_same_values(X.grad.numpy(), np_max_pool_dx(x, g, wi), "reference dx")


# ---------------------------------------------------------------- values ----

def _values(draw, shape, dtype) -> np.ndarray:
    """Values that make ties, signed zeros, infinities and NaN likely."""
    kind = draw(st.sampled_from(["ties", "normal", "specials", "all_neg_inf", "one_nan", "zeros"]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    if kind == "ties":
        x = rng.integers(-2, 3, size=size).astype(dtype)
    elif kind == "normal":
        x = rng.standard_normal(size).astype(dtype)
    elif kind == "zeros":
        x = np.where(rng.random(size) < 0.5, -0.0, 0.0).astype(dtype)
    elif kind == "all_neg_inf":
        x = np.full(size, -np.inf, dtype=dtype)
    else:
        x = rng.integers(-2, 3, size=size).astype(dtype)
        specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], dtype=dtype)
        m = rng.random(size) < (0.0 if kind == "one_nan" else 0.15)
        x[m] = specials[rng.integers(0, len(specials), size=int(m.sum()))]
        if kind == "one_nan":
            x[rng.integers(0, size)] = np.nan
    return x.reshape(shape)


@st.composite
def m3_cases(draw):
    """3x3 / 2 / pad 1 around the one-pass kernel's conditions: even or odd H, W; OW 1 .. 66."""
    ow = draw(st.sampled_from([1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 66]))
    w = 2 * ow + draw(st.sampled_from([0, 0, 0, -1])) if ow > 1 else 2
    h = draw(st.sampled_from([2, 3, 4, 5, 6, 8, 9, 12]))
    nc = draw(st.sampled_from([(1, 1), (1, 3), (2, 5), (3, 7)]))
    dtype = draw(st.sampled_from([np.float32, np.float32, np.float32, np.float64]))
    shape = nc + (h, max(w, 1))
    return _values(draw, shape, dtype), draw(st.booleans())


@fuzz(m3_cases())
def test_max_pool_3x3_stride_2_pad_1_matches_the_oracle(case) -> None:
    x, ceil = case
    check(x, (3, 3), (2, 2), (1, 1), ceil=ceil)


@st.composite
def pool_cases(draw):
    """Other geometries near the fast paths': 3x3/2 with pad 0, 2x2/2, 2x2/1, 3x3/1, 3x2, dilation."""
    k, s, p, d = draw(st.sampled_from([
        ((3, 3), (2, 2), (0, 0), (1, 1)),
        ((2, 2), (2, 2), (0, 0), (1, 1)),
        ((2, 2), (2, 2), (1, 1), (1, 1)),
        ((2, 2), (1, 1), (0, 0), (1, 1)),
        ((3, 3), (1, 1), (1, 1), (1, 1)),
        ((3, 3), (2, 2), (1, 1), (2, 2)),
        ((3, 2), (2, 2), (1, 1), (1, 1)),
        ((2, 3), (2, 1), (1, 0), (1, 1)),
        ((3, 3), (3, 3), (1, 0), (1, 1)),
    ]))
    h = draw(st.integers(max(2, (k[0] - 1) * d[0] + 1 - 2 * p[0]), 13))
    w = draw(st.sampled_from([2, 3, 4, 5, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 130]))
    w = max(w, (k[1] - 1) * d[1] + 1 - 2 * p[1])
    nc = draw(st.sampled_from([(1, 1), (2, 3), (1, 6)]))
    dtype = draw(st.sampled_from([np.float32, np.float32, np.float64]))
    return _values(draw, nc + (h, w), dtype), k, s, p, d, draw(st.booleans())


@fuzz(pool_cases())
def test_max_pool_geometries_near_the_fast_paths_match_the_oracle(case) -> None:
    x, k, s, p, d, ceil = case
    check(x, k, s, p, d, ceil)


# ---------------------------------------------------------------- named edges ----

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hw", [(2, 2), (2, 128), (2, 130), (4, 126), (128, 2), (6, 128), (7, 128), (6, 129)])
def test_max_pool_3x3_2_1_thin_planes(dtype, hw) -> None:
    rng = np.random.default_rng(sum(hw))
    x = rng.integers(-3, 4, size=(2, 3) + hw).astype(dtype)
    check(x, (3, 3), (2, 2), (1, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_many_planes_of_few_pixels(dtype) -> None:
    """N*C far larger than the thread pool's grain, planes of 2 x 2 (one window each)."""
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, size=(64, 257, 2, 2)).astype(dtype)
    check(x, (3, 3), (2, 2), (1, 1))
    check(x, (2, 2), (2, 2), (0, 0))


@pytest.mark.parametrize("fill", [-np.inf, np.inf, np.nan, -0.0])
@pytest.mark.parametrize("k,s,p", [((3, 3), (2, 2), (1, 1)), ((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (0, 0))])
def test_max_pool_constant_planes(fill, k, s, p) -> None:
    """Every element the same special value: the first element of each window wins (the last for NaN)."""
    x = np.full((2, 3, 8, 34), fill, dtype=np.float32)
    check(x, k, s, p)


@pytest.mark.parametrize("k,s,p", [((3, 3), (2, 2), (1, 1)), ((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (0, 0))])
def test_max_pool_nan_in_some_planes_only(k, s, p) -> None:
    """The one-pass kernel gives a plane holding a NaN to another kernel: the planes around it stay its own."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5, 10, 64)).astype(np.float32)
    x[0, 1, 0, 0] = np.nan    # the first element of a plane
    x[1, 2, 9, 63] = np.nan   # the last one
    x[2, 4, 4, 17] = np.nan
    x[2, 4, 5, 17] = -np.nan  # two NaNs in one window
    check(x, k, s, p)


@pytest.mark.parametrize("k,s,p", [((3, 3), (2, 2), (1, 1)), ((2, 2), (2, 2), (0, 0))])
def test_max_pool_non_contiguous_input_and_upstream(k, s, p) -> None:
    rng = np.random.default_rng(11)
    x = rng.integers(-2, 3, size=(2, 3, 12, 34)).astype(np.float32)
    check(x, k, s, p, transpose_x=True, transpose_g=True)


@pytest.mark.parametrize("k,s,p,shape", [
    ((3, 3), (2, 2), (1, 1), (4, 512, 64, 64)),
    ((3, 3), (2, 2), (1, 1), (4, 560, 62, 62)),  # planes of 31 x 31 outputs: not whole 64-byte lines
    ((2, 2), (2, 2), (0, 0), (4, 560, 62, 62)),
    ((3, 3), (2, 2), (0, 0), (4, 560, 62, 62)),
])
def test_max_pool_large_outputs_streamed_out(k, s, p, shape) -> None:
    """Outputs past the streaming thresholds (8 MiB forward, 16 MiB dx), a NaN plane among them."""
    rng = np.random.default_rng(13)
    x = rng.integers(-50, 50, size=shape).astype(np.float32)
    n, c, h, w = shape
    x[1, 7, 3, 5] = np.nan
    x[n - 1, c - 1, h - 1, w - 1] = np.nan
    pn = rng.integers(0, n, size=40)
    pc = rng.integers(0, c, size=40)
    planes = (np.r_[pn, 0, 1, 1, n - 1, n - 1], np.r_[pc, 0, 6, 7, c - 2, c - 1])
    check(x, k, s, p, planes=planes)


@pytest.mark.parametrize("k,s,p", [((3, 3), (2, 2), (1, 1)), ((2, 2), (2, 2), (0, 0))])
def test_max_pool_empty_batch(k, s, p) -> None:
    x = pg.zeros(0, 3, 8, 8, requires_grad=True)
    y, i = F.max_pool2d(x, k, s, p, return_indices=True)
    assert y.shape == i.shape == (0, 3, 4, 4)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 8, 8)


def test_max_pool_backward_twice_raises() -> None:
    x = pg.tensor(np.ones((1, 1, 4, 4), np.float32), requires_grad=True)
    y = F.max_pool2d(x, 3, 2, 1).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="(?i)second time|backward twice|freed"):
        y.backward()


@pytest.mark.parametrize("call,exc", [
    (lambda: F.max_pool2d(pg.zeros(1, 1, 4, 4), 3, 2, 2), ValueError),            # padding > kernel/2
    (lambda: F.max_pool2d(pg.zeros(1, 1, 1, 1), 3, 2, 0), ValueError),            # empty output
    (lambda: F.max_pool2d(pg.zeros(1, 0, 4, 4), 3, 2, 1), ValueError),            # no channels
    (lambda: F.max_pool2d(pg.zeros(4, 4), 3, 2, 1), ValueError),                  # 2-d
    (lambda: F.max_pool2d(pg.zeros(1, 1, 4, 4, dtype=pg.int64), 3, 2, 1), TypeError),
    (lambda: F.max_pool2d(pg.zeros(1, 1, 4, 4), 0, 2, 0), ValueError),
    (lambda: F.max_pool2d(pg.zeros(1, 1, 4, 4), 3, 0, 1), ValueError),
    (lambda: F.max_pool2d(pg.zeros(1, 1, 4, 4), 2**62, 2, 0), ValueError),
    (lambda: F.max_pool2d(pg.zeros(1, 1, 4, 4), 3, 2**62, 1), ValueError),
])
def test_max_pool_bad_arguments_raise(call, exc) -> None:
    with pytest.raises(exc, match="max_pool2d"):
        call()


# ---------------------------------------------------------------- avg_pool2d's fast paths ----
# the same-size stride-1 average in one AVX-512 pass (odd kernels up to 15, padding k // 2), the whole-plane
# average in AVX2 (rows of a multiple of 8 columns, 16 or more), 2x2/2 in one pass, and their transposes (the
# backward), with large outputs streamed out; sums in float64 are the oracle, within the rounding bound


def np_avg_pool(x, g, k, s, p, ceil, include_pad, divisor):
    """y = avg_pool2d(x) and dx for the upstream g, in float64."""
    n, c, h, w = x.shape
    oh, ow = _out(h, k[0], s[0], p[0], 1, ceil), _out(w, k[1], s[1], p[1], 1, ceil)

    def counts(o, kk, ss, pp, size):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, size + pp)
        lo, hi = np.maximum(start, 0), np.minimum(end, size)
        return (end - start) if include_pad else (hi - lo)

    div = np.full((oh, ow), float(divisor)) if divisor else \
        counts(oh, k[0], s[0], p[0], h)[:, None] * counts(ow, k[1], s[1], p[1], w)[None, :].astype(np.float64)
    x64 = x.astype(np.float64)
    y = np.zeros((n, c, oh, ow))
    scale = np.zeros((n, c, oh, ow))
    gd = g.astype(np.float64) / div
    dx = np.zeros((n, c, h, w))
    for i in range(k[0]):
        iy = np.arange(oh) * s[0] - p[0] + i
        for j in range(k[1]):
            ix = np.arange(ow) * s[1] - p[1] + j
            ok = ((iy >= 0) & (iy < h))[:, None] & ((ix >= 0) & (ix < w))[None, :]
            v = x64[:, :, np.clip(iy, 0, h - 1)[:, None], np.clip(ix, 0, w - 1)[None, :]]
            y += np.where(ok, v, 0.0)
            scale += np.where(ok, np.abs(v), 0.0)
            a, b = np.nonzero(ok)
            np.add.at(dx, (slice(None), slice(None), iy[a], ix[b]), gd[:, :, a, b])
    return y / div, scale / div, dx


def check_avg(x, k, s, p, ceil=False, include_pad=True, divisor=None, planes=None):
    n, c, h, w = x.shape
    oh, ow = _out(h, k[0], s[0], p[0], 1, ceil), _out(w, k[1], s[1], p[1], 1, ceil)
    g = np.random.default_rng(1).standard_normal((n, c, oh, ow)).astype(x.dtype)
    sel = (slice(None),) if planes is None else planes
    xs = x if planes is None else x[sel][None]
    gs = g if planes is None else g[sel][None]
    want_y, scale, want_dx = np_avg_pool(xs, gs, k, s, p, ceil, include_pad, divisor)
    eps = 2e-6 * (k[0] * k[1]) ** 0.5 * 4 if x.dtype == np.float32 else 1e-14 * k[0] * k[1]
    got = []
    for threads in (1, 2):
        pg.set_num_threads(threads)
        X = pg.tensor(x, requires_grad=True)
        y = F.avg_pool2d(X, k, s, p, ceil, include_pad, divisor)
        y.backward(pg.tensor(g))
        ry, rdx = y.numpy(), X.grad.numpy()
        got.append((ry, rdx))
        if planes is not None:
            ry, rdx = ry[sel][None], rdx[sel][None]
        tag = f"{x.dtype} {x.shape} k={k} s={s} p={p} ceil={ceil} include_pad={include_pad} divisor={divisor}"
        bad = ~(np.abs(ry - want_y) <= eps * (scale + 1e-30))
        assert not bad.any(), f"y {tag}: {int(bad.sum())} off, first {np.argwhere(bad)[0]}"
        gscale = np.abs(want_dx) + np.abs(g).max() / max(1.0, float(np.min(divisor or 1)))
        bad = ~(np.abs(rdx - want_dx) <= eps * gscale * 4)
        assert not bad.any(), f"dx {tag}: {int(bad.sum())} off, first {np.argwhere(bad)[0]}"
    for a, b in zip(got[0], got[1]):
        assert a.tobytes() == b.tobytes(), "1 and 2 threads differ"


@st.composite
def avg_cases(draw):
    kind = draw(st.sampled_from(["same", "same", "plane", "22", "other"]))
    h = draw(st.sampled_from([1, 2, 3, 7, 8, 15, 16, 17, 32]))
    w = draw(st.sampled_from([1, 2, 7, 8, 15, 16, 17, 24, 31, 32, 33, 48, 64, 65]))
    if kind == "same":
        k = (draw(st.sampled_from([1, 3, 5, 7, 15])), draw(st.sampled_from([1, 3, 5, 9, 15])))
        s, p = (1, 1), (k[0] // 2, k[1] // 2)
    elif kind == "plane":
        k, s, p = (h, w), (1, 1), (0, 0)
    elif kind == "22":
        h, w = max(h, 2), max(w, 2)
        k, s, p = (2, 2), (2, 2), (0, 0)
    else:
        k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
        h, w = max(h, k[0]), max(w, k[1])
    dtype = draw(st.sampled_from([np.float32, np.float32, np.float64]))
    nc = draw(st.sampled_from([(1, 1), (2, 3), (1, 5)]))
    x = np.random.default_rng(draw(st.integers(0, 2**31 - 1))).standard_normal(nc + (h, w)).astype(dtype)
    return (x, k, s, p, draw(st.booleans()) if kind == "other" else False, draw(st.booleans()),
            draw(st.sampled_from([None, None, 1, 7])))


@fuzz(avg_cases())
def test_avg_pool_fast_paths_match_numpy(case) -> None:
    check_avg(*case)


@pytest.mark.parametrize("k,p,shape", [
    ((5, 3), (2, 1), (4, 300, 62, 62)),   # the same-size average streamed out (>= 16 MiB), planes of 62 x 62
    ((2, 2), (0, 0), (4, 512, 62, 62)),   # 2x2/2 and its transpose, large
])
def test_avg_pool_large_outputs(k, p, shape) -> None:
    rng = np.random.default_rng(17)
    x = rng.standard_normal(shape).astype(np.float32)
    n, c = shape[:2]
    pn, pc = rng.integers(0, n, size=16), rng.integers(0, c, size=16)
    s = (2, 2) if k == (2, 2) else (1, 1)
    check_avg(x, k, s, p, planes=(np.r_[pn, 0, n - 1], np.r_[pc, 0, c - 1]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hw", [(1, 16), (7, 16), (8, 24), (33, 64), (5, 15), (4, 17)])
def test_adaptive_average_of_whole_planes(dtype, hw) -> None:
    """adaptive_avg_pool2d to 1 x 1 (the AVX2 whole-plane sum for rows of a multiple of 8 columns): the
    plane's mean, and the gradient 1 / (H W) everywhere."""
    rng = np.random.default_rng(hw[0] * 100 + hw[1])
    x = rng.standard_normal((3, 9) + hw).astype(dtype)
    X = pg.tensor(x, requires_grad=True)
    y = F.adaptive_avg_pool2d(X, 1)
    y.backward(pg.ones(*y.shape, dtype=X.dtype))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y.numpy()[..., 0, 0], x.astype(np.float64).mean(axis=(2, 3)), rtol=tol * 10,
                               atol=tol * np.abs(x).max() * 10)
    np.testing.assert_allclose(X.grad.numpy(), np.full(x.shape, 1.0 / (hw[0] * hw[1])), rtol=tol)
