"""Regression tests for engine bugs found by the reliability suite (sanitizers, fuzzing).

Each snippet runs in a child process with a timeout, so a regression shows
up as a failed test (with the child's signal or "timed out") instead of a
crashed or hung test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_child(code: str, timeout: float = 30.0) -> str:
    """Run ``code`` in a fresh interpreter importing the pygrad under test; return its stdout.

    Fails the test if the child hangs, dies from a signal or exits non-zero.
    """
    import pygrad

    env = dict(os.environ)
    pkg_parent = str(Path(pygrad.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS thread buffers would count against address-space limits
    try:
        r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                           timeout=timeout, env=env, cwd=str(ROOT / "tests"))
    except subprocess.TimeoutExpired:
        pytest.fail(f"child timed out after {timeout} s running:\n{textwrap.dedent(code)}")
    if r.returncode < 0:
        pytest.fail(f"child killed by signal {-r.returncode}:\n{r.stderr[-3000:]}")
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


HUGE = 2**31 + 1  # two such dims multiply to ~4.6e18: a loop over them never ends
# an address-space limit cannot be set under a sanitizer, whose shadow memory is reserved at start
needs_rlimit = pytest.mark.skipif(os.environ.get("PYGRAD_SANITIZED") == "1",
                                  reason="address-space limits do not mix with sanitizers")


@pytest.mark.parametrize("expr", [
    "pg.zeros(H, H, 0).softmax(axis=2)",
    "pg.zeros(H, H, 0).log_softmax(axis=-1)",
    "pg.zeros(H, H, 0, 3) @ pg.zeros(3, 4)",
    "pg.zeros(3, 4) @ pg.zeros(H, H, 4, 0)",
    "pg.cat([pg.zeros(H, H, 0), pg.zeros(H, H, 0)], axis=2)",
    "pg.stack([pg.zeros(H, H, 0), pg.zeros(H, H, 0)], axis=2)",
])
def test_empty_results_with_huge_outer_dims_return_at_once(expr: str) -> None:
    """Kernels looped over the outer dims of an empty result (~4.6e18 empty rows): a hang."""
    out = run_child(f"""
        import pygrad as pg
        H = {HUGE}
        r = {expr}
        print(r.shape, r.numel())
    """)
    assert out.strip().endswith(" 0")


@pytest.mark.parametrize("expr", [
    "pg.zeros(H, H, 0, requires_grad=True).softmax(axis=2)",
    "pg.zeros(H, H, 0, 3, requires_grad=True) @ pg.ones(3, 4, requires_grad=True)",
    "pg.cat([pg.zeros(H, H, 0, requires_grad=True), pg.zeros(H, H, 0)], axis=2)",
])
def test_backward_through_empty_results_with_huge_outer_dims(expr: str) -> None:
    out = run_child(f"""
        import pygrad as pg
        H = {HUGE}
        r = {expr}
        r.sum().backward()
        print("ok", pg.live_objects()["nodes"])
    """)
    assert out.split()[0] == "ok"


def test_concatenating_empty_tensors_whose_dim_overflows_raises_memory_error() -> None:
    """The summed dim overflowed int64 (undefined behaviour) and surfaced as a 'negative dimension'."""
    import pygrad as pg

    with pytest.raises(MemoryError, match="concatenate: the result's dimension 1 is too large"):
        pg.cat([pg.zeros(0, 2**62), pg.zeros(0, 2**62)], axis=1)
    assert pg.cat([pg.zeros(0, 2**61), pg.zeros(0, 2**61)], axis=1).shape == (0, 2**62)


def test_ops_on_empty_tensors_with_overflowing_dim_products() -> None:
    """Strides and element counts of (0, 2**62, 4) overflow int64; the ops must still answer."""
    import pygrad as pg

    q = pg.zeros(0, 2**62, 4, requires_grad=True)
    assert q.permute(1, 2, 0).shape == (2**62, 4, 0)
    assert q.mean(axis=(1, 2)).shape == (0,)
    assert (q * 2.0).sum().item() == 0.0
    (q.exp() + 1.0).sum().backward()
    assert q.grad.shape == q.shape


@pytest.mark.parametrize("engine", ["c", "reference"])
def test_bool_tensor_compared_with_a_python_scalar_promotes_like_arithmetic(engine: str) -> None:
    """A bool tensor meeting a Python scalar becomes float32 in arithmetic; comparisons used float64 in C."""
    import numpy as np

    import pygrad
    import pygrad.reference

    m = pygrad if engine == "c" else pygrad.reference
    b = m.tensor(np.array([False, True]))
    assert (b == -6e-230).numpy().tolist() == [True, False]  # -6e-230 is -0.0 in float32
    assert (b + 1e-50).dtype == m.float32
    assert (b > 0.5).numpy().tolist() == [False, True]


@pytest.mark.parametrize("engine", ["c", "reference"])
def test_bool_tensors_in_matmul_and_softmax_are_float32(engine: str) -> None:
    """Bools meet arithmetic as float32 (docs/semantics.md); matmul and softmax refused them in C."""
    import numpy as np

    import pygrad
    import pygrad.reference

    m = pygrad if engine == "c" else pygrad.reference
    b = m.tensor(np.array([[True, False], [True, True]]))
    r = b @ b
    assert r.dtype == m.float32 and r.numpy().tolist() == [[1.0, 0.0], [2.0, 1.0]]
    assert (b @ m.tensor(np.array([1.0, 2.0]))).dtype == m.float64
    s = b.softmax(axis=1)
    assert s.dtype == m.float32
    np.testing.assert_allclose(s.numpy()[0], [np.e / (1 + np.e), 1 / (1 + np.e)], rtol=1e-6)
    assert b.log_softmax(axis=0).dtype == m.float32


# ---- Python layer: hostile arguments raised non-pygrad exceptions (found by the bad-input fuzzer) ----


def _pg() -> object:
    import pygrad

    return pygrad


@pytest.mark.parametrize("make, exc", [
    (lambda pg: pg.zeros(2**64), MemoryError),                    # cffi: OverflowError
    (lambda pg: pg.full((2**70, 2), 1.0), MemoryError),
    (lambda pg: pg.ones(3, -(2**64)), ValueError),
    (lambda pg: pg.ones(2).reshape(2**63, 1), ValueError),
    (lambda pg: pg.ones(2).permute(-(2**63)), ValueError),
    (lambda pg: pg.randint(0, 2, (0, 2**62, 2**62)).numpy(), MemoryError),  # empty, as zeros; numpy: ValueError
    (lambda pg: pg.zeros(0, 2**62, 2**62).numpy(), MemoryError),  # numpy: ValueError
    (lambda pg: pg.ones(2) + 10**400, ValueError),                # OverflowError converting the scalar
    (lambda pg: pg.ones(2).add_(10**400), ValueError),
    (lambda pg: pg.cat([pg.ones(2), 10**400]), ValueError),
    (lambda pg: pg.ones(2)[[[0, 1], [0]]], TypeError),            # numpy: ValueError for a ragged key
    (lambda pg: pg.where([[True], [False, True]], 1.0, 2.0), TypeError),
    (lambda pg: pg.stack([pg.ones(2)], axis=2**40), ValueError),  # cffi: OverflowError
    (lambda pg: pg.cat([pg.ones(2)], axis=(0,)), TypeError),      # int(): plain TypeError
    (lambda pg: pg.ones(2).fill_("x"), TypeError),                # float("x"): ValueError
    (lambda pg: pg.ones(2).clamp(min="x"), TypeError),
    (lambda pg: pg.ones(2).leaky_relu("x"), TypeError),
    (lambda pg: pg.ones(2).elu(None), TypeError),
])
def test_hostile_arguments_raise_pygrad_errors(make, exc: type) -> None:
    pg = _pg()
    with pytest.raises(exc) as info:
        make(pg)
    assert isinstance(info.value, pg.PygradError), repr(info.value)


@needs_rlimit
def test_numpy_allocation_failures_are_pygrad_memory_errors() -> None:
    out = run_child("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))
        import pygrad as pg
        for f in (lambda: pg.randn(2**30), lambda: pg.rand(2**15, 2**15), lambda: pg.eye(2**16)):
            try:
                f()
            except pg.PygradMemoryError as exc:
                print("MemoryError", isinstance(exc, MemoryError))
    """)
    assert out.split() == ["MemoryError", "True"] * 3


