"""More of PyTorch's nn modules on both engines: activations (Softmax, LogSoftmax, Softmin, SELU, CELU,
Hardswish, Softsign, GLU, Threshold, Tanhshrink, Softshrink, Hardshrink), 1-d pooling, channel dropout,
pixel (un)shuffle, padding modules, RMSNorm, ConvTranspose1d, Bilinear, CosineSimilarity,
PairwiseDistance, ParameterList, ParameterDict and the new loss modules.

Against the torch modules where torch is installed (the same weights copied in), against the
functional forms and hand values everywhere; parameters registered; errors name the module.
"""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
import pygrad.nn as nn
import pygrad.nn.functional as F
import pygrad.reference as ref
import pygrad.reference.nn as rnn
from pygrad.errors import PygradError, PygradIndexError, PygradTypeError, PygradValueError, ShapeError

ENGINES = {"c": (pygrad, nn), "ref": (ref, rnn)}
PM = np.array([1.0, -1.0, -1.0, 1.0])

# (id, pygrad module factory(nn), torch module factory(tnn), input shapes)
STATELESS = [
    ("Softmax", lambda n: n.Softmax(dim=1), lambda t: t.Softmax(dim=1), [(3, 4)]),
    ("Softmax-implicit", lambda n: n.Softmax(), lambda t: t.Softmax(dim=0), [(2, 3, 4)]),  # implicit: 0 for 3-d
    ("LogSoftmax", lambda n: n.LogSoftmax(dim=-1), lambda t: t.LogSoftmax(dim=-1), [(3, 4)]),
    ("Softmin", lambda n: n.Softmin(dim=0), lambda t: t.Softmin(dim=0), [(3, 4)]),
    ("SELU", lambda n: n.SELU(), lambda t: t.SELU(), [(3, 4)]),
    ("CELU", lambda n: n.CELU(0.5), lambda t: t.CELU(0.5), [(3, 4)]),
    ("Hardswish", lambda n: n.Hardswish(), lambda t: t.Hardswish(), [(3, 4)]),
    ("Softsign", lambda n: n.Softsign(), lambda t: t.Softsign(), [(3, 4)]),
    ("GLU", lambda n: n.GLU(0), lambda t: t.GLU(0), [(4, 3)]),
    ("Threshold", lambda n: n.Threshold(0.2, -1.0), lambda t: t.Threshold(0.2, -1.0), [(3, 4)]),
    ("Tanhshrink", lambda n: n.Tanhshrink(), lambda t: t.Tanhshrink(), [(3, 4)]),
    ("Softshrink", lambda n: n.Softshrink(0.3), lambda t: t.Softshrink(0.3), [(3, 4)]),
    ("Hardshrink", lambda n: n.Hardshrink(), lambda t: t.Hardshrink(), [(3, 4)]),
    ("MaxPool1d", lambda n: n.MaxPool1d(3, 2, 1), lambda t: t.MaxPool1d(3, 2, 1), [(2, 3, 8)]),
    ("AvgPool1d", lambda n: n.AvgPool1d(2), lambda t: t.AvgPool1d(2), [(2, 3, 8)]),
    ("AdaptiveAvgPool1d", lambda n: n.AdaptiveAvgPool1d(3), lambda t: t.AdaptiveAvgPool1d(3), [(3, 7)]),
    ("PixelShuffle", lambda n: n.PixelShuffle(2), lambda t: t.PixelShuffle(2), [(2, 4, 3, 2)]),
    ("PixelUnshuffle", lambda n: n.PixelUnshuffle(2), lambda t: t.PixelUnshuffle(2), [(2, 1, 4, 6)]),
    ("ZeroPad1d", lambda n: n.ZeroPad1d((1, 2)), lambda t: t.ZeroPad1d((1, 2)), [(2, 3, 4)]),
    ("ZeroPad2d", lambda n: n.ZeroPad2d((1, 2, 0, 1)), lambda t: t.ZeroPad2d((1, 2, 0, 1)), [(2, 3, 4)]),
    ("ConstantPad1d", lambda n: n.ConstantPad1d(2, 3.5), lambda t: t.ConstantPad1d(2, 3.5), [(3, 4)]),
    ("ConstantPad2d", lambda n: n.ConstantPad2d((1, 0, 2, 1), -1.0), lambda t: t.ConstantPad2d((1, 0, 2, 1), -1.0),
     [(1, 2, 3, 4)]),
    ("ConstantPad3d", lambda n: n.ConstantPad3d(1, 2.0), lambda t: t.ConstantPad3d(1, 2.0), [(1, 2, 2, 3, 2)]),
    ("ReflectionPad1d", lambda n: n.ReflectionPad1d(2), lambda t: t.ReflectionPad1d(2), [(2, 3, 4)]),
    ("ReflectionPad2d", lambda n: n.ReflectionPad2d((1, 2, 2, 1)), lambda t: t.ReflectionPad2d((1, 2, 2, 1)),
     [(2, 3, 4, 5)]),
    ("ReplicationPad1d", lambda n: n.ReplicationPad1d((3, 1)), lambda t: t.ReplicationPad1d((3, 1)), [(2, 3, 4)]),
    ("ReplicationPad2d", lambda n: n.ReplicationPad2d(2), lambda t: t.ReplicationPad2d(2), [(1, 2, 3, 4)]),
    ("CosineSimilarity", lambda n: n.CosineSimilarity(dim=-1), lambda t: t.CosineSimilarity(dim=-1),
     [(3, 4), (3, 4)]),
    ("PairwiseDistance", lambda n: n.PairwiseDistance(p=1.5, keepdim=True),
     lambda t: t.PairwiseDistance(p=1.5, keepdim=True), [(3, 4), (3, 4)]),
    ("L1Loss", lambda n: n.L1Loss(), lambda t: t.L1Loss(), [(3, 4), (3, 4)]),
    ("L1Loss-sum", lambda n: n.L1Loss(reduction="sum"), lambda t: t.L1Loss(reduction="sum"), [(3, 4), (3, 4)]),
    ("TripletMarginLoss", lambda n: n.TripletMarginLoss(margin=3.0, swap=True),
     lambda t: t.TripletMarginLoss(margin=3.0, swap=True), [(4, 3), (4, 3), (4, 3)]),
    ("GaussianNLLLoss", lambda n: n.GaussianNLLLoss(full=True), lambda t: t.GaussianNLLLoss(full=True),
     [(3, 4), (3, 4), (3, 1)]),
    ("PoissonNLLLoss", lambda n: n.PoissonNLLLoss(), lambda t: t.PoissonNLLLoss(), [(3, 4), (3, 4)]),
    ("AdaptiveMaxPool1d", lambda n: n.AdaptiveMaxPool1d(3), lambda t: t.AdaptiveMaxPool1d(3), [(2, 3, 7)]),
    ("AdaptiveMaxPool2d", lambda n: n.AdaptiveMaxPool2d((2, 3)), lambda t: t.AdaptiveMaxPool2d((2, 3)),
     [(2, 3, 5, 7)]),
    ("LPPool1d", lambda n: n.LPPool1d(2, 3, 2), lambda t: t.LPPool1d(2, 3, 2), [(2, 3, 8)]),
    ("LPPool2d", lambda n: n.LPPool2d(2, (2, 3)), lambda t: t.LPPool2d(2, (2, 3)), [(2, 3, 4, 6)]),
    ("LocalResponseNorm", lambda n: n.LocalResponseNorm(3, 0.2), lambda t: t.LocalResponseNorm(3, 0.2),
     [(2, 5, 4)]),
    ("InstanceNorm1d", lambda n, **k: n.InstanceNorm1d(3, **k), lambda t: t.InstanceNorm1d(3), [(2, 3, 6)]),
    ("InstanceNorm2d-unbatched", lambda n, **k: n.InstanceNorm2d(3, **k), lambda t: t.InstanceNorm2d(3),
     [(3, 4, 5)]),
    ("MultiLabelSoftMarginLoss", lambda n: n.MultiLabelSoftMarginLoss(), lambda t: t.MultiLabelSoftMarginLoss(),
     [(3, 4), (3, 4)]),
]

