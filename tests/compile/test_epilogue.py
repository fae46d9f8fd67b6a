"""pygrad.compile runs a matmul's bias add and the ReLU after it, and the ReLU
backward that reads a matmul's dX, in the GEMM's epilogue (csrc/program.c,
"GEMM epilogues"): on each panel of the product once its sums are final,
with the ops' own expressions. The results must be bit-identical to the eager
step and to the replay without epilogues (PYGRAD_COMPILE_EPILOGUE=0 at
recording time), on every path of the GEMM: the naive kernel (tiny), the
direct kernel (small, one thread), the narrow kernel (N <= 16), the blocked
driver with several K blocks, and the split and team drivers on 2 threads,
where a backward's two products also run at once, one on each thread.
"""

from __future__ import annotations

import numpy as np
import pytest

import pygrad as pg

CASES = [  # (layer sizes, batch)
    ((3, 4, 2), 2),
    ((20, 24, 24, 5), 9),
    ((64, 96, 10), 33),
    ((300, 200, 200, 10), 70),
    ((600, 256, 256, 10), 128),  # on 2 threads, the backward's products at once
    ((784, 512, 512, 10), 256),  # the team driver on 2 threads (a shared packed B)
]


def _step_fn(train_step, sizes, dtype, seed=0):
    model = pg.nn.MLP(list(sizes), dtype=dtype, generator=seed)
    opt = pg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return train_step(model, opt), model


def _batch(sizes, batch, dtype, seed=1):
    rng = np.random.default_rng(seed)
    x = pg.tensor(rng.standard_normal((batch, sizes[0])), dtype=dtype)
    y = pg.tensor(rng.integers(0, sizes[-1], batch))
    return x, y


def _record(train_step, sizes, dtype, x, y, monkeypatch, epilogue: bool):
    step, model = _step_fn(train_step, sizes, dtype)
    fn = pg.compile(step)
    if not epilogue:
        monkeypatch.setenv("PYGRAD_COMPILE_EPILOGUE", "0")
    fn(x, y)
    fn(x, y)  # records
    monkeypatch.delenv("PYGRAD_COMPILE_EPILOGUE", raising=False)
    return fn, model


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes,batch", CASES)
def test_epilogue_is_bit_identical(train_step, sizes, batch, dtype, threads, monkeypatch):
    old = pg.get_num_threads()
    pg.set_num_threads(threads)
    try:
        x, y = _batch(sizes, batch, dtype)
        eager, m_eager = _step_fn(train_step, sizes, dtype)
        fused, m_fused = _record(train_step, sizes, dtype, x, y, monkeypatch, epilogue=True)
        plain, m_plain = _record(train_step, sizes, dtype, x, y, monkeypatch, epilogue=False)
        eager(x, y)
        eager(x, y)
        assert fused.records == 1 and plain.records == 1
        lines = str(fused.program)
        assert "epilogue" in lines and "epilogue" not in str(plain.program)
        for _ in range(6):
            le, lf, lp = eager(x, y), fused(x, y), plain(x, y)
            assert le.numpy().tobytes() == lf.numpy().tobytes() == lp.numpy().tobytes()
        for pe, pf, pp in zip(m_eager.parameters(), m_fused.parameters(), m_plain.parameters(), strict=True):
            np.testing.assert_array_equal(pf.numpy(), pe.numpy())
            np.testing.assert_array_equal(pp.numpy(), pe.numpy())
            np.testing.assert_array_equal(pf.grad.numpy(), pe.grad.numpy())
    finally:
        pg.set_num_threads(old)


