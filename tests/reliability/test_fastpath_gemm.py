"""The GEMM's edge tiles (csrc/gemm.c) against numpy in float64: M, N and K around the AVX-512 tiles
(12 x 32 in float32, 12 x 16 in float64, with 8- and 4-row kernels for the rows past the last whole tile;
the narrow kernels of at most 16 / 8 columns), every product through the public matmul forward and both
backward products (dA = G B^T reads B transposed, dB = A^T G reads A transposed), with operands that
reach it through transposes, 1-d and batched operands, NaN and inf, and 1 and 2 threads giving the same
bits on the products large enough to split.

Tolerance: any order of a length-K dot product is within K u sum|a||b| of the exact value (u the dtype's
unit roundoff), elementwise, so a wrong or missing term fails and rounding does not.
"""

from __future__ import annotations

import numpy as np
import pytest
from _audit import fuzz_with
from hypothesis import strategies as st

import pygrad as pg
from pygrad import _runtime

U = {np.float32: 2.0**-24, np.float64: 2.0**-53}
fuzz = fuzz_with(60)
# sizes at and around the tiles' edges: 4, 8, 12 rows (and their multiples), 16 and 32 columns
EDGE = [0, 1, 3, 4, 5, 7, 8, 11, 12, 13, 16, 17, 23, 24, 25, 28, 31, 32, 33, 36, 37, 47, 48, 49]



@pytest.fixture(autouse=True)
def _restore():
    n = pg.get_num_threads()
    yield
    _runtime._set_gemm_kernel("auto")
    pg.set_num_threads(n)


def _bound_check(got: np.ndarray, a64: np.ndarray, b64: np.ndarray, k: int, dtype, what: str) -> None:
    want = a64 @ b64
    scale = np.abs(a64) @ np.abs(b64)
    assert got.shape == want.shape and got.dtype == dtype, (what, got.shape, want.shape, got.dtype)
    tol = 2.0 * max(k, 1) * U[dtype] * scale + 1e-300
    bad = ~(np.abs(got.astype(np.float64) - want) <= tol)
    if bad.any():
        at = tuple(int(v[0]) for v in np.nonzero(bad))
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} off, first at {at}: got {got[at]!r}, "
                             f"want {want[at]!r}")


def run(a: np.ndarray, b: np.ndarray, g: np.ndarray, ta: bool = False, tb: bool = False):
    """y = op(A) @ op(B) on the C engine (op: a transpose in the graph when ta / tb: then a and b are given
    transposed), and the gradients of sum(y * g) with respect to a and b."""
    A = pg.tensor(a, requires_grad=True)
    B = pg.tensor(b, requires_grad=True)
    y = (A.transpose(-1, -2) if ta else A) @ (B.transpose(-1, -2) if tb else B)
    y.backward(pg.tensor(g))
    return y.numpy().copy(), A.grad.numpy().copy(), B.grad.numpy().copy()


