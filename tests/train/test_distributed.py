"""pygrad.distributed, DistributedDataParallel and DistributedSampler.

The multi-rank tests start ``mpiexec -n 2`` / ``-n 3`` themselves on the
scripts in tests/distributed_scripts/ (each with a timeout: a hang fails the
test instead of stalling the suite); they need the ``distributed`` extra
(``pip install ".[distributed]"``) and are skipped without it. The sampler and
the import rules need no MPI.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import pygrad
from pygrad.data import DataLoader, DistributedSampler

SCRIPTS = Path(__file__).resolve().parent / "distributed_scripts"
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
# Under the AddressSanitizer run of the suite (tests/reliability/test_asan_python_suite.py) every launched program
# inherits the sanitizer preload, and the leak checker would report MPI's and mpiexec's own allocations
# at exit: the tests that start MPI are left to the ordinary run.
SANITIZED = os.environ.get("PYGRAD_SANITIZED") == "1"
needs_mpi = pytest.mark.skipif(not (HAVE_MPI and MPIEXEC) or SANITIZED,
                               reason="not under the sanitizer run" if SANITIZED else
                               "needs the distributed extra: pip install \".[distributed]\" (mpi4py and an MPI wheel)")


def _env() -> dict[str, str]:
    """The environment of a launched rank: the same pygrad as this test imports."""
    env = dict(os.environ)
    root = str(Path(pygrad.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    env["OMP_NUM_THREADS"] = "1"
    return env


def run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group; on timeout kill the whole group and fail (MPICH's
    mpiexec also stops the ranks itself after MPIEXEC_TIMEOUT seconds)."""
    env = dict(_env(), MPIEXEC_TIMEOUT=str(int(timeout)))
    # outside the source tree: `python -m` and `-c` put the working directory first on sys.path
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, cwd=tempfile.gettempdir())
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(args)} did not finish within {timeout} s (a hang)\nstdout:\n{out}\nstderr:\n{err}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def mpirun(n: int, script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run([MPIEXEC, "-n", str(n), sys.executable, str(SCRIPTS / script), *args], timeout)


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p.stdout


def _parity_module():
    spec = importlib.util.spec_from_file_location("ddp_parity", SCRIPTS / "ddp_parity.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- data-parallel training equals one process with the whole batch ----

@needs_mpi
@pytest.mark.parametrize("world", [2, 3])
def test_ddp_matches_one_process_with_the_whole_batch(world: int, tmp_path: Path) -> None:
    """20 steps of SGD with momentum, of Adam, and of SGD with a no_sync() accumulation step, float64:
    every rank ends with the parameters of one process trained on the union of the shards (with 3
    ranks and 10 samples, shards of 4 padded by PyTorch's rule), to 1e-12, the ranks bit-identical."""
    ok(mpirun(world, "ddp_parity.py", str(tmp_path), timeout=90))
    parity = _parity_module()
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(world)]
    for variant in parity.VARIANTS:
        want = parity.train(variant, world, 0, ddp=False)
        for r, got in enumerate(ranks):
            for name, a in want.items():
                b = got[f"{variant}/{name}"]
                assert b.dtype == np.float64 and b.shape == a.shape
                np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12, err_msg=f"{variant} rank {r} {name}")
                assert np.array_equal(b, ranks[0][f"{variant}/{name}"]), f"{variant}: rank {r} drifted from rank 0"


# ---- collectives ----

@needs_mpi
@pytest.mark.parametrize("world,extra", [(2, ["--large"]), (3, [])])
def test_collectives_every_dtype_shape_and_op(world: int, extra: list[str]) -> None:
    """all_reduce (SUM AVG MAX MIN PRODUCT, sync and async), broadcast, all_gather, reduce_scatter,
    gather, scatter on float32 / float64 / bool (and int64 once tensors have it), 0-d, empty and
    ordinary shapes, and 64 MB tensors; each rank checks its results against numpy."""
    out = ok(mpirun(world, "collectives.py", *extra, timeout=120))
    # the ranks' lines may run together on the shared stdout
    lines = re.findall(r"rank (\d+): \d+ checks passed on (\[[^]]*\])", out)
    assert sorted(int(r) for r, _ in lines) == list(range(world)), out
    assert all("'float32', 'float64'" in dts and "'bool'" in dts for _, dts in lines), out


@needs_mpi
def test_collectives_at_world_size_one_without_mpiexec() -> None:
    """Run as a plain process (MPI starts as a singleton): world size 1, every collective works."""
    out = ok(run([sys.executable, str(SCRIPTS / "collectives.py")], timeout=60))
    assert "rank 0:" in out and "checks passed" in out