def test_program_shows_what_runs_in_the_epilogue(train_step):
    sizes = (8, 6, 6, 3)
    step, _ = _step_fn(train_step, sizes, "float32")
    fn = pg.compile(step)
    x, y = _batch(sizes, 4, "float32")
    fn(x, y)
    fn(x, y)
    lines = str(fn.program).splitlines()
    fwd = [ln for ln in lines if "= matmul(" in ln]
    assert all("its epilogue runs" in ln for ln in fwd)
    assert sum("[in the matmul's epilogue]" in ln for ln in lines) == 2 * 2 + 1 + 2  # add+relu x2, add, relu bwd x2
    bwd = [ln for ln in lines if "matmul_backward(" in ln]
    assert sum("its epilogue runs" in ln for ln in bwd) == 2  # the first layer's dX is not computed
    # the hidden layers' z = x W + b is not stored: ReLU's backward reads h = relu(z) for its mask
    assert [ln.endswith(", in place]") for ln in fwd] == [True, True, False]
    relu_out = {ln.split()[2] for ln in lines if "= relu(" in ln}
    saved = [ln.split("saved ")[1].split(")")[0] for ln in lines if "relu_backward(" in ln]
    assert len(saved) == 2 and set(saved) <= relu_out


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("grads", ["none", "zeros", "kept"])
@pytest.mark.parametrize("opt_kw", [{"momentum": 0.9}, {}, {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
                                    {"momentum": 0.5, "dampening": 0.3, "maximize": True}])
def test_first_layer_dw_and_update_in_halves(opt_kw, grads, dtype, threads):
    """The first layer's dW (no dX wanted) with its .grad's accumulation and SGD update: on two
    threads each thread makes half of dW's rows and updates them (pg__run_dw_halves) when the
    .grad is None (zero_grad()), else the three run one by one; every way gives eager's bits."""
    sizes, batch = (600, 256, 10), 128

    def build():
        model = pg.nn.MLP(list(sizes), dtype=dtype, generator=5)
        opt = pg.optim.SGD(model.parameters(), lr=0.02, **opt_kw)
        from pygrad.nn import functional as F  # noqa: N812

        def step(x, y):
            if grads != "kept":
                opt.zero_grad(set_to_none=grads == "none")
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step, model

    old = pg.get_num_threads()
    pg.set_num_threads(threads)
    try:
        x, y = _batch(sizes, batch, dtype)
        eager, m_e = build()
        comp, m_c = build()
        fn = pg.compile(comp)
        for _ in range(5):
            assert eager(x, y).numpy().tobytes() == fn(x, y).numpy().tobytes()
        # zero_grad(set_to_none=False) at the first call read the .grads that were None then, which
        # the call made: the second call records again
        assert fn.records == (2 if grads == "zeros" else 1)
        assert "in halves of its rows" in str(fn.program)  # whether it runs so is decided at each run
        for pe, pc in zip(m_e.parameters(), m_c.parameters(), strict=True):
            np.testing.assert_array_equal(pc.numpy(), pe.numpy())
            np.testing.assert_array_equal(pc.grad.numpy(), pe.grad.numpy())
    finally:
        pg.set_num_threads(old)


def test_pre_activation_read_elsewhere_is_stored():
    """z = x W + b is read by more than the ReLU and its backward: the epilogue writes z and h
    apart, and the step stays bit-identical."""
    rng = np.random.default_rng(0)
    w = pg.tensor(rng.standard_normal((5, 4)), dtype="float32", requires_grad=True)
    b = pg.tensor(rng.standard_normal(4), dtype="float32", requires_grad=True)
    v = pg.tensor(rng.standard_normal((4, 3)), dtype="float32", requires_grad=True)

    def f(x):
        w.grad = b.grad = v.grad = None
        z = x @ w + b
        h = z.relu()
        loss = (h @ v).sum() + (z * z).sum()
        loss.backward()
        return loss, w.grad, b.grad, v.grad

    x = pg.tensor(rng.standard_normal((3, 5)), dtype="float32")
    fn = pg.compile(f)
    want = [t.numpy().copy() for t in f(x)]
    fn(x)
    fn(x)
    for _ in range(3):
        for u, t in zip(want, fn(x), strict=True):
            np.testing.assert_array_equal(t.numpy(), u)
    assert "its epilogue runs" in str(fn.program) and "in place" not in str(fn.program)


def test_product_read_twice_is_not_fused():
    """The matmul's product is read again after the add: it must be stored, not fused away."""
    rng = np.random.default_rng(0)
    w = pg.tensor(rng.standard_normal((5, 4)), dtype="float32", requires_grad=True)
    b = pg.tensor(rng.standard_normal(4), dtype="float32", requires_grad=True)

    def f(x):
        w.grad = None
        b.grad = None
        y = x @ w
        z = (y + b).relu() * y
        z.sum().backward()
        return z, w.grad, b.grad

    x = pg.tensor(rng.standard_normal((3, 5)), dtype="float32")
    fn = pg.compile(f)
    want = [t.numpy().copy() for t in f(x)]
    fn(x)
    for _ in range(3):
        got = [t.numpy() for t in fn(x)]
        for u, v in zip(got, want, strict=True):
            np.testing.assert_array_equal(u, v)
    assert "epilogue" not in str(fn.program)


# ---- optimizer updates moved up to just after their gradient (pg__hoist_updates) ----


def _lines(fn):
    return str(fn.program).splitlines()


def test_updates_follow_their_gradient(train_step):
    sizes = (8, 6, 6, 3)
    step, _ = _step_fn(train_step, sizes, "float32")
    fn = pg.compile(step)
    x, y = _batch(sizes, 4, "float32")
    fn(x, y)
    fn(x, y)
    lines = _lines(fn)
    for k, ln in enumerate(lines):
        if "sgd_step(" in ln:
            param = ln.split("sgd_step(")[1].split(",")[0]
            assert f"acc_leaf {param}.grad +=" in lines[k - 1], (k, lines)


@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "RMSprop"])
def test_hoisted_updates_with_param_groups_and_lr_change(train_step, opt_name, monkeypatch):
    """Two parameter groups whose learning rates change after recording: the updates
    run in another order than recorded, each with its own group's scalars."""
    sizes = (12, 10, 10, 4)

    def build():
        model = pg.nn.MLP(list(sizes), dtype="float64", generator=3)
        ps = list(model.parameters())
        cls = getattr(pg.optim, opt_name)
        kw = {"momentum": 0.9} if opt_name == "SGD" else {}
        opt = cls([{"params": ps[:2], "lr": 0.01}, {"params": ps[2:], "lr": 0.03}], **kw)
        return train_step(model, opt), model, opt

    x, y = _batch(sizes, 7, "float64")
    eager, m_e, o_e = build()
    comp, m_c, o_c = build()
    fn = pg.compile(comp)
    for k in range(8):
        if k == 4:
            for o in (o_e, o_c):
                o.param_groups[0]["lr"] = 0.002
                o.param_groups[1]["lr"] = 0.05
        le, lc = eager(x, y), fn(x, y)
        assert le.numpy().tobytes() == lc.numpy().tobytes()
    assert fn.records == 1
    assert any("step(" in ln and "acc_leaf" in prev for prev, ln in zip(_lines(fn), _lines(fn)[1:]))
    for pe, pc in zip(m_e.parameters(), m_c.parameters(), strict=True):
        np.testing.assert_array_equal(pc.numpy(), pe.numpy())


