"""PyTorch's ``inplace=True`` on the activations (``F.relu(x, inplace=True)``, ``nn.ReLU(inplace=True)``
...): the result is written into the input, which is returned; values and gradients are those of the
out-of-place function (and PyTorch's, when installed), on both engines."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference
from pygrad import nn
from pygrad._compile import CompileWarning
from pygrad.errors import PygradRuntimeError, PygradTypeError

ENGINES = {"c": pygrad, "reference": pygrad.reference}
NAMES = ["relu", "leaky_relu", "elu", "silu", "mish", "hardtanh", "relu6", "hardsigmoid", "selu", "celu",
         "hardswish"]
rng = np.random.default_rng(7)
A = rng.standard_normal((4, 6)) * 3
G = rng.standard_normal((4, 6))


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


def _run(m: Any, name: str, inplace: bool) -> tuple[Any, Any, Any]:
    x = m.tensor(A, requires_grad=True)
    h = x * 2.0  # a value of the graph, not a leaf
    out = getattr(m.nn.functional, name)(h, inplace=inplace) if inplace else getattr(m.nn.functional, name)(h)
    (out * m.tensor(G)).sum().backward()
    return h, out, x.grad


@pytest.mark.parametrize("name", NAMES)
def test_inplace_matches_out_of_place(m: Any, name: str) -> None:
    h, out, grad = _run(m, name, True)
    assert out is h  # written into its input
    _, want, want_grad = _run(m, name, False)
    np.testing.assert_array_equal(h.numpy(), want.numpy())
    np.testing.assert_array_equal(grad.numpy(), want_grad.numpy())


@pytest.mark.parametrize("name", NAMES)
def test_inplace_against_torch(m: Any, name: str) -> None:
    torch = pytest.importorskip("torch")
    h, _, grad = _run(m, name, True)
    tx = torch.tensor(A, requires_grad=True)
    th = tx * 2.0
    (getattr(torch.nn.functional, name)(th, inplace=True) * torch.tensor(G)).sum().backward()
    np.testing.assert_allclose(h.numpy(), th.detach().numpy(), rtol=1e-7, atol=1e-12)  # hardsigmoid: x/6 vs x·(1/6)
    np.testing.assert_allclose(grad.numpy(), tx.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_relu_inplace_by_hand(m: Any) -> None:
    z = m.tensor(A.copy())
    assert m.nn.functional.relu(z, inplace=True) is z
    np.testing.assert_array_equal(z.numpy(), np.maximum(A, 0))
    _, _, grad = _run(m, "relu", True)
    np.testing.assert_array_equal(grad.numpy(), 2.0 * G * (A > 0))


def test_inplace_errors(m: Any) -> None:
    F = m.nn.functional
    leaf = m.tensor(A, requires_grad=True)
    with pytest.raises(PygradRuntimeError, match="relu_: a leaf tensor that requires grad"):
        F.relu(leaf, inplace=True)
    with pytest.raises(PygradTypeError, match="relu: inplace must be a bool, got str"):
        F.relu(leaf * 1.0, inplace="yes")
    with pytest.raises(PygradTypeError, match="ReLU: inplace must be a bool"):
        m.nn.ReLU(inplace=1)
    with pytest.raises(PygradTypeError, match="SiLU: inplace must be a bool"):
        m.nn.SiLU(inplace=None)
    # a value an earlier op saved for its backward, overwritten: that backward refuses to run
    x = m.tensor(A, requires_grad=True)
    h = x * 1.0
    sq = h * h  # saves h
    F.relu(h, inplace=True)
    with pytest.raises(PygradRuntimeError, match="modified"):
        sq.sum().backward()


def test_modules_with_inplace(m: Any) -> None:
    kinds = [("ReLU", ()), ("LeakyReLU", (0.2,)), ("ELU", (0.5,)), ("SiLU", ()), ("Mish", ()), ("Hardtanh", ()),
             ("ReLU6", ()), ("Hardsigmoid", ()), ("SELU", ()), ("CELU", (0.7,)), ("Hardswish", ())]
    for kind, args in kinds:
        grads, outs = [], []
        for inplace in (False, True):
            lin = m.nn.Linear(6, 5, dtype="float64", generator=3)
            net = m.nn.Sequential(lin, getattr(m.nn, kind)(*args, inplace=inplace))
            x = m.tensor(A, requires_grad=True)
            y = net(x)
            (y * m.tensor(G[:, :5])).sum().backward()
            outs.append(y.numpy())
            grads.append((x.grad.numpy(), lin.weight.grad.numpy()))
        np.testing.assert_array_equal(outs[0], outs[1], err_msg=kind)
        for a, b in zip(*grads):
            np.testing.assert_array_equal(a, b, err_msg=kind)
    assert repr(m.nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(m.nn.ReLU()) == "ReLU()"
    assert repr(m.nn.LeakyReLU(0.2, True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"


def test_compile_runs_inplace_activation_eagerly() -> None:
    """An in-place activation on a value of the graph is an in-place update the graph records,
    which a program cannot replay: the compiled step says so once and runs eagerly, with the
    eager results."""
    lin = nn.Linear(6, 3, dtype="float64", generator=0)
    net = nn.Sequential(lin, nn.ReLU(inplace=True))

    def step(x):
        lin.weight.grad = None
        net(x).sum().backward()
        return lin.weight.grad

    f = pygrad.compile(step)
    x = pygrad.tensor(A)
    with pytest.warns(CompileWarning, match="in-place update recorded in the graph"):
        got = [f(x).numpy() for _ in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        want = step(x).numpy()
    for g in got:
        np.testing.assert_array_equal(g, want)
    assert f.records == 0


@pytest.mark.parametrize(("name", "args"), [("relu_", ()), ("leaky_relu_", (0.2,)), ("elu_", (0.5,)),
                                            ("hardtanh_", (-0.5, 0.5)), ("selu_", ()), ("celu_", (0.7,)),
                                            ("threshold_", (0.3, -1.0)), ("rrelu_", (0.1, 0.3))])
def test_underscore_forms(m: Any, name: str, args: tuple[Any, ...]) -> None:
    """F.relu_(x) ... are f(x, inplace=True): x changed and returned, gradients as out of place."""
    F = m.nn.functional
    x = m.tensor(A, requires_grad=True)
    h = x * 2.0
    assert getattr(F, name)(h, *args) is h
    (h * m.tensor(G)).sum().backward()
    x2 = m.tensor(A, requires_grad=True)
    want = getattr(F, name[:-1])(x2 * 2.0, *args)
    (want * m.tensor(G)).sum().backward()
    np.testing.assert_array_equal(h.numpy(), want.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), x2.grad.numpy())
    torch = pytest.importorskip("torch")
    t = torch.tensor(A) * 2.0
    getattr(torch.nn.functional, name)(t, *args)
    np.testing.assert_allclose(h.numpy(), t.numpy(), rtol=1e-12)


def test_threshold_and_rrelu_modules_inplace(m: Any) -> None:
    for mod, fn in ((m.nn.Threshold(0.1, 20.0, inplace=True), lambda t: m.nn.functional.threshold(t, 0.1, 20.0)),
                    (m.nn.RReLU(0.1, 0.3, inplace=True).eval(), lambda t: m.nn.functional.rrelu(t, 0.1, 0.3))):
        h = m.tensor(A) * 1.0
        assert mod(h) is h
        np.testing.assert_array_equal(h.numpy(), fn(m.tensor(A)).numpy())
        assert "inplace=True" in repr(mod)
