"""Adversarial tests of pygrad.compile's recording machinery (csrc/program.c): the pool the instructions'
input lists, parameters and node copies are carved from, the node copies backward instructions share by
a hash of their bytes, and the slot and instruction arrays that grow by mremap from 4 MB on.

- programs large enough that their arrays cross the 4 MB threshold (the copy into a mapping) and grow
  again past it (mremap), replayed bit for bit against the eager step;
- many signatures in one process, so that programs are evicted from a function's cache and recorded
  again, with the live C object counts back where they started;
- a function raising in the middle of its recording (in Python, and in an op the engine refuses), then
  called again: the recorder is gone, eager ops work, the next call records and replays correctly;
- replays after the parameters were replaced, deleted or the model dropped (the program holds what it
  captured): the guards record again, values stay right;
- replays with inputs of the wrong shape, dtype or count: caught by the guards through pygrad.compile,
  and by pg_program_run's own checks when called directly.
"""

from __future__ import annotations

import gc
import itertools
import warnings

import numpy as np
import pytest

import pygrad as pg
from pygrad import nn, optim
from pygrad._bindings import ffi, handles, lib
from pygrad._compile import CompileWarning
from pygrad.errors import PygradError

F = nn.functional


@pytest.fixture(autouse=True)
def _verify_fast_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call the fast guard lets through is checked against the full signature (as in tests/compile)."""
    from pygrad import _compile

    monkeypatch.setattr(_compile, "_VERIFY_FAST", True)


@pytest.fixture(autouse=True)
def _restore_threads():
    n = pg.get_num_threads()
    yield
    pg.set_num_threads(n)


def _live() -> dict[str, int]:
    gc.collect()
    return pg.live_objects()


def _entries(cf) -> list:
    return list(cf._cache.values())


# ---------------------------------------------------------------- large programs ----


def _chain(n: int):
    def f(x, w):
        s = x
        for _ in range(n):
            s = s * w + 0.001
        loss = (s * s).sum()
        loss.backward()
        return loss, x.grad, w.grad
    return f


def test_a_program_past_the_4mb_arrays_replays_bit_for_bit() -> None:
    """10,000 steps of a scalar chain: some 50,000 instructions and 40,000 slots, so both arrays are copied
    into a mapping at 4 MB and grown by mremap after; the pool takes chunks up to its largest size."""
    n = 10_000
    f = _chain(n)
    cf = pg.compile(f)
    xe, we = pg.tensor(np.ones(3, np.float32), requires_grad=True), pg.tensor(np.float32(0.9999), requires_grad=True)
    xc, wc = pg.tensor(np.ones(3, np.float32), requires_grad=True), pg.tensor(np.float32(0.9999), requires_grad=True)
    for k in range(4):
        le, gxe, gwe = (t.numpy().copy() for t in f(xe, we))
        lc, gxc, gwc = (t.numpy().copy() for t in cf(xc, wc))
        np.testing.assert_array_equal(lc, le, err_msg=f"call {k}")
        np.testing.assert_array_equal(gxc, gxe)  # .grad accumulates across calls, as eagerly
        np.testing.assert_array_equal(gwc, gwe)
    assert cf.records == 1
    (entry,) = _entries(cf)
    assert lib.pg_program_size(entry.prog) >= 5 * n  # well past 4 MB of instructions


def test_large_programs_recorded_and_freed_again_leave_nothing_behind() -> None:
    """Programs across the threshold made and dropped several times: the live counts come back."""
    x = pg.tensor(np.ones(2, np.float64), requires_grad=True)
    w = pg.tensor(np.float64(0.999), requires_grad=True)
    base = None
    for n in (6_000, 9_000, 6_000):
        cf = pg.compile(_chain(n))
        for _ in range(3):
            cf(x, w)
        del cf
        x.grad = None
        w.grad = None
        now = _live()
        if base is None:
            base = now
        assert now == base, (n, now, base)


def test_node_copies_that_differ_only_in_parameters_are_not_shared() -> None:
    """Backward nodes of one op and one shape whose parameters differ (a scalar factor, an axis, a target
    shape) each keep their own copy: the gradients are the eager ones bit for bit."""
    def f(x):
        s = x
        for i in range(300):
            s = s * (1.0 + i * 1e-3) - 1e-4 * i  # mul_scalar / add_scalar: a different constant each
            s = s.reshape((6, 4) if i % 2 else (4, 6)).reshape(24)
        t = pg.stack([s.reshape(4, 6).sum(axis=0).sum(), s.reshape(4, 6).sum(axis=1).sum()]).sum()
        loss = t * t + (s * s).sum()
        loss.backward()
        return loss, x.grad

    cf = pg.compile(f)
    xe = pg.tensor(np.linspace(-1, 1, 24, dtype=np.float32), requires_grad=True)
    xc = pg.tensor(np.linspace(-1, 1, 24, dtype=np.float32), requires_grad=True)
    for _ in range(4):
        xe.grad = None
        xc.grad = None
        le, ge = (t.numpy().copy() for t in f(xe))
        lc, gc_ = (t.numpy().copy() for t in cf(xc))
        np.testing.assert_array_equal(lc, le)
        np.testing.assert_array_equal(gc_, ge)
    assert cf.records == 1


def test_an_instruction_with_thousands_of_inputs() -> None:
    """cat of 8,000 tensors: its input list and its backward's node copy (8,000 edges) are larger than the
    pool's first chunks, which are then sized to them."""
    n = 8000

    def f(w):
        y = pg.cat([w * float(i % 7) for i in range(n)])
        loss = (y * y).sum()
        loss.backward()
        return loss, w.grad

    cf = pg.compile(f)
    we = pg.tensor(np.ones(3, np.float32), requires_grad=True)
    wc = pg.tensor(np.ones(3, np.float32), requires_grad=True)
    for _ in range(3):
        we.grad = None
        wc.grad = None
        le, ge = (t.numpy().copy() for t in f(we))
        lc, gc_ = (t.numpy().copy() for t in cf(wc))
        np.testing.assert_array_equal(lc, le)
        np.testing.assert_array_equal(gc_, ge)
    assert cf.records == 1


