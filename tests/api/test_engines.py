"""One engine protocol: each Tensor class names its engine, pygrad._engines answers
"which engine" for everything engine-neutral, code written once runs on the
engine of its inputs, and mixing the engines is a TypeError, never a silent copy."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest

import pygrad as pg
import pygrad._c as C
import pygrad.reference as ref
from pygrad import PygradError, _engines, gates, nn, viz
from pygrad.functional import grad as fgrad
from pygrad.gradcheck import gradcheck
from pygrad.testing import assert_parity

ENGINES = [C, ref]
IDS = ["c", "reference"]


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------
# which engine
# ---------------------------------------------------------------------------


def test_each_tensor_class_names_its_engine() -> None:
    assert C.Tensor._engine == "pygrad._c" and ref.Tensor._engine == "pygrad.reference"
    assert _engines.engine_of(C.tensor([1.0])) is C
    assert _engines.engine_of(ref.tensor([1.0])) is ref
    assert _engines.is_tensor(C.ones(2)) and _engines.is_tensor(ref.ones(2))
    assert not _engines.is_tensor(np.ones(2)) and not _engines.is_tensor(C)
    with pytest.raises(TypeError, match="viz: expected a pygrad Tensor, got ndarray") as info:
        _engines.engine_of(np.ones(2), "viz")
    assert isinstance(info.value, PygradError)


@pytest.mark.parametrize(("name", "expected"), [
    ("c", C), ("pygrad", C), ("pygrad._c", C), ("reference", ref), ("python", ref), ("pygrad.reference", ref),
])
def test_resolve_names(name: str, expected: Any) -> None:
    assert _engines.resolve(name) is expected


def test_resolve_modules_and_bad_values() -> None:
    assert _engines.resolve(C) is C and _engines.resolve(ref) is ref
    assert _engines.resolve(pg) is _engines.engine_of(pg.tensor(1.0))  # the package: the engine it serves
    assert _engines.resolve(None, "reference") is ref
    with pytest.raises(ValueError, match="jacobian: engine must be 'pygrad' or 'pygrad.reference'"):
        _engines.resolve("torch", op="jacobian")
    with pytest.raises(TypeError, match="engine must be an engine module"):
        _engines.resolve(np)
    with pytest.raises(TypeError, match="engine must be an engine module"):
        _engines.resolve(3)


def test_common_engine() -> None:
    a, b = C.ones(2), ref.ones(2)
    assert _engines.common("f", [a, 1.0, np.ones(2)]) is C
    assert _engines.common("f", [b, "x"]) is ref
    assert _engines.common("f", [1.0], default="reference") is ref
    with pytest.raises(TypeError, match="f: cannot mix Tensors of pygrad and pygrad.reference"):
        _engines.common("f", [b, a])
    with pytest.raises(TypeError, match="f: engine='pygrad.reference' but got Tensors of 'pygrad'"):
        _engines.common("f", [a], engine="reference")


# ---------------------------------------------------------------------------
# mixing the engines in one op: a TypeError naming the op and both engines
# ---------------------------------------------------------------------------

MIXES: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("mul", lambda c, r: c * r),
    ("mul", lambda c, r: r * c),
    ("add", lambda c, r: c + r),
    ("add", lambda c, r: r + c),
    ("sub", lambda c, r: c - r),
    ("sub", lambda c, r: r - c),
    ("div", lambda c, r: c / r),
    ("div", lambda c, r: r / c),
    ("pow", lambda c, r: c ** r),
    ("matmul", lambda c, r: c @ r),
    ("matmul", lambda c, r: r @ c),
    ("maximum", lambda c, r: C.maximum(c, r)),
    ("maximum", lambda c, r: ref.maximum(r, c)),
    ("minimum", lambda c, r: c.minimum(r)),
    ("where", lambda c, r: C.where(c > 0, c, r)),
    ("where", lambda c, r: ref.where(r > 0, r, c)),
    ("concatenate", lambda c, r: C.concatenate([c, r])),
    ("concatenate", lambda c, r: ref.concatenate([r, c])),
    ("stack", lambda c, r: C.stack([c, r])),
    ("prelu", lambda c, r: C.prelu(c, r[:1])),
    ("backward", lambda c, r: (c * c).sum().backward(ref.tensor(1.0))),
    ("backward", lambda c, r: (r * r).sum().backward(C.tensor(1.0))),
    ("custom", lambda c, r: C.custom_op([r], C.ones(2), lambda g, n: [g])),
    ("custom", lambda c, r: ref.custom_op([c], ref.ones(2), lambda g, n: [g])),
    ("copy_", lambda c, r: c.detach().copy_(r)),
]


@pytest.mark.parametrize(("op", "f"), MIXES, ids=[f"{op}-{i}" for i, (op, _) in enumerate(MIXES)])
def test_mixing_engines_in_one_op_raises(op: str, f: Callable[[Any, Any], Any]) -> None:
    c = C.tensor([1.0, 2.0], requires_grad=True)
    r = ref.tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(TypeError, match=rf"^{op}: cannot mix Tensors of pygrad and pygrad.reference") as info:
        f(c, r)
    assert isinstance(info.value, PygradError)
    assert c.grad is None and r.grad is None


# ---------------------------------------------------------------------------
# tensor(t): a copy, detached, with a warning
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("src", ENGINES, ids=IDS)
@pytest.mark.parametrize("dst", ENGINES, ids=IDS)
def test_tensor_of_a_tensor_copies_detaches_and_warns(src: Any, dst: Any) -> None:
    x = src.tensor([1.5, -2.0], dtype=src.float64, requires_grad=True)
    y = x * 3.0
    with pytest.warns(UserWarning, match="tensor: to copy construct from a tensor.*detached"):
        t = dst.tensor(y)
    assert type(t) is dst.Tensor
    assert t.dtype == np.float64 and not t.requires_grad and t.grad_fn is None
    np.testing.assert_array_equal(t.numpy(), [4.5, -6.0])
    t.numpy()[0] = 100.0  # a copy: the source keeps its values
    np.testing.assert_array_equal(y.numpy(), [4.5, -6.0])
    with pytest.warns(UserWarning):
        f32 = dst.tensor(y, dtype="float32")
    assert f32.dtype == np.float32


def test_tensor_of_data_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C.tensor(np.ones(2))
        ref.tensor([1.0, 2.0])
        C.tensor(ref.ones(2).numpy())


# ---------------------------------------------------------------------------
# written once, run on the engine of the inputs
# ---------------------------------------------------------------------------


class UserSigmoid(gates.Gate):
    """A user-defined gate of pygrad.gates, written with numpy."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.s = _sig(x)
        return self.s

    def backward(self, dz: np.ndarray) -> np.ndarray:
        return (1.0 - self.s) * self.s * dz


