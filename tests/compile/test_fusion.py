"""pygrad.compile fuses runs of elementwise instructions over one shape into
blocked passes (csrc/program.c, "fused elementwise runs"): each block of
elements goes through every instruction of the run before the next block, and
the run's temporaries live in a planned arena or a per-block scratch instead
of tensors of their own.

A fused replay calls the same row kernels as the eager ops, element by
element in the same order, so its results must be bit-identical to the eager
run and to the unfused replay (PYGRAD_COMPILE_FUSE=0 at recording time), at
every size: one element, less than a block, exactly and not exactly a number
of blocks, and many blocks split over threads.
"""

from __future__ import annotations

import numpy as np
import pytest

import pygrad as pg

# f32 blocks hold 2048 elements, f64 blocks 1024 (8192 bytes an operand)
SIZES = [1, 5, 1023, 1024, 2048, 2048 * 3 + 7, 100_003]


def _inputs(n: int, dtype: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = pg.tensor(rng.uniform(-2, 2, n), dtype=dtype, requires_grad=True)
    y = pg.tensor(rng.uniform(0.5, 2, n), dtype=dtype, requires_grad=True)
    return x, y


def _chain(x, y):
    """Forward and backward through a chain that mixes unary, binary and
    transcendental ops, with x used at several points (its gradient adds up)."""
    x.grad = None
    y.grad = None
    a = (x * y + 0.5).exp()
    b = (a / y).tanh() - x.sin()
    c = b.sigmoid() * (x - y).relu() + (y ** 1.5).log()
    d = c.clamp(-1.0, 3.0) * x.cos() + a.sqrt()
    loss = d.sum()
    loss.backward()
    return loss, x.grad, y.grad


def _run(fn, args, calls: int):
    outs = []
    for _ in range(calls):
        outs.append([t.numpy().copy() for t in fn(*args)])
    return outs


def _same(a, b) -> None:
    for ra, rb in zip(a, b, strict=True):
        for u, v in zip(ra, rb, strict=True):
            assert u.dtype == v.dtype and u.shape == v.shape
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", SIZES)
def test_fused_replay_is_bit_identical_to_eager_and_unfused(n: int, dtype: str, monkeypatch) -> None:
    eager = _run(_chain, _inputs(n, dtype), 4)
    fused_fn = pg.compile(_chain)
    fused = _run(fused_fn, _inputs(n, dtype), 4)
    assert fused_fn.records == 1
    assert "[fused" in fused_fn.program
    monkeypatch.setenv("PYGRAD_COMPILE_FUSE", "0")  # read when the program is recorded
    plain_fn = pg.compile(_chain)
    plain = _run(plain_fn, _inputs(n, dtype), 4)
    assert plain_fn.records == 1
    assert "[fused" not in plain_fn.program
    _same(eager, fused)
    _same(eager, plain)


def test_the_program_marks_each_fused_run() -> None:
    x, y = _inputs(5000, "float32")
    f = pg.compile(_chain)
    for _ in range(3):
        f(x, y)
    lines = f.program.splitlines()
    fused = [ln for ln in lines if "[fused" in ln]
    # the forward elementwise ops all fuse; the reduction and its backward do not
    assert any("= exp(" in ln for ln in fused) and any("tanh_backward" in ln for ln in fused)
    assert not any("= sum(" in ln for ln in fused)
    groups = {ln.rsplit("[fused ", 1)[1] for ln in fused}
    assert len(groups) < len(fused)  # runs of several instructions, not one each


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_leaf_gradients_accumulate_across_calls_like_eager(dtype: str) -> None:
    """Without zero_grad the .grads add up over calls; the fused run adds into them in place."""
    def step(x, y):
        loss = ((x * y).tanh() * x + y.exp()).sum()
        loss.backward()
        return loss

    def run(fn):
        x, y = _inputs(3001, dtype, seed=1)
        out = []
        for _ in range(5):
            loss = fn(x, y)
            out.append([loss.numpy().copy(), x.grad.numpy().copy(), y.grad.numpy().copy()])
        return out

    f = pg.compile(step)
    got = run(f)
    assert f.records == 1
    _same(run(step), got)


def test_parameters_trained_through_fused_runs_match_eager() -> None:
    """An elementwise model (a per-feature affine map and activations) trained
    with SGD: every instruction of the step but the loss's reduction fuses."""
    rng = np.random.default_rng(2)
    data = [pg.tensor(rng.standard_normal(4096), dtype="float32") for _ in range(6)]

    def make():
        w = pg.tensor(np.full(4096, 0.5), dtype="float32", requires_grad=True)
        b = pg.tensor(np.zeros(4096), dtype="float32", requires_grad=True)
        opt = pg.optim.SGD([w, b], lr=0.1, momentum=0.9)

        def step(x):
            opt.zero_grad()
            h = (x * w + b).tanh()
            loss = ((h - x * 0.25) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return step, w, b

    results = []
    for compiled in (False, True):
        step, w, b = make()
        fn = pg.compile(step) if compiled else step
        losses = [fn(x).item() for _ in range(3) for x in data]
        results.append((losses, w.numpy().copy(), b.numpy().copy()))
        if compiled:
            assert fn.records == 1
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])


