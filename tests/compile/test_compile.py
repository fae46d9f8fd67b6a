"""pygrad.compile: a recorded step replayed in C gives what the eager step gives.

Every comparison runs the same function twice from the same starting point,
once eagerly and once compiled, and asserts the parameters, losses and
gradients are bit-identical (the replay calls the same kernels in the same
order); the reference engine running the function eagerly checks the values
independently. What cannot be recorded must run eagerly with a warning (or
raise under fullgraph=True), and still give the eager results.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad import nn, optim
from pygrad._bindings import ffi, lib
from pygrad._compile import CompileError, CompileWarning
from pygrad.errors import PygradError
from pygrad.nn import functional as F

SIZES = [6, 24, 24, 4]


def _batches(n: int, batch: int = 8, dtype: str = "float32", seed: int = 0, m=pg):
    rng = np.random.default_rng(seed)
    return [(m.tensor(rng.standard_normal((batch, SIZES[0])), dtype=dtype), m.tensor(rng.integers(0, SIZES[-1], batch)))
            for _ in range(n)]


def _setup(opt_name: str, kw: dict, dtype: str, m=pg):
    model = m.nn.MLP(SIZES, dtype=dtype, generator=0)
    return model, getattr(m.optim, opt_name)(model.parameters(), **kw)


def _params(model) -> list[np.ndarray]:
    return [p.numpy().copy() for p in model.parameters()]


def _assert_same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


OPTIMIZERS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("Adam", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adamax", {"lr": 0.01, "weight_decay": 1e-3}),
    ("NAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 1e-2}),
    ("Adadelta", {"lr": 1.0}),
    ("Rprop", {"lr": 0.01}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("opt_name", "kw"), OPTIMIZERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPTIMIZERS)])
def test_100_steps_bit_identical_to_eager(train_step, opt_name: str, kw: dict, dtype: str) -> None:
    data = _batches(4, dtype=dtype)
    m_e, o_e = _setup(opt_name, kw, dtype)
    m_c, o_c = _setup(opt_name, kw, dtype)
    eager = train_step(m_e, o_e)
    compiled = pg.compile(train_step(m_c, o_c))
    le, lc = [], []
    for k in range(100):
        x, y = data[k % 4]
        le.append(eager(x, y).numpy().copy())
        lc.append(compiled(x, y).numpy().copy())
    assert compiled.records == 1  # recorded once (the second call), replayed 98 times
    _assert_same(le, lc)
    _assert_same(_params(m_e), _params(m_c))
    _assert_same([p.grad.numpy() for p in m_e.parameters()], [p.grad.numpy() for p in m_c.parameters()])
    assert le[-1] < le[0]  # it trains
    for k in ("step", "exp_avg", "momentum_buffer", "square_avg", "sum"):  # the optimizer's state too
        for p_e, p_c in zip(m_e.parameters(), m_c.parameters()):
            a, b = o_e.state[id(p_e)].get(k), o_c.state[id(p_c)].get(k)
            if isinstance(a, int):
                assert a == b == 100
            elif a is not None:
                np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(("opt_name", "kw"), [OPTIMIZERS[0], OPTIMIZERS[2]], ids=["sgd-momentum", "adam"])
def test_parity_with_the_reference_engine(train_step, opt_name: str, kw: dict) -> None:
    data_c = _batches(3, dtype="float64", m=pg)
    data_r = _batches(3, dtype="float64", m=ref)
    m_c, o_c = _setup(opt_name, kw, "float64", pg)
    m_r, o_r = _setup(opt_name, kw, "float64", ref)
    compiled = pg.compile(train_step(m_c, o_c))
    eager_ref = train_step(m_r, o_r)
    for k in range(30):
        lc = compiled(*data_c[k % 3]).item()
        lr_ = eager_ref(*data_r[k % 3]).item()
        assert lc == pytest.approx(lr_, rel=1e-10)
    assert compiled.records == 1
    for a, b in zip(m_c.parameters(), m_r.parameters()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


def test_forward_only_inference() -> None:
    model, _ = _setup("SGD", {"lr": 0.1}, "float32")
    data = _batches(3)

    @pg.compile
    def predict(x):
        return model(x).softmax(axis=1), x.sum()

    with pg.no_grad():
        outs = [predict(x) for x, _ in data * 2]
        want = [(model(x).softmax(axis=1), x.sum()) for x, _ in data * 2]
    assert predict.records == 1
    for (p, s), (wp, ws) in zip(outs, want):
        np.testing.assert_array_equal(p.numpy(), wp.numpy())
        assert s.item() == ws.item()
    # fresh tensors: a later call does not change an earlier result
    assert outs[3][0] is not outs[5][0]
    np.testing.assert_array_equal(outs[3][0].numpy(), want[3][0].numpy())
    assert "softmax" in predict.program and "matmul" in predict.program


def test_a_live_graph_in_the_outputs_runs_eagerly() -> None:
    model, _ = _setup("SGD", {"lr": 0.1}, "float32")
    x, _ = _batches(1)[0]
    fwd = pg.compile(lambda x: model(x).sum())
    with pytest.warns(CompileWarning, match="graph is still alive"):
        for _ in range(3):
            out = fwd(x)
    out.backward()  # the eager result keeps its graph
    assert model[0].weight.grad is not None


def test_without_optimizer_returns_gradients() -> None:
    data = _batches(3, dtype="float64")
    m_e, _ = _setup("SGD", {"lr": 0.1}, "float64")
    m_c, _ = _setup("SGD", {"lr": 0.1}, "float64")

    def grads_of(model):
        params = list(model.parameters())

        def grads(x, y):
            for p in params:
                p.grad = None
            loss = F.cross_entropy(model(x), y, reduction="sum")
            loss.backward()
            return loss, [p.grad for p in params]
        return grads

    eager, compiled = grads_of(m_e), pg.compile(grads_of(m_c))
    for k in range(7):
        (le, ge), (lc, gc) = eager(*data[k % 3]), compiled(*data[k % 3])
        assert le.item() == lc.item()
        _assert_same([g.numpy() for g in ge], [g.numpy() for g in gc])
        _assert_same([p.grad.numpy() for p in m_e.parameters()], [p.grad.numpy() for p in m_c.parameters()])
    assert compiled.records == 1
    assert gc[0] is not m_c[0].weight.grad  # a copy, not the parameter's own buffer


def test_gradients_accumulate_across_calls_like_eager() -> None:
    data = _batches(2, dtype="float64")
    m_e, _ = _setup("SGD", {"lr": 0.1}, "float64")
    m_c, _ = _setup("SGD", {"lr": 0.1}, "float64")

    def acc_of(model):
        def acc(x, y):
            F.cross_entropy(model(x), y).backward()
        return acc

    eager, compiled = acc_of(m_e), pg.compile(acc_of(m_c))
    for k in range(6):
        eager(*data[k % 2])
        compiled(*data[k % 2])
    assert compiled.records == 1
    _assert_same([p.grad.numpy() for p in m_e.parameters()], [p.grad.numpy() for p in m_c.parameters()])


def test_one_gradient_reaching_two_leaves_is_not_shared_by_their_grads() -> None:
    """add's backward hands one tensor to both leaves: each .grad must be its own, or the next
    call's in-place accumulation into one would change the other (and a value still to be read)."""
    def run(fn, a, b, x):
        out = []
        for k in range(4):
            fn(x + k)
            out.append((a.grad.numpy().copy(), b.grad.numpy().copy()))
        return out

    def make():
        a = pg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        b = pg.tensor(np.ones((2, 3)), requires_grad=True)

        def step(x):
            z = a + b
            ((z * x).sum() + (z * z).sum()).backward()
        return a, b, step

    a_e, b_e, step_e = make()
    a_c, b_c, step_c = make()
    x = pg.tensor(np.linspace(-1, 1, 6).reshape(2, 3))
    eager, compiled = run(step_e, a_e, b_e, x), run(pg.compile(step_c), a_c, b_c, x)
    for (ga, gb), (ca, cb) in zip(eager, compiled):
        np.testing.assert_array_equal(ga, ca)
        np.testing.assert_array_equal(gb, cb)
    assert a_c.grad is not b_c.grad
    a_c.grad.numpy()[...] = 0  # writing one leaves the other alone
    assert np.any(b_c.grad.numpy() != 0)


