"""pygrad.compile with the ops that read integer indices or labels: embedding, nll_loss, and
cross_entropy with class weights, ignore_index and label smoothing. Their indices are an int64
tensor the program reads at each replay (not values frozen at the recording), checked by the op in
C at each run; a compiled step is bit-identical to its eager twin."""

from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import pygrad as pg
from pygrad import nn, optim
from pygrad._compile import CompileWarning
from pygrad.errors import PygradIndexError
from pygrad.nn import functional as F  # noqa: N812 - the name users know

STEPS = 24
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _params(modules) -> list[np.ndarray]:
    return [p.numpy().copy() for m in modules for p in m.parameters()]


def _run_pair(make, batches):
    """Run the step ``make()`` builds eagerly and compiled over the same batches (no CompileWarning
    allowed); returns (eager losses, compiled losses, eager modules, compiled modules, compiled)."""
    eager_step, eager_mods = make()
    comp_step, comp_mods = make()
    compiled = pg.compile(comp_step)
    got, want = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for args in batches:
            want.append(eager_step(*args).numpy().copy())
            got.append(compiled(*args).numpy().copy())
    return want, got, eager_mods, comp_mods, compiled


def _assert_bit_identical(want, got, eager_mods, comp_mods) -> None:
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_params(eager_mods), _params(comp_mods)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- embedding ---


def _embedding_step(dtype, padding_idx=None, freq=False, opt_name="Adam", max_norm=None, norm_type=2.0):
    def make():
        emb = nn.Embedding(13, 5, padding_idx=padding_idx, scale_grad_by_freq=freq, dtype=dtype,
                           max_norm=max_norm, norm_type=norm_type)
        head = nn.Linear(5, 4, dtype=dtype)
        with pg.no_grad():  # the same starting values in both twins
            rng = np.random.default_rng(7)
            emb.weight.copy_(pg.tensor(rng.standard_normal((13, 5)), dtype=dtype))
            head.weight.copy_(pg.tensor(rng.standard_normal((4, 5)), dtype=dtype))
            head.bias.zero_()
        params = list(emb.parameters()) + list(head.parameters())
        opt = optim.Adam(params, lr=0.05) if opt_name == "Adam" else optim.SGD(params, lr=0.1, momentum=0.9)

        def step(idx, y):
            opt.zero_grad()
            h = emb(idx)  # (B, T, 5)
            loss = F.cross_entropy(head(h).reshape(-1, 4), y.reshape(-1))
            loss.backward()
            opt.step()
            return loss

        return step, (emb, head)

    return make