@needs_mpi
def test_ddp_at_world_size_one_without_mpiexec(tmp_path: Path) -> None:
    """DistributedDataParallel without mpiexec is the plain model: same parameters as no wrapper."""
    ok(run([sys.executable, str(SCRIPTS / "ddp_parity.py"), str(tmp_path)], timeout=60))
    parity = _parity_module()
    got = np.load(tmp_path / "rank0.npz")
    for variant in parity.VARIANTS:
        for name, a in parity.train(variant, 1, 0, ddp=False).items():
            np.testing.assert_allclose(got[f"{variant}/{name}"], a, rtol=1e-12, atol=1e-12)


@needs_mpi
def test_helpers_and_ddp_details(tmp_path: Path) -> None:
    """print0 prints once; save() writes on rank 0 and every rank reads it after its barrier (rank 0's
    parameters, 'module.' names); main_process_first; an unused parameter gets a zero gradient and a used
    one the ranks' average, also with several forwards before one backward; a parameter added after
    wrapping is named; a no_grad forward is plain; async collectives complete on wait()."""
    out = ok(mpirun(3, "helpers.py", str(tmp_path), timeout=60))
    assert out.count("print0 from rank") == 1 and "print0 from rank 0" in out, out
    assert (tmp_path / "report.txt").read_text().splitlines() == [
        "saved 6 arrays", "unused parameter: zero gradient", "three forwards, one backward: averaged",
        "late parameter: named", "no_grad forward: plain", "async collectives: done"]


# ---- faults ----

@needs_mpi
def test_a_rank_that_raises_takes_every_rank_down() -> None:
    """Rank 1 raises while ranks 0 and 2 wait in an all_reduce: all exit (non-zero), none hangs
    (the launch is killed after 90 s and the test fails if that happens; three ranks importing the
    package on two busy cores took more than 30 s once)."""
    p = mpirun(3, "faults.py", "raise", timeout=90)
    assert p.returncode != 0, p.stdout + p.stderr
    assert "rank 1 fails on purpose" in p.stderr
    assert "aborting every rank" in p.stderr
    assert "returned although" not in p.stdout


@needs_mpi
def test_mismatched_collectives_raise_on_every_rank(tmp_path: Path) -> None:
    """Different shapes, dtypes, ops, roots, or a bad argument on one rank only: every rank raises an
    error naming what each rank passed; the ranks then go on with a correct collective."""
    ok(mpirun(3, "faults.py", "mismatch", str(tmp_path), timeout=60))

    def said(rank: int, case: str) -> str:
        lines = (tmp_path / f"rank{rank}.txt").read_text().splitlines()
        found = [ln for ln in lines if ln.startswith(f"rank {rank}: {case}")]
        assert len(found) == 1, lines
        return found[0]

    for r in range(3):
        lines = (tmp_path / f"rank{r}.txt").read_text().splitlines()
        msg = said(r, "all_reduce shape")
        assert "ShapeError" in msg and "(2,)" in msg and "(3,)" in msg and "(4,)" in msg
        msg = said(r, "all_reduce dtype")
        assert "float32" in msg and "float64" in msg
        assert "SUM" in said(r, "all_reduce op") and "MAX" in said(r, "all_reduce op")
        assert "src=0" in said(r, "broadcast root") and "src=2" in said(r, "broadcast root")
        assert "(4,)" in said(r, "all_gather shape")
        assert "AVG needs a floating dtype" in said(r, "bad argument on rank 1 only")
        assert len(lines) == 7 and not any(ln.endswith("no error") for ln in lines), lines
        assert said(r, "afterwards all_reduce gives").endswith("[3.0, 3.0, 3.0, 3.0, 3.0]")


@needs_mpi
def test_ddp_of_different_models_raises_on_every_rank(tmp_path: Path) -> None:
    """Wrapping models whose parameters differ across ranks raises on every rank, naming the shapes."""
    ok(mpirun(2, "faults.py", "ddp", str(tmp_path), timeout=60))
    for r in range(2):
        out = (tmp_path / f"rank{r}.txt").read_text()
        assert out.startswith(f"rank {r}: ddp: ShapeError: DistributedDataParallel: the ranks disagree"), out
        assert "(3, 4)" in out and "(3, 5)" in out


# ---- the demo ----

@needs_mpi
def test_demo_distributed_prints_one_accuracy_line() -> None:
    p = run([MPIEXEC, "-n", "2", sys.executable, "-m", "pygrad", "demo", "--distributed", "--epochs", "20",
             "--no-plots", "--no-progress"], timeout=90)
    out = ok(p)
    assert out.count("validation accuracy:") == 1, out
    assert out.count("train accuracy:") == 1, out
    assert "2 processes" in out, out


# ---- the import rule: MPI only behind the extra ----

def test_import_without_mpi4py_names_the_extra() -> None:
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "try:\n    import pygrad.distributed\nexcept ImportError as e:\n    print('ImportError:', e)\n"
            "try:\n    import pygrad.nn.parallel\nexcept ImportError as e:\n    print('ImportError:', e)\n")
    out = ok(run([sys.executable, "-c", code], timeout=60))
    assert out.count('ImportError:') == 2 and out.count('pip install "pygrad[distributed]"') == 2, out


