"""nn.BatchNorm1d, BatchNorm2d, LayerNorm and GroupNorm on both engines: parameters and buffers, the
train/eval switch, momentum (None: the cumulative average), the running statistics' values against a numpy
computation written here, state_dict round trips, and the modules against PyTorch's (optional)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="reference")]


@pytest.mark.parametrize("m", ENGINES)
def test_batch_norm_module_buffers_and_state_dict(m: Any) -> None:
    bn = m.nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    np.testing.assert_array_equal(bn.running_mean.numpy(), [0, 0, 0])
    np.testing.assert_array_equal(bn.running_var.numpy(), [1, 1, 1])
    assert bn.num_batches_tracked.item() == 0 and bn.num_batches_tracked.dtype == np.int64
    plain = m.nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert list(plain.parameters()) == [] and list(plain.state_dict()) == []
    assert plain.running_mean is None and plain.weight is None


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_running_statistics_follow_the_batches(m: Any, momentum: Any) -> None:
    """momentum 0.1: r ← 0.9 r + 0.1 s; None: the average of every batch so far (factor 1/t)."""
    rng = np.random.default_rng(0)
    bn = m.nn.BatchNorm1d(3, momentum=momentum, dtype="float64")
    mean, var = np.zeros(3), np.ones(3)
    for t in range(1, 5):
        x = rng.standard_normal((6, 3, 2)) * t + t
        bn(m.tensor(x, dtype=m.float64))
        f = 0.1 if momentum is not None else 1.0 / t
        mean = (1 - f) * mean + f * x.mean(axis=(0, 2))
        var = (1 - f) * var + f * x.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 4


@pytest.mark.parametrize("m", ENGINES)
def test_eval_uses_the_running_statistics_and_does_not_update_them(m: Any) -> None:
    rng = np.random.default_rng(1)
    bn = m.nn.BatchNorm2d(2, dtype="float64")
    bn(m.tensor(rng.standard_normal((4, 2, 3, 3)), dtype=m.float64))
    bn.eval()
    before = bn.state_dict()
    x = rng.standard_normal((2, 2, 3, 3))
    y = bn(m.tensor(x, dtype=m.float64)).numpy()
    rm, rv = before["running_mean"].reshape(1, 2, 1, 1), before["running_var"].reshape(1, 2, 1, 1)
    np.testing.assert_allclose(y, (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-12)
    after = bn.state_dict()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])
    # one sample per channel is fine in eval
    assert bn(m.tensor(x[:1, :, :1, :1], dtype=m.float64)).shape == (1, 2, 1, 1)
    bn.train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(m.tensor(x[:1, :, :1, :1], dtype=m.float64))


@pytest.mark.parametrize("m", ENGINES)
def test_untracked_batch_norm_uses_batch_statistics_in_eval(m: Any) -> None:
    rng = np.random.default_rng(2)
    bn = m.nn.BatchNorm1d(3, track_running_stats=False, dtype="float64").eval()
    x = rng.standard_normal((5, 3))
    y = bn(m.tensor(x, dtype=m.float64)).numpy()
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)


@pytest.mark.parametrize("m", ENGINES)
def test_modules_train_and_their_state_round_trips(m: Any) -> None:
    rng = np.random.default_rng(3)
    net = m.nn.Sequential(m.nn.Conv2d(1, 4, 3, padding=1, generator=0), m.nn.BatchNorm2d(4), m.nn.ReLU(),
                          m.nn.GroupNorm(2, 4), m.nn.Flatten(), m.nn.LayerNorm(4 * 5 * 5),
                          m.nn.Linear(100, 3, generator=1))
    opt = m.optim.SGD(net.parameters(), lr=0.1)
    x = m.tensor(rng.standard_normal((8, 1, 5, 5)), dtype=m.float32)
    labels = rng.integers(0, 3, 8)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = m.nn.functional.cross_entropy(net(x), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    state = net.state_dict()
    assert "1.running_mean" in state and "1.num_batches_tracked" in state and state["1.num_batches_tracked"] == 5
    twin = copy.deepcopy(net)
    twin.load_state_dict(state)
    pickled = pickle.loads(pickle.dumps(net))
    net.eval(), twin.eval(), pickled.eval()
    assert not net[1].training
    np.testing.assert_allclose(twin(x).numpy(), net(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(pickled(x).numpy(), net(x).numpy(), rtol=1e-6)


@pytest.mark.parametrize("m", ENGINES)
def test_module_arguments_are_checked(m: Any) -> None:
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 3D input"):
        m.nn.BatchNorm2d(3)(m.ones(2, 3, 4))
    with pytest.raises(ValueError, match="BatchNorm1d: expected 2D or 3D input"):
        m.nn.BatchNorm1d(3)(m.ones(2, 3, 4, 4))
    with pytest.raises(ValueError, match="GroupNorm: num_channels=5 must be divisible by num_groups=2"):
        m.nn.GroupNorm(2, 5)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean of shape \(3,\), expected \(4,\)"):
        m.nn.BatchNorm1d(3)(m.ones(2, 4))
    with pytest.raises(ValueError, match="layer_norm: normalized_shape"):
        m.nn.LayerNorm(5)(m.ones(2, 4))


@pytest.mark.parametrize("m", ENGINES)
def test_layer_norm_module_options(m: Any) -> None:
    ln = m.nn.LayerNorm((2, 3), bias=False)
    assert [n for n, _ in ln.named_parameters()] == ["weight"] and ln.weight.shape == (2, 3)
    assert list(m.nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    gn = m.nn.GroupNorm(1, 4, affine=False)
    assert list(gn.parameters()) == []
    x = np.arange(8.0).reshape(2, 4)
    np.testing.assert_allclose(gn(m.tensor(x)).numpy(), (x - x.mean(1, keepdims=True)) /
                               np.sqrt(x.var(1, keepdims=True) + 1e-5), rtol=1e-6)


@pytest.mark.parametrize("kind", ["bn1d", "bn2d-none", "ln", "gn"])
def test_modules_match_pytorch(kind: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    if kind == "bn1d":
        ours, theirs, shape = pygrad.nn.BatchNorm1d(5, momentum=0.3), torch.nn.BatchNorm1d(5, momentum=0.3), (6, 5, 4)
    elif kind == "bn2d-none":
        ours, theirs, shape = pygrad.nn.BatchNorm2d(3, momentum=None), torch.nn.BatchNorm2d(3, momentum=None), \
            (4, 3, 5, 5)
    elif kind == "ln":
        ours, theirs, shape = pygrad.nn.LayerNorm((4, 5)), torch.nn.LayerNorm((4, 5)), (3, 4, 5)
    else:
        ours, theirs, shape = pygrad.nn.GroupNorm(2, 6), torch.nn.GroupNorm(2, 6), (3, 6, 4)
    state = {k: torch.tensor(v) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state)
    for step in range(3):
        x = (rng.standard_normal(shape) * (step + 1)).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        xo, xt = pygrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        (ours(xo) * pygrad.tensor(g)).sum().backward()
        (theirs(xt) * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    ts = theirs.state_dict()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, ts[k].numpy(), rtol=1e-4, atol=1e-4, err_msg=k)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-3)
    ours.eval(), theirs.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(ours(pygrad.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-4)