def _index_batches(n, shape=(3, 4), vocab=13, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return [(pg.tensor(rng.integers(0, vocab, size=shape)), pg.tensor(rng.integers(0, classes, size=shape)))
            for _ in range(n)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("padding_idx", "freq"), [(None, False), (3, False), (None, True), (0, True)])
def test_embedding_step_replays_bit_identical_with_new_indices(dtype, padding_idx, freq) -> None:
    batches = _index_batches(STEPS)
    if padding_idx is not None:  # make sure the padding row is met
        batches[3][0].numpy()[0, 0] = padding_idx
    want, got, e_mods, c_mods, compiled = _run_pair(_embedding_step(dtype, padding_idx, freq), batches)
    _assert_bit_identical(want, got, e_mods, c_mods)
    assert compiled.records == 1
    assert "embedding(c" in compiled.program and "indices in0" in compiled.program
    # the losses change with the indices (nothing frozen at the recording)
    assert len({float(v) for v in got}) > STEPS // 2


def test_embedding_indices_are_read_at_each_replay() -> None:
    """A replay reads the very tensor passed: the same indices tensor, written in place between calls
    (outside the step), gives what the eager step gives on its new values."""
    make = _embedding_step("float64", opt_name="SGD")
    e_step, e_mods = make()
    c_step, c_mods = make()
    compiled = pg.compile(c_step)
    idx, y = _index_batches(1)[0]
    rng = np.random.default_rng(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for _ in range(STEPS):
            idx.numpy()[...] = rng.integers(0, 13, size=idx.shape)
            np.testing.assert_array_equal(e_step(idx, y).numpy(), compiled(idx, y).numpy())
    assert compiled.records == 1
    _assert_bit_identical([], [], e_mods, c_mods)


@pytest.mark.parametrize(("max_norm", "op"), [
    (None, r"embedding: index {} is"),
    (1.0, r"embedding_renorm_: index {} \(at position 9 of indices \(3, 4\)\) is"),
])
def test_embedding_index_out_of_range_at_replay_raises(max_norm, op) -> None:
    """The lookup checks the indices at each replay; with max_norm the renorm runs first and checks them
    all before it writes a row."""
    make = _embedding_step("float32", max_norm=max_norm)
    step, (emb, _) = make()
    compiled = pg.compile(step)
    batches = _index_batches(4)
    for args in batches[:3]:
        compiled(*args)
    assert compiled.records == 1
    before = emb.weight.numpy().copy()
    for bad in (13, -1, 10**12):
        idx = batches[3][0].numpy().copy()
        idx[2, 1] = bad
        with pytest.raises(PygradIndexError, match=op.format(bad) + r" out of range for a table of 13 rows"):
            compiled(pg.tensor(idx), batches[3][1])
    assert compiled.records == 1  # still the replay that refused, no new recording
    np.testing.assert_array_equal(emb.weight.numpy(), before)  # nothing was updated
    compiled(*batches[3])  # and the program still runs
    assert not np.array_equal(emb.weight.numpy(), before)


@pytest.mark.parametrize("int_dtype", ["int32"])
def test_indices_and_labels_of_other_integer_dtypes_record_a_cast(int_dtype) -> None:
    """int32 indices and labels: the recording casts them to int64 with a recorded op, whose result
    the program follows, so each replay reads the call's own values."""
    def make():
        return _embedding_step("float32", opt_name="SGD")()

    batches = [(i.astype(int_dtype), y.astype(int_dtype)) for i, y in _index_batches(STEPS)]
    want, got, e_mods, c_mods, compiled = _run_pair(make, batches)
    _assert_bit_identical(want, got, e_mods, c_mods)
    assert compiled.records == 1
    assert len({float(v) for v in got}) > STEPS // 2  # nothing frozen at the recording
    losses = {"nll_loss": lambda s, y: F.nll_loss(s.log_softmax(1), y),
              "cross_entropy": lambda s, y: F.cross_entropy(s, y)}
    rng = np.random.default_rng(5)
    xs = [pg.tensor(rng.standard_normal((6, 4)), dtype="float32") for _ in range(4)]
    ys = [pg.tensor(rng.integers(0, 3, 6).astype(int_dtype)) for _ in range(4)]
    lin = nn.Linear(4, 3, generator=1)
    for name, loss_of in losses.items():
        f = pg.compile(lambda x, y, loss_of=loss_of: loss_of(lin(x), y), fullgraph=True)
        with pg.no_grad():
            for x, y in zip(xs, ys):
                assert f(x, y).item() == loss_of(lin(x), y.long()).item(), name
        assert f.records == 1, name


# ------------------------------------------------------ embedding with max_norm ---


def _norm_of(w: np.ndarray, p: float) -> np.ndarray:
    a = np.abs(w.astype(np.float64))
    return a.max(1) if p == np.inf else (a**p).sum(1) ** (1 / p)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("norm_type", "int_dtype"), [(2.0, "int64"), (1.0, "int32"), (np.inf, "int64"),
                                                      (3.0, "int64")])
def test_embedding_max_norm_step_replays_bit_identical(dtype, norm_type, int_dtype) -> None:
    """nn.Embedding(max_norm=...) trained with Adam: the renorm is an instruction of the program, run on
    each call's indices before the lookup; losses and parameters agree with the eager twin bit for bit."""
    batches = [(i.astype(int_dtype), y) for i, y in _index_batches(STEPS)]
    make = _embedding_step(dtype, max_norm=1.2, norm_type=norm_type)
    want, got, e_mods, c_mods, compiled = _run_pair(make, batches)
    _assert_bit_identical(want, got, e_mods, c_mods)
    assert compiled.records == 1
    assert re.search(r"inplace +c\d+\.embedding_renorm_\(t?\w+; max_norm=1.2, norm_type=", compiled.program)
    assert compiled.program.index("embedding_renorm_") < compiled.program.index("embedding(c")
    assert len({float(v) for v in got}) > STEPS // 2


def test_embedding_max_norm_records_with_fullgraph_and_reads_the_indices_at_each_replay() -> None:
    """F.embedding with max_norm no longer falls back: fullgraph=True records, and a replay renormalises
    the rows of the indices it is given (the same tensor, written in place between calls, included)."""
    tables = [nn.Embedding(9, 4, dtype="float64", generator=np.random.default_rng(1)) for _ in range(2)]
    for t in tables:
        with pg.no_grad():
            t.weight.mul_(2.0)  # most rows above max_norm

    def fwd(emb):
        return lambda i: F.embedding(i, emb.weight, max_norm=1.0, norm_type=2.0).sum(1)

    eager, compiled = fwd(tables[0]), pg.compile(fwd(tables[1]), fullgraph=True)
    rng = np.random.default_rng(2)
    idx = pg.tensor(rng.integers(0, 9, 3))
    with pg.no_grad():
        for k in range(8):
            if k % 2:
                idx.numpy()[...] = rng.integers(0, 9, 3)  # written in place: the replay reads the new values
                i = idx
            else:
                i = pg.tensor(rng.integers(0, 9, 3))
            before = tables[1].weight.numpy().copy()
            np.testing.assert_array_equal(eager(i).numpy(), compiled(i).numpy())
            np.testing.assert_array_equal(tables[0].weight.numpy(), tables[1].weight.numpy())
            rows = np.unique(i.numpy())
            assert np.all(_norm_of(tables[1].weight.numpy()[rows], 2.0) <= 1.0 + 1e-12)
            others = np.setdiff1d(np.arange(9), rows)
            np.testing.assert_array_equal(tables[1].weight.numpy()[others], before[others])
    assert compiled.records == 1
    assert re.search(r"c\d+\.embedding_renorm_\(in0; max_norm=1, norm_type=2\)", compiled.program)


def test_embedding_max_norm_with_a_list_of_indices_falls_back_with_a_warning() -> None:
    """Indices given as a list would be constants of the program: the step runs eagerly, saying why."""
    emb = nn.Embedding(6, 3, dtype="float64")
    g = pg.compile(lambda i: F.embedding(i, emb.weight, max_norm=1.0).sum())
    with pytest.warns(CompileWarning, match="embedding indices that are not an int64 tensor"), pg.no_grad():
        for _ in range(3):
            g([1, 2])


# ------------------------------------------------- nll_loss and cross_entropy ---

LOSS_CASES = {
    "nll_loss-weight": lambda s, y, w: F.nll_loss(s.log_softmax(1), y, weight=w),
    "nll_loss-ignore-sum": lambda s, y, w: F.nll_loss(s.log_softmax(1), y, ignore_index=2, reduction="sum"),
    "nll_loss-weight-ignore-none": lambda s, y, w: F.nll_loss(s.log_softmax(1), y, weight=w, ignore_index=0,
                                                              reduction="none").sum(),
    "cross_entropy-weight": lambda s, y, w: F.cross_entropy(s, y, weight=w),
    "cross_entropy-ignore-index": lambda s, y, w: F.cross_entropy(s, y, ignore_index=1),
    "cross_entropy-default-ignore": lambda s, y, w: F.cross_entropy(s, y),  # -100 labels are met at replay
    "cross_entropy-smoothing": lambda s, y, w: F.cross_entropy(s, y, label_smoothing=0.1),
    "cross_entropy-all": lambda s, y, w: F.cross_entropy(s, y, weight=w, ignore_index=3, label_smoothing=0.2),
    "cross_entropy-3d": lambda s, y, w: F.cross_entropy(s.reshape(2, 3, 5).permute(0, 2, 1), y.reshape(2, 3),
                                                        weight=w, label_smoothing=0.05),
}


def _loss_step(case, dtype):
    def make():
        model = nn.MLP([4, 8, 5], dtype=dtype, generator=3)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        w = pg.tensor(np.array([0.5, 1.0, 2.0, 1.5, 0.25]), dtype=dtype)  # class weights, a captured tensor
        loss_of = LOSS_CASES[case]

        def step(x, y):
            opt.zero_grad()
            loss = loss_of(model(x), y, w)
            loss.backward()
            opt.step()
            return loss

        return step, (model,)

    return make


def _label_batches(n, ignore, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        y = rng.integers(0, 5, size=6)
        if k % 3 != 2:  # most calls have ignored rows, not all (the recording's call has none)
            y[rng.random(6) < 0.3] = ignore
        out.append((pg.tensor(rng.standard_normal((6, 4))), pg.tensor(y)))
    if n > 1:
        out[1][1].numpy()[:] = [0, 1, 2, 3, 4, 1]  # the recording sees no ignored label
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_loss_step_replays_bit_identical_with_new_labels(case, dtype) -> None:
    ignore = {"nll_loss-ignore-sum": 2, "nll_loss-weight-ignore-none": 0, "cross_entropy-ignore-index": 1,
              "cross_entropy-all": 3}.get(case, -100)
    batches = [(x.astype(dtype), y) for x, y in _label_batches(STEPS, ignore)]
    want, got, e_mods, c_mods, compiled = _run_pair(_loss_step(case, dtype), batches)
    _assert_bit_identical(want, got, e_mods, c_mods)
    assert compiled.records == 1
    # the labels are followed: the argument, or a view of it with the same data (the 3-d layout's reshape)
    assert re.search(r"; labels (in1|t\d+)\)", compiled.program)
    op = "cross_entropy(" if case in ("cross_entropy-ignore-index", "cross_entropy-default-ignore") else "nll_loss("
    assert op in compiled.program


def test_ignored_rows_count_for_nothing_at_replay() -> None:
    """The recording's labels have no ignored row; a replay whose labels are all ignored but one gives
    that one row's loss (the mean over the rows kept), as the eager step does."""
    model = nn.MLP([4, 5], dtype="float64", generator=1)

    def loss(x, y):
        with pg.no_grad():
            return F.cross_entropy(model(x), y), F.nll_loss(model(x).log_softmax(1), y, reduction="sum")

    f = pg.compile(loss)
    x = pg.tensor(np.random.default_rng(0).standard_normal((4, 4)))
    for _ in range(3):
        f(x, pg.tensor(np.array([0, 1, 2, 3])))
    assert f.records == 1
    y = pg.tensor(np.array([-100, 3, -100, -100]))
    ce, nll = f(x, y)
    assert f.records == 1
    logp = model(x).log_softmax(1).numpy()
    assert ce.item() == pytest.approx(-logp[1, 3], rel=1e-12)
    assert nll.item() == pytest.approx(-logp[1, 3], rel=1e-12)


@pytest.mark.parametrize("case", ["nll_loss-weight", "cross_entropy-weight", "cross_entropy-smoothing",
                                  "cross_entropy-default-ignore"])
def test_label_out_of_range_at_replay_raises(case) -> None:
    step, (model,) = _loss_step(case, "float64")()
    compiled = pg.compile(step)
    batches = _label_batches(4, -100)
    for args in batches[:3]:
        compiled(*args)
    assert compiled.records == 1
    before = [p.numpy().copy() for p in model.parameters()]
    op = "nll_loss" if case.startswith("nll") else "cross_entropy"
    for bad in (5, -7):
        y = batches[3][1].numpy().copy()
        y[4] = bad
        with pytest.raises(PygradIndexError, match=rf"{op}: label {bad} at position 4 is out of range for 5 "
                                                   r"classes"):
            compiled(batches[3][0], pg.tensor(y))
    assert compiled.records == 1
    for a, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(a, p.numpy())


def test_class_weights_that_require_grad_are_refused_as_eagerly() -> None:
    """The nll_loss op does not differentiate its class weights: as eagerly (and as PyTorch), weights
    that require grad raise RuntimeError at the call, recording or not (no eager fallback, no warning,
    no gradient); the same weights detached record once and replay."""
    model = nn.MLP([4, 5], dtype="float64", generator=1)
    w = pg.tensor(np.ones(5), requires_grad=True)

    def step_with(weight):
        def step(x, y):
            loss = F.cross_entropy(model(x), y, weight=weight)
            loss.backward()
            return loss

        return step

    f = pg.compile(step_with(w))
    x, y = _label_batches(1, -100)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for _ in range(2):
            with pytest.raises(RuntimeError, match=r"cross_entropy: the function 'nll_loss_forward' is not "
                                                   r"differentiable with respect to argument 'weight' \(of shape "
                                                   r"\(5,\)\)"):
                f(x, y)
        assert w.grad is None and all(p.grad is None for p in model.parameters())
        g = pg.compile(step_with(w.detach()))
        for _ in range(3):
            g(x, y)
    assert g.records == 1


# ------------------------------------------------------ the char transformer ---


def _char_transformer_module():
    spec = importlib.util.spec_from_file_location("_char_transformer_example", EXAMPLES / "char_transformer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("clip", [None, 0.5])
def test_char_transformer_train_step_compiles_bit_identical(clip: float | None) -> None:
    """The example's step, with and without clip_grad_norm_ (its norm and scaling are tensor ops)."""
    ct = _char_transformer_module()
    vocab, block, batch = 11, 8, 3

    def make():
        pg.manual_seed(0)
        model = ct.CharTransformer(vocab, block=block, d=16, heads=2, layers=2)
        decay = [p for name, p in model.named_parameters() if name.endswith("weight") and p.ndim == 2
                 and not name.startswith(("tok.", "pos."))]
        rest = [p for p in model.parameters() if all(p is not q for q in decay)]
        opt = optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                          lr=3e-3, betas=(0.9, 0.99))
        return ct.make_step(model, opt, clip=clip), (model,)

    rng = np.random.default_rng(0)
    data = rng.integers(0, vocab, size=200)
    batches = []
    for _ in range(6):
        starts = rng.integers(0, len(data) - block - 1, size=batch)
        batches.append((pg.tensor(np.stack([data[s:s + block] for s in starts])),
                        pg.tensor(np.stack([data[s + 1:s + block + 1] for s in starts]))))
    want, got, e_mods, c_mods, compiled = _run_pair(make, batches)
    _assert_bit_identical(want, got, e_mods, c_mods)
    assert compiled.records == 1
    program = compiled.program
    # the token indices are argument 0; the positions a constant (pg.arange); the labels argument 1 (or its
    # reshape, a view of the same data)
    assert program.count("embedding(") == 2 and "; indices in0)" in program
    assert ("clamp(" in program) == (clip is not None)  # the clipping coefficient, min(1, clip / norm)
    assert re.search(r"; labels (in1|t\d+)\)", program)