# losses with a ±1 target as their last argument
SIGNED = [
    ("MarginRankingLoss", lambda n: n.MarginRankingLoss(0.1), lambda t: t.MarginRankingLoss(0.1), [(4,), (4,)]),
    ("HingeEmbeddingLoss", lambda n: n.HingeEmbeddingLoss(0.7), lambda t: t.HingeEmbeddingLoss(0.7), [(4,)]),
    ("SoftMarginLoss", lambda n: n.SoftMarginLoss(reduction="none"), lambda t: t.SoftMarginLoss(reduction="none"),
     [(4,)]),
    ("CosineEmbeddingLoss", lambda n: n.CosineEmbeddingLoss(0.2), lambda t: t.CosineEmbeddingLoss(0.2),
     [(4, 3), (4, 3)]),
]


def _arrays(shapes, seed=0):
    r = np.random.default_rng(seed)
    out = [r.standard_normal(s) for s in shapes]
    return out


def _fix(name, arrays):
    if name.startswith("GaussianNLL"):
        arrays[2] = arrays[2] ** 2 + 0.1  # a variance
    if name.startswith("PoissonNLL"):
        arrays[1] = np.abs(arrays[1]) * 3  # counts
    if name.startswith("MultiLabel"):
        arrays[1] = (arrays[1] > 0).astype(float)  # 0/1 targets
    return arrays


