"""pygrad.compile's first call: it records, and the second replays. The state the optimizers make at
their first step is made ahead; where it cannot be (an _update of the user's own) the first
call is a warm-up; a first recording that read a .grad as None that the call made, or a call that
changed what the guards see, is recorded again at the second call. Every case is checked against
the same function run eagerly, bit for bit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pygrad as pg
from pygrad import nn, optim
from pygrad._compile import CompileError, CompileWarning
from pygrad.nn import functional as F


def _data(dtype: str = "float32"):
    rng = np.random.default_rng(7)
    return pg.tensor(rng.standard_normal((6, 5)), dtype=dtype), pg.tensor(rng.integers(0, 3, 6))


def _model(dtype: str = "float32"):
    return nn.Sequential(nn.Linear(5, 8, dtype=dtype, generator=1), nn.Tanh(), nn.Linear(8, 3, dtype=dtype,
                                                                                            generator=2))


def _same_params(a, b) -> None:
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert p.numpy().tobytes() == q.numpy().tobytes()


def _step_of(m, opt, set_to_none: bool):
    def step(x, y):
        opt.zero_grad(set_to_none=set_to_none)
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _train(make_opt, before=None, set_to_none: bool = True, calls: int = 8, dtype: str = "float32"):
    """(records after each call, the compiled step) for a training step of make_opt's optimizer, run
    compiled and eagerly from the same start: each call's loss and the parameters at the end agree."""
    x, y = _data(dtype)
    models, steps = [], []
    for _ in range(2):
        m = _model(dtype)
        opt = make_opt(m.parameters())
        if before is not None:
            before(m, opt, x, y)
        models.append(m)
        steps.append(_step_of(m, opt, set_to_none))
    eager, compiled = steps[0], pg.compile(steps[1])
    records = []
    for _ in range(calls):
        assert eager(x, y).numpy().tobytes() == compiled(x, y).numpy().tobytes()
        records.append(compiled.records)
    _same_params(models[0], models[1])
    return records, compiled


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_plain_sgd_records_at_the_first_call_and_replays_from_the_second(dtype: str) -> None:
    records, c = _train(lambda ps: optim.SGD(ps, lr=0.1), dtype=dtype)
    assert records == [1] * 8
    assert c.fast_calls == 6  # the second call replays through the full signature and builds the fast guard


OPTIMIZERS = {
    "momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "nesterov-dampening": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adamw-amsgrad": lambda ps: optim.AdamW(ps, lr=0.01, amsgrad=True),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.5),
    "rmsprop-centered": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adamax": lambda ps: optim.Adamax(ps, lr=0.01),
    "nadam": lambda ps: optim.NAdam(ps, lr=0.01),
    "radam": lambda ps: optim.RAdam(ps, lr=0.01),
    "adadelta": lambda ps: optim.Adadelta(ps),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_state_an_optimizer_makes_is_made_before_the_first_call_records(name: str, dtype: str) -> None:
    """The state the optimizer makes at its first step is made ahead (as its own update makes it),
    so the first call records the first step, and the program replays the later ones: the first
    step's own rules (SGD's momentum buffer starting as the gradient, Adam's bias corrections) come
    from the step counts, read at each run."""
    records, _ = _train(OPTIMIZERS[name], dtype=dtype)
    assert records == [1] * 8


class _OwnSGD(optim.SGD):
    """An optimizer whose _update is its own (here a subclass's that counts its updates): compile
    does not know what it makes, so it cannot make its state ahead."""

    updates = 0

    def _update(self, p, grad, state, g):
        type(self).updates += 1
        super()._update(p, grad, state, g)


def test_own_update_warms_up_first() -> None:
    """An _update of the user's own is not known: the first call is a warm-up (eager) and the second
    records, with the state there."""
    records, _ = _train(lambda ps: _OwnSGD(ps, lr=0.05, momentum=0.9))
    assert records == [0] + [1] * 7


def test_rprop_records_at_the_first_call() -> None:
    """Rprop's step sizes start at the lr: made ahead filled with it, the first call records."""
    records, _ = _train(lambda ps: optim.Rprop(ps, lr=0.01))
    assert records == [1] * 8


def _lr_then_step(m, opt, lr: float):
    def step(x, y):
        opt.param_groups[0]["lr"] = lr
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def test_rprop_lr_changed_before_its_first_step() -> None:
    """The function sets Rprop's lr before its first step: the step sizes made ahead hold the lr of
    before, so that call is a warm-up with the eager step's sizes (the new lr), and the second records.
    Every call agrees with the eager twin bit for bit."""
    x, y = _data()
    models, steps = [], []
    for _ in range(2):
        m = _model()
        opt = optim.Rprop(m.parameters(), lr=0.01)
        models.append((m, opt))
        steps.append(_lr_then_step(m, opt, 0.03))
    eager, compiled = steps[0], pg.compile(steps[1])
    records = []
    for _ in range(5):
        assert eager(x, y).numpy().tobytes() == compiled(x, y).numpy().tobytes()
        records.append(compiled.records)
    assert records == [0, 1, 1, 1, 1]
    _same_params(models[0][0], models[1][0])
    (_, o_e), (_, o_c) = models
    for p_e, p_c in zip(o_e.param_groups[0]["params"], o_c.param_groups[0]["params"], strict=True):
        assert o_e.state[id(p_e)]["step_size"].numpy().tobytes() == o_c.state[id(p_c)]["step_size"].numpy().tobytes()