@pytest.mark.parametrize("threads", [1, 2])
def test_forward_only_chain_under_no_grad(threads: int) -> None:
    x = pg.tensor(np.random.default_rng(3).standard_normal(300_001), dtype="float32")

    def chain(x):
        with pg.no_grad():
            y = (x * 1.5 + 0.25).relu()
            y = y * y + x
            y = (y * 0.5).sigmoid() - x
            return y.abs().clamp(0.0, 4.0) + 1.0

    old = pg.get_num_threads()
    pg.set_num_threads(threads)
    try:
        f = pg.compile(chain)
        want = chain(x).numpy()
        outs = [f(x) for _ in range(4)]
    finally:
        pg.set_num_threads(old)
    assert f.records == 1
    for o in outs:
        np.testing.assert_array_equal(o.numpy(), want)
    # each call's result is its own tensor: a later call does not overwrite an earlier one
    assert len({id(o) for o in outs}) == 4


def test_outputs_stay_put_when_the_next_call_runs() -> None:
    def f(x):
        with pg.no_grad():
            y = (x * 2.0).exp() - 1.0
            return y, y, x + 0.0

    c = pg.compile(f)
    rng = np.random.default_rng(4)
    xs = [pg.tensor(rng.standard_normal(9000), dtype="float64") for _ in range(4)]
    outs = [c(x) for x in xs]
    for x, (a, b, z) in zip(xs, outs, strict=True):
        want = f(x)
        np.testing.assert_array_equal(a.numpy(), want[0].numpy())
        np.testing.assert_array_equal(b.numpy(), want[0].numpy())
        np.testing.assert_array_equal(z.numpy(), x.numpy())


def test_a_new_size_records_again_and_a_wrong_one_is_refused() -> None:
    def f(x):
        with pg.no_grad():
            return (x.exp() * x).tanh()

    c = pg.compile(f)
    for n in (5000, 5000, 5000, 70_000, 70_000, 70_000, 5000):
        x = pg.tensor(np.linspace(-3, 3, n), dtype="float32")
        np.testing.assert_array_equal(c(x).numpy(), f(x).numpy())
    assert c.records == 2
    # the program itself checks its inputs: a bad size never reaches the blocked loops
    from pygrad._bindings import handles, lib

    entry = c._last
    bad = pg.tensor(np.zeros(4999), dtype="float32")
    rc = lib.pg_program_run(entry.prog, handles([bad]), 1, handles([], 1))
    assert rc != 0
    from pygrad._bindings import last_error

    assert "recorded for float32 (5000,)" in last_error()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hold", [False, True])
def test_one_element_grads_accumulate_in_place_as_eagerly(dtype: str, hold: bool) -> None:
    """A step of one-element values runs on words of the program's arena and writes
    the .grads back at the end of each fused run; a .grad the caller holds a
    reference to (hold) sees the same updates as eagerly."""
    def run(compiled: bool):
        p = pg.tensor(0.7, dtype=dtype, requires_grad=True)
        q = pg.tensor(-1.3, dtype=dtype, requires_grad=True)

        def step(x):
            loss = (p * x + q * p).tanh() * (q - x) + p * p + (q * 0.5).exp()
            loss.backward()
            return loss

        fn = pg.compile(step) if compiled else step
        seen, held = [], None
        for k in range(5):
            loss = fn(pg.tensor(0.25 * k - 0.5, dtype=dtype))
            if hold and held is None:
                held = (p.grad, q.grad)
            vals = [loss.numpy().copy(), p.grad.numpy().copy(), q.grad.numpy().copy()]
            if held is not None:
                vals += [held[0].numpy().copy(), held[1].numpy().copy()]
            seen.append(vals)
        if compiled:
            assert fn.records == 1 and "[fused" in fn.program
        return seen

    _same(run(False), run(True))


def _many_outputs(x, y):
    """Tensors the fused run defines and hands out, some read again inside the run after they are made,
    beside a backward."""
    x.grad = None
    y.grad = None
    a = x * y + 0.5
    b = a.tanh() * x
    c = b - a.sigmoid() + y
    d = (c * c).sum()
    d.backward()
    return a, b, c, x.grad, y.grad


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_results_of_8_mib_and_more_streamed_out_match_eager(dtype: str, threads: int, monkeypatch) -> None:
    """Tensors of 8 MiB or more that a fused run defines (forward values it hands out and reads again, and
    the backward's) are written block by block into scratch and copied out with streaming stores
    (csrc/program.c): the same bits as eager and as the unfused replay, on every call, over several chunks
    of threads."""
    fn = _many_outputs
    n = (2 * 2**20 if dtype == "float32" else 2**20) + 4097  # 8.4 MB; not a whole number of blocks
    old = pg.get_num_threads()
    pg.set_num_threads(threads)
    try:
        eager = _run(fn, _inputs(n, dtype, seed=5), 2)
        fused_fn = pg.compile(fn)
        fused = _run(fused_fn, _inputs(n, dtype, seed=5), 3)
        monkeypatch.setenv("PYGRAD_COMPILE_FUSE", "0")
        plain_fn = pg.compile(fn)
        plain = _run(plain_fn, _inputs(n, dtype, seed=5), 2)
    finally:
        pg.set_num_threads(old)
    assert fused_fn.records == 1 and "[fused" in fused_fn.program
    _same(eager, fused[:2])
    _same(eager, plain)
    _same(fused[1:2], fused[2:3])