def check_product(m: int, n: int, k: int, dtype, rng, ta=False, tb=False, threads=1) -> tuple:
    pg.set_num_threads(threads)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    g = rng.standard_normal((m, n)).astype(dtype)
    y, da, db = run(a, b, g, ta, tb)
    a64, b64, g64 = (v.astype(np.float64) for v in (a, b, g))
    oa, ob = (a64.T if ta else a64), (b64.T if tb else b64)
    tag = f"{np.dtype(dtype).name} M={m} N={n} K={k} ta={ta} tb={tb} threads={threads}"
    _bound_check(y, oa, ob, k, dtype, f"y {tag}")
    want_da = (g64 @ ob.T).T if ta else g64 @ ob.T
    want_db = (oa.T @ g64).T if tb else oa.T @ g64
    # the backward products: dA = G op(B)^T (length N), dB = op(A)^T G (length M)
    for name, got, want, scale, kk in (
            ("dA", da, want_da, (np.abs(g64) @ np.abs(ob).T).T if ta else np.abs(g64) @ np.abs(ob).T, n),
            ("dB", db, want_db, (np.abs(oa).T @ np.abs(g64)).T if tb else np.abs(oa).T @ np.abs(g64), m)):
        tol = 2.0 * max(kk, 1) * U[dtype] * scale + 1e-300
        assert got.shape == want.shape, (name, tag, got.shape, want.shape)
        bad = ~(np.abs(got.astype(np.float64) - want) <= tol)
        if bad.any():
            at = tuple(int(v[0]) for v in np.nonzero(bad))
            raise AssertionError(f"{name} {tag}: {int(bad.sum())} of {bad.size} off, first at {at}: got {got[at]!r}, "
                                 f"want {want[at]!r}")
    return y, da, db


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_edge_m_and_n(dtype) -> None:
    """Every (M, N) pair of EDGE, K running through EDGE and a few lengths past the K block (256)."""
    rng = np.random.default_rng(1)
    ks = EDGE + [255, 256, 257, 300]
    for i, m in enumerate(EDGE):
        for j, n in enumerate(EDGE):
            k = ks[(7 * i + 3 * j) % len(ks)]
            check_product(m, n, k, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(True, False), (False, True), (True, True)])
def test_transposed_operands_at_the_edges(dtype, ta, tb) -> None:
    rng = np.random.default_rng(2)
    for i, m in enumerate([1, 4, 8, 11, 12, 13, 24, 25, 37]):
        for j, n in enumerate([1, 7, 16, 17, 31, 32, 33, 49]):
            k = [1, 5, 12, 31, 64, 257][(i + 2 * j) % 6]
            check_product(m, n, k, dtype, rng, ta=ta, tb=tb)


@st.composite
def products(draw):
    pick = st.sampled_from(EDGE[1:] + [60, 61, 64, 65, 95, 96, 97, 241])
    return (draw(pick), draw(pick), draw(st.sampled_from(EDGE + [100, 255, 256, 257, 511, 600])),
            draw(st.sampled_from([np.float32, np.float64])), draw(st.booleans()), draw(st.booleans()),
            draw(st.integers(0, 2**31 - 1)))


@fuzz(products())
def test_random_edge_products(case) -> None:
    m, n, k, dtype, ta, tb, s = case
    check_product(m, n, k, dtype, np.random.default_rng(s), ta=ta, tb=tb)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k", [
    (37, 65, 640), (13, 1000, 128), (241, 17, 512), (25, 97, 700), (100, 7, 2500), (12, 128, 1024),
    (260, 260, 400), (4, 33, 12000), (49, 31, 1200),
])
def test_one_and_two_threads_same_bits_at_the_edges(dtype, m, n, k) -> None:
    """Products large enough for two threads (the column chunks, the split, the team), M and N off the
    tiles: within the bound, and the same bits with 1 and 2 threads (forward and both gradients)."""
    r1 = check_product(m, n, k, dtype, np.random.default_rng(m + n + k), threads=1)
    r2 = check_product(m, n, k, dtype, np.random.default_rng(m + n + k), threads=2)
    for name, a, b in zip(("y", "dA", "dB"), r1, r2):
        assert a.tobytes() == b.tobytes(), f"{name}: 1 and 2 threads differ"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_and_one_dimensional_operands(dtype) -> None:
    rng = np.random.default_rng(3)
    for sa, sb in [((3, 13, 7), (7, 33)), ((2, 1, 12, 5), (3, 5, 17)), ((25,), (25, 31)), ((4, 11, 9), (9,)),
                   ((2, 12, 0), (2, 0, 16)), ((0, 5, 4), (4, 3)), ((13,), (13,)), ((5, 8, 32), (5, 32, 8))]:
        a = rng.standard_normal(sa).astype(dtype)
        b = rng.standard_normal(sb).astype(dtype)
        A, B = pg.tensor(a, requires_grad=True), pg.tensor(b, requires_grad=True)
        y = A @ B
        want = np.matmul(a.astype(np.float64), b.astype(np.float64))
        scale = np.matmul(np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64)))
        k = sa[-1]
        assert y.shape == want.shape
        assert np.all(np.abs(y.numpy() - want) <= 2.0 * max(k, 1) * U[dtype] * scale + 1e-300), (sa, sb)
        g = rng.standard_normal(want.shape).astype(dtype)
        y.backward(pg.tensor(g))
        # the gradients against numpy's, through the same broadcasting
        ga = np.matmul(g.astype(np.float64)[..., None] if b.ndim == 1 else g.astype(np.float64),
                       (b.astype(np.float64)[None, :] if b.ndim == 1 else np.swapaxes(b.astype(np.float64), -1, -2)))
        if a.ndim == 1:
            ga = ga.reshape(-1, a.shape[0]).sum(axis=0) if ga.ndim > 1 else ga
        while ga.ndim > a.ndim:
            ga = ga.sum(axis=0)
        for d in range(a.ndim):
            if a.shape[d] == 1 and ga.shape[d] != 1:
                ga = ga.sum(axis=d, keepdims=True)
        np.testing.assert_allclose(A.grad.numpy(), ga.reshape(a.shape), rtol=1e-4 if dtype == np.float32 else 1e-11,
                                   atol=1e-4 if dtype == np.float32 else 1e-11, err_msg=f"{sa} {sb}")
        assert B.grad.shape == b.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k", [(13, 33, 40), (12, 32, 17), (25, 17, 300), (8, 16, 5), (4, 47, 64)])
