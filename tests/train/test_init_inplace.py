"""PyTorch's in-place initialisers in pygrad.nn.init (and Tensor.uniform_/normal_) on both engines:
exact values from a seeded numpy generator, the distributions' bounds and moments, PyTorch's gains
and fans, the orthogonal matrix, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradTypeError, PygradValueError

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]


@pytest.mark.parametrize("m", ENGINES)
def test_values_from_a_seeded_generator_are_the_formulas(m):
    init = m.nn.init
    w = m.zeros(16, 8, 3, 3, dtype=m.float64, requires_grad=True)
    fan_in, fan_out = 8 * 9, 16 * 9
    assert init._calculate_fan_in_and_fan_out(w) == (fan_in, fan_out)
    cases = [
        (lambda g: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g),
         lambda g: g.standard_normal(w.shape) * math.sqrt(2.0) / math.sqrt(fan_out)),
        (lambda g: init.kaiming_uniform_(w, a=math.sqrt(5), generator=g),  # PyTorch's Linear/Conv default
         lambda g: (2 * g.random(w.shape) - 1) * math.sqrt(2.0 / 6) * math.sqrt(3.0 / fan_in)),
        (lambda g: init.xavier_uniform_(w, gain=2.0, generator=g),
         lambda g: (2 * g.random(w.shape) - 1) * 2.0 * math.sqrt(6.0 / (fan_in + fan_out))),
        (lambda g: init.xavier_normal_(w, generator=g),
         lambda g: g.standard_normal(w.shape) * math.sqrt(2.0 / (fan_in + fan_out))),
        (lambda g: init.normal_(w, 0.5, 2.0, generator=g), lambda g: 0.5 + 2.0 * g.standard_normal(w.shape)),
        (lambda g: init.uniform_(w, -3.0, 1.0, generator=g), lambda g: -3.0 + 4.0 * g.random(w.shape)),
    ]
    for fill, want in cases:
        out = fill(np.random.default_rng(7))
        assert out is w and w.requires_grad and w.is_leaf and w.grad_fn is None
        np.testing.assert_allclose(w.numpy(), want(np.random.default_rng(7)), rtol=1e-12, atol=1e-15)
    assert init.constant_(w, 0.25) is w and np.all(w.numpy() == 0.25)
    init.zeros_(w)
    assert not w.numpy().any()
    init.ones_(w)
    assert np.all(w.numpy() == 1)
    e = m.zeros(3, 5)
    init.eye_(e)
    np.testing.assert_array_equal(e.numpy(), np.eye(3, 5))


@pytest.mark.parametrize("m", ENGINES)
def test_distributions_with_the_engine_generator(m):
    init = m.nn.init
    m.manual_seed(0)
    x = m.zeros(400, 250)
    init.trunc_normal_(x, mean=0.1, std=1.0, a=-0.5, b=1.5)
    v = x.numpy()
    # the truncated mean: 0.1 + (φ(-0.6) - φ(1.4)) / (Φ(1.4) - Φ(-0.6)) = 0.385
    assert v.min() >= -0.5 and v.max() <= 1.5 and abs(v.mean() - 0.385) < 0.01
    assert x.uniform_(2.0, 3.0) is x and 2.0 <= x.numpy().min() and x.numpy().max() < 3.0
    x.normal_(mean=-1.0, std=0.1)
    assert abs(x.numpy().mean() + 1.0) < 0.005 and abs(x.numpy().std() - 0.1) < 0.005
    m.manual_seed(3)
    a = init.kaiming_normal_(m.zeros(64, 64)).numpy()
    m.manual_seed(3)
    np.testing.assert_array_equal(init.kaiming_normal_(m.zeros(64, 64)).numpy(), a)  # manual_seed reproduces
    assert abs(a.std() - math.sqrt(2.0 / (1 + 0.01**2)) / 8) < 0.01


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("shape", [(4, 9), (9, 4), (6, 2, 3)])
def test_orthogonal(m, shape):
    q = m.nn.init.orthogonal_(m.zeros(*shape, dtype=m.float64), gain=1.5, generator=np.random.default_rng(1))
    flat = q.numpy().reshape(shape[0], -1) / 1.5
    small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=1e-12)


def test_gains_and_fans_match_pytorch():
    torch = pytest.importorskip("torch")
    for nl, p in (("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                  ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)):
        assert pygrad.nn.init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p), rel=1e-15)
    for shape in ((5, 3), (8, 4, 3, 3), (2, 6, 5)):
        want = torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
        assert pygrad.nn.init._calculate_fan_in_and_fan_out(pygrad.zeros(*shape)) == want


@pytest.mark.parametrize("m", ENGINES)
def test_errors(m):
    init = m.nn.init
    for call, exc, msg in (
        (lambda: init.kaiming_normal_(m.zeros(5)), PygradValueError, "fan in and fan out need a tensor of at least 2"),
        (lambda: init.kaiming_normal_(m.zeros(5, 5), mode="fan"), PygradValueError, "mode must be 'fan_in' or"),
        (lambda: init.uniform_(m.zeros(3), 2.0, 1.0), PygradValueError, "uniform_: expected a <= b"),
        (lambda: init.normal_(m.zeros(3), 0.0, -1.0), PygradValueError, "normal_: std must be non-negative"),
        (lambda: init.eye_(m.zeros(3)), PygradValueError, "eye_: expected a 2-d tensor"),
        (lambda: init.normal_(m.zeros(3, dtype=m.int64)), PygradTypeError, "expected a float32 or float64"),
        (lambda: init.normal_([1.0]), PygradTypeError, "normal_: expected a Tensor, got list"),
        (lambda: init.uniform_(m.zeros(3), generator=3), PygradTypeError, "generator must be a numpy"),
        (lambda: init.calculate_gain("swish"), PygradValueError, "unsupported nonlinearity 'swish'"),
        (lambda: init.trunc_normal_(m.zeros(3), a=1.0, b=0.0), PygradValueError, "expected a < b"),
    ):
        with pytest.raises(exc, match=msg):
            call()
