"""conv2d's batched paths (csrc/ops_conv.c) against a numpy reference in float64.

Small images are unfolded in groups of several images into one col and one GEMM, from a zero-padded
copy of each image (the plane), and for the forward and the input gradient straight into the GEMM's
packed panels (pg__gemm_packed_*); the weight gradient is computed transposed and summed over fixed
slots of groups. The cases below cross those paths' boundaries: batches that are not a multiple of
the group size (a last group of one image), batches smaller than a group, output widths at, below
and above the plane's limit (16) and ones that do not divide the panel width, channel groups,
strides (which leave input rows no window reads), dilation, asymmetric padding and padding wider
than the kernel. Each runs on every GEMM kernel this CPU has (each packs panels of another width;
"naive" takes the unpacked path), in both dtypes, and must give the same bits on one thread and on
two, and on a second run.

Oracle: numpy in float64, the output and both gradients of sum(y * v) written directly from the
definition y[n, o, a, b] = sum x_pad[n, c, a*sh + i*dh, b*sw + j*dw] w[o, c, i, j]. A float32 result
is within K * u * sum |terms| of the exact value (K terms, u the unit roundoff), so the tolerance is
that bound, elementwise, from the sums of absolute values.
"""

from __future__ import annotations

import numpy as np
import pytest

import pygrad as pg
from pygrad import _runtime

KERNELS = []
for _name in ("avx512", "avx2", "generic", "naive"):
    try:
        _runtime._set_gemm_kernel(_name)
    except ValueError:
        continue
    KERNELS.append(_name)
_runtime._set_gemm_kernel("auto")

UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}

