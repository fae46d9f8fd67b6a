"""pygrad.nn modules: Module bookkeeping, Linear, MLP, activations, PReLU, Maxout,
initialisation and saving, on both engines. Expected numbers come from numpy
formulas written here, not from the engines."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad import PygradError, ShapeError, nn

ENGINES = [pytest.param(pg, id="c"), pytest.param(ref, id="reference")]


@pytest.fixture(params=ENGINES)
def m(request):
    """The engine module under test (its ``nn`` builds parameters on it)."""
    return request.param


# ---------------------------------------------------------------------------
# Linear
# ---------------------------------------------------------------------------


def test_linear_forward_and_gradients_match_numpy(m, rng) -> None:
    layer = m.nn.Linear(4, 3, dtype="float64", generator=1)
    W, b = layer.weight.numpy().copy(), rng.standard_normal(3)
    with m.no_grad():
        layer.bias.copy_(m.tensor(b))
    x = rng.standard_normal((5, 4))
    xt = m.tensor(x, requires_grad=True)
    y = layer(xt)
    np.testing.assert_allclose(y.numpy(), x @ W + b, rtol=1e-13)
    g = rng.standard_normal((5, 3))
    (y * m.tensor(g)).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), x.T @ g, rtol=1e-12)  # dL/dW = xᵀ g
    np.testing.assert_allclose(layer.bias.grad.numpy(), g.sum(0), rtol=1e-12)  # dL/db = Σ g
    np.testing.assert_allclose(xt.grad.numpy(), g @ W.T, rtol=1e-12)  # dL/dx = g Wᵀ


def test_linear_parameters_shapes_and_dtype(m) -> None:
    layer = m.nn.Linear(2, 5)
    assert [(n, p.shape, p.dtype) for n, p in layer.named_parameters()] == [
        ("weight", (2, 5), np.float32), ("bias", (5,), np.float32)]
    assert np.all(layer.bias.numpy() == 0)
    assert all(p.requires_grad and p.is_leaf for p in layer.parameters())
    nobias = m.nn.Linear(2, 5, bias=False)
    assert [n for n, _ in nobias.named_parameters()] == ["weight"] and nobias.bias is None
    assert layer.num_parameters() == 15
    x = np.ones((3, 2))
    assert layer(x).shape == (3, 5)  # arrays are converted to the layer's dtype
    assert layer(m.ones(7, 4, 2)).shape == (7, 4, 5)  # leading dims are batch dims


@pytest.mark.parametrize(("make", "exc", "pattern"), [
    (lambda m: m.nn.Linear(3, 2)(m.ones(4, 2)), ValueError, r"Linear: input of shape \(4, 2\) .* 3 features"),
    (lambda m: m.nn.Linear(3, 2)(m.tensor(1.0)), ValueError, r"Linear: input of shape \(\)"),
    (lambda m: m.nn.Linear(0, 2), ValueError, r"Linear: in_features must be a positive int, got 0"),
    (lambda m: m.nn.Linear(2, 2.5), ValueError, r"Linear: out_features must be a positive int"),
    (lambda m: m.nn.Linear(2, 2, init="he"), ValueError, r"init: unknown scheme 'he'"),
    (lambda m: m.nn.Linear(2, 2)("x"), TypeError, r"Linear: expected a Tensor or an array, got str"),
    (lambda m: m.nn.Linear(2, 2, dtype="int32"), TypeError, r"int32"),
    (lambda m: m.nn.Linear(2, 2, generator="seed"), TypeError, r"generator"),
    (lambda m: m.nn.MLP([2]), ValueError, r"MLP: sizes"),
    (lambda m: m.nn.MLP([2, 0, 3]), ValueError, r"MLP: every width must be a positive int, got 0"),
    (lambda m: m.nn.MLP([2, 3], activation="swish"), ValueError, r"MLP: unknown activation 'swish'"),
    (lambda m: m.nn.Maxout(2, 3, pieces=0), ValueError, r"Maxout: pieces must be a positive int"),
    (lambda m: m.nn.Maxout(2, 3)(m.ones(2, 3)), ValueError, r"Maxout: input of shape \(2, 3\)"),
    (lambda m: m.nn.PReLU(2)(m.ones(4, 3)), ValueError, r"prelu: weight of shape \(2,\) .*\(4, 3\)"),
    (lambda m: m.nn.Sequential(m.nn.ReLU(), 3), TypeError, r"Sequential: expected a Module, got int"),
    (lambda m: m.nn.Sequential(m.nn.ReLU())[3], IndexError, r"Sequential: index 3 out of range"),
])
def test_bad_layer_input(m, make, exc, pattern: str) -> None:
    with pytest.raises(exc, match=pattern) as info:
        make(m)
    assert isinstance(info.value, PygradError)


def test_layer_refuses_a_tensor_of_the_other_engine() -> None:
    with pytest.raises(TypeError, match=r"Linear: the input is a pygrad.reference tensor .* pygrad tensors"):
        nn.Linear(2, 2)(ref.ones(3, 2))
    with pytest.raises(TypeError, match=r"Linear: the input is a pygrad tensor"):
        ref.nn.Linear(2, 2)(pg.ones(3, 2))


# ---------------------------------------------------------------------------
# initialisation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("init", "std"), [
    ("kaiming_normal", math.sqrt(2 / 400)),
    ("kaiming_uniform", math.sqrt(2 / 400)),  # U(-b, b) with b = √(6/fan_in): variance b²/3 = 2/fan_in
    ("xavier_normal", math.sqrt(2 / 700)),
    ("xavier_uniform", math.sqrt(2 / 700)),
    ("uniform", math.sqrt(1 / 3 / 400)),
])
def test_init_scale(init: str, std: float) -> None:
    w = nn.Linear(400, 300, init=init, dtype="float64", generator=0).weight.numpy()
    assert abs(w.mean()) < 0.02 * std * 10
    assert w.std() == pytest.approx(std, rel=0.02)
    if init.endswith("uniform"):
        bound = std * math.sqrt(3)
        assert w.max() <= bound and w.min() >= -bound and w.max() > 0.99 * bound


def test_init_is_seeded_and_the_same_on_both_engines() -> None:
    a = nn.Linear(3, 4, generator=7).weight.numpy()
    b = nn.Linear(3, 4, generator=7).weight.numpy()
    c = nn.Linear(3, 4, generator=8).weight.numpy()
    r = ref.nn.Linear(3, 4, generator=7).weight.numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, r)
    assert not np.array_equal(a, c)
    # without a generator the engine's own, seeded by manual_seed, is used
    pg.manual_seed(11)
    ref.manual_seed(11)
    np.testing.assert_array_equal(nn.MLP([3, 5, 2]).state_dict()["2.weight"],
                                  ref.nn.MLP([3, 5, 2]).state_dict()["2.weight"])


def test_mlp_layers_draw_from_one_stream() -> None:
    model = nn.MLP([4, 4, 4, 4], generator=0)
    w = [model[i].weight.numpy() for i in (0, 2, 4)]
    assert not np.array_equal(w[0], w[1]) and not np.array_equal(w[1], w[2])
    np.testing.assert_array_equal(w[1], nn.MLP([4, 4, 4, 4], generator=0)[2].weight.numpy())


# ---------------------------------------------------------------------------
# MLP, Sequential, Module bookkeeping
# ---------------------------------------------------------------------------


def test_mlp_structure(m) -> None:
    model = m.nn.MLP([2, 16, 8, 3], activation="tanh", generator=0)
    assert [type(x).__name__ for x in model] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert [n for n, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert model.num_parameters() == 2 * 16 + 16 + 16 * 8 + 8 + 8 * 3 + 3
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    W = [model[i].weight.numpy() for i in (0, 2, 4)]
    b = [model[i].bias.numpy() for i in (0, 2, 4)]
    expect = np.tanh(np.tanh(x @ W[0] + b[0]) @ W[1] + b[1]) @ W[2] + b[2]
    np.testing.assert_allclose(model(m.tensor(x)).numpy(), expect, rtol=1e-5, atol=1e-6)
    assert isinstance(model[1:3], m.nn.Sequential) and len(model[1:3]) == 2
    assert "Linear(in_features=2, out_features=16, bias=True)" in repr(model)


def test_mlp_with_prelu_has_a_slope_per_hidden_layer(m) -> None:
    model = m.nn.MLP([2, 4, 4, 1], activation="prelu", generator=0)
    names = [n for n, _ in model.named_parameters()]
    assert "1.weight" in names and "3.weight" in names
    assert type(model[1]) is m.nn.PReLU
    assert type(model[0]) is m.nn.Linear


class _Net(nn.Module):
    def __init__(self, engine) -> None:
        super().__init__()
        self.fc = engine.nn.Linear(2, 2, generator=0)
        self.shared = self.fc  # the same module twice: its parameters count once
        self.scale = engine.tensor([2.0], requires_grad=True)
        self.const = engine.tensor([1.0])  # no grad: not a parameter
        self.inner = engine.nn.Sequential(engine.nn.ReLU(), engine.nn.Linear(2, 1, generator=1))

    def forward(self, x):
        return self.inner(self.fc(x) * self.scale + self.const)


def test_module_registration_and_traversal(m) -> None:
    net = _Net(m)
    assert [n for n, _ in net.named_parameters()] == ["scale", "fc.weight", "fc.bias", "inner.1.weight",
                                                      "inner.1.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "fc", "inner", "inner.0", "inner.1"]
    assert [n for n, _ in net.named_children()] == ["fc", "shared", "inner"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert net(m.ones(1, 2)).shape == (1, 1)
    net.scale = m.tensor([3.0])  # replaced by a plain tensor: no longer a parameter
    assert "scale" not in dict(net.named_parameters())
    del net.inner
    assert [n for n, _ in net.named_modules()] == ["", "fc"]


def test_train_eval_and_zero_grad(m) -> None:
    net = _Net(m)
    assert all(x.training for x in net.modules())
    assert net.eval() is net and not any(x.training for x in net.modules())
    net.train()
    assert all(x.training for x in net.modules())
    net(m.ones(3, 2)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_module_misuse() -> None:
    class NoInit(nn.Module):
        def __init__(self) -> None:
            self.w = pg.ones(2, requires_grad=True)

    with pytest.raises(RuntimeError, match=r"NoInit: call super\(\).__init__\(\)"):
        NoInit()
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        nn.Module()(1)
    with pytest.raises(ValueError, match="parameter 'w' must be a leaf tensor that requires grad"):
        nn.Module().register_parameter("w", pg.ones(2))


def test_state_dict_round_trip_and_save_load(m, tmp_path) -> None:
    a = m.nn.MLP([3, 4, 2], generator=0, dtype="float64")
    b = m.nn.MLP([3, 4, 2], generator=1, dtype="float64")
    sd = a.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    sd["0.weight"][0, 0] = 99.0  # a copy: the model is not changed
    assert a[0].weight.numpy()[0, 0] != 99.0
    version = b[0].weight.version
    assert b.load_state_dict(a.state_dict()) == ([], [])
    assert b[0].weight.version > version
    for (n1, p1), (n2, p2) in zip(a.named_parameters(), b.named_parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1.numpy(), p2.numpy())
    assert all(p.is_leaf and p.grad_fn is None for p in b.parameters())
    path = a.save(tmp_path / "model")
    assert path.endswith("model.npz")
    c = m.nn.MLP([3, 4, 2], generator=2, dtype="float64")
    c.load(path)
    np.testing.assert_array_equal(c[2].weight.numpy(), a[2].weight.numpy())


def test_load_state_dict_checks(m) -> None:
    model = m.nn.MLP([3, 4, 2], generator=0)
    sd = model.state_dict()
    with pytest.raises(ValueError, match=r"missing keys \['2.bias'\], unexpected keys \['extra'\]"):
        model.load_state_dict({**{k: v for k, v in sd.items() if k != "2.bias"}, "extra": np.ones(1)})
    before = model[0].weight.numpy().copy()
    bad = dict(sd)
    bad["0.weight"] = sd["0.weight"] + 1
    bad["2.weight"] = np.ones((5, 5))
    with pytest.raises(ShapeError, match=r"'2.weight' has shape \(5, 5\), the parameter \(4, 2\)"):
        model.load_state_dict(bad)
    np.testing.assert_array_equal(model[0].weight.numpy(), before)  # nothing written
    missing, unexpected = model.load_state_dict({"0.bias": np.ones(4), "x": np.ones(1)}, strict=False)
    assert missing == ["0.weight", "2.weight", "2.bias"] and unexpected == ["x"]
    np.testing.assert_array_equal(model[0].bias.numpy(), np.ones(4))


# ---------------------------------------------------------------------------
# activations (seed 004's table), values and derivatives
# ---------------------------------------------------------------------------

X = np.array([-2.0, -0.5, 0.0, 0.3, 1.5])


def _sig(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize(("make", "f", "df"), [
    (lambda m: m.nn.ReLU(), lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    (lambda m: m.nn.Sigmoid(), _sig, lambda x: _sig(x) * (1 - _sig(x))),
    (lambda m: m.nn.Tanh(), np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    (lambda m: m.nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x), lambda x: np.where(x > 0, 1, 0.2)),
    (lambda m: m.nn.ELU(0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)),
     lambda x: np.where(x > 0, 1, 0.5 * np.exp(x))),
    (lambda m: m.nn.PReLU(init=0.3, dtype="float64"), lambda x: np.where(x > 0, x, 0.3 * x),
     lambda x: np.where(x > 0, 1, 0.3)),
], ids=["relu", "sigmoid", "tanh", "leaky_relu", "elu", "prelu"])
def test_activation_values_and_derivatives(m, make, f, df) -> None:
    act = make(m)
    x = m.tensor(X, requires_grad=True)
    y = act(x)
    np.testing.assert_allclose(y.numpy(), f(X), rtol=1e-14, atol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), df(X), rtol=1e-14, atol=1e-15)


def test_prelu_slope_gradients(m) -> None:
    shared = m.nn.PReLU(init=0.25, dtype="float64")
    x = np.array([[-1.0, 2.0, -3.0], [4.0, -0.5, 0.0]])
    y = shared(m.tensor(x))
    y.sum().backward()
    # ∂(Σy)/∂a = Σ of x where x ≤ 0
    np.testing.assert_allclose(shared.weight.grad.numpy(), [-4.5])
    per = m.nn.PReLU(3, init=0.1, dtype="float64")
    x4 = np.random.default_rng(0).standard_normal((2, 3, 2, 2))
    g = np.random.default_rng(1).standard_normal(x4.shape)
    out = per(m.tensor(x4))
    np.testing.assert_allclose(out.numpy(), np.where(x4 > 0, x4, 0.1 * x4), rtol=1e-15)
    (out * m.tensor(g)).sum().backward()
    expect = np.where(x4 > 0, 0.0, g * x4).sum(axis=(0, 2, 3))  # one slope per channel (axis 1)
    np.testing.assert_allclose(per.weight.grad.numpy(), expect, rtol=1e-13)


def test_maxout_layer_matches_numpy(m, rng) -> None:
    layer = m.nn.Maxout(3, 2, pieces=3, dtype="float64", generator=0)
    W = layer.weight.numpy()
    b = rng.standard_normal(6)
    with m.no_grad():
        layer.bias.copy_(b)
    x = rng.standard_normal((4, 3))
    xt = m.tensor(x, requires_grad=True)
    out = layer(xt)
    z = (x @ W + b).reshape(4, 2, 3)  # unit c takes the max over columns 3c .. 3c + 2
    np.testing.assert_allclose(out.numpy(), z.max(axis=2), rtol=1e-14)
    g = rng.standard_normal((4, 2))
    (out * m.tensor(g)).sum().backward()
    route = (z == z.max(axis=2, keepdims=True)) * g[:, :, None]  # "max routes" the gradient
    dz = route.reshape(4, 6)
    np.testing.assert_allclose(layer.weight.grad.numpy(), x.T @ dz, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad.numpy(), dz.sum(0), rtol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), dz @ W.T, rtol=1e-12)


def test_maxout_with_two_pieces_one_fixed_at_zero_is_relu(m) -> None:
    layer = m.nn.Maxout(1, 1, pieces=2, dtype="float64")
    with m.no_grad():
        layer.weight.copy_(np.array([[1.0, 0.0]]))
    x = m.tensor(X.reshape(5, 1))
    np.testing.assert_array_equal(layer(x).numpy().ravel(), np.maximum(X, 0))