def test_nan_and_inf_reach_exactly_their_rows_and_columns(dtype, m, n, k) -> None:
    """A NaN in A's row i and an inf in B's column j: y is NaN in row i, inf (or NaN where an inf meets the
    NaN or a zero) in column j, finite elsewhere; in the edge tiles as in whole ones."""
    rng = np.random.default_rng(m * n + k)
    a = (rng.integers(1, 4, (m, k)) * rng.choice([-1, 1], (m, k))).astype(dtype)
    b = rng.integers(1, 4, (k, n)).astype(dtype)
    i, j = m - 1, n - 1  # the last row and column: inside the edge tiles when M, N are not multiples
    a[i, k // 2] = np.nan
    b[k // 3, j] = np.inf
    want = a.astype(np.float64) @ b.astype(np.float64)
    for threads in (1, 2):
        pg.set_num_threads(threads)
        y = (pg.tensor(a) @ pg.tensor(b)).numpy()
        np.testing.assert_array_equal(np.isnan(y), np.isnan(want), err_msg=f"NaN pattern, threads={threads}")
        np.testing.assert_array_equal(np.isinf(y) & (y > 0), np.isinf(want) & (want > 0), err_msg="+inf pattern")
        np.testing.assert_array_equal(np.isinf(y) & (y < 0), np.isinf(want) & (want < 0), err_msg="-inf pattern")


@pytest.mark.parametrize("kernel", ["naive", "generic", "avx2", "avx512"])
def test_every_kernel_at_the_edges(kernel) -> None:
    try:
        _runtime._set_gemm_kernel(kernel)
    except ValueError:
        pytest.skip(f"this CPU cannot run the {kernel} kernel")
    rng = np.random.default_rng(4)
    for dtype in (np.float32, np.float64):
        for m, n, k in [(11, 33, 9), (12, 32, 256), (13, 16, 257), (4, 17, 31), (8, 8, 8), (25, 49, 100),
                        (1, 31, 600), (37, 1, 600)]:
            check_product(m, n, k, dtype, rng)
            check_product(m, n, k, dtype, rng, ta=True, tb=True)


def test_bad_matmul_arguments_raise() -> None:
    with pytest.raises(ValueError, match="matmul"):
        pg.ones(3, 4) @ pg.ones(5, 6)
    with pytest.raises(ValueError, match="matmul"):
        pg.ones(2, 3, 4) @ pg.ones(3, 4, 5)
    with pytest.raises((ValueError, TypeError), match="matmul"):
        pg.tensor(1.0) @ pg.ones(3)
