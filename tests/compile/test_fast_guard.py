"""pygrad.compile's fast guard: after a replay, the next call's signature is first tested
against the facts of the last one (the objects the walk read, compared by identity). Each
test here gets a step replaying on the fast path, changes one guarded thing, and checks that
the change is seen (a new signature, the eager result) on the fast path's call, then that an
unchanged call takes the fast path again. The conftest also checks every call the fast guard
lets through against the full signature."""

from __future__ import annotations

import gc
import warnings
import weakref

import numpy as np
import pytest

import pygrad as pg
from pygrad import _compile, nn, optim
from pygrad._compile import CompileWarning
from pygrad.nn import functional as F


def _fast(fn, *args, **kwargs):
    """fn compiled and called until its calls take the fast guard."""
    c = pg.compile(fn)
    for _ in range(4):  # (a warm-up), the recording, a replay (which builds the guard), a fast call
        c(*args, **kwargs)
        if c.fast_calls:
            break
    assert c.records == 1 and c.rerecords == 0 and c.fast_calls == 1
    return c


def _seen(c, fn, *args, expect: str | None = None, **kwargs) -> None:
    """The next call (after a change) must not pass the fast guard: a new signature whose result is
    the eager one; and calls after it take the fast path again."""
    n, fast = c.rerecords, c.fast_calls
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        got = c(*args, **kwargs)
    assert c.fast_calls == fast, "the fast guard let a changed signature through"
    assert c.rerecords == n + 1
    if expect is not None:
        assert expect in c.last_change, c.last_change
    want = fn(*args, **kwargs)
    _same(got, want)
    for _ in range(3):  # the recording (or a warm-up), a replay that builds the guard again, ...
        c(*args, **kwargs)
    fast = c.fast_calls
    _same(c(*args, **kwargs), fn(*args, **kwargs))
    assert c.fast_calls == fast + 1


def _same(a, b) -> None:
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, pg.Tensor):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    else:
        assert a == b