def test_state_made_ahead_for_a_parameter_without_a_gradient_is_dropped() -> None:
    """A parameter that requires grad but gets none (not used by the loss): the state made for it ahead
    is dropped after the call, as the eager step makes none; the state_dict is the eager twin's."""
    x, y = _data()

    def make():
        m, unused = _model(), nn.Linear(5, 2, generator=3)
        opt = optim.Adam(list(m.parameters()) + list(unused.parameters()), lr=0.01)
        return m, opt, _step_of(m, opt, True)

    (m_e, o_e, eager), (m_c, o_c, step) = make(), make()
    c = pg.compile(step)
    for _ in range(4):
        assert eager(x, y).numpy().tobytes() == c(x, y).numpy().tobytes()
        assert sorted(o_c.state_dict()["state"]) == sorted(o_e.state_dict()["state"]) == [0, 1, 2, 3]
    _same_params(m_e, m_c)
    assert c.records >= 1


def test_an_optimizer_that_has_stepped_records_at_the_first_call() -> None:
    def one_eager_step(m, opt, x, y):
        F.cross_entropy(m(x), y).backward()
        opt.step()

    records, _ = _train(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), before=one_eager_step)
    assert records == [1] * 8


def test_zero_grad_to_zeros_made_by_the_first_call_records_again() -> None:
    """zero_grad(set_to_none=False) at the first call finds no .grad to zero (Python reads None);
    the call makes them, so the next call would zero them: the second call records again."""
    records, _ = _train(lambda ps: optim.SGD(ps, lr=0.1), set_to_none=False)
    assert records == [1, 2] + [2] * 6


def test_gradients_returned_without_an_optimizer() -> None:
    x, _ = _data("float64")
    w = pg.tensor(np.linspace(-1, 1, 5), requires_grad=True)

    def grads(x):
        w.grad = None
        ((x @ w).tanh() ** 2).sum().backward()
        return w.grad

    c = pg.compile(grads)
    want = grads(x).numpy()
    for _ in range(4):
        np.testing.assert_array_equal(c(x).numpy(), want)
        assert c.records == 1
    assert c.fast_calls == 2


def test_an_inference_function_replays_from_the_second_call() -> None:
    x, _ = _data()
    m = _model()

    def infer(x):
        with pg.no_grad():
            return F.softmax(m(x), dim=-1)

    c = pg.compile(infer)
    for _ in range(3):
        assert c(x).numpy().tobytes() == infer(x).numpy().tobytes()
    assert c.records == 1 and c.fast_calls == 1


def _compiled_like_eager(module_cls, calls: int):
    """A step over a fresh ``module_cls()`` (its output and its ``w``'s gradient), run eagerly and
    compiled ``calls`` times with the same input: equal each time. Returns the compiled step."""
    def make():
        m = module_cls()

        def f(x):
            m.w.grad = None
            y = m(x)
            y.backward()
            return y, m.w.grad

        return f

    x = pg.tensor(np.arange(5.0))
    eager, c = make(), pg.compile(make())
    for _ in range(calls):
        (a, ga), (b, gb) = eager(x), c(x)
        assert a.item() == b.item()
        np.testing.assert_array_equal(ga.numpy(), gb.numpy())
    return c


def test_a_tensor_made_by_the_first_forward_records_at_the_second_call() -> None:
    """A module that makes a tensor at its first forward: the first call cannot record it (a
    warm-up, nothing said), and its signature differs afterwards; the second call records under
    the new one. Every call gives the eager values."""
    class Lazy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(pg.tensor(np.linspace(-1.0, 1.0, 5)))
            self.scale = None

        def forward(self, x):
            if self.scale is None:
                self.scale = pg.tensor(np.full(5, 0.5))
            return (x * self.w * self.scale).sum()

    c = _compiled_like_eager(Lazy, 4)
    # the first call made a tensor outside the recorded ops (it cannot record: a warm-up) and a new
    # signature (the tensor is reached now); the second records it, the rest replay
    assert c.records == 1 and c.fast_calls == 1


def test_a_first_call_that_cannot_record_is_a_warm_up() -> None:
    """A function that reads a value: its first call runs eagerly and says nothing; the second
    records, warns once and runs eagerly; fullgraph=True raises at the second call."""
    w = pg.tensor(np.ones(3), requires_grad=True)

    def f(x):
        y = (x * w).sum()
        if y.item() > 0:  # a value read into Python
            y = y * 2
        return y

    x = pg.tensor(np.ones(3))
    c = pg.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert c(x).item() == 6.0
    with pytest.warns(CompileWarning, match=r"Tensor.item\(\)"):
        assert c(x).item() == 6.0
    assert c(x).item() == 6.0 and c.records == 0
    strict = pg.compile(f, fullgraph=True)
    assert strict(x).item() == 6.0
    with pytest.raises(CompileError, match=r"Tensor.item\(\)"):
        strict(x)


def test_a_flag_set_by_the_first_call_drops_its_program() -> None:
    """A module attribute (a plain value the guards compare) set during the first call: the program
    recorded under the old value is dropped, the second call records under the new one."""
    class Once(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(pg.tensor(np.linspace(-1.0, 1.0, 5)))
            self.calls = 0

        def forward(self, x):
            self.calls = min(self.calls + 1, 2)
            return (x * self.w).sum() * 3.0

    c = _compiled_like_eager(Once, 5)
    assert c.records == 3  # calls = 0 (dropped), 1 (dropped), then 2 for good
