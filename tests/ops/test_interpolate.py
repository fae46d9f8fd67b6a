"""interpolate and interpolate_input_grad on both engines: against PyTorch over a grid of modes (nearest,
nearest-exact, linear, bilinear, bicubic, bilinear and bicubic antialiased, and the 5-d trilinear, nearest
and area), sizes, scale factors and align_corners (values, and gradients with a random upstream; the few
places PyTorch's kernels part from their own formulas are tested apart), against the composition of
gathers it replaced, hand-worked values, the transpose identity, float64 gradcheck and gradgradcheck, the
engines against each other in float32 and float64 (with one thread and two), compiled replay, and bad
input (the error names the op and the shapes)."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradMemoryError, PygradTypeError, PygradValueError, ShapeError
from pygrad.gradcheck import gradcheck, gradgradcheck

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]
DTYPES = [("float64", 1e-12), ("float32", 2e-5)]


def _grid() -> list[tuple[tuple[int, ...], dict]]:
    out: list[tuple[tuple[int, ...], dict]] = []
    for mode, shape in (("nearest", (2, 3, 7)), ("nearest", (1, 2, 6, 5)), ("nearest-exact", (2, 2, 7)),
                        ("nearest-exact", (1, 2, 5, 6)), ("linear", (2, 3, 7)), ("bilinear", (1, 2, 6, 5))):
        nd = len(shape) - 2
        lin = mode in ("linear", "bilinear")
        for size in ((1,), (3,), (7,), (16,), (4, 11)[:nd], (6, 5)[:nd]):
            for ac in ((None, False, True) if lin else (None,)):
                out.append((shape, dict(size=size[0] if len(size) == 1 else size, mode=mode, align_corners=ac)))
        for sf in (0.5, 1.7, 2, 3.3, (2.5, 0.6)[:nd], (1.1, 2)[:nd]):
            for rec in (None, True):
                for ac in ((False, True) if lin else (None,)):
                    out.append((shape, dict(scale_factor=sf[0] if isinstance(sf, tuple) and nd == 1 else sf, mode=mode,
                                            align_corners=ac, recompute_scale_factor=rec)))
    return out


GRID = _grid()


def _torch_backward_is_the_transpose(shape: tuple[int, ...], kw: dict, out: tuple[int, ...]) -> bool:
    """PyTorch's nearest backward (and its channels-last forward, which it also picks for 4-d inputs
    whose OH + OW <= 128) copy when out = in and halve when out = 2·in, where its NCHW forward (and
    this op) takes ⌊o·s⌋ with the kept scale factor: they differ only with a kept scale factor other
    than 1 or 2 that gives those sizes."""
    if kw["mode"] != "nearest" or kw.get("scale_factor") is None or kw.get("recompute_scale_factor"):
        return True
    sf = kw["scale_factor"] if isinstance(kw["scale_factor"], tuple) else (kw["scale_factor"],) * len(out)
    return all(not (o in (n, 2 * n) and f not in (1, 2)) for n, o, f in zip(shape[2:], out, sf))


@pytest.mark.parametrize("shape,kw", GRID, ids=[f"{i}-{kw['mode']}" for i, (_, kw) in enumerate(GRID)])
def test_against_pytorch(shape, kw) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(str((shape, kw)).encode()))
    x = rng.standard_normal(shape)
    for dtype, tol in DTYPES:
        tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
        ty = torch.nn.functional.interpolate(tx, **kw)
        v = rng.standard_normal(tuple(ty.shape))
        (ty * torch.tensor(v, dtype=tx.dtype)).sum().backward()
        for engine in (pygrad, ref):
            X = engine.tensor(x, dtype=dtype, requires_grad=True)
            y = engine.nn.functional.interpolate(X, **kw)
            assert y.dtype == X.dtype and y.shape == tuple(ty.shape)
            assert y.grad_fn.name == "interpolate"
            out = tuple(ty.shape[2:])
            same = _torch_backward_is_the_transpose(shape, kw, out)
            if kw["mode"].startswith("nearest") and (same or len(out) == 1 or sum(out) > 128):
                np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())  # copies of the input's elements
            elif not kw["mode"].startswith("nearest"):
                np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
            (y * engine.tensor(v, dtype=dtype)).sum().backward()
            if same:
                np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


def test_where_pytorch_backward_is_not_its_forwards_transpose() -> None:
    """5 -> 5 with a kept scale factor 1.1: PyTorch's NCHW forward takes ⌊o / 1.1⌋ = 0 0 1 2 3 (so do we),
    its backward copies; our gradient is the transpose of the forward."""
    torch = pytest.importorskip("torch")
    x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    ty = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=1.1)
    for engine in (pygrad, ref):
        X = engine.tensor(x, requires_grad=True)
        y = engine.nn.functional.interpolate(X, scale_factor=1.1)
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        np.testing.assert_array_equal(y.numpy().ravel(), [1, 1, 2, 3, 4])
        (y * engine.tensor([[[1.0, 2, 3, 4, 5]]])).sum().backward()
        np.testing.assert_array_equal(X.grad.numpy().ravel(), [3, 3, 4, 5, 0])
    # 4-d with OH + OW > 128: PyTorch's NCHW kernel, whose forward we match
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 70))
    ty = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=(1.1, 2))
    for engine in (pygrad, ref):
        y = engine.nn.functional.interpolate(engine.tensor(x), scale_factor=(1.1, 2))
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        np.testing.assert_array_equal(y.numpy()[0, 0, :, 0], x[0, 0, [0, 0, 1, 2, 3], 0])


# ----------------------------------------------------------- the composition it replaced ---


def _nearest_map(n: int, on: int, scale: float) -> np.ndarray:
    s = np.float32(1.0 / scale) if scale else np.float32(n) / np.float32(on)
    return np.minimum(np.floor(np.arange(on, dtype=np.float32) * s).astype(np.int64), n - 1)


def _linear_taps(n: int, on: int, scale: float, align_corners: bool) -> tuple[np.ndarray, ...]:
    dst = np.arange(on, dtype=np.float64)
    if align_corners:
        src = dst * ((n - 1) / (on - 1) if on > 1 else 0.0)
    else:
        src = np.maximum((1.0 / scale if scale else n / on) * (dst + 0.5) - 0.5, 0.0)
    i0 = np.minimum(src.astype(np.int64), n - 1)
    l1 = np.clip(src - i0, 0.0, 1.0)
    return i0, np.minimum(i0 + 1, n - 1), 1.0 - l1, l1


def _composed(m, x, mode: str, size: tuple[int, ...], scale: tuple[float, ...], align: bool):
    """interpolate as it was written before the op: gathers (index_map) and constant weights."""
    spatial = tuple(x.shape[2:])
    lead = [np.arange(x.shape[0]), np.arange(x.shape[1])]
    if mode == "nearest":
        return x._index_map(lead + [_nearest_map(n, o, sc) for n, o, sc in zip(spatial, size, scale)])
    y = x
    for d, (n, o, sc) in enumerate(zip(spatial, size, scale)):
        i0, i1, l0, l1 = _linear_taps(n, o, sc, align)
        full = [np.arange(k) for k in y.shape]
        shape = [1] * y.ndim
        shape[2 + d] = o
        m0, m1 = list(full), list(full)
        m0[2 + d], m1[2 + d] = i0, i1
        y = (y._index_map(m0) * m.tensor(l0.reshape(shape), dtype=x.dtype)
             + y._index_map(m1) * m.tensor(l1.reshape(shape), dtype=x.dtype))
    return y


COMPOSED = [
    ((2, 3, 6), "nearest", (11,), (0.0,), False),
    ((1, 2, 5, 7), "nearest", (2, 11), (0.5, 1.7), False),
    ((1, 2, 5, 4), "nearest", (10, 8), (0.0, 0.0), False),
    ((2, 3, 6), "linear", (15,), (2.5,), False),
    ((2, 3, 6), "linear", (4,), (0.0,), True),
    ((1, 2, 3, 4), "linear", (5, 7), (0.0, 0.0), False),
    ((1, 2, 3, 4), "linear", (5, 7), (0.0, 0.0), True),
    ((2, 1, 6, 5), "linear", (3, 2), (0.5, 0.5), False),
    ((2, 1, 6, 5), "linear", (9, 11), (1.5, 2.3), False),
    ((1, 1, 1, 3), "linear", (4, 6), (0.0, 0.0), False),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("shape,mode,size,scale,align", COMPOSED, ids=[str(i) for i in range(len(COMPOSED))])
def test_against_the_composition_it_replaced(engine, shape, mode, size, scale, align) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    for dtype, tol in DTYPES:
        a = engine.tensor(x, dtype=dtype, requires_grad=True)
        b = engine.tensor(x, dtype=dtype, requires_grad=True)
        ya = a._interpolate(mode, size, scale, align)
        yb = _composed(engine, b, mode, size, scale, align)
        np.testing.assert_allclose(ya.numpy(), yb.numpy(), rtol=tol, atol=tol)
        v = engine.tensor(rng.standard_normal(tuple(ya.shape)), dtype=dtype)
        (ya * v).sum().backward()
        (yb * v).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol)


# ------------------------------------------------------------------------------ by hand ---


@pytest.mark.parametrize("engine", ENGINES)
def test_hand_worked_values(engine) -> None:
    F = engine.nn.functional
    x = engine.tensor([[[1.0, 2.0, 3.0]]], requires_grad=True)
    # nearest 3 -> 5: s = 0.6, ⌊0, .6, 1.2, 1.8, 2.4⌋ = 0 0 1 1 2; the gradient sums each source's upstream
    y = F.interpolate(x, 5)
    np.testing.assert_array_equal(y.numpy().ravel(), [1, 1, 2, 2, 3])
    (y * engine.tensor([[[1.0, 2, 3, 4, 5]]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [3, 7, 5])
    # nearest-exact: ⌊max(.6 (o + ½) - ½, 0) + ½⌋ = ⌊.5, .9, 1.5, 2.1, 2.7⌋ = 0 0 1 2 2
    np.testing.assert_array_equal(F.interpolate(x, 5, mode="nearest-exact").numpy().ravel(), [1, 1, 2, 3, 3])
    # downsampling 3 -> 2: s = 1.5; nearest ⌊0, 1.5⌋ = 0 1; nearest-exact ⌊.75 - .5 + .5, 2.25⌋ = 0 2
    np.testing.assert_array_equal(F.interpolate(x, 2).numpy().ravel(), [1, 2])
    np.testing.assert_array_equal(F.interpolate(x, 2, mode="nearest-exact").numpy().ravel(), [1, 3])
    # linear 3 -> 2: src = 1.5 (o + ½) - ½ = .25, 1.75
    np.testing.assert_allclose(F.interpolate(x, 2, mode="linear").numpy().ravel(), [1.25, 2.75], rtol=1e-15)
    # aligned corners to one output: src = 0
    np.testing.assert_array_equal(F.interpolate(x, 1, mode="linear", align_corners=True).numpy().ravel(), [1])
    # bilinear 2x2 -> 4x4: rows and columns both at src = -.25 (0), .25, .75, 1.25 (1): weights per dim
    # A = [[1, 0], [.75, .25], [.25, .75], [0, 1]], y = A x Aᵀ
    q = engine.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    a = np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    y = F.interpolate(q, scale_factor=2, mode="bilinear")
    np.testing.assert_allclose(y.numpy()[0, 0], a @ [[1, 2], [3, 4]] @ a.T, rtol=1e-15)
    g = np.arange(16.0).reshape(4, 4)
    (y * engine.tensor(g.reshape(1, 1, 4, 4))).sum().backward()
    np.testing.assert_allclose(q.grad.numpy()[0, 0], a.T @ g @ a, rtol=1e-15)
    # the gradient op alone is that transpose
    np.testing.assert_allclose(engine.tensor(g.reshape(1, 1, 4, 4))._interpolate_input_grad(
        "linear", (2, 2)).numpy()[0, 0], a.T @ g @ a, rtol=1e-15)


@pytest.mark.parametrize("engine", ENGINES)
def test_identity_sizes_copy(engine) -> None:
    """Every mode with out = in (sizes given) returns the input, and the gradient is the upstream."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4, 5))
    for mode, aa in (("nearest", False), ("nearest-exact", False), ("bilinear", False), ("bicubic", False),
                     ("bilinear", True), ("bicubic", True)):
        X = engine.tensor(x, requires_grad=True)
        y = engine.nn.functional.interpolate(X, (4, 5), mode=mode, antialias=aa)
        np.testing.assert_array_equal(y.numpy(), x)
        g = rng.standard_normal(x.shape)
        (y * engine.tensor(g)).sum().backward()
        np.testing.assert_array_equal(X.grad.numpy(), g)