def test_update_of_a_parameter_passed_as_input_stays():
    """The function reads its input after the backward; the input is the parameter
    itself: the update must not move above that read."""
    rng = np.random.default_rng(0)
    w = pg.tensor(rng.standard_normal((4, 4)), dtype="float64", requires_grad=True)
    opt = pg.optim.SGD([w], lr=0.1)

    def f(x, v):
        opt.zero_grad()
        (x @ w).sum().backward()
        r = v * 2.0  # v is w: read before the update, as recorded
        opt.step()
        return r

    x = pg.tensor(rng.standard_normal((3, 4)), dtype="float64")
    fn = pg.compile(f)
    w_eager = pg.tensor(w.numpy().copy(), requires_grad=True)
    opt_e = pg.optim.SGD([w_eager], lr=0.1)

    def f_eager(x, v):
        opt_e.zero_grad()
        (x @ w_eager).sum().backward()
        r = v * 2.0
        opt_e.step()
        return r

    for _ in range(4):
        want = f_eager(x, w_eager.detach()).numpy().copy()
        got = fn(x, w.detach()).numpy()
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(w.numpy(), w_eager.numpy())


@pytest.mark.parametrize("kernel", ["avx512", "avx2", "generic", "naive"])
def test_epilogue_on_every_gemm_kernel(train_step, kernel, monkeypatch):
    from pygrad import _runtime

    try:
        _runtime._set_gemm_kernel(kernel)
    except ValueError:
        pytest.skip(f"this CPU cannot run the {kernel} GEMM kernel")
    try:
        for sizes, batch in CASES[1:4]:
            for dtype in ("float32", "float64"):
                x, y = _batch(sizes, batch, dtype)
                eager, m_eager = _step_fn(train_step, sizes, dtype)
                fused, m_fused = _record(train_step, sizes, dtype, x, y, monkeypatch, epilogue=True)
                eager(x, y)
                eager(x, y)
                for _ in range(3):
                    assert eager(x, y).numpy().tobytes() == fused(x, y).numpy().tobytes()
                for pe, pf in zip(m_eager.parameters(), m_fused.parameters(), strict=True):
                    np.testing.assert_array_equal(pf.numpy(), pe.numpy())
    finally:
        _runtime._set_gemm_kernel("auto")


def test_update_of_a_parameter_captured_twice_stays():
    """A second captured tensor shares the parameter's memory and is read after the
    backward: the update must not move above that read."""
    rng = np.random.default_rng(1)
    w = pg.tensor(rng.standard_normal((4, 4)), dtype="float64", requires_grad=True)
    alias = w.detach()
    opt = pg.optim.SGD([w], lr=0.1)

    def f(x):
        opt.zero_grad()
        (x @ w).sum().backward()
        r = alias * 2.0
        opt.step()
        return r

    x = pg.tensor(rng.standard_normal((3, 4)), dtype="float64")
    fn = pg.compile(f)
    for _ in range(4):
        before = w.numpy().copy()
        got = fn(x).numpy()
        np.testing.assert_array_equal(got, before * 2.0)