def test_nothing_else_imports_mpi() -> None:
    code = ("import sys, pygrad, pygrad.nn, pygrad.optim, pygrad.data, pygrad.demo, pygrad.__main__, "
            "pygrad.functional, pygrad.gates\n"
            "pygrad.data.DataLoader([[1.0], [2.0]], sampler=pygrad.data.DistributedSampler(2, 2, 1))\n"
            "print(sorted(m for m in sys.modules if m.startswith('mpi4py') or m.startswith('pygrad.distributed')))")
    out = ok(run([sys.executable, "-c", code], timeout=60))
    assert out.strip() == "[]", out


# ---- DistributedSampler (no MPI needed: rank and world given) ----

def test_sampler_follows_pytorchs_padding_rule() -> None:
    # 10 samples over 3 ranks: [0..9] padded with its first two to 12, rank r takes every 3rd from r
    shards = [list(DistributedSampler(10, 3, r, shuffle=False)) for r in range(3)]
    assert shards == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    assert [len(DistributedSampler(10, 3, r)) for r in range(3)] == [4, 4, 4]
    # drop_last: cut to 9, three each
    assert [list(DistributedSampler(10, 3, r, shuffle=False, drop_last=True)) for r in range(3)] == [
        [0, 3, 6], [1, 4, 7], [2, 5, 8]]
    # fewer samples than ranks: the order repeats as often as needed
    assert [list(DistributedSampler(2, 5, r, shuffle=False)) for r in range(5)] == [[0], [1], [0], [1], [0]]
    assert [list(DistributedSampler(9, 3, r, shuffle=False)) for r in range(3)] == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


def test_sampler_shuffles_per_epoch_the_same_on_every_rank() -> None:
    def shards(epoch: int) -> list[list[int]]:
        out = []
        for r in range(3):
            s = DistributedSampler(range(11), num_replicas=3, rank=r, shuffle=True, seed=5)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    e0, e1 = shards(0), shards(1)
    assert e0 == shards(0)  # deterministic
    assert e0 != e1  # a new order per epoch
    for sh in (e0, e1):
        flat = sum(sh, [])
        assert len(flat) == 12 and set(flat) == set(range(11))  # a permutation plus one repeat for padding
        interleaved = [sh[r][i] for i in range(4) for r in range(3)]
        assert sorted(interleaved[:11]) == list(range(11)) and interleaved[11] == interleaved[0]


def test_sampler_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rank must be in"):
        DistributedSampler(10, 3, 3)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(10, 0, 0)
    with pytest.raises(TypeError, match="must have a length"):
        DistributedSampler(object(), 2, 0)


def test_dataloader_with_a_sampler() -> None:
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    sampler = DistributedSampler(10, 3, 1, shuffle=False)
    loader = DataLoader(X, y, batch_size=3, sampler=sampler, tensors=False)
    assert len(loader) == 2
    batches = list(loader)
    assert [b[1].tolist() for b in batches] == [[1, 4, 7], [0]]
    np.testing.assert_array_equal(batches[0][0], X[[1, 4, 7]])
    with pytest.raises(ValueError, match="sampler and shuffle"):
        DataLoader(X, y, sampler=sampler, shuffle=True)
    with pytest.raises(TypeError, match="iterable of indices"):
        DataLoader(X, y, sampler=3)
    with pytest.raises(ValueError, match="outside the 10 samples"):
        list(DataLoader(X, y, sampler=[0, 10]))


# ---- before init_process_group (no MPI started: checked in a fresh process) ----

def test_calls_before_init_say_what_to_do() -> None:
    if not HAVE_MPI:
        pytest.skip("needs the distributed extra")
    code = """
import sys
import pygrad as pg, pygrad.distributed as dist
from pygrad import nn
from pygrad.data import DistributedSampler
from pygrad.nn.parallel import DistributedDataParallel
assert not dist.is_initialized() and dist.is_main_process()
for call in (lambda: dist.all_reduce(pg.ones(2)), dist.get_rank, dist.barrier,
             lambda: DistributedDataParallel(nn.Linear(2, 2))):
    try:
        call()
    except RuntimeError as exc:
        print(type(exc).__name__, exc)
try:
    DistributedSampler(10)
except ValueError as exc:
    print(type(exc).__name__, exc)
try:
    dist.init_process_group(backend="nccl")
except ValueError as exc:
    print(type(exc).__name__, exc)
print("MPI started:", "mpi4py.MPI" in sys.modules)
"""
    out = ok(run([sys.executable, "-c", code], timeout=60))
    lines = out.splitlines()
    assert len(lines) == 7, out
    assert all("init_process_group()" in ln for ln in lines[:5]), out
    assert lines[:4] == [ln for ln in lines[:4] if ln.startswith("PygradRuntimeError")], out
    assert "backend must be 'mpi'" in lines[5] and lines[6] == "MPI started: False", out