# (x shape, w shape, stride, padding (top, bottom, left, right), dilation, groups)
CASES = [
    ((13, 16, 8, 8), (32, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),     # groups of 2 images: 7, the last of 1
    ((37, 16, 4, 4), (32, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),     # groups of 5 (16 columns each): last of 2
    ((64, 1, 8, 8), (16, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),       # the digits ConvNet's first layer
    ((9, 4, 16, 16), (8, 4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),       # output width 16: the plane's limit
    ((5, 3, 17, 17), (6, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),       # 17 wide: the direct im2col
    ((11, 4, 6, 6), (10, 4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),       # width 6 divides no panel
    ((21, 6, 5, 7), (10, 3, 3, 2), (1, 1), (0, 2, 1, 0), (1, 1), 2),       # channel groups, asymmetric padding
    ((17, 4, 10, 10), (8, 4, 3, 3), (2, 2), (0, 0, 0, 0), (1, 1), 1),      # stride 2: the last input row unread
    ((12, 3, 10, 11), (5, 3, 3, 3), (2, 3), (0, 1, 2, 0), (1, 1), 1),      # unequal strides
    ((10, 4, 8, 8), (6, 2, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 2),        # dilation 2, groups
    ((6, 2, 4, 4), (3, 2, 2, 2), (1, 1), (4, 3, 0, 5), (1, 1), 1),         # padding wider than the kernel
    ((3, 8, 8, 8), (16, 8, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),        # 3 images: groups of one
    ((1, 2, 3, 3), (2, 2, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),         # one image, a product below 512
    ((40, 3, 5, 5), (3, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 3),        # depthwise
]


def _reference(x, w, v, stride, pad, dilation, groups):
    """(y, dx, dw, and the three sums of absolute terms) of y = conv(x, w), loss sum(y * v), in float64."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw), (pt, pb, pl, pr) = stride, dilation, pad
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    y, ya = np.zeros((n, o, oh, ow)), np.zeros((n, o, oh, ow))
    dxp, dxa = np.zeros_like(xp), np.zeros_like(xp)
    dwt, dwa = np.zeros(w.shape), np.zeros(w.shape)
    for g in range(groups):
        cs, os_ = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        for i in range(kh):
            for j in range(kw):
                win = (slice(None), cs, slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
                       slice(j * dw, j * dw + (ow - 1) * sw + 1, sw))
                xs, wij, vs = xp[win], w[os_, :, i, j], v[:, os_]
                y[:, os_] += np.einsum("ncab,oc->noab", xs, wij)
                ya[:, os_] += np.einsum("ncab,oc->noab", np.abs(xs), np.abs(wij))
                dxp[win] += np.einsum("noab,oc->ncab", vs, wij)
                dxa[win] += np.einsum("noab,oc->ncab", np.abs(vs), np.abs(wij))
                dwt[os_, :, i, j] += np.einsum("noab,ncab->oc", vs, xs)
                dwa[os_, :, i, j] += np.einsum("noab,ncab->oc", np.abs(vs), np.abs(xs))
    inner = (slice(None), slice(None), slice(pt, pt + h), slice(pl, pl + wd))
    return y, dxp[inner], dwt, ya, dxa[inner], dwa, cg * kh * kw, o // groups * kh * kw, n * oh * ow


def _run(x, w, v, stride, pad, dilation, groups, dtype):
    """pygrad's y and the gradients of sum(y * v) to x and w, as float64 arrays."""
    X = pg.tensor(x, dtype=dtype, requires_grad=True)
    W = pg.tensor(w, dtype=dtype, requires_grad=True)
    y = X._conv2d(W, stride, pad, dilation, groups)
    (y * pg.tensor(v, dtype=dtype)).sum().backward()
    return [a.numpy().astype(np.float64) for a in (y, X.grad, W.grad)]


def _data(case, seed):
    xs, ws, stride, pad, dilation, groups = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    n, _, h, wd = xs
    oh = (h + pad[0] + pad[1] - dilation[0] * (ws[2] - 1) - 1) // stride[0] + 1
    ow = (wd + pad[2] + pad[3] - dilation[1] * (ws[3] - 1) - 1) // stride[1] + 1
    v = rng.standard_normal((n, ws[0], oh, ow))
    return x, w, v


@pytest.fixture(autouse=True)
def _restore():
    threads = pg.get_num_threads()
    yield
    _runtime._set_gemm_kernel("auto")
    pg.set_num_threads(threads)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_output_and_gradients_match_the_reference(case, dtype, kernel) -> None:
    _, _, stride, pad, dilation, groups = case
    # the reference takes the values pygrad gets (float32 rounds them first)
    x, w, v = (a.astype(dtype).astype(np.float64) for a in _data(case, 1))
    y, dx, dw, ya, dxa, dwa, ky, kx, kw = _reference(x, w, v, stride, pad, dilation, groups)
    _runtime._set_gemm_kernel(kernel)
    got = _run(x, w, v, stride, pad, dilation, groups, dtype)
    u = UNIT_ROUNDOFF[dtype]
    for name, a, want, bound, k in (("y", got[0], y, ya, ky), ("dx", got[1], dx, dxa, kx),
                                    ("dw", got[2], dw, dwa, kw)):
        assert a.shape == want.shape, name
        err = np.abs(a - want)
        tol = 2 * (k + 2) * u * bound + 1e-300
        assert np.all(err <= tol), (name, float(np.max(err / np.maximum(bound, 1e-300))))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_same_bits_on_one_and_two_threads_and_on_a_rerun(case, dtype) -> None:
    """The group size depends on the geometry alone, and dw's slots sum in a fixed order."""
    _, _, stride, pad, dilation, groups = case
    x, w, v = _data(case, 2)
    runs = []
    for t in (1, 2, 2):
        pg.set_num_threads(t)
        runs.append(_run(x, w, v, stride, pad, dilation, groups, dtype))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


def test_the_gradient_ops_alone_match_the_backward() -> None:
    """conv2d_input_grad and conv2d_weight_grad called directly (the ops the backward and double backward
    run), on a batch of small images in several groups, equal the reference."""
    case = ((19, 8, 8, 8), (12, 4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2)
    _, _, stride, pad, dilation, groups = case
    x, w, v = _data(case, 3)
    _, dx, dw, _, dxa, dwa, _, kx, kw = _reference(x, w, v, stride, pad, dilation, groups)
    X, W, V = pg.tensor(x), pg.tensor(w), pg.tensor(v)
    gx = V._conv2d_input_grad(W, (8, 8), stride, pad, dilation, groups).numpy()
    gw = X._conv2d_weight_grad(V, (3, 3), stride, pad, dilation, groups).numpy()
    u = UNIT_ROUNDOFF["float64"]
    assert np.all(np.abs(gx - dx) <= 2 * (kx + 2) * u * dxa)
    assert np.all(np.abs(gw - dw) <= 2 * (kw + 2) * u * dwa)


@pytest.mark.parametrize("n", [64, 256])
def test_the_digits_convnet_layers_against_pytorch(n) -> None:
    """The bench's shapes (8 x 8 and, after a pool, 4 x 4 images, 16 -> 32 channels) in float32."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n)
    for hw in (8, 4):
        x = rng.standard_normal((n, 16, hw, hw)).astype(np.float32)
        w = (rng.standard_normal((32, 16, 3, 3)) / 12).astype(np.float32)
        v = rng.standard_normal((n, 32, hw, hw)).astype(np.float32)
        tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        ty = torch.nn.functional.conv2d(tx, tw, padding=1)
        (ty * torch.tensor(v)).sum().backward()
        X, W = pg.tensor(x, requires_grad=True), pg.tensor(w, requires_grad=True)
        y = pg.nn.functional.conv2d(X, W, padding=1)
        (y * pg.tensor(v)).sum().backward()
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(W.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-3)
