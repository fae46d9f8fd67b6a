"""PyTorch's autograd API on both engines: tensor hooks, ``pygrad.autograd.grad``
and ``backward``, the grad-mode switches, ``inference_mode``, recorded in-place
updates with the version counter, ``detach_`` and ``gradgradcheck``.

Expected numbers are hand-derived formulas evaluated with numpy in float64;
the C engine is also held to the reference engine, and to PyTorch when it is
installed (those tests skip otherwise).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad import autograd
from pygrad.gradcheck import GradcheckError, gradcheck, gradgradcheck

ENGINES = [pytest.param(pg, id="c"), pytest.param(ref, id="reference")]


def close(actual: Any, expected: Any, tol: float = 1e-12) -> None:
    a = actual.numpy() if hasattr(actual, "numpy") else np.asarray(actual)
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), expected, rtol=tol, atol=tol)


def leaf(e: Any, values: Any) -> Any:
    return e.tensor(np.asarray(values, dtype=np.float64), dtype=e.float64, requires_grad=True)


# ---------------------------------------------------------------------------
# register_hook
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES)
def test_hook_on_a_non_leaf_sees_its_gradient_and_can_replace_it(e: Any) -> None:
    xv = np.array([0.5, -1.5, 2.0])
    x = leaf(e, xv)
    y = x * x
    seen = []

    def hook(g: Any) -> Any:
        seen.append(g.numpy().copy())
        return g * 2.0

    y.register_hook(hook)
    (y * 3.0).sum().backward()
    close(seen[0], [3.0, 3.0, 3.0])  # d(3 Σ y)/dy
    close(x.grad, 2.0 * 3.0 * 2.0 * xv)  # the doubled gradient flowed on: 2 · 3 · 2x
    assert len(seen) == 1


@pytest.mark.parametrize("e", ENGINES)
def test_hook_on_a_leaf_sees_the_whole_gradient_once_and_replaces_what_accumulates(e: Any) -> None:
    xv = np.array([0.25, -2.0])
    x = leaf(e, xv)
    calls = []
    x.register_hook(lambda g: calls.append(g.numpy().copy()) or g * 10.0)
    (x * x + x).sum().backward()  # x used three times: one call with 2x + 1
    assert len(calls) == 1
    close(calls[0], 2.0 * xv + 1.0)
    close(x.grad, 10.0 * (2.0 * xv + 1.0))


@pytest.mark.parametrize("e", ENGINES)
def test_hooks_run_in_order_each_seeing_the_previous_result(e: Any) -> None:
    x = leaf(e, [1.0, 2.0])
    order = []
    x.register_hook(lambda g: order.append(("a", g.numpy().copy())) or g + 1.0)
    x.register_hook(lambda g: order.append(("b", g.numpy().copy())) or g * 3.0)
    (x * 2.0).sum().backward()
    assert [n for n, _ in order] == ["a", "b"]
    close(order[0][1], [2.0, 2.0])
    close(order[1][1], [3.0, 3.0])
    close(x.grad, [9.0, 9.0])


@pytest.mark.parametrize("e", ENGINES)
def test_handle_remove_unregisters_the_hook(e: Any) -> None:
    x = leaf(e, [1.0, 2.0])
    calls = []
    handle = x.register_hook(lambda g: calls.append(1) or g * 0.0)
    handle.remove()
    handle.remove()  # idempotent
    (x * 4.0).sum().backward()
    assert calls == []
    close(x.grad, [4.0, 4.0])
    with x.register_hook(lambda g: g * 0.5):  # a handle is also a context manager
        x.grad = None
        (x * 4.0).sum().backward()
        close(x.grad, [2.0, 2.0])
    x.grad = None
    (x * 4.0).sum().backward()
    close(x.grad, [4.0, 4.0])


@pytest.mark.parametrize("e", ENGINES)
def test_post_accumulate_grad_hook_sees_the_accumulated_grad(e: Any) -> None:
    x = leaf(e, [1.0, -3.0])
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    (x * 2.0).sum().backward()
    (x * x).sum().backward()
    assert len(seen) == 2
    close(seen[0], [2.0, 2.0])
    close(seen[1], [2.0 + 2.0, 2.0 - 6.0])  # the running .grad: 2 + 2x


@pytest.mark.parametrize("e", ENGINES)
def test_post_accumulate_grad_hook_can_step_the_parameter(e: Any) -> None:
    # the optimizer-in-backward pattern: update and clear the grad as soon as it is ready
    w = leaf(e, [1.0, 2.0])

    def step(p: Any) -> None:
        with e.no_grad():
            p.sub_(p.grad * 0.1)
        p.grad = None

    w.register_post_accumulate_grad_hook(step)
    (w * w).sum().backward()
    close(w, [1.0 - 0.2, 2.0 - 0.4])
    assert w.grad is None


@pytest.mark.parametrize("e", ENGINES)
def test_hook_errors(e: Any) -> None:
    x = e.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        x.register_hook(lambda g: g)
    y = leaf(e, [1.0]) * 2.0
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.register_post_accumulate_grad_hook(lambda t: None)
    z = leaf(e, [1.0, 2.0])
    with pytest.raises(TypeError):
        z.register_hook("not callable")
    z.register_hook(lambda g: e.tensor([1.0, 2.0, 3.0], dtype=e.float64))
    with pytest.raises(RuntimeError, match="hook"):
        (z * 2.0).sum().backward()


class _HookFailure(Exception):
    pass


@pytest.mark.parametrize("e", ENGINES)
@pytest.mark.parametrize("where", ["leaf", "non-leaf", "post"])
def test_an_exception_in_a_hook_propagates_and_leaves_the_engine_usable(e: Any, where: str) -> None:
    x = leaf(e, [1.0, 2.0])
    y = x * 3.0
    boom = _HookFailure("from the hook")

    def bad(arg: Any) -> None:
        raise boom

    handle = (x.register_hook(bad) if where == "leaf" else y.register_hook(bad) if where == "non-leaf"
              else x.register_post_accumulate_grad_hook(bad))
    with pytest.raises(_HookFailure) as info:
        (y * y).sum().backward(retain_graph=True)
    assert info.value is boom
    handle.remove()
    x.grad = None
    x2 = leaf(e, [0.5])
    (x2 * x2).sum().backward()  # the engine is usable
    close(x2.grad, [1.0])
    x.grad = None
    (y * y).sum().backward()  # and so is the graph the failed sweep went through
    close(x.grad, 2.0 * 9.0 * np.array([1.0, 2.0]))


@pytest.mark.parametrize("e", ENGINES)
def test_a_non_leaf_hook_fires_after_the_tensor_is_gone(e: Any) -> None:
    x = leaf(e, [1.0, 2.0])
    y = x * 2.0
    calls = []
    y.register_hook(lambda g: calls.append(1) or g * 3.0)
    z = (y * y).sum()
    del y  # its hooks live with its node, as in PyTorch
    z.backward()
    assert calls == [1]
    close(x.grad, 3.0 * 2.0 * 2.0 * 2.0 * np.array([1.0, 2.0]))  # 3 · 2y · 2, y = 2x


@pytest.mark.parametrize("e", ENGINES)
def test_retain_grad_sees_the_hook_result(e: Any) -> None:
    x = leaf(e, [1.0, 2.0])
    y = x * 2.0
    y.retain_grad()
    y.register_hook(lambda g: g * 5.0)
    y.sum().backward()
    close(y.grad, [5.0, 5.0])
    close(x.grad, [10.0, 10.0])


@pytest.mark.parametrize("e", ENGINES)
def test_hooks_with_create_graph_give_a_differentiable_result(e: Any) -> None:
    xv = np.array([0.5, 1.5])
    x = leaf(e, xv)
    x.register_hook(lambda g: g * 2.0)
    (g,) = autograd.grad((x ** 3).sum(), x, create_graph=True)
    close(g, 2.0 * 3.0 * xv ** 2)
    (h,) = autograd.grad(g.sum(), x)  # the hook also runs on this sweep's gradient of x
    close(h, 2.0 * 2.0 * 6.0 * xv)


# ---------------------------------------------------------------------------
# autograd.grad
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES)
def test_grad_with_respect_to_leaves_and_non_leaves_writes_no_grad(e: Any) -> None:
    xv, wv = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.5, -2.0])
    x, w = leaf(e, xv), leaf(e, wv)
    h = x * w  # a non-leaf
    h.retain_grad()
    y = (h.tanh() * 2.0).sum()
    gx, gh, gw = autograd.grad(y, [x, h, w])
    dh = 2.0 * (1.0 - np.tanh(xv * wv) ** 2)
    close(gh, dh)
    close(gx, dh * wv)
    close(gw, dh * xv)
    assert x.grad is None and w.grad is None and h.grad is None


@pytest.mark.parametrize("e", ENGINES)
def test_grad_of_several_outputs_with_grad_outputs(e: Any) -> None:
    xv = np.array([1.0, 2.0, -0.5])
    x = leaf(e, xv)
    a, b = x * x, x.exp()
    va, vb = np.array([1.0, -2.0, 0.5]), np.array([0.25, 3.0, -1.0])
    (g,) = autograd.grad([a, b], [x], grad_outputs=[e.tensor(va, dtype=e.float64), vb])
    close(g, va * 2.0 * xv + vb * np.exp(xv))


@pytest.mark.parametrize("e", ENGINES)
def test_grad_unused_inputs(e: Any) -> None:
    x, z = leaf(e, [1.0, 2.0]), leaf(e, [3.0])
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match=r"inputs\[1\].*not have been used"):
        autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = autograd.grad(y, [x, z], allow_unused=True, retain_graph=True)
    close(gx, [2.0, 2.0])
    assert gz is None
    gx, gz = autograd.grad(y, [x, z], materialize_grads=True)
    close(gz, [0.0])


@pytest.mark.parametrize("e", ENGINES)
def test_grad_argument_errors(e: Any) -> None:
    x = leaf(e, [1.0, 2.0])
    c = e.tensor([1.0, 2.0])
    y = (x * c).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        autograd.grad(y, [c])
    with pytest.raises(RuntimeError, match="does not require grad"):
        autograd.grad(c.sum(), [x])
    with pytest.raises(RuntimeError, match="implicitly created only for scalar"):
        autograd.grad(x * c, [x])
    with pytest.raises(RuntimeError, match="mismatch in shape"):
        autograd.grad(x * c, [x], grad_outputs=[e.tensor([1.0, 2.0, 3.0])])
    with pytest.raises(TypeError):
        autograd.grad(y, [1.0])
    other = ref if e is pg else pg
    with pytest.raises(TypeError, match="pygrad"):
        autograd.grad(y, [other.tensor([1.0], requires_grad=True)])


@pytest.mark.parametrize("e", ENGINES)
def test_grad_create_graph_gives_higher_derivatives(e: Any) -> None:
    xv = np.array([0.5, -1.0, 2.0])
    x = leaf(e, xv)
    (g1,) = autograd.grad((x ** 3).sum(), x, create_graph=True)
    close(g1, 3.0 * xv ** 2)
    assert g1.requires_grad
    (g2,) = autograd.grad(g1.sum(), x, create_graph=True)
    close(g2, 6.0 * xv)
    (g3,) = autograd.grad(g2.sum(), x)
    close(g3, [6.0, 6.0, 6.0])
    assert x.grad is None


@pytest.mark.parametrize("e", ENGINES)
def test_grad_releases_the_graph_unless_retained(e: Any) -> None:
    x = leaf(e, [1.0, 2.0])
    y = (x * x).sum()
    autograd.grad(y, x, retain_graph=True)
    (g,) = autograd.grad(y, x)
    close(g, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="second time"):
        autograd.grad(y, x)


@pytest.mark.parametrize("e", ENGINES)
def test_grad_sweeps_only_what_leads_to_the_inputs(e: Any) -> None:
    a, c = leaf(e, [1.0, 2.0]), leaf(e, [0.5, 0.5])
    side = c * 3.0
    calls = []
    side.register_hook(lambda g: calls.append(1))
    y = (a * a).sum() + side.exp().sum()
    (ga,) = autograd.grad(y, a, retain_graph=True)
    close(ga, [2.0, 4.0])
    assert calls == []  # the branch to c was not swept
    (gc,) = autograd.grad(y, c)
    close(gc, 3.0 * np.exp(1.5) * np.ones(2))
    assert calls == [1]


@pytest.mark.parametrize("e", ENGINES)
def test_grad_equal_inputs_and_an_output_that_is_an_input(e: Any) -> None:
    x = leaf(e, [1.0, 3.0])
    g1, g2 = autograd.grad((x * x).sum(), [x, x])
    close(g1, [2.0, 6.0])
    close(g2, [2.0, 6.0])
    (gx,) = autograd.grad(x, x, grad_outputs=e.tensor([2.0, 5.0], dtype=e.float64))
    close(gx, [2.0, 5.0])
    y = x * 2.0
    (gy,) = autograd.grad(y, y, grad_outputs=np.array([1.0, -1.0]))
    close(gy, [1.0, -1.0])


def test_grad_c_engine_matches_the_reference_on_a_mixed_graph(rng: np.random.Generator) -> None:
    vals = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)]
    up = rng.standard_normal((3, 2))
    results = []
    for e in (pg, ref):
        a, b, c = (leaf(e, v) for v in vals)
        m = a @ b
        h = (m + c).sigmoid()
        out = h * m
        grads = autograd.grad(out, [a, m, h, c], grad_outputs=e.tensor(up, dtype=e.float64))
        results.append([g.numpy() for g in grads])
    for gc, gr in zip(*results):
        np.testing.assert_allclose(gc, gr, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# backward(inputs=...) and autograd.backward
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES)
def test_backward_inputs_accumulates_only_into_them(e: Any) -> None:
    x, w = leaf(e, [1.0, 2.0]), leaf(e, [3.0, -1.0])
    h = x * w
    y = (h * h).sum()
    y.backward(inputs=[w], retain_graph=True)
    assert x.grad is None
    close(w.grad, 2.0 * np.array([3.0, -2.0]) * np.array([1.0, 2.0]))
    y.backward(inputs=h)  # a non-leaf input gets .grad
    close(h.grad, 2.0 * np.array([3.0, -2.0]))
    assert x.grad is None


@pytest.mark.parametrize("e", ENGINES)
def test_autograd_backward_of_several_tensors(e: Any) -> None:
    xv = np.array([0.5, 2.0])
    x = leaf(e, xv)
    autograd.backward([(x * x).sum(), x * 3.0], [None, e.tensor([1.0, -1.0], dtype=e.float64)])
    close(x.grad, 2.0 * xv + np.array([3.0, -3.0]))
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    x.grad = None
    autograd.backward((x * 4.0).sum(), inputs=[x])
    close(x.grad, [4.0, 4.0])
    assert len(seen) == 1
    with pytest.raises(RuntimeError, match="does not require grad"):
        autograd.backward([e.tensor(1.0)])


# ---------------------------------------------------------------------------
# grad mode switches and inference mode
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES)
def test_set_grad_enabled_as_function_context_and_decorator(e: Any) -> None:
    x = leaf(e, [1.0])
    try:
        e.set_grad_enabled(False)
        assert not e.is_grad_enabled()
        assert not (x * 2.0).requires_grad
    finally:
        e.set_grad_enabled(True)
    assert e.is_grad_enabled()
    with e.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
        with e.set_grad_enabled(True):
            assert (x * 2.0).requires_grad
        assert not e.is_grad_enabled()
    assert e.is_grad_enabled()

    @e.set_grad_enabled(False)
    def f(t: Any) -> Any:
        return t * 2.0

    assert e.is_grad_enabled()  # the decorator alone changes nothing
    assert not f(x).requires_grad
    assert e.is_grad_enabled()
    with pytest.raises(TypeError):
        e.set_grad_enabled("no")


@pytest.mark.parametrize("e", ENGINES)
def test_no_grad_and_enable_grad_decorators_with_and_without_parentheses(e: Any) -> None:
    x = leaf(e, [1.0])

    @e.no_grad
    def bare(t: Any) -> Any:
        """doc"""
        return t * 2.0

    @e.no_grad()
    def called(t: Any) -> Any:
        return t * 2.0

    @e.enable_grad
    def back_on(t: Any) -> Any:
        return t * 2.0

    assert not bare(x).requires_grad and not called(x).requires_grad
    assert bare.__doc__ == "doc" and bare.__name__ == "bare"
    with e.no_grad():
        assert back_on(x).requires_grad
        assert not (x * 1.0).requires_grad
    assert e.is_grad_enabled()


@pytest.mark.parametrize("e", ENGINES)
def test_inference_mode(e: Any) -> None:
    x = leaf(e, [1.0, 2.0])
    with e.inference_mode():
        assert e.is_inference_mode_enabled() and not e.is_grad_enabled()
        t = e.tensor([3.0, 4.0], dtype=e.float64)
        u = x * 2.0
    assert not e.is_inference_mode_enabled() and e.is_grad_enabled()
    assert t.is_inference() and u.is_inference() and not u.requires_grad
    assert not x.is_inference() and not (x * 1.0).is_inference()
    with pytest.raises(RuntimeError, match="inference tensors cannot be saved for backward"):
        x * t  # mul saves both inputs
    with pytest.raises(RuntimeError, match="inference"):
        t.add_(1.0)
    with pytest.raises(RuntimeError, match="inference"):
        t.requires_grad_()
    y = (x * t.clone() if hasattr(t, "clone") else x * e.tensor(t.numpy().copy(), dtype=e.float64)).sum()
    y.backward()
    close(x.grad, [3.0, 4.0])

    @e.inference_mode
    def bare(a: Any) -> Any:
        return a * 1.0

    @e.inference_mode()
    def called(a: Any) -> Any:
        return a * 1.0

    assert bare(x).is_inference() and called(x).is_inference()
    with e.inference_mode(False):
        assert e.is_grad_enabled() and not (x * 1.0).is_inference()


# ---------------------------------------------------------------------------
# in-place ops
# ---------------------------------------------------------------------------

UNARY_INPLACE: list[tuple[str, Callable[[Any], Any], Callable[[np.ndarray], np.ndarray]]] = [
    ("exp_", lambda t: t.exp_(), np.exp),
    ("relu_", lambda t: t.relu_(), lambda v: (v > 0).astype(float)),
    ("sigmoid_", lambda t: t.sigmoid_(), lambda v: (1 / (1 + np.exp(-v))) * (1 - 1 / (1 + np.exp(-v)))),
    ("tanh_", lambda t: t.tanh_(), lambda v: 1 - np.tanh(v) ** 2),
    ("neg_", lambda t: t.neg_(), lambda v: -np.ones_like(v)),
    ("abs_", lambda t: t.abs_(), np.sign),
    ("sqrt_", lambda t: t.sqrt_(), lambda v: 0.5 / np.sqrt(v)),
    ("clamp_", lambda t: t.clamp_(-0.5, 1.0), lambda v: ((v > -0.5) & (v < 1.0)).astype(float)),
    ("pow_", lambda t: t.pow_(3.0), lambda v: 3 * v ** 2),
    ("div_", lambda t: t.div_(4.0), lambda v: np.full_like(v, 0.25)),
    ("mul_", lambda t: t.mul_(-2.0), lambda v: np.full_like(v, -2.0)),
    ("add_", lambda t: t.add_(5.0), np.ones_like),
    ("sub_", lambda t: t.sub_(5.0), np.ones_like),
    ("fill_", lambda t: t.fill_(7.0), np.zeros_like),
    ("zero_", lambda t: t.zero_(), np.zeros_like),
]


@pytest.mark.parametrize("e", ENGINES)
@pytest.mark.parametrize("case", UNARY_INPLACE, ids=[c[0] for c in UNARY_INPLACE])
def test_inplace_on_a_non_leaf_is_recorded(e: Any, case: tuple, rng: np.random.Generator) -> None:
    name, op, fprime = case
    av = rng.uniform(0.2, 1.5, 4) * np.array([1, -1, 1, -1]) if name not in ("sqrt_",) else rng.uniform(0.2, 1.5, 4)
    w = rng.standard_normal(4)
    a = leaf(e, av)
    b = a * 1.5
    v0 = b.version
    assert op(b) is b
    assert b.version > v0 and not b.is_leaf
    assert b.grad_fn is not None
    (b * e.tensor(w, dtype=e.float64)).sum().backward()
    close(a.grad, 1.5 * fprime(1.5 * av) * w)


@pytest.mark.parametrize("e", ENGINES)
def test_inplace_binary_updates_reach_both_operands(e: Any, rng: np.random.Generator) -> None:
    av, ov = rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, 3)
    cases = [
        ("mul_", lambda b, o: b.mul_(o), lambda a, o: (o, a)),
        ("add_ alpha", lambda b, o: b.add_(o, alpha=-2.5), lambda a, o: (np.ones(3), np.full(3, -2.5))),
        ("sub_", lambda b, o: b.sub_(o), lambda a, o: (np.ones(3), -np.ones(3))),
        ("div_", lambda b, o: b.div_(o), lambda a, o: (1 / o, -a / o ** 2)),
        ("pow_", lambda b, o: b.pow_(o), lambda a, o: (o * a ** (o - 1), a ** o * np.log(a))),
        ("copy_", lambda b, o: b.copy_(o), lambda a, o: (np.zeros(3), np.ones(3))),
    ]
    for _name, op, grads in cases:
        a, o = leaf(e, av), leaf(e, ov)
        b = a * 1.0
        op(b, o)
        b.sum().backward()
        da, do = grads(av, ov)
        close(a.grad, da, 1e-10)
        close(o.grad, do, 1e-10)


@pytest.mark.parametrize("e", ENGINES)
def test_masked_fill_(e: Any) -> None:
    a = leaf(e, [1.0, 2.0, 3.0])
    b = a * 2.0
    mask = e.tensor([True, False, True])
    b.masked_fill_(mask, -1.0)
    close(b, [-1.0, 4.0, -1.0])
    (b * e.tensor([1.0, 10.0, 100.0], dtype=e.float64)).sum().backward()
    close(a.grad, [0.0, 20.0, 0.0])
    with pytest.raises(TypeError, match="bool"):
        b.detach().masked_fill_(e.tensor([1.0, 0.0, 1.0]), 0.0)


@pytest.mark.parametrize("e", ENGINES)
def test_inplace_on_a_value_saved_for_backward_raises_at_backward(e: Any) -> None:
    a = leaf(e, [1.0, 2.0])
    b = a * 1.0
    c = b * b  # mul saves b
    b.exp_()
    with pytest.raises(RuntimeError, match="in-place|in place"):
        c.sum().backward()
    d = a.exp()  # exp saves its output, which the update then overwrites
    d.mul_(2.0)
    with pytest.raises(RuntimeError, match="in-place|in place"):
        d.sum().backward()
    e2 = a * 1.0
    e2.exp_()  # an in-place op's own result is saved apart from the tensor (see docs/semantics.md)
    e2.mul_(2.0)
    a.grad = None
    e2.sum().backward()
    close(a.grad, 2.0 * np.exp([1.0, 2.0]))


@pytest.mark.parametrize("e", ENGINES)
def test_inplace_on_a_leaf_that_requires_grad(e: Any) -> None:
    a = leaf(e, [1.0, 4.0])
    for op in (lambda t: t.exp_(), lambda t: t.sqrt_(), lambda t: t.masked_fill_(e.tensor([True, False]), 0.0),
               lambda t: t.copy_(e.tensor([0.0, 0.0], dtype=e.float64))):
        with pytest.raises(RuntimeError, match="leaf"):
            op(a)
    v = a.version
    with e.no_grad():
        a.sqrt_()
    assert a.version > v and a.is_leaf and a.requires_grad
    close(a, [1.0, 2.0])


@pytest.mark.parametrize("e", ENGINES)
def test_inplace_without_grad_changes_values_only(e: Any) -> None:
    t = e.tensor([-1.0, 4.0], dtype=e.float64)
    t.relu_().sqrt_().add_(e.tensor([1.0, 1.0], dtype=e.float64), alpha=0.5)
    close(t, [0.5, 2.5])
    assert t.is_leaf and not t.requires_grad
    t.copy_(e.tensor([[3.0, 4.0]], dtype=e.float64))  # unrecorded copy_: any shape of the same size
    close(t, [3.0, 4.0])


@pytest.mark.parametrize("e", ENGINES)
def test_inplace_on_a_recorded_view_raises(e: Any) -> None:
    a = leaf(e, [[1.0, 2.0], [3.0, 4.0]])
    b = a * 1.0
    v = b.reshape(4)
    with pytest.raises(RuntimeError, match="view"):
        v.exp_()
    with pytest.raises(RuntimeError, match="view"):
        v.add_(1.0)
    with pytest.raises(RuntimeError, match="view"):  # the base: its view's graph would go stale
        b.exp_()
    with pytest.raises(RuntimeError, match="view"):
        b.mul_(2.0)
    del v  # no view left: the update is recorded
    b.exp_()
    b.sum().backward()
    close(a.grad, np.exp([[1.0, 2.0], [3.0, 4.0]]))
    c = a.detach().reshape(4)  # views outside the graph change nothing
    with e.no_grad():
        c.mul_(1.0)


@pytest.mark.parametrize("e", ENGINES)
def test_inplace_promotes_a_plain_tensor_into_the_graph(e: Any) -> None:
    x = leaf(e, [1.0, 2.0])
    acc = e.zeros(2, dtype=e.float64)
    acc.add_(x * x)
    acc.mul_(x)
    assert not acc.is_leaf
    acc.sum().backward()
    close(x.grad, 3.0 * np.array([1.0, 2.0]) ** 2)


@pytest.mark.parametrize("e", ENGINES)
def test_detach_(e: Any) -> None:
    x = leaf(e, [1.0, 2.0])
    y = x * 3.0
    assert y.detach_() is y
    assert y.is_leaf and not y.requires_grad and y.grad_fn is None
    close(y, [3.0, 6.0])
    with pytest.raises(RuntimeError, match="view"):
        (x * 1.0).reshape(2, 1).detach_()


def test_inplace_chain_c_engine_matches_the_reference(rng: np.random.Generator) -> None:
    av, ov, w = rng.uniform(0.3, 1.2, (2, 3)), rng.uniform(0.3, 1.2, 3), rng.standard_normal((2, 3))
    out = []
    for e in (pg, ref):
        a, o = leaf(e, av), leaf(e, ov)
        b = a * o
        b.tanh_().mul_(o).add_(a, alpha=0.5).sigmoid_().pow_(2.0).clamp_(0.1, 0.9).div_(o)
        (b * e.tensor(w, dtype=e.float64)).sum().backward()
        out.append((b.numpy().copy(), a.grad.numpy().copy(), o.grad.numpy().copy()))
    for c_val, r_val in zip(*out):
        np.testing.assert_allclose(c_val, r_val, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# gradgradcheck
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES)
def test_gradgradcheck_passes_on_correct_second_derivatives(e: Any, rng: np.random.Generator) -> None:
    x, y = leaf(e, rng.uniform(-1, 1, 3)), leaf(e, rng.uniform(-1, 1, 3))
    report = gradgradcheck(lambda a, b: (a * a * b).tanh() * a.exp() + (a @ b), [x, y])
    assert report.ok and all(c.checked for c in report.inputs)
    assert pg.gradgradcheck is gradgradcheck
    assert x.grad is None and y.grad is None


@pytest.mark.parametrize("e", ENGINES)
def test_gradgradcheck_catches_a_backward_that_is_not_differentiable(e: Any) -> None:
    def square(x: Any) -> Any:
        # the first derivative 2x·g is right, but built from a constant copy of x,
        # so its own derivative (2g) is lost: gradcheck passes, gradgradcheck fails
        def backward(g: Any, needs: list[bool]) -> list[Any]:
            return [g * e.tensor(2.0 * x.numpy(), dtype=x.dtype)]

        return e.custom_op([x], x.numpy() ** 2, backward)

    x = leaf(e, [0.5, -1.0, 1.5])
    assert gradcheck(lambda t: (square(t) * 1.0).sum(), [x]).ok
    with pytest.raises(GradcheckError):
        gradgradcheck(lambda t: square(t), [x])
    assert not gradgradcheck(lambda t: square(t), [x], raise_exception=False).ok


# ---------------------------------------------------------------------------
# against PyTorch (optional)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES)
def test_against_torch_hooks_grad_and_inplace(e: Any, rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    xv, wv, up = rng.uniform(0.2, 1.0, (3, 2)), rng.standard_normal((2, 2)), rng.standard_normal((3, 2))

    def program(lib: Any, tensor: Callable[[np.ndarray, bool], Any], grad: Callable) -> list[np.ndarray]:
        x, w = tensor(xv, True), tensor(wv, True)
        h = x @ w
        h.register_hook(lambda g: g * 2.0)
        x.register_hook(lambda g: g + 1.0)
        z = h * 1.0
        z.add_(h, alpha=0.5)
        z.mul_(x)
        z.clamp_(-0.7, 0.9)
        z.div_(x)
        z.pow_(2.0)
        z.sigmoid_()
        gx, gw = grad(z, [x, w], tensor(up, False), True)
        (gh,) = grad(z, [h], tensor(up, False), True)  # h's hook runs before its gradient is captured
        y = (z.sigmoid() * tensor(up, False)).sum()
        y.backward(inputs=[w])
        return [gx.detach().numpy(), gw.detach().numpy(), gh.detach().numpy(), w.grad.numpy(), z.detach().numpy()]

    ours = program(e, lambda a, rg: e.tensor(a, dtype=e.float64, requires_grad=rg),
                   lambda o, i, g, r: autograd.grad(o, i, g, retain_graph=r))
    theirs = program(torch, lambda a, rg: torch.tensor(a, dtype=torch.float64, requires_grad=rg),
                     lambda o, i, g, r: torch.autograd.grad(o, i, g, retain_graph=r))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_against_torch_errors() -> None:
    torch = pytest.importorskip("torch")
    for lib, t in ((pg, pg.tensor), (torch, torch.tensor)):
        x = t([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError):
            x.exp_()
        with pytest.raises(RuntimeError):
            y = x * 1.0
            z = y * y
            y.exp_()
            z.sum().backward()
        grad = pg.autograd.grad if lib is pg else torch.autograd.grad
        with pytest.raises(RuntimeError):
            grad((x * 2.0).sum(), [x, t([1.0], requires_grad=True)])
        with lib.inference_mode():
            inf = t([1.0, 2.0])
        assert inf.is_inference()
        with pytest.raises(RuntimeError):
            (x * inf).sum()


@pytest.mark.parametrize("e", ENGINES)
def test_inplace_bad_input_names_the_op(e: Any) -> None:
    a = leaf(e, [1.0, 2.0, 3.0])
    b = a * 1.0
    with pytest.raises(pg.ShapeError, match=r"div_.*\(3,\)"):
        b.div_(e.tensor(np.ones((2, 3))))
    with pytest.raises(pg.ShapeError, match="copy_"):
        b.copy_(e.tensor(np.ones((2, 3))))
    with pytest.raises(TypeError, match="masked_fill_"):
        b.masked_fill_(e.tensor([1.0, 0.0, 1.0]), 0.0)
    with pytest.raises(ValueError, match="masked_fill_"):
        b.masked_fill_(e.tensor([True, False, True]), e.tensor([1.0, 2.0]))
    with pytest.raises(TypeError):
        e.tensor([True, False]).exp_()
    empty = e.tensor(np.zeros((0, 2)), dtype=e.float64)
    assert empty.exp_().shape == (0, 2)
    nan = e.tensor([np.nan, 1.0], dtype=e.float64)
    expected = nan.relu().numpy()  # the in-place form gives what the op gives
    nan.relu_()
    np.testing.assert_array_equal(nan.numpy(), expected)
    nan.fill_(np.nan).exp_()
    assert np.isnan(nan.numpy()).all()


@pytest.mark.parametrize("e", ENGINES)
def test_inplace_keeps_the_dtype_with_a_float64_operand(e: Any) -> None:
    a = e.tensor([1.0, 2.0], dtype=e.float32, requires_grad=True)
    o = e.tensor([0.5, 4.0], dtype=e.float64, requires_grad=True)
    b = a * 1.0
    b.div_(o)
    assert b.dtype == e.float32
    b.sum().backward()
    assert a.grad.dtype == e.float32 and o.grad.dtype == e.float64
    close(a.grad, [2.0, 0.25], 1e-6)
    close(o.grad, [-4.0, -2.0 / 16.0], 1e-6)
