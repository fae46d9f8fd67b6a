"""The backward sweep's reuse of upstream gradient buffers.

When the sweep holds the only reference to a node's upstream gradient, the
node's backward kernel writes the input's gradient into that buffer instead
of a new one (elementwise unary ops do). These tests check that the result is
right whether or not the buffer is shared, and that a gradient a user can see
(a retained ``.grad``, a custom op's argument, the ``grad=`` passed to
``backward``) is never overwritten. Oracles: pygrad.reference and float64
centred finite differences.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref

F32 = {"rtol": 1e-5, "atol": 1e-6}
F64 = {"rtol": 1e-10, "atol": 1e-12}


def tol(dtype: Any) -> dict[str, float]:
    return F64 if dtype == pg.float64 else F32


# x -> f(x), each built only from unary elementwise ops (all reuse the buffer),
# with inputs kept away from relu's and abs's kinks
CHAINS: dict[str, Callable[[Any], Any]] = {
    "mul_add_relu": lambda x: ((x * 1.5 + 0.25).relu() * -0.5 + 2.0).relu(),
    "exp_log_sqrt": lambda x: ((x * x + 1.0).sqrt().log() * 0.5).exp(),
    "tanh_sigmoid_neg": lambda x: (-(x.tanh() * 2.0)).sigmoid(),
    "abs_pow_reciprocal": lambda x: (abs(x) + 0.5).reciprocal() ** 3.0,
    "leaky_elu_clamp": lambda x: x.leaky_relu(0.1).elu(0.7).clamp(-0.5, 1.5) * 3.0,
}


def _start(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    v = rng.standard_normal(shape)
    return np.where(np.abs(v) < 0.2, v + np.sign(v) * 0.3 + (v == 0) * 0.3, v)  # away from 0


def _grads(module: Any, f: Callable[[Any], Any], xv: np.ndarray, gv: np.ndarray, dtype: Any) -> np.ndarray:
    x = module.tensor(xv, dtype=dtype, requires_grad=True)
    f(x).backward(module.tensor(gv, dtype=dtype))
    return np.array(x.grad.numpy(), dtype=np.float64)


@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("dtype", [pg.float32, pg.float64])
def test_unary_chain_matches_reference(rng: np.random.Generator, name: str, dtype: Any) -> None:
    xv, gv = _start(rng, (3, 5)), rng.standard_normal((3, 5))
    got = _grads(pg, CHAINS[name], xv, gv, dtype)
    want = _grads(ref, CHAINS[name], xv, gv, dtype)
    np.testing.assert_allclose(got, want, **tol(dtype))


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_unary_chain_matches_finite_differences(rng: np.random.Generator, name: str) -> None:
    f = CHAINS[name]
    xv, gv = _start(rng, (6,)), rng.standard_normal(6)
    got = _grads(pg, f, xv, gv, pg.float64)

    def loss(v: np.ndarray) -> float:
        return float((f(pg.tensor(v, dtype=pg.float64)).numpy() * gv).sum())

    eps, fd = 1e-6, np.zeros_like(xv)
    for i in range(xv.size):
        e = np.zeros_like(xv)
        e[i] = eps
        fd[i] = (loss(xv + e) - loss(xv - e)) / (2 * eps)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)


def test_implicit_seed_scalar_chain() -> None:
    """The seed made by backward() itself is the sweep's own: it may be reused."""
    x = pg.tensor(0.75, dtype=pg.float64, requires_grad=True)
    y = ((x * 2.0).exp() + 1.0).log()
    y.backward()
    e = np.exp(1.5)
    np.testing.assert_allclose(x.grad.item(), 2.0 * e / (e + 1.0), rtol=1e-12)


