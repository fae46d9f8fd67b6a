"""Parameter, buffers, apply, ModuleList/ModuleDict, Identity/Flatten/Unflatten, the
activation modules, and nn.utils gradient clipping, on both engines (PyTorch as
an optional oracle for the clipping and the activations)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference

ENGINES = {"c": pygrad, "reference": pygrad.reference}


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


class WithStats(pygrad.nn.Module):
    """A model with a buffer, its parameters on engine ``m`` (module level: it pickles)."""

    def __init__(self, m: Any) -> None:
        super().__init__()
        nn = m.nn
        self.m = m
        self.blocks = nn.ModuleList([nn.Linear(4, 4, generator=0), nn.Linear(4, 3, generator=1)])
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 2, generator=2)})
        self.scale = nn.Parameter(m.ones(3))
        self.register_buffer("running", m.zeros(3))
        self.register_buffer("steps", m.tensor(0))
        self.register_buffer("scratch", m.zeros(2), persistent=False)

    def forward(self, x: Any) -> Any:
        for b in self.blocks:
            x = b(x).tanh()
        x = x * self.scale
        with self.m.no_grad():
            self.running = self.running * 0.9 + x.mean(dim=0) * 0.1
            self.steps = self.steps + 1
        return self.heads["a"](x)


class Net:
    @staticmethod
    def build(m: Any) -> Any:
        return WithStats(m)


def test_registration_state_dict_and_copies(m: Any) -> None:
    net = Net.build(m)
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
                     "heads.a.weight", "heads.a.bias"]
    assert [n for n, _ in net.named_buffers()] == ["running", "steps", "scratch"]
    net(m.randn(5, 4))
    sd = net.state_dict()
    assert list(sd)[-2:] == ["running", "steps"] and "scratch" not in sd
    assert sd["steps"] == 1
    other = Net.build(m)
    other.load_state_dict(sd)
    assert other.steps.item() == 1 and np.array_equal(other.running.numpy(), net.running.numpy())
    for c in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert [n for n, _ in c.named_buffers()] == ["running", "steps", "scratch"]
        assert np.array_equal(c.running.numpy(), net.running.numpy())
    with pytest.raises(ValueError, match="missing keys"):
        other.load_state_dict({k: v for k, v in sd.items() if k != "steps"})
    with pytest.raises(TypeError, match="buffer"):
        net.running = 3.0


def test_apply_train_eval_and_containers(m: Any) -> None:
    net = Net.build(m)
    seen: list[str] = []
    net.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "WithStats" and seen.count("Linear") == 3
    net.eval()
    assert not any(mod.training for mod in net.modules())
    ml = m.nn.ModuleList()
    ml.append(m.nn.Identity()).extend([m.nn.ReLU(), m.nn.Tanh()])
    ml.insert(1, m.nn.Sigmoid())
    assert [type(x).__name__ for x in ml] == ["Identity", "Sigmoid", "ReLU", "Tanh"]
    del ml[0]
    assert len(ml) == 3 and isinstance(ml[-1], m.nn.Tanh) and len(ml[1:]) == 2
    md = m.nn.ModuleDict([("x", m.nn.ReLU())])
    md["y"] = m.nn.Tanh()
    assert md.keys() == ["x", "y"] and "y" in md and isinstance(md.pop("x"), m.nn.ReLU) and len(md) == 1
    with pytest.raises(TypeError, match="Module"):
        ml.append(3)
    with pytest.raises(IndexError, match="no module"):
        md["z"]


def test_parameter(m: Any) -> None:
    t = m.randn(3)
    p = m.nn.Parameter(t)
    assert p.requires_grad and p.is_leaf and isinstance(p, m.nn.Parameter)
    assert not isinstance(t, m.nn.Parameter)
    p.numpy()[0] = 7.0
    assert t.numpy()[0] == 7.0  # shares storage, as torch.nn.Parameter
    with pytest.raises(TypeError, match="float"):
        m.nn.Parameter(m.tensor([1, 2]))


def test_flatten_unflatten(m: Any) -> None:
    x = m.randn(2, 3, 4, 5, requires_grad=True)
    f = m.nn.Flatten()(x)
    assert f.shape == (2, 60)
    assert m.nn.Flatten(0, 2)(x).shape == (24, 5)
    u = m.nn.Unflatten(1, (3, -1))(f)
    assert u.shape == (2, 3, 20)
    u.sum().backward()
    assert x.grad.shape == x.shape and float(x.grad.numpy().min()) == 1.0
    with pytest.raises(ValueError, match="cannot split"):
        m.nn.Unflatten(1, (7, -1))(f)


def test_activation_modules(m: Any) -> None:
    x = m.tensor(np.linspace(-7, 7, 15))
    xv = np.linspace(-7, 7, 15)
    np.testing.assert_allclose(m.nn.ReLU6()(x).numpy(), np.clip(xv, 0, 6))
    np.testing.assert_allclose(m.nn.Hardtanh(-2, 2)(x).numpy(), np.clip(xv, -2, 2))
    np.testing.assert_allclose(m.nn.SiLU()(x).numpy(), xv / (1 + np.exp(-xv)), rtol=1e-6)
    np.testing.assert_allclose(m.nn.Softplus(beta=0.5)(x).numpy(), np.log1p(np.exp(0.5 * xv)) / 0.5, rtol=1e-6)
    np.testing.assert_allclose(m.nn.Hardsigmoid()(x).numpy(), np.clip(xv / 6 + 0.5, 0, 1), rtol=1e-6)
    assert m.nn.GELU("tanh")(x).shape == (15,) and m.nn.Mish()(x).shape == (15,)
    with pytest.raises(ValueError, match="approximate"):
        m.nn.GELU("erf")


def test_clip_grad_norm_and_value(m: Any) -> None:
    a = m.tensor([3.0, 4.0], requires_grad=True)
    b = m.tensor([[12.0]], requires_grad=True)
    (a * m.tensor([3.0, 4.0])).sum().backward()
    (b * 12.0).sum().backward()
    total = m.nn.utils.clip_grad_norm_([a, b], max_norm=6.5)
    assert total.item() == pytest.approx(13.0)
    np.testing.assert_allclose(a.grad.numpy(), [1.5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), [[6.0]], rtol=1e-6)
    assert m.nn.utils.clip_grad_norm_([a, b], max_norm=100.0).item() == pytest.approx(6.5, rel=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), [1.5, 2.0], rtol=1e-6)  # below max_norm: untouched
    assert m.nn.utils.clip_grad_norm_(a, 1.0, norm_type=float("inf")).item() == pytest.approx(2.0, rel=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [0.75, 1.0], rtol=1e-5)
    m.nn.utils.clip_grad_value_([b], 0.5)
    assert b.grad.tolist() == [[0.5]]
    a.grad = m.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="error_if_nonfinite"):
        m.nn.utils.clip_grad_norm_(a, 1.0, error_if_nonfinite=True)
    assert m.nn.utils.clip_grad_norm_([m.zeros(2, requires_grad=True)], 1.0) == 0.0


def test_clip_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    gs = [rng.standard_normal(s) for s in [(3, 4), (4,), (2, 2, 2)]]
    for norm_type in (1.0, 2.0, 3.5, float("inf")):
        tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in gs]
        pps = [pygrad.zeros(g.shape, dtype=pygrad.float64, requires_grad=True) for g in gs]
        for tp, pp, g in zip(tps, pps, gs):
            tp.grad = torch.tensor(g)
            pp.grad = pygrad.tensor(g)
        tn = torch.nn.utils.clip_grad_norm_(tps, 0.7, norm_type=norm_type)
        pn = pygrad.nn.utils.clip_grad_norm_(pps, 0.7, norm_type=norm_type)
        assert pn.item() == pytest.approx(tn.item(), rel=1e-12)
        for tp, pp in zip(tps, pps):
            np.testing.assert_allclose(pp.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_embedding_and_one_hot(m: Any) -> None:
    e = m.nn.Embedding(6, 4, padding_idx=1, generator=0)
    assert e.weight.shape == (6, 4) and e.weight.numpy()[1].tolist() == [0.0] * 4
    idx = m.tensor([[1, 3, 3], [5, 0, 1]])
    y = e(idx)
    assert y.shape == (2, 3, 4)
    np.testing.assert_array_equal(y.numpy(), e.weight.numpy()[idx.numpy()])
    (y * m.arange(4).float()).sum().backward()
    want = np.zeros((6, 4))
    for i in idx.numpy().ravel():
        if i != 1:
            want[i] += np.arange(4)
    np.testing.assert_array_equal(e.weight.grad.numpy(), want)  # repeats add; the padding row gets nothing
    assert e(np.array([2, 2])).shape == (2, 4)
    with pytest.raises(IndexError, match="out of range"):
        e(m.tensor([6]))
    with pytest.raises(TypeError, match="integer"):
        e(m.tensor([1.0]))
    oh = m.nn.functional.one_hot(m.tensor([[2, 0], [1, 2]]))
    assert oh.dtype == m.int64 and oh.tolist() == [[[0, 0, 1], [1, 0, 0]], [[0, 1, 0], [0, 0, 1]]]
    assert m.nn.functional.one_hot(m.tensor([0]), num_classes=3).tolist() == [[1, 0, 0]]
    with pytest.raises(ValueError, match="out of range"):
        m.nn.functional.one_hot(m.tensor([3]), 3)


def test_embedding_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    e = pygrad.nn.Embedding(7, 5, padding_idx=2, generator=1)
    t = torch.nn.Embedding(7, 5, padding_idx=2)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(e.weight.numpy()))
    idx = np.array([[2, 6, 6, 0], [1, 2, 3, 6]])
    g = np.random.default_rng(0).standard_normal((2, 4, 5)).astype(np.float32)
    (e(pygrad.tensor(idx)) * pygrad.tensor(g)).sum().backward()
    (t(torch.tensor(idx)) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(e.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_apply_visits_in_pytorchs_order(m: Any) -> None:
    """PyTorch's apply: each child's subtree in registration order, a module after its children; a
    module that two parents hold is met under each."""
    nn = m.nn
    shared = nn.Tanh()
    net = nn.Sequential(nn.Sequential(nn.Linear(1, 1), nn.ReLU()), nn.ModuleList([shared, nn.Sigmoid()]),
                        nn.Sequential(shared))
    seen: list[str] = []
    net.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Sequential", "Tanh", "Sigmoid", "ModuleList", "Tanh", "Sequential",
                    "Sequential"]


def test_softplus_threshold_is_pytorchs(m: Any) -> None:
    """Past β·x > threshold softplus is x itself (gradient 1), whatever the threshold."""
    xv = np.array([-3.0, 0.2, 0.6, 2.0, 30.0])
    x = m.tensor(xv, requires_grad=True)
    y = m.nn.functional.softplus(x, beta=2.0, threshold=1.0)
    want = np.where(2 * xv > 1.0, xv, np.log1p(np.exp(2 * xv)) / 2)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-14)
    assert y.numpy()[2] == 0.6 and y.numpy()[4] == 30.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(2 * xv > 1.0, 1.0, 1 / (1 + np.exp(-2 * xv))), rtol=1e-14)
    np.testing.assert_array_equal(m.nn.Softplus(2.0, 1.0)(m.tensor(xv)).numpy(), y.numpy())
