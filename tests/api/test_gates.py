"""The gate interface: built-in gates, user-defined gates, ComputationalGraph,
the notes' circuits and patterns of backward flow, circuit diagrams."""

from __future__ import annotations

import math
import shutil
import traceback
import zlib

import numpy as np
import pytest

import pygrad as pg
import pygrad.gates as G
import pygrad.reference as ref
import pygrad.reference.gates as RG
from pygrad import _optable, viz

ENGINES = [(pg, G), (ref, RG)]
ENGINE_IDS = ["c", "ref"]


def sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


# ---------------------------------------------------------------------------
# every op has a gate, and every built-in gate agrees across engines
# ---------------------------------------------------------------------------


def test_every_op_has_a_gate() -> None:
    assert set(G.GATES_BY_OP) == set(pg.OP_NAMES)
    assert set(RG.GATES_BY_OP) == set(pg.OP_NAMES)


# (factory(namespace), input shapes, domain); one or more per built-in gate
GATE_CASES = [
    ("AddGate", lambda ns: ns.AddGate(), [(2, 3), (3,)], "any"),
    ("SubtractGate", lambda ns: ns.SubtractGate(), [(2, 3), (2, 3)], "any"),
    ("MultiplyGate", lambda ns: ns.MultiplyGate(), [(2, 3), (2, 1)], "any"),
    ("DivideGate", lambda ns: ns.DivideGate(), [(3,), (3,)], "away0"),
    ("NegateGate", lambda ns: ns.NegateGate(), [(4,)], "any"),
    ("AddConstantGate", lambda ns: ns.AddConstantGate(1.0), [(3,)], "any"),
    ("ScaleGate", lambda ns: ns.ScaleGate(-1.5), [(2, 2)], "any"),
    ("PowerGate", lambda ns: ns.PowerGate(3), [(3,)], "any"),
    ("DivideByConstantGate", lambda ns: ns.DivideByConstantGate(3.0), [(3,)], "any"),
    ("ConstantOverGate", lambda ns: ns.ConstantOverGate(2.0), [(3,)], "away0"),
    ("ConstantPowerGate", lambda ns: ns.ConstantPowerGate(10.0), [(3,)], "any"),
    ("PowGate", lambda ns: ns.PowGate(), [(3,), (3,)], "positive"),
    ("SqrtGate", lambda ns: ns.SqrtGate(), [(3,)], "positive"),
    ("ReciprocalGate", lambda ns: ns.ReciprocalGate(), [(3,)], "away0"),
    ("AbsGate", lambda ns: ns.AbsGate(), [(5,)], "away0"),
    ("MaxGate", lambda ns: ns.MaxGate(), [(4,), (4,)], "away0"),
    ("MinGate", lambda ns: ns.MinGate(), [(4,), (4,)], "away0"),
    ("ClampGate", lambda ns: ns.ClampGate(-0.5, 0.5), [(6,)], "away0"),
    ("SigmoidGate", lambda ns: ns.SigmoidGate(), [(3,)], "any"),
    ("TanhGate", lambda ns: ns.TanhGate(), [(3,)], "any"),
    ("ReLUGate", lambda ns: ns.ReLUGate(), [(5,)], "away0"),
    ("LeakyReLUGate", lambda ns: ns.LeakyReLUGate(0.1), [(5,)], "away0"),
    ("ELUGate", lambda ns: ns.ELUGate(0.5), [(5,)], "away0"),
    ("MatMulGate", lambda ns: ns.MatMulGate(), [(2, 3), (3, 4)], "any"),
    ("SumGate", lambda ns: ns.SumGate(axis=1), [(2, 3)], "any"),
    ("MeanGate", lambda ns: ns.MeanGate(), [(2, 3)], "any"),
    ("ReduceMaxGate", lambda ns: ns.ReduceMaxGate(axis=0), [(3, 2)], "away0"),
    ("ReduceMinGate", lambda ns: ns.ReduceMinGate(), [(3, 2)], "away0"),
    ("ReshapeGate", lambda ns: ns.ReshapeGate((3, 2)), [(2, 3)], "any"),
    ("PermuteGate", lambda ns: ns.PermuteGate((1, 0)), [(2, 3)], "any"),
    ("TransposeGate", lambda ns: ns.TransposeGate(), [(2, 3)], "any"),
    ("GetItemGate", lambda ns: ns.GetItemGate((slice(None), [0, 0, 2])), [(2, 3)], "any"),
    ("ConcatenateGate", lambda ns: ns.ConcatenateGate(axis=1), [(2, 1), (2, 3)], "any"),
    ("StackGate", lambda ns: ns.StackGate(axis=0), [(3,), (3,)], "any"),
    ("SoftmaxGate", lambda ns: ns.SoftmaxGate(), [(2, 4)], "any"),
    ("LogSoftmaxGate", lambda ns: ns.LogSoftmaxGate(axis=0), [(3, 2)], "any"),
    ("CastGate", lambda ns: ns.CastGate("float64"), [(3,)], "any"),
    ("ScatterAddGate", lambda ns: ns.ScatterAddGate((5,), [4, 0, 4]), [(3,)], "any"),
    ("PReLUGate", lambda ns: ns.PReLUGate(), [(4, 3), (3,)], "away0"),
    ("MaxoutGate", lambda ns: ns.MaxoutGate(2), [(3, 4)], "away0"),
    ("LogSumExpGate", lambda ns: ns.LogSumExpGate(dim=1), [(3, 4)], "any"),
    ("CumSumGate", lambda ns: ns.CumSumGate(0), [(3, 2)], "any"),
    ("IndexMapGate", lambda ns: ns.IndexMapGate([[1, 0, 1], [2, 2, 0, 1]]), [(2, 3)], "any"),
    ("Conv2dGate", lambda ns: ns.Conv2dGate(stride=(2, 1), padding=(1, 0, 1, 1)), [(2, 2, 4, 3), (3, 2, 2, 2)], "any"),
    ("Conv2dInputGradGate", lambda ns: ns.Conv2dInputGradGate((4, 3), groups=2), [(1, 2, 3, 2), (2, 1, 2, 2)],
     "any"),
    ("Conv2dWeightGradGate", lambda ns: ns.Conv2dWeightGradGate((2, 2), dilation=(1, 2)), [(1, 2, 3, 4), (1, 2, 2, 2)],
     "any"),
    ("BatchNormGate", lambda ns: ns.BatchNormGate(), [(3, 2, 2), (2,), (2,)], "any"),
    ("LayerNormGate", lambda ns: ns.LayerNormGate(eps=1e-3), [(3, 4), (4,), (4,)], "any"),
    ("GroupNormGate", lambda ns: ns.GroupNormGate(2), [(2, 4, 2), (4,), (4,)], "any"),
    ("DropoutGate", lambda ns: ns.DropoutGate(p=0.3, seed=11), [(4, 5)], "any"),
    ("EmbeddingGate", lambda ns: ns.EmbeddingGate(indices=[[2, 0], [2, 1]], padding_idx=1), [(3, 4)], "any"),
    ("ScaledDotProductAttentionGate", lambda ns: ns.ScaledDotProductAttentionGate(scale=0.5, is_causal=True),
     [(2, 3, 2), (2, 3, 2), (2, 3, 4), (2, 3, 3)], "any"),
    ("CrossEntropyGate", lambda ns: ns.CrossEntropyGate([0, 2, 1]), [(3, 4)], "any"),
    ("MaxPool2dGate", lambda ns: ns.MaxPool2dGate(3, 2, 1), [(2, 2, 5, 4)], "away0"),
    ("AvgPool2dGate", lambda ns: ns.AvgPool2dGate((2, 3), padding=1, ceil_mode=True), [(1, 2, 4, 5)], "any"),
    ("AdaptiveAvgPool2dGate", lambda ns: ns.AdaptiveAvgPool2dGate((2, 3)), [(2, 1, 5, 4)], "any"),
    ("AvgPool2dInputGradGate", lambda ns: ns.AvgPool2dInputGradGate((5, 4), (2, 2), (2, 1), (1, 0)), [(1, 2, 3, 3)],
     "any"),
    ("InterpolateGate", lambda ns: ns.InterpolateGate((4, 7), "linear", (0.0, 2.5)), [(2, 2, 3, 3)], "any"),
    ("InterpolateInputGradGate", lambda ns: ns.InterpolateInputGradGate((5,), "nearest-exact"), [(1, 3, 7)], "any"),
    ("Atan2Gate", lambda ns: ns.Atan2Gate(), [(2, 3), (3,)], "away0"),
    ("FmodGate", lambda ns: ns.FmodGate(), [(4,), (4,)], "positive"),
    ("RemainderGate", lambda ns: ns.RemainderGate(), [(2, 2), (2,)], "positive"),
    ("FloorDivideGate", lambda ns: ns.FloorDivideGate(), [(4,), (4,)], "positive"),
    ("BinaryCrossEntropyGate", lambda ns: ns.BinaryCrossEntropyGate(), [(2, 3), (2, 3), (3,)], "prob"),
    ("HardtanhGate", lambda ns: ns.HardtanhGate(-0.5, 1.5), [(2, 3)], "away0"),
    ("HardtanhGate", lambda ns: ns.HardtanhGate(), [(5,)], "away0"),
    ("HuberLossGate", lambda ns: ns.HuberLossGate(), [(2, 3), (2, 3)], "any"),
    ("HuberLossGate", lambda ns: ns.HuberLossGate("none", 0.5, True), [(4,), (4,)], "any"),
    ("NormGate", lambda ns: ns.NormGate(), [(3, 4)], "any"),
    ("NormGate", lambda ns: ns.NormGate(1, True), [(2, 3, 2)], "any"),
    ("BinaryCrossEntropyGate", lambda ns: ns.BinaryCrossEntropyGate("none"), [(4,), (4,), (4,)], "prob"),
    ("CheckFiniteNormGate", lambda ns: ns.CheckFiniteNormGate(), [()], "any"),
    ("CheckFiniteNormGate", lambda ns: ns.CheckFiniteNormGate(float("inf")), [(2, 3)], "any"),
    ("CumProdGate", lambda ns: ns.CumProdGate(1), [(2, 4)], "any"),
    ("PadGate", lambda ns: ns.PadGate((1, -1), (0, 2), 0.5), [(2, 3)], "any"),
    ("TrilGate", lambda ns: ns.TrilGate(), [(3, 4)], "any"),
    ("TriuGate", lambda ns: ns.TriuGate(-1), [(2, 3, 3)], "any"),
]
# the plain elementwise ops' gates (ExpGate, SinGate ...), from the op table
GATE_CASES += [(row.gate.name, lambda ns, n=row.gate.name: getattr(ns, n)(), [(3,)], row.domain)
               for row in _optable.ELEMENTWISE]