def _compare(eng, dt, name, make, tmake, shapes, extra=None):
    torch = pytest.importorskip("torch")
    m, n = ENGINES[eng]
    arrays = _fix(name, _arrays(shapes))
    xs = [m.tensor(a, dtype=getattr(m, dt), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=getattr(torch, dt), requires_grad=True) for a in arrays]
    args = xs + ([m.tensor(extra, dtype=getattr(m, dt))] if extra is not None else [])
    targs = ts + ([torch.tensor(extra, dtype=getattr(torch, dt))] if extra is not None else [])
    y = (make(n, dtype=dt) if name.startswith("InstanceNorm") else make(n))(*args)  # the layer in the input's dtype
    ty = tmake(torch.nn)(*targs)
    g = np.random.default_rng(9).standard_normal(tuple(ty.shape))
    (y * m.tensor(g, dtype=y.dtype)).sum().backward()
    (ty * torch.tensor(g, dtype=ty.dtype)).sum().backward()
    tol = dict(rtol=1e-12, atol=1e-12) if dt == "float64" else dict(rtol=1e-5, atol=1e-6)
    if name == "CELU" and dt == "float64":
        tol = dict(rtol=1e-7, atol=1e-9)  # exp(x/α) - 1 near 0 rounds apart from PyTorch's
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), **tol)


@pytest.mark.parametrize("eng", ENGINES)
@pytest.mark.parametrize("dt", ["float64", "float32"])
@pytest.mark.parametrize("case", STATELESS, ids=[c[0] for c in STATELESS])
def test_stateless_against_torch(eng, dt, case):
    _compare(eng, dt, *case)


@pytest.mark.parametrize("eng", ENGINES)
@pytest.mark.parametrize("dt", ["float64", "float32"])
@pytest.mark.parametrize("case", SIGNED, ids=[c[0] for c in SIGNED])
def test_signed_losses_against_torch(eng, dt, case):
    _compare(eng, dt, *case, extra=PM)


@pytest.mark.parametrize("eng", ENGINES)
def test_modules_are_their_functions(eng):
    m, n = ENGINES[eng]
    x = m.tensor(np.random.default_rng(1).standard_normal((2, 4, 6)))
    for mod, f in ((n.Softmin(1), lambda x: F.softmin(x, 1)), (n.SELU(), F.selu), (n.GLU(), F.glu),
                   (n.Hardswish(), F.hardswish), (n.MaxPool1d(2), lambda x: F.max_pool1d(x, 2)),
                   (n.AvgPool1d(3, 1, 1), lambda x: F.avg_pool1d(x, 3, 1, 1)),
                   (n.ZeroPad2d(1), lambda x: F.pad(x, (1, 1, 1, 1)))):
        np.testing.assert_array_equal(mod(x).numpy(), f(x).numpy())
    np.testing.assert_array_equal(n.Softmax()(x).numpy(), x.softmax(0).numpy())  # 3-d: PyTorch's implicit dim 0
    np.testing.assert_allclose(n.L1Loss()(m.tensor([1.0, -1.0]), m.tensor([0.0, 0.0])).numpy(), 1.0)


@pytest.mark.parametrize("eng", ENGINES)
def test_channel_dropout_modules(eng):
    m, n = ENGINES[eng]
    x = m.ones(4, 8, 3)
    for mod in (n.Dropout1d(0.5), n.Dropout2d(0.5)):
        m.manual_seed(0)
        y = mod(x).numpy()
        assert set(np.unique(y)) <= {0.0, 2.0} and (y == y[:, :, :1]).all()  # whole channels
        assert 0 < (y[:, :, 0] == 0).sum() < 32
        mod.eval()
        assert mod(x) is x
    m.manual_seed(0)
    y3 = n.Dropout3d(0.5)(m.ones(2, 4, 2, 2, 2)).numpy()
    assert (y3 == y3[..., :1, :1, :1]).all()
    with pytest.raises(PygradValueError, match="Dropout2d"):
        n.Dropout2d(1.5)