# ---------------------------------------------------------------- eviction ----


def test_many_signatures_evict_programs_and_rerecord_correctly() -> None:
    """More signatures than a function keeps programs for (8), met again in another order: each call's
    result is the eager one, and dropping the function frees every program."""
    model = nn.Sequential(nn.Linear(5, 7, generator=1), nn.ReLU(), nn.Linear(7, 3, generator=2))

    def f(x):
        with pg.no_grad():
            return model(x) * 2

    rng = np.random.default_rng(0)
    batches = [pg.tensor(rng.standard_normal((b, 5)).astype(np.float32)) for b in range(1, 13)]
    base = _live()
    cf = pg.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for rnd in range(3):
            order = list(range(12)) if rnd != 1 else list(reversed(range(12)))
            for i in order:
                for _ in range(3):  # warm-up, record, replay (or three replays when cached)
                    np.testing.assert_array_equal(cf(batches[i]).numpy(), f(batches[i]).numpy())
    assert len(cf._cache) <= 8
    assert cf.records > 12  # evicted programs were recorded again
    del cf
    assert _live() == base


# ---------------------------------------------------------------- raising while recording ----


def test_a_function_raising_mid_recording_leaves_no_recorder_behind() -> None:
    model = nn.Linear(4, 3, generator=3)
    opt = optim.SGD(model.parameters(), lr=0.1)
    ticks = itertools.count()  # not guarded; a replay runs no Python, so it does not tick
    boom = {0}

    def f(x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        if next(ticks) in boom:
            raise KeyError("boom")
        loss.backward()
        opt.step()
        return loss

    cf = pg.compile(f)
    x = pg.tensor(np.ones((2, 4), np.float32))
    with pytest.raises(KeyError, match="boom"):
        cf(x)  # tick 0: raises while recording (plain SGD makes no state: the first call records)
    # nothing is recording now: eager work goes through, and reading a value is allowed
    y = (pg.tensor([1.0, 2.0], requires_grad=True) * 3).sum()
    y.backward()
    assert y.item() == 9.0
    # the function records on a later call and then replays the right values
    for _ in range(4):
        w0 = model.weight.numpy().copy()
        b0 = model.bias.numpy().copy()
        loss = cf(x)
        h = x.numpy() @ w0 + b0
        np.testing.assert_allclose(loss.numpy(), (h ** 2).mean(), rtol=1e-5)
    assert cf.records >= 1


def test_an_op_refusing_its_input_mid_recording_raises_and_records_later() -> None:
    """The C engine raises inside the recorded function (a shape error in an op): the recording ends with the
    exception, the program is dropped, and later calls record and replay."""
    w = pg.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    ticks = itertools.count()

    def f(x):
        k = next(ticks)
        h = x @ w
        if k == 0:
            h = h @ w  # (2, 2) @ (3, 2): refused by matmul
        loss = h.sum()
        loss.backward()
        return loss

    cf = pg.compile(f)
    x = pg.tensor(np.ones((2, 3), np.float32))
    base = None
    with pytest.raises(PygradError, match="matmul"):
        cf(x)  # the first call records
    for k in range(4):
        w.grad = None
        loss = cf(x)
        assert float(loss.numpy()) == 12.0
        np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 2), 2.0, np.float32))
        if k == 2:
            base = _live()
    assert cf.records == 1
    assert _live() == base


