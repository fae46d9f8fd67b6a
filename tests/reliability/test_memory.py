"""The C engine's cache of large storage buffers (csrc/alloc.c, docs/memory.md):
reuse, the limit, empty_cache, zeroed results from reused buffers, argument
errors, threads, PYGRAD_CACHE_BYTES, and the retry after a refused allocation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import pygrad as pg

MiB = 2**20
N = MiB // 4  # float32 elements in 1 MiB: the smallest size the cache keeps
KEYS = {"allocated_bytes", "cached_bytes", "cached_blocks", "cache_limit", "cache_hits", "cache_misses",
        "num_alloc_retries"}


@pytest.fixture(autouse=True)
def _restore_cache_limit():
    before = pg.get_cache_limit()
    pg.empty_cache()
    yield
    pg.set_cache_limit(before)
    pg.empty_cache()


def test_memory_stats_is_a_dict_of_ints():
    s = pg.memory_stats()
    assert set(s) == KEYS
    assert all(type(v) is int for v in s.values())
    assert s["cache_limit"] == pg.get_cache_limit() >= 0
    assert s["cached_bytes"] == 0 and s["cached_blocks"] == 0  # emptied by the fixture
    x = pg.zeros(3 * N)
    assert pg.memory_stats()["allocated_bytes"] == pg.live_objects()["bytes"] >= 3 * MiB
    del x


def test_default_limit_is_at_most_one_gib():
    code = "import pygrad as pg; print(pg.get_cache_limit())"
    assert 0 < int(_child(code, {"PYGRAD_CACHE_BYTES": None})[0]) <= 2**30


def test_a_freed_buffer_is_reused():
    pg.set_cache_limit(64 * MiB)
    a, b = pg.rand(4 * N), pg.rand(4 * N)
    s0 = pg.memory_stats()
    c = a + b
    del c  # back to the cache
    s1 = pg.memory_stats()
    assert s1["cached_blocks"] == 1 and 4 * MiB <= s1["cached_bytes"] <= 5 * MiB + 4096
    assert s1["cache_misses"] == s0["cache_misses"] + 1
    c = a * b  # same size class: served from the cache
    s2 = pg.memory_stats()
    assert s2["cache_hits"] == s1["cache_hits"] + 1 and s2["cache_misses"] == s1["cache_misses"]
    assert s2["cached_bytes"] == 0
    np.testing.assert_array_equal(c.numpy(), a.numpy() * b.numpy())
    for _ in range(5):  # a loop of large results runs on two buffers, from the cache
        c = a + b
    assert pg.memory_stats()["cache_hits"] >= s2["cache_hits"] + 4
    np.testing.assert_array_equal(c.numpy(), a.numpy() + b.numpy())


def test_a_smaller_request_of_the_same_class_reuses_the_buffer():
    pg.set_cache_limit(64 * MiB)
    pg.ones(4 * N)  # 4 MiB, freed at once
    hits = pg.memory_stats()["cache_hits"]
    x = pg.full((4 * N - 1000,), 2.0)
    assert pg.memory_stats()["cache_hits"] == hits + 1
    np.testing.assert_array_equal(x.numpy(), np.full(4 * N - 1000, 2.0, np.float32))


def test_small_buffers_never_reach_the_cache():
    pg.ones(N // 2)
    assert pg.memory_stats()["cached_blocks"] == 0


def test_zeros_from_a_reused_buffer_are_zeros():
    pg.set_cache_limit(64 * MiB)
    pg.full((4 * N,), 7.0)
    hits = pg.memory_stats()["cache_hits"]
    z = pg.zeros(4 * N)
    assert pg.memory_stats()["cache_hits"] == hits + 1
    assert not z.numpy().any()
    # gradients the engine starts from zeros: scatter_add and indexing's backward
    pg.full((4 * N,), 7.0)
    x = pg.ones(4 * N, requires_grad=True)
    x[:10].sum().backward()
    g = x.grad.numpy()
    assert (g[:10] == 1).all() and not g[10:].any()
    pg.full((4 * N,), 7.0)
    s = pg.scatter_add(pg.ones(3), (4 * N,), np.array([0, 5, 5]))
    expected = np.zeros(4 * N, np.float32)
    expected[[0, 5]] = [1, 2]
    np.testing.assert_array_equal(s.numpy(), expected)


def test_the_limit_holds():
    limit = 5 * MiB
    pg.set_cache_limit(limit)
    rng = np.random.default_rng(0)
    for _ in range(40):
        live = [pg.ones(int(n)) for n in rng.integers(N, 3 * N, size=3)]
        del live
        assert pg.memory_stats()["cached_bytes"] <= limit
    s = pg.memory_stats()
    assert s["cached_blocks"] >= 2, s  # the cache was used, within the limit
    pg.ones(2 * limit // 4)  # larger than the whole limit: not kept
    assert pg.memory_stats()["cached_bytes"] <= limit


def test_lowering_the_limit_frees_the_excess_and_zero_turns_the_cache_off():
    pg.set_cache_limit(64 * MiB)
    live = [pg.ones(N * k) for k in (1, 2, 3, 4)]
    del live
    assert pg.memory_stats()["cached_blocks"] == 4
    pg.set_cache_limit(4 * MiB)
    s = pg.memory_stats()
    assert s["cached_bytes"] <= 4 * MiB and s["cache_limit"] == 4 * MiB
    pg.set_cache_limit(0)
    assert pg.memory_stats()["cached_bytes"] == 0
    pg.ones(2 * N)
    assert pg.memory_stats()["cached_bytes"] == 0
    assert pg.get_cache_limit() == 0


def test_empty_cache_returns_everything():
    pg.set_cache_limit(64 * MiB)
    live = [pg.ones(N * k) for k in (1, 2, 4)]
    del live
    assert pg.memory_stats()["cached_bytes"] > 7 * MiB
    pg.empty_cache()
    s = pg.memory_stats()
    assert s["cached_bytes"] == 0 and s["cached_blocks"] == 0
    pg.empty_cache()  # idempotent


@pytest.mark.parametrize("bad, exc, match", [
    (-1, ValueError, r"set_cache_limit: the limit must be between 0 and 2\*\*63 - 1 bytes, got -1"),
    (2**63, ValueError, r"set_cache_limit: .* got 9223372036854775808"),
    (1.5e9, TypeError, r"set_cache_limit: expected an int number of bytes, got float"),
    ("1G", TypeError, r"set_cache_limit: expected an int number of bytes, got str"),
    (True, TypeError, r"set_cache_limit: expected an int number of bytes, got bool"),
    (None, TypeError, r"got NoneType"),
])
def test_set_cache_limit_rejects_bad_arguments(bad, exc, match):
    before = pg.get_cache_limit()
    with pytest.raises(exc, match=match) as info:
        pg.set_cache_limit(bad)
    assert isinstance(info.value, pg.PygradError)
    assert pg.get_cache_limit() == before


def test_numpy_integers_are_accepted():
    pg.set_cache_limit(np.int64(3 * MiB))
    assert pg.get_cache_limit() == 3 * MiB


def test_threads_allocating_and_freeing_large_tensors():
    limit = 12 * MiB
    pg.set_cache_limit(limit)
    hits0 = pg.memory_stats()["cache_hits"]
    errors: list[str] = []
    over: list[int] = []

    def work(seed: int) -> None:
        try:
            for r in range(25):
                n = N * (1 + (seed + r) % 3)
                x = pg.full((n,), float(seed * 100 + r))
                y = x * 2.0
                v = y.numpy()
                if not (v[0] == v[-1] == v[n // 2] == 2.0 * (seed * 100 + r)):
                    errors.append(f"thread {seed} round {r}: {v[0]}, {v[n // 2]}, {v[-1]}")
                del x, y, v
                cached = pg.memory_stats()["cached_bytes"]
                if cached > limit:
                    over.append(cached)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    assert not over, over[:5]
    s = pg.memory_stats()
    assert s["cached_bytes"] <= limit and s["cache_hits"] > hits0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork")
def test_a_forked_child_uses_its_copy_of_the_cache():
    pg.set_cache_limit(64 * MiB)
    pg.ones(4 * N)  # freed at once: cached
    pid = os.fork()
    if pid == 0:  # the child: a hit on the inherited cache, then its own frees
        ok = False
        try:
            hits = pg.memory_stats()["cache_hits"]
            x = pg.full((4 * N,), 5.0)
            ok = pg.memory_stats()["cache_hits"] == hits + 1 and bool((x.numpy() == 5.0).all())
            del x
            pg.empty_cache()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert pg.memory_stats()["cached_blocks"] == 1  # the parent's cache is its own


def _child(code: str, env: dict[str, str | None]) -> tuple[str, str]:
    """Run code in a fresh interpreter with env changes (None removes a variable); return stdout, stderr."""
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = str(Path(pg.__file__).resolve().parent.parent) + os.pathsep + \
        child_env.get("PYTHONPATH", "")
    for k, v in env.items():
        if v is None:
            child_env.pop(k, None)
        else:
            child_env[k] = v
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                       env=child_env, timeout=120, cwd=str(Path(__file__).parent))
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout, r.stderr


@pytest.mark.parametrize("value, expected", [
    ("0", 0),
    ("123456789", 123456789),
    ("512M", 512 * MiB),
    ("2G", 2**31),
    ("64 KiB", 64 * 1024),
    ("1gb", 2**30),
    (" 7 ", 7),
])
def test_env_var_sets_the_limit(value, expected):
    code = "import pygrad as pg; print(pg.get_cache_limit())"
    out, err = _child(code, {"PYGRAD_CACHE_BYTES": value})
    assert out.strip() == str(expected) and not err


@pytest.mark.parametrize("value", ["abc", "-1", "1.5G", "12X", "", "G", str(2**63)])
def test_bad_env_var_warns_and_keeps_the_default(value):
    code = "import pygrad as pg; print('limit', pg.get_cache_limit())"
    default = _child(code, {"PYGRAD_CACHE_BYTES": None})[0]
    out, err = _child(code, {"PYGRAD_CACHE_BYTES": value})
    assert "RuntimeWarning" in err and f"PYGRAD_CACHE_BYTES={value!r}" in err, err
    assert "expected a number of bytes" in err
    assert out == default


@pytest.mark.skipif(os.environ.get("PYGRAD_SANITIZED") == "1" or not sys.platform.startswith("linux"),
                    reason="address-space limits do not mix with sanitizers; VmSize is read from /proc")
def test_a_refused_allocation_empties_the_cache_and_retries():
    code = """
        import resource
        import pygrad as pg

        def vm_size():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmSize:"):
                        return int(line.split()[1]) * 1024

        MiB = 2**20
        pg.set_cache_limit(2**30)
        live = [pg.ones(16 * MiB) for _ in range(3)]  # 3 x 64 MiB, then cached
        del live
        s = pg.memory_stats()
        assert s["cached_bytes"] >= 192 * MiB, s
        # room for 128 MiB more: a 160 MiB tensor fits only once the cache is given back
        limit = vm_size() + 128 * MiB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        x = pg.full((40 * MiB,), 3.0)
        s = pg.memory_stats()
        print(s["num_alloc_retries"], s["cached_bytes"], float(x.numpy()[-1]))
    """
    out, err = _child(code, {"OPENBLAS_NUM_THREADS": "1"})
    assert out.split() == ["1", "0", "3.0"], out + err