def _inputs(shapes, domain, dtype, seed):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        if domain == "positive":
            a = rng.uniform(0.5, 2.0, s)
        elif domain == "prob":  # probabilities, away from 0 and 1
            a = rng.uniform(0.05, 0.95, s)
        elif domain == "away0":
            a = rng.uniform(0.2, 2.0, s) * rng.choice([-1.0, 1.0], s)
            a = a + np.arange(a.size).reshape(s) * 1e-3  # distinct values: no ties
        else:
            a = rng.standard_normal(s)
        out.append(np.asarray(a, dtype=dtype))
    return out


def test_gate_cases_cover_every_builtin_gate() -> None:
    builtin = {c.__name__ for c in G.GATES_BY_OP.values() if c is not G.Gate} | {"TransposeGate"}
    # WhereGate takes a bool condition: test_where_gate_parity covers it; NllLossGate's class weights get
    # no gradient: test_nll_loss_gate_parity; RandomGate and BernoulliGate have no backward
    # (tests/ops/test_random_ops.py covers their forward), nor has OneHotGate (test_one_hot_gate_parity)
    assert builtin - {"WhereGate", "NllLossGate", "RandomGate", "BernoulliGate", "OneHotGate"} <= \
        {name for name, *_ in GATE_CASES}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,factory,shapes,domain", GATE_CASES, ids=[c[0] for c in GATE_CASES])