@pytest.mark.parametrize("eng", ENGINES)
def test_more_modules_by_hand(eng):
    m, n = ENGINES[eng]
    layer = n.InstanceNorm2d(2, affine=True)
    assert [k for k, _ in layer.named_parameters()] == ["weight", "bias"]
    assert all(type(p) is m.Tensor for p in layer.parameters())
    assert n.InstanceNorm1d(2).weight is None
    x = m.tensor(np.random.default_rng(0).standard_normal((2, 2, 3, 4)), dtype=m.float32)
    v = x.numpy()
    want = (v - v.mean(axis=(2, 3), keepdims=True)) / np.sqrt(v.var(axis=(2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(PygradValueError, match="InstanceNorm1d"):
        n.InstanceNorm1d(3, track_running_stats=True)
    with pytest.raises(ShapeError, match="InstanceNorm2d"):
        layer(m.ones(1, 3, 2, 2))
    r = n.RReLU(0.1, 0.3)
    z = m.tensor([-1.0, 2.0])
    m.manual_seed(0)
    slope = -r(z).numpy()[0]
    assert 0.1 <= slope <= 0.3
    r.eval()
    np.testing.assert_allclose(r(z).numpy(), [-0.2, 2.0], rtol=1e-6)
    mm_ = n.MultiMarginLoss(margin=0.5)
    s = m.tensor([[0.1, 0.2, 0.4]])
    np.testing.assert_allclose(mm_(s, [2]).numpy(), (0.2 + 0.3) / 3, rtol=1e-6)  # max(0, .5 - .4 + xⱼ) / C
    with pytest.raises(PygradValueError, match="MultiMarginLoss"):
        n.MultiMarginLoss(p=3)
    y, i = n.AdaptiveMaxPool2d(1, return_indices=True)(m.tensor([[[[1.0, 4.0], [3.0, 2.0]]]]))
    np.testing.assert_array_equal(i.numpy(), [[[[1]]]])
    torch = pytest.importorskip("torch")
    t = torch.nn.MultiMarginLoss(p=2, margin=0.3, weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64))
    a = np.random.default_rng(1).standard_normal((4, 3))
    got = n.MultiMarginLoss(p=2, margin=0.3, weight=m.tensor([1.0, 2.0, 0.5], dtype=m.float64))(
        m.tensor(a, dtype=m.float64), [0, 2, 1, 1])
    np.testing.assert_allclose(got.numpy(), t(torch.tensor(a), torch.tensor([0, 2, 1, 1])).numpy(), rtol=1e-12)


@pytest.mark.parametrize("eng", ENGINES)
def test_rmsnorm(eng):
    m, n = ENGINES[eng]
    layer = n.RMSNorm([3, 4])
    assert layer.weight.shape == (3, 4) and type(layer.weight) is m.Tensor
    assert [k for k, _ in layer.named_parameters()] == ["weight"]
    x = m.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), dtype=m.float32)
    np.testing.assert_allclose(layer(x).numpy(), F.rms_norm(x, (3, 4), layer.weight).numpy())
    v = x.numpy()
    want = v / np.sqrt((v ** 2).mean(axis=(1, 2), keepdims=True) + np.finfo(np.float32).eps)
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-6)
    assert n.RMSNorm(4, elementwise_affine=False).weight is None
    assert n.RMSNorm(4, eps=1e-3, dtype="float64").weight.dtype == np.float64
    torch = pytest.importorskip("torch")
    t = torch.nn.RMSNorm([3, 4], eps=1e-5, dtype=torch.float64)
    p = n.RMSNorm([3, 4], eps=1e-5, dtype="float64")
    w = np.random.default_rng(3).standard_normal((3, 4))
    with torch.no_grad():
        t.weight.copy_(torch.tensor(w))
    p.load_state_dict({"weight": w})
    xd = np.random.default_rng(4).standard_normal((2, 3, 4))
    np.testing.assert_allclose(p(m.tensor(xd, dtype=m.float64)).numpy(), t(torch.tensor(xd)).detach().numpy(),
                               rtol=1e-12)


