"""The blocked GEMM kernels (csrc/gemm.c) against the naive kernel and numpy.

Every kernel this CPU runs (AVX-512, AVX2+FMA, portable C) is forced in turn
through the public matmul, forward and backward, in float32 and float64, with
one and two threads. The backward is where the transposed operands come from:
forward runs op(A) op(B) with neither transposed, dA = G B^T transposes B,
dB = A^T G transposes A; the packing routines read each operand through its
own flag, so these three products exercise every packing path.

Oracles: the naive kernel (``_set_gemm_kernel("naive")``), and numpy in
float64. Any summation order of a length-K dot product is within
``K u sum_p |a_ip b_pj|`` of the exact value (u: the unit roundoff of the
dtype), so two kernels are within twice that of each other: the tolerance is
that bound, elementwise.
"""

from __future__ import annotations

import numpy as np
import pytest

import pygrad as pg
from pygrad import _runtime

KERNELS = []
for _name in ("avx512", "avx2", "generic"):
    try:
        _runtime._set_gemm_kernel(_name)
    except ValueError:
        continue
    KERNELS.append(_name)
_runtime._set_gemm_kernel("auto")

UNIT_ROUNDOFF = {np.float32: 2.0**-24, np.float64: 2.0**-53}

# (M, K, N): 1s, primes, odd sizes, sizes off the SIMD widths (8, 16, 32) and
# the micro-tile (8 x 32), more than one K block (256), M block (240) and
# N block (4096), both sides of the 512 multiply-add small-product cutoff;
# products of at most 16 columns (the narrow kernels, forward and in either
# gradient), K and M split into several even blocks (K 520, 600, 784; M 481)
SHAPES = [
    (1, 1, 1), (1, 7, 1), (7, 1, 5), (2, 3, 5), (7, 8, 9), (8, 8, 8), (9, 9, 9), (13, 17, 19),
    (31, 33, 35), (64, 64, 64), (1, 300, 1), (1, 257, 129), (129, 257, 1), (100, 1, 100), (33, 512, 65),
    (127, 129, 131), (257, 31, 263), (300, 257, 129), (5, 1000, 7), (64, 784, 10), (9, 8, 4133),
    (1, 2000, 3001), (3001, 2000, 1), (1, 17, 700), (700, 17, 1),
    (16, 16, 16), (17, 31, 2), (250, 520, 16), (300, 600, 10), (40, 513, 12), (33, 9, 300), (520, 3, 257),
    (481, 70, 33), (256, 784, 10),
]


@pytest.fixture(autouse=True)
def _restore():
    threads = pg.get_num_threads()
    yield
    _runtime._set_gemm_kernel("auto")
    pg.set_num_threads(threads)