# ----------------------------------------------------------------- transpose and gradients ---

OPS = [  # (input shape, mode, output size, kept scale factors, align_corners)
    ((2, 3, 7), "nearest", (12,), (0.0,), False),
    ((2, 3, 7), "nearest", (5,), (0.7,), False),
    ((2, 3, 9), "nearest-exact", (4,), (0.0,), False),
    ((2, 3, 5), "linear", (13,), (2.6,), False),
    ((2, 3, 8), "linear", (3,), (0.0,), True),
    ((1, 2, 5, 4), "nearest", (11, 3), (2.3, 0.8), False),
    ((1, 2, 5, 4), "nearest-exact", (7, 9), (0.0, 0.0), False),
    ((2, 2, 4, 5), "linear", (9, 3), (0.0, 0.0), False),
    ((2, 2, 6, 5), "linear", (2, 12), (0.4, 2.5), False),
    ((1, 2, 4, 4), "linear", (7, 4), (0.0, 0.0), True),
    ((1, 1, 5, 5), "linear", (5, 5), (1.1, 0.0), False),
    ((2, 1, 9, 3), "linear", (2, 1), (0.0, 0.0), True),
    ((1, 2, 4, 5), "cubic", (9, 3), (0.0, 0.0), False),
    ((2, 1, 5, 4), "cubic", (3, 10), (0.0, 0.0), True),
    ((1, 2, 6, 3), "cubic", (6, 7), (1.1, 2.5), False),
    ((1, 1, 1, 4), "cubic", (2, 9), (0.0, 0.0), False),
    ((1, 2, 9, 7), "linear-aa", (4, 3), (0.0, 0.0), False),
    ((1, 2, 9, 7), "linear-aa", (4, 13), (0.45, 1.9), True),
    ((2, 1, 8, 5), "linear-aa", (8, 2), (1.1, 0.4), False),
    ((1, 2, 11, 6), "cubic-aa", (3, 6), (0.0, 0.0), False),
    ((1, 2, 11, 6), "cubic-aa", (5, 1), (0.0, 0.0), True),
    ((1, 1, 7, 12), "cubic-aa", (9, 4), (1.3, 0.35), False),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("shape,mode,size,scale,align", OPS, ids=[f"{i}-{o[1]}" for i, o in enumerate(OPS)])
def test_the_gradient_op_is_the_transpose(engine, shape, mode, size, scale, align) -> None:
    """<interpolate(x), g> = <x, interpolate_input_grad(g)>, float64."""
    rng = np.random.default_rng(6)
    x = engine.tensor(rng.standard_normal(shape))
    y = x._interpolate(mode, size, scale, align)
    g = engine.tensor(rng.standard_normal(tuple(y.shape)))
    dx = g._interpolate_input_grad(mode, shape[2:], scale, align)
    assert dx.shape == x.shape and dx.grad_fn is None
    lhs, rhs = float((y * g).sum().item()), float((x * dx).sum().item())
    assert abs(lhs - rhs) <= 1e-12 * (1 + abs(lhs))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("shape,mode,size,scale,align", OPS, ids=[f"{i}-{o[1]}" for i, o in enumerate(OPS)])
def test_gradcheck_and_gradgradcheck(engine, shape, mode, size, scale, align) -> None:
    rng = np.random.default_rng(4)
    x = engine.tensor(rng.standard_normal(shape), requires_grad=True)
    v = engine.tensor(rng.standard_normal(tuple(x._interpolate(mode, size, scale, align).shape)))
    f = lambda a: ((a * a)._interpolate(mode, size, scale, align) * v).sum()  # noqa: E731
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))
    g = engine.tensor(rng.standard_normal(tuple(v.shape)), requires_grad=True)
    u = engine.tensor(rng.standard_normal(shape))
    h = lambda b: ((b * b)._interpolate_input_grad(mode, shape[2:], scale, align) * u).sum()  # noqa: E731
    assert gradcheck(h, (g,))
    assert gradgradcheck(h, (g,))


