"""The ops of pygrad._derived (shape ops, einsum, pad, reductions) on both engines.

Against PyTorch where it is installed (values and gradients from a random
upstream gradient, float64), and against numpy and hand-worked numbers
everywhere: gradients with zeros in prod/cumprod, norm's gradient at 0,
logsumexp far outside exp's range, error messages naming the op.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradError, PygradMemoryError, PygradTypeError, PygradValueError, ShapeError

ENGINES = {"c": pygrad, "ref": ref}
INF = math.inf


def _F(m):  # noqa: N802 - the F of torch.nn.functional
    return pygrad.nn.functional


# (id, pygrad form fn(m, *xs), torch form fn(torch, F, *xs), input shapes)
CASES = [
    ("squeeze-all", lambda m, x: x.squeeze(), lambda t, F, x: x.squeeze(), [(1, 3, 1, 2)]),
    ("squeeze-dim", lambda m, x: m.squeeze(x, 2), lambda t, F, x: x.squeeze(2), [(1, 3, 1, 2)]),
    ("squeeze-tuple", lambda m, x: x.squeeze((0, 1, -2)), lambda t, F, x: x.squeeze((0, 1, -2)), [(1, 3, 1, 2)]),
    ("unsqueeze", lambda m, x: m.unsqueeze(x, -1), lambda t, F, x: x.unsqueeze(-1), [(2, 3)]),
    ("unsqueeze-0d", lambda m, x: x.unsqueeze(0), lambda t, F, x: x.unsqueeze(0), [()]),
    ("flatten", lambda m, x: x.flatten(), lambda t, F, x: x.flatten(), [(2, 3, 4)]),
    ("flatten-1-2", lambda m, x: m.flatten(x, 1, 2), lambda t, F, x: x.flatten(1, 2), [(2, 3, 4, 2)]),
    ("flatten-0d", lambda m, x: x.flatten(), lambda t, F, x: x.flatten(), [()]),
    ("unflatten", lambda m, x: x.unflatten(1, (2, -1)), lambda t, F, x: x.unflatten(1, (2, -1)), [(3, 6)]),
    ("expand", lambda m, x: x.expand(2, -1, 4), lambda t, F, x: x.expand(2, -1, 4), [(3, 1)]),
    ("expand-tuple", lambda m, x: x.expand((3, 4)), lambda t, F, x: x.expand((3, 4)), [(4,)]),
    ("broadcast_to", lambda m, x: m.broadcast_to(x, (2, 3, 4)), lambda t, F, x: t.broadcast_to(x, (2, 3, 4)),
     [(3, 1)]),
    ("repeat", lambda m, x: x.repeat(2, 1, 3), lambda t, F, x: x.repeat(2, 1, 3), [(2, 3)]),
    ("tile", lambda m, x: m.tile(x, (2,)), lambda t, F, x: t.tile(x, (2,)), [(2, 3)]),
    ("tile-more", lambda m, x: x.tile((2, 1, 2)), lambda t, F, x: x.tile((2, 1, 2)), [(2, 3)]),
    ("flip", lambda m, x: x.flip(0), lambda t, F, x: x.flip(0), [(3, 4)]),
    ("flip-dims", lambda m, x: m.flip(x, (0, 2)), lambda t, F, x: t.flip(x, (0, 2)), [(2, 3, 4)]),
    ("roll-flat", lambda m, x: x.roll(3), lambda t, F, x: x.roll(3), [(3, 4)]),
    ("roll-dims", lambda m, x: m.roll(x, (1, -2), (0, 1)), lambda t, F, x: t.roll(x, (1, -2), (0, 1)),
     [(3, 4)]),
    ("narrow", lambda m, x: x.narrow(1, 1, 2), lambda t, F, x: x.narrow(1, 1, 2), [(3, 4)]),
    ("narrow-neg", lambda m, x: m.narrow(x, 0, -2, 2), lambda t, F, x: t.narrow(x, 0, -2, 2), [(3, 4)]),
    ("movedim", lambda m, x: x.movedim(0, -1), lambda t, F, x: x.movedim(0, -1), [(2, 3, 4)]),
    ("movedim-tuple", lambda m, x: m.movedim(x, (0, 1), (2, 0)), lambda t, F, x: t.movedim(x, (0, 1), (2, 0)),
     [(2, 3, 4)]),
    ("tril", lambda m, x: x.tril(), lambda t, F, x: x.tril(), [(3, 4)]),
    ("tril-k", lambda m, x: m.tril(x, -1), lambda t, F, x: t.tril(x, -1), [(2, 4, 3)]),
    ("triu-k", lambda m, x: x.triu(1), lambda t, F, x: x.triu(1), [(4, 3)]),
    ("diagonal", lambda m, x: x.diagonal(), lambda t, F, x: x.diagonal(), [(3, 4)]),
    ("diagonal-off", lambda m, x: m.diagonal(x, 1, 2, 0), lambda t, F, x: t.diagonal(x, 1, 2, 0), [(3, 2, 4)]),
    ("diagonal-neg", lambda m, x: x.diagonal(-1), lambda t, F, x: x.diagonal(-1), [(4, 3)]),
    ("pad-constant", lambda m, x: _F(m).pad(x, (1, 2)), lambda t, F, x: F.pad(x, (1, 2)), [(2, 3)]),
    ("pad-constant-value", lambda m, x: _F(m).pad(x, (1, 0, 0, 2), value=1.5),
     lambda t, F, x: F.pad(x, (1, 0, 0, 2), value=1.5), [(2, 3)]),
    ("pad-crop", lambda m, x: _F(m).pad(x, (-1, 2)), lambda t, F, x: F.pad(x, (-1, 2)), [(2, 3)]),
    ("pad-reflect", lambda m, x: _F(m).pad(x, (2, 1), mode="reflect"),
     lambda t, F, x: F.pad(x, (2, 1), mode="reflect"), [(2, 4)]),
    ("pad-reflect-2d", lambda m, x: _F(m).pad(x, (1, 1, 2, 0), mode="reflect"),
     lambda t, F, x: F.pad(x, (1, 1, 2, 0), mode="reflect"), [(1, 3, 4)]),
    ("pad-replicate", lambda m, x: _F(m).pad(x, (3, 1), mode="replicate"),
     lambda t, F, x: F.pad(x, (3, 1), mode="replicate"), [(2, 4)]),
    ("pad-replicate-2d", lambda m, x: _F(m).pad(x, (1, 2, 2, 1), mode="replicate"),
     lambda t, F, x: F.pad(x, (1, 2, 2, 1), mode="replicate"), [(2, 2, 3)]),
    ("pad-circular", lambda m, x: _F(m).pad(x, (1, 2), mode="circular"),
     lambda t, F, x: F.pad(x, (1, 2), mode="circular"), [(2, 3)]),
    ("clone", lambda m, x: x.clone(), lambda t, F, x: x.clone(), [(2, 3)]),
    ("contiguous", lambda m, x: x.contiguous() * 1.0, lambda t, F, x: x.contiguous() * 1.0, [(2, 3)]),
    ("dot", lambda m, a, b: m.dot(a, b), lambda t, F, a, b: t.dot(a, b), [(5,), (5,)]),
    ("outer", lambda m, a, b: a.outer(b), lambda t, F, a, b: a.outer(b), [(3,), (4,)]),
    ("einsum-matmul", lambda m, a, b: m.einsum("ij,jk->ik", a, b), lambda t, F, a, b: t.einsum("ij,jk->ik", a, b),
     [(2, 3), (3, 4)]),
    ("einsum-batch", lambda m, a, b: m.einsum("bij,bjk->bik", a, b),
     lambda t, F, a, b: t.einsum("bij,bjk->bik", a, b), [(2, 2, 3), (2, 3, 4)]),
    ("einsum-ellipsis", lambda m, a, b: m.einsum("...ij,...jk", a, b),
     lambda t, F, a, b: t.einsum("...ij,...jk", a, b), [(2, 3, 2, 3), (3, 4)]),
    ("einsum-trace", lambda m, a: m.einsum("ii", a), lambda t, F, a: t.einsum("ii", a), [(4, 4)]),
    ("einsum-diag", lambda m, a: m.einsum("ii->i", a), lambda t, F, a: t.einsum("ii->i", a), [(3, 3)]),
    ("einsum-batch-diag", lambda m, a: m.einsum("bii->bi", a), lambda t, F, a: t.einsum("bii->bi", a),
     [(2, 3, 3)]),
    ("einsum-transpose", lambda m, a: m.einsum("ijk->kij", a), lambda t, F, a: t.einsum("ijk->kij", a),
     [(2, 3, 4)]),
    ("einsum-sum", lambda m, a: m.einsum("ij->", a), lambda t, F, a: t.einsum("ij->", a), [(2, 3)]),
    ("einsum-outer", lambda m, a, b: m.einsum("i,j", a, b), lambda t, F, a, b: t.einsum("i,j", a, b),
     [(3,), (2,)]),
    ("einsum-three", lambda m, a, b, c: m.einsum("ij,jk,kl->il", a, b, c),
     lambda t, F, a, b, c: t.einsum("ij,jk,kl->il", a, b, c), [(2, 3), (3, 4), (4, 2)]),
    ("einsum-bilinear", lambda m, a, w, b: m.einsum("bn,anm,bm->ba", a, w, b),
     lambda t, F, a, w, b: t.einsum("bn,anm,bm->ba", a, w, b), [(2, 3), (4, 3, 5), (2, 5)]),
    ("einsum-list", lambda m, a, b: m.einsum("ij,ij->i", [a, b]), lambda t, F, a, b: t.einsum("ij,ij->i", [a, b]),
     [(3, 4), (3, 4)]),
    ("einsum-broadcast-1", lambda m, a, b: m.einsum("...i,...i->...", a, b),
     lambda t, F, a, b: t.einsum("...i,...i->...", a, b), [(2, 1, 3), (4, 3)]),
    ("einsum-attention", lambda m, q, k: m.einsum("bhqd,bhkd->bhqk", q, k),
     lambda t, F, q, k: t.einsum("bhqd,bhkd->bhqk", q, k), [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("einsum-contract-two", lambda m, a, b: m.einsum("ijk,jkl->il", a, b),
     lambda t, F, a, b: t.einsum("ijk,jkl->il", a, b), [(2, 3, 4), (3, 4, 2)]),
    ("logsumexp", lambda m, x: x.logsumexp(1), lambda t, F, x: x.logsumexp(1), [(3, 4)]),
    ("logsumexp-tuple-keep", lambda m, x: m.logsumexp(x, (0, 2), keepdim=True),
     lambda t, F, x: t.logsumexp(x, (0, 2), keepdim=True), [(2, 3, 4)]),
    ("var", lambda m, x: x.var(), lambda t, F, x: x.var(), [(3, 4)]),
    ("var-dim", lambda m, x: m.var(x, 1, keepdim=True), lambda t, F, x: t.var(x, 1, keepdim=True), [(3, 4)]),
    ("var-correction0", lambda m, x: x.var((0, 2), correction=0), lambda t, F, x: x.var((0, 2), correction=0),
     [(2, 3, 4)]),
    ("std", lambda m, x: x.std(0), lambda t, F, x: x.std(0), [(3, 4)]),
    ("std-unbiased-false", lambda m, x: m.std(x, unbiased=False), lambda t, F, x: t.std(x, unbiased=False),
     [(5,)]),
    ("norm", lambda m, x: x.norm(), lambda t, F, x: x.norm(), [(3, 4)]),
    ("norm-1-dim", lambda m, x: m.norm(x, 1, 1), lambda t, F, x: t.norm(x, 1, 1), [(3, 4)]),
    ("norm-inf", lambda m, x: x.norm(INF, 0), lambda t, F, x: x.norm(INF, 0), [(3, 4)]),
    ("norm-neginf", lambda m, x: x.norm(-INF), lambda t, F, x: x.norm(-INF), [(3, 4)]),
    ("norm-3", lambda m, x: x.norm(3, (0, 1), keepdim=True), lambda t, F, x: x.norm(3, (0, 1), keepdim=True),
     [(2, 3, 2)]),
    ("norm-half", lambda m, x: x.norm(0.5, 1), lambda t, F, x: x.norm(0.5, 1), [(3, 4)]),
    ("norm-fro-dims", lambda m, x: x.norm("fro", (1, 2)), lambda t, F, x: x.norm("fro", (1, 2)), [(2, 3, 4)]),
    ("prod", lambda m, x: x.prod(), lambda t, F, x: x.prod(), [(2, 5)]),
    ("prod-dim", lambda m, x: m.prod(x, 1, keepdim=True), lambda t, F, x: t.prod(x, 1, keepdim=True), [(3, 7)]),
    ("prod-dim0", lambda m, x: x.prod(0), lambda t, F, x: x.prod(0), [(3, 2, 2)]),
    ("cumsum", lambda m, x: x.cumsum(1), lambda t, F, x: x.cumsum(1), [(3, 7)]),
    ("cumsum-0", lambda m, x: m.cumsum(x, 0), lambda t, F, x: t.cumsum(x, 0), [(5, 2)]),
    ("cumprod", lambda m, x: x.cumprod(-1), lambda t, F, x: x.cumprod(-1), [(3, 6)]),
    ("cumprod-0", lambda m, x: m.cumprod(x, 0), lambda t, F, x: t.cumprod(x, 0), [(5,)]),
    ("logcumsumexp", lambda m, x: x.logcumsumexp(1), lambda t, F, x: x.logcumsumexp(1), [(3, 7)]),
    ("logcumsumexp-wide", lambda m, x: m.logcumsumexp(x * 300.0, 0), lambda t, F, x: t.logcumsumexp(x * 300.0, 0),
     [(6, 2)]),
]


def _arrays(shapes, seed):
    rng = np.random.default_rng(seed)
    return [np.asarray(rng.uniform(0.3, 1.5, s) * rng.choice([-1.0, 1.0], s)) for s in shapes]


def _run(m, fn, arrays, dout_seed):
    xs = [m.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    out = fn(m, *xs)
    dout = np.random.default_rng(dout_seed).standard_normal(out.shape)
    (out * m.tensor(dout)).sum().backward()
    return out.numpy(), [x.grad.numpy() if x.grad is not None else None for x in xs], dout


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_matches_pytorch(case, engine) -> None:
    torch = pytest.importorskip("torch")
    name, fn, tfn, shapes = case
    arrays = _arrays(shapes, len(name))
    out, grads, dout = _run(ENGINES[engine], fn, arrays, 7)
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    tout = tfn(torch, torch.nn.functional, *ts)
    assert out.shape == tuple(tout.shape), name
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=name)
    (tout * torch.tensor(dout)).sum().backward()
    for i, (g, t) in enumerate(zip(grads, ts)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"{name} grad {i}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_engines_agree_and_gradients_match_finite_differences(case) -> None:
    name, fn, _, shapes = case
    arrays = _arrays(shapes, len(name))
    out_c, g_c, dout = _run(pygrad, fn, arrays, 7)
    out_r, g_r, _ = _run(ref, fn, arrays, 7)
    np.testing.assert_allclose(out_c, out_r, rtol=1e-12, atol=1e-12)
    eps = 1e-6
    for i, (gc, gr) in enumerate(zip(g_c, g_r)):
        np.testing.assert_allclose(gc, gr, rtol=1e-10, atol=1e-12)
        num = np.zeros_like(arrays[i])
        for j in range(arrays[i].size):
            hi = [a.copy() for a in arrays]
            lo = [a.copy() for a in arrays]
            hi[i].flat[j] += eps
            lo[i].flat[j] -= eps
            fh = float((fn(ref, *[ref.tensor(a) for a in hi]).numpy() * dout).sum())
            fl = float((fn(ref, *[ref.tensor(a) for a in lo]).numpy() * dout).sum())
            num.flat[j] = (fh - fl) / (2 * eps)
        np.testing.assert_allclose(gr, num, rtol=1e-5, atol=1e-6, err_msg=f"{name} grad {i} vs finite differences")


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_gradcheck_float64(case, engine) -> None:
    """pygrad.gradcheck (central differences, float64) of sum(f(x) * dout) on each engine."""
    from pygrad.gradcheck import gradcheck

    m = ENGINES[engine]
    name, fn, _, shapes = case
    arrays = _arrays(shapes, len(name) + 1)
    xs = [m.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    dout = m.tensor(np.random.default_rng(3).standard_normal(fn(m, *xs).shape))
    assert gradcheck(lambda *ts: (fn(m, *ts) * dout).sum(), xs)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_prod_and_cumprod_gradients_with_zeros(engine) -> None:
    m = ENGINES[engine]
    x = m.tensor([2.0, 0.0, 3.0, 0.5], dtype="float64", requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 0.0, 0.0])  # Π_{j≠i} xⱼ
    y = m.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0]], dtype="float64", requires_grad=True)
    y.prod(1).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0]])
    z = m.tensor([2.0, 0.0, 3.0], dtype="float64", requires_grad=True)
    z.cumprod(0).sum().backward()  # y = (2, 0, 0): dy/dz0 = 1, dy/dz1 = 2 + 2·3, dy/dz2 = 0
    np.testing.assert_array_equal(z.grad.numpy(), [1.0, 8.0, 0.0])


@pytest.mark.parametrize("engine", list(ENGINES))
def test_norm_gradient_at_zero_is_zero(engine) -> None:
    m = ENGINES[engine]
    for p in (2, "fro", 1, 3.0, INF):
        x = m.zeros(3, dtype="float64", requires_grad=True)
        n = x.norm(p)
        assert n.item() == 0.0
        n.backward()
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0], err_msg=str(p))
    x = m.tensor([[0.0, 0.0], [3.0, 4.0]], dtype="float64", requires_grad=True)
    x.norm(dim=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0], [0.6, 0.8]])
    assert m.norm(m.tensor([1.0, 0.0, -2.0]), 0).item() == 2.0


@pytest.mark.parametrize("engine", list(ENGINES))
def test_logsumexp_is_stable(engine) -> None:
    m = ENGINES[engine]
    x = m.tensor([[1000.0, 1000.0], [-1000.0, -1001.0]], dtype="float64", requires_grad=True)
    y = x.logsumexp(1)
    np.testing.assert_allclose(y.numpy(), [1000.0 + math.log(2), -1000.0 + math.log1p(math.exp(-1))])
    y.sum().backward()
    s = 1 / (1 + math.exp(-1))
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0.5], [s, 1 - s]])
    assert m.logsumexp(m.tensor([-INF, -INF]), 0).item() == -INF
    assert m.logsumexp(m.zeros(0, 3), 0).numpy().tolist() == [-INF] * 3


@pytest.mark.parametrize("engine", list(ENGINES))
def test_double_backward_of_reductions(engine) -> None:
    """d²/dx² of var, logsumexp and prod against hand-derived Hessians."""
    m = ENGINES[engine]
    a = np.array([0.3, -1.2, 2.0, 0.7])
    x = m.tensor(a, dtype="float64", requires_grad=True)
    x.var(correction=0).backward(create_graph=True)
    g = x.grad
    x.grad = None
    (g * m.tensor([1.0, 0.0, 0.0, 0.0])).sum().backward()  # row 0 of H = 2/n (I - 1/n)
    np.testing.assert_allclose(x.grad.numpy(), 2 / 4 * (np.eye(4)[0] - 1 / 4))
    x = m.tensor(a, dtype="float64", requires_grad=True)
    x.logsumexp(0).backward(create_graph=True)
    g = x.grad
    x.grad = None
    g[1].backward()  # H = diag(s) - s sᵀ
    s = np.exp(a) / np.exp(a).sum()
    np.testing.assert_allclose(x.grad.numpy(), np.diag(s)[1] - s[1] * s)
    x = m.tensor([2.0, 0.0, 3.0], dtype="float64", requires_grad=True)
    x.prod().backward(create_graph=True)
    g = x.grad
    x.grad = None
    g[1].backward()  # ∂²/∂x₁∂xⱼ Π x = Π_{k≠1,j} xₖ
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 2.0])


@pytest.mark.parametrize("engine", list(ENGINES))
def test_split_chunk_unbind(engine) -> None:
    m = ENGINES[engine]
    a = np.arange(10.0).reshape(5, 2)
    x = m.tensor(a, requires_grad=True)
    parts = x.split(2)
    assert [p.shape for p in parts] == [(2, 2), (2, 2), (1, 2)]
    parts = m.split(x, [1, 4], dim=0)
    np.testing.assert_array_equal(parts[1].numpy(), a[1:])
    assert [p.shape for p in x.chunk(3)] == [(2, 2), (2, 2), (1, 2)]
    assert [p.shape for p in m.chunk(m.zeros(6), 4)] == [(2,), (2,), (2,)]  # PyTorch: fewer chunks
    cols = x.unbind(1)
    np.testing.assert_array_equal(cols[1].numpy(), a[:, 1])
    (cols[0] * 2.0 + parts[0].sum()).sum().backward()  # parts[0].sum() reaches 5 elements
    np.testing.assert_array_equal(x.grad.numpy(), np.array([[7.0, 5.0]] + [[2.0, 0.0]] * 4))


@pytest.mark.parametrize("engine", list(ENGINES))
def test_clone_copies_and_linspace_isclose(engine) -> None:
    m = ENGINES[engine]
    x = m.tensor([1.0, 2.0])
    c = x.clone()
    x.add_(1.0)
    assert c.numpy().tolist() == [1.0, 2.0]
    np.testing.assert_array_equal(m.linspace(0, 1, 5).numpy(), np.float32([0, 0.25, 0.5, 0.75, 1]))
    assert m.linspace(-1, 1, 4, dtype=m.float64).numpy()[-1] == 1.0
    assert m.linspace(2, 3, 1).numpy().tolist() == [2.0] and m.linspace(0, 1, 0).shape == (0,)
    a = m.tensor([1.0, INF, float("nan"), 1e-9, 2.0])
    b = m.tensor([1.0 + 1e-6, INF, float("nan"), 0.0, 2.1])
    r = m.isclose(a, b)
    assert r.dtype == np.bool_ and r.numpy().tolist() == [True, True, False, True, False]
    assert a.isclose(b, equal_nan=True).numpy().tolist() == [True, True, True, True, False]
    assert m.isclose(a, b, rtol=0, atol=0).numpy().tolist() == [False, True, False, False, False]
    assert m.allclose(a, a, equal_nan=True) is True and m.allclose(a, b) is False
    assert m.allclose(m.tensor([1.0, 2.0]), m.tensor([1.0, 2.05]), rtol=0.1)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_bool_tensors_move_through_shape_ops(engine) -> None:
    m = ENGINES[engine]
    b = np.array([[True, False, True], [False, False, True]])
    x = m.tensor(b)
    assert x.flip(1).numpy().tolist() == b[:, ::-1].tolist()
    assert x.unsqueeze(0).shape == (1, 2, 3) and x.flatten().dtype == np.bool_
    assert x.repeat(1, 2).numpy().tolist() == np.tile(b, (1, 2)).tolist()
    assert x.roll(1, 1).numpy().tolist() == np.roll(b, 1, 1).tolist()
    assert x.tril().numpy().tolist() == np.tril(b).tolist()


def _err(m, fn):
    with pytest.raises(PygradError) as ei:
        fn(m)
    return ei


ERRORS = [
    ("squeeze", ShapeError, lambda m: m.zeros(2, 3).squeeze(2)),
    ("unsqueeze", ShapeError, lambda m: m.zeros(2).unsqueeze(3)),
    ("flatten", ShapeError, lambda m: m.zeros(2, 3, 4).flatten(2, 1)),
    ("unflatten", ShapeError, lambda m: m.zeros(2, 6).unflatten(1, (4, -1))),
    ("expand", ShapeError, lambda m: m.zeros(2, 3).expand(2, 4)),
    ("expand", ShapeError, lambda m: m.zeros(2, 3).expand(3)),
    ("broadcast_to", ShapeError, lambda m: m.broadcast_to(m.zeros(3), (2, 4))),
    ("repeat", ShapeError, lambda m: m.zeros(2, 3).repeat(2)),
    ("tile", ShapeError, lambda m: m.zeros(2, 3).tile((-1,))),
    ("flip", ShapeError, lambda m: m.zeros(2).flip(1)),
    ("flip", ShapeError, lambda m: m.zeros(2, 2).flip((0, 0))),
    ("roll", ShapeError, lambda m: m.zeros(2, 2).roll((1, 2), 0)),
    ("split", ShapeError, lambda m: m.zeros(4).split([1, 2])),
    ("split", PygradValueError, lambda m: m.zeros(4).split(0)),
    ("chunk", PygradValueError, lambda m: m.zeros(4).chunk(0)),
    ("unbind", ShapeError, lambda m: m.zeros(()).unbind()),
    ("narrow", ShapeError, lambda m: m.zeros(4).narrow(0, 2, 3)),
    ("movedim", ShapeError, lambda m: m.zeros(2, 3).movedim((0, 1), (1, 1))),
    ("tril", ShapeError, lambda m: m.zeros(3).tril()),
    ("triu", PygradTypeError, lambda m: m.zeros(3, 3).triu(0.5)),
    ("diagonal", ShapeError, lambda m: m.zeros(3, 3).diagonal(0, 1, 1)),
    ("diagonal", ShapeError, lambda m: m.zeros(3, 3).diagonal(0, 0, 2)),
    ("pad", ShapeError, lambda m: m.nn.functional.pad(m.zeros(2, 3), (1, 1, 1))),
    ("pad", ShapeError, lambda m: m.nn.functional.pad(m.zeros(2, 3), (3, 0), mode="reflect")),
    ("pad", PygradValueError, lambda m: m.nn.functional.pad(m.zeros(2, 3), (1, 0), mode="mirror")),
    ("pad", ShapeError, lambda m: m.nn.functional.pad(m.zeros(2, 0), (1, 0), mode="replicate")),
    ("dot", ShapeError, lambda m: m.dot(m.zeros(3), m.zeros(4))),
    ("dot", PygradTypeError, lambda m: m.dot(m.zeros(3), m.zeros(3, dtype=m.float64))),
    ("outer", ShapeError, lambda m: m.outer(m.zeros(3, 1), m.zeros(4))),
    ("einsum", PygradValueError, lambda m: m.einsum("ij,jk", m.zeros(2, 3))),
    ("einsum", ShapeError, lambda m: m.einsum("ij,jk", m.zeros(2, 3), m.zeros(4, 2))),
    ("einsum", ShapeError, lambda m: m.einsum("ijk", m.zeros(2, 3))),
    ("einsum", PygradValueError, lambda m: m.einsum("ij->k", m.zeros(2, 3))),
    ("einsum", PygradValueError, lambda m: m.einsum("i1", m.zeros(2, 3))),
    ("isclose", PygradTypeError, lambda m: m.isclose(m.zeros(2), m.zeros(2, dtype=m.float64))),
    ("isclose", ShapeError, lambda m: m.isclose(m.zeros(2), m.zeros(3))),
    ("allclose", PygradValueError, lambda m: m.allclose(m.zeros(2), m.zeros(2), rtol=-1)),
    ("logsumexp", ShapeError, lambda m: m.zeros(2, 3).logsumexp(2)),
    ("logsumexp", PygradTypeError, lambda m: m.tensor([True]).logsumexp(0)),
    ("var", ShapeError, lambda m: m.zeros(2, 3).var((0, 0))),
    ("std", PygradTypeError, lambda m: m.tensor([True]).std()),
    ("norm", PygradValueError, lambda m: m.zeros(3).norm("nuc")),
    ("norm", PygradValueError, lambda m: m.zeros(3).norm(-1)),
    ("norm", PygradValueError, lambda m: m.zeros(0).norm(INF)),
    ("prod", ShapeError, lambda m: m.zeros(3).prod(1)),
    ("cumsum", ShapeError, lambda m: m.zeros(3).cumsum(1)),
    ("cumprod", PygradTypeError, lambda m: m.tensor([True]).cumprod(0)),
    ("linspace", PygradValueError, lambda m: m.linspace(0, 1, -1)),
    ("logcumsumexp", ShapeError, lambda m: m.zeros(2).logcumsumexp(1)),
    # results too large to hold: an error naming the op before numpy allocates the index vectors
    ("repeat", PygradMemoryError, lambda m: m.zeros(2).repeat(10**12)),
    ("expand", PygradMemoryError, lambda m: m.zeros(1).expand(10**13)),
    ("tile", PygradMemoryError, lambda m: m.zeros(2).tile((10**12,))),
    ("pad", PygradMemoryError, lambda m: m.nn.functional.pad(m.zeros(2), (10**12, 0))),
    ("linspace", PygradMemoryError, lambda m: m.linspace(0, 1, 10**13)),
]


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: f"{c[0]}-{ERRORS.index(c)}")
def test_errors_name_the_op_and_agree_across_engines(case) -> None:
    op, exc, fn = case
    types = []
    for m in (pygrad, ref):
        with pytest.raises(exc) as ei:
            fn(m)
        assert str(ei.value).startswith(f"{op}:"), str(ei.value)
        types.append(type(ei.value))
    assert types[0] is types[1]


@pytest.mark.parametrize("engine", list(ENGINES))
def test_arguments_beyond_the_shape(engine) -> None:
    """Shifts and diagonals far outside the tensor: the same results as small ones (numpy's rules)."""
    m = ENGINES[engine]
    x = m.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.roll(10**30 + 1, 1).numpy().tolist() == x.roll(1, 1).numpy().tolist()
    assert x.tril(10**30).numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert x.triu(-(10**30)).numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert x.tril(-(10**30)).numpy().tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert x.diagonal(10**18).shape == (0,)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_empty_tensors(engine) -> None:
    m = ENGINES[engine]
    e = m.zeros(0, 3, requires_grad=True)
    assert e.flip(0).shape == (0, 3) and e.repeat(2, 1).shape == (0, 3) and e.roll(1, 1).shape == (0, 3)
    assert e.sum(0).shape == (3,) and e.prod(0).numpy().tolist() == [1.0, 1.0, 1.0]
    assert e.cumsum(0).shape == (0, 3) and e.cumprod(1).shape == (0, 3)
    assert np.isnan(e.var(0).numpy()).all() and e.norm(dim=0).numpy().tolist() == [0.0] * 3
    assert m.einsum("ij,jk->ik", e, m.zeros(3, 2)).shape == (0, 2)
    assert m.einsum("ij,jk->ik", m.zeros(2, 0), m.zeros(0, 2)).numpy().tolist() == [[0.0, 0.0]] * 2
    assert m.nn.functional.pad(e, (1, 1), value=2.0).shape == (0, 5)
    assert e.tril().shape == (0, 3) and e.diagonal().shape == (0,) and len(e.split(2)) == 1
    (e.flip(0).sum() + e.prod(0).sum()).backward()
    assert e.grad.shape == (0, 3)


@pytest.mark.parametrize("engine", ENGINES)
def test_like_creation_functions(engine) -> None:
    """zeros_like, ones_like, full_like, empty_like, rand_like, randn_like, randint_like: the input's shape
    and (unless dtype=) dtype, fresh leaves; empty and empty_like are zero-filled."""
    m = ENGINES[engine]
    x = m.tensor(np.arange(6.0).reshape(2, 3), dtype=m.float64, requires_grad=True)
    for f, want in ((m.zeros_like, 0.0), (m.ones_like, 1.0), (m.empty_like, 0.0)):
        y = f(x)
        assert y.shape == (2, 3) and y.dtype == x.dtype and y.is_leaf and not y.requires_grad
        np.testing.assert_array_equal(y.numpy(), np.full((2, 3), want))
    assert m.ones_like(x, dtype=m.int64).numpy().dtype == np.int64
    assert m.zeros_like(x, requires_grad=True).requires_grad
    np.testing.assert_array_equal(m.full_like(x, -2.5).numpy(), np.full((2, 3), -2.5))
    assert m.full_like(x, 7, dtype=m.int32).numpy().tolist() == [[7] * 3] * 2
    np.testing.assert_array_equal(m.empty(3, 2).numpy(), np.zeros((3, 2), np.float32))
    assert m.empty((4,), dtype=m.float64).dtype == m.float64
    m.manual_seed(5)
    a = m.rand_like(x).numpy()
    m.manual_seed(5)
    np.testing.assert_array_equal(a, m.rand(2, 3, dtype=m.float64).numpy())  # the same generator as rand
    assert a.min() >= 0 and a.max() < 1 and m.randn_like(x).shape == (2, 3)
    r = m.randint_like(x, 3, 6).numpy()
    assert r.dtype == np.float64 and set(np.unique(r)) <= {3.0, 4.0, 5.0}
    assert set(np.unique(m.randint_like(m.zeros(50, dtype=m.int64), 2).numpy())) <= {0, 1}
    with pytest.raises(PygradTypeError, match="zeros_like: input must be a Tensor, got list"):
        m.zeros_like([1, 2])


@pytest.mark.parametrize("engine", ENGINES)
def test_as_tensor_and_logspace(engine) -> None:
    m = ENGINES[engine]
    x = m.tensor([1.0, 2.0], requires_grad=True)
    assert m.as_tensor(x) is x and m.as_tensor(x, dtype=m.float32) is x
    y = m.as_tensor(x, dtype=m.float64)
    assert y.dtype == m.float64 and y.grad_fn is not None  # a differentiable cast, as PyTorch's
    a = m.as_tensor(np.array([[1, 2], [3, 4]]))
    assert a.dtype == m.int64 and a.shape == (2, 2)
    other = (ref if m is pygrad else pygrad).tensor([1.5])
    assert m.as_tensor(other).numpy().tolist() == [1.5] and type(m.as_tensor(other)) is type(x)
    np.testing.assert_allclose(m.logspace(0, 3, 4).numpy(), [1, 10, 100, 1000], rtol=1e-7)
    np.testing.assert_allclose(m.logspace(1, 3, 3, base=2, dtype=m.float64).numpy(), [2, 4, 8], rtol=1e-15)
    assert m.logspace(0, 1, 0).shape == (0,)
    with pytest.raises(PygradTypeError, match="logspace: base must be a real number"):
        m.logspace(0, 1, 3, base="e")
