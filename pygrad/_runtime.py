"""Process-wide settings of the C engine: threads, GEMM kernel, the buffer cache, live counts."""

from __future__ import annotations

import numbers

from pygrad._bindings import _check, c_string, lib, memory_stats_struct
from pygrad.errors import PygradTypeError, PygradValueError


def live_objects() -> dict[str, int]:
    """Counts of C tensors, graph nodes and data bytes alive now (for leak checks)."""
    return {"tensors": lib.pg_live_tensors(), "nodes": lib.pg_live_nodes(), "bytes": lib.pg_live_bytes()}

def set_num_threads(n: int) -> None:
    """Let the C kernels use ``n`` threads (``1 <= n <= 256``).

    GEMM (matmul and its backward) and elementwise ops and reductions over
    large tensors split their work over a pool of ``n - 1`` worker threads
    plus the calling one. Process-wide; the default is the number of online
    cores. Results do not depend on ``n``. While one Python thread's kernel
    holds the pool, kernels called from other threads run on their own thread.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise PygradTypeError(f"set_num_threads: expected an int, got {type(n).__name__}")
    n = int(n)
    if not 1 <= n <= lib.PG_MAX_THREADS:
        raise PygradValueError(
            f"set_num_threads: the number of threads must be between 1 and {lib.PG_MAX_THREADS}, got {n}")
    _check(lib.pg_set_num_threads(n))


def get_num_threads() -> int:
    """The number of threads the C kernels may use (see :func:`set_num_threads`)."""
    return int(lib.pg_get_num_threads())


def _gemm_kernel() -> str:
    """The GEMM kernel matmul runs on: "avx512", "avx2", "generic" or "naive" (for tests)."""
    return c_string(lib.pg_gemm_kernel())


def _set_gemm_kernel(name: str) -> None:
    """Force a GEMM kernel ("auto", "avx512", "avx2", "generic", "naive"); for tests and diagnosis.

    Raises ValueError for an unknown name or a kernel this CPU cannot run.
    """
    _check(lib.pg_set_gemm_kernel(str(name).encode()))


def _vmath_kernel() -> str:
    """The kernels exp, log, tanh, sigmoid, sin and cos run on: "avx512", "avx2" or "scalar" (for tests)."""
    return c_string(lib.pg_vmath_kernel())


def _set_vmath_kernel(name: str) -> None:
    """Force the transcendental kernels ("auto", "avx512", "avx2", "scalar"); for tests and diagnosis.

    Raises ValueError for an unknown name or kernels this CPU cannot run.
    """
    _check(lib.pg_set_vmath_kernel(str(name).encode()))

# ---------------------------------------------------------------------------
# memory: the C engine's cache of large storage buffers (csrc/alloc.c)
# ---------------------------------------------------------------------------

_INT64_MAX = 2**63 - 1


def empty_cache() -> None:
    """Return every cached buffer to the system (``memory_stats()["cached_bytes"]`` becomes 0).

    Freed tensor buffers of 1 MiB or more are kept for reuse by later tensors of
    a similar size (see :func:`set_cache_limit`); tensors still alive are not
    affected. Like ``torch.cuda.empty_cache``: call it to give memory back to
    other processes, never needed for correctness.
    """
    lib.pg_empty_cache()


def set_cache_limit(nbytes: int) -> None:
    """Hold at most ``nbytes`` bytes of freed buffers for reuse (0 turns the cache off).

    A freed buffer of at least 1 MiB is kept, by size class (four per power of
    two), and handed to the next tensor of its class: the op then writes
    memory that is already mapped, instead of paying page faults and the
    kernel's zeroing of fresh memory. When a freed buffer would take the cache
    over the limit, the least recently freed ones go back to the system; lowering
    the limit frees the excess at once. Process-wide. The default is
    min(1 GiB, RAM / 4), or ``PYGRAD_CACHE_BYTES`` when set (a number of bytes,
    optionally with a unit K, M, G or T: powers of 1024, e.g. ``512M``).
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, numbers.Integral):
        raise PygradTypeError(f"set_cache_limit: expected an int number of bytes, got {type(nbytes).__name__}")
    nbytes = int(nbytes)
    if not 0 <= nbytes <= _INT64_MAX:
        raise PygradValueError(f"set_cache_limit: the limit must be between 0 and 2**63 - 1 bytes, got {nbytes}")
    _check(lib.pg_set_cache_limit(nbytes))


def get_cache_limit() -> int:
    """The most bytes the buffer cache may hold (see :func:`set_cache_limit`)."""
    return int(lib.pg_get_cache_limit())


def memory_stats() -> dict[str, int]:
    """The C engine's memory counters, as a dict of ints.

    - ``allocated_bytes``: storage bytes of the tensors alive now;
    - ``cached_bytes``, ``cached_blocks``: freed buffers kept for reuse, and how many;
    - ``cache_limit``: the most ``cached_bytes`` may reach (:func:`set_cache_limit`);
    - ``cache_hits``, ``cache_misses``: allocations of 1 MiB or more served from
      the cache, and those that asked the system (since the process started);
    - ``num_alloc_retries``: allocations the system refused that were tried
      again after emptying the cache.
    """
    s = memory_stats_struct()
    _check(lib.pg_get_memory_stats(s))
    return {name: int(getattr(s, name)) for name in (
        "allocated_bytes", "cached_bytes", "cached_blocks", "cache_limit", "cache_hits", "cache_misses",
        "num_alloc_retries")}


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _parse_bytes(text: str) -> int | None:
    """``"1073741824"``, ``"512M"``, ``"1GiB"``, ``"64 kb"`` as bytes (units are powers of 1024); None if malformed."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*(?:([KMGT])(?:I?B)?|B)?\s*", text, re.I)
    if m is None or len(m.group(1).lstrip("0")) > 30:  # far past int64, and past int()'s digit limit
        return None
    return int(m.group(1)) * _UNITS[(m.group(2) or "").upper()]


def _cache_limit_from_env() -> None:
    """Apply PYGRAD_CACHE_BYTES, if set; a malformed value leaves the default and warns."""
    import os
    import warnings

    text = os.environ.get("PYGRAD_CACHE_BYTES")
    if text is None:
        return
    nbytes = _parse_bytes(text)
    if nbytes is None or nbytes > _INT64_MAX:
        warnings.warn(f"PYGRAD_CACHE_BYTES={text!r}: expected a number of bytes >= 0, optionally with a unit "
                      f"K, M, G or T (powers of 1024), e.g. 536870912 or 512M; using the default limit "
                      f"({get_cache_limit()} bytes)", RuntimeWarning, stacklevel=2)
        return
    set_cache_limit(nbytes)


_cache_limit_from_env()