@pytest.mark.parametrize("engine", ENGINES)
def test_double_backward_is_the_resampling_of_the_upstream(engine) -> None:
    """dx = Ahᵀ g Aw is linear in g: d(Σ dx·u)/dg = Ah u Awᵀ, the resampling of u."""
    rng = np.random.default_rng(9)
    x = engine.tensor(rng.standard_normal((1, 2, 4, 3)), requires_grad=True)
    y = engine.nn.functional.interpolate(x, (7, 5), mode="bilinear", align_corners=True)
    g = engine.tensor(rng.standard_normal(tuple(y.shape)), requires_grad=True)
    (dx,) = pygrad.autograd.grad(y, x, g, create_graph=True)
    assert dx.grad_fn.name == "interpolate_input_grad"
    u = rng.standard_normal(x.shape)
    (dx * engine.tensor(u)).sum().backward()
    want = engine.nn.functional.interpolate(engine.tensor(u), (7, 5), mode="bilinear", align_corners=True)
    np.testing.assert_allclose(g.grad.numpy(), want.numpy(), rtol=1e-13, atol=1e-13)


# ----------------------------------------------------------------- the engines, the threads ---

WIDE = [  # every path of the kernels: copies, one-source rows, two-row blends with jumps, large planes
    ((2, 5, 17, 23), "linear", (40, 9), (0.0, 0.0), False),
    ((3, 4, 30, 8), "linear", (11, 8), (0.0, 0.0), True),
    ((2, 3, 9, 31), "linear", (9, 64), (0.0, 0.0), False),
    ((2, 3, 12, 12), "linear", (5, 29), (0.4, 2.5), False),
    ((2, 3, 12, 12), "nearest", (25, 7), (0.0, 0.0), False),
    ((2, 3, 12, 12), "nearest-exact", (5, 40), (0.0, 0.0), False),
    ((4, 8, 64), "linear", (129,), (0.0,), False),
    ((4, 8, 64), "nearest", (20,), (0.3,), False),
    ((2, 5, 17, 23), "cubic", (40, 9), (0.0, 0.0), False),
    ((3, 4, 30, 8), "cubic", (11, 8), (0.0, 0.0), True),
    ((2, 3, 64, 48), "linear-aa", (13, 48), (0.0, 0.0), False),
    ((2, 3, 64, 48), "linear-aa", (64, 7), (0.0, 0.0), True),
    ((2, 3, 64, 48), "cubic-aa", (9, 20), (0.14, 0.42), False),
    ((2, 3, 20, 30), "cubic-aa", (50, 12), (0.0, 0.0), False),
    ((1, 2, 300, 5), "linear-aa", (2, 1), (0.0, 0.0), False),
]


