"""Devices and ``.data`` for code written for PyTorch, on both engines: ``device``, ``pygrad.cuda``,
``Tensor.to`` in all its forms, ``.device``/``.is_cuda``/``.cuda()``, ``.data`` read and assigned,
``type``, ``stride``, ``sum_to_size``, and ``Module.to``/``float``/``double``/``requires_grad_``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradRuntimeError, PygradTypeError, PygradValueError, ShapeError

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]


def test_device_names():
    d = pygrad.device("cpu")
    assert d.type == "cpu" and d.index is None and str(d) == "cpu" and repr(d) == "device(type='cpu')"
    assert pygrad.device("cpu:0") == "cpu" == pygrad.device("cpu", 0) and pygrad.device("cuda:1").index == 1
    assert pygrad.device("cuda") != "cpu" and pygrad.device(d) == d and hash(d) == hash(pygrad.device("cpu:0"))
    assert pickle.loads(pickle.dumps(pygrad.device("cuda:1"))) == "cuda:1"
    assert not pygrad.cuda.is_available() and pygrad.cuda.device_count() == 0
    pygrad.cuda.manual_seed(0)
    pygrad.cuda.manual_seed_all(0)
    # the usual opening of a PyTorch script picks the CPU
    assert pygrad.device("cuda" if pygrad.cuda.is_available() else "cpu") == "cpu"
    for bad, exc, msg in (("gpu", PygradValueError, "unknown device type 'gpu'"),
                          (3, PygradTypeError, "expected a string"),
                          ("cpu:x", PygradValueError, "invalid device index"),
                          ("cpu:0", PygradValueError, "has an index already")):
        with pytest.raises(exc, match=msg):
            pygrad.device(bad, 1) if msg == "has an index already" else pygrad.device(bad)
    with pytest.raises(AttributeError):
        d.type = "cuda"


@pytest.mark.parametrize("m", ENGINES)
def test_tensor_to_device_and_dtype(m):
    x = m.tensor([[1.5, -2.0], [3.0, 4.0]], requires_grad=True)
    assert x.device == "cpu" and x.device == pygrad.device("cpu") and x.is_cuda is False
    assert x.to("cpu") is x and x.to(pygrad.device("cpu")) is x and x.to(device="cpu") is x and x.to(x.dtype) is x
    y = x.to("cpu", m.float64)
    assert y.dtype == m.float64 and y.grad_fn is not None  # a differentiable cast
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 2), np.float32))
    assert x.to(m.tensor([1], dtype=m.int64)).dtype == m.int64
    assert x.to(dtype="float64", non_blocking=True).dtype == m.float64
    c = x.to(copy=True)
    assert c is not x and np.array_equal(c.numpy(), x.numpy())
    assert x.type() == "pygrad.FloatTensor" and x.type(m.float64).dtype == m.float64
    assert m.tensor([1, 2]).type() == "pygrad.LongTensor"
    assert x.cpu() is x and x.ndimension() == 2
    for call, exc, msg in ((lambda: x.to("cuda"), PygradRuntimeError,
                            "pygrad runs on the CPU only; cannot use device 'cuda'"),
                           (lambda: x.to("cuda:0", m.float64), PygradRuntimeError, "cannot use device 'cuda:0'"),
                           (lambda: x.cuda(), PygradRuntimeError, "cuda: pygrad runs on the CPU only"),
                           (lambda: x.to(m.float64, sparse=True), PygradTypeError,
                            "unexpected keyword argument 'sparse'")):
        with pytest.raises(exc, match=msg):
            call()


@pytest.mark.parametrize("m", ENGINES)
def test_data_reads_and_writes_outside_the_graph(m):
    w = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = w.data
    assert not d.requires_grad and d.is_leaf
    (w * w).sum().backward()
    # the hand-written update of old PyTorch code
    w.data -= 0.5 * w.grad.data
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0, 0.0])
    assert w.requires_grad and w.is_leaf and w.grad_fn is None
    w.data = m.tensor([7.0, 8.0, 9.0])
    np.testing.assert_array_equal(w.numpy(), [7.0, 8.0, 9.0])
    with pytest.raises(ShapeError, match=r"data: pygrad assigns .data in place, so the new value must have the "
                                         r"tensor's shape \(3,\)"):
        w.data = m.tensor([1.0])
    with pytest.raises(PygradTypeError, match="data: expected a Tensor, got list"):
        w.data = [1.0, 2.0, 3.0]


@pytest.mark.parametrize("m", ENGINES)
def test_stride_and_sum_to_size(m):
    x = m.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    assert x.stride() == (12, 4, 1) and x.stride(1) == 4 and x.stride(-1) == 1 and m.tensor(1.0).stride() == ()
    y = x.sum_to_size(3, 1)
    np.testing.assert_array_equal(y.numpy(), np.arange(24.0).reshape(2, 3, 4).sum(axis=(0, 2))[:, None])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3, 4)))
    assert x.sum_to_size((2, 3, 4)).shape == (2, 3, 4) and x.sum_to_size(1).shape == (1,)
    with pytest.raises(ShapeError, match=r"sum_to_size: size \(5,\) is not expandable to the tensor's shape"):
        x.sum_to_size(5)


@pytest.mark.parametrize("m", ENGINES)
def test_module_to_float_double_and_freezing(m):
    net = m.nn.Sequential(m.nn.Linear(3, 4), m.nn.BatchNorm1d(4), m.nn.Linear(4, 2))
    before = list(net.parameters())
    assert net.to("cpu") is net and net.to(pygrad.device("cpu")) is net and net.cpu() is net
    assert list(net.parameters()) == before  # nothing moved: the same tensors
    x = m.tensor(np.random.default_rng(0).standard_normal((5, 3)), dtype=m.float32)
    net(x).sum().backward()
    assert net.double() is net
    for p in net.parameters():
        assert p.dtype == m.float64 and p.requires_grad and p.is_leaf and p.grad.dtype == m.float64
    bn = net[1]
    assert bn.running_mean.dtype == m.float64 and bn.num_batches_tracked.dtype == m.int64  # ints kept
    np.testing.assert_allclose(net[0].weight.numpy(), before[0].numpy().astype(np.float64))
    out = net(x.double())
    assert out.dtype == m.float64
    opt = m.optim.SGD(net.parameters(), lr=0.1)
    opt.zero_grad()
    out.sum().backward()
    opt.step()
    assert net.float() is net and all(p.dtype == m.float32 for p in net.parameters())
    assert net.to(m.tensor([1.0], dtype=m.float64)) is net and net[2].bias.dtype == m.float64
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net[0].parameters())
    net[2].requires_grad_()
    assert all(p.requires_grad for p in net[2].parameters())
    for call, exc, msg in ((lambda: net.to("cuda"), PygradRuntimeError,
                            "Sequential.to: pygrad runs on the CPU only"),
                           (lambda: net.cuda(), PygradRuntimeError, "Sequential.cuda: pygrad runs on the CPU only"),
                           (lambda: net.to(m.int64), PygradTypeError, "only floating-point dtypes"),
                           (lambda: net.to("cpu", bogus=1), PygradTypeError, "unexpected keyword argument 'bogus'")):
        with pytest.raises(exc, match=msg):
            call()
