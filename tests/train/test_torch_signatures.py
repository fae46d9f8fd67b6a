"""PyTorch's parameter names on pygrad.nn and pygrad.nn.functional (code written for PyTorch passes
its keywords unchanged), Embedding.from_pretrained, and the normalisation layers' bias flag."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference
from pygrad.errors import PygradTypeError, ShapeError

ENGINES = {"c": pygrad, "reference": pygrad.reference}
# PyTorch's parameters that pygrad does not take: deprecated ones (size_average, reduce), private
# ones, devices, and the few listed with the reason
SKIP = {"size_average", "reduce", "_stacklevel", "device", "dtype", "self", "args", "kwargs",
        "min_value", "max_value"}  # Hardtanh's deprecated spellings
SKIP_FOR: dict[str, set[str]] = {}  # per function


def _names(f: Any) -> list[str]:
    target = f.__init__ if isinstance(f, type) else f
    return [p.name for p in inspect.signature(target).parameters.values()]


@pytest.mark.parametrize("kind", ["functional", "modules"])
def test_pytorch_keywords_are_accepted(kind: str) -> None:
    """Every public name pygrad shares with torch.nn(.functional) takes PyTorch's parameter names
    (beyond the SKIP list), so ``F.relu(input=x, inplace=True)`` and ``nn.BatchNorm2d(c, bias=False)``
    work as written for PyTorch."""
    torch = pytest.importorskip("torch")
    mod_t = torch.nn.functional if kind == "functional" else torch.nn
    mod_p = pygrad.nn.functional if kind == "functional" else pygrad.nn
    missing = {}
    for name in sorted(dir(mod_p)):
        if name.startswith("_") or not hasattr(mod_t, name):
            continue
        ft, fp = getattr(mod_t, name), getattr(mod_p, name)
        if not callable(ft) or not callable(fp) or isinstance(ft, type) != isinstance(fp, type):
            continue
        try:
            want, have = _names(ft), _names(fp)
        except (TypeError, ValueError):
            continue
        lost = [n for n in want if n not in have and n not in SKIP | SKIP_FOR.get(name, set())]
        if lost:
            missing[name] = lost
    assert not missing, f"PyTorch parameters pygrad does not take: {missing}"


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


def test_embedding_from_pretrained(m: Any) -> None:
    w = m.tensor(np.arange(12.0).reshape(4, 3))
    e = m.nn.Embedding.from_pretrained(w)
    assert not e.weight.requires_grad and e.weight.dtype == w.dtype
    np.testing.assert_array_equal(e(np.array([1, 3])).numpy(), [[3, 4, 5], [9, 10, 11]])
    with m.no_grad():
        w.mul_(2.0)  # the table is the given tensor's data (PyTorch shares it too)
    np.testing.assert_array_equal(e(np.array([1])).numpy(), [[6, 8, 10]])
    e2 = m.nn.Embedding.from_pretrained(m.tensor(np.ones((4, 3))), freeze=False, padding_idx=0)
    np.testing.assert_array_equal(e2.weight.numpy()[0], [1, 1, 1])  # the padding row is kept as given
    e2(np.array([0, 1, 1, 2])).sum().backward()
    np.testing.assert_array_equal(e2.weight.grad.numpy(), [[0] * 3, [2] * 3, [1] * 3, [0] * 3])
    e3 = m.nn.Embedding.from_pretrained(np.ones((2, 5), np.float32))
    assert e3.weight.shape == (2, 5) and e3.weight.dtype == m.float32
    with pytest.raises(ShapeError, match=r"embeddings must be 2-d, got shape \(4,\)"):
        m.nn.Embedding.from_pretrained(m.tensor(np.ones(4)))
    with pytest.raises(PygradTypeError, match="expected a 2-d tensor, got list"):
        m.nn.Embedding.from_pretrained([[1.0]])
    with pytest.raises(ShapeError, match=r"_weight of shape \(4, 3\) does not match num_embeddings=5"):
        m.nn.Embedding(5, 3, _weight=w)


@pytest.mark.parametrize("layer", ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "InstanceNorm2d"])
def test_norm_layers_without_bias(m: Any, layer: str) -> None:
    """bias=False (PyTorch 2.13): a weight and no bias; the output is the affine-free normalisation
    times the weight, as PyTorch's."""
    args = (1, 3) if layer == "GroupNorm" else (3,)
    kw = {"affine": True} if layer == "InstanceNorm2d" else {}
    mod = getattr(m.nn, layer)(*args, bias=False, dtype="float64", **kw)
    assert [n for n, _ in mod.named_parameters()] == ["weight"] and mod.bias is None
    shape = (4, 3) if layer == "BatchNorm1d" else (2, 3, 4, 4)
    x = np.random.default_rng(1).standard_normal(shape)
    with m.no_grad():
        mod.weight.mul_(m.tensor(np.array([0.5, 2.0, -1.0])))
    got = mod(m.tensor(x)).numpy()
    torch = pytest.importorskip("torch")
    tm = getattr(torch.nn, layer)(*args, bias=False, dtype=torch.float64, **kw)
    with torch.no_grad():
        tm.weight.mul_(torch.tensor([0.5, 2.0, -1.0], dtype=torch.float64))
    np.testing.assert_allclose(got, tm(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_small_modules_against_torch(m: Any) -> None:
    """LogSigmoid, Softmax2d, UpsamplingNearest2d / UpsamplingBilinear2d (align_corners=True) and
    max_pool2d_with_indices, against PyTorch; Softmax2d's rank check."""
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    xt = m.tensor(x)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x)
    pairs = [(m.nn.LogSigmoid(), torch.nn.LogSigmoid()), (m.nn.Softmax2d(), torch.nn.Softmax2d()),
             (m.nn.UpsamplingNearest2d(size=(5, 7)), torch.nn.UpsamplingNearest2d(size=(5, 7))),
             (m.nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(scale_factor=2))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(xt).numpy(), theirs(tx).numpy(), rtol=1e-12, atol=1e-14,
                                   err_msg=type(ours).__name__)
    np.testing.assert_allclose(m.nn.Softmax2d()(m.tensor(x[0])).numpy(), torch.nn.Softmax2d()(tx[0]).numpy(),
                               rtol=1e-12)
    with pytest.raises(ShapeError, match=r"Softmax2d: expected a 3-d or 4-d input .* got shape \(2, 3\)"):
        m.nn.Softmax2d()(m.tensor(np.ones((2, 3))))
    v, i = m.nn.functional.max_pool2d_with_indices(xt, 2)
    tv, ti = torch.nn.functional.max_pool2d_with_indices(tx, 2)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
