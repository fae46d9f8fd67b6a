"""cffi build script: compiles csrc/ into the extension module ``pygrad._pygrad``.

Out-of-line API mode. The cdef is read from csrc/pygrad.h, between the
PG_CDEF_BEGIN / PG_CDEF_END markers, so the header stays the one source of
truth for the C API. The module's own C (the hooks that let the GIL go around
the engine's pooled work) is pybind/module.c, handed to cffi as the preamble;
check_generated_code fails the build if cffi's generated wrappers stop using
the macros that file overrides. Used by setup.py (``cffi_modules``) and runnable by hand
(``python pybind/build_ffi.py``) to build in place for development.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
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
    (keeps float64 results close to the numpy reference). -fno-math-errno: the engine never
    reads errno, and without it GCC must call libm's sqrt for each element (to set errno on a
    negative argument) instead of using the instruction, which also keeps such loops from
    vectorising; no value changes."""
    if sys.platform == "win32":
        return ["/O2", "/fp:precise"]
    args = ["-std=c11", "-O3", "-Wall", "-Wextra", "-ffp-contract=off", "-fno-strict-aliasing", "-fno-math-errno"]
    extra = os.environ.get("PYGRAD_CFLAGS")
    if extra:
        args += extra.split()
    return args


def sources() -> list[str]:
    """Every C source of the engine, as paths relative to the working directory
    (setuptools refuses absolute source paths in some versions)."""
    return sorted(os.path.relpath(p) for p in CSRC.glob("*.c"))


def headers() -> list[str]:
    """The headers and X-macro lists the sources include: a change to one rebuilds the
    extension (setuptools does not follow #include by itself)."""
    return sorted(os.path.relpath(p) for p in [*CSRC.glob("*.h"), *CSRC.glob("*.def")])


# Python functions the C engine calls back (user-defined ops; the release of
# memory borrowed from another library): defined with @ffi.def_extern() in
# pygrad/_bindings.py.
CALLBACKS = """
extern "Python" int _pg_py_custom_backward(void *, pg_tensor *, pg_tensor **, int, const int *);
extern "Python" void _pg_py_custom_release(void *);
extern "Python" int _pg_py_tensor_hook(void *, int, pg_tensor *, pg_tensor *, pg_tensor **);
extern "Python" void _pg_py_external_release(void *);
"""

# C defined in the module itself, beside the engine: pybind/module.c (the
# blocking hooks that let the GIL go around the engine's pooled work, the
# overrides that keep it around every other call, and counters for tests).
MODULE_C = Path(__file__).resolve().parent / "module.c"

MODULE_CDEF = """
void pg_py_install_blocking_hooks(void);
unsigned long long pg_py_gil_count(int which);
void pg_py_reset_gil_counts(void);
int pg_py_probe_hooks_without_gil(void);
"""

# The macros pybind/module.c overrides so that calls keep the GIL (and skip
# errno). The override takes only if cffi's wrappers, emitted after the
# preamble, still expand these very macros.
OVERRIDDEN_MACROS = ("Py_BEGIN_ALLOW_THREADS", "Py_END_ALLOW_THREADS", "_cffi_restore_errno", "_cffi_save_errno")


def check_generated_code(generated: str, preamble: str) -> None:
    """Raise RuntimeError unless the C that cffi generated for the module uses
    the macros pybind/module.c overrides, after the preamble and unchanged.

    Each function wrapper must use the four macros: cffi writes the GIL release
    and errno handling of a call as Py_BEGIN_ALLOW_THREADS, _cffi_restore_errno(),
    the call, _cffi_save_errno(), Py_END_ALLOW_THREADS. If a cffi wrote it
    otherwise (the CPython calls spelled out, other macros, a redefinition after
    the preamble), the override would not take, and every call would release
    the GIL again before the engine's unlock hook runs."""
    at = generated.find(preamble.strip())
    if at < 0:
        raise RuntimeError("pybind/build_ffi.py: the C that cffi generated does not contain pybind/module.c "
                           "verbatim; cannot check that the GIL override in pybind/module.c takes")
    body = generated[at + len(preamble.strip()):]
    problems = []
    counts = {m: len(re.findall(rf"\b{m}\b", body)) for m in OVERRIDDEN_MACROS}
    # cffi's Python-facing wrappers of the cdef'd functions (one per function)
    wrappers = len(re.findall(r"^_cffi_f_\w+\s*\(", body, re.M))
    if wrappers == 0:
        wrappers = max(counts.values())
    missing = [m for m, n in counts.items() if n == 0 or n < wrappers]
    if missing:
        problems.append("no longer uses " + ", ".join(missing) + f" in each of its {wrappers} function wrappers")
    redefined = sorted(set(re.findall(r"^\s*#\s*(?:define|undef)\s+(" + "|".join(OVERRIDDEN_MACROS) + r")\b",
                                      body, re.M)))
    if redefined:
        problems.append("redefines " + ", ".join(redefined) + " after the preamble")
    direct = sorted(set(re.findall(r"\b(PyEval_SaveThread|PyEval_RestoreThread|PyEval_ReleaseThread)\s*\(", body)))
    if direct:
        problems.append("calls " + ", ".join(direct) + " itself")
    if problems:
        raise RuntimeError("pybind/build_ffi.py: cffi's generated code " + "; ".join(problems)
                           + ". The GIL override in pybind/module.c would not take: every call into the engine "
                           "would release the GIL again. Adapt pybind/module.c to this cffi's generated code, or "
                           "pin a cffi version that uses those macros.")


def generated_code(builder: FFI) -> str:
    """The C source cffi generates for ``builder`` (the text the build compiles)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "_pygrad.c"
        builder.emit_c_code(str(path))
        return path.read_text()


MODULE_SOURCE = MODULE_C.read_text()

ffibuilder = FFI()
ffibuilder.cdef(read_cdef(CSRC / "pygrad.h") + MODULE_CDEF + CALLBACKS)
ffibuilder.set_source(
    "pygrad._pygrad",
    MODULE_SOURCE,
    sources=sources(),
    depends=headers(),
    include_dirs=[str(CSRC)],
    extra_compile_args=compile_args(),
    libraries=[] if sys.platform == "win32" else ["m", "pthread"],
)
check_generated_code(generated_code(ffibuilder), MODULE_SOURCE)

if __name__ == "__main__":
    os.chdir(ROOT)
    ffibuilder.compile(tmpdir=str(ROOT), verbose=True)