@pytest.mark.parametrize("engine", ["c", "reference"])
def test_where_condition_must_be_bool(engine: str) -> None:
    """The C engine cast any array to bool (truthiness) where the reference refused it."""
    import numpy as np

    import pygrad
    import pygrad.reference

    m = pygrad if engine == "c" else pygrad.reference
    for cond in (np.array([0.5, 0.0]), 2, None, {"a": 1}, 1j, [1.0, 0.0]):
        with pytest.raises(TypeError, match="where"):
            m.where(cond, m.ones(2), m.zeros(2))
    assert m.where([True, False], m.ones(2), m.zeros(2)).numpy().tolist() == [1.0, 0.0]
    assert m.where(np.array(True), 1.0, 2.0).item() == 1.0


@pytest.mark.parametrize("engine", ["c", "reference"])
def test_where_scalar_branch_takes_the_array_branch_dtype(engine: str) -> None:
    """With a numpy float64 branch, the scalar branch became float32 in C (2.5e96 -> inf)."""
    import numpy as np

    import pygrad
    import pygrad.reference

    m = pygrad if engine == "c" else pygrad.reference
    r = m.where(np.array([False]), np.array([1.0]), 2.5e96)
    assert r.dtype == m.float64 and r.item() == 2.5e96


@pytest.mark.parametrize("engine", ["c", "reference"])
def test_concatenate_axis_must_be_an_int(engine: str) -> None:
    import pygrad
    import pygrad.reference

    m = pygrad if engine == "c" else pygrad.reference
    with pytest.raises(TypeError, match="axis"):
        m.cat([m.ones(2, 2), m.ones(2, 2)], axis=1.0)
    with pytest.raises(TypeError, match="axis"):
        m.stack([m.ones(2), m.ones(2)], axis=None)


