"""pygrad.compile on a ConvNet step: convolution, ReLU, max and average
pooling, dropout and affine layers, trained with each optimizer for many
steps, bit-identical to the eager step. Dropout draws a new seed at every
call: a replay draws it from the same generator, in the same order, so the
masks (and so the parameters) follow the eager run exactly, and differ from
step to step.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad import nn
from pygrad._compile import CompileWarning
from pygrad.nn import functional as F


def _net(m, dtype: str):
    return m.nn.Sequential(
        m.nn.Conv2d(1, 4, 3, padding=1, dtype=dtype), m.nn.ReLU(), m.nn.MaxPool2d(2),
        m.nn.Conv2d(4, 6, 3, padding=1, dtype=dtype), m.nn.ReLU(), m.nn.AvgPool2d(2),
        m.nn.Flatten(), m.nn.Dropout(0.25), m.nn.Linear(24, 10, dtype=dtype))


def _make(m, opt_name: str, kw: dict, dtype: str, seed: int = 0):
    m.manual_seed(seed)
    net = _net(m, dtype)
    opt = getattr(m.optim, opt_name)(net.parameters(), **kw)

    def step(x, y):
        opt.zero_grad()
        loss = m.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, net


def _data(m, dtype: str, n: int = 3):
    rng = np.random.default_rng(7)
    return [(m.tensor(rng.standard_normal((6, 1, 8, 8)), dtype=dtype), m.tensor(rng.integers(0, 10, 6)))
            for _ in range(n)]


OPTS = [("SGD", {"lr": 0.05, "momentum": 0.9}), ("Adam", {"lr": 1e-3}), ("AdamW", {"lr": 1e-3, "weight_decay": 0.1}),
        ("RMSprop", {"lr": 1e-3}), ("Adagrad", {"lr": 0.05})]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("opt_name", "kw"), OPTS, ids=[o for o, _ in OPTS])
def test_convnet_steps_bit_identical_to_eager(opt_name: str, kw: dict, dtype: str) -> None:
    data = _data(pg, dtype)
    eager, ne = _make(pg, opt_name, kw, dtype)
    le = [eager(*data[k % 3]).item() for k in range(40)]
    compiled, nc = _make(pg, opt_name, kw, dtype)
    compiled = pg.compile(compiled)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lc = [compiled(*data[k % 3]).item() for k in range(40)]
    assert compiled.records == 1
    assert le == lc
    for a, b in zip(ne.parameters(), nc.parameters(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_each_replay_draws_a_new_dropout_mask() -> None:
    pg.manual_seed(3)
    x = pg.tensor(np.ones((4, 1000)), dtype="float32")

    @pg.compile
    def f(x):
        with pg.no_grad():
            return F.dropout(x, 0.5)

    masks = [f(x).numpy() != 0 for _ in range(6)]
    assert f.records == 1
    for a, b in zip(masks, masks[1:]):
        assert (a != b).any()
    pg.manual_seed(3)
    want = [F.dropout(x, 0.5).numpy() != 0 for _ in range(6)]
    for a, b in zip(masks, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_dropout_with_its_own_generator() -> None:
    x = pg.tensor(np.linspace(-1, 1, 600).reshape(3, 200), requires_grad=True)

    def make():
        gen = np.random.default_rng(11)

        def f(x):
            x.grad = None
            y = F.dropout(x * 2.0, 0.3, generator=gen)
            (y * y).sum().backward()
            return y, x.grad
        return f

    eager, compiled = make(), pg.compile(make())
    for _ in range(5):
        (ye, ge), (yc, gc) = eager(x), compiled(x)
        np.testing.assert_array_equal(ye.numpy(), yc.numpy())
        np.testing.assert_array_equal(ge.numpy(), gc.numpy())
    assert compiled.records == 1


def test_convnet_parity_with_the_reference_engine() -> None:
    """The compiled C step against the reference engine running it eagerly (float64)."""
    data_c, data_r = _data(pg, "float64"), _data(ref, "float64")
    step_c, net_c = _make(pg, "SGD", {"lr": 0.05, "momentum": 0.9}, "float64")
    step_r, net_r = _make(ref, "SGD", {"lr": 0.05, "momentum": 0.9}, "float64")
    net_r.load_state_dict(net_c.state_dict())  # numpy arrays: engine-neutral
    pg.manual_seed(5)  # the same dropout seeds from here on (both engines draw them alike)
    ref.manual_seed(5)
    step_c = pg.compile(step_c)
    for k in range(12):
        lc, lr_ = step_c(*data_c[k % 3]).item(), step_r(*data_r[k % 3]).item()
        assert abs(lc - lr_) <= 1e-9 * max(1.0, abs(lr_))
    assert step_c.records == 1
    for a, b in zip(net_c.parameters(), net_r.parameters(), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


def _bn_net(dtype: str, momentum=0.1):
    pg.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, dtype=dtype), nn.BatchNorm2d(4, momentum=momentum, dtype=dtype),
                        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 16, dtype=dtype),
                        nn.LayerNorm(16, dtype=dtype), nn.GELU(), nn.Linear(16, 10, dtype=dtype))
    opt = pg.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    def evaluate(x):
        with pg.no_grad():
            return net(x)

    return net, step, evaluate


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_and_layer_norm_convnet_train_and_eval(dtype: str) -> None:
    """Batch statistics, running averages (and the batch count) updated in place at every
    replay, then evaluation with the running statistics: all as eager, bit for bit."""
    data = _data(pg, dtype)
    ne, se, ee = _bn_net(dtype)
    nc, sc, ec = _bn_net(dtype)
    sc, ec = pg.compile(sc), pg.compile(ec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in range(15):
            assert se(*data[k % 3]).item() == sc(*data[k % 3]).item()
        ne.eval()
        nc.eval()
        for k in range(4):
            np.testing.assert_array_equal(ee(data[k % 3][0]).numpy(), ec(data[k % 3][0]).numpy())
    assert sc.records == 1 and ec.records == 1
    for (ka, a), (kb, b) in zip(ne.state_dict().items(), nc.state_dict().items(), strict=True):
        assert ka == kb
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(nc[1].num_batches_tracked.item()) == 15


def test_batch_norm_cumulative_average_runs_eagerly_and_says_why() -> None:
    """momentum=None needs the batch count's value in Python (1 / n): not replayable."""
    net, step, _ = _bn_net("float32", momentum=None)
    c = pg.compile(step)
    x, y = _data(pg, "float32", 1)[0]
    with pytest.warns(CompileWarning, match=r"Tensor\.item"):
        for _ in range(3):
            c(x, y)
    assert c.records == 0
    assert int(net[1].num_batches_tracked.item()) == 3