def test_batch_size_change_records_again(train_step) -> None:
    m_e, o_e = _setup("SGD", {"lr": 0.05, "momentum": 0.9}, "float32")
    m_c, o_c = _setup("SGD", {"lr": 0.05, "momentum": 0.9}, "float32")
    eager, compiled = train_step(m_e, o_e), pg.compile(train_step(m_c, o_c))
    small, big = _batches(2, batch=8), _batches(2, batch=5, seed=1)
    for k in range(12):
        x, y = (small if k < 6 else big)[k % 2]
        assert eager(x, y).item() == compiled(x, y).item()
    assert compiled.records == 2  # one program per batch size
    for k in range(4):  # back to the first: its program is still cached
        x, y = small[k % 2]
        assert eager(x, y).item() == compiled(x, y).item()
    assert compiled.records == 2
    _assert_same(_params(m_e), _params(m_c))


def test_lr_change_takes_effect_without_recording_again(train_step) -> None:
    data = _batches(2)
    m_e, o_e = _setup("Adam", {"lr": 0.01}, "float32")
    m_c, o_c = _setup("Adam", {"lr": 0.01}, "float32")
    s_e = optim.lr_scheduler.StepLR(o_e, step_size=3, gamma=0.5)
    s_c = optim.lr_scheduler.StepLR(o_c, step_size=3, gamma=0.5)
    eager, compiled = train_step(m_e, o_e), pg.compile(train_step(m_c, o_c))
    for k in range(20):
        assert eager(*data[k % 2]).item() == compiled(*data[k % 2]).item()
        s_e.step()
        s_c.step()
        if k == 10:  # by hand as well
            o_e.param_groups[0]["lr"] = o_c.param_groups[0]["lr"] = 0.2
    assert compiled.records == 1
    _assert_same(_params(m_e), _params(m_c))
    # and the new lr really was used: a run that ignored it ends elsewhere
    m_f, o_f = _setup("Adam", {"lr": 0.01}, "float32")
    frozen = train_step(m_f, o_f)
    for k in range(20):
        frozen(*data[k % 2])
    assert not all(np.array_equal(a, b) for a, b in zip(_params(m_f), _params(m_c)))


def test_replacing_a_parameter_records_again() -> None:
    data = _batches(2, dtype="float64")
    state = {}
    for name in ("e", "c"):
        model, opt = _setup("SGD", {"lr": 0.05, "momentum": 0.9}, "float64")
        state[name] = [model, opt]

    def step_of(s):
        def step(x, y):
            model, opt = s
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    eager, compiled = step_of(state["e"]), pg.compile(step_of(state["c"]))
    for k in range(5):
        assert eager(*data[k % 2]).item() == compiled(*data[k % 2]).item()
    assert compiled.records == 1
    for s in state.values():  # a new first layer weight, and an optimizer over the new parameters
        model = s[0]
        model[0].weight = nn.Parameter(pg.ones(model[0].weight.shape, dtype="float64") * 0.01)
        s[1] = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for k in range(5):
        assert eager(*data[k % 2]).item() == compiled(*data[k % 2]).item()
    assert compiled.records == 2
    _assert_same(_params(state["e"][0]), _params(state["c"][0]))


def _falls_back(body, match: str) -> None:
    model, opt = _setup("SGD", {"lr": 0.05}, "float64")
    m2, o2 = _setup("SGD", {"lr": 0.05}, "float64")
    data = _batches(2, dtype="float64")
    eager, compiled = body(m2, o2), pg.compile(body(model, opt))
    with pytest.warns(CompileWarning, match=match) as caught:
        for k in range(5):
            e, c = eager(*data[k % 2]), compiled(*data[k % 2])
            np.testing.assert_array_equal(np.asarray(e), np.asarray(c))
    assert len([w for w in caught if issubclass(w.category, CompileWarning)]) == 1  # once
    assert compiled.records == 0
    _assert_same(_params(m2), _params(model))
    strict = pg.compile(body(*_setup("SGD", {"lr": 0.05}, "float64")), fullgraph=True)
    strict(*data[0])  # the first call cannot record: it was a warm-up, and says nothing
    with pytest.raises(CompileError, match=match):
        strict(*data[0])


