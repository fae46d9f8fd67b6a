"""The binding's GIL handling (pybind/module.c, pybind/build_ffi.py).

Calls into the engine keep the GIL; the engine lets it go only around the work
it hands to its thread pool, through the unlock/lock hooks of pybind/module.c.
The module counts what the unlock hook did, so these tests pin the behaviour
with counters, not timings. The build-time check that cffi's generated code
still uses the macros module.c overrides is tested on synthetic text.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pygrad as pg

pytestmark = pytest.mark.skipif(pg.backend() != "c", reason="the C engine's binding")

RELEASED, KEPT = 0, 1  # pg_py_gil_count(which)


@pytest.fixture
def lib():
    from pygrad import _pygrad

    return _pygrad.lib


@pytest.fixture
def two_threads():
    before = pg.get_num_threads()
    pg.set_num_threads(2)
    yield
    pg.set_num_threads(before)


def _counts(lib) -> tuple[int, int]:
    return int(lib.pg_py_gil_count(RELEASED)), int(lib.pg_py_gil_count(KEPT))


def test_small_ops_keep_the_gil(lib, two_threads):
    a, b = np.array([1.0, 2.0]), np.array([[1.0, 2.0], [3.0, 4.0]])
    x, m = pg.tensor(a), pg.tensor(b)
    lib.pg_py_reset_gil_counts()
    y = x * 2
    p = m @ m
    s = (m * m).sum()
    assert _counts(lib) == (0, 0)
    np.testing.assert_array_equal(y.numpy(), a * 2)
    np.testing.assert_array_equal(p.numpy(), b @ b)
    assert float(s.item()) == 30.0


def test_pooled_matmul_releases_the_gil(lib, two_threads):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 256)), rng.standard_normal((256, 256))
    x, y = pg.tensor(a), pg.tensor(b)
    lib.pg_py_reset_gil_counts()
    p = x @ y
    released, kept = _counts(lib)
    assert released >= 1 and kept == 0
    np.testing.assert_allclose(p.numpy(), a @ b, rtol=1e-12, atol=1e-12)


def test_pooled_elementwise_releases_the_gil(lib, two_threads):
    a = np.linspace(-1.0, 1.0, 1 << 20)
    x = pg.tensor(a)
    lib.pg_py_reset_gil_counts()
    y = x * 2
    released, kept = _counts(lib)
    assert released >= 1 and kept == 0
    np.testing.assert_array_equal(y.numpy(), a * 2)


def test_unlock_hook_counters_reset_and_reject_bad_index(lib):
    lib.pg_py_reset_gil_counts()
    assert _counts(lib) == (0, 0)
    assert lib.pg_py_gil_count(-1) == 0 and lib.pg_py_gil_count(2) == 0


def test_thread_without_the_gil_does_not_release_it(tmp_path):
    # In a child: were the hook to let go of a GIL its thread does not hold,
    # CPython would abort the process.
    code = (
        "from pygrad import _pygrad\n"
        "lib = _pygrad.lib\n"
        "lib.pg_py_reset_gil_counts()\n"
        "kept_out = lib.pg_py_probe_hooks_without_gil()\n"
        "print(kept_out, lib.pg_py_gil_count(0), lib.pg_py_gil_count(1))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(pg.__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["1", "0", "1"]


# ---- the build-time check of cffi's generated code ----

def _build_ffi():
    here = Path(__file__).resolve()
    script = next((p / "pybind" / "build_ffi.py" for p in here.parents if (p / "pybind" / "build_ffi.py").exists()),
                  None)
    if script is None:
        pytest.skip("pybind/build_ffi.py is not in this tree")
    pytest.importorskip("cffi")
    spec = importlib.util.spec_from_file_location("_pygrad_build_ffi", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # runs the check on the real generated code
    return mod


PREAMBLE = "#include \"pygrad.h\"\n#undef Py_BEGIN_ALLOW_THREADS\n#define Py_BEGIN_ALLOW_THREADS {\n"
HEADER = "#define _cffi_save_errno() errno_save()\n/****/\n\n"


def _wrapper(name: str, body: str) -> str:
    return f"static PyObject *\n_cffi_f_{name}(PyObject *self, PyObject *noarg)\n{{\n{body}  return NULL;\n}}\n"


CALL = ("  Py_BEGIN_ALLOW_THREADS\n  _cffi_restore_errno();\n  { pg_go(); }\n  _cffi_save_errno();\n"
        "  Py_END_ALLOW_THREADS\n")


def test_generated_code_check_accepts_the_real_and_a_conforming_text():
    bf = _build_ffi()
    text = bf.generated_code(bf.ffibuilder)
    bf.check_generated_code(text, bf.MODULE_SOURCE)
    assert bf.MODULE_SOURCE == bf.MODULE_C.read_text() and "PyGILState_Check()" in bf.MODULE_SOURCE
    bf.check_generated_code(HEADER + PREAMBLE + _wrapper("a", CALL) + _wrapper("b", CALL), PREAMBLE)


def test_generated_code_without_the_macros_fails_the_build():
    bf = _build_ffi()
    plain = "  PyThreadState *s = PyEval_SaveThread();\n  { pg_go(); }\n  PyEval_RestoreThread(s);\n"
    with pytest.raises(RuntimeError, match=r"cffi's generated code no longer uses Py_BEGIN_ALLOW_THREADS, "
                                           r"Py_END_ALLOW_THREADS, _cffi_restore_errno, _cffi_save_errno") as e:
        bf.check_generated_code(HEADER + PREAMBLE + _wrapper("a", plain), PREAMBLE)
    assert "PyEval_RestoreThread, PyEval_SaveThread itself" in str(e.value)
    assert "GIL override in pybind/module.c would not take" in str(e.value)
    # one wrapper of two without them is enough to fail
    with pytest.raises(RuntimeError, match="no longer uses Py_BEGIN_ALLOW_THREADS.* in each of its 2 function wrapper"):
        bf.check_generated_code(HEADER + PREAMBLE + _wrapper("a", CALL) + _wrapper("b", "  pg_go();\n"), PREAMBLE)


def test_generated_code_redefining_the_macros_fails_the_build():
    bf = _build_ffi()
    text = HEADER + PREAMBLE + "#undef Py_BEGIN_ALLOW_THREADS\n#define Py_BEGIN_ALLOW_THREADS x\n" + _wrapper("a", CALL)
    with pytest.raises(RuntimeError, match="redefines Py_BEGIN_ALLOW_THREADS after the preamble"):
        bf.check_generated_code(text, PREAMBLE)


def test_generated_code_without_the_preamble_fails_the_build():
    bf = _build_ffi()
    with pytest.raises(RuntimeError, match="does not contain pybind/module.c verbatim"):
        bf.check_generated_code(HEADER + _wrapper("a", CALL), PREAMBLE)


# ---- every long kernel lets the GIL go, pooled or not ----
# With one thread nothing is pooled: the kernels above the size threshold
# (PG_UNLOCK_MIN elements) still let the GIL go around their loop, so other
# Python threads run meanwhile. Each family is pinned by the release counter.

BIG = 1 << 18  # elements: above the threshold (2 * 32768)


@pytest.fixture
def one_thread():
    before = pg.get_num_threads()
    pg.set_num_threads(1)
    yield
    pg.set_num_threads(before)


def _releases(lib, f):
    lib.pg_py_reset_gil_counts()
    out = f()
    released, kept = _counts(lib)
    assert kept == 0
    return released, out


def _optimizer_step(name: str) -> np.ndarray:
    rng = np.random.default_rng(1)
    w = pg.tensor(rng.standard_normal(BIG), requires_grad=True)
    opt = {"sgd": lambda p: pg.optim.SGD(p, lr=0.1), "sgd_momentum": lambda p: pg.optim.SGD(p, lr=0.1, momentum=0.9),
           "adam": lambda p: pg.optim.Adam(p, lr=0.1), "adamw": lambda p: pg.optim.AdamW(p, lr=0.1),
           "adam_amsgrad": lambda p: pg.optim.Adam(p, lr=0.1, amsgrad=True),
           "adagrad": lambda p: pg.optim.Adagrad(p, lr=0.1),
           "rmsprop": lambda p: pg.optim.RMSprop(p, lr=0.1),
           "rmsprop_centered": lambda p: pg.optim.RMSprop(p, lr=0.1, centered=True, momentum=0.5)}[name]([w])
    w.grad = pg.tensor(np.ones(BIG))
    return opt, w


FAMILIES = {
    "unary": lambda x, y: x.exp(),
    "scalar_op": lambda x, y: x * 2.0,
    "division": lambda x, y: x / 3.0,
    "binary": lambda x, y: x + y,
    "broadcast": lambda x, y: x.reshape(512, 512) * y.reshape(512, 512)[0],
    "compare": lambda x, y: x < y,
    "sum": lambda x, y: x.sum(),
    "sum_axis": lambda x, y: x.reshape(512, 512).sum(axis=0),
    "max_axis": lambda x, y: x.reshape(512, 512).max(axis=1),
    "softmax": lambda x, y: x.reshape(512, 512).softmax(axis=1),
    "log_softmax_axis0": lambda x, y: x.reshape(512, 512).log_softmax(axis=0),
    "concatenate": lambda x, y: pg.concatenate([x, y]),
    "stack": lambda x, y: pg.stack([x, y], axis=1),
    "gather": lambda x, y: x[np.arange(BIG - 1, -1, -1)],
    "transpose": lambda x, y: x.reshape(512, 512).T * 1.0,
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_kernel_family_releases_the_gil_with_one_thread(lib, one_thread, family):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(BIG), rng.standard_normal(BIG)
    x, y = pg.tensor(a), pg.tensor(b)
    released, out = _releases(lib, lambda: FAMILIES[family](x, y))
    assert released >= 1, f"{family}: a {BIG}-element kernel kept the GIL"
    assert out.numel() > 0


@pytest.mark.parametrize("family", ["softmax", "gather", "concatenate", "binary"])
def test_each_backward_family_releases_the_gil_with_one_thread(lib, one_thread, family):
    rng = np.random.default_rng(0)
    x = pg.tensor(rng.standard_normal(BIG), requires_grad=True)
    y = pg.tensor(rng.standard_normal(BIG), requires_grad=True)
    out = FAMILIES[family](x, y)
    loss = (out * pg.tensor(rng.standard_normal(out.shape))).sum()
    released, _ = _releases(lib, loss.backward)
    assert released >= 1 and x.grad is not None


OPTIMIZERS = ["sgd", "sgd_momentum", "adam", "adamw", "adam_amsgrad", "adagrad", "rmsprop", "rmsprop_centered"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_step_releases_the_gil(lib, one_thread, name):
    opt, w = _optimizer_step(name)
    before = w.numpy().copy()
    released, _ = _releases(lib, opt.step)
    assert released >= 1, f"{name}: the step kept the GIL"
    assert not np.array_equal(w.numpy(), before)


def test_small_kernels_of_every_family_keep_the_gil(lib, one_thread):
    rng = np.random.default_rng(0)
    x, y = pg.tensor(rng.standard_normal(1024)), pg.tensor(rng.standard_normal(1024))
    lib.pg_py_reset_gil_counts()
    for f in (lambda: x.exp(), lambda: x * 2.0, lambda: x / 3.0, lambda: x + y, lambda: x.sum(),
              lambda: x.softmax(axis=0), lambda: pg.concatenate([x, y]), lambda: x[np.arange(10)]):
        f()
    assert _counts(lib) == (0, 0)
