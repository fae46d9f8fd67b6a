"""Parity as a user feature: pygrad.testing, PYGRAD_BACKEND, the parity CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import pygrad
import pygrad.gates as G
import pygrad.reference as ref
import pygrad.reference.gates as RG
from pygrad import _parity_cli
from pygrad.testing import assert_model_parity, assert_parity, engine_name, engines


def test_engines_lists_both() -> None:
    c, r = engines()
    assert c is pygrad._c and r is ref
    assert [engine_name(m) for m in (c, r)] == ["c", "reference"]


def test_correct_functions_pass() -> None:
    rng = np.random.default_rng(0)
    assert_parity(lambda x, w: (x @ w).tanh().sum(axis=0), rng.standard_normal((4, 3)), rng.standard_normal((3, 2)))
    assert_parity(lambda x, engine: engine.maximum(x, 0.0).log_softmax(axis=-1), rng.standard_normal((2, 5)))
    assert_parity(lambda x: (x.exp(), x * 2.0), np.float32(0.5) + np.zeros(3, np.float32))  # two outputs, float32
    assert_parity(lambda x, y: x * y, pygrad.tensor([1.0, 2.0]), ref.tensor([3.0, 4.0]))  # tensors of either engine


def _sigmoid_gate(ns, wrong_backward=False, wrong_forward=False):
    class MySigmoid(ns.Gate):
        def forward(self, x):
            self.s = 1.0 / (1.0 + np.exp(-x))
            return self.s * (1.001 if wrong_forward else 1.0)

        def backward(self, dz):
            local = (1.0 - self.s) * self.s
            return (local * 2.0 if wrong_backward else local) * dz

    return MySigmoid


def _check_my_gate(**kw):
    """The user's gate on the C engine; the reference computes the sigmoid it should equal."""

    def f(x, engine):
        if engine_name(engine) == "c":
            return _sigmoid_gate(G, **kw)()(x)
        return x.sigmoid()

    return f


def test_a_correct_user_gate_passes() -> None:
    assert_parity(_check_my_gate(), np.linspace(-2, 2, 5))


def test_a_wrong_backward_is_caught() -> None:
    with pytest.raises(AssertionError) as info:
        assert_parity(_check_my_gate(wrong_backward=True), np.linspace(-2, 2, 5))
    msg = str(info.value)
    assert "gradient of input 0" in msg and "worst element" in msg and "tolerance" in msg
    assert "output 0" not in msg


def test_a_wrong_forward_is_caught() -> None:
    pattern = r"output 0: worst element \(\d+,\): C=0\.\d+, reference=0\.\d+, .*tolerance"
    with pytest.raises(AssertionError, match=pattern):
        assert_parity(_check_my_gate(wrong_forward=True), np.linspace(-2, 2, 5), grad=False)


def test_the_same_gate_on_both_engines_agrees() -> None:
    def f(x, engine):
        ns = G if engine_name(engine) == "c" else RG
        return _sigmoid_gate(ns)()(x) * 3.0

    assert_parity(f, np.array([[0.5, -1.0], [2.0, 0.1]]))


def test_tolerances_can_be_loosened() -> None:
    f = _check_my_gate(wrong_forward=True)
    assert_parity(f, np.linspace(-1, 1, 3), grad=False, rtol=1e-2)


@pytest.mark.parametrize("engine", engines(), ids=engine_name)
def test_parametrising_a_user_suite_over_both_engines(engine) -> None:
    x = engine.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="fn must be callable"):
        assert_parity(3, np.ones(2))


# ---------------------------------------------------------------------------
# the CLI suite
# ---------------------------------------------------------------------------


def test_parity_cli_passes(capsys) -> None:
    assert _parity_cli.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| matmul | float64 |" in out and "FAIL" not in out
    assert "0 failed" in out


def test_parity_cli_fails_on_a_broken_kernel(monkeypatch, capsys) -> None:
    real_exp = pygrad.Tensor.exp
    monkeypatch.setattr(pygrad.Tensor, "exp", lambda self: real_exp(self) * 1.01)
    assert _parity_cli.main(["--quick"]) == 1
    out = capsys.readouterr().out
    exp_row = next(line for line in out.splitlines() if line.startswith("| exp |"))
    assert exp_row.rstrip().endswith("FAIL |")
    assert "| add | float64 |" in out and next(
        line for line in out.splitlines() if line.startswith("| add |")).rstrip().endswith("pass |")


# ---------------------------------------------------------------------------
# PYGRAD_BACKEND
# ---------------------------------------------------------------------------


def _run(code: str, backend: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYGRAD_BACKEND", None)
    if backend is not None:
        env["PYGRAD_BACKEND"] = backend
    pkg_parent = os.path.dirname(os.path.dirname(pygrad.__file__))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(pkg_parent) or "/")


def test_backend_python_serves_the_reference() -> None:
    code = ("import pygrad as pg; x = pg.tensor([1.0, 2.0], requires_grad=True); (x * x).sum().backward(); "
            "print(pg.backend(), type(x).__module__, x.grad.numpy().tolist())")
    res = _run(code, "python")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["python", "pygrad.reference.tensor", "[2.0,", "4.0]"]
    warning = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(warning) == 1 and "PYGRAD_BACKEND=python" in warning[0] and "reference" in warning[0]


def test_backend_default_is_c_and_silent() -> None:
    res = _run("import pygrad as pg; print(pg.backend(), type(pg.tensor(1.0)).__module__)", None)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["c", "pygrad._tensor"]
    assert res.stderr == ""


def test_backend_unknown_value_says_what_is_allowed() -> None:
    res = _run("import pygrad", "fortran")
    assert res.returncode != 0
    assert "PYGRAD_BACKEND='fortran'" in res.stderr and "'python'" in res.stderr


# ---------------------------------------------------------------------------
# models, losses and optimizer steps
# ---------------------------------------------------------------------------


def test_a_model_from_the_same_state_dict_agrees() -> None:
    x = np.random.default_rng(3).standard_normal((5, 4))
    assert_model_parity(lambda engine: engine.nn.MLP([4, 8, 3], generator=0), x)


def test_a_loss_and_optimizer_steps_agree() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((16, 2)), rng.integers(0, 3, 16)

    def loss(out, engine):
        return engine.nn.functional.cross_entropy(out, y) + engine.nn.functional.svm_loss(out, y)

    assert_model_parity(lambda engine: engine.nn.MLP([2, 16, 3], generator=1), x, loss_fn=loss,
                        make_optimizer=lambda params, engine: engine.optim.Adam(params, lr=1e-2), steps=10)


def test_a_loss_as_a_function_agrees() -> None:
    y = np.array([0, 2, 1])
    scores = np.random.default_rng(5).standard_normal((3, 4))
    assert_parity(lambda s, engine: engine.nn.functional.svm_loss(s, y), scores)


def test_a_broken_layer_is_caught() -> None:
    """A model whose C version computes something else: the report names the output."""

    def make(engine):
        model = engine.nn.MLP([3, 4, 2], generator=2)
        if engine_name(engine) == "c":
            forward = model.forward
            model.forward = lambda x: forward(x) * 1.01
        return model

    with pytest.raises(AssertionError, match="model parity failure:\n  output: worst element"):
        assert_model_parity(make, np.ones((2, 3)))
