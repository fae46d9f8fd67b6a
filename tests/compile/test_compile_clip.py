"""pygrad.compile with nn.utils.clip_grad_norm_(..., error_if_nonfinite=True): the check of the total
norm is an op of the engine (check_finite_norm), run in C at each call, so a step that clips records
with fullgraph=True and replays bit-identical to its eager twin; a replay whose norm is NaN or
infinite raises the eager RuntimeError and leaves what the eager step leaves (the gradients computed,
not scaled; no optimizer step)."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad as pg
from pygrad import nn, optim
from pygrad.nn import functional as F  # noqa: N812 - the name users know

STEPS = 20
NONFINITE = (r"clip_grad_norm_: the total norm of order {order} for gradients from `parameters` is non-finite "
             r"\({got}\), so it cannot be clipped\. To disable this error and scale the gradients by the "
             r"non-finite norm anyway, set `error_if_nonfinite=False`")


def _make(dtype, norm_type, opt_name):
    """A 2-layer model trained on cross-entropy, its gradients clipped to norm 0.5 with the check on;
    the loss is scaled by the argument s (s = inf makes the norm non-finite)."""
    model = nn.MLP([4, 8, 3], dtype=dtype, generator=3)
    opt = optim.Adam(model.parameters(), lr=0.05) if opt_name == "Adam" else \
        optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y, s):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y) * s
        loss.backward()
        total = nn.utils.clip_grad_norm_(model.parameters(), 0.5, norm_type=norm_type, error_if_nonfinite=True)
        opt.step()
        return loss, total

    return step, model, opt


def _batches(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [(pg.tensor(rng.standard_normal((6, 4)) * 3.0, dtype=dtype), pg.tensor(rng.integers(0, 3, size=6)))
            for _ in range(n)]


def _state(model, opt):
    """Everything a step changes: parameters, gradients, the optimizer's state (step counts included)."""
    out = [p.numpy().copy() for p in model.parameters()]
    out += [None if p.grad is None else p.grad.numpy().copy() for p in model.parameters()]
    for p in model.parameters():
        for k, v in sorted(opt.state.get(id(p), {}).items()):
            out.append((k, v.numpy().copy() if hasattr(v, "numpy") else v))
    return out


def _assert_same_state(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, tuple):
            assert x[0] == y[0]
            np.testing.assert_array_equal(x[1], y[1])
        else:
            np.testing.assert_array_equal(x, y)  # NaN where NaN: bit patterns aside, the same values


@pytest.mark.parametrize("opt_name", ["Adam", "SGD"])
@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_with_the_check_records_and_replays_bit_identical(dtype, norm_type, opt_name) -> None:
    eager, e_model, e_opt = _make(dtype, norm_type, opt_name)
    step, c_model, c_opt = _make(dtype, norm_type, opt_name)
    compiled = pg.compile(step, fullgraph=True)
    one = pg.tensor(1.0, dtype=dtype)
    for x, y in _batches(STEPS, dtype):
        (le, te), (lc, tc) = eager(x, y, one), compiled(x, y, one)
        np.testing.assert_array_equal(lc.numpy(), le.numpy())
        np.testing.assert_array_equal(tc.numpy(), te.numpy())
    assert compiled.records == 1
    assert "check_finite_norm" in compiled.program
    assert te.item() > 0.5  # the clipping scaled the gradients
    _assert_same_state(_state(c_model, c_opt), _state(e_model, e_opt))


@pytest.mark.parametrize("opt_name", ["Adam", "SGD"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nonfinite_norm_at_replay_raises_and_leaves_the_eager_state(dtype, opt_name) -> None:
    eager, e_model, e_opt = _make(dtype, 2.0, opt_name)
    step, c_model, c_opt = _make(dtype, 2.0, opt_name)
    compiled = pg.compile(step, fullgraph=True)
    batches = _batches(8, dtype, seed=1)
    one = pg.tensor(1.0, dtype=dtype)
    for x, y in batches[:4]:
        eager(x, y, one)
        compiled(x, y, one)
    assert compiled.records == 1
    x, y = batches[4]
    xn = x.numpy().copy()
    xn[2, 1] = np.nan
    for args, got in (((x, y, pg.tensor(float("inf"), dtype=dtype)), "(inf|nan)"), ((pg.tensor(xn), y, one), "nan")):
        for f in (eager, compiled):
            with pytest.raises(RuntimeError, match=NONFINITE.format(order=r"2\.0", got=got)):
                f(*args)
        # the eager step raised before clipping: gradients computed and not scaled, no optimizer step
        _assert_same_state(_state(c_model, c_opt), _state(e_model, e_opt))
        assert any(not np.all(np.isfinite(p.grad.numpy())) for p in c_model.parameters())
    assert compiled.records == 1  # the replay refused; no new recording
    for x, y in batches[5:]:  # the program still runs, as the eager step does
        (le, te), (lc, tc) = eager(x, y, one), compiled(x, y, one)
        np.testing.assert_array_equal(lc.numpy(), le.numpy())
        np.testing.assert_array_equal(tc.numpy(), te.numpy())
    assert compiled.records == 1
    _assert_same_state(_state(c_model, c_opt), _state(e_model, e_opt))


@pytest.mark.parametrize("m", [pg, pg.reference], ids=["c", "reference"])
def test_clip_check_on_both_engines(m) -> None:
    """The check is the op on both engines, eagerly: the same message, raised before any gradient is
    scaled; a finite norm passes through unchanged."""
    a = m.tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    a.grad = m.tensor([3.0, 4.0], dtype="float64")
    assert m.nn.utils.clip_grad_norm_(a, 1.0, error_if_nonfinite=True).item() == 5.0
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    for g, order, got in (([float("nan"), 1.0], "2.0", "nan"), ([float("inf"), 1.0], "2.0", "inf"),
                          ([-float("inf"), 1.0], "inf", "inf"), ([1e200, 1e200], "3.0", "inf")):
        a.grad = m.tensor(g, dtype="float64")
        with pytest.raises(RuntimeError, match=NONFINITE.format(order=order, got=got)):
            m.nn.utils.clip_grad_norm_(a, 1.0, norm_type=float(order), error_if_nonfinite=True)
        np.testing.assert_array_equal(a.grad.numpy(), g)  # not scaled
    a.grad = m.tensor([float("nan"), 1.0], dtype="float64")
    assert np.isnan(m.nn.utils.clip_grad_norm_(a, 1.0).item())  # without the check: clipped anyway


def test_clip_check_message_is_pytorchs() -> None:
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    t.grad = torch.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError) as want:
        torch.nn.utils.clip_grad_norm_([t], 1.0, error_if_nonfinite=True)
    a = pg.tensor([1.0, 2.0], requires_grad=True)
    a.grad = pg.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError) as got:
        nn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    # PyTorch's sentences, with the value found between them
    head, tail = str(want.value).split(" is non-finite, ")
    assert head.replace("The total", "the total") in str(got.value)
    assert tail.rstrip() in str(got.value)


def test_check_finite_norm_gradcheck() -> None:
    """The op is the identity on finite values: its gradient passes through (float64 gradcheck)."""
    from pygrad.gradcheck import gradcheck

    for m in (pg, pg.reference):
        x = m.tensor(np.array([[0.5, -1.5], [2.0, 0.25]]), requires_grad=True)
        gradcheck(lambda t: (t * t).sum()._check_finite_norm(2.0) * 3.0, [x])
        v = m.tensor(np.array([[1.0, -2.0], [0.5, 3.0]]))
        gradcheck(lambda t, v=v: (t._check_finite_norm(float("inf")) * v).sum(), [x])