def _with_item(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if loss.item() > 0:
            opt.step()
        return 1.0
    return step


def _with_bool(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if loss > 100.0:  # Python control flow on a value
            return 0.0
        opt.step()
        return 1.0
    return step


def _with_numpy(model, opt):
    def step(x, y):
        s = model(x)
        return s.numpy().sum()
    return step


def _with_tolist(model, opt):
    def step(x, y):
        return model(x).tolist()[0][0]
    return step


def _with_inplace(model, opt):
    def step(x, y):  # an in-place update the graph records (grad mode, on a tensor of the graph)
        opt.zero_grad()
        s = model(x)
        s.mul_(2.0)
        F.cross_entropy(s, y).backward()
        opt.step()
        return 1.0
    return step


@pytest.mark.parametrize(("body", "match"), [
    (_with_item, r"Tensor\.item"), (_with_bool, r"bool\(tensor\)"), (_with_numpy, r"Tensor\.numpy"),
    (_with_tolist, r"Tensor\.tolist"), (_with_inplace, "in-place update recorded in the graph"),
], ids=["item", "bool", "numpy", "tolist", "inplace"])
def test_what_cannot_be_recorded_runs_eagerly_with_one_warning(body, match: str) -> None:
    _falls_back(body, match)


def test_user_gates_run_eagerly() -> None:
    from pygrad.gates import Gate

    class Square(Gate):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, g):
            return (g * 2 * self.x,)

    model, _ = _setup("SGD", {"lr": 0.05}, "float64")
    x, y = _batches(1, dtype="float64")[0]

    def grads(x):
        for p in model.parameters():
            p.grad = None
        Square()(model(x)).sum().backward()
        return model[0].weight.grad

    compiled = pg.compile(grads)
    want = None
    with pytest.warns(CompileWarning, match=r"custom op|Tensor\.numpy"):  # whichever the gate does first
        for _ in range(3):
            got = compiled(x)
            want = got if want is None else want
            np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_labels_must_be_a_tensor_to_be_followed() -> None:
    model, opt = _setup("SGD", {"lr": 0.05}, "float64")
    m2, o2 = _setup("SGD", {"lr": 0.05}, "float64")
    data = _batches(3, dtype="float64")

    def step_of(model, opt, labels):
        def step(x, k):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), labels[k])  # a numpy array: its values would be frozen
            loss.backward()
            opt.step()
            return loss
        return step

    labels = [y.numpy().copy() for _, y in data]
    eager, compiled = step_of(m2, o2, labels), step_of(model, opt, labels)
    compiled = pg.compile(compiled)
    with pytest.warns(CompileWarning, match="labels"):
        for k in range(6):
            assert eager(data[k % 3][0], k % 3).item() == compiled(data[k % 3][0], k % 3).item()


def test_guards_catch_wrong_shapes_and_bad_labels(train_step) -> None:
    model, opt = _setup("SGD", {"lr": 0.05}, "float32")
    step = pg.compile(train_step(model, opt))
    data = _batches(2)
    for k in range(3):
        step(*data[k % 2])
    assert step.records == 1
    x, y = data[0]
    wrong = pg.tensor(np.ones((8, SIZES[0] + 1)), dtype="float32")
    with pytest.raises(PygradError):  # a new signature: the eager op refuses it
        step(wrong, y)
    bad = pg.tensor(np.full(8, SIZES[-1] + 3))
    with pytest.raises(PygradError, match="cross_entropy"):  # replayed: the op's own check refuses it
        step(x, bad)
    # the C program itself refuses inputs of another shape than recorded
    prog = step._last.prog
    c_in = ffi.new("pg_tensor *[]", [wrong._p, y._p])
    c_out = ffi.new("pg_tensor *[]", 1)
    assert lib.pg_program_run(prog, c_in, 2, c_out) == lib.PG_ERR_SHAPE
    assert "recorded for float32 (8, 6)" in ffi.string(lib.pg_last_error()).decode()
    assert lib.pg_program_run(prog, c_in, 1, c_out) == lib.PG_ERR_VALUE


def test_decorator_forms_and_program_text(train_step) -> None:
    model, opt = _setup("SGD", {"lr": 0.05, "momentum": 0.9}, "float32")

    @pg.compile()
    def a(x, y):
        return train_step(model, opt)(x, y)

    @pg.compile(fullgraph=True)
    def b(x, y):
        return train_step(model, opt)(x, y)

    data = _batches(1)
    for f in (a, b):
        assert f.program is None
        for _ in range(3):
            f(*data[0])
        assert f.records == 1
        text = f.program
        lines = text.splitlines()
        assert any("fwd" in ln and "matmul(in0" in ln for ln in lines)
        assert any("bwd" in ln and "cross_entropy_backward" in ln for ln in lines)
        assert sum("sgd_step(" in ln for ln in lines) == len(list(model.parameters()))
        assert sum(".grad = None" in ln for ln in lines) == len(list(model.parameters()))
    with pytest.raises(TypeError):
        pg.compile(3)


def test_unsupported_arguments_run_eagerly() -> None:
    f = pg.compile(lambda a: pg.tensor(a).sum())
    with pytest.warns(CompileWarning, match="ndarray"):
        for v in range(3):
            assert f(np.full(3, float(v))).item() == 3.0 * v


def test_scalar_program_micrograd_style() -> None:
    """0-d tensors, many small ops, Python floats as constants: the demo's shape of work."""
    rng = np.random.default_rng(5)
    ws = [pg.tensor(float(v), dtype="float64", requires_grad=True) for v in rng.standard_normal(6)]
    ws2 = [pg.tensor(w.item(), dtype="float64", requires_grad=True) for w in ws]

    def step_of(ws):
        def step(x0, x1):
            h = (ws[0] * x0 + ws[1] * x1 + ws[2]).tanh()
            out = (ws[3] * h + ws[4]).relu() * ws[5] - 0.5
            loss = (out - 1.0) ** 2 + 1e-3 * sum(w * w for w in ws)
            for w in ws:
                w.grad = None
            loss.backward()
            with pg.no_grad():
                pass
            return loss
        return step

    eager, compiled = step_of(ws), pg.compile(step_of(ws2))
    for k in range(6):
        x0 = pg.tensor(float(k) / 3, dtype="float64")
        x1 = pg.tensor(1.0 - k / 5, dtype="float64")
        assert eager(x0, x1).item() == compiled(x0, x1).item()
        _assert_same([w.grad.numpy() for w in ws], [w.grad.numpy() for w in ws2])
    assert compiled.records == 1