@pytest.mark.parametrize("shape,mode,size,scale,align", WIDE, ids=[f"{i}-{o[1]}" for i, o in enumerate(WIDE)])
def test_engines_agree(shape, mode, size, scale, align) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    for dtype, tol in DTYPES:
        xs, outs = [], []
        for engine in (pygrad, ref):
            X = engine.tensor(x, dtype=dtype, requires_grad=True)
            y = X._interpolate(mode, size, scale, align)
            g = engine.tensor(np.random.default_rng(2).standard_normal(tuple(y.shape)), dtype=dtype)
            (y * g).sum().backward()
            xs.append(X.grad.numpy())
            outs.append(y.numpy())
        # the forward: the same operations in the same order on both engines (W first, then H)
        np.testing.assert_array_equal(outs[0], outs[1])
        np.testing.assert_allclose(xs[0], xs[1], rtol=tol, atol=tol)



# outputs of 16 MiB or more are stored with streaming stores on x86-64: every path of that forward
STREAMED = [
    ((4, 4, 256, 257), "float32", "linear", (512, 515), False),      # blends of two rows, odd widths
    ((2, 2, 300, 301), "float32", "nearest", (1200, 1801), False),   # one source row each, repeated rows
    ((4, 8, 600, 64), "float64", "nearest-exact", (2000, 64), False),  # W copied: x's rows streamed as they are
    ((4, 8, 600, 64), "float64", "linear", (1100, 64), True),         # H blended, W copied
    ((2, 2, 700001), "float32", "linear", (1100001,), False),         # 1-d: one long row per plane
]


@pytest.mark.parametrize("shape,dtype,mode,size,align", STREAMED, ids=[f"{o[2]}-{o[1]}" for o in STREAMED])
def test_large_outputs_match_the_reference(shape, dtype, mode, size, align) -> None:
    x = np.random.default_rng(11).standard_normal(shape).astype(dtype)
    yc = pygrad.tensor(x)._interpolate(mode, size, None, align).numpy()
    assert yc.nbytes >= 16 << 20
    np.testing.assert_array_equal(yc, ref.tensor(x)._interpolate(mode, size, None, align).numpy())

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
            ys = [F.interpolate(x, scale_factor=2, mode="bilinear"), F.interpolate(x, (17, 90)),
                  F.interpolate(x, (13, 21), mode="bilinear", align_corners=True),
                  F.interpolate(x, (57, 31), mode="bicubic"),
                  F.interpolate(x, (11, 40), mode="bicubic", align_corners=True, antialias=True),
                  F.interpolate(x, scale_factor=0.3, mode="bilinear", antialias=True)]
            sum(((y * y).sum() for y in ys), pygrad.tensor(0.0)).backward()
            runs.append([y.numpy() for y in ys] + [x.grad.numpy()])
    finally:
        pygrad.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_compiled_replay_is_eager() -> None:
    rng = np.random.default_rng(7)
    w0 = rng.standard_normal((2, 3, 5, 6))
    data = [pygrad.tensor(rng.standard_normal((2, 3, 10, 12))) for _ in range(3)]

    def make():
        w = pygrad.tensor(w0, requires_grad=True)

        def step(t):
            w.grad = None
            up = pygrad.nn.functional.interpolate(w, scale_factor=2, mode="bilinear")
            loss = ((up - t) ** 2).sum() + pygrad.nn.functional.interpolate(w, (3, 4)).sum()
            loss = loss + (pygrad.nn.functional.interpolate(w, (9, 2), mode="bicubic") ** 2).sum()
            loss = loss + (pygrad.nn.functional.interpolate(w, (2, 3), mode="bicubic", antialias=True) ** 2).sum()
            loss.backward()
            return loss, w.grad
        return step

    eager, compiled = make(), pygrad.compile(make())
    for k in range(5):
        (le, ge), (lc, gc) = eager(data[k % 3]), compiled(data[k % 3])
        assert le.item() == lc.item()
        np.testing.assert_array_equal(ge.numpy(), gc.numpy())
    assert compiled.records == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_batch_and_modules(engine) -> None:
    x = engine.zeros(0, 3, 4, 5, requires_grad=True)
    y = engine.nn.functional.interpolate(x, scale_factor=(2, 3), mode="nearest-exact")
    assert y.shape == (0, 3, 8, 15)
    y.sum().backward()
    assert x.grad.shape == x.shape
    up = engine.nn.Upsample(size=7, mode="nearest-exact")
    np.testing.assert_array_equal(up(engine.tensor(np.arange(3.0).reshape(1, 1, 3))).numpy().ravel(),
                                  [0, 0, 1, 1, 1, 2, 2])


