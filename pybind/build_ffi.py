"""cffi build script: compiles csrc/ into the extension module ``pygrad._pygrad``.

Out-of-line API mode. The cdef is read from csrc/pygrad.h, between the
PG_CDEF_BEGIN / PG_CDEF_END markers, so the header stays the one source of
truth for the C API. Used by setup.py (``cffi_modules``) and runnable by hand
(``python pybind/build_ffi.py``) to build in place for development.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"


def read_cdef(header: Path) -> str:
    """Return the cffi-clean part of the public header."""
    text = header.read_text()
    m = re.search(r"/\* PG_CDEF_BEGIN \*/(.*)/\* PG_CDEF_END \*/", text, re.S)
    if m is None:
        raise RuntimeError(f"{header}: PG_CDEF_BEGIN/PG_CDEF_END markers not found")
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)  # cffi's parser wants no comments
    # cffi cannot #include: expand the op list (enum pg_op) from ops.def here,
    # one PG_OP_<NAME> per X(...) line, in its order, as the C preprocessor does
    ops_def = re.sub(r"/\*.*?\*/", "", (header.parent / "ops.def").read_text(), flags=re.S)
    members = "".join(f"    PG_OP_{name},\n" for name in re.findall(r"^\s*X\(\s*(\w+)\s*,", ops_def, re.M))
    body, n = re.subn(r'^#pragma push_macro\("X"\)\n.*?#include "ops\.def"\n#pragma pop_macro\("X"\)\n', members, body,
                      flags=re.M | re.S)
    if n != 1:
        raise RuntimeError(f'{header}: the op list include (#include "ops.def" between push/pop_macro("X")) not found')
    return body


def compile_args() -> list[str]:
    """Flags for the C sources: optimised, warnings on, no fast-math, no FMA contraction
    (keeps float64 results close to the numpy reference)."""
    if sys.platform == "win32":
        return ["/O2", "/fp:precise"]
    args = ["-std=c11", "-O3", "-Wall", "-Wextra", "-ffp-contract=off", "-fno-strict-aliasing"]
    extra = os.environ.get("PYGRAD_CFLAGS")
    if extra:
        args += extra.split()
    return args


def sources() -> list[str]:
    """Every C source of the engine, as paths relative to the working directory
    (setuptools refuses absolute source paths in some versions)."""
    return sorted(os.path.relpath(p) for p in CSRC.glob("*.c"))


# Python functions the C engine calls back (user-defined ops): defined with
# @ffi.def_extern() in pygrad/_engine.py.
CALLBACKS = """
extern "Python" int _pg_py_custom_backward(void *, pg_tensor *, pg_tensor **, int, const int *);
extern "Python" void _pg_py_custom_release(void *);
"""

# C defined in the module itself, beside the engine.
MODULE_CDEF = """
void pg_py_install_blocking_hooks(void);
"""

# Calls into the engine keep the GIL. cffi's wrappers release and retake it
# (and save and restore errno) around every call, which costs more than the
# engine's own work for an op on a small tensor; instead the engine lets the
# GIL go itself around its long work, through pg_set_blocking_hooks, which
# pygrad installs at import. The engine never reads errno, and pygrad never
# uses ffi.errno. These overrides apply to this module's wrappers only: the
# generated code defines them before this preamble and uses them after it.
MODULE_SOURCE = r"""
#include "pygrad.h"

#undef Py_BEGIN_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS {
#undef Py_END_ALLOW_THREADS
#define Py_END_ALLOW_THREADS }
#undef _cffi_restore_errno
#define _cffi_restore_errno() ((void)0)
#undef _cffi_save_errno
#define _cffi_save_errno() ((void)0)

/* Every call from Python holds the GIL; a thread Python does not know (a C
 * caller's own) has none to let go. */
static void *pg_py_unlock(void) { return PyGILState_GetThisThreadState() ? (void *)PyEval_SaveThread() : NULL; }
static void pg_py_lock(void *token) {
    if (token) PyEval_RestoreThread((PyThreadState *)token);
}
static void pg_py_install_blocking_hooks(void) { pg_set_blocking_hooks(pg_py_unlock, pg_py_lock); }
"""

ffibuilder = FFI()
ffibuilder.cdef(read_cdef(CSRC / "pygrad.h") + MODULE_CDEF + CALLBACKS)
ffibuilder.set_source(
    "pygrad._pygrad",
    MODULE_SOURCE,
    sources=sources(),
    include_dirs=[str(CSRC)],
    extra_compile_args=compile_args(),
    libraries=[] if sys.platform == "win32" else ["m", "pthread"],
)

if __name__ == "__main__":
    os.chdir(ROOT)
    ffibuilder.compile(tmpdir=str(ROOT), verbose=True)