def test_nothing_is_recorded_when_not_compiling(train_step) -> None:
    """The hooks are inert outside a recording: eager results and warnings unchanged."""
    model, opt = _setup("SGD", {"lr": 0.05}, "float32")
    x, y = _batches(1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = train_step(model, opt)(x, y)
        assert isinstance(loss.item(), float) and bool(loss > 0)
    assert lib.pg_program_size(ffi.NULL) == 0


def test_custom_op_with_a_python_backward_runs_eagerly() -> None:
    from pygrad._autograd import custom_op

    w = pg.tensor([1.5, -2.0], dtype="float64", requires_grad=True)

    def f(x):
        w.grad = None
        y = custom_op([w], w * x, lambda g, needs: [g * x])  # d(w x)/dw = x
        y.sum().backward()
        return w.grad

    compiled = pg.compile(f)
    with pytest.warns(CompileWarning, match="custom op"):
        for v in (1.0, 2.0, 3.0):
            got = compiled(pg.tensor([v, 2 * v], dtype="float64"))
            np.testing.assert_array_equal(got.numpy(), [v, 2 * v])
    strict = pg.compile(f, fullgraph=True)
    strict(pg.tensor([1.0, 1.0], dtype="float64"))  # cannot record: a warm-up
    with pytest.raises(CompileError, match="custom op"):
        strict(pg.tensor([1.0, 1.0], dtype="float64"))


def test_a_threads_compile_hook_leaves_other_threads_updates_alone(train_step) -> None:
    import threading

    from pygrad import _compile

    m_b, o_b = _setup("SGD", {"lr": 0.05, "momentum": 0.9}, "float32")
    m_c, o_c = _setup("SGD", {"lr": 0.05, "momentum": 0.9}, "float32")
    x, y = _batches(1)[0]
    _compile._hook_on(lambda *a: True)  # this thread: the updates would be left out (a replay's dry run)
    try:
        t = threading.Thread(target=train_step(m_b, o_b), args=(x, y))
        t.start()
        t.join()
    finally:
        _compile._hook_off()
    train_step(m_c, o_c)(x, y)
    _assert_same(_params(m_b), _params(m_c))
    assert not np.array_equal(_params(m_b)[0], _params(_setup("SGD", {"lr": 0.05}, "float32")[0])[0])


def test_the_first_compile_warms_up_and_changes_nothing(monkeypatch) -> None:
    """The first pygrad.compile of a process records and replays a tiny step of its own (_warm_up):
    the caller's modes, the generator behind manual_seed and the recording hooks are as before."""
    from pygrad import _compile, _recording

    monkeypatch.setattr(_compile, "_warmed", False)
    pg.manual_seed(3)
    expected = pg.rand(5).numpy().copy()
    pg.manual_seed(3)
    with pg.inference_mode():
        step = pg.compile(lambda x: x * 2.0)
        assert pg.is_inference_mode_enabled() and not pg.is_grad_enabled()
    assert _compile._warmed and _compile._hook_users == 0 and _recording.RECORDING == 0
    assert np.array_equal(pg.rand(5).numpy(), expected)
    x = pg.tensor([1.0, 2.0])
    assert [step(x).numpy().tolist() for _ in range(3)] == [[2.0, 4.0]] * 3 and step.records == 1


def test_no_warm_up_inside_a_recording(monkeypatch) -> None:
    """A function compiled while another records (from inside the step) warms nothing up then: the
    tiny step would run inside the outer recording."""
    from pygrad import _compile

    monkeypatch.setattr(_compile, "_warmed", False)
    w = pg.tensor([1.0, -1.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.5)

    def step(x):
        pg.compile(lambda y: y)
        opt.zero_grad()
        loss = (x * w).sum()
        loss.backward()
        opt.step()
        return loss

    fn = pg.compile(step)
    x = pg.tensor([2.0, 3.0])
    fn(x)  # the warm-up call (eager): the inner compile warms up
    monkeypatch.setattr(_compile, "_warmed", False)
    fn(x)  # records
    assert fn.records == 1 and not _compile._warmed


def test_a_replay_lets_the_gil_go(train_step) -> None:
    model, opt = _setup("SGD", {"lr": 0.05}, "float32")
    step = pg.compile(train_step(model, opt))
    data = _batches(1)
    for _ in range(2):
        step(*data[0])
    assert step.records == 1
    lib.pg_py_reset_gil_counts()
    step(*data[0])  # a replay of small ops: eagerly, none of them would let the GIL go
    assert lib.pg_py_gil_count(0) == 1


# ---- new signatures: which guard changed, and the warning after repeated re-records ----

def _recorded(fn, *args, **kwargs):
    """fn compiled and called until it replays (so the next call's signature is compared with args')."""
    c = pg.compile(fn)
    for _ in range(3):
        c(*args, **kwargs)
    assert c.records == 1 and c.rerecords == 0 and c.last_change is None
    return c


def _change(c, *args, **kwargs) -> str:
    n = c.rerecords
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        c(*args, **kwargs)
    assert c.rerecords == n + 1
    return c.last_change


def test_a_new_signature_names_the_argument_guard_that_changed() -> None:
    w = pg.tensor(np.ones((6, 3)), dtype="float32", requires_grad=True)

    def f(x, y, k=1, cfg=None):
        w.grad = None
        ((x @ w).sum() * k + y.sum()).backward()
        return w.grad

    x, y = pg.ones((4, 6)), pg.ones((2,))
    c = _recorded(f, x, y)
    assert _change(c, pg.ones((5, 6)), y) == "argument 0's shape changed from (4, 6) to (5, 6)"
    assert _change(c, x, y.double()) == ("argument 0's shape changed from (5, 6) to (4, 6); "
                                         "argument 1's dtype changed from float32 to float64")
    c(x, y)  # back to the first signature: its program is cached, nothing records
    assert c.rerecords == 2 and c.records == 3  # each new signature records at its first call
    assert _change(c, x, pg.ones((2,), requires_grad=True)) == "argument 1's requires_grad changed from False to True"
    assert _change(c, x, y, 2) == "the number of positional arguments changed from 2 to 3"
    assert _change(c, x, y, 3) == "argument 2 changed from 2 (int) to 3 (int)"
    assert _change(c, x, y, 3.0) == "argument 2 changed from 3 (int) to 3.0 (float)"
    assert _change(c, x, y, k=3.0) == "the number of positional arguments changed from 3 to 2"
    assert _change(c, x, y, k=3.0, cfg=[1]) == "the keyword arguments changed from ['k'] to ['k', 'cfg']"
    assert _change(c, x, y, k=3.0, cfg=[1, 2]) == \
        "the nesting of the arguments (tuples, lists, dicts, their lengths) changed"
    assert _change(c, x, y, k=3.0, cfg=[1, "a"]) == "argument cfg[1] changed from 2 (int) to 'a'"
    assert _change(c, x, y, k=3.0, cfg=[1, pg.ones((2,))]) == \
        "argument cfg[1] changed from 'a' to a float32 tensor of shape (2,)"
    # one tensor passed twice: the program reads one input in both places
    s = pg.ones((4, 6))
    assert _change(c, s, y, k=3.0, cfg=[1, s]) == ("argument cfg[1]'s shape changed from (2,) to (4, 6); argument "
                                                   "cfg[1] was a tensor of its own, and is the same tensor as "
                                                   "argument 0 now")
    assert _change(c, s, y, k=3.0, cfg=[1, pg.ones((4, 6))]) == \
        "argument cfg[1] was the same tensor as argument 0, and is a tensor of its own now"


def test_a_new_signature_names_the_captured_guard_that_changed() -> None:
    model = nn.MLP([6, 8, 4], generator=0)
    extra = [pg.tensor(np.ones(4), dtype="float32")]
    scale = {"value": 0.5}

    def step(x, y):
        for p in model.parameters():
            p.grad = None
        loss = F.cross_entropy(model(x) + extra[0], y) * scale["value"]
        loss.backward()
        return loss

    x, y = _batches(1)[0]
    step = _recorded(step, x, y)
    extra[0] = pg.tensor(np.zeros(4), dtype="float32")
    assert _change(step, x, y) == "the tensor `extra[0]` (a closure variable) is another tensor object"
    scale["value"] = 0.25
    assert _change(step, x, y) == ("the value of `scale['value']` (a closure variable) changed from 0.5 (float) to "
                                   "0.25 (float)")
    model.eval()
    assert _change(step, x, y) == ("the training flag `model.training` (a closure variable) and 3 more training "
                                   "flags changed from True to False")
    model.train()
    step(x, y)  # cached
    model[2].bias = nn.Parameter(pg.ones((4,)))  # re-registered last: as many tensors, another one, in order
    assert _change(step, x, y) == "the tensor `model.2.bias` (a closure variable) is another tensor object"
    model[2].weight = model[2].weight  # the same tensor where it was: nothing changed
    step(x, y)
    model[2].weight = nn.Parameter(pg.ones((8, 4)))
    extra.append(pg.ones(()))
    assert _change(step, x, y) == ("what the function reaches changed (21 guarded places, now 22), first: `extra` "
                                   "(a closure variable) changed length from 1 to 2; new: the tensor `extra[1]` (a "
                                   "closure variable), the tensor `model.2.weight` (a closure variable)")
    extra.pop()
    assert _change(step, x, y) == ("what the function reaches changed (22 guarded places, now 21), first: `extra` "
                                   "(a closure variable) changed length from 2 to 1")
    model[1].extra_scale = 2  # a module's plain attribute (a forward could read it: a constant of the program)
    assert _change(step, x, y) == ("what the function reaches changed (21 guarded places, now 22), first: the "
                                   "attribute `model.1.extra_scale` (a closure variable) is new")
    model[1].extra_scale = 3
    assert _change(step, x, y) == ("the attribute `model.1.extra_scale` (a closure variable) changed from 2 (int) "
                                   "to 3 (int)")
    setattr(model, "1", nn.Tanh())
    assert _change(step, x, y) == ("what the function reaches changed (22 guarded places, now 20), first: the "
                                   "module `model.1` (a closure variable) changed class from ReLU to Tanh")
    scale["other"] = 1
    assert _change(step, x, y) == ("what the function reaches changed (20 guarded places, now 21), first: `scale` "
                                   "(a closure variable) changed keys from ['value'] to ['value', 'other']")


def test_a_new_signature_names_the_optimizer_tensors_that_changed(train_step) -> None:
    model, opt = _setup("SGD", {"lr": 0.05, "momentum": 0.9}, "float32")
    x, y = _batches(1)[0]
    step = _recorded(train_step(model, opt), x, y)
    opt.load_state_dict(opt.state_dict())  # new state tensors, equal values
    assert _change(step, x, y).startswith("the tensor `opt.state[id(opt.param_groups[0]['params'][0])]"
                                          "['momentum_buffer']` (a closure variable) is another tensor object")


def test_a_new_signature_names_grad_mode_globals_and_self() -> None:
    model = nn.MLP([6, 8, 4], generator=0)
    x, _ = _batches(1)[0]

    class Net:
        def __init__(self) -> None:
            self.temperature = 2.0

        def predict(self, x):
            return (model(x) / self.temperature).softmax(axis=1)

    net = Net()
    with pg.no_grad():
        c = _recorded(net.predict, x)
        net.temperature = 4.0
        assert _change(c, x) == "the value of `self.temperature` changed from 2.0 (float) to 4.0 (float)"
    with pg.inference_mode():
        assert _change(c, x) == "inference mode changed from off to on"
    with pg.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)  # a live graph: it runs eagerly
        assert _change(c, x) == "grad mode changed from disabled to enabled; inference mode changed from on to off"
    global _SCALE
    _SCALE = 1.0
    with pg.no_grad():
        g = _recorded(_global_scaled, x)
        _SCALE = 3
        assert _change(g, x) == "the value of `_SCALE` (a global) changed from 1.0 (float) to 3 (int)"


_SCALE = 1.0


def _global_scaled(x):
    return x * _SCALE


def test_repeated_new_signatures_warn_once_naming_the_latest_change(train_step) -> None:
    from pygrad._compile import RERECORD_WARN_AFTER

    model, opt = _setup("Adam", {"lr": 0.01}, "float32")
    step = pg.compile(train_step(model, opt))
    batches = [_batches(1, batch=b, seed=b)[0] for b in range(2, 2 + RERECORD_WARN_AFTER + 3)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k, (x, y) in enumerate(batches):
            for _ in range(3):  # warm-up, recording, a replay
                step(x, y)
            assert step.rerecords == k
            n = len([w for w in caught if issubclass(w.category, CompileWarning)])
            assert n == (1 if k >= RERECORD_WARN_AFTER else 0), (k, n)
    warned = [w for w in caught if issubclass(w.category, CompileWarning)]
    assert len(warned) == 1
    msg = str(warned[0].message)
    b = 2 + RERECORD_WARN_AFTER
    assert f"met a new signature {RERECORD_WARN_AFTER} times" in msg
    assert f"argument 0's shape changed from ({b - 1}, 6) to ({b}, 6); argument 1's shape changed" in msg
    assert warned[0].filename == __file__  # points at the call
    assert step.records == len(batches)


def test_lazily_made_optimizer_state_is_not_a_new_signature(train_step) -> None:
    """The state Adam makes at its first step is made before the first call records (the call records
    under the signature with it); the state after each call is the eager twin's."""
    model, opt = _setup("Adam", {"lr": 0.01}, "float32")
    m_e, o_e = _setup("Adam", {"lr": 0.01}, "float32")
    step, eager = pg.compile(train_step(model, opt)), train_step(m_e, o_e)
    x, y = _batches(1)[0]
    for k in range(3):
        assert step(x, y).numpy().tobytes() == eager(x, y).numpy().tobytes()
        assert step.records == 1 and step.rerecords == 0
        got, want = opt.state_dict()["state"], o_e.state_dict()["state"]
        assert sorted(got) == sorted(want)
        for i in want:
            assert sorted(got[i]) == sorted(want[i]) and got[i]["step"] == want[i]["step"] == k + 1
            for name in ("exp_avg", "exp_avg_sq"):
                np.testing.assert_array_equal(got[i][name], want[i][name])


def test_a_modules_plain_attributes_are_guarded() -> None:
    """A forward that reads a module's attribute bakes its value into the program: a new value records again."""
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(pg.tensor(np.linspace(-1, 1, 3)))
            self.scale = 1.0

        def forward(self, x):
            return (x * self.w * self.scale).sum()

    m = Scaled()
    x = pg.tensor(np.ones(3))

    def f(x):
        m.w.grad = None
        y = m(x)
        y.backward()
        return y, m.w.grad

    c = pg.compile(f)
    with pytest.warns(CompileWarning, match=r"the attribute `m.scale` \(a closure variable\) changed from -0.5 "
                      r"\(float\) to 3 \(int\)"):
        for s in (1.0, 1.0, 1.0, 2.0, 2.0, 2.0, -0.5, 3):
            m.scale = s
            (y, g), (ye, ge) = c(x), f(x)
            assert y.item() == ye.item()
            np.testing.assert_array_equal(g.numpy(), ge.numpy())
            np.testing.assert_array_equal(g.numpy(), np.full(3, float(s)))
    assert c.records == 4  # 1.0, 2.0, -0.5 and 3: each recorded at its first call


def test_the_naming_walk_meets_what_the_guard_meets(train_step) -> None:
    """The names in a new signature's explanation come from a second walk: it must visit the
    same places in the same order as the guard's own walk."""
    model, opt = _setup("Adam", {"lr": 0.01}, "float32")
    holder = types_ns(w=pg.ones((4,)), cfg={"k": 2, "t": (pg.ones(()), 0.5)}, flag=True)
    x, y = _batches(1)[0]

    def step(x, y, extra, scale=0.5):
        loss = train_step(model, opt)(x, y) + holder.w.sum() * holder.cfg["k"] + extra[0].sum() * scale
        return loss

    c = pg.compile(step)
    args = (x, y, [pg.ones((2,)), model[0]])
    c(*args)  # makes Adam's state
    key, inputs, captured, bad = c._signature(args, {})
    names: list[str] = []
    key2, _, captured2, _ = c._signature(args, {}, names)
    assert bad is None and key == key2 and [id(t) for t in captured] == [id(t) for t in captured2]
    assert len(names) == len(key[2])
    assert len(inputs) == 3  # x, y and extra[0]: tensor arguments, not captured
    got = set(names)
    assert "the tensor `holder.w` (a closure variable)" in got
    assert not any("holder.cfg['t']" in n for n in got)  # three levels down: not followed
    assert "the tensor `args[2][1].weight`" in got  # the arguments are walked first
    assert "the module `model.0` (a closure variable)" in got  # met again (an "again" entry)
    assert "the tensor `model.2.weight` (a closure variable)" in got
    assert "the tensor `opt.state[id(opt.param_groups[0]['params'][5])]['exp_avg']` (a closure variable)" in got
    assert "the value of `holder.flag` (a closure variable)" in got
    assert "the value of `holder.cfg['k']` (a closure variable)" in got
    assert "the training flag `args[2][1].training`" in got
    assert "the optimizer `opt` (a closure variable)" in got
    # flat positional arguments take a shorter path to the same signature
    step2 = pg.compile(train_step(model, opt))
    key, _, captured, _ = step2._signature((x, y), {})
    key2, _, captured2, _ = step2._signature((x, y), {}, [])
    assert key == key2 and [id(t) for t in captured] == [id(t) for t in captured2]


class types_ns:  # noqa: N801 - a plain object with attributes
    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)


def test_dropout_draws_a_new_mask_at_each_replay() -> None:
    w = pg.tensor(np.ones((4, 64)), requires_grad=True)
    drop = nn.Dropout(0.5)

    def step(x):
        w.grad = None
        y = drop(x @ w)
        y.sum().backward()
        return y

    c = pg.compile(step)
    x = pg.tensor(np.ones((3, 4)))
    masks = [(c(x).numpy() != 0) for _ in range(5)]
    assert c.records == 1
    # eagerly, two calls share a mask with probability 2**-192: replays must differ too
    assert not np.array_equal(masks[3], masks[4])


def test_attention_dropout_records_and_draws_each_replay() -> None:
    """Attention with dropout is a random op of the program: each replay draws its seed from the same
    generator as the eager call, so compiled and eager steps agree bit for bit, step after step."""
    rng = np.random.default_rng(3)
    arrs = [rng.standard_normal(s) for s in ((2, 5, 4), (2, 7, 4), (2, 7, 3))]

    def make():
        gen = np.random.default_rng(17)
        ts = [pg.tensor(a, requires_grad=True) for a in arrs]

        def f():
            for t in ts:
                t.grad = None
            o = F.scaled_dot_product_attention(*ts, dropout_p=0.3, is_causal=True, generator=gen)
            (o * o).sum().backward()
            return o, ts[0].grad, ts[1].grad, ts[2].grad
        return f

    eager, compiled = make(), pg.compile(make())
    outs = []
    for _ in range(5):
        e, c = eager(), compiled()
        for a, b in zip(e, c, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        outs.append(c[0].numpy())
    assert compiled.records == 1
    assert not np.array_equal(outs[3], outs[4])


# ---- guard holes: a change the old signature could not see replayed a stale program ----

def _same_as_eager(fn, change, *args) -> str:
    """fn compiled and replaying, then change() applied: the next call must match the eager call."""
    c = _recorded(fn, *args)
    want_before = fn(*args)
    change()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        got = c(*args)
    want = fn(*args)
    np.testing.assert_array_equal(np.asarray(got.numpy()), np.asarray(want.numpy()))
    assert not np.array_equal(np.asarray(want.numpy()), np.asarray(want_before.numpy()))  # the change matters
    return c.last_change


def test_one_small_int_rebound_to_another_names_value_is_seen() -> None:
    """Numbers are compared at every place: small ints are shared objects, and a
    guard that skipped objects met before missed B = 2 -> 1 while A is 1 and C is 2."""
    cfg = types_ns(a=1, b=2, c=2)
    x = pg.tensor(np.ones(3))

    def f(x):
        with pg.no_grad():
            return x.sum() * cfg.a + cfg.b * 10 + cfg.c * 100

    def change():
        cfg.b = 1
    assert _same_as_eager(f, change, x) == "the value of `cfg.b` (a closure variable) changed from 2 (int) to 1 (int)"


def test_a_tied_weight_untied_to_another_reached_tensor_is_seen() -> None:
    w1, w2 = pg.tensor(np.ones(3)), pg.tensor(np.full(3, 2.0))
    net = {"enc": w1, "dec": w1, "other": w2}
    x = pg.tensor(np.arange(3.0))

    def f(x):
        with pg.no_grad():
            return (x * net["enc"] + x * net["dec"] * 10).sum() + net["other"].sum()

    def change():
        net["dec"] = w2
    assert _same_as_eager(f, change, x) == "the tensor `net['dec']` (a closure variable) is another tensor object"


def test_a_second_name_for_one_list_rebound_to_another_reached_list_is_seen() -> None:
    l1, l2 = [pg.tensor(np.ones(3))], [pg.tensor(np.full(3, 2.0))]
    net = types_ns(a=l1, b=l1, c=l2)
    x = pg.tensor(np.arange(3.0))

    def f(x):
        with pg.no_grad():
            return (x * net.a[0]).sum() + (x * net.b[0]).sum() * 10 + net.c[0].sum()

    def change():
        net.b = l2
    assert "`net.b` (a closure variable)" in _same_as_eager(f, change, x)


def test_a_module_of_another_class_with_the_same_attributes_is_seen() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    x = pg.tensor(np.linspace(-2, 2, 8).reshape(2, 4), dtype="float32")

    def f(x):
        with pg.no_grad():
            return model(x)

    def change():
        setattr(model, "1", nn.Tanh())
    why = _same_as_eager(f, change, x)
    assert "the module `model.1` (a closure variable) changed class from ReLU to Tanh" in why


def test_a_new_optimizer_over_the_same_parameters_is_seen() -> None:
    """Replays run the recorded optimizer's own _update for the scalars: a new optimizer
    object (here without state tensors, so no tensor told) must record again."""
    model = nn.MLP([4, 3], generator=0)
    holder = {"opt": optim.SGD(model.parameters(), lr=0.1)}
    x, y = pg.tensor(np.ones((2, 4)), dtype="float32"), pg.tensor(np.array([0, 1]))

    def step_of(model, holder):
        def step(x, y):
            opt = holder["opt"]
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    m2 = nn.MLP([4, 3], generator=0)
    h2 = {"opt": optim.SGD(m2.parameters(), lr=0.1)}
    eager, compiled = step_of(m2, h2), pg.compile(step_of(model, holder))
    for k in range(6):
        if k == 3:
            holder["opt"] = optim.SGD(model.parameters(), lr=5.0)
            h2["opt"] = optim.SGD(m2.parameters(), lr=5.0)
        assert compiled(x, y).item() == eager(x, y).item()
    _assert_same(_params(m2), _params(model))
    assert compiled.last_change.startswith("the optimizer `holder['opt']` (a closure variable) is another "
                                           "optimizer object")


def test_moving_a_tensor_between_two_reached_lists_is_seen() -> None:
    a, b = pg.tensor(np.ones(2)), pg.tensor(np.full(2, 3.0))
    blocks = [[a, b], []]
    x = pg.tensor(np.arange(2.0))

    def f(x):
        with pg.no_grad():
            out = x.sum() * 0
            for i, blk in enumerate(blocks):
                for w in blk:
                    out = out + (x * w).sum() * (i + 1)
            return out

    def change():
        blocks[1].append(blocks[0].pop())
    assert "changed length from 2 to 1" in _same_as_eager(f, change, x)


def test_a_replay_whose_optimizer_tensors_changed_records_again_with_the_state_put_back(train_step) -> None:
    """The replay's dry run of Optimizer._update hands over the tensors the update would use:
    other tensors than recorded (reachable only where the guard does not look) abandon the
    replay, and the step counts the dry run advanced are put back."""
    model, opt = _setup("Adam", {"lr": 0.01}, "float32")
    x, y = _batches(1)[0]
    step = _recorded(train_step(model, opt), x, y)
    entry = step._last
    p0 = next(model.parameters())
    steps = [opt.state[id(p)]["step"] for p in model.parameters()]
    opt.state[id(p0)]["exp_avg"] = pg.zeros(p0.shape)
    from pygrad._compile import _RERECORD
    assert step._replay(entry, [x, y]) is _RERECORD
    assert [opt.state[id(p)]["step"] for p in model.parameters()] == steps
    opt.state.pop(id(p0))  # a state made by the dry run is dropped again
    assert step._replay(entry, [x, y]) is _RERECORD
    assert id(p0) not in opt.state


class _LoggedSGD(optim.SGD):
    """An optimizer whose own _update runs at each replay (the dry run), not the fast path."""

    calls = 0

    def _update(self, p, grad, state, g):
        type(self).calls += 1
        super()._update(p, grad, state, g)


@pytest.mark.parametrize(("opt_name", "kw"), OPTIMIZERS + [("_LoggedSGD", {"lr": 0.05, "momentum": 0.9})],
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPTIMIZERS)] + ["subclass"])
def test_groups_with_their_own_hyperparameters_replay_as_eagerly(train_step, opt_name: str, kw: dict) -> None:
    """The scalars of each update (computed without the optimizer's dry run for pygrad's
    own optimizers, by the dry run for one whose _update is overridden): two parameter
    groups, one's lr changed by hand between calls, the step counts advanced per parameter."""
    data = _batches(3, dtype="float64")
    runs = []
    for compiled in (False, True):
        model = pg.nn.MLP(SIZES, dtype="float64", generator=0)
        ps = list(model.parameters())
        groups = [{"params": ps[:2]}, {"params": ps[2:], "lr": kw["lr"] * 2}]
        cls = _LoggedSGD if opt_name == "_LoggedSGD" else getattr(optim, opt_name)
        opt = cls(groups, **kw)
        step = train_step(model, opt)
        fn = pg.compile(step) if compiled else step
        calls0 = _LoggedSGD.calls
        losses = []
        for k in range(12):
            if k == 7:
                opt.param_groups[1]["lr"] = kw["lr"] / 3
            losses.append(fn(*data[k % 3]).numpy().copy())
        if compiled:
            assert fn.records == 1
            if opt_name == "_LoggedSGD":  # every call ran the overridden _update for every parameter
                assert _LoggedSGD.calls - calls0 == 12 * len(ps)
        runs.append((losses, _params(model), [opt.state[id(p)]["step"] for p in ps]))
    (le, pe, se), (lc, pc, sc) = runs
    _assert_same(le, lc)
    _assert_same(pe, pc)
    assert se == sc == [12] * len(se)