def _run(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y = a @ b and the gradients of sum(y * g)."""
    x = pg.tensor(a, requires_grad=True)
    w = pg.tensor(b, requires_grad=True)
    y = x @ w
    (y * pg.tensor(g)).sum().backward()
    return y.numpy().copy(), x.grad.numpy().copy(), w.grad.numpy().copy()


def _exact(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(value, error scale) of each output in float64: the product, and the same
    product of absolute values (the scale of any summation order's error)."""
    a64, b64, g64 = (v.astype(np.float64) for v in (a, b, g))
    # numpy's 1-d promotion: (k) as a is (1, k), as b is (k, 1); g gets the dims back
    a2 = a64[None, :] if a.ndim == 1 else a64
    b2 = b64[:, None] if b.ndim == 1 else b64
    g2 = g64
    if a.ndim == 1:
        g2 = np.expand_dims(g2, -2 if b.ndim > 1 else 0)
    if b.ndim == 1:
        g2 = np.expand_dims(g2, -1)

    def mm(x: np.ndarray, y: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        return _sum_to(np.matmul(x, y), shape), _sum_to(np.matmul(np.abs(x), np.abs(y)), shape)

    da, sa = mm(g2, np.swapaxes(b2, -1, -2), a2.shape)
    db, sb = mm(np.swapaxes(a2, -1, -2), g2, b2.shape)
    y, sy = np.matmul(a64, b64), np.matmul(np.abs(a64), np.abs(b64))
    return (y, sy), (da.reshape(a.shape), sa.reshape(a.shape)), (db.reshape(b.shape), sb.reshape(b.shape))


def _sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum broadcast batch dims of x back to shape."""
    while x.ndim > len(shape):
        x = x.sum(axis=0)
    for d, s in enumerate(shape):
        if s == 1 and x.shape[d] != 1:
            x = x.sum(axis=d, keepdims=True)
    return x


def _reduction_lengths(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """K of the forward product and of the two backward products (batch sums included)."""
    m = 1 if a.ndim == 1 else a.shape[-2]
    k = a.shape[-1]
    n = 1 if b.ndim == 1 else b.shape[-1]
    batch = int(np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))) if a.ndim > 2 or b.ndim > 2 else 1
    return k, n * batch, m * batch


def _inputs(rng: np.random.Generator, sa, sb, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    out = np.matmul(np.zeros(sa), np.zeros(sb)).shape
    g = rng.standard_normal(out).astype(dtype)
    return a, b, g


def _check(got, want, exact, ks, dtype, what: str) -> None:
    u = UNIT_ROUNDOFF[dtype]
    for name, h, w, (value, scale), k in zip(("out", "grad a", "grad b"), got, want, exact, ks):
        tol = 2.0 * max(k, 1) * u * scale + 1e-300
        assert h.dtype == dtype and h.shape == w.shape, f"{what} {name}"
        # against the naive kernel: both within K u |A||B| of the exact value
        bad = np.abs(h.astype(np.float64) - w.astype(np.float64)) > 2 * tol
        assert not bad.any(), f"{what} {name}: {np.argwhere(bad)[:5]} differ from the naive kernel"
        # against numpy float64 (the exact product of the same inputs, up to u64)
        bad = np.abs(h.astype(np.float64) - value) > tol + 1e-12 * scale
        assert not bad.any(), f"{what} {name}: {np.argwhere(bad)[:5]} differ from numpy float64"


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_matches_naive_2d(rng, kernel, dtype, threads):
    pg.set_num_threads(threads)
    for m, k, n in SHAPES:
        a, b, g = _inputs(rng, (m, k), (k, n), dtype)
        _runtime._set_gemm_kernel("naive")
        want = _run(a, b, g)
        _runtime._set_gemm_kernel(kernel)
        got = _run(a, b, g)
        _check(got, want, _exact(a, b, g), _reduction_lengths(a, b), dtype, f"{kernel} ({m},{k})@({k},{n})")


BATCHED = [
    ((3, 17, 33), (33, 29)),
    ((33, 29), (3, 29, 17)),
    ((2, 1, 40, 50), (3, 50, 30)),
    ((4, 65, 70), (4, 70, 9)),
    ((300,), (300, 41)),
    ((41, 300), (300,)),
    ((5, 41, 300), (300,)),
    ((257,), (257,)),
    ((2, 1, 40, 50), (3, 50, 10)),
    ((3, 70, 12), (12, 9)),
    ((2, 300, 270), (1, 270, 7)),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_matches_naive_batched(rng, kernel, dtype, threads):
    pg.set_num_threads(threads)
    for sa, sb in BATCHED:
        a, b, g = _inputs(rng, sa, sb, dtype)
        _runtime._set_gemm_kernel("naive")
        want = _run(a, b, g)
        _runtime._set_gemm_kernel(kernel)
        got = _run(a, b, g)
        _check(got, want, _exact(a, b, g), _reduction_lengths(a, b), dtype, f"{kernel} {sa}@{sb}")


@pytest.mark.parametrize("kernel", KERNELS)
def test_empty_reduction_gives_zeros(kernel):
    _runtime._set_gemm_kernel(kernel)
    for dtype in (pg.float32, pg.float64):
        y = pg.ones(40, 0, dtype=dtype) @ pg.ones(0, 50, dtype=dtype)
        assert y.shape == (40, 50)
        np.testing.assert_array_equal(y.numpy(), np.zeros((40, 50)))


@pytest.mark.parametrize("kernel", KERNELS)
def test_inf_and_nan_propagate_like_the_naive_kernel(rng, kernel):
    a = rng.standard_normal((37, 45))
    b = rng.standard_normal((45, 53))
    a[3, 7] = np.inf
    a[20, 1] = np.nan
    b[44, 50] = -np.inf
    _runtime._set_gemm_kernel("naive")
    want = (pg.tensor(a) @ pg.tensor(b)).numpy().copy()
    _runtime._set_gemm_kernel(kernel)
    got = (pg.tensor(a) @ pg.tensor(b)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)


def test_kernel_setting():
    assert _runtime._gemm_kernel() in ("avx512", "avx2", "generic")
    _runtime._set_gemm_kernel("naive")
    assert _runtime._gemm_kernel() == "naive"
    _runtime._set_gemm_kernel("auto")
    assert _runtime._gemm_kernel() == KERNELS[0]
    with pytest.raises(ValueError, match='set_gemm_kernel: unknown kernel "fast"'):
        _runtime._set_gemm_kernel("fast")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_small_products_in_place_give_the_packed_bits(rng, kernel, dtype):
    """Small untransposed products run their tiles over the operands in place; the same product
    through a transposed operand (a backward, dX = G W^T) packs both. Same bits, 1 and 2 threads."""
    _runtime._set_gemm_kernel(kernel)
    for m, k, n in [(64, 64, 64), (8, 8, 32), (31, 33, 35), (9, 200, 70), (100, 100, 100), (127, 129, 131),
                    (128, 128, 128), (17, 256, 40), (5, 3, 90)]:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        c = rng.standard_normal((m, n)).astype(dtype)
        for threads in (1, 2):
            pg.set_num_threads(threads)
            direct = (pg.tensor(a) @ pg.tensor(b)).numpy()
            x = pg.tensor(c, requires_grad=True)
            (x @ pg.tensor(np.ascontiguousarray(b.T)) * pg.tensor(a)).sum().backward()
            np.testing.assert_array_equal(direct, x.grad.numpy(), err_msg=f"{kernel} ({m},{k})@({k},{n}) {threads}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_one_and_two_threads_give_the_same_bits(rng, kernel, dtype):
    """Products large enough for each multi-threaded driver (column chunks over a private packed A,
    the team's blocked driver with one row group and with two, the split into chunks), forward and
    backward (dX = G W^T, dW = X^T G): every element is computed alike whatever the team size."""
    _runtime._set_gemm_kernel(kernel)
    shapes = [(256, 784, 512), (256, 512, 10), (200, 300, 500), (1500, 600, 300), (1000, 333, 1000), (128, 300, 129)]
    if kernel == KERNELS[0] and dtype == np.float32:  # more columns than one N block (4096): slow on the others
        shapes.append((600, 560, 4200))
    for m, k, n in shapes:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        g = rng.standard_normal((m, n)).astype(dtype)
        got = []
        for threads in (1, 2):
            pg.set_num_threads(threads)
            got.append(_run(a, b, g))
        for name, one, two in zip(("out", "grad a", "grad b"), *got):
            np.testing.assert_array_equal(one, two, err_msg=f"{kernel} ({m},{k})@({k},{n}) {name}")