def test_raising_in_backward_mid_recording() -> None:
    """A user error raised from a tensor hook during the recorded backward (a hook refuses the recording;
    here the hook raises): the exception reaches the caller, nothing stays recording."""
    ticks = itertools.count()
    w = pg.tensor(np.ones(3, np.float32), requires_grad=True)

    def f(x):
        y = x * w
        if next(ticks) == 0:
            y.register_hook(lambda g: (_ for _ in ()).throw(ArithmeticError("hook")))
        loss = y.sum()
        loss.backward()
        return loss

    cf = pg.compile(f)
    x = pg.tensor(np.ones(3, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        with pytest.raises(ArithmeticError, match="hook"):
            cf(x)  # the first call records
        for _ in range(3):
            w.grad = None
            assert float(cf(x).numpy()) == 3.0
            np.testing.assert_array_equal(w.grad.numpy(), np.ones(3, np.float32))


def test_a_user_backward_raising_inside_the_recorded_sweep() -> None:
    """A custom op's Python backward raises in the middle of the C sweep of the recording call: the exception
    reaches the caller, the recording ends (a custom op runs eagerly anyway), later calls are right and leave
    nothing behind."""
    from pygrad._autograd import custom_op

    ticks = itertools.count()
    w = pg.tensor(np.ones(3, np.float32), requires_grad=True)

    def bw(g, needs):
        if next(ticks) == 1:
            raise ZeroDivisionError("user backward")
        return [g * 2]

    def f(x):
        loss = custom_op([w], w * x, bw).sum()
        loss.backward()
        return loss

    cf = pg.compile(f)
    x = pg.ones(3)
    base = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        cf(x)
        with pytest.raises(ZeroDivisionError, match="user backward"):
            cf(x)
        for k in range(4):
            w.grad = None
            assert float(cf(x).numpy()) == 3.0
            np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 2.0, np.float32))
            if k == 1:
                base = _live()
    assert _live() == base


def test_backward_twice_in_a_compiled_function() -> None:
    """With retain_graph the two sweeps are recorded and replayed (the .grad sums both); without it every call
    raises the eager error, recording or not."""
    w = pg.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)

    def twice(x):
        loss = (x * w * w).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        return loss, w.grad

    cf = pg.compile(twice)
    x = pg.ones(3)
    for _ in range(4):
        w.grad = None
        loss, g = cf(x)
        assert float(loss.numpy()) == 14.0
        np.testing.assert_array_equal(g.numpy(), np.array([4.0, 8.0, 12.0], np.float32))
    assert cf.records == 1

    def no_retain(x):
        loss = (x * w).sum()
        loss.backward()
        loss.backward()
        return loss

    cf2 = pg.compile(no_retain)
    for _ in range(4):
        with pytest.raises(RuntimeError, match="second time"):
            cf2(x)


# ---------------------------------------------------------------- parameters replaced or freed ----


def test_replay_after_parameters_are_replaced_or_deleted() -> None:
    model = nn.Linear(3, 2, generator=4)

    def f(x):
        with pg.no_grad():
            return model(x)

    cf = pg.compile(f)
    x = pg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    for _ in range(3):
        cf(x)
    # a new weight tensor: the guard sees another tensor at model.weight, the step records again
    model.weight = nn.Parameter(pg.tensor(np.full(model.weight.shape, 0.5, np.float32)))
    gc.collect()
    for _ in range(3):
        np.testing.assert_allclose(cf(x).numpy(), x.numpy() @ np.full((3, 2), 0.5) + model.bias.numpy(), rtol=1e-6)
    # the bias removed: the eager call fails as it would without compile
    del model.bias
    model.bias = None
    for _ in range(3):
        np.testing.assert_allclose(cf(x).numpy(), x.numpy() @ np.full((3, 2), 0.5), rtol=1e-6)


