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