def test_gate_parity_c_vs_reference(name, factory, shapes, domain, dtype) -> None:
    """forward and backward of every built-in gate: C kernels vs the reference."""
    seed = zlib.crc32(f"{name}/{dtype}".encode())
    xs = _inputs(shapes, domain, dtype, seed)
    gc, gr = factory(G), factory(RG)
    zc, zr = gc.forward(*xs), gr.forward(*xs)
    assert isinstance(zc, np.ndarray) and zc.shape == zr.shape
    tol = 1e-12 if dtype == "float64" and name != "CastGate" else 2e-5
    np.testing.assert_allclose(zc, zr, rtol=tol, atol=tol)
    dz = np.random.default_rng(seed + 1).standard_normal(zc.shape).astype(zc.dtype)
    dc, dr = gc.backward(dz), gr.backward(dz)
    dc = dc if isinstance(dc, tuple) else (dc,)
    dr = dr if isinstance(dr, tuple) else (dr,)
    assert len(dc) == len(dr) == len(xs)
    for i, (a, b, x) in enumerate(zip(dc, dr, xs)):
        if not gc._diff(i):  # an input the op does not differentiate (BCE's weight): None on both
            assert a is None and b is None
            continue
        assert a.shape == x.shape and a.dtype == x.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    # backward can be called again (the gate keeps what it needs)
    again = gc.backward(dz)
    again = again if isinstance(again, tuple) else (again,)
    for a, b in zip(again, dc):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_where_gate_parity(dtype) -> None:
    rng = np.random.default_rng(5)
    cond = rng.random((3, 4)) > 0.5
    x, y = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((4,)).astype(dtype)
    dz = rng.standard_normal((3, 4)).astype(dtype)
    gc, gr = G.WhereGate(), RG.WhereGate()
    np.testing.assert_array_equal(gc.forward(cond, x, y), gr.forward(cond, x, y))
    for a, b in zip(gc.backward(dz)[1:], gr.backward(dz)[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_gate_parity(dtype, reduction) -> None:
    """nll_loss's gate, C vs reference: the loss and the gradient of the log-probabilities; the class
    weights (the second input) get none."""
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((4, 3)).astype(dtype), rng.uniform(0.5, 2.0, 3).astype(dtype)
    gc, gr = (ns.NllLossGate([0, -100, 2, 2], reduction=reduction, label_smoothing=0.1) for ns in (G, RG))
    zc, zr = gc.forward(x, w), gr.forward(x, w)
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(zc, zr, rtol=tol, atol=tol)
    dz = rng.standard_normal(np.shape(zc)).astype(dtype)
    (dxc, dwc), (dxr, dwr) = gc.backward(dz), gr.backward(dz)
    assert dwc is None and dwr is None and dxc.shape == x.shape and dxc.dtype == x.dtype
    np.testing.assert_allclose(dxc, dxr, rtol=tol, atol=tol)
    assert np.all(dxc[1] == 0)  # the ignored row


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_one_hot_gate_parity(dtype) -> None:
    """one_hot's gate, C vs reference: int64 rows of the integer labels, the same refusal of a label out of
    range, and no backward (an integer result)."""
    y = np.array([[2, 0, 3], [1, 1, 0]], dtype=dtype)
    zc, zr = G.OneHotGate(num_classes=4).forward(y), RG.OneHotGate(4).forward(y)
    assert zc.dtype == zr.dtype == np.int64 and zc.shape == (2, 3, 4)
    np.testing.assert_array_equal(zc, zr)
    np.testing.assert_array_equal(zc, np.eye(4, dtype=np.int64)[y])
    for ns in (G, RG):
        with pytest.raises(ValueError, match="one_hot: label 3 at position 2 is out of range for 3 classes"):
            ns.OneHotGate(3).forward(y)
        g = ns.OneHotGate(4)
        g.forward(y)
        with pytest.raises(RuntimeError, match="does not depend differentiably"):
            g.backward(np.ones((2, 3, 4)))


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_where_gate_has_no_gradient_for_the_condition(engine, ns) -> None:
    g = ns.WhereGate()
    cond = np.array([True, False, True])
    z = g.forward(cond, np.array([1.0, 2.0, 3.0]), np.array([-1.0, -2.0, -3.0]))
    np.testing.assert_array_equal(z, [1.0, -2.0, 3.0])
    dc, dx, dy = g.backward(np.array([10.0, 20.0, 30.0]))
    assert dc is None
    np.testing.assert_array_equal(dx, [10.0, 0.0, 30.0])
    np.testing.assert_array_equal(dy, [0.0, 20.0, 0.0])


# ---------------------------------------------------------------------------
# kinds in, kinds out; errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_float_in_float_out(engine, ns) -> None:
    g = ns.MultiplyGate()
    z = g.forward(-2.0, 3.0)
    assert type(z) is float and z == -6.0
    dx, dy = g.backward(1.0)
    assert type(dx) is float and type(dy) is float
    assert (dx, dy) == (3.0, -2.0)
    e = ns.ExpGate()
    assert e.forward(1.0) == pytest.approx(math.e, rel=1e-15)  # floats compute in float64
    assert e.backward(2.0) == pytest.approx(2 * math.e, rel=1e-15)


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_array_and_tensor_kinds(engine, ns) -> None:
    g = ns.AddGate()
    z = g.forward(np.array([1.0, 2.0]), 3.0)
    assert isinstance(z, np.ndarray)
    dx, dy = g.backward(np.array([1.0, 1.0]))
    assert isinstance(dx, np.ndarray) and type(dy) is float and dy == 2.0  # broadcast: summed back
    t = engine.tensor([1.0, 2.0])
    z = ns.MultiplyGate().forward(t, np.array([3.0, 4.0]))
    assert isinstance(z, engine.Tensor) and not z.requires_grad


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_gate_errors(engine, ns) -> None:
    g = ns.MultiplyGate()
    with pytest.raises(RuntimeError, match="MultiplyGate.backward called before forward"):
        g.backward(1.0)
    g.forward(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"MultiplyGate.*\(2,\).*\(3,\)"):
        g.backward(np.ones(2))
    with pytest.raises(TypeError, match="MultiplyGate: takes 2 input"):
        g.forward(1.0)
    with pytest.raises(TypeError, match="AddConstantGate: missing parameter"):
        ns.AddConstantGate()
    with pytest.raises(TypeError, match="inputs must be"):
        ns.ExpGate().forward("a")


# ---------------------------------------------------------------------------
# the notes: patterns of backward flow and the two circuits
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_add_distributes(engine, ns) -> None:
    g = ns.AddGate()
    g.forward(4.0, -7.0)
    assert g.backward(2.5) == (2.5, 2.5)


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_max_routes(engine, ns) -> None:
    g = ns.MaxGate()
    assert g.forward(4.0, -7.0) == 4.0
    assert g.backward(2.5) == (2.5, 0.0)
    g.forward(-1.0, 3.0)
    assert g.backward(2.5) == (0.0, 2.5)


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_mul_switches(engine, ns) -> None:
    g = ns.MultiplyGate()
    g.forward(3.0, -4.0)
    assert g.backward(2.0) == (-8.0, 6.0)  # dx = y·dz, dy = x·dz


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_gradients_add_at_branches(engine, ns) -> None:
    # f = x·x + 3x: x feeds three gate inputs; df/dx = 2x + 3
    cg = ns.ComputationalGraph()
    x = cg.input("x")
    sq = cg.add(ns.MultiplyGate(), x, x, name="sq")
    tx = cg.add(ns.ScaleGate(3.0), x, name="3x")
    cg.add(ns.AddGate(), sq, tx, name="f")
    assert cg.forward({"x": 1.5}) == pytest.approx(6.75)
    assert cg.backward() == {"x": pytest.approx(6.0)}


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_add_mul_circuit(engine, ns) -> None:
    """f = (x + y) z at (-2, 5, -4): q = 3, f = -12; df/dx = df/dy = z = -4, df/dz = q = 3."""
    cg = ns.ComputationalGraph()
    x, y, z = cg.input("x"), cg.input("y"), cg.input("z")
    q = cg.add(ns.AddGate(), x, y, name="q")
    cg.add(ns.MultiplyGate(), q, z, name="f")
    assert [n.name for n in cg.nodes_topologically_sorted()] == ["x", "y", "z", "q", "f"]
    assert cg.forward({"x": -2.0, "y": 5.0, "z": -4.0}) == -12.0
    assert cg.backward() == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert q.value.item() == 3.0 and q.grad.item() == -4.0


def _neuron_expected():
    w, x = (2.0, -3.0, -3.0), (-1.0, -2.0)
    dot = w[0] * x[0] + w[1] * x[1] + w[2]  # = 1
    s = sig(dot)  # 0.7310585786
    local = (1 - s) * s  # 0.1966119332
    return s, {"w0": x[0] * local, "w1": x[1] * local, "w2": local, "x0": w[0] * local, "x1": w[1] * local}


def _neuron_inputs():
    return {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_sigmoid_neuron_primitive_and_fused_gates_agree(engine, ns) -> None:
    s, expected = _neuron_expected()
    assert s == pytest.approx(0.7310585786) and expected["w2"] == pytest.approx(0.1966119332)

    def front(cg):
        w0, x0, w1, x1, w2 = (cg.input(n) for n in ("w0", "x0", "w1", "x1", "w2"))
        a = cg.add(ns.MultiplyGate(), w0, x0)
        b = cg.add(ns.MultiplyGate(), w1, x1)
        return cg.add(ns.AddGate(), cg.add(ns.AddGate(), a, b), w2, name="dot")

    prim = ns.ComputationalGraph()
    dot = front(prim)
    n = prim.add(ns.ScaleGate(-1.0), dot)
    e = prim.add(ns.ExpGate(), n)
    p = prim.add(ns.AddConstantGate(1.0), e)
    prim.add(ns.ReciprocalGate(), p)
    fused = ns.ComputationalGraph()
    fused.add(ns.SigmoidGate(), front(fused))
    for cg in (prim, fused):
        assert cg.forward(_neuron_inputs()) == pytest.approx(s, rel=1e-15)
        grads = cg.backward()
        for k, v in expected.items():
            assert grads[k] == pytest.approx(v, rel=1e-12), k


def test_seed_circuits_example_values() -> None:
    from importlib import util
    from pathlib import Path

    spec = util.spec_from_file_location("circuits", Path(__file__).resolve().parents[2] / "examples" / "circuits.py")
    mod = util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    g = mod.sigmoid_neuron_circuit()
    out = g.nodes[-1]
    s, expected = _neuron_expected()
    assert out.value.item() == pytest.approx(s)
    assert {n.name: n.grad.item() for n in g.nodes if n.is_input} == pytest.approx(expected)


# ---------------------------------------------------------------------------
# user-defined gates
# ---------------------------------------------------------------------------


def _user_sigmoid(ns):
    class UserSigmoid(ns.Gate):
        """σ as a user gate with the fused local gradient (1 - σ)σ."""

        def forward(self, x):
            self.s = 1.0 / (1.0 + np.exp(-x))
            return self.s

        def backward(self, dz):
            return (1.0 - self.s) * self.s * dz

    return UserSigmoid


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_user_sigmoid_gate_in_tensor_expressions(engine, ns) -> None:
    S = _user_sigmoid(ns)
    xv = np.array([-1.5, 0.0, 2.0])
    x = engine.tensor(xv, requires_grad=True)
    g = S()
    y = (g(x) * 3.0 + g(x * 2.0)).sum()  # the same gate object twice, fan-in from both
    assert y.grad_fn is not None
    y.backward()
    s1, s2 = 1 / (1 + np.exp(-xv)), 1 / (1 + np.exp(-2 * xv))
    np.testing.assert_allclose(y.item(), (3 * s1 + s2).sum(), rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), 3 * s1 * (1 - s1) + 2 * s2 * (1 - s2), rtol=1e-14)
    # agrees with the built-in fused sigmoid
    x2 = engine.tensor(xv, requires_grad=True)
    (x2.sigmoid() * 3.0 + (x2 * 2.0).sigmoid()).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-14)


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_user_gate_in_a_graph_matches_the_neuron(engine, ns) -> None:
    S = _user_sigmoid(ns)
    cg = ns.ComputationalGraph()
    w0, x0, w1, x1, w2 = (cg.input(n) for n in ("w0", "x0", "w1", "x1", "w2"))
    a = cg.add(ns.MultiplyGate(), w0, x0)
    b = cg.add(ns.MultiplyGate(), w1, x1)
    cg.add(S(), cg.add(ns.AddGate(), cg.add(ns.AddGate(), a, b), w2))
    s, expected = _neuron_expected()
    assert cg.forward(_neuron_inputs()) == pytest.approx(s)
    grads = cg.backward()
    for k, v in expected.items():
        assert grads[k] == pytest.approx(v, rel=1e-12)


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_user_gate_exception_keeps_its_traceback(engine, ns) -> None:
    class Broken(ns.Gate):
        def forward(self, x):
            return x * 2.0

        def backward(self, dz):
            return explode_in_user_code(dz)

    def explode_in_user_code(dz):
        raise ZeroDivisionError("user backward failed")

    x = engine.tensor([1.0, 2.0], requires_grad=True)
    y = Broken()(x).sum()
    with pytest.raises(ZeroDivisionError, match="user backward failed") as info:
        y.backward()
    frames = "".join(traceback.format_tb(info.value.__traceback__))
    assert "explode_in_user_code" in frames


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_user_gate_wrong_number_of_gradients(engine, ns) -> None:
    class TwoGrads(ns.Gate):
        def forward(self, x):
            return x

        def backward(self, dz):
            return dz, dz

    x = engine.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"TwoGrads\.backward returned 2 gradient\(s\) for 1 input"):
        TwoGrads()(x).sum().backward()


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_user_gate_wrong_gradient_shape(engine, ns) -> None:
    class BadShape(ns.Gate):
        def forward(self, x, y):
            return x * y

        def backward(self, dz):
            return dz, dz.sum()

    x = engine.tensor([1.0, 2.0], requires_grad=True)
    w = engine.tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"BadShape\.backward returned a gradient of shape \(\) for input 1 of "
                                         r"shape \(2,\)"):
        BadShape()(x, w).sum().backward()


