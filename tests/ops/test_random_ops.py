"""The random ops (rand, randn, randint, bernoulli, and normal, rand_like, randn_like, Tensor.uniform_/normal_/
bernoulli_ over them): the C engine and the reference give the same bits from the same seed, in both
dtypes and on any thread count; the samples pass mean/variance/Kolmogorov-Smirnov checks with fixed
seeds; manual_seed and generator= reproduce draws; bad input raises errors naming the op.

The statistical bounds are several standard errors wide (each check would fail by chance with a
probability below about 1e-5 for a correct generator) and the seeds are fixed, so the tests are
deterministic; a broken mapping (a wrong constant, a lost bit, a sign error in a polynomial) moves
the statistics by far more.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError
from pygrad.reference import ops as ref_ops

DTYPES = ["float32", "float64"]
ENGINES = [pg, ref]
IDS = ["c", "reference"]


def _ks(sample: np.ndarray, cdf) -> float:
    """The Kolmogorov-Smirnov statistic sup |F_n − F| of a 1-d sample against the CDF ``cdf``."""
    x = np.sort(sample.astype(np.float64))
    f = cdf(x)
    n = x.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


_erf = np.vectorize(math.erf)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))


# ---- the same bits on both engines ----

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,), (7,), (3, 5), (2, 0, 3), (131075,)], ids=str)
def test_rand_randn_match_the_reference_bit_for_bit(shape, dtype) -> None:
    for fn in ("rand", "randn"):
        pg.manual_seed(11)
        ref.manual_seed(11)
        a, b = getattr(pg, fn)(*shape, dtype=dtype), getattr(ref, fn)(*shape, dtype=dtype)
        assert a.shape == b.shape == shape and a.dtype == b.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=fn)
        # a second call draws a new seed on both
        np.testing.assert_array_equal(getattr(pg, fn)(*shape, dtype=dtype).numpy(),
                                      getattr(ref, fn)(*shape, dtype=dtype).numpy(), err_msg=fn)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bernoulli_matches_the_reference_bit_for_bit(dtype) -> None:
    probs = np.random.default_rng(0).random((300, 7)).astype(dtype)
    probs[0, :3] = [0.0, 1.0, 0.5]
    for seed in (0, 1, 2**62 + 12345):
        a = pg.tensor(probs)._bernoulli_seeded(seed).numpy()
        b = ref.tensor(probs)._bernoulli_seeded(seed).numpy()
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.dtype(dtype) and a[0, 0] == 0.0 and a[0, 1] == 1.0
    pg.manual_seed(5)
    ref.manual_seed(5)
    np.testing.assert_array_equal(pg.bernoulli(pg.tensor(probs)).numpy(), ref.bernoulli(ref.tensor(probs)).numpy())
    np.testing.assert_array_equal(pg.bernoulli(pg.tensor(probs), p=0.3).numpy(),
                                  ref.bernoulli(ref.tensor(probs), p=0.3).numpy())


def test_the_values_follow_the_documented_recipe() -> None:
    """rand: the top 53 (float64) or 24 (float32) bits of bits(seed, i); float32 randn is the float64
    one rounded; the seed is generator.integers(0, 2**63) (docs/semantics.md, "Random numbers")."""
    seed = int(np.random.default_rng(4).integers(0, 2**63))
    bits = ref_ops.random_bits(seed, np.arange(1001, dtype=np.uint64))
    pg.manual_seed(4)
    u64 = pg.rand(1001, dtype="float64").numpy()
    np.testing.assert_array_equal(u64, (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53)
    pg.manual_seed(4)
    u32 = pg.rand(1001).numpy()
    np.testing.assert_array_equal(u32, (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24))
    np.testing.assert_array_equal(u32, np.floor(u64 * 2**24) / 2**24)  # the same draw, truncated
    pg.manual_seed(4)
    z64 = pg.randn(1001, dtype="float64").numpy()
    pg.manual_seed(4)
    np.testing.assert_array_equal(pg.randn(1001).numpy(), z64.astype(np.float32))
    # pinned values: a change here changes what every user's manual_seed gives (say so in docs/semantics.md)
    assert [int(b) for b in ref_ops.random_bits(0, np.arange(2, dtype=np.uint64))] == \
        [0x93118A61ED9E9E14, 0xD94259DF0D440A18]
    pg.manual_seed(0)
    assert pg.randn(4, dtype="float64").numpy().tolist() == \
        [1.0767531775478392, 1.2516967964597843, 1.2096498810304823, -0.14115806352279278]
    pg.manual_seed(0)
    assert pg.rand(3, dtype="float64").numpy().tolist() == \
        [0.25587374549583863, 0.13693537651015475, 0.47635628025983767]


def test_the_polynomials_are_accurate() -> None:
    """The engines' own log and (cos, sin)(2πu) stay within a few ulps of numpy's, over a grid with
    the quadrant boundaries and the extreme u = 2⁻⁵³ (u1 is never 0: log is always finite)."""
    u = np.concatenate([np.arange(1, 2**16) / 2**16, [2.0**-53, 1.0 - 2.0**-53, 1.0, 0.5, 0.25]])
    lg = ref_ops._random_log(u)
    np.testing.assert_allclose(lg, np.log(u), rtol=1e-15, atol=0)
    assert np.isfinite(ref_ops._random_log(np.array([2.0**-53]))).all()
    v = np.concatenate([np.arange(0, 2**16) / 2**16, [0.125, 0.375, 0.625, 0.875, 1.0 - 2.0**-53]])
    c, s = ref_ops._random_cossin(v)
    np.testing.assert_allclose(c, np.cos(2 * np.pi * v), rtol=0, atol=1e-15)
    np.testing.assert_allclose(s, np.sin(2 * np.pi * v), rtol=0, atol=1e-15)
    # the largest |z| the generator can give: sqrt(-2 log 2^-53)
    assert math.sqrt(-2.0 * ref_ops._random_log(np.array([2.0**-53]))[0]) == pytest.approx(8.5717, abs=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_and_two_threads_give_the_same_bits(dtype) -> None:
    before = pg.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            pg.set_num_threads(n)
            pg.manual_seed(9)
            p = pg.rand(200003, dtype=dtype)
            outs.append([pg.randn(200003, dtype=dtype).numpy(), p.numpy(), pg.bernoulli(p).numpy()])
    finally:
        pg.set_num_threads(before)
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)


# ---- statistics ----

N = 200_000


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_rand_is_uniform(m, dtype) -> None:
    m.manual_seed(2024)
    u = m.rand(N, dtype=dtype).numpy().astype(np.float64)
    assert u.min() >= 0.0 and u.max() < 1.0
    se = math.sqrt(1 / 12 / N)
    assert abs(u.mean() - 0.5) < 5 * se
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / N)
    assert _ks(u, lambda x: x) < 2.5 / math.sqrt(N)
    # neighbours are uncorrelated, and every bucket of 100 is about N/100 full
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / math.sqrt(N)
    counts = np.bincount((u * 100).astype(int), minlength=100)
    chi2 = float(((counts - N / 100) ** 2 / (N / 100)).sum())
    assert chi2 < 99 + 6 * math.sqrt(2 * 99)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_randn_is_standard_normal(m, dtype) -> None:
    m.manual_seed(7)
    z = m.randn(N, dtype=dtype).numpy().astype(np.float64)
    assert np.isfinite(z).all() and np.abs(z).max() < 8.572
    assert abs(z.mean()) < 5 / math.sqrt(N)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2 / N)
    skew = float(np.mean(z**3))
    kurt = float(np.mean(z**4))
    assert abs(skew) < 5 * math.sqrt(15 / N) and abs(kurt - 3.0) < 5 * math.sqrt(96 / N)
    assert _ks(z, _normal_cdf) < 2.5 / math.sqrt(N)
    # the two values of a Box-Muller pair, and neighbouring pairs, are uncorrelated
    assert abs(np.corrcoef(z[0::2], z[1::2])[0, 1]) < 5 / math.sqrt(N / 2)
    assert abs(np.corrcoef(z[1:-1:2], z[2::2])[0, 1]) < 5 / math.sqrt(N / 2)
    # the tails: P(|z| > 3) = 0.0026998
    tail = float(np.mean(np.abs(z) > 3))
    assert abs(tail - 0.0026998) < 5 * math.sqrt(0.0027 / N)


@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_bernoulli_frequencies(m) -> None:
    m.manual_seed(3)
    for p in (0.0, 0.01, 0.3, 0.5, 0.97, 1.0):
        y = m.bernoulli(m.full((N,), p, dtype=m.float64)).numpy()
        assert set(np.unique(y)) <= {0.0, 1.0}
        se = math.sqrt(max(p * (1 - p), 1e-12) / N)
        assert abs(y.mean() - p) < 5 * se + 1e-12, p
    # per-element probabilities: the count of ones among elements of probability p_i
    probs = np.tile(np.array([0.1, 0.5, 0.9]), N // 3)
    y = m.bernoulli(m.tensor(probs)).numpy()
    for k, p in enumerate((0.1, 0.5, 0.9)):
        assert abs(y[k::3].mean() - p) < 5 * math.sqrt(p * (1 - p) / (N // 3))


@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_normal_forms(m) -> None:
    """PyTorch's torch.normal forms: tensor mean/std broadcast, number mean or std, numbers with a size;
    the values are mean + std · randn with the same seed."""
    mean = m.tensor(np.linspace(-2, 2, 12).reshape(3, 4), dtype=m.float64)
    std = m.tensor(np.linspace(0.5, 1.5, 4), dtype=m.float64)
    m.manual_seed(1)
    y = m.normal(mean, std)
    m.manual_seed(1)
    z = m.randn(3, 4, dtype=m.float64)
    assert y.shape == (3, 4) and y.dtype == np.float64 and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), (z * std + mean).numpy())
    assert m.normal(mean, 2.0).shape == (3, 4) and m.normal(0.5, std).shape == (4,)
    m.manual_seed(2)
    y = m.normal(3.0, 0.5, (N,))
    assert y.dtype == np.float32 and y.shape == (N,)
    v = y.numpy().astype(np.float64)
    assert abs(v.mean() - 3.0) < 5 * 0.5 / math.sqrt(N) and abs(v.std() - 0.5) < 0.01
    assert m.normal(0.0, 1.0, (2, 3), dtype=m.float64).dtype == np.float64
    # no gradient flows to mean or std (PyTorch's zeros)
    mg = m.zeros(3, requires_grad=True)
    assert not m.normal(mg, 1.0).requires_grad


@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_inplace_fills(m) -> None:
    x = m.zeros(N, dtype=m.float64, requires_grad=True)
    x.uniform_(-2.0, 3.0)
    v = x.detach().numpy()
    assert v.min() >= -2.0 and v.max() < 3.0 and abs(v.mean() - 0.5) < 0.02 and x.requires_grad and x.is_leaf
    x.normal_(1.0, 2.0)
    v = x.detach().numpy()
    assert abs(v.mean() - 1.0) < 0.02 and abs(v.std() - 2.0) < 0.02
    x.bernoulli_(0.25)
    v = x.detach().numpy()
    assert set(np.unique(v)) <= {0.0, 1.0} and abs(v.mean() - 0.25) < 0.01
    y = m.zeros(2, 3)
    y.bernoulli_(m.tensor([0.0, 1.0, 0.0]))
    np.testing.assert_array_equal(y.numpy(), [[0, 1, 0], [0, 1, 0]])
    # the same seed: uniform_ on a float64 tensor is rand's values
    m.manual_seed(6)
    w = m.zeros(5, dtype=m.float64).uniform_()
    m.manual_seed(6)
    np.testing.assert_array_equal(w.numpy(), m.rand(5, dtype=m.float64).numpy())


# ---- reproducibility ----

@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_manual_seed_and_generator_reproduce_draws(m) -> None:
    m.manual_seed(123)
    a = [m.rand(4, 3).numpy(), m.randn(5).numpy(), m.bernoulli(m.full((6,), 0.5)).numpy()]
    m.manual_seed(123)
    b = [m.rand(4, 3).numpy(), m.randn(5).numpy(), m.bernoulli(m.full((6,), 0.5)).numpy()]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(m.randn(5).numpy(), a[1])  # the next call is a new draw
    g1, g2 = np.random.default_rng(8), np.random.default_rng(8)
    m.manual_seed(0)
    r1 = m.randn(7, generator=g1).numpy()
    m.manual_seed(99)  # the global generator does not matter with generator=
    r2 = m.randn(7, generator=g2).numpy()
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(m.rand(3, generator=g1).numpy(), m.rand(3, generator=g2).numpy())
    np.testing.assert_array_equal(m.bernoulli(m.full((9,), 0.5), generator=g1).numpy(),
                                  m.bernoulli(m.full((9,), 0.5), generator=g2).numpy())
    # generator= leaves the global generator alone
    m.manual_seed(5)
    first = m.rand(3).numpy()
    m.manual_seed(5)
    m.rand(3, generator=np.random.default_rng(1))
    np.testing.assert_array_equal(m.rand(3).numpy(), first)


@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_like_functions_and_grad_flags(m) -> None:
    x = m.zeros(2, 5, dtype=m.float64, requires_grad=True)
    m.manual_seed(4)
    a = m.randn_like(x)
    m.manual_seed(4)
    np.testing.assert_array_equal(a.numpy(), m.randn(2, 5, dtype=m.float64).numpy())
    assert a.dtype == np.float64 and not a.requires_grad
    assert m.rand_like(x, dtype=m.float32).dtype == np.float32
    r = m.rand(3, requires_grad=True)
    assert r.requires_grad and r.is_leaf
    p = m.full((4,), 0.5, requires_grad=True)
    assert not m.bernoulli(p).requires_grad and not p.bernoulli().requires_grad


# ---- errors ----

@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_errors_name_the_op(m) -> None:
    cases = [
        (lambda: m.randn(2, -3), ShapeError, "randn"),
        (lambda: m.rand(-1), ShapeError, "rand"),
        (lambda: m.rand(3, dtype=m.int64), PygradTypeError, "rand: expected a float dtype"),
        (lambda: m.randn(3, generator=5), PygradTypeError, "randn: generator must be a numpy.random.Generator"),
        (lambda: m.bernoulli(m.tensor([0.5, 1.5])), PygradValueError, "bernoulli: probabilities must lie in [0, 1]"),
        (lambda: m.bernoulli(m.tensor([0.5, -0.1])), PygradValueError, "bernoulli: probabilities"),
        (lambda: m.bernoulli(m.tensor([np.nan])), PygradValueError, "bernoulli: probabilities"),
        (lambda: m.bernoulli(m.tensor([0.5, -np.nan])), PygradValueError, "got nan at flat index 1"),
        (lambda: m.bernoulli(m.zeros(2), p=1.5), PygradValueError, "bernoulli: p must lie in [0, 1]"),
        (lambda: m.bernoulli(m.zeros(2), p=float("nan")), PygradValueError, "bernoulli"),
        (lambda: m.bernoulli(m.tensor([1, 0])), PygradTypeError, "bernoulli"),
        (lambda: m.normal(0.0, -1.0, (2,)), PygradValueError, "normal: expects std >= 0.0"),
        (lambda: m.normal(m.zeros(2), m.tensor([1.0, -1.0])), PygradValueError, "normal: expects all elements"),
        (lambda: m.normal(0.0, 1.0), PygradTypeError, "normal: with a number mean and std, size is required"),
        (lambda: m.zeros(3).uniform_(2.0, 1.0), PygradValueError, "uniform_: expected a <= b"),
        (lambda: m.zeros(3).normal_(0.0, -2.0), PygradValueError, "normal_: std must be non-negative"),
        (lambda: m.zeros(3).bernoulli_(2.0), PygradValueError, "bernoulli_: p must lie in [0, 1]"),
    ]
    for fn, exc, needle in cases:
        with pytest.raises(exc, match=needle.replace("[", r"\[").replace("]", r"\]")):
            fn()


def test_random_gates_forward_parity() -> None:
    from pygrad import gates as G
    from pygrad.reference import gates as RG

    x = np.random.default_rng(0).random((4, 5))
    for make in (lambda ns: ns.RandomGate(kind="normal", seed=5), lambda ns: ns.RandomGate(kind="uniform", seed=6),
                 lambda ns: ns.BernoulliGate(seed=7)):
        np.testing.assert_array_equal(make(G).forward(x), make(RG).forward(x))


# ---- randint ----

# (low, high): small ranges, int32's and int64's whole ranges, and spans where Lemire's test rejects
# often (3·2⁶¹: 2⁶⁴ mod span = 2⁶², a quarter of the draws) or almost never (2⁶⁴ − 1)
RANGES = [(0, 10), (-3, 5), (0, 2), (7, 8), (-2**31, 2**31), (0, 3 * 2**61), (-2**63, 2**63 - 1),
          (-5, 2**62 + 12345)]


def _fits(dtype: str, low: int, high: int) -> bool:
    if dtype == "bool":
        return 0 <= low and high <= 2
    if dtype == "int32":
        return -2**31 <= low and high <= 2**31
    return True


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool", "float32", "float64"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 0, 3), (30001,)], ids=str)
def test_randint_matches_the_reference_bit_for_bit(shape, dtype) -> None:
    for low, high in RANGES:
        if not _fits(dtype, low, high):
            continue
        pg.manual_seed(11)
        ref.manual_seed(11)
        a, b = pg.randint(low, high, shape, dtype=dtype), ref.randint(low, high, shape, dtype=dtype)
        assert a.shape == b.shape == shape and a.dtype == b.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"[{low}, {high})")
        if dtype in ("int64", "int32"):
            assert a.numpy().size == 0 or (a.numpy().min() >= low and a.numpy().max() < high)
        # the next call draws a new seed on both
        np.testing.assert_array_equal(pg.randint(low, high, shape, dtype=dtype).numpy(),
                                      ref.randint(low, high, shape, dtype=dtype).numpy())


def _lemire(seed: int, low: int, high: int, n: int) -> list[int]:
    """randint's recipe in Python integers, one element and attempt at a time (docs/semantics.md)."""
    mask, span = 2**64 - 1, high - low

    def fmix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    key = fmix(seed ^ 0x6A09E667F3BCC909)
    out = []
    for i in range(n):
        j, k = 0, key
        while True:
            m = fmix((k + (i + 1) * 0x9E3779B97F4A7C15) & mask) * span
            if m & mask >= (2**64 - span) % span:
                break
            j += 1
            k = fmix((key + j) & mask)
        out.append(low + (m >> 64))
    return out


