"""Adversarial tests of conv2d's few-channel fast paths (csrc/ops_conv.c) against float64 numpy.

The paths under test, each chosen by the geometry alone (float32 on AVX-512; float64 and the other CPUs
take the GEMM path, which must agree alike):

- y and dx of at most 4 result channels by tiles of rows (pg__cvr_run: 3x3, stride 1, padding 0 to 2,
  rows of whole vectors or 8 x 8 images);
- the masked loads straight from the tensors of few input channels (pg__cvs_run: rows as wide as the
  input's);
- dw of at most 4 input channels on images of 256 pixels or more through the implicit path (pg__cvi_run);
- and everything next to them: strides, dilations, groups, bias, 1 x 1 and 8 x 8 images, batch 1,
  channels 1 to 5, images 15 to 65 pixels wide.

Random stride / padding / dilation / groups / bias combinations near those thresholds; y, dx, dw and
the bias's gradient (with a random upstream) against a float64 numpy convolution, within a bound
scaled by the same sums over absolute values (so a wrong index or a missing tap fails, rounding does
not); and the same bits with 1 and 2 threads. The numpy convolution is checked against the reference
engine on a few cases.
"""

from __future__ import annotations

import numpy as np
import pytest
from _audit import fuzz_with, restore_threads  # noqa: F401  (restore_threads: an autouse fixture)
from hypothesis import strategies as st

import pygrad as pg
import pygrad.reference as ref

F = pg.nn.functional
fuzz = fuzz_with(60)




def _taps(x, kh, kw, s, d, oh, ow):
    """(i, j, the (N, C, OH, OW) view of the padded x that tap (i, j) reads)."""
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, :, i * d[0]: i * d[0] + s[0] * (oh - 1) + 1: s[0],
                          j * d[1]: j * d[1] + s[1] * (ow - 1) + 1: s[1]]


