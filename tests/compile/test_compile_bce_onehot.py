"""pygrad.compile with one_hot and binary_cross_entropy: both are ops of the engine that check their
inputs in C at each run (labels in [0, C), probabilities in [0, 1]), so a training step made of them
records with fullgraph=True, replays bit-identical to its eager twin with new labels and inputs,
and a replay with a bad label or a bad probability raises the op's error and updates nothing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pygrad as pg
from pygrad import nn, optim
from pygrad._compile import CompileError, CompileWarning
from pygrad.nn import functional as F  # noqa: N812 - the name users know

STEPS = 24
C = 3


def _params(modules) -> list[np.ndarray]:
    return [p.numpy().copy() for m in modules for p in m.parameters()]


def _make(dtype, reduction="mean", weighted=False, opt_name="SGD", labels_dtype=None):
    """make() -> (step, modules): a 2-layer model trained with BCE of its sigmoid against the one-hot rows
    of the labels; ``weighted``: a captured class weight (C,), broadcast over the batch."""

    def make():
        model = nn.MLP([4, 6, C], dtype=dtype, generator=5)
        opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9) if opt_name == "SGD" else \
            optim.Adam(model.parameters(), lr=0.05)
        w = pg.tensor(np.array([0.5, 1.0, 2.0]), dtype=dtype) if weighted else None

        def step(x, y):
            opt.zero_grad()
            p = model(x).sigmoid()
            loss = F.binary_cross_entropy(p, F.one_hot(y, C).float(), w, reduction=reduction)
            if reduction == "none":
                loss = loss.sum()
            loss.backward()
            opt.step()
            return loss

        return step, (model,)

    return make


def _batches(n, dtype, seed=0, labels_dtype="int64"):
    rng = np.random.default_rng(seed)
    return [(pg.tensor(rng.standard_normal((5, 4)), dtype=dtype),
             pg.tensor(rng.integers(0, C, size=5), dtype=labels_dtype)) for _ in range(n)]


def _run_pair(make, batches, fullgraph=True):
    eager, e_mods = make()
    step, c_mods = make()
    compiled = pg.compile(step, fullgraph=fullgraph)
    want, got = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for args in batches:
            want.append(eager(*args).numpy().copy())
            got.append(compiled(*args).numpy().copy())
    return want, got, e_mods, c_mods, compiled


def _assert_bit_identical(want, got, e_mods, c_mods) -> None:
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_params(e_mods), _params(c_mods)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("reduction", "weighted", "opt_name"), [
    ("mean", False, "SGD"), ("sum", True, "SGD"), ("none", True, "Adam"), ("mean", True, "Adam")])
def test_step_records_and_replays_bit_identical(dtype, reduction, weighted, opt_name) -> None:
    batches = _batches(STEPS, dtype)
    want, got, e_mods, c_mods, compiled = _run_pair(_make(dtype, reduction, weighted, opt_name), batches)
    _assert_bit_identical(want, got, e_mods, c_mods)
    assert compiled.records == 1
    prog = compiled.program
    assert "one_hot(in1)" in prog and "binary_cross_entropy(" in prog  # the labels are the argument's
    assert len({float(v) for v in got}) > STEPS // 2  # new labels and inputs at each replay


def test_int32_labels_are_followed_too() -> None:
    """one_hot reads its labels as its input, int32 as well as int64: nothing is converted in Python."""
    batches = _batches(STEPS, "float64", seed=1, labels_dtype="int32")
    want, got, e_mods, c_mods, compiled = _run_pair(_make("float64"), batches)
    _assert_bit_identical(want, got, e_mods, c_mods)
    assert compiled.records == 1 and "one_hot(in1)" in compiled.program


def test_labels_written_in_place_between_calls_are_read_at_each_replay() -> None:
    make = _make("float64", "sum")
    eager, e_mods = make()
    step, c_mods = make()
    compiled = pg.compile(step, fullgraph=True)
    x, y = _batches(1, "float64")[0]
    rng = np.random.default_rng(2)
    for _ in range(STEPS):
        y.numpy()[...] = rng.integers(0, C, size=y.shape)
        np.testing.assert_array_equal(eager(x, y).numpy(), compiled(x, y).numpy())
    assert compiled.records == 1
    _assert_bit_identical([], [], e_mods, c_mods)


@pytest.mark.parametrize("bad", [C, -1, 10**12])
def test_label_out_of_range_at_replay_raises_and_updates_nothing(bad) -> None:
    step, (model,) = _make("float64")()
    compiled = pg.compile(step, fullgraph=True)
    batches = _batches(4, "float64")
    for args in batches[:3]:
        compiled(*args)
    assert compiled.records == 1
    before = _params([model])
    x, y = batches[3]
    yb = y.numpy().copy()
    yb[3] = bad
    with pytest.raises(ValueError, match=rf"one_hot: label {bad} at position 3 is out of range for {C} classes"):
        compiled(x, pg.tensor(yb))
    assert compiled.records == 1  # the replay refused; no new recording
    for a, b in zip(before, _params([model])):
        np.testing.assert_array_equal(a, b)
    compiled(x, y)  # the program still runs
    assert not np.array_equal(before[0], _params([model])[0])


def test_refused_replay_leaves_adams_step_counts_as_eager() -> None:
    """A replay refused by an op (a label out of range) stops before the optimizer step, as the eager step
    raises before it: Adam's step counts, which a replay advances before the run, are put back."""
    e_step, (e_model,) = _make("float64", opt_name="Adam")()
    c_step, (c_model,) = _make("float64", opt_name="Adam")()
    compiled = pg.compile(c_step, fullgraph=True)
    batches = _batches(5, "float64", seed=3)
    for args in batches[:3]:
        e_step(*args)
        compiled(*args)
    x, y = batches[3]
    yb = y.numpy().copy()
    yb[0] = C
    for f in (e_step, compiled):
        with pytest.raises(ValueError, match="one_hot: label 3 at position 0"):
            f(x, pg.tensor(yb))
    for args in batches[3:]:  # the next steps agree bit for bit: the bias corrections use the same counts
        np.testing.assert_array_equal(e_step(*args).numpy(), compiled(*args).numpy())
    assert compiled.records == 1
    for a, b in zip(_params([e_model]), _params([c_model])):
        np.testing.assert_array_equal(a, b)