def test_randint_follows_the_documented_recipe() -> None:
    """low + ⌊x·span/2⁶⁴⌋ with Lemire's rejection, the seed generator.integers(0, 2**63), written out
    in Python integers; the rejection path is taken (a quarter of the draws for span 3·2⁶¹)."""
    for low, high in [(0, 10), (-2**63, 2**63 - 1), (0, 3 * 2**61), (-7, 3 * 2**61 - 7)]:
        seed = int(np.random.default_rng(4).integers(0, 2**63))
        pg.manual_seed(4)
        assert pg.randint(low, high, (400,)).numpy().tolist() == _lemire(seed, low, high, 400)
    # pinned values: a change here changes what every user's manual_seed gives (say so in docs/semantics.md)
    pg.manual_seed(0)
    assert pg.randint(0, 1000, (6,)).numpy().tolist() == _lemire(int(np.random.default_rng(0).integers(0, 2**63)),
                                                                 0, 1000, 6)
    pg.manual_seed(0)  # the top bits of rand's values for the same seed (0.2558..., 0.1369..., 0.4763...)
    assert pg.randint(0, 1000, (6,)).numpy().tolist() == [255, 136, 476, 981, 630, 846]


@pytest.mark.parametrize("dtype", ["int64", "float32"])
def test_randint_one_and_two_threads_give_the_same_bits(dtype) -> None:
    before = pg.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            pg.set_num_threads(n)
            pg.manual_seed(9)
            outs.append([pg.randint(-50, 50, (200003,), dtype=dtype).numpy(),
                         pg.randint(0, 3 * 2**61, (200003,), dtype=dtype).numpy()])
    finally:
        pg.set_num_threads(before)
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_randint_is_uniform(m) -> None:
    m.manual_seed(31)
    for k in (2, 7, 100):
        y = m.randint(-3, k - 3, (N,)).numpy()
        assert y.min() >= -3 and y.max() < k - 3
        counts = np.bincount(y + 3, minlength=k)
        chi2 = float(((counts - N / k) ** 2 / (N / k)).sum())
        assert chi2 < (k - 1) + 6 * math.sqrt(2 * (k - 1)), k
    # a span of 3·2⁶¹, where multiply-shift without rejection would be biased: the top bits are uniform
    # over [0, 3) and the values cover the range
    y = m.randint(0, 3 * 2**61, (N,)).numpy()
    counts = np.bincount(y >> 61, minlength=3)
    assert y.min() >= 0 and counts.size == 3
    assert float(((counts - N / 3) ** 2 / (N / 3)).sum()) < 2 + 6 * 2
    u = y.astype(np.float64) / (3 * 2**61)
    assert _ks(u, lambda x: x) < 2.5 / math.sqrt(N)
    w = m.randint(-2**63, 2**63 - 1, (N,)).numpy()
    assert abs(float(np.mean(w < 0)) - 0.5) < 5 * math.sqrt(0.25 / N)