@pytest.mark.parametrize("eng", ENGINES)
def test_conv_transpose1d(eng):
    m, n = ENGINES[eng]
    layer = n.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, generator=0)
    assert layer.weight.shape == (4, 3, 3) and layer.bias.shape == (6,)
    bound = 1 / np.sqrt(3 * 3)  # fan_in = C_out/groups · K
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    x = m.tensor(np.random.default_rng(0).standard_normal((2, 4, 5)), dtype=m.float32)
    y = layer(x)
    assert y.shape == (2, 6, 10)
    np.testing.assert_array_equal(layer(x, output_size=[9]).shape, (2, 6, 9))
    with pytest.raises(PygradValueError, match="ConvTranspose1d"):
        layer(x, output_size=[20])
    torch = pytest.importorskip("torch")
    t = torch.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(layer.weight.numpy()))
        t.bias.copy_(torch.tensor(layer.bias.numpy()))
    ty = t(torch.tensor(x.numpy()))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eng", ENGINES)
def test_bilinear(eng):
    m, n = ENGINES[eng]
    layer = n.Bilinear(3, 4, 5, generator=1, dtype="float64")
    assert layer.weight.shape == (5, 3, 4) and layer.bias.shape == (5,)
    assert np.abs(layer.weight.numpy()).max() <= 1 / np.sqrt(3)
    a = np.random.default_rng(0).standard_normal((2, 3))
    b = np.random.default_rng(1).standard_normal((2, 4))
    y = layer(m.tensor(a, dtype=m.float64), m.tensor(b, dtype=m.float64))
    want = np.einsum("ni,oij,nj->no", a, layer.weight.numpy(), b) + layer.bias.numpy()
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12)
    assert n.Bilinear(3, 4, 5, bias=False).bias is None
    torch = pytest.importorskip("torch")
    ty = torch.nn.functional.bilinear(torch.tensor(a), torch.tensor(b), torch.tensor(layer.weight.numpy()),
                                      torch.tensor(layer.bias.numpy()))
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)


@pytest.mark.parametrize("eng", ENGINES)
def test_parameter_list_and_dict(eng):
    m, n = ENGINES[eng]

    class Net(n.Module):
        def __init__(self):
            super().__init__()
            self.ws = n.ParameterList([m.ones(2, 3), m.zeros(3, requires_grad=True)])
            self.extra = n.ParameterDict({"scale": m.tensor([2.0]), "shift": m.tensor([0.5])})

        def forward(self, x):
            return (x @ self.ws[0] + self.ws[1]) * self.extra["scale"] + self.extra["shift"]

    net = Net()
    names = [k for k, _ in net.named_parameters()]
    assert names == ["ws.0", "ws.1", "extra.scale", "extra.shift"]
    assert all(p.requires_grad and p.is_leaf for p in net.parameters())
    sd = net.state_dict()
    assert list(sd) == names
    net.ws.append(m.ones(1))
    assert len(net.ws) == 3 and [k for k, _ in net.named_parameters()][2] == "ws.2"
    del net.extra["shift"]
    assert "shift" not in net.extra and len(net.extra) == 1
    net.extra["shift"] = m.tensor([1.5])
    assert net.extra.keys() == ["scale", "shift"]
    out = net(m.ones(4, 2))
    out.sum().backward()
    np.testing.assert_allclose(net.extra["scale"].grad.numpy(), [4 * 3 * 2.0])
    sd2 = {k: v * 0 + 7 for k, v in net.state_dict().items()}
    net.load_state_dict(sd2)
    np.testing.assert_array_equal(net.ws[0].numpy(), np.full((2, 3), 7.0))
    with pytest.raises(PygradTypeError, match="ParameterList"):
        n.ParameterList([np.ones(2)])
    with pytest.raises(PygradIndexError, match="ParameterList"):
        net.ws[5]
    with pytest.raises(PygradValueError, match="ParameterDict"):
        n.ParameterDict({"a.b": m.ones(1)})
    with pytest.raises(PygradIndexError, match="ParameterDict"):
        net.extra["nope"]
    with pytest.raises(PygradValueError, match="ParameterDict: key 'keys'"):
        net.extra["keys"] = m.ones(1)  # would hide the method
    assert "(scale): Parameter of shape (1,)" in repr(net.extra) and "(0): Parameter of shape (2, 3)" in repr(net.ws)


def test_bound_engines():
    for m, n in ENGINES.values():
        for layer in (n.RMSNorm(3), n.ConvTranspose1d(2, 2, 2), n.Bilinear(2, 2, 2)):
            assert all(type(p) is m.Tensor for p in layer.parameters())
    assert type(nn.RMSNorm(3, engine="reference").weight) is ref.Tensor