def test_a_steady_training_loop_takes_the_fast_guard(train_step) -> None:
    def make():
        model = nn.MLP([5, 8, 3], generator=0)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        return model, opt, train_step(model, opt)

    rng = np.random.default_rng(0)
    data = [(pg.tensor(rng.standard_normal((4, 5)), dtype="float32"), pg.tensor(rng.integers(0, 3, 4)))
            for _ in range(3)]
    m_e, o_e, eager = make()
    m_c, o_c, step = make()
    c = pg.compile(step)
    for k in range(12):
        x, y = data[k % 3]  # other tensors of the same signature: the arguments' facts are compared
        np.testing.assert_array_equal(c(x, y).numpy(), eager(x, y).numpy())
    assert c.records == 1 and c.fast_calls == 10  # the first call records, the second builds the guard
    for a, b in zip(m_e.parameters(), m_c.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert [o_c.state[id(p)]["step"] for p in m_c.parameters()] == [12] * 4


def test_the_same_arguments_again_only_their_requires_grad_can_change() -> None:
    w = pg.tensor(np.linspace(-1, 1, 3), requires_grad=True)
    inputs = tuple((pg.tensor(float(i)), pg.tensor(2.0 * i)) for i in range(5))  # nested tuples, reused

    def f(rows):
        w.grad = None
        loss = sum(((a * w).sum() + b) ** 2 for a, b in rows)
        loss.backward()
        return loss, w.grad

    c = _fast(f, inputs)
    inputs[2][1].requires_grad_(True)
    _seen(c, f, inputs, expect="argument 0[2][1]'s requires_grad changed from False to True")


def test_other_arguments_shapes_dtypes_values_and_aliasing_are_seen() -> None:
    w = pg.tensor(np.ones((6, 3)), dtype="float32", requires_grad=True)

    def f(x, y, k=1):
        w.grad = None
        ((x @ w).sum() * k + y.sum()).backward()
        return w.grad

    x, y = pg.ones((4, 6)), pg.ones((4, 6))
    c = _fast(f, x, y)
    _seen(c, f, pg.ones((5, 6)), y, expect="argument 0's shape changed from (4, 6) to (5, 6)")
    _seen(c, f, pg.ones((5, 6), dtype="float64"), y, expect="dtype changed from float32 to float64")
    x = pg.ones((4, 6))
    _seen(c, f, x, x, expect="is the same tensor as argument 0 now")
    _seen(c, f, x, x, 2, expect="the number of positional arguments changed from 2 to 3")
    _seen(c, f, x, x, 3, expect="argument 2 changed from 2 (int) to 3 (int)")
    _seen(c, f, x, x, k=3, expect="the number of positional arguments changed from 3 to 2")
    _seen(c, f, x, x, k=3.0, expect="argument k changed from 3 (int) to 3.0 (float)")


def test_a_replaced_parameter_a_new_module_class_and_training_flags_are_seen() -> None:
    model = nn.MLP([6, 8, 4], generator=0)
    x = pg.tensor(np.linspace(-2, 2, 12).reshape(2, 6), dtype="float32")

    def f(x):
        with pg.no_grad():
            return model(x)

    c = _fast(f, x)
    model[2].bias = nn.Parameter(pg.ones((4,)))
    _seen(c, f, x, expect="the tensor `model.2.bias` (a closure variable) is another tensor object")
    setattr(model, "1", nn.Tanh())
    _seen(c, f, x, expect="changed class from ReLU to Tanh")
    model.eval()
    _seen(c, f, x, expect="training flag")
    model[0].scale = 2.0  # a plain attribute a forward could read
    _seen(c, f, x, expect="the attribute `model.0.scale` (a closure variable) is new")
    model[0].scale = 3.0
    _seen(c, f, x, expect="changed from 2.0 (float) to 3.0 (float)")


def test_mutated_nested_containers_are_seen() -> None:
    a, b = pg.tensor(np.ones(3)), pg.tensor(np.full(3, 2.0))
    cfg = {"ws": [a, b], "scale": 1.0, "pair": (a, [b])}
    x = pg.tensor(np.arange(3.0))

    def fn(x):
        with pg.no_grad():
            return (x * cfg["ws"][0]).sum() * cfg["scale"] + (x * cfg["ws"][-1]).sum() + x.sum() * len(cfg)

    c = _fast(fn, x)
    cfg["ws"][0] = pg.tensor(np.full(3, 5.0))  # an item of a list inside a dict
    _seen(c, fn, x, expect="the tensor `cfg['ws'][0]` (a closure variable) is another tensor object")
    cfg["ws"].append(b)
    _seen(c, fn, x, expect="changed length from 2 to 3")
    cfg["scale"] = 2.0
    _seen(c, fn, x, expect="the value of `cfg['scale']` (a closure variable) changed from 1.0 (float) to 2.0 (float)")
    cfg["extra"] = 1
    _seen(c, fn, x, expect="changed keys from ['ws', 'scale', 'pair'] to ['ws', 'scale', 'pair', 'extra']")


def test_a_plain_objects_attributes_and_class_are_seen() -> None:
    class Cfg:
        def __init__(self) -> None:
            self.w = pg.tensor(np.ones(3))
            self.k = 2

    class Other(Cfg):
        pass

    cfg = Cfg()
    x = pg.tensor(np.arange(3.0))

    def fn(x):
        with pg.no_grad():
            return (x * cfg.w).sum() * cfg.k

    c = _fast(fn, x)
    cfg.k = 3
    _seen(c, fn, x, expect="the value of `cfg.k` (a closure variable) changed from 2 (int) to 3 (int)")
    cfg.w = pg.tensor(np.full(3, 2.0))
    _seen(c, fn, x, expect="the tensor `cfg.w` (a closure variable) is another tensor object")
    cfg.__class__ = Other
    _seen(c, fn, x, expect="changed class from Cfg to Other")


def test_rebound_closure_variables_and_globals_are_seen() -> None:
    w = pg.tensor(np.ones(3))
    x = pg.tensor(np.arange(3.0))

    def fn(x):
        with pg.no_grad():
            return (x * w).sum() * _FACTOR

    c = _fast(fn, x)
    w = pg.tensor(np.full(3, 4.0))  # noqa: F841 - the closure cell now holds another tensor
    _seen(c, fn, x, expect="the tensor `w` (a closure variable) is another tensor object")
    global _FACTOR
    _FACTOR = 3.0
    try:
        _seen(c, fn, x, expect="the value of `_FACTOR` (a global) changed from 1.0 (float) to 3.0 (float)")
    finally:
        _FACTOR = 1.0


_FACTOR = 1.0


def test_grad_mode_is_seen() -> None:
    w = pg.tensor(np.ones(3), requires_grad=True)
    x = pg.tensor(np.arange(3.0))

    def fn(x):
        return (x * w).sum()

    with pg.no_grad():
        c = _fast(fn, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        fast = c.fast_calls
        c(x)  # grad mode on: another signature (this one runs eagerly)
    assert c.fast_calls == fast and "grad mode changed from disabled to enabled" in c.last_change


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_replaced_or_new_optimizer_state_tensors_are_seen(train_step, opt_name: str) -> None:
    model = nn.MLP([4, 3], generator=0)
    opt = getattr(optim, opt_name)(model.parameters(), lr=0.1)  # SGD without momentum: no state tensors
    x, y = pg.tensor(np.ones((2, 4)), dtype="float32"), pg.tensor(np.array([0, 1]))

    step = train_step(model, opt)
    c = _fast(step, x, y)
    p0 = next(model.parameters())
    fast, n = c.fast_calls, c.rerecords
    opt.state[id(p0)]["extra"] = pg.zeros(p0.shape)  # a tensor where none was: the walk sees it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        c(x, y)
    assert c.fast_calls == fast and c.rerecords == n + 1
    assert "new" in c.last_change or "another tensor" in c.last_change or "guarded places" in c.last_change


def test_a_place_the_signature_does_not_distinguish_keeps_the_fast_guard() -> None:
    """A module attribute the walk ignores (a list) rebound, a number replaced by an equal one: the
    fast guard compares those places as the signature does and lets the call through."""
    model = nn.MLP([3, 2], generator=0)
    x = pg.tensor(np.ones((2, 3)), dtype="float32")
    holder = {"k": 1000}

    def fn(x):
        with pg.no_grad():
            return model(x) * holder["k"]

    c = _fast(fn, x)
    model.history = []  # noqa: B010 - a list attribute: not followed in a module
    holder["k"] = int("1000")  # another int object, equal
    fast = c.fast_calls
    _same(c(x), fn(x))
    assert c.fast_calls == fast + 1 and c.rerecords == 0


def test_the_guard_does_not_keep_arguments_that_change() -> None:
    w = pg.tensor(np.ones(3))

    def fn(x):
        with pg.no_grad():
            return (x * w).sum()

    c = pg.compile(fn)
    first = pg.tensor(np.arange(3.0))
    for _ in range(2):  # the recording, a replay that builds the guard
        c(first)
    ref = weakref.ref(first)
    for k in range(3):
        c(pg.tensor(np.full(3, float(k))))  # other tensors, the same signature
    del first
    gc.collect()
    assert ref() is None
    assert c.records == 1 and c.fast_calls == 3


def test_alternating_signatures_give_the_fast_guard_up_and_stay_exact() -> None:
    w = pg.tensor(np.ones(3))

    def fn(x):
        with pg.no_grad():
            return (x * w).sum(axis=-1)

    c = pg.compile(fn)
    xs = [pg.tensor(np.ones((2, 3))), pg.tensor(np.ones((4, 3)))]
    for k in range(40):
        x = xs[k % 2]
        _same(c(x), fn(x))
    assert c.records == 2
    assert c._builds == 0 and c._last.guard is None  # given up: each call takes the full signature


def test_the_fast_guard_passes_only_the_signature_it_was_built_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verification the conftest turns on fails loudly when the fast guard passes a call whose
    full signature differs (here a guard made to pass everything)."""
    w = pg.tensor(np.ones(3))

    def fn(x, k):
        with pg.no_grad():
            return (x * w).sum() * k

    x = pg.tensor(np.arange(3.0))
    c = _fast(fn, x, 2)
    monkeypatch.setattr(_compile._Guard, "check", lambda self, args, kwargs: self.inputs)
    with pytest.raises(AssertionError, match="argument 1 changed from 2 \\(int\\) to 3 \\(int\\)"):
        c(x, 3)


def test_the_order_of_two_state_tensors_is_seen(train_step) -> None:
    """Adam's state holds two tensors per parameter, met in the dict's order: the same tensors in
    the other order are another signature."""
    model = nn.MLP([4, 3], generator=0)
    opt = optim.Adam(model.parameters(), lr=0.1)
    x, y = pg.tensor(np.ones((2, 4)), dtype="float32"), pg.tensor(np.array([0, 1]))

    step = train_step(model, opt)
    c = _fast(step, x, y)
    st = opt.state[id(next(model.parameters()))]
    st["exp_avg"] = st.pop("exp_avg")  # the same tensor, now after exp_avg_sq
    fast, n = c.fast_calls, c.rerecords
    c(x, y)
    assert c.fast_calls == fast and c.rerecords == n + 1  # the state is there: this call recorded
    for _ in range(2):  # a replay that builds the guard, a fast call
        c(x, y)
    assert c.fast_calls == fast + 1 and c.records == 2


def test_two_updates_of_one_optimizer_in_a_call_see_each_others_steps() -> None:
    """Two optimizer steps in one call: the second run of updates reads the step counts the first
    advanced (the fast guard's states are lent to one run of updates only)."""
    def make():
        model = nn.MLP([4, 3], generator=0)
        opt = optim.Adam(model.parameters(), lr=0.05)

        def step(x, y):
            for _ in range(2):
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
            return loss
        return model, opt, step

    x, y = pg.tensor(np.linspace(-1, 1, 8).reshape(2, 4), dtype="float32"), pg.tensor(np.array([0, 2]))
    m_e, o_e, eager = make()
    m_c, o_c, step = make()
    c = pg.compile(step)
    for _ in range(6):
        np.testing.assert_array_equal(c(x, y).numpy(), eager(x, y).numpy())
    assert c.records == 1 and c.fast_calls == 4
    assert [o_c.state[id(p)]["step"] for p in m_c.parameters()] == [12] * 2
    for a, b in zip(m_e.parameters(), m_c.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("seed", range(3))
def test_random_changes_to_reached_places_replay_as_eagerly(seed: int) -> None:
    """Random changes to what a step reaches (items of lists, dict keys, attributes, classes,
    numbers, tensors, a module's parameter), a call after each: the compiled call equals the
    eager one, and (conftest) a call the fast guard lets through has the full signature's key."""
    rng = np.random.default_rng(seed)
    pool = [pg.tensor(rng.standard_normal(3)) for _ in range(4)]

    class Obj:
        def __init__(self) -> None:
            self.w = pool[0]
            self.k = 1.0
            self.ws = [pool[1]]

    class Obj2(Obj):
        pass

    lin = nn.Linear(3, 1, generator=0)
    env = {"ws": [pool[2], 2.0], "obj": Obj(), "n": 1, "lin": lin}

    def fn(x):
        with pg.no_grad():
            out = (x * env["obj"].w).sum() * env["obj"].k + lin(x.reshape(1, 3)).sum() * env["n"]
            for v in env["ws"]:
                out = out + ((x * v).sum() if isinstance(v, pg.Tensor) else x.sum() * v)
            for v in env["obj"].ws:
                out = out + (x * v).sum()
            return out

    def change(k: int) -> None:
        o = env["obj"]
        if k == 0:
            env["ws"][0] = pool[rng.integers(4)]
        elif k == 1:
            env["ws"].append(float(rng.integers(3)))
        elif k == 2 and len(env["ws"]) > 1:
            env["ws"].pop()
        elif k == 3:
            o.k = [1.0, 2.0, 1, True][rng.integers(4)]
        elif k == 4:
            o.w = pool[rng.integers(4)]
        elif k == 5:
            o.ws = list(o.ws)  # another list, the same items
        elif k == 6:  # (not o.ws.append: three levels down, where the guards do not look)
            env["ws"].insert(0, pool[rng.integers(4)])
        elif k == 7:
            o.__class__ = Obj2 if type(o) is Obj else Obj
        elif k == 8:
            env["n"] = int(rng.integers(1, 3))
        elif k == 9:
            lin.bias = nn.Parameter(pool[rng.integers(4)][:1].detach())
        elif k == 10:
            o.extra = [1, 2]  # a list at the last level the walk looks at: not followed
        elif k == 11:
            env["ws"] = list(env["ws"])

    c = pg.compile(fn)
    x = pg.tensor(rng.standard_normal(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for step in range(60):
            if step % 3 == 0:
                change(int(rng.integers(13)))
            np.testing.assert_allclose(c(x).numpy(), fn(x).numpy(), rtol=0, atol=0)
    assert c.fast_calls > 0