@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_randint_seeds_overloads_and_like(m) -> None:
    m.manual_seed(123)
    a = m.randint(5, (4, 3)).numpy()
    m.manual_seed(123)
    np.testing.assert_array_equal(m.randint(0, 5, size=(4, 3)).numpy(), a)
    assert a.dtype == np.int64
    g1, g2 = np.random.default_rng(8), np.random.default_rng(8)
    m.manual_seed(0)
    r1 = m.randint(0, 9, (7,), generator=g1).numpy()
    m.manual_seed(99)
    np.testing.assert_array_equal(r1, m.randint(0, 9, (7,), generator=g2).numpy())
    m.manual_seed(6)
    x = m.zeros(2, 5, dtype=m.float64)
    r = m.randint_like(x, 3, 9)
    m.manual_seed(6)
    np.testing.assert_array_equal(r.numpy(), m.randint(3, 9, (2, 5), dtype=m.float64).numpy())
    assert r.dtype == np.float64 and not r.requires_grad
    assert m.randint(0, 4, (3,), dtype=m.float32, requires_grad=True).requires_grad


@pytest.mark.parametrize("m", ENGINES, ids=IDS)
def test_randint_errors_name_the_op(m) -> None:
    cases = [
        (lambda: m.randint(3, 3, (2,)), PygradValueError, "randint: empty range [3, 3)"),
        (lambda: m.randint(5, 2, (2,)), PygradValueError, "randint: empty range [5, 2)"),
        (lambda: m.randint(0.5, 3, (2,)), PygradTypeError, "randint: low must be an int"),
        (lambda: m.randint(0, 3.0, (2,)), PygradTypeError, "randint: high must be an int"),
        (lambda: m.randint(0, 2**63, (2,)), PygradValueError,
         "randint: the range [0, 9223372036854775808) is beyond int64"),
        (lambda: m.randint(-2**63 - 1, 0, (2,)), PygradValueError, "randint: the range"),
        (lambda: m.randint(0, 2**31 + 1, (2,), dtype=m.int32), PygradValueError,
         "randint: the range [0, 2147483649) does not fit int32"),
        (lambda: m.randint(0, 3, (2,), dtype=m.bool_), PygradValueError, "randint: the range [0, 3) does not fit bool"),
        (lambda: m.randint(0, 3, (2, -1)), ShapeError, "randint"),
        (lambda: m.randint(0, 3, (2,), generator=5), PygradTypeError, "randint: generator must be a numpy"),
        (lambda: m.randint(0, 3, (2,), requires_grad=True), PygradTypeError, "only float tensors can require grad"),
    ]
    for fn, exc, needle in cases:
        with pytest.raises(exc, match=needle.replace("[", r"\[").replace("]", r"\]").replace(")", r"\)")):
            fn()