def test_a_program_keeps_what_it_captured_alive() -> None:
    """The model rebound to a new one and the old one collected: the replay of the new signature is right,
    and the old program (still cached) still holds its own tensors."""
    state = {"model": nn.Linear(3, 2, generator=5)}

    def f(x):
        with pg.no_grad():
            return state["model"](x)

    cf = pg.compile(f)
    x = pg.tensor(np.ones((1, 3), np.float32))
    want_old = [cf(x).numpy().copy() for _ in range(3)][-1]
    state["model"] = nn.Linear(3, 2, generator=6)
    gc.collect()
    want_new = state["model"](x).numpy()
    for _ in range(3):
        np.testing.assert_array_equal(cf(x).numpy(), want_new)
    assert not np.array_equal(want_new, want_old)
    for entry in _entries(cf):  # run each cached program directly: the old one reads its own captured tensors
        if entry.prog is None:
            continue
        outs = handles([], 1)
        assert lib.pg_program_run(entry.prog, handles([x]), 1, outs) == 0
        got = pg._bindings._wrap(outs[0]).numpy()
        assert np.array_equal(got, want_old) or np.array_equal(got, want_new)


def test_optimizer_state_replaced_rerecords() -> None:
    model = nn.Linear(3, 1, generator=7)
    opt = optim.Adam(model.parameters(), lr=0.01)

    def f(x):
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        opt.step()
        return loss

    cf = pg.compile(f)
    x = pg.tensor(np.ones((2, 3), np.float32))
    for _ in range(4):
        cf(x)
    sd = opt.state_dict()
    opt.load_state_dict(sd)  # new state tensors with the same values
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for _ in range(3):
            before = model.weight.numpy().copy()
            cf(x)
            assert not np.array_equal(before, model.weight.numpy())  # it keeps training


# ---------------------------------------------------------------- wrong inputs ----


def test_wrong_shapes_and_dtypes_are_caught_by_the_guards() -> None:
    w = pg.tensor(np.ones((3, 2), np.float32), requires_grad=True)

    def f(x):
        loss = (x @ w).sum()
        loss.backward()
        return loss

    cf = pg.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for _ in range(3):
            cf(pg.ones(4, 3))
        for shape in [(5, 3), (1, 3), (0, 3), (4, 3)]:  # new shapes: a new signature each (0 rows too)
            for _ in range(3):
                w.grad = None
                assert float(cf(pg.ones(*shape)).numpy()) == 6.0 * shape[0]
                np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 2), shape[0], np.float32))
        with pytest.raises(PygradError, match="matmul"):
            cf(pg.ones(4, 5))  # a new signature: the eager warm-up refuses it
        x64 = pg.ones(4, 3, dtype=pg.float64)  # float64 @ float32: promoted, a signature of its own
        for _ in range(3):
            w.grad = None
            assert cf(x64).dtype == pg.float64 and float(cf(x64).numpy()) == 24.0


def test_pg_program_run_checks_its_inputs() -> None:
    """The C entry point, called past the guards: a wrong shape, dtype, count or a NULL input is an error,
    never a run over the wrong memory."""
    w = pg.tensor(np.ones((3, 2), np.float32), requires_grad=True)

    def f(x):
        loss = (x @ w).sum()
        loss.backward()
        return loss

    cf = pg.compile(f)
    x = pg.ones(4, 3)
    for _ in range(3):
        cf(x)
    (entry,) = _entries(cf)
    prog = entry.prog
    outs = handles([], 4)
    for bad, match in [(pg.ones(5, 3), "input 0 is float32 \\(5, 3\\)"), (pg.ones(4, 3, dtype=pg.float64), "float64"),
                       (pg.ones(12), "input 0"), (pg.ones(4, 3, dtype=pg.int64), "int64")]:
        with pytest.raises(PygradError, match=match):
            pg._bindings._check(lib.pg_program_run(prog, handles([bad]), 1, outs))
    with pytest.raises(PygradError, match="takes 1 inputs, got 2"):
        pg._bindings._check(lib.pg_program_run(prog, handles([x, x]), 2, outs))
    with pytest.raises(PygradError, match="takes 1 inputs, got 0"):
        pg._bindings._check(lib.pg_program_run(prog, ffi.NULL, 0, outs))
    nul = ffi.new("pg_tensor *[]", 1)
    with pytest.raises(PygradError):
        pg._bindings._check(lib.pg_program_run(prog, nul, 1, outs))
    # and it still runs right afterwards
    w.grad = None
    assert float(cf(x).numpy()) == 24.0