def test_a_replaced_state_tensor_in_a_later_group_puts_every_step_count_back(train_step) -> None:
    """The replay advances the step counts group by group; a state tensor replaced in the
    second group abandons the replay with the first group's counts put back as well."""
    model = pg.nn.MLP(SIZES, dtype="float32", generator=0)
    ps = list(model.parameters())
    opt = optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.01}], lr=0.05, momentum=0.9)
    x, y = _batches(1)[0]
    step = _recorded(train_step(model, opt), x, y)
    entry = step._last
    steps = [opt.state[id(p)]["step"] for p in ps]
    opt.state[id(ps[-1])]["momentum_buffer"] = pg.zeros(ps[-1].shape)
    from pygrad._compile import _RERECORD
    assert step._replay(entry, [x, y]) is _RERECORD
    assert [opt.state[id(p)]["step"] for p in ps] == steps
    for _ in range(3):  # a new signature (the guard sees the new buffer): a warm-up, a recording, a replay
        step(x, y)
    assert step.records == 2
    assert [opt.state[id(p)]["step"] for p in ps] == [k + 3 for k in steps]


def test_recording_reuses_the_buffers_the_step_drops():
    """While recording, a value the step dropped goes back to the storage cache before
    the next op allocates: a chain of large values records in the buffers the eager
    step uses (no fresh block), and replays bit-identical to the eager chain."""
    x = pg.tensor(np.random.default_rng(3).standard_normal(1 << 20).astype(np.float32))  # 4 MiB

    def chain(t):
        with pg.no_grad():
            y = (t * 1.5 + 0.25).relu()
            y = y * y + t
            y = (y * 0.5).clamp(0.0, 4.0)
            return (y - t).abs() + 1.0

    step = pg.compile(chain)
    want = chain(x).numpy()
    step(x)  # warm-up: the eager step's buffers are in the cache afterwards
    before = pg.memory_stats()
    got = step(x)  # records
    after = pg.memory_stats()
    assert step.records == 1
    assert after["cache_misses"] == before["cache_misses"]
    assert after["cache_hits"] > before["cache_hits"]
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(step(x).numpy(), want)  # replayed