# ----------------------------------------------------------------- bicubic and antialias ---


def _cubic_grid() -> list[tuple[tuple[int, ...], dict]]:
    out: list[tuple[tuple[int, ...], dict]] = []
    for shape in ((1, 2, 6, 5), (2, 1, 9, 4), (1, 1, 1, 7), (1, 2, 17, 13)):
        for mode, aa in (("bicubic", False), ("bicubic", True), ("bilinear", True)):
            for size in ((1, 1), (3, 2), shape[2:], (12, 11), (4, 19), (2, 9)):
                for ac in (None, False, True):
                    out.append((shape, dict(size=size, mode=mode, antialias=aa, align_corners=ac)))
            for sf in (0.5, 0.3, 1.7, (2.5, 0.45), (1.1, 0.6)):
                f = sf if isinstance(sf, tuple) else (sf, sf)
                if min(int(np.floor(n * v)) for n, v in zip(shape[2:], f)) < 1:
                    continue  # an empty output
                for rec in (None, True):
                    for ac in (None, False, True):
                        out.append((shape, dict(scale_factor=sf, mode=mode, antialias=aa, align_corners=ac,
                                                recompute_scale_factor=rec)))
    return out


CUBIC_GRID = _cubic_grid()


def _torch_aa_differs(shape: tuple[int, ...], kw: dict, out: tuple[int, ...]) -> tuple[bool, bool]:
    """Where PyTorch's antialiased CPU kernels (2.x) are not the filter they implement, as
    test_where_pytorch_antialias_is_not_its_filter shows: (forward differs, backward differs).
    Forward: an output of width 1 whose height changes repeats its first row. Backward: a dim whose size
    stays is copied by the forward, but its backward still applies the filter of a kept scale factor
    (ours is the transpose of the forward)."""
    if not kw.get("antialias"):
        return False, False
    fwd = out[1] == 1 and out[0] != shape[2]
    kept = kw.get("scale_factor") is not None and not kw.get("recompute_scale_factor")
    return fwd, kept and any(n == o for n, o in zip(shape[2:], out))


@pytest.mark.parametrize("shape,kw", CUBIC_GRID, ids=[f"{i}-{kw['mode']}{'-aa' * kw['antialias']}"
                                                      for i, (_, kw) in enumerate(CUBIC_GRID)])
def test_cubic_and_antialias_against_pytorch(shape, kw) -> None:
    """bicubic, and bilinear and bicubic antialiased, against PyTorch: values and gradients with a random
    upstream, float32 and float64, up- and downsampling, align_corners, kept and recomputed scales."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(str((shape, kw)).encode()))
    x = rng.standard_normal(shape)
    for dtype, tol in (("float64", 1e-12), ("float32", 3e-5)):
        tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
        ty = torch.nn.functional.interpolate(tx, **kw)
        v = rng.standard_normal(tuple(ty.shape))
        (ty * torch.tensor(v, dtype=tx.dtype)).sum().backward()
        fwd_differs, bwd_differs = _torch_aa_differs(shape, kw, tuple(ty.shape[2:]))
        for engine in (pygrad, ref):
            X = engine.tensor(x, dtype=dtype, requires_grad=True)
            y = engine.nn.functional.interpolate(X, **kw)
            assert y.dtype == X.dtype and y.shape == tuple(ty.shape) and y.grad_fn.name == "interpolate"
            if not fwd_differs:
                np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
            (y * engine.tensor(v, dtype=dtype)).sum().backward()
            if not bwd_differs:
                np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


def test_where_pytorch_antialias_is_not_its_filter() -> None:
    """The two places this op and PyTorch 2.x's antialiased CPU kernels part (left out of the grid above):
    8 x 1 -> 4 x 1 gives PyTorch four copies of its first output row, where the filter's rows are the
    means of their windows (as 8 -> 4 along W gives, in PyTorch too); and 5 -> 5 with a kept scale factor
    1.1: PyTorch's forward copies the dim, its backward filters it with s = 1/1.1."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.arange(8.0)
    tcol = F.interpolate(torch.tensor(x.reshape(1, 1, 8, 1)), size=(4, 1), mode="bilinear", antialias=True)
    trow = F.interpolate(torch.tensor(x.reshape(1, 1, 1, 8)), size=(1, 4), mode="bilinear", antialias=True)
    assert len(set(tcol.numpy().ravel().tolist())) == 1  # PyTorch: one value repeated
    for engine in (pygrad, ref):
        col = engine.nn.functional.interpolate(engine.tensor(x.reshape(1, 1, 8, 1)), size=(4, 1), mode="bilinear",
                                               antialias=True)
        np.testing.assert_allclose(col.numpy().ravel(), trow.numpy().ravel(), rtol=1e-15)
        np.testing.assert_allclose(col.numpy().ravel()[0], tcol.numpy().ravel()[0], rtol=1e-15)
    x5 = np.random.default_rng(0).standard_normal((1, 1, 5, 4))
    tx = torch.tensor(x5, requires_grad=True)
    ty = F.interpolate(tx, scale_factor=(1.1, 0.5), mode="bilinear", antialias=True)
    ty.sum().backward()
    ref_y = F.interpolate(torch.tensor(x5), size=(5, 2), mode="bilinear", antialias=True)
    np.testing.assert_array_equal(ty.detach().numpy(), ref_y.numpy())  # the forward copies H
    for engine in (pygrad, ref):
        X = engine.tensor(x5, requires_grad=True)
        y = engine.nn.functional.interpolate(X, scale_factor=(1.1, 0.5), mode="bilinear", antialias=True)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-14)
        y.sum().backward()
        # our gradient sums each input's weights: every column weight sums over the two outputs, rows copied
        np.testing.assert_allclose(X.grad.numpy().sum(axis=3), np.full((1, 1, 5), 2.0), rtol=1e-14)
    assert not np.allclose(tx.grad.numpy().sum(axis=3), 2.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_cubic_and_antialias_hand_worked_values(engine) -> None:
    F = engine.nn.functional
    # bicubic (a = -0.75) 1 x 2 -> 1 x 4 along W: src = -.25, .25, .75, 1.25; at src = -.25, i = -1, λ = .75,
    # taps clamp(-2..1) = 0 0 0 1 weighted c₂(1.75) c₁(.75) c₁(.25) c₂(1.25) = -.03515625 .26171875
    # .87890625 -.10546875: y₀ = 1.10546875 x₀ - .10546875 x₁ (the overshoot of the cubic)
    x = engine.tensor([[[[1.0, 2.0]]]], requires_grad=True)
    y = F.interpolate(x, (1, 4), mode="bicubic")
    np.testing.assert_array_equal(y.numpy().ravel(), [0.89453125, 1.2265625, 1.7734375, 2.10546875])
    y.backward(engine.tensor([[[[1.0, 0.0, 0.0, 0.0]]]]))
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [1.10546875, -0.10546875])
    # the cubic reproduces a ramp away from the borders: 0..5 -> 11 with aligned corners, src = o / 2
    r = F.interpolate(engine.tensor(np.arange(6.0).reshape(1, 1, 1, 6)), (1, 11), mode="bicubic",
                      align_corners=True).numpy().ravel()
    np.testing.assert_allclose(r[2:9], np.arange(2, 9) / 2, rtol=1e-15)
    # antialiased bilinear 3 -> 1: s = 3, support 3, centre 1.5, window 0..2 at (j + ½ - 1.5)/3 = -⅓ 0 ⅓,
    # triangle weights ⅔ 1 ⅔, normalised 2/7 3/7 2/7
    z = engine.tensor([[[[0.0, 1.0, 12.0]]]], dtype=engine.float64, requires_grad=True)
    w = F.interpolate(z, (1, 1), mode="bilinear", antialias=True)
    np.testing.assert_allclose(w.numpy().ravel(), [27 / 7], rtol=1e-15)
    w.backward(engine.tensor([[[[7.0]]]], dtype=engine.float64))
    np.testing.assert_allclose(z.grad.numpy().ravel(), [2, 3, 2], rtol=1e-15)
    # without antialias, bilinear 3 -> 1 reads only x[1] (src = 1): the antialiased filter sees all three
    np.testing.assert_array_equal(F.interpolate(z, (1, 1), mode="bilinear").numpy().ravel(), [1.0])


