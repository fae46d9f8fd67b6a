"""pygrad.utils.data (torch.utils.data's names and batches) on both engines: default_collate's rules,
DataLoader's batching, shuffling, samplers, drop_last, batch_size=None, batch_sampler, collate_fn,
a TensorDataset batched by indexing, and a PyTorch training loop run unchanged against torch."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]


@pytest.mark.parametrize("m", ENGINES)
def test_default_collate_rules(m):
    D = m.utils.data
    out = D.default_collate([(np.array([1.0, 2.0]), 3, 0.5, True, "a"), (np.array([3.0, 4.0]), 4, 1.5, False, "b")])
    x, i, f, b, s = out
    assert isinstance(out, list) and isinstance(x, m.Tensor)
    assert x.dtype == m.float64 and x.numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert i.dtype == m.int64 and f.dtype == m.float64 and b.dtype == m.bool_ and s == ["a", "b"]
    d = D.default_collate([{"x": m.tensor([1.0]), "y": 0}, {"x": m.tensor([2.0]), "y": 1}])
    assert d["x"].shape == (2, 1) and d["y"].numpy().tolist() == [0, 1]
    P = namedtuple("P", "a b")
    p = D.default_collate([P(1, 2.0), P(3, 4.0)])
    assert isinstance(p, P) and p.a.numpy().tolist() == [1, 3]
    with pytest.raises(PygradTypeError, match="cannot batch items of type object"):
        D.default_collate([object(), object()])
    with pytest.raises(ShapeError, match="same number of fields"):
        D.default_collate([(1, 2), (3,)])


@pytest.mark.parametrize("m", ENGINES)
def test_loader_batches_like_pytorch(m):
    D = m.utils.data
    X = m.tensor(np.arange(20.0).reshape(10, 2), dtype=m.float32)
    y = m.tensor(np.arange(10) % 3)
    ds = D.TensorDataset(X, y)
    assert len(ds) == 10 and ds[3][1].numpy() == 0
    batches = list(D.DataLoader(ds, batch_size=4))
    assert len(batches) == 3 and [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert batches[0][1].dtype == m.int64 and batches[2][1].numpy().tolist() == [2, 0]
    assert len(D.DataLoader(ds, batch_size=4, drop_last=True)) == 2
    a = [b[1].numpy().tolist() for b in D.DataLoader(ds, batch_size=5, shuffle=True, generator=0)]
    again = [b[1].numpy().tolist() for b in D.DataLoader(ds, batch_size=5, shuffle=True, generator=0)]
    assert a == again and sorted(sum(a, [])) == sorted(np.arange(10) % 3)
    single = list(D.DataLoader(ds, batch_size=None))
    assert len(single) == 10 and single[1][0].shape == (2,)
    bs = D.BatchSampler(D.SequentialSampler(ds), 3, drop_last=False)
    assert [len(b) for b in D.DataLoader(ds, batch_sampler=bs)] == [2, 2, 2, 2]  # 2 fields per batch
    assert [b[0].shape[0] for b in D.DataLoader(ds, batch_sampler=bs)] == [3, 3, 3, 1]
    train, test = D.random_split(ds, [0.8, 0.2], generator=1)
    assert len(train) == 8 and len(test) == 2
    assert sum(b[0].shape[0] for b in D.DataLoader(train, batch_size=3)) == 8
    stacked = list(D.DataLoader(ds, batch_size=4, collate_fn=lambda items: len(items)))
    assert stacked == [4, 4, 2]
    for call, exc, msg in ((lambda: D.DataLoader(ds, sampler=D.SequentialSampler(ds), shuffle=True),
                            PygradValueError, "sampler option is mutually exclusive with shuffle"),
                           (lambda: D.DataLoader(ds, batch_size=2, batch_sampler=bs), PygradValueError,
                            "batch_sampler option is mutually exclusive"),
                           (lambda: D.DataLoader(ds, batch_size=0), PygradValueError, "batch_size must be"),
                           (lambda: D.DataLoader(5), PygradTypeError, "dataset must have __len__"),
                           (lambda: D.TensorDataset(X, m.tensor([1, 2])), ShapeError, "size mismatch"),
                           (lambda: D.TensorDataset(np.ones(3)), PygradTypeError, "expected tensors")):
        with pytest.raises(exc, match=msg):
            call()


def _torch_script(T, data, steps=3):
    """Written for PyTorch: TensorDataset, DataLoader, a Module moved to a device, CrossEntropyLoss, SGD."""
    X, y, W, b = data
    device = T.device("cuda" if T.cuda.is_available() else "cpu")
    ds = T.utils.data.TensorDataset(T.tensor(X), T.tensor(y))
    loader = T.utils.data.DataLoader(ds, batch_size=8, shuffle=False)
    model = T.nn.Sequential(T.nn.Flatten(), T.nn.Linear(4, 3)).to(device)
    with T.no_grad():
        model[1].weight.copy_(T.tensor(W))
        model[1].bias.copy_(T.tensor(b))
    opt = T.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = T.nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


def test_a_pytorch_loop_runs_unchanged():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((20, 2, 2)).astype(np.float32), rng.integers(0, 3, 20),
            rng.standard_normal((3, 4)).astype(np.float32), np.zeros(3, np.float32))
    want = _torch_script(torch, data)
    for T in (pygrad, ref):
        # pygrad's Linear keeps the notes' (in, out) weight: the same model with the weight transposed
        Xd, yd, W, b = data
        got = _torch_script(T, (Xd, yd, W.T.copy() if T.nn.Linear(4, 3).weight.shape == (4, 3) else W, b))
        np.testing.assert_allclose(got, want, rtol=1e-5)