def test_two_threads_share_a_compiled_step():
    """Threads calling one compiled step take turns (each call sets the program's scalars and runs it):
    the same parameters as the same number of eager steps, no 'already running' error."""
    import threading

    def make():
        rng = np.random.default_rng(0)
        w = pg.tensor(rng.standard_normal((8, 4)), requires_grad=True)
        opt = pg.optim.Adam([w], lr=0.01)
        x = pg.tensor(rng.standard_normal((16, 8)))

        def step():
            opt.zero_grad()
            loss = ((x @ w).tanh() ** 2).sum()
            loss.backward()
            opt.step()
            return loss

        return w, step

    w_e, eager = make()
    for _ in range(3 + 2 * 25):
        eager()
    w_c, step = make()
    compiled = pg.compile(step)
    for _ in range(3):
        compiled()  # warm-up, record, first replay
    errors = []

    def worker():
        try:
            for _ in range(25):
                compiled()
        except Exception as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and compiled.records == 1
    np.testing.assert_array_equal(w_c.numpy(), w_e.numpy())  # Adam's steps are order-independent here


def test_fallback_names_the_library_call_and_the_users_line():
    """A value read by one of pygrad's own functions (F.accuracy reads the scores and labels into
    Python) is named in the warning, with the line of the user's function that called it;
    a read the user wrote is named by its line alone."""
    import inspect
    lin = nn.Linear(4, 3, dtype="float64")
    y = pg.tensor([2, 0])

    def step(x):
        lin.zero_grad()
        loss = lin(x).sum()
        loss.backward()
        nn.functional.accuracy(lin(x), y)
        return loss

    def step2(x):
        return (x * 2).sum().item()

    line = inspect.getsourcelines(step)[1] + 4
    x = pg.tensor(np.ones((2, 4)))
    f = pg.compile(step)
    with pytest.warns(CompileWarning) as caught:
        for _ in range(3):
            assert f(x).item() == pytest.approx(lin(x).sum().item())
    (msg,) = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert msg.endswith(f"made by pygrad.nn.functional.accuracy at test_compile.py:{line}"), msg
    g = pg.compile(step2)
    line2 = inspect.getsourcelines(step2)[1] + 1
    with pytest.warns(CompileWarning, match=rf"cannot record Tensor\.item\(\) \(a tensor value read into "
                                            rf"Python\) at test_compile\.py:{line2}$"):
        for _ in range(3):
            assert g(pg.tensor([1.0, 2.0])) == 6.0


