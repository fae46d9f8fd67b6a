"""pygrad.compile records the random ops (rand, randn, rand_like, randn_like, bernoulli, normal, and
Tensor.uniform_/normal_/bernoulli_ over them) as dropout: each replay draws a fresh seed from the same
generator (manual_seed's, or a generator= argument) in the same order as the eager calls, so a
compiled step and an eager one started from the same seed agree bit for bit, call after call, and
no call repeats the previous one's noise. randint and randint_like are random ops too: recorded,
with their bounds (Python ints) constants of the step.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pygrad as pg
from pygrad import nn
from pygrad._compile import CompileWarning


def _vae_step(seed_w: int, generator=None):
    """One VAE-like training step: encoder to (mu, logvar), z = mu + eps · std with eps = randn_like(std),
    decoder, reconstruction + KL loss, backward, SGD."""
    rng = np.random.default_rng(seed_w)
    enc = nn.Linear(6, 8, dtype=pg.float64)
    dec = nn.Linear(4, 6, dtype=pg.float64)
    with pg.no_grad():
        for p in (*enc.parameters(), *dec.parameters()):
            p.copy_(pg.tensor(rng.standard_normal(p.shape) * 0.3))
    opt = pg.optim.SGD([*enc.parameters(), *dec.parameters()], lr=0.05)

    def step(x):
        opt.zero_grad()
        h = enc(x)
        mu, logvar = h[:, :4], h[:, 4:]
        std = (0.5 * logvar).exp()
        eps = pg.randn_like(std) if generator is None else pg.randn(*std.shape, dtype=std.dtype,
                                                                        generator=generator)
        z = mu + eps * std
        rec = dec(z)
        kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
        loss = ((rec - x) ** 2).sum() + kl
        loss.backward()
        opt.step()
        return loss, eps

    return step, [*enc.parameters(), *dec.parameters()]


def _run(fn, x, n):
    outs = []
    for _ in range(n):
        out = fn(x)
        outs.append([t.numpy().copy() for t in (out if isinstance(out, tuple) else (out,))])
    return outs


def _eager_then_compiled(eager, compiled, x, n, seed):
    """Run ``eager`` n times from manual_seed(seed), then ``compiled`` n times from the same seed
    (a CompileWarning is an error: the step must record), check it recorded once and every output
    of every call matches bit for bit (dtypes too); return the compiled calls' outputs."""
    pg.manual_seed(seed)
    want = _run(eager, x, n)
    pg.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        got = _run(compiled, x, n)
    assert compiled.records == 1
    for w, g in zip(want, got, strict=True):
        for a, b in zip(w, g, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    return got


def test_vae_step_compiled_matches_eager_call_after_call() -> None:
    x = pg.tensor(np.random.default_rng(0).standard_normal((5, 6)))
    eager, pe = _vae_step(1)
    step, pc = _vae_step(1)
    compiled = pg.compile(step)
    got = _eager_then_compiled(eager, compiled, x, 6, 42)
    for a, b in zip(pe, pc, strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    # each replay is a new draw
    assert not np.array_equal(got[4][1], got[5][1])


def test_a_generator_argument_is_replayed_from_the_same_generator() -> None:
    x = pg.tensor(np.random.default_rng(0).standard_normal((5, 6)))
    eager, _ = _vae_step(2, generator=(egen := np.random.default_rng(9)))
    step, _ = _vae_step(2, generator=(gen := np.random.default_rng(9)))
    compiled = pg.compile(step)
    pg.manual_seed(1)
    want = _run(eager, x, 4)
    pg.manual_seed(12345)  # the global generator plays no part
    got = _run(compiled, x, 4)
    assert compiled.records == 1
    for w, g in zip(want, got, strict=True):
        for a, b in zip(w, g, strict=True):
            np.testing.assert_array_equal(a, b)
    # the replays drew their seeds from the step's generator, as many as the eager calls did
    assert gen.integers(0, 2**63) == egen.integers(0, 2**63)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_noise_masks_and_bernoulli_are_recorded(dtype) -> None:
    """rand, randn, rand_like masks, bernoulli of tensor probabilities and of p=, normal with tensor
    mean and std, in one step: one record, every replay equal to the eager call."""
    w = pg.tensor(np.random.default_rng(3).standard_normal((4, 16)), dtype=dtype, requires_grad=True)

    def step(x):
        w.grad = None
        h = x @ w
        h = h + 0.1 * pg.randn(*h.shape, dtype=h.dtype)          # noise injection
        keep = (pg.rand_like(h) < 0.7).astype(h.dtype)           # a rand_like mask
        probs = h.sigmoid()
        b = pg.bernoulli(probs)                                  # samples of tensor probabilities
        c = pg.bernoulli(h, p=0.25)                              # p= samples
        n = pg.normal(h, probs + 0.5)                            # tensor mean and std
        u = pg.rand(3, dtype=h.dtype)
        y = (h * keep * (1 + b + c)).sum() + (n * 0.01).sum()
        y.backward()
        return y, b, c, n, u, w.grad

    x = pg.tensor(np.random.default_rng(4).standard_normal((3, 4)), dtype=dtype)
    compiled = pg.compile(step)
    got = _eager_then_compiled(step, compiled, x, 5, 7)
    assert not np.array_equal(got[3][1], got[4][1]) or not np.array_equal(got[3][4], got[4][4])


def test_inplace_random_fills_are_recorded() -> None:
    def step(x):
        buf = pg.zeros(*x.shape, dtype=x.dtype)
        buf.normal_(0.0, 2.0)
        m = pg.zeros(*x.shape, dtype=x.dtype).bernoulli_(0.5)
        u = pg.zeros(*x.shape, dtype=x.dtype).uniform_(-1.0, 1.0)
        return x + buf * m + u

    x = pg.tensor(np.ones((4, 5)))
    compiled = pg.compile(step)
    _eager_then_compiled(step, compiled, x, 4, 3)


@pytest.mark.parametrize("threads", [1, 2])
def test_replays_are_the_same_on_one_and_two_threads(threads) -> None:
    before = pg.get_num_threads()
    try:
        pg.set_num_threads(threads)

        def step(x):
            return x + pg.randn(*x.shape, dtype=x.dtype) + pg.bernoulli(pg.rand_like(x))

        x = pg.zeros(300, 301, dtype=pg.float64)
        compiled = pg.compile(step)
        pg.manual_seed(5)
        got = _run(compiled, x, 3)
        pg.manual_seed(5)
        want = _run(step, x, 3)
    finally:
        pg.set_num_threads(before)
    for w_, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(w_[0], g[0])
    # the same numbers whatever the thread count: the first call's sum, pinned against the other run
    _SUMS.setdefault(threads, float(got[0][0].sum()))
    if len(_SUMS) == 2:
        assert _SUMS[1] == _SUMS[2]


_SUMS: dict[int, float] = {}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_randint_is_recorded_and_replays_bit_identically(dtype) -> None:
    """randint (int64 labels, a float dtype, randint_like, a generator argument, a range around int64's
    whole span) inside a training step: one record, each replay equal to the eager call, a new draw
    each time."""
    w = pg.tensor(np.random.default_rng(3).standard_normal((4, 5)), dtype=dtype, requires_grad=True)
    gen_e, gen_c = np.random.default_rng(21), np.random.default_rng(21)

    def make(gen):
        def step(x):
            w.grad = None
            logits = x @ w
            labels = pg.randint(0, 5, (x.shape[0],))                       # int64 targets
            noise = pg.randint(-2, 3, logits.shape, dtype=logits.dtype)     # a float dtype
            jitter = pg.randint_like(logits, 4)                             # the input's shape and dtype
            shift = pg.randint(10, 20, (2, 3), dtype=pg.int32, generator=gen)
            wide = pg.randint(-2**63, 2**63 - 1, (3,))
            loss = pg.nn.functional.cross_entropy(logits + 0.1 * noise + 0.01 * jitter, labels)
            loss.backward()
            return loss, labels, noise, jitter, shift, wide, w.grad

        return step

    x = pg.tensor(np.random.default_rng(4).standard_normal((6, 4)), dtype=dtype)
    eager, compiled = make(gen_e), pg.compile(make(gen_c))
    got = _eager_then_compiled(eager, compiled, x, 5, 7)
    assert got[0][1].dtype == np.int64 and got[0][4].dtype == np.int32
    assert not np.array_equal(got[3][5], got[4][5])  # each replay is a new draw
    assert gen_c.integers(0, 2**63) == gen_e.integers(0, 2**63)


def test_randint_bounds_from_python_ints_are_constants_of_the_step() -> None:
    """Bounds computed from Python ints (an argument, a shape) are baked into the record; another
    value of the argument is another record, each replaying as the eager call."""

    def step(x, k):
        return x + pg.randint(-k, k + x.shape[1], x.shape, dtype=x.dtype)

    x = pg.zeros(3, 4, dtype=pg.float64)
    compiled = pg.compile(step)
    for k in (2, 2, 5, 5, 2):
        pg.manual_seed(k)
        want = step(x, k).numpy()
        pg.manual_seed(k)
        got = compiled(x, k).numpy()
        np.testing.assert_array_equal(want, got)
        assert got.min() >= -k and got.max() < k + 4
    assert compiled.records == 2