def test_passed_grad_is_not_overwritten(rng: np.random.Generator) -> None:
    gv = rng.standard_normal(4)
    g = pg.tensor(gv)
    x = pg.tensor(_start(rng, (4,)), requires_grad=True)
    (x.relu() * 3.0 + 1.0).tanh().backward(g)
    np.testing.assert_array_equal(g.numpy(), gv)
    # the same tensor passed again gives the same gradient again
    x2 = pg.tensor(x.numpy(), requires_grad=True)
    (x2.relu() * 3.0 + 1.0).tanh().backward(g)
    np.testing.assert_allclose(x2.grad.numpy(), x.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(g.numpy(), gv)


@pytest.mark.parametrize("dtype", [pg.float32, pg.float64])
def test_retained_grads_on_a_unary_chain_are_not_overwritten(rng: np.random.Generator, dtype: Any) -> None:
    xv, gv = _start(rng, (2, 3)), rng.standard_normal((2, 3))
    got = {}
    for module in (pg, ref):
        x = module.tensor(xv, dtype=dtype, requires_grad=True)
        a = x * 0.5  # keeps tanh off its flat tails, where float32 loses 1 - tanh^2
        a.retain_grad()
        b = a.tanh()
        b.retain_grad()
        c = (b + 0.5).exp()
        c.retain_grad()
        (c * 3.0).backward(module.tensor(gv, dtype=dtype))
        got[module] = [np.array(t.grad.numpy(), dtype=np.float64) for t in (x, a, b, c)]
    for mine, theirs in zip(got[pg], got[ref]):
        np.testing.assert_allclose(mine, theirs, **tol(dtype))
    # and the values are the chain rule's: c.grad = 3 g, b.grad = c.grad * e^(b+0.5), ...
    a = 0.5 * xv.astype(dtype).astype(np.float64)
    b = np.tanh(a)
    c_grad = 3.0 * gv
    b_grad = c_grad * np.exp(b + 0.5)
    a_grad = b_grad * (1 - b * b)
    for mine, want in zip(got[pg], [0.5 * a_grad, a_grad, b_grad, c_grad]):
        np.testing.assert_allclose(mine, want, **{"rtol": 1e-4, "atol": 1e-5} if dtype == pg.float32 else F64)


def test_retained_grad_held_by_user_survives_a_second_backward(rng: np.random.Generator) -> None:
    xv = _start(rng, (5,))
    x = pg.tensor(xv, requires_grad=True)
    a = x.exp()
    a.retain_grad()
    y = (a * 2.0).relu()
    y.backward(pg.ones(5), retain_graph=True)
    first = a.grad
    seen = first.numpy().copy()
    y.backward(pg.ones(5))
    np.testing.assert_allclose(a.grad.numpy(), 2.0 * seen, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * seen * np.exp(xv), rtol=1e-12)


def test_custom_op_argument_kept_by_the_user_is_not_overwritten(rng: np.random.Generator) -> None:
    """A custom op's backward sees the upstream gradient and may keep it (as a hook would)."""
    xv, gv = _start(rng, (4,)), rng.standard_normal(4)
    kept: list[Any] = []

    def identity_backward(g: Any, needs: list[bool]) -> list[Any]:
        kept.append(g)
        return [g]  # hands the same tensor on, as an identity op may

    x = pg.tensor(xv, requires_grad=True)
    a = x * 2.0
    b = pg.custom_op([a], a.detach(), identity_backward)
    (b.tanh() * 5.0).backward(pg.tensor(gv))
    want_b = 5.0 * gv * (1 - np.tanh(2.0 * xv) ** 2)
    np.testing.assert_allclose(kept[0].numpy(), want_b, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * want_b, rtol=1e-12)


def test_gradient_used_twice_fan_out(rng: np.random.Generator) -> None:
    """One value feeding two unary branches: each branch's gradient buffer is its own."""
    xv, gv = _start(rng, (3, 4)), rng.standard_normal((3, 4))
    got = {}
    for module in (pg, ref):
        x = module.tensor(xv, requires_grad=True)
        h = (x * 1.5).tanh()
        y = h.exp() * 2.0 + h.relu() * 3.0 - h.sigmoid()
        z = (y * 0.5).relu() + y
        z.backward(module.tensor(gv))
        got[module] = x.grad.numpy().copy()
    np.testing.assert_allclose(got[pg], got[ref], rtol=1e-10, atol=1e-12)


def test_add_hands_the_same_gradient_to_both_inputs(rng: np.random.Generator) -> None:
    """add's backward returns the upstream gradient itself for both inputs: a shared
    buffer, which neither branch's unary kernel may write into."""
    xv, gv = _start(rng, (5,)), rng.standard_normal(5)
    got = {}
    for module in (pg, ref):
        x = module.tensor(xv, requires_grad=True)
        y = x.exp() + (x * 3.0).tanh()
        (y * 2.0).backward(module.tensor(gv))
        got[module] = x.grad.numpy().copy()
    np.testing.assert_allclose(got[pg], got[ref], rtol=1e-10, atol=1e-12)


def test_view_in_the_chain(rng: np.random.Generator) -> None:
    """reshape's backward returns a view of the upstream gradient (shared storage)."""
    xv, gv = _start(rng, (2, 6)), rng.standard_normal((3, 4))
    got = {}
    for module in (pg, ref):
        x = module.tensor(xv, requires_grad=True)
        y = (x.exp().reshape(3, 4) * 2.0).relu().reshape(12).tanh().reshape(3, 4)
        y.backward(module.tensor(gv))
        got[module] = x.grad.numpy().copy()
    np.testing.assert_allclose(got[pg], got[ref], rtol=1e-10, atol=1e-12)


def test_leaf_fed_twice_accumulates(rng: np.random.Generator) -> None:
    xv, gv = _start(rng, (4,)), rng.standard_normal(4)
    x = pg.tensor(xv, requires_grad=True)
    (x.relu() * 2.0 + x.exp()).backward(pg.tensor(gv))
    np.testing.assert_allclose(x.grad.numpy(), gv * (2.0 * (xv > 0) + np.exp(xv)), rtol=1e-12)
    g1 = x.grad
    before = g1.numpy().copy()
    (x * 3.0).relu().backward(pg.tensor(gv))  # accumulates into .grad (in place, as PyTorch)
    np.testing.assert_allclose(x.grad.numpy(), before + gv * 3.0 * (xv > 0), rtol=1e-12)


def test_double_backward_through_a_unary_chain(rng: np.random.Generator) -> None:
    """create_graph uses the differentiable rules, never the buffer reuse."""
    xv = _start(rng, (3,))
    for module in (pg, ref):
        x = module.tensor(xv, requires_grad=True)
        y = ((x * 2.0).tanh() + 1.0).exp().sum()
        y.backward(create_graph=True)
        g = x.grad
        x.grad = None
        g.sum().backward()
        if module is pg:
            mine = x.grad.numpy().copy()
        else:
            theirs = x.grad.numpy().copy()
    np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


def test_backward_twice_without_retain_graph_still_fails() -> None:
    x = pg.tensor([0.5, 1.0], requires_grad=True)
    y = (x * 2.0).relu().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_modified_saved_input_still_detected() -> None:
    x = pg.tensor([0.5, -1.0, 2.0], requires_grad=True)
    a = x * 1.0
    b = a.relu()  # saves a
    with pg.no_grad():
        a.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        b.sum().backward()


def test_long_chain_gradient_and_no_leak() -> None:
    """bench/overhead.py's chain: the gradient is 1.0001 ** (number of muls), and
    nothing stays alive afterwards."""
    from pygrad import _bindings

    lib = _bindings.lib
    base_t, base_n = lib.pg_live_tensors(), lib.pg_live_nodes()
    x = pg.tensor([0.5, 1.0, 1.5, 2.0], dtype=pg.float64, requires_grad=True)
    y = x
    for _ in range(1000):
        y = ((y * 1.0001) + 0.001).relu()
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(4, 1.0001**1000), rtol=1e-12)
    del x, y
    assert lib.pg_live_tensors() == base_t and lib.pg_live_nodes() == base_n