# ---------------------------------------------------------------- nesting ----


def test_a_compiled_function_called_while_another_records() -> None:
    """An inner compiled function, already replaying, called by an outer one: while the outer one records,
    the inner one runs its Python (the outer program records its ops) instead of a replay, which
    pg_program_run refuses during a recording ("a compiled function cannot run while recording")."""
    w = pg.tensor(np.ones((3, 2), np.float32), requires_grad=True)

    @pg.compile
    def inner(x):
        with pg.no_grad():
            return x @ w * 2

    @pg.compile
    def outer(x):
        loss = (inner(x) * w.sum()).sum()
        loss.backward()
        return loss

    x = pg.ones(4, 3)
    for _ in range(3):
        assert float(inner(x).sum().numpy()) == 48.0
    for _ in range(4):
        w.grad = None
        assert float(outer(x).numpy()) == 288.0
        np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 2), 48.0, np.float32))
    assert outer.records == 1
    assert float(inner(x).sum().numpy()) == 48.0  # and the inner one still replays on its own


# ---------------------------------------------------------------- threads and the GEMM's edges ----


def _mlp_step(sizes, dtype, seed):
    model = nn.MLP(list(sizes), dtype=dtype, generator=seed)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes,batch", [
    ((5, 13, 3), 11), ((12, 32, 4), 12), ((33, 17, 16), 13), ((7, 49, 25, 5), 25), ((31, 36, 8), 37),
    ((64, 65, 2), 4), ((100, 96, 10), 241), ((8, 8, 8), 1),
    # a hidden layer's backward of 4e6 multiply-adds or more (its two products may run at once on 2 threads)
    ((300, 257, 129, 10), 241), ((64, 400, 130, 3), 97),
])
def test_fused_epilogues_at_the_gemm_edges_match_eager(sizes, batch, dtype, threads) -> None:
    """An MLP step whose products have M (the batch) and N (the layer widths) at the tiles' edges: the bias and
    ReLU run in the GEMM's epilogue on edge panels; the replay gives the eager step's bits."""
    pg.set_num_threads(threads)
    rng = np.random.default_rng(batch)
    data = [(pg.tensor(rng.standard_normal((batch, sizes[0])), dtype=dtype),
             pg.tensor(rng.integers(0, sizes[-1], batch))) for _ in range(2)]
    m_e, eager = _mlp_step(sizes, dtype, 3)
    m_c, step = _mlp_step(sizes, dtype, 3)
    compiled = pg.compile(step)
    for k in range(5):
        le = eager(*data[k % 2]).numpy().copy()
        lc = compiled(*data[k % 2]).numpy().copy()
        np.testing.assert_array_equal(lc, le, err_msg=f"step {k}")
    for a, b in zip(m_e.parameters(), m_c.parameters()):
        np.testing.assert_array_equal(b.numpy(), a.numpy())
    assert compiled.records == 1


def test_threads_recording_and_replaying_their_own_steps() -> None:
    """Four threads, each recording and replaying its own compiled step at the same time: the same losses and
    parameters as the steps run one after another, eagerly."""
    import threading

    rng = np.random.default_rng(0)
    data = [(pg.tensor(rng.standard_normal((16, 8)).astype(np.float32)), pg.tensor(rng.integers(0, 4, 16)))
            for _ in range(3)]

    def run(seed, compiled, out):
        model, step = _mlp_step((8, 12, 4), "float32", seed)
        f = pg.compile(step) if compiled else step
        losses = [float(f(*data[k % 3]).numpy()) for k in range(30)]
        out[seed] = (losses, [p.numpy().copy() for p in model.parameters()])

    seq: dict = {}
    for s in (1, 3, 5, 7):
        run(s, False, seq)
    par: dict = {}
    ts = [threading.Thread(target=run, args=(s, True, par)) for s in (1, 3, 5, 7)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for s in (1, 3, 5, 7):
        assert par[s][0] == seq[s][0], s
        for a, b in zip(seq[s][1], par[s][1]):
            np.testing.assert_array_equal(b, a)