def np_conv(x, w, g, s, pads, d, groups):
    """y, dx, dw of conv2d in float64 (pads: (top, bottom, left, right)), g the upstream of y."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
    oh = (h + pads[0] + pads[1] - d[0] * (kh - 1) - 1) // s[0] + 1
    ow = (wd + pads[2] + pads[3] - d[1] * (kw - 1) - 1) // s[1] + 1
    y = np.zeros((n, o, oh, ow))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for k in range(groups):
        cs, os_ = slice(k * cg, (k + 1) * cg), slice(k * og, (k + 1) * og)
        big = x.size * og > 10**6  # BLAS through einsum's optimizer: only worth its planning on large products
        for i, j, v in _taps(xp[:, cs], kh, kw, s, d, oh, ow):
            y[:, os_] += np.einsum("nchw,oc->nohw", v, w[os_, :, i, j], optimize=big)
            dw[os_, :, i, j] += np.einsum("nohw,nchw->oc", g[:, os_], v, optimize=big)
            dxp[:, cs, i * d[0]: i * d[0] + s[0] * (oh - 1) + 1: s[0],
                j * d[1]: j * d[1] + s[1] * (ow - 1) + 1: s[1]] += np.einsum("nohw,oc->nchw", g[:, os_],
                                                                            w[os_, :, i, j], optimize=big)
    dx = dxp[:, :, pads[0]: pads[0] + h, pads[2]: pads[2] + wd]
    return y, dx, dw


def _pads(padding, k, d):
    if padding == "same":
        out = []
        for kk, dd in zip(k, d):
            t = dd * (kk - 1)
            out += [t // 2, t - t // 2]
        return out
    p = padding if isinstance(padding, tuple) else (padding, padding)
    return [p[0], p[0], p[1], p[1]]


def run_c(x, w, b, g, s, padding, d, groups, threads):
    pg.set_num_threads(threads)
    X, W = pg.tensor(x, requires_grad=True), pg.tensor(w, requires_grad=True)
    B = pg.tensor(b, requires_grad=True) if b is not None else None
    y = F.conv2d(X, W, B, stride=s, padding=padding, dilation=d, groups=groups)
    y.backward(pg.tensor(g))
    return y.numpy(), X.grad.numpy(), W.grad.numpy(), (B.grad.numpy() if B is not None else None)


def check(x, w, b, s, padding, d, groups, seed_=0) -> None:
    dt = x.dtype
    pads = _pads(padding, w.shape[2:], d)
    n, c, h, wd = x.shape
    oh = (h + pads[0] + pads[1] - d[0] * (w.shape[2] - 1) - 1) // s[0] + 1
    ow = (wd + pads[2] + pads[3] - d[1] * (w.shape[3] - 1) - 1) // s[1] + 1
    g = np.random.default_rng(seed_).standard_normal((n, w.shape[0], oh, ow)).astype(dt)
    x64, w64, g64 = x.astype(np.float64), w.astype(np.float64), g.astype(np.float64)
    y, dx, dw = np_conv(x64, w64, g64, s, pads, d, groups)
    if b is not None:
        y = y + b.astype(np.float64)[None, :, None, None]
    # the same sums over absolute values: a bound on each result's rounding error
    ay, adx, adw = np_conv(np.abs(x64), np.abs(w64), np.abs(g64), s, pads, d, groups)
    if b is not None:
        ay = ay + np.abs(b.astype(np.float64))[None, :, None, None]
    eps = 2e-6 if dt == np.float32 else 1e-14
    got = []
    for threads in (1, 2):
        r = run_c(x, w, b, g, s, padding, d, groups, threads)
        tag = f"{dt.__name__ if hasattr(dt, '__name__') else dt} x{x.shape} w{w.shape} s={s} p={padding} d={d} " \
              f"g={groups} bias={b is not None} threads={threads}"
        for name, v, want, scale in (("y", r[0], y, ay), ("dx", r[1], dx, adx), ("dw", r[2], dw, adw)):
            assert v.dtype == dt and v.shape == want.shape, (name, tag, v.shape, want.shape)
            err = np.abs(v - want)
            bad = ~(err <= eps * (scale + 1.0) * max(8, np.prod(w.shape[1:])) ** 0.5 * 4)
            if bad.any():
                at = tuple(int(a[0]) for a in np.nonzero(bad))
                raise AssertionError(f"{name} {tag}: {int(bad.sum())} of {bad.size} off, first at {at}: got {v[at]!r} "
                                     f"want {want[at]!r}")
        if b is not None:
            np.testing.assert_allclose(r[3], g64.sum(axis=(0, 2, 3)), rtol=1e-5 if dt == np.float32 else 1e-12,
                                       atol=1e-4 if dt == np.float32 else 1e-12, err_msg=f"dbias {tag}")
        got.append(r)
    for a, bb, name in zip(got[0], got[1], ("y", "dx", "dw", "dbias")):  # 1 and 2 threads: the same bits
        if a is not None:
            assert a.tobytes() == bb.tobytes(), f"{name}: 1 and 2 threads differ"


def test_the_oracle_agrees_with_the_reference_engine() -> None:
    rng = np.random.default_rng(2)
    for (n, c, o, h, w, k, s, p, d, groups) in [(2, 4, 6, 9, 8, (3, 2), (2, 1), (1, 0), (1, 2), 2),
                                                 (1, 3, 3, 7, 7, (3, 3), (1, 1), "same", (2, 1), 3),
                                                 (2, 2, 4, 5, 6, (1, 1), (3, 2), 0, (1, 1), 1)]:
        x = rng.standard_normal((n, c, h, w))
        wt = rng.standard_normal((o, c // groups) + k)
        X, W = ref.tensor(x, requires_grad=True), ref.tensor(wt, requires_grad=True)
        y = ref.nn.functional.conv2d(X, W, stride=s, padding=p, dilation=d, groups=groups)
        g = rng.standard_normal(y.shape)
        y.backward(ref.tensor(g))
        want = np_conv(x, wt, g, s, _pads(p, k, d), d, groups)
        for got, exp in zip((y.numpy(), X.grad.numpy(), W.grad.numpy()), want):
            np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-12)


@st.composite
def few_channel_cases(draw):
    """Near the few-channel paths: 3x3 (mostly), stride 1, dilation 1, one group, channels 1..5, widths
    around the vector multiples, heights odd and even, images from 1 x 1 to 64 x 64."""
    c = draw(st.integers(1, 5))
    o = draw(st.integers(1, 5))
    k = draw(st.sampled_from([(3, 3), (3, 3), (3, 3), (1, 1), (5, 5), (3, 5), (2, 2)]))
    p = draw(st.sampled_from([0, 1, 1, 2, "same", (1, 0), (0, 2)]))
    w = draw(st.sampled_from([1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65]))
    h = draw(st.sampled_from([1, 2, 3, 7, 8, 9, 16, 17, 24, 32]))
    pads = _pads(p, k, (1, 1))
    if h + pads[0] + pads[1] < k[0] or w + pads[2] + pads[3] < k[1]:
        p = "same"
    n = draw(st.sampled_from([1, 1, 2, 3]))
    dtype = draw(st.sampled_from([np.float32, np.float32, np.float32, np.float64]))
    bias = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c) + k).astype(dtype)
    b = rng.standard_normal(o).astype(dtype) if bias else None
    return x, wt, b, (1, 1), p, (1, 1), 1


@fuzz(few_channel_cases())
def test_conv2d_few_channels_match_numpy(case) -> None:
    check(*case)


@st.composite
def mixed_cases(draw):
    """Strides, dilations and groups next to the fast paths' conditions (which need all three 1)."""
    groups = draw(st.sampled_from([1, 1, 2, 3, 4, 5]))
    c = groups * draw(st.integers(1, 2 if groups > 1 else 5))
    o = groups * draw(st.integers(1, 2 if groups > 1 else 5))
    k = draw(st.sampled_from([(3, 3), (1, 1), (2, 3), (3, 1), (5, 5)]))
    s = draw(st.sampled_from([(1, 1), (2, 2), (1, 2), (3, 1)]))
    d = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 3)]))
    h = draw(st.sampled_from([1, 2, 5, 8, 9, 16, 17]))
    w = draw(st.sampled_from([1, 3, 8, 15, 16, 17, 32, 33, 64]))
    p = draw(st.sampled_from([0, 1, 2, (2, 0), (0, 1)]))
    if s == (1, 1) and draw(st.booleans()):
        p = "same"
    pads = _pads(p, k, d)
    if h + pads[0] + pads[1] < d[0] * (k[0] - 1) + 1 or w + pads[2] + pads[3] < d[1] * (k[1] - 1) + 1:
        p, s = "same", (1, 1)
    n = draw(st.sampled_from([1, 2]))
    dtype = draw(st.sampled_from([np.float32, np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c // groups) + k).astype(dtype)
    b = rng.standard_normal(o).astype(dtype) if draw(st.booleans()) else None
    return x, wt, b, s, p, d, groups


@fuzz(mixed_cases())
def test_conv2d_strides_dilations_groups_match_numpy(case) -> None:
    check(*case)


def _close(name: str, got: np.ndarray, want: np.ndarray, scale: np.ndarray, dt, k: int, tag: str) -> None:
    """got within the rounding bound of want (scale: the same sums over absolute values, k terms at most)."""
    eps = 2e-6 if dt == np.float32 else 1e-14
    assert got.dtype == dt and got.shape == want.shape, (name, tag, got.shape, want.shape)
    bad = ~(np.abs(got - want) <= eps * (scale + 1.0) * max(8, k) ** 0.5 * 4)
    if bad.any():
        at = tuple(int(a[0]) for a in np.nonzero(bad))
        raise AssertionError(f"{name} {tag}: {int(bad.sum())} of {bad.size} off, first at {at}: got {got[at]!r} "
                             f"want {want[at]!r}")


@fuzz(st.one_of(few_channel_cases(), mixed_cases()))
def test_conv2d_double_backward_matches_numpy(case) -> None:
    """create_graph=True: gx = conv^T(g, w) and gw = dw(x, g) are themselves the ops conv2d_input_grad and
    conv2d_weight_grad, run forward on the same fast paths (few channels either way), and differentiated
    again: for s = <gx, u> + <gw, v>, ds/dx = conv^T(g, v), ds/dw = dw(u, g), ds/dg = conv(u, w) + conv(x, v)."""
    x, w, _, stride, padding, d, groups = case
    dt = x.dtype
    pads = _pads(padding, w.shape[2:], d)
    n, c, h, wd = x.shape
    oh = (h + pads[0] + pads[1] - d[0] * (w.shape[2] - 1) - 1) // stride[0] + 1
    ow = (wd + pads[2] + pads[3] - d[1] * (w.shape[3] - 1) - 1) // stride[1] + 1
    rng = np.random.default_rng(int(abs(x).sum() * 1000) % 2**31)
    g = rng.standard_normal((n, w.shape[0], oh, ow)).astype(dt)
    u = rng.standard_normal(x.shape).astype(dt)
    v = rng.standard_normal(w.shape).astype(dt)
    X, W, G = (pg.tensor(a, requires_grad=True) for a in (x, w, g))
    y = F.conv2d(X, W, stride=stride, padding=padding, dilation=d, groups=groups)
    gx, gw = pg.autograd.grad(y, [X, W], grad_outputs=[G], create_graph=True)
    ((gx * pg.tensor(u)).sum() + (gw * pg.tensor(v)).sum()).backward()
    f64 = [a.astype(np.float64) for a in (x, w, g, u, v)]
    x64, w64, g64, u64, v64 = f64
    ab = [np.abs(a) for a in f64]
    conv = lambda a, b, gg: np_conv(a, b, gg, stride, pads, d, groups)  # noqa: E731
    tag = f"{np.dtype(dt).name} x{x.shape} w{w.shape} s={stride} p={padding} d={d} g={groups}"
    k = int(np.prod(w.shape[1:])) + int(np.prod(g.shape[1:]))
    _close("gx", gx.numpy(), conv(x64, w64, g64)[1], conv(ab[0], ab[1], ab[2])[1], dt, k, tag)
    _close("gw", gw.numpy(), conv(x64, w64, g64)[2], conv(ab[0], ab[1], ab[2])[2], dt, k, tag)
    _close("ds/dx", X.grad.numpy(), conv(x64, v64, g64)[1], conv(ab[0], ab[4], ab[2])[1], dt, k, tag)
    _close("ds/dw", W.grad.numpy(), conv(u64, w64, g64)[2], conv(ab[3], ab[1], ab[2])[2], dt, k, tag)
    _close("ds/dg", G.grad.numpy(), conv(u64, w64, g64)[0] + conv(x64, v64, g64)[0],
           conv(ab[3], ab[1], ab[2])[0] + conv(ab[0], ab[4], ab[2])[0], dt, k, tag)


@fuzz(st.one_of(few_channel_cases(), mixed_cases()), )
def test_conv_transpose2d_matches_numpy(case) -> None:
    """conv_transpose2d(z, w) is conv2d's input gradient (the op conv2d_input_grad run forward): for a conv2d
    case (x, w), z of y's shape; y_t = conv^T(z, w), and with upstream t of x's shape dz = conv(t, w),
    dw = dw(t, z) (w read as (C_in, C_out/groups, KH, KW))."""
    x, w, b, stride, padding, d, groups = case
    if padding == "same":
        padding = tuple(p // 2 for p in (d[0] * (w.shape[2] - 1), d[1] * (w.shape[3] - 1)))
    p2 = padding if isinstance(padding, tuple) else (padding, padding)
    pads = [p2[0], p2[0], p2[1], p2[1]]
    dt = x.dtype
    n, c, h, wd = x.shape
    oh = (h + 2 * p2[0] - d[0] * (w.shape[2] - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * p2[1] - d[1] * (w.shape[3] - 1) - 1) // stride[1] + 1
    if oh < 1 or ow < 1:
        return
    # the output padding that gives back x's size exactly (smaller than the stride)
    op = (h + 2 * p2[0] - d[0] * (w.shape[2] - 1) - 1 - (oh - 1) * stride[0],
          wd + 2 * p2[1] - d[1] * (w.shape[3] - 1) - 1 - (ow - 1) * stride[1])
    if any(a >= max(ss, dd) for a, ss, dd in zip(op, stride, d)):
        return
    rng = np.random.default_rng(int(abs(w).sum() * 1000) % 2**31)
    z = rng.standard_normal((n, w.shape[0], oh, ow)).astype(dt)
    t = rng.standard_normal(x.shape).astype(dt)
    Z, W = pg.tensor(z, requires_grad=True), pg.tensor(w, requires_grad=True)
    for threads in (1, 2):
        pg.set_num_threads(threads)
        Z.grad = None
        W.grad = None
        y = F.conv_transpose2d(Z, W, stride=stride, padding=p2, output_padding=op, groups=groups, dilation=d)
        y.backward(pg.tensor(t))
        t64, w64, z64 = (a.astype(np.float64) for a in (t, w, z))
        want = np_conv(t64, w64, z64, stride, pads, d, groups)  # (conv(t, w), conv^T(z, w), dw(t, z))
        scale = np_conv(np.abs(t64), np.abs(w64), np.abs(z64), stride, pads, d, groups)
        tag = f"{np.dtype(dt).name} z{z.shape} w{w.shape} s={stride} p={p2} op={op} d={d} g={groups} threads={threads}"
        k = int(np.prod(w.shape[1:])) * 4 + int(np.prod(z.shape[1:]))
        _close("y", y.numpy(), want[1], scale[1], dt, k, tag)
        _close("dz", Z.grad.numpy(), want[0], scale[0], dt, k, tag)
        _close("dw", W.grad.numpy(), want[2], scale[2], dt, k, tag)


# the named thresholds: the row tiles (OW 8, 16, 32, 48, 64; OH even for 8), the implicit dw of few input
# channels from 256 pixels (16 x 16) on, just under it (15 x 17 = 255), and the widest images (64, 65)
@pytest.mark.parametrize("n,c,o,h,w,p", [
    (1, 3, 1, 8, 8, 1), (1, 3, 4, 8, 8, 1), (2, 5, 4, 7, 8, 1), (1, 1, 3, 8, 8, 0), (1, 4, 2, 8, 8, 2),
    (1, 3, 3, 16, 16, 1), (1, 3, 4, 16, 16, 0), (1, 2, 4, 16, 16, 2), (1, 4, 5, 16, 16, 1),
    (2, 1, 3, 15, 17, 1), (1, 4, 8, 16, 16, 1), (1, 5, 8, 16, 16, 1), (1, 4, 6, 17, 15, 1),
    (1, 3, 2, 64, 64, 1), (1, 4, 4, 3, 64, 1), (1, 2, 3, 2, 65, 1), (1, 3, 16, 64, 64, 1),
    (3, 1, 1, 1, 1, 1), (1, 1, 1, 1, 1, 2), (1, 5, 5, 1, 16, 1), (2, 4, 1, 48, 48, 2),
    # more images than dw's slots (4): the slots take the images in turn
    (5, 3, 4, 16, 16, 1), (9, 2, 8, 16, 20, 1), (6, 4, 3, 24, 24, 0), (7, 1, 16, 32, 8, 1),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_thresholds(n, c, o, h, w, p, dtype) -> None:
    rng = np.random.default_rng(n * 1000 + c * 100 + o * 10 + h + w)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    check(x, wt, b, (1, 1), p, (1, 1), 1)


@pytest.mark.parametrize("k", [(1, 1), (1, 2), (1, 3), (2, 2), (1, 5), (2, 3), (1, 7), (3, 3), (3, 4), (1, 13),
                               (5, 5)])
@pytest.mark.parametrize("c,o", [(1, 1), (1, 5), (2, 3), (3, 8), (4, 9), (5, 7)])
def test_conv2d_weight_gradient_tiles_on_large_images(k, c, o) -> None:
    """The weight gradient on images of 256 pixels or more (the implicit path's tiles of result channels by
    taps, the last ones partial: C*KH*KW taps from 1 to 125, O from 1 to 9), float32, 'same' padding."""
    rng = np.random.default_rng(k[0] * 100 + k[1] * 10 + c + o)
    x = rng.standard_normal((2, c, 16, 20)).astype(np.float32)
    wt = rng.standard_normal((o, c) + k).astype(np.float32)
    check(x, wt, None, (1, 1), "same", (1, 1), 1)


@pytest.mark.parametrize("n,c,o,h,w,p", [
    (3, 32, 64, 32, 32, 1),   # dx of 64 -> 32 channels: images' sources of 64 KiB or more, taken ahead
    (3, 64, 16, 32, 32, 2),
    (5, 256, 8, 8, 8, 1),     # y of small images from large sources (256 channels of 8 x 8)
    (2, 40, 33, 16, 16, 0),
])
def test_conv2d_many_channels_direct_path(n, c, o, h, w, p) -> None:
    """The direct 3 x 3 convolution of many channels (y of small images, dx), whose members take their
    next image ahead when the images are large: every image once, the same bits with 1 and 2 threads."""
    rng = np.random.default_rng(c * o + h)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((o, c, 3, 3)).astype(np.float32)
    check(x, wt, None, (1, 1), p, (1, 1), 1)


@pytest.mark.parametrize("special", [np.nan, np.inf])
def test_conv2d_few_channels_propagate_nan_and_inf(special) -> None:
    """A NaN or inf in x reaches exactly the outputs whose windows hold it (and dw of every tap that reads
    it), on the row-tile and masked-load paths as on the GEMM path."""
    for (c, o, h, w) in [(3, 2, 8, 8), (3, 4, 16, 16), (2, 3, 16, 32)]:
        x = np.ones((1, c, h, w), np.float32)
        x[0, 1, 3, 5] = special
        wt = np.ones((o, c, 3, 3), np.float32)
        y = F.conv2d(pg.tensor(x), pg.tensor(wt), padding=1).numpy()
        want = np.zeros((h, w), bool)
        want[2:5, 4:7] = True
        for k in range(o):
            got = ~np.isfinite(y[0, k])
            np.testing.assert_array_equal(got, want, err_msg=f"c={c} o={o} {h}x{w} channel {k}")


@pytest.mark.parametrize("call,exc", [
    (lambda: F.conv2d(pg.zeros(1, 3, 8, 8), pg.zeros(4, 2, 3, 3)), ValueError),           # channels
    (lambda: F.conv2d(pg.zeros(1, 3, 2, 2), pg.zeros(4, 3, 3, 3)), ValueError),           # kernel > input
    (lambda: F.conv2d(pg.zeros(1, 3, 8, 8), pg.zeros(4, 3, 3, 3, dtype=pg.float64)), TypeError),
    (lambda: F.conv2d(pg.zeros(1, 3, 8, 8), pg.zeros(4, 3, 3, 3), groups=2), ValueError),
    (lambda: F.conv2d(pg.zeros(1, 3, 8, 8), pg.zeros(4, 3, 3, 3), stride=0), ValueError),
    (lambda: F.conv2d(pg.zeros(1, 3, 8, 8), pg.zeros(4, 3, 3, 3), padding=-1), ValueError),
    (lambda: F.conv2d(pg.zeros(1, 3, 8, 8), pg.zeros(4, 3, 3, 3), dilation=2**62), ValueError),
    (lambda: F.conv2d(pg.zeros(1, 3, 8, 8), pg.zeros(4, 3, 3, 3), bias=pg.zeros(3)), ValueError),
    (lambda: F.conv2d(pg.zeros(1, 3, 8, 8), pg.zeros(4, 3, 3, 3), stride=2, padding="same"), ValueError),
])
def test_conv2d_bad_arguments_raise(call, exc) -> None:
    with pytest.raises(exc, match="conv2d"):
        call()


def test_conv2d_empty_batch_and_backward_twice() -> None:
    x = pg.zeros(0, 3, 16, 16, requires_grad=True)
    w = pg.tensor(np.ones((2, 3, 3, 3), np.float32), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (0, 2, 16, 16)
    loss = y.sum()
    loss.backward()
    assert x.grad.shape == x.shape and not w.grad.numpy().any()
    with pytest.raises(RuntimeError):
        loss.backward()


@pytest.mark.parametrize("xs,ws,transpose", [
    ((2, 0, 16, 16), (3, 0, 3, 3), False), ((2, 3, 16, 16), (0, 3, 3, 3), False), ((1, 0, 8, 8), (0, 0, 3, 3), False),
    ((2, 0, 16, 16), (0, 3, 3, 3), True), ((2, 3, 16, 16), (3, 0, 3, 3), True),
])
def test_conv_with_zero_channels(xs, ws, transpose) -> None:
    """No input or no result channels: zeros of the right shapes, forward and backward."""
    X, W = pg.zeros(*xs, requires_grad=True), pg.zeros(*ws, requires_grad=True)
    y = (F.conv_transpose2d if transpose else F.conv2d)(X, W, padding=1)
    (y * 2).sum().backward()
    assert not y.numpy().any() and X.grad.shape == X.shape and W.grad.shape == W.shape
    assert not X.grad.numpy().any() and not W.grad.numpy().any()
