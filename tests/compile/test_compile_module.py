"""pygrad.compile(model), as ``torch.compile(model)``: the module's forward compiled, the module
reached as the bound object (its parameters and buffers are the program's captured tensors), its
attributes read through the compiled object. Checked against the module run eagerly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pygrad as pg
from pygrad import nn, optim
from pygrad._compile import CompileError, CompileWarning
from pygrad.nn import functional as F


def _model(dtype: str = "float32"):
    return nn.Sequential(nn.Linear(6, 16, dtype=dtype, generator=1), nn.GELU(),
                         nn.LayerNorm(16, dtype=dtype), nn.Linear(16, 4, dtype=dtype, generator=2))


def _inputs(n: int, dtype: str = "float32"):
    rng = np.random.default_rng(3)
    return [pg.tensor(rng.standard_normal((5, 6)), dtype=dtype) for _ in range(n)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_compiled_module_records_at_its_first_call_and_replays(dtype: str) -> None:
    model = _model(dtype)
    cm = pg.compile(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        with pg.no_grad():
            for x in _inputs(5, dtype):
                assert cm(x).numpy().tobytes() == model(x).numpy().tobytes()
    assert cm.records == 1 and cm.fast_calls == 3
    assert "matmul(in0, c" in cm.program


def test_the_module_trained_eagerly_between_calls_is_seen() -> None:
    """The parameters are captured tensors read at each run: an optimizer step outside the compiled
    forward changes what the next replay computes, with no new recording."""
    model = _model()
    cm = pg.compile(model)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, xs = _inputs(1)[0], _inputs(4)
    y = pg.tensor(np.array([0, 1, 2, 3, 1]))
    for xi in xs:
        with pg.no_grad():
            assert cm(xi).numpy().tobytes() == model(xi).numpy().tobytes()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert cm.records == 1


def test_its_attributes_are_the_modules() -> None:
    model = _model()
    cm = pg.compile(model)
    assert [id(p) for p in cm.parameters()] == [id(p) for p in model.parameters()]
    assert cm.state_dict().keys() == model.state_dict().keys()
    assert dict(cm.named_children())["0"] is model[0]
    cm.eval()
    assert model.training is False
    with pytest.raises(AttributeError, match="no_such_thing"):
        cm.no_such_thing  # noqa: B018


def test_train_and_eval_are_two_signatures() -> None:
    """The training flag is guarded: eval() after train() records the other mode once, and each mode
    replays its own program (dropout off in eval, drawn from the generator at each run in train)."""
    def make():
        pg.manual_seed(5)
        return nn.Sequential(nn.Linear(6, 8, generator=1), nn.Dropout(0.5), nn.Linear(8, 2, generator=2))

    eager, model = make(), make()
    cm = pg.compile(model)
    xs = _inputs(6)
    pg.manual_seed(9)
    with pg.no_grad():
        want = []
        for k, x in enumerate(xs):
            eager.train(k % 2 == 0)
            want.append(eager(x).numpy().copy())
        pg.manual_seed(9)
        for k, x in enumerate(xs):
            cm.train(k % 2 == 0)
            assert cm(x).numpy().tobytes() == want[k].tobytes()
    assert cm.records == 2


def test_with_grad_mode_on_it_runs_eagerly_and_says_why() -> None:
    """A compiled forward cannot return a graph: with grad mode on, the first call is the warm-up, the
    second warns (naming the module's class) and the module runs eagerly, its output differentiable."""
    model = _model("float64")
    cm = pg.compile(model)
    x = _inputs(1, "float64")[0]
    out = cm(x)
    with pytest.warns(CompileWarning, match=r"pygrad.compile: Sequential runs eagerly: cannot record returning a "
                                            r"tensor whose graph is still alive"):
        out = cm(x)
    out.sum().backward()
    assert model[0].weight.grad is not None and cm.records == 0
    strict = pg.compile(_model("float64"), fullgraph=True)
    strict(x)
    with pytest.raises(CompileError, match="Sequential: cannot record returning a tensor whose graph"):
        strict(x)


def test_pytorchs_arguments_are_taken() -> None:
    """torch.compile's keywords: disable=True returns the function itself; mode, backend, dynamic,
    options and name change nothing; mode with options is refused, as PyTorch refuses it."""
    def f(x):
        with pg.no_grad():
            return (x * 2.0).sum()

    assert pg.compile(f, disable=True) is f
    x = pg.tensor(np.arange(4.0))
    for kw in ({"mode": "reduce-overhead"}, {"mode": "max-autotune", "dynamic": True, "name": "step"},
               {"backend": "inductor", "options": {"triton.cudagraphs": False}}, {"dynamic": False}):
        c = pg.compile(f, **kw)
        assert c(x).item() == c(x).item() == 12.0 and c.records == 1, kw
        assert pg.compile(**kw)(f)(x).item() == 12.0
    with pytest.raises(RuntimeError, match="either mode or options"):
        pg.compile(f, mode="default", options={})
    with pytest.raises(TypeError, match="mode must be a string"):
        pg.compile(f, mode=3)
    with pytest.raises(TypeError, match="expected a function or a module, got int"):
        pg.compile(3)


def test_pytorchs_keywords_are_all_taken_but_its_recompile_controls() -> None:
    torch = pytest.importorskip("torch")
    import inspect

    ours = set(inspect.signature(pg.compile).parameters)
    theirs = set(inspect.signature(torch.compile).parameters)
    # left out on purpose: PyTorch's recompilation controls, whose meaning (fall back to eager after a
    # limit, per-region caches, shape specs) pygrad's per-function cache of programs does not share
    assert theirs - ours <= {"recompile_limit", "isolate_recompiles", "shapes_spec"}
    assert "model" in ours