@pytest.mark.parametrize("e", ENGINES, ids=IDS)
def test_a_user_gate_records_a_graph_on_the_engine_of_its_inputs(e: Any) -> None:
    x0 = np.array([-1.0, 0.5, 2.0])
    dout = np.array([0.3, -1.2, 0.7])
    x = e.tensor(x0, requires_grad=True)
    z = UserSigmoid()(x * 2.0)
    assert type(z) is e.Tensor and z.grad_fn is not None
    (z * e.tensor(dout)).sum().backward()
    s = _sig(2.0 * x0)
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * s * (1.0 - s) * dout, rtol=1e-12)


@pytest.mark.parametrize("e", ENGINES, ids=IDS)
def test_built_in_gates_run_on_the_engine_of_their_inputs(e: Any) -> None:
    x = e.tensor([2.0, -3.0], dtype=e.float64, requires_grad=True)
    y = e.tensor([4.0, 5.0], dtype=e.float64, requires_grad=True)
    z = gates.MultiplyGate()(x, y)
    assert type(z) is e.Tensor
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 5.0])
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, -3.0])
    g = gates.MaxGate()
    out = g.forward(x.detach(), e.tensor([1.0, 1.0], dtype=e.float64))
    assert type(out) is e.Tensor
    dx, dy = g.backward(e.tensor([1.0, 1.0], dtype=e.float64))
    np.testing.assert_array_equal(dx.numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(dy.numpy(), [0.0, 1.0])


def test_gates_refuse_mixed_engines() -> None:
    with pytest.raises(TypeError, match="AddGate: cannot mix Tensors of pygrad and pygrad.reference"):
        gates.AddGate()(C.ones(2), ref.ones(2))
    with pytest.raises(TypeError, match="UserSigmoid: cannot mix Tensors"):
        UserSigmoid()(C.ones(2), ref.ones(2))
    with pytest.raises(TypeError, match="MultiplyGate: cannot mix Tensors"):
        gates.MultiplyGate().forward(ref.ones(2), C.ones(2))


def test_assert_parity_of_a_user_gate() -> None:
    """The user gate runs on each engine, so parity finds both gradients."""
    assert_parity(lambda x: UserSigmoid()(x.tanh()).sum(), np.array([0.3, -0.8, 1.1]))


def test_a_computational_graph_of_reference_tensors_stays_on_the_reference() -> None:
    cg = gates.ComputationalGraph()
    x, y, z = cg.input("x"), cg.input("y"), cg.input("z")
    q = cg.add(gates.AddGate(), x, y)
    cg.add(gates.MultiplyGate(), q, z)
    out = cg.forward({"x": ref.tensor(-2.0), "y": ref.tensor(5.0), "z": ref.tensor(-4.0)})
    assert type(out) is ref.Tensor and out.item() == -12.0
    g = cg.backward()
    assert [type(v) for v in g.values()] == [ref.Tensor] * 3
    assert {k: v.item() for k, v in g.items()} == {"x": -4.0, "y": -4.0, "z": 3.0}


@pytest.mark.parametrize("e", ENGINES, ids=IDS)
def test_nn_module_on_the_engine_it_is_given(e: Any) -> None:
    layer = nn.Linear(2, 3, generator=0, engine=e)
    assert type(layer.weight) is e.Tensor
    x = e.tensor(np.array([[1.0, 2.0]], dtype=np.float32))
    out = layer(x)
    assert type(out) is e.Tensor
    np.testing.assert_allclose(out.numpy(), x.numpy() @ layer.weight.numpy() + layer.bias.numpy(), rtol=1e-6)
    other = ref if e is C else C
    with pytest.raises(TypeError, match=f"Linear: the input is a {_engines.label(other)} tensor"):
        layer(other.ones(1, 2))


@pytest.mark.parametrize("e", ENGINES, ids=IDS)
def test_functional_and_gradcheck_follow_the_inputs(e: Any) -> None:
    x = e.tensor([0.5, -1.0], dtype=e.float64)
    g = fgrad(lambda t: (t * t * t).sum())(x)
    assert type(g) is e.Tensor
    np.testing.assert_allclose(g.numpy(), [0.75, 3.0], rtol=1e-12)
    report = gradcheck(lambda t: (t.tanh() * 2.0).sum(), [e.tensor([0.3], dtype=e.float64, requires_grad=True)])
    np.testing.assert_allclose(report.inputs[0].analytic, [2.0 * (1.0 - np.tanh(0.3) ** 2)], rtol=1e-10)


@pytest.mark.parametrize("e", ENGINES, ids=IDS)
def test_viz_draws_either_engine(e: Any) -> None:
    x = e.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    dot = viz.draw(y, names={"x": x})
    assert dot.count('label="x"') == 1 and '"*"' in dot or 'label="*"' in dot
    assert "4" in dot  # the gradient 2x = [2, 4] is drawn on x's edges