ERRORS = [
    (lambda n: n.ZeroPad2d((1, 2, 3)), PygradValueError, "ZeroPad2d"),
    (lambda n: n.ConstantPad1d(1, 0.0)(pygrad.ones(2, 2, 2, 2)), ShapeError, "ConstantPad1d"),
    (lambda n: n.PixelShuffle(0), PygradValueError, "PixelShuffle"),
    (lambda n: n.CELU(0.0), PygradValueError, "CELU"),
    (lambda n: n.RMSNorm(0), PygradValueError, "RMSNorm"),
    (lambda n: n.ConvTranspose1d(3, 4, 2, groups=2), PygradValueError, "ConvTranspose1d"),
    (lambda n: n.Bilinear(0, 2, 2), PygradValueError, "Bilinear"),
    (lambda n: n.PoissonNLLLoss(reduce=False), PygradValueError, "PoissonNLLLoss"),
    (lambda n: n.L1Loss(reduction="avg"), PygradValueError, "L1Loss"),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors(i):
    fn, exc, msg = ERRORS[i]
    with pytest.raises(exc, match=msg):
        fn(nn)
    assert issubclass(exc, PygradError)


def test_input_of_other_engine():
    layer = rnn.RMSNorm(3)
    with pytest.raises(PygradTypeError, match="RMSNorm"):
        layer(pygrad.ones(2, 3))


@pytest.mark.parametrize("eng", ENGINES)
def test_pickle_roundtrip(eng):
    import pickle

    m, n = ENGINES[eng]
    for layer in (n.RMSNorm(3), n.ConvTranspose1d(2, 2, 2, generator=0), n.Bilinear(2, 3, 2, generator=0),
                  n.ParameterList([m.ones(2)]), n.ParameterDict({"a": m.ones(2)})):
        back = pickle.loads(pickle.dumps(layer))
        assert type(back) is type(layer)
        got, want = back.state_dict(), layer.state_dict()
        assert list(got) == list(want)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
        assert all(type(p) is m.Tensor for p in back.parameters())


def _train(m, n, optim, steps=15):
    """A ported 1-d conv net: Conv1d → RMSNorm → SELU → MaxPool1d → Dropout1d → flatten → Bilinear with a
    ParameterList gate, L1 + triplet losses; the same seeds on both engines."""

    class Net(n.Module):
        def __init__(self):
            super().__init__()
            self.conv = n.Conv1d(2, 4, 3, padding=1, generator=0, dtype="float64")
            self.norm = n.RMSNorm(8, dtype="float64")
            self.act, self.pool, self.drop = n.SELU(), n.MaxPool1d(2), n.Dropout1d(0.25)
            self.up = n.ConvTranspose1d(4, 2, 2, stride=2, generator=1, dtype="float64")
            self.bil = n.Bilinear(8, 8, 3, generator=2, dtype="float64")
            self.gate = n.ParameterList([m.ones(3, dtype=m.float64)])

        def forward(self, x):
            h = self.drop(self.pool(self.act(self.norm(self.conv(x)))))  # (N, 4, 4)
            u = self.up(h)  # (N, 2, 8)
            return self.bil(u[:, 0], u[:, 1]) * self.gate[0]

    m.manual_seed(5)
    net = Net()
    opt = optim.SGD(list(net.parameters()), lr=0.05, momentum=0.9)
    r = np.random.default_rng(0)
    x = m.tensor(r.standard_normal((6, 2, 8)), dtype=m.float64)
    target = m.tensor(r.standard_normal((6, 3)), dtype=m.float64)
    l1, trip = n.L1Loss(), n.TripletMarginLoss(margin=0.5)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        y = net(x)
        loss = l1(y, target) + trip(y, target, y.flip(0)) * 0.1
        loss.backward()
        opt.step()
        losses.append(float(loss.numpy()))
    net.eval()
    return losses, net(x).numpy()


def test_training_script_on_both_engines():
    import pygrad.optim as optim

    c_losses, c_out = _train(pygrad, nn, optim)
    r_losses, r_out = _train(ref, rnn, ref.optim)
    assert c_losses[-1] < 0.8 * c_losses[0]
    np.testing.assert_allclose(c_losses, r_losses, rtol=1e-9)  # same seeds, same masks, same steps
    np.testing.assert_allclose(c_out, r_out, rtol=1e-9, atol=1e-12)