def test_user_gate_handles_are_released() -> None:
    S = _user_sigmoid(G)
    before = len(pg._bindings._handles)
    for _ in range(20):
        x = pg.tensor([0.5], requires_grad=True)
        S()(x).sum().backward()
    keep = S()(pg.tensor([0.5], requires_grad=True))  # recorded, never swept
    assert len(pg._bindings._handles) == before + 1
    del keep
    assert len(pg._bindings._handles) == before


def test_user_gate_without_methods_says_so() -> None:
    class Empty(G.Gate):
        pass

    with pytest.raises(NotImplementedError, match="Empty: a user-defined gate must implement forward"):
        Empty()(pg.tensor([1.0]))


# ---------------------------------------------------------------------------
# ComputationalGraph API
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_graph_errors(engine, ns) -> None:
    cg = ns.ComputationalGraph()
    x = cg.input("x")
    with pytest.raises(ValueError, match="already used"):
        cg.input("x")
    with pytest.raises(TypeError, match="expected a Gate"):
        cg.add(lambda v: v, x)
    other = ns.ComputationalGraph().input("y")
    with pytest.raises(TypeError, match="not a node of this graph"):
        cg.add(ns.ExpGate(), other)
    cg.add(ns.ExpGate(), x)
    with pytest.raises(RuntimeError, match="before forward"):
        cg.backward()
    with pytest.raises(ValueError, match=r"missing inputs \['x'\]"):
        cg.forward({})


