/* The C of the extension module pygrad._pygrad itself, beside the engine.
 *
 * pybind/build_ffi.py hands this file's text to cffi as the preamble of the
 * generated module (out-of-line API mode): cffi pastes it after its own
 * header code and before the wrappers of the cdef'd functions, so this is
 * compiled in that file, after <Python.h>, and the functions below declared in
 * build_ffi.py's MODULE_CDEF are callable from Python as lib.<name>.
 *
 * Calls into the engine keep the GIL. cffi's wrappers release and retake it
 * (and save and restore errno) around every call, which costs more than the
 * engine's own work for an op on a small tensor. Instead the engine lets the
 * GIL go itself around its long work (every job it hands to the thread pool),
 * through pg_set_blocking_hooks, which pygrad installs at import. The engine
 * never reads errno, and pygrad never uses ffi.errno.
 *
 * The overrides below apply to this module's wrappers only: the generated
 * code defines the macros before this preamble and uses them after it.
 * build_ffi.py checks that it still does (check_generated_code), so a cffi
 * that stopped using them fails the build instead of silently releasing the
 * GIL around every call. */

#include <stdatomic.h>

#include "pygrad.h"

#undef Py_BEGIN_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS {
#undef Py_END_ALLOW_THREADS
#define Py_END_ALLOW_THREADS }
#undef _cffi_restore_errno
#define _cffi_restore_errno() ((void)0)
#undef _cffi_save_errno
#define _cffi_save_errno() ((void)0)

/* What the unlock hook did, for tests: [0] let the GIL go, [1] found the
 * calling thread without the GIL and kept out of it. */
static atomic_ullong pg_py_gil_counts[2];

/* PyGILState_Check is public C API (since 3.4) but outside the limited API
 * that cffi compiles this module against (the abi3 build), so it is declared
 * here; every CPython exports it. Windows links abi3 modules against
 * python3.dll, which exports only the stable ABI: there the check falls back
 * to "is this a thread Python knows", which a Python thread that let the GIL
 * go still passes. */
#if defined(Py_LIMITED_API) && !defined(_WIN32)
PyAPI_FUNC(int) PyGILState_Check(void);
#define PG_PY_HOLDS_GIL() (PyGILState_Check() && PyGILState_GetThisThreadState())
#elif defined(Py_LIMITED_API)
#define PG_PY_HOLDS_GIL() (PyGILState_GetThisThreadState() != NULL)
#else
#define PG_PY_HOLDS_GIL() (PyGILState_Check() && PyGILState_GetThisThreadState())
#endif

/* Only a thread that holds the GIL may let it go: a call from Python does;
 * a thread of a C caller, or a Python thread that let the GIL go before
 * calling the engine, does not, and gets NULL. (PyGILState_Check answers 1
 * for every thread once a subinterpreter exists; a thread Python does not
 * know cannot hold the GIL, hence the second test.) */
static void *pg_py_unlock(void) {
    if (!PG_PY_HOLDS_GIL()) {
        atomic_fetch_add_explicit(&pg_py_gil_counts[1], 1, memory_order_relaxed);
        return NULL;
    }
    atomic_fetch_add_explicit(&pg_py_gil_counts[0], 1, memory_order_relaxed);
    return (void *)PyEval_SaveThread();
}

static void pg_py_lock(void *token) {
    if (token) PyEval_RestoreThread((PyThreadState *)token);
}

static void pg_py_install_blocking_hooks(void) { pg_set_blocking_hooks(pg_py_unlock, pg_py_lock); }

/* ---- for tests ---- */

/* pg_py_gil_count(0): how many times the unlock hook let the GIL go;
 * pg_py_gil_count(1): how many times it found the calling thread without it.
 * Any other index: 0. */
static unsigned long long pg_py_gil_count(int which) {
    if (which < 0 || which > 1) return 0;
    return atomic_load_explicit(&pg_py_gil_counts[which], memory_order_relaxed);
}

static void pg_py_reset_gil_counts(void) {
    atomic_store_explicit(&pg_py_gil_counts[0], 0, memory_order_relaxed);
    atomic_store_explicit(&pg_py_gil_counts[1], 0, memory_order_relaxed);
}

/* Calls the hooks the way the engine would from a thread that does not hold
 * the GIL: lets the GIL go, calls unlock then lock with its token, takes the
 * GIL back. Returns 1 when unlock handed back NULL (it kept out of the GIL). */
static int pg_py_probe_hooks_without_gil(void) {
    PyThreadState *self = PyEval_SaveThread();
    void *token = pg_py_unlock();
    pg_py_lock(token);
    PyEval_RestoreThread(self);
    return token == NULL;
}
