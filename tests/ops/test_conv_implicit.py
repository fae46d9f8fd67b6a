"""The float32 implicit-GEMM path of conv2d (stride 1, dilation 1, one group, small images, AVX-512
CPUs; elsewhere these cases run the GEMM path and must pass alike): y, dx and dw against the same
convolution in float64 on the C engine and against the reference engine, around the tile widths
(16 pixels, 8 result channels, 8 x 3 weight tiles; 3 x 3 weight gradients by 32 result channels,
the last 16 by 1 to 3 input channels, blocks of several images or of a few rows of one; the direct
3 x 3 convolution's 8-pixel tiles and source channel blocks; the masked loads straight from the
tensors of few input channels: rows as wide as the input's, 8 result channels and the rest, units of
images and a last partial vector of an image; the weight gradient of few input channels from
copies of the images and gy as it lies; few result channels by tiles of rows), with and
without padding and bias, N = 1, NaN propagation, and bit-identical results at 1 and 2 threads."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref

CASES = [
    # (N, C, O, H, W, KH, KW, padding, bias)
    (1, 1, 1, 1, 1, 1, 1, 0, False),
    (1, 3, 5, 7, 9, 3, 3, 1, True),
    (2, 16, 32, 8, 8, 3, 3, 1, False),
    (3, 17, 19, 5, 6, 3, 3, 0, True),
    (2, 1, 16, 8, 8, 3, 3, 1, True),
    (4, 16, 32, 4, 4, 3, 3, 1, False),
    (1, 5, 9, 17, 33, 3, 3, "same", False),
    (2, 4, 8, 16, 16, 5, 5, 2, True),
    (2, 3, 7, 10, 12, 1, 1, 0, False),
    (1, 2, 2, 3, 3, 3, 3, 2, False),
    (2, 9, 15, 4, 5, 2, 3, (1, 0), True),
    (1, 8, 8, 32, 32, 3, 3, 1, False),
    (3, 5, 12, 16, 16, 3, 3, 1, True),
    (2, 3, 10, 20, 13, 3, 3, 0, False),
    (5, 7, 6, 2, 8, 3, 3, "same", True),
    (1, 3, 4, 64, 15, 3, 3, 1, False),
    # the 3 x 3 weight gradient's tiles: 32 result channels by one input channel, the last 16 by 1 to 3
    (3, 5, 40, 6, 7, 3, 3, (2, 0), False),
    (2, 4, 19, 9, 9, 3, 3, 1, True),
    (40, 2, 48, 4, 4, 3, 3, 1, False),
    (2, 3, 64, 33, 20, 3, 3, 1, False),
    (2, 7, 16, 40, 40, 3, 3, 0, False),
    # the direct 3 x 3 convolution of y (up to 8 x 8) and dx: 32 result channels by a row of 8 or two rows
    # of 4 pixels, the last 16 by two rows or four; padding 0 to 2; 16 source channels a block
    (2, 20, 24, 8, 16, 3, 3, 1, True),
    (2, 24, 40, 4, 4, 3, 3, 1, False),
    (3, 40, 17, 8, 8, 3, 3, (2, 1), False),
    (2, 16, 16, 8, 8, 3, 3, 0, True),
    (2, 33, 48, 8, 8, 3, 3, 1, False),
    # few input channels read in place through masked loads (rows of the result as wide as the input's):
    # result channels 8 at a time and the rest, batches not a whole number of units, images whose pixels
    # are not a whole number of vectors, kernels other than 3 x 3, heights that differ; dx of 4 x 4 images
    (7, 1, 13, 8, 8, 3, 3, 1, True),
    (13, 3, 33, 5, 5, 3, 3, 1, False),
    (3, 2, 7, 6, 11, 3, 5, (1, 2), False),
    (2, 4, 9, 9, 7, 5, 3, (0, 1), True),
    (30, 1, 16, 4, 4, 3, 3, 1, False),
    (3, 20, 6, 4, 4, 3, 3, 1, True),
    (2, 3, 32, 32, 32, 3, 3, 1, False),
    # the weight gradient of few input channels on images of 256 pixels or more, from the images' copies and
    # gy as it lies: result channels 8 at a time and the rest, a last partial vector, blocks of 64 vectors
    # and a short last one, a result narrower than the input, taps not a whole number of threes
    (2, 3, 13, 17, 17, 3, 3, 1, True),
    (3, 2, 21, 20, 30, 3, 3, 0, False),
    (2, 1, 10, 40, 40, 3, 3, 1, False),
    (2, 1, 5, 20, 20, 2, 2, 1, False),
    # few result channels by rows (y of at most 4 output channels, dx of at most 4 input channels, result
    # rows of whole vectors): 1 to 4 channels, a last row tile cut short, images lower than a tile,
    # padding 0 to 2, source channels in more than one pass
    (2, 3, 8, 16, 32, 3, 3, 1, True),
    (3, 2, 4, 13, 18, 3, 3, (2, 0), False),
    (2, 4, 6, 7, 48, 3, 3, 0, True),
    (1, 2, 2, 3, 16, 3, 3, 1, False),
    (2, 70, 3, 10, 16, 3, 3, 1, False),
    (2, 1, 1, 9, 64, 3, 3, 1, True),
    # ... and rows of 8, two a vector: dx of 1 and 2 channels, y of 3 and 4, heights 2 to 12, padding 0 to 2
    (3, 1, 16, 8, 8, 3, 3, 1, True),
    (2, 2, 5, 12, 8, 3, 3, 1, False),
    (2, 3, 9, 2, 8, 3, 3, 1, False),
    (3, 5, 4, 10, 8, 3, 3, (0, 1), True),
    (2, 7, 3, 6, 8, 3, 3, (2, 1), False),
]


def _run(engine, x, w, b, padding, v):
    X, W = engine.tensor(x, requires_grad=True), engine.tensor(w, requires_grad=True)
    B = None if b is None else engine.tensor(b, requires_grad=True)
    y = engine.nn.functional.conv2d(X, W, B, padding=padding)
    (y * engine.tensor(v)).sum().backward()
    return y.numpy(), X.grad.numpy(), W.grad.numpy()


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_float32_matches_float64_and_the_reference(case) -> None:
    n, c, o, h, wd, kh, kw, padding, bias = case
    rng = np.random.default_rng(len(str(case)))
    x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
    w = rng.standard_normal((o, c, kh, kw)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32) if bias else None
    y64 = _run(pygrad, x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64),
               padding, np.zeros(1))[0]
    v = rng.standard_normal(y64.shape).astype(np.float32)
    got = _run(pygrad, x, w, b, padding, v)
    want = _run(pygrad, x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64),
                padding, v.astype(np.float64))
    refr = _run(ref, x, w, b, padding, v)
    for g, f, r in zip(got, want, refr):
        assert g.dtype == np.float32 and g.shape == f.shape
        scale = 1e-5 * (np.abs(f).max() + 1) * np.sqrt(c * kh * kw * max(n * h * wd, 1))
        np.testing.assert_allclose(g, f, rtol=1e-5, atol=scale)
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=scale)


@pytest.mark.parametrize("n, c, o, hw", [(37, 16, 32, 16), (70, 16, 32, 8), (45, 24, 40, 4), (70, 1, 16, 8),
                                         (9, 3, 32, 32), (7, 2, 21, 17), (50, 1, 13, 4), (5, 2, 3, 8)])
def test_bit_identical_at_one_and_two_threads(n, c, o, hw) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    w = rng.standard_normal((o, c, 3, 3)).astype(np.float32)
    v = rng.standard_normal((n, o, hw, hw)).astype(np.float32)
    n = pygrad.get_num_threads()
    out = []
    try:
        for t in (1, 2):
            pygrad.set_num_threads(t)
            out.append(_run(pygrad, x, w, None, 1, v))
    finally:
        pygrad.set_num_threads(n)
    for a, b in zip(out[0], out[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("c, o", [(4, 8), (16, 32)])
def test_nan_reaches_exactly_the_outputs_whose_window_holds_it(c, o) -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, c, 8, 8)).astype(np.float32)
    x[1, 2, 3, 5] = np.nan
    w = rng.standard_normal((o, c, 3, 3)).astype(np.float32)
    v = rng.standard_normal((3, o, 8, 8)).astype(np.float32)
    y, dx, dw = _run(pygrad, x, w, None, 1, v)
    bad = np.zeros_like(y, dtype=bool)
    bad[1, :, 2:5, 4:7] = True
    np.testing.assert_array_equal(np.isnan(y), bad)
    assert not np.isnan(dx).any()
    assert np.isnan(dw[:, 2]).all() and not np.isnan(np.delete(dw, 2, axis=1)).any()
    # a NaN in the upstream gradient reaches dx around it, and all of dw
    v2 = v.copy()
    v2[2, 5, 7, 7] = np.nan
    _, dx2, dw2 = _run(pygrad, np.nan_to_num(x), w, None, 1, v2)
    bad = np.zeros_like(dx2, dtype=bool)
    bad[2, :, 6:8, 6:8] = True
    np.testing.assert_array_equal(np.isnan(dx2), bad)
    assert np.isnan(dw2[5]).all() and not np.isnan(np.delete(dw2, 5, axis=0)).any()


def test_nan_reaches_exactly_the_outputs_whose_window_holds_it_by_rows() -> None:
    # y of 4 result channels and dx of 3, rows of 16 pixels: the row tiles' path where it runs
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 8, 16)).astype(np.float32)
    x[1, 2, 3, 5] = np.nan
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    v = rng.standard_normal((2, 4, 8, 16)).astype(np.float32)
    y, dx, _ = _run(pygrad, x, w, None, 1, v)
    bad = np.zeros_like(y, dtype=bool)
    bad[1, :, 2:5, 4:7] = True
    np.testing.assert_array_equal(np.isnan(y), bad)
    assert not np.isnan(dx).any()
    v[0, 1, 7, 15] = np.nan
    _, dx2, _ = _run(pygrad, np.nan_to_num(x), w, None, 1, v)
    bad = np.zeros_like(dx2, dtype=bool)
    bad[0, :, 6:8, 14:16] = True
    np.testing.assert_array_equal(np.isnan(dx2), bad)