@pytest.mark.parametrize("engine", ["c", "reference"])
def test_copy_of_a_python_scalar_keeps_the_tensor_dtype(engine: str) -> None:
    """The reference went through float32 (copy_(-4.155834368175279e16) into float64 lost digits)."""
    import pygrad
    import pygrad.reference

    m = pygrad if engine == "c" else pygrad.reference
    x = m.zeros((), dtype="float64")
    x.copy_(-4.155834368175279e16)
    assert x.item() == -4.155834368175279e16
    y = m.zeros(1, dtype="float32")
    y.copy_(True)
    assert y.item() == 1.0


@pytest.mark.parametrize("engine", ["c", "reference"])
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_elementwise_max_min_propagate_nan_from_either_side(engine: str, name: str) -> None:
    """C returned the other operand when only the second one was NaN: minimum(x, nan) gave x."""
    import numpy as np

    import pygrad
    import pygrad.reference

    m = pygrad if engine == "c" else pygrad.reference
    x = m.tensor([1.0, np.nan, -1.0], requires_grad=True)
    y = m.tensor([np.nan, 0.0, 2.0], requires_grad=True)
    z = getattr(m, name)(x, y)
    expected = getattr(np, name)(x.numpy(), y.numpy())
    np.testing.assert_array_equal(z.numpy(), expected)
    assert np.isnan(getattr(m, name)(x, float("nan")).numpy()).all()
    z.sum().backward()
    assert x.grad.numpy()[:2].tolist() == [0.0, 0.0] and y.grad.numpy()[:2].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("engine", ["c", "reference"])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_over_an_empty_axis_raises_even_when_the_result_is_empty(engine: str, name: str) -> None:
    """numpy refuses zeros((0, 0)).max(axis=1); the C engine returned an empty (0,) tensor."""
    import pygrad
    import pygrad.reference

    m = pygrad if engine == "c" else pygrad.reference
    with pytest.raises(ValueError, match=name):
        getattr(m.zeros(0, 0), name)(axis=1)
    with pytest.raises(ValueError, match=name):
        getattr(m.zeros(0, 0), name)(axis=-1, keepdims=True)
    assert getattr(m.zeros(3, 0), name)(axis=0).shape == (0,)


@pytest.mark.parametrize("engine", ["c", "reference"])
def test_backward_takes_a_bool_tensor_as_the_upstream_gradient(engine: str) -> None:
    """A bool ndarray grad was converted but a bool Tensor grad raised TypeError in C (not in the reference)."""
    import numpy as np

    import pygrad
    import pygrad.reference

    m = pygrad if engine == "c" else pygrad.reference
    x = m.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).backward(m.tensor(np.array([True, False])))
    assert x.grad.numpy().tolist() == [3.0, 0.0]


@pytest.mark.parametrize("engine", ["c", "reference"])
@pytest.mark.parametrize("call", [
    lambda m: m.exp([1.0]),
    lambda m: m.maximum(m.ones(2), [1.0, 2.0]),
    lambda m: m.matmul([1.0], m.ones(1)),
    lambda m: m.ones(2).add_([1.0, 2.0]),
    lambda m: m.ones(2).copy_([1.0, 2.0]),
    lambda m: m.where(m.tensor([True]), [1.0], 2.0),
    lambda m: m.sum([1.0, 2.0]),
    lambda m: m.cat([m.ones(1), [1.0]]),
    lambda m: m.ones(2).matmul("a"),
    lambda m: m.ones(2).pow("a"),
])
def test_lists_and_other_types_are_not_operands(engine: str, call) -> None:
    """Operands are Tensors, Python scalars and numpy arrays; the C engine's functions took lists
    (the reference refuses them, as the operators of both engines do), and Tensor.matmul/pow
    returned NotImplemented instead of raising."""
    import pygrad
    import pygrad.reference

    m = pygrad if engine == "c" else pygrad.reference
    with pytest.raises(TypeError, match="unsupported"):
        call(m)


@needs_rlimit
def test_indexing_an_empty_tensor_with_a_long_dim_allocates_nothing() -> None:
    """x[..., :1] on zeros(0, 2**31) built a 16 GiB arange and raised numpy's MemoryError."""
    out = run_child("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2**32, 2**32))
        import pygrad as pg
        x = pg.zeros(0, 2**31, requires_grad=True)
        y = x[..., :1]
        y.sum().backward()
        print(y.shape, x[:, 5:].shape, x.grad.shape)
    """)
    assert out.strip() == "(0, 1) (0, 2147483643) (0, 2147483648)"