@pytest.mark.parametrize("name", ["pad", "pad-crop", "tril", "triu", "cumprod", "norm-2", "norm-3", "norm-0",
                                  "norm-inf"])
def test_composed_ops_record_and_replay(name: str) -> None:
    """pad (constant), tril/triu, cumprod and norm record under fullgraph=True (ops only, no numpy on
    values) and a replay with new values matches eager, forward and gradient."""
    F = pg.nn.functional  # noqa: N806
    fns = {
        "pad": lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), "pad-crop": lambda x: F.pad(x, (-1, 2)),
        "tril": lambda x: x.tril(-1), "triu": lambda x: x.triu(1), "cumprod": lambda x: x.cumprod(1),
        "norm-2": lambda x: x.norm(dim=1), "norm-3": lambda x: x.norm(3, 0),
        "norm-0": lambda x: x.norm(0, 1) + x.sum(1), "norm-inf": lambda x: x.norm(float("inf"), 1),
    }

    def step(x):
        y = fns[name](x)
        y.backward(pg.ones(*y.shape))
        return y, x.grad

    strict = pg.compile(step, fullgraph=True)
    rng = np.random.default_rng(3)
    for _ in range(4):
        a = rng.standard_normal((3, 4))
        a[0, 1] = 0.0
        got_y, got_g = strict(pg.tensor(a, requires_grad=True))
        x = pg.tensor(a, requires_grad=True)
        want_y, want_g = step(x)
        np.testing.assert_allclose(got_y.numpy(), want_y.numpy(), rtol=1e-12, atol=0)
        np.testing.assert_allclose(got_g.numpy(), want_g.numpy(), rtol=1e-12, atol=0)
    assert strict.records == 1