@pytest.mark.parametrize("engine,ns", ENGINES, ids=ENGINE_IDS)
def test_graph_with_arrays_and_upstream_gradient(engine, ns) -> None:
    cg = ns.ComputationalGraph()
    W, x = cg.input("W"), cg.input("x")
    cg.add(ns.MatMulGate(), W, x)
    Wv = np.arange(6.0).reshape(2, 3)
    xv = np.array([1.0, -1.0, 2.0])
    np.testing.assert_allclose(cg.forward({"W": Wv, "x": xv}), Wv @ xv)
    dz = np.array([0.5, -2.0])
    grads = cg.backward(dz)
    np.testing.assert_allclose(grads["W"], np.outer(dz, xv))
    np.testing.assert_allclose(grads["x"], Wv.T @ dz)


# ---------------------------------------------------------------------------
# circuit diagrams
# ---------------------------------------------------------------------------


def _add_mul_graph(ns):
    cg = ns.ComputationalGraph()
    x, y, z = cg.input("x"), cg.input("y"), cg.input("z")
    q = cg.add(ns.AddGate(), x, y, name="q")
    cg.add(ns.MultiplyGate(), q, z, name="f")
    cg.forward({"x": -2.0, "y": 5.0, "z": -4.0})
    cg.backward()
    return cg