@pytest.mark.parametrize("engine", ENGINES)
def test_antialias_downsampling_averages_a_checkerboard(engine) -> None:
    """A ±1 checkerboard 30 x 30 -> 10 x 10 (s = 3): plain bilinear and bicubic sample it at the integer
    sources 3o + 1 (values ±1, gradients on a ninth of the inputs); the antialiased filters average each
    window (|y| small) and their gradients reach every input."""
    cb = np.indices((30, 30)).sum(axis=0) % 2 * 2.0 - 1
    for mode in ("bilinear", "bicubic"):
        x = engine.tensor(cb.reshape(1, 1, 30, 30), requires_grad=True)
        y = engine.nn.functional.interpolate(x, (10, 10), mode=mode, antialias=True)
        assert np.abs(y.numpy()).max() < 0.2
        y.sum().backward()
        assert (x.grad.numpy() != 0).all()
        x.grad = None
        yp = engine.nn.functional.interpolate(x, (10, 10), mode=mode)
        yp.sum().backward()
        np.testing.assert_array_equal(np.abs(yp.numpy()), 1.0)
        assert (x.grad.numpy() != 0).mean() == pytest.approx(1 / 9)


@pytest.mark.parametrize("engine", ENGINES)
def test_cubic_antialias_double_backward_is_the_resampling_of_the_upstream(engine) -> None:
    rng = np.random.default_rng(19)
    for mode, size in (("bicubic", (9, 4)), ("bilinear", (3, 2))):
        x = engine.tensor(rng.standard_normal((1, 2, 7, 5)), requires_grad=True)
        y = engine.nn.functional.interpolate(x, size, mode=mode, antialias=True, align_corners=True)
        g = engine.tensor(rng.standard_normal(tuple(y.shape)), requires_grad=True)
        (dx,) = pygrad.autograd.grad(y, x, g, create_graph=True)
        assert dx.grad_fn.name == "interpolate_input_grad"
        u = rng.standard_normal(x.shape)
        (dx * engine.tensor(u)).sum().backward()
        want = engine.nn.functional.interpolate(engine.tensor(u), size, mode=mode, antialias=True, align_corners=True)
        np.testing.assert_allclose(g.grad.numpy(), want.numpy(), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("engine", ENGINES)
def test_upsample_module_bicubic(engine) -> None:
    x = np.random.default_rng(8).standard_normal((1, 2, 3, 4))
    up = engine.nn.Upsample(scale_factor=2, mode="bicubic", align_corners=True)
    want = engine.nn.functional.interpolate(engine.tensor(x), scale_factor=2, mode="bicubic", align_corners=True)
    np.testing.assert_array_equal(up(engine.tensor(x)).numpy(), want.numpy())


# ------------------------------------------------------------------------------ 5-d inputs ---


def _grid_5d() -> list[tuple[tuple[int, ...], dict]]:
    out: list[tuple[tuple[int, ...], dict]] = []
    for shape in ((1, 2, 3, 4, 5), (2, 1, 5, 2, 3)):
        for mode in ("trilinear", "nearest", "nearest-exact", "area"):
            acs = (None, False, True) if mode == "trilinear" else (None,)
            for size in ((4, 2, 7), (1, 1, 1), shape[2:], (9, 5, 2)):
                out += [(shape, dict(size=size, mode=mode, align_corners=ac)) for ac in acs]
            for sf in (0.6, 2, (2.5, 1.1, 0.7)):
                for rec in (None, True):
                    out += [(shape, dict(scale_factor=sf, mode=mode, align_corners=ac, recompute_scale_factor=rec))
                            for ac in acs]
    return out


GRID_5D = _grid_5d()


@pytest.mark.parametrize("shape,kw", GRID_5D, ids=[f"{i}-{kw['mode']}" for i, (_, kw) in enumerate(GRID_5D)])
def test_5d_against_pytorch(shape, kw) -> None:
    """trilinear, and nearest, nearest-exact and area of (N, C, D, H, W), against PyTorch: values and
    gradients."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(str((shape, kw)).encode()))
    x = rng.standard_normal(shape)
    for dtype, tol in (("float64", 1e-12), ("float32", 3e-5)):
        tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
        ty = torch.nn.functional.interpolate(tx, **kw)
        v = rng.standard_normal(tuple(ty.shape))
        (ty * torch.tensor(v, dtype=tx.dtype)).sum().backward()
        for engine in (pygrad, ref):
            X = engine.tensor(x, dtype=dtype, requires_grad=True)
            y = engine.nn.functional.interpolate(X, **kw)
            assert y.dtype == X.dtype and y.shape == tuple(ty.shape)
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
            (y * engine.tensor(v, dtype=dtype)).sum().backward()
            if _torch_backward_is_the_transpose(shape, kw, tuple(ty.shape[2:])):
                np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("engine", ENGINES)
def test_5d_gradcheck_and_gradgradcheck(engine) -> None:
    rng = np.random.default_rng(12)
    x = engine.tensor(rng.standard_normal((1, 2, 3, 2, 4)), requires_grad=True)
    for kw in (dict(size=(5, 3, 2), mode="trilinear", align_corners=True), dict(scale_factor=(1.5, 0.5, 1.2)),
               dict(scale_factor=(0.7, 2, 1.3), mode="trilinear"), dict(size=(2, 3, 3), mode="area")):
        y0 = engine.nn.functional.interpolate(x, **kw)
        v = engine.tensor(rng.standard_normal(tuple(y0.shape)))
        f = lambda a, kw=kw, v=v: (engine.nn.functional.interpolate(a * a, **kw) * v).sum()  # noqa: E731
        assert gradcheck(f, (x,))
        assert gradgradcheck(f, (x,))


# --------------------------------------------------------------------------------- errors ---

ERRORS = [  # (call, builtin type, pygrad type, what the message names)
    (lambda m: m.nn.functional.interpolate(m.ones(4, 4), 8), ValueError, ShapeError, ("interpolate", "(4, 4)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 1, 2, 2, 2, 2), 8), ValueError, ShapeError,
     ("interpolate", "(1, 1, 2, 2, 2, 2)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 1, 2, 2, 2), 8, mode="bilinear"), ValueError, ShapeError,
     ("interpolate", "'bilinear'", "(1, 1, 2, 2, 2)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 1, 2, 2, 2), (3, 3), mode="trilinear"), ValueError,
     PygradValueError, ("interpolate", "(1, 1, 2, 2, 2)", "(3, 3)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4), 8, mode="bilinear"), ValueError, ShapeError,
     ("interpolate", "'bilinear'", "(1, 2, 4)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4, 4), 8, mode="linear"), ValueError, ShapeError,
     ("interpolate", "'linear'", "(1, 2, 4, 4)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4), 8, mode="bicubic"), ValueError, ShapeError,
     ("interpolate", "'bicubic'", "(1, 2, 4)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4, 4), 8, antialias=True), ValueError, PygradValueError,
     ("interpolate", "antialias", "'nearest'", "(1, 2, 4, 4)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4), 2, mode="linear", antialias=True), ValueError,
     PygradValueError, ("interpolate", "antialias", "'linear'", "(1, 2, 4)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4, 4), 2, mode="area", antialias=True), ValueError,
     PygradValueError, ("interpolate", "antialias", "'area'")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4, 4), 2, mode="trilinear"), ValueError, ShapeError,
     ("interpolate", "'trilinear'", "5-d", "(1, 2, 4, 4)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4, 4, 4), 2, mode="trilinear", antialias=True), ValueError,
     PygradValueError, ("interpolate", "antialias", "'trilinear'", "(1, 2, 4, 4, 4)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4, 4), 8, mode="nearest-exact", align_corners=False),
     ValueError, PygradValueError, ("interpolate", "align_corners", "bicubic")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4, 4), 8, mode="bicubic", recompute_scale_factor=True),
     ValueError, PygradValueError, ("interpolate", "recompute_scale_factor", "size")),
    (lambda m: m.ones(1, 2, 4)._interpolate("cubic", (8,)), ValueError, ShapeError,
     ("interpolate", "cubic", "(1, 2, 4)")),
    (lambda m: m.ones(1, 2, 4)._interpolate("linear-aa", (2,)), ValueError, ShapeError,
     ("interpolate", "antialiased", "(1, 2, 4)")),
    (lambda m: m.ones(1, 2, 4)._interpolate_input_grad("cubic-aa", (8,)), ValueError, ShapeError,
     ("interpolate_input_grad", "antialiased", "gradient", "(1, 2, 4)")),
    (lambda m: m.ones(1, 2, 4, 4)._interpolate("nearest", (2, 2), None, True), ValueError, PygradValueError,
     ("interpolate", "align_corners", "(1, 2, 4, 4)")),
    (lambda m: m.ones(1, 2, 4, 4)._interpolate("bicubic", (2, 2)), ValueError, PygradValueError,
     ("interpolate", "mode", "'bicubic'")),
    (lambda m: m.ones(1, 1, 2, 200000)._interpolate("linear-aa", (2, 100000), (0.0, 1e-30)), MemoryError,
     PygradMemoryError, ("interpolate", "200000")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4), 8, 2.0), ValueError, PygradValueError,
     ("interpolate", "exactly one")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4)), ValueError, PygradValueError,
     ("interpolate", "exactly one")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4), 0), ValueError, PygradValueError,
     ("interpolate", "(1, 2, 4)", "0")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4, 4), (3, 0)), ValueError, PygradValueError,
     ("interpolate", "(1, 2, 4, 4)", "(3, 0)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4), scale_factor=0.2), ValueError, PygradValueError,
     ("interpolate", "(1, 2, 4)", "empty")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4), scale_factor=-2.0), ValueError, PygradValueError,
     ("interpolate", "(1, 2, 4)", "-2.0")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 0, 4), 8), ValueError, ShapeError, ("interpolate", "(1, 0, 4)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 0, 3), 8), ValueError, ShapeError,
     ("interpolate", "(1, 2, 0, 3)")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4, dtype=m.int64), 8), TypeError, PygradTypeError,
     ("interpolate", "int64")),
    (lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4), 8, align_corners=True), ValueError, PygradValueError,
     ("interpolate", "align_corners")),
    (lambda m: m.ones(1, 2, 4)._interpolate("linear", (8, 8)), ValueError, PygradValueError,
     ("interpolate", "(8, 8)", "(1, 2, 4)")),
    (lambda m: m.ones(1, 2, 4, dtype=m.float64)._interpolate("nearest", (0,)), ValueError, PygradValueError,
     ("interpolate", "(0,)", "(1, 2, 4)")),
    (lambda m: m.ones(1, 2)._interpolate("nearest", (3,)), ValueError, ShapeError, ("interpolate", "(1, 2)")),
    (lambda m: m.ones(1, 2, 3)._interpolate("nearest", (3,), (float("inf"),)), ValueError, PygradValueError,
     ("interpolate", "inf", "(1, 2, 3)")),
    (lambda m: m.ones(1, 2, 3, dtype=m.int32)._interpolate_input_grad("nearest", (3,)), TypeError,
     PygradTypeError, ("interpolate_input_grad", "int32")),
    (lambda m: m.tensor(1.0)._interpolate_input_grad("linear", (2,)), ValueError, ShapeError,
     ("interpolate_input_grad", "gradient", "()")),
    (lambda m: m.ones(2, 0, 3, 3)._interpolate_input_grad("linear", (2, 2)), ValueError, ShapeError,
     ("interpolate_input_grad", "gradient", "(2, 0, 3, 3)")),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("call,exc,kind,names", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_bad_input_names_the_op_and_shapes(engine, call, exc, kind, names) -> None:
    with pytest.raises(exc) as info:
        call(engine)
    assert isinstance(info.value, kind), type(info.value)
    for name in names:
        assert name in str(info.value), (name, str(info.value))


def test_grid_covers_modes_and_options() -> None:
    modes = {kw["mode"] for _, kw in GRID}
    assert modes == {"nearest", "nearest-exact", "linear", "bilinear"}
    assert any(kw.get("recompute_scale_factor") for _, kw in GRID)
    assert {kw.get("align_corners") for _, kw in GRID if kw["mode"] == "bilinear"} == {None, False, True}
    assert len(list(itertools.chain(GRID, OPS, WIDE))) > 150
    assert {(kw["mode"], kw.get("antialias", False)) for _, kw in CUBIC_GRID} == {
        ("bicubic", False), ("bicubic", True), ("bilinear", True)}
    assert {kw.get("align_corners") for _, kw in CUBIC_GRID} == {None, False, True}
    assert any(kw.get("recompute_scale_factor") for _, kw in CUBIC_GRID)
    assert len(CUBIC_GRID) > 300


@pytest.mark.parametrize("m", ENGINES)
def test_area_mode_is_adaptive_average_pooling(m) -> None:
    """mode='area': each output element is the mean of its adaptive window (hand-computed), in 1-d and
    2-d, with a size or a scale factor; the gradient spreads dy / |window| back."""
    F = m.nn.functional
    x = m.tensor(np.arange(10.0).reshape(1, 1, 10), requires_grad=True)
    y = F.interpolate(x, size=4, mode="area")  # windows [0,3) [2,5) [5,8) [7,10)
    np.testing.assert_allclose(y.numpy().ravel(), [1.0, 3.0, 6.0, 8.0], rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy().ravel(), [1 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 2 / 3,
                                                        1 / 3, 1 / 3], rtol=1e-15)
    x2 = np.random.default_rng(3).standard_normal((2, 3, 6, 4))
    y2 = F.interpolate(m.tensor(x2), scale_factor=0.5, mode="area").numpy()
    np.testing.assert_allclose(y2, x2.reshape(2, 3, 3, 2, 2, 2).mean(axis=(3, 5)), rtol=1e-14)
    with pytest.raises(PygradValueError, match="align_corners can only be set with the interpolating modes"):
        F.interpolate(m.tensor(x2), size=(3, 2), mode="area", align_corners=False)


def test_area_mode_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 9))
    for kw in (dict(size=(3, 4)), dict(scale_factor=0.6), dict(size=(10, 13))):
        want = torch.nn.functional.interpolate(torch.tensor(x), mode="area", **kw).numpy()
        got = pygrad.nn.functional.interpolate(pygrad.tensor(x), mode="area", **kw).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12)
    want1 = torch.nn.functional.interpolate(torch.tensor(x[0]), size=4, mode="area").numpy()
    np.testing.assert_allclose(pygrad.nn.functional.interpolate(pygrad.tensor(x[0]), size=4, mode="area").numpy(),
                               want1, rtol=1e-12)