def _scaled_step(dtype):
    """A step whose probabilities are sigmoid(model(x)) times an argument s: s > 1 can push them past 1."""
    model = nn.MLP([4, C], dtype=dtype, generator=2)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x, y, s):
        opt.zero_grad()
        loss = F.binary_cross_entropy(model(x).sigmoid() * s, F.one_hot(y, C).float())
        loss.backward()
        opt.step()
        return loss

    return step, model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_probability_outside_unit_interval_at_replay_raises_and_updates_nothing(dtype) -> None:
    step, model = _scaled_step(dtype)
    compiled = pg.compile(step, fullgraph=True)
    batches = _batches(4, dtype)
    one = pg.tensor(1.0, dtype=dtype)
    for x, y in batches[:3]:
        compiled(x, y, one)
    assert compiled.records == 1
    before = _params([model])
    x, y = batches[3]
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities in \[0, 1\]; use "
                                         r"binary_cross_entropy_with_logits for logits \(got "):
        compiled(x, y, pg.tensor(3.0, dtype=dtype))
    xn = x.numpy().copy()
    xn[1, :] = np.nan  # sigmoid(NaN) is NaN: refused as PyTorch refuses it
    with pytest.raises(ValueError, match=r"binary_cross_entropy: .*\(got nan at flat index 3\)"):
        compiled(pg.tensor(xn), y, one)
    assert compiled.records == 1
    for a, b in zip(before, _params([model])):
        np.testing.assert_array_equal(a, b)
    compiled(x, y, one)
    assert not np.array_equal(before[0], _params([model])[0])


def test_num_classes_inferred_falls_back_naming_one_hot() -> None:
    """num_classes=-1 reads the largest label into Python: the step runs eagerly with a warning naming
    one_hot, and fullgraph=True refuses it."""
    model = nn.MLP([4, C], dtype="float64", generator=1)

    def step(x, y):
        return F.binary_cross_entropy(model(x).sigmoid(), F.one_hot(y).double()).detach()

    x = pg.tensor(np.random.default_rng(0).standard_normal((3, 4)))
    y = pg.tensor(np.array([0, 2, 1]))
    f = pg.compile(step)
    with pytest.warns(CompileWarning, match="one_hot with num_classes=-1"):
        for _ in range(3):
            assert f(x, y).item() == step(x, y).item()
    g = pg.compile(step, fullgraph=True)
    assert g(x, y).item() == step(x, y).item()  # a first call that cannot record is the warm-up
    with pytest.raises(CompileError, match="one_hot with num_classes=-1"):
        g(x, y)


def test_compiled_step_against_pytorch() -> None:
    """The compiled float64 step against the same step in PyTorch: losses and parameters agree."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    w0, b0 = rng.standard_normal((4, C)) * 0.5, rng.standard_normal(C) * 0.1
    weight = np.array([0.5, 1.0, 2.0])
    W, b = pg.tensor(w0, requires_grad=True), pg.tensor(b0, requires_grad=True)
    pw = pg.tensor(weight)  # captured: guarded by identity
    opt = optim.SGD([W, b], lr=0.3)

    def step(x, y):
        opt.zero_grad()
        loss = F.binary_cross_entropy((x @ W + b).sigmoid(), F.one_hot(y, C).double(), pw)
        loss.backward()
        opt.step()
        return loss

    compiled = pg.compile(step, fullgraph=True)
    tW, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    topt = torch.optim.SGD([tW, tb], lr=0.3)
    for x, y in _batches(STEPS, "float64", seed=5):
        got = compiled(x, y).item()
        topt.zero_grad()
        tx, ty = torch.tensor(x.numpy()), torch.tensor(y.numpy())
        want = torch.nn.functional.binary_cross_entropy(
            (tx @ tW + tb).sigmoid(), torch.nn.functional.one_hot(ty, C).double(), torch.tensor(weight))
        want.backward()
        topt.step()
        assert got == pytest.approx(want.item(), rel=1e-12)
        np.testing.assert_allclose(W.numpy(), tW.detach().numpy(), rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=1e-11, atol=1e-14)
    assert compiled.records == 1


def test_empty_batch_step_records() -> None:
    """The op on an empty batch (through the Tensor method: the functional refuses empty input): the sum is
    0 and no gradient flows; a compiled forward records and replays it."""

    def loss(p, y):
        with pg.no_grad():
            return p._binary_cross_entropy(F.one_hot(y, C).double(), None, "sum")

    f = pg.compile(loss, fullgraph=True)
    for n in (2, 2, 2):
        p = pg.tensor(np.full((n, C), 0.5))
        assert f(p, pg.tensor(np.zeros(n, np.int64))).item() == pytest.approx(n * C * np.log(2.0))
    assert f.records == 1