def _edge_label(dot: str, src: str, dst: str) -> str:
    line = next(ln for ln in dot.splitlines() if f'"{src}" -> "{dst}"' in ln)
    return line


def test_dot_of_a_graph_has_values_and_gradients() -> None:
    dot = viz.draw(_add_mul_graph(G))
    assert dot.startswith("digraph")
    assert ">-2<" in _edge_label(dot, "x", "q") and ">-4<" in _edge_label(dot, "x", "q")
    assert ">3<" in _edge_label(dot, "q", "f") and ">-4<" in _edge_label(dot, "q", "f")
    assert ">-4<" in _edge_label(dot, "z", "f") and ">3<" in _edge_label(dot, "z", "f")
    assert ">-12<" in _edge_label(dot, "f", "__out")


@pytest.mark.parametrize("engine", [pg, ref], ids=ENGINE_IDS)
def test_dot_of_a_tensor_graph(engine) -> None:
    x = engine.tensor(-2.0, requires_grad=True)
    y = engine.tensor(5.0, requires_grad=True)
    z = engine.tensor(-4.0, requires_grad=True)
    q = x + y
    q.retain_grad()
    f = q * z
    f.backward()
    dot = viz.draw(f, names={"x": x, "y": y, "z": z})
    lines = dot.splitlines()
    assert sum("shape=circle" in ln for ln in lines) == 2  # the + and * gates, after backward too
    x_edge = next(ln for ln in lines if ln.strip().startswith('"leaf') and "->" in ln and ">-2<" in ln)
    assert ">-4<" in x_edge  # df/dx
    assert any(">3<" in ln and ">-4<" in ln for ln in lines)  # q = 3, df/dq = -4
    assert any(">-12<" in ln for ln in lines)
    assert 'label="x"' in dot and 'label="z"' in dot


def test_draw_errors(tmp_path) -> None:
    with pytest.raises(TypeError, match="expected a Tensor or a ComputationalGraph"):
        viz.draw(3.0)
    p = tmp_path / "c.dot"
    text = viz.draw(_add_mul_graph(G), p)
    assert p.read_text() == text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_seed_circuits(tmp_path) -> None:
    from importlib import util
    from pathlib import Path

    spec = util.spec_from_file_location("circuits", Path(__file__).resolve().parents[2] / "examples" / "circuits.py")
    mod = util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    files = mod.main(str(tmp_path))
    pngs = [f for f in files if f.suffix == ".png"]
    assert len(pngs) == 2
    for f in pngs:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "sigmoid_neuron.svg").read_text()
    assert "0.7311" in svg and "0.1966" in svg and "0.5344" in svg  # svg escapes the minus sign
