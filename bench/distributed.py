"""pygrad.distributed: all-reduce bandwidth against mpi4py's own Allreduce, and the data-parallel MLP step.

    python bench/distributed.py [--quick]        # launches mpiexec itself (needs the distributed extra)

Two parts, each run under ``mpiexec`` by this script (``--worker PART``):

- all_reduce of float32 tensors from 4 KB to 64 MB on 2 ranks: pygrad's
  ``all_reduce`` (with its cross-rank agreement check, and with
  ``set_checks(False)``) against ``comm.Allreduce(MPI.IN_PLACE, array)`` of
  mpi4py on numpy arrays of the same size, interleaved; bus bandwidth =
  2(N-1)/N x bytes / time (the bytes each rank sends in a ring all-reduce).
- the 784-512-512-10 MLP (float32, SGD with momentum, global batch 256) at
  1 and 2 ranks, one thread per rank, wrapped in DistributedDataParallel:
  the step time and the share of it spent in the gradient all-reduce
  (including the wait for the slower rank).

Nothing is asserted about time; the tables go to stdout (markdown).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SIZES = [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]
MLP_SIZES = (784, 512, 512, 10)
GLOBAL_BATCH = 256


# ------------------------------------------------------------------ workers ---

def _timed_blocks(comm, fns: dict, inner: int, repeats: int) -> dict:
    """Best seconds per call of each function, timed on every rank between barriers (rank 0's figure)."""
    best = {k: float("inf") for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            comm.Barrier()
            best[name] = min(best[name], (time.perf_counter() - t0) / inner)
    return best


def worker_allreduce(quick: bool) -> dict:
    import pygrad as pg
    import pygrad.distributed as dist

    dist.init_process_group()
    from mpi4py import MPI

    own = MPI.COMM_WORLD.Dup()  # mpi4py on its own communicator, as a user of it would
    rows = []
    for nbytes in SIZES:
        n = nbytes // 4
        t = pg.zeros(n, dtype="float32")  # zeros: repeated sums stay finite
        a = np.zeros(n, dtype=np.float32)
        inner = max(1, min(2000, int(4e6 // nbytes) + 1))

        def checked(t=t):
            dist.all_reduce(t)

        def unchecked(t=t):
            before = dist.set_checks(False)
            dist.all_reduce(t)
            dist.set_checks(before)

        def mpi4py_(a=a):
            own.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)

        best = _timed_blocks(own, {"mpi4py": mpi4py_, "pygrad": checked, "pygrad_nocheck": unchecked},
                             inner, 3 if quick else 9)
        rows.append({"bytes": nbytes, **best})
    return {"world": dist.get_world_size(), "rows": rows}


def worker_mlp(quick: bool, wrap: bool = True) -> dict:
    import pygrad as pg
    import pygrad.distributed as dist
    from pygrad import nn, optim
    from pygrad.distributed import collectives
    from pygrad.nn import functional as F
    from pygrad.nn.parallel import DistributedDataParallel

    dist.init_process_group()
    pg.set_num_threads(1)
    rank, world = dist.get_rank(), dist.get_world_size()
    model = nn.MLP(list(MLP_SIZES), activation="relu", generator=0)
    net = DistributedDataParallel(model) if wrap else model
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((GLOBAL_BATCH, MLP_SIZES[0])).astype(np.float32)
    y = rng.integers(0, MLP_SIZES[-1], GLOBAL_BATCH)
    per = GLOBAL_BATCH // world
    xb, yb = pg.tensor(X[rank * per:(rank + 1) * per]), y[rank * per:(rank + 1) * per]
    comm_time = [0.0]  # seconds inside MPI for the gradients this step: starting, polling, waiting
    plain, plain_start = collectives.all_reduce_array, collectives.iall_reduce_array

    def timed(a, average):
        t0 = time.perf_counter()
        plain(a, average)
        comm_time[0] += time.perf_counter() - t0

    class TimedRequest:
        def __init__(self, request):
            self.request = request

        def Wait(self):  # noqa: N802 - mpi4py's name
            t0 = time.perf_counter()
            self.request.Wait()
            comm_time[0] += time.perf_counter() - t0

        def Test(self):  # noqa: N802
            t0 = time.perf_counter()
            done = self.request.Test()
            comm_time[0] += time.perf_counter() - t0
            return done

    def timed_start(a):
        t0 = time.perf_counter()
        request = plain_start(a)
        comm_time[0] += time.perf_counter() - t0
        return None if request is None else TimedRequest(request)

    collectives.all_reduce_array = timed
    collectives.iall_reduce_array = timed_start

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    c = dist.collectives.group.comm()
    steps = 10 if quick else 60
    times, comms = [], []
    for _ in range(steps):
        c.Barrier()
        comm_time[0] = 0.0
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        comms.append(comm_time[0])
    collectives.all_reduce_array, collectives.iall_reduce_array = plain, plain_start
    order = np.argsort(times)
    mid = order[len(order) // 2]
    nparams = sum(int(np.prod(p.shape)) for p in model.parameters())
    return {"world": world, "ddp": wrap, "per_rank_batch": per, "step": float(np.median(times)),
            "best": float(min(times)), "comm": float(comms[mid]), "comm_median": float(np.median(comms)),
            "params": nparams}


def worker(part: str, quick: bool) -> None:
    if part == "allreduce":
        out = worker_allreduce(quick)
    else:
        out = worker_mlp(quick, wrap=part == "mlp")
    import pygrad.distributed as dist

    if dist.get_rank() == 0:
        print("RESULT " + json.dumps(out), flush=True)


# ------------------------------------------------------------------ driver ---

def launch(n: int, part: str, quick: bool, timeout: float = 600) -> dict:
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if mpiexec is None:
        raise RuntimeError("mpiexec not found: pip install \"pygrad[distributed]\"")
    cmd = [mpiexec, "-n", str(n), sys.executable, str(HERE), "--worker", part] + (["--quick"] if quick else [])
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


LAST: dict = {}

# ------------------------------------------------------------ scaling model ---
# Ring all-reduce of S bytes over N ranks: each rank sends and receives 2(N-1)/N x S bytes in 2(N-1) steps,
#   T_ar(N, S) = 2(N-1)/N x S / B + 2(N-1) x alpha
# (B: link bandwidth, alpha: per-message latency). Weak scaling (fixed batch per rank): a step computes for
# T_c whatever N is, and
#   without overlap (one bucket, or MPI moving data only when waited on)   T_step = T_c + T_ar
#   with the buckets' all-reduces overlapping the backward (~ 2/3 of T_c)  T_step = T_c + max(0, T_ar - 2/3 T_c)
# efficiency = T_c / T_step.

NETWORKS = {"10 Gbit/s": (1.25e9 * 0.9, 25e-6), "100 Gbit/s": (12.5e9 * 0.9, 5e-6)}
"""name -> (usable bytes/s at 90% of line rate, per-message latency alpha in s)"""

MODELS = {
    # name -> (gradient bytes, compute seconds per step at 128 samples per rank on one core)
    "MLP 784-512-512-10": (669706 * 4, 2.9e-3),
    "digits ConvNet": (53_000 * 4, 2.7e-3),
}
"""The MLP: 669,706 float32 parameters, T_c = half of the measured 1-thread step at batch 256 (5.6-5.8 ms,
bench/RESULTS.md and this bench). The ConvNet of the CNN issue (conv3x3 1->32, pool, conv3x3 32->64, pool,
affine 256->128, affine 128->10 on 8x8 digits): about 53,000 parameters, about 2.1 MFLOP per sample forward
and backward, so 270 MFLOP per step at 128 per rank; T_c assumes 100 GFLOP/s (55% of one core's float32 FMA
peak here), a figure to replace with a measurement once the conv layers exist."""


def ring_allreduce_seconds(n: int, nbytes: float, bandwidth: float, alpha: float) -> float:
    """T_ar = 2(N-1)/N x bytes / bandwidth + 2(N-1) x alpha (0 for one rank)."""
    return 0.0 if n == 1 else 2 * (n - 1) / n * nbytes / bandwidth + 2 * (n - 1) * alpha


def scaling_table() -> str:
    """The predicted step time and efficiency, markdown."""
    sys.path.insert(0, str(HERE.parent))
    import common

    rows = []
    for model, (nbytes, tc) in MODELS.items():
        for net, (bw, alpha) in NETWORKS.items():
            for n in (2, 4, 8, 16, 32, 64):
                tar = ring_allreduce_seconds(n, nbytes, bw, alpha)
                blocking = tc + tar
                overlapped = tc + max(0.0, tar - 2 / 3 * tc)
                rows.append([model, net, str(n), f"{tar * 1e3:.2f}", f"{blocking * 1e3:.2f}",
                             f"{tc / blocking:.0%}", f"{overlapped * 1e3:.2f}", f"{tc / overlapped:.0%}"])
    return common.md_table(["model", "network", "nodes", "all-reduce ms", "step ms (no overlap)", "efficiency",
                            "step ms (overlapped)", "efficiency (overlapped)"], rows)


def run(quick: bool = False) -> str:
    """The distributed section as markdown (mpiexec launched from here)."""
    sys.path.insert(0, str(HERE.parent))
    import common

    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "## Data-parallel (bench/distributed.py)\n\n- not run: needs pip install \"pygrad[distributed]\""
    ar = launch(2, "allreduce", quick)
    world = ar["world"]
    factor = 2 * (world - 1) / world
    rows = []
    for r in ar["rows"]:
        b = r["bytes"]
        label = f"{b >> 20} MB" if b >= 1 << 20 else f"{b >> 10} KB"
        rows.append([label, f"{r['mpi4py'] * 1e6:.1f}", f"{factor * b / r['mpi4py'] / 1e9:.2f}",
                     f"{r['pygrad'] * 1e6:.1f}", f"{r['mpi4py'] / r['pygrad']:.0%}",
                     f"{r['pygrad_nocheck'] * 1e6:.1f}", f"{r['mpi4py'] / r['pygrad_nocheck']:.0%}"])
    LAST["allreduce"] = ar
    mlp = [launch(1, "mlp", quick), launch(2, "mlp", quick), launch(2, "mlp-alone", quick)]
    LAST["mlp"] = mlp
    base = mlp[0]["step"]
    mrows = [[str(m["world"]) + ("" if m["ddp"] else " (no DDP: compute alone)"), str(m["per_rank_batch"]),
              f"{m['step'] * 1e3:.2f}", f"{m['best'] * 1e3:.2f}",
              f"{m['comm'] * 1e3:.2f}", f"{m['comm'] / m['step']:.0%}", f"{base / m['step']:.2f}x",
              f"{base / m['step'] / m['world']:.0%}"] for m in mlp]
    grad_mb = mlp[0]["params"] * 4 / 2**20
    return "\n".join([
        "## Data-parallel over MPI (bench/distributed.py)",
        "",
        f"### all_reduce (SUM, float32) on {world} ranks: pygrad tensors vs mpi4py Allreduce on numpy",
        "",
        common.md_table(["size", "mpi4py µs", "mpi4py bus GB/s", "pygrad µs", "pygrad / mpi4py",
                         "pygrad unchecked µs", "unchecked / mpi4py"], rows),
        "",
        "- pygrad / mpi4py = mpi4py time / pygrad time (throughput ratio; 100% = as fast); \"unchecked\": "
        "pygrad.distributed.set_checks(False), without the 16-byte cross-rank agreement all-reduce that "
        "precedes every checked collective",
        f"- bus GB/s = {factor:g} x bytes / time; best of the repeats, each a run of back-to-back calls between "
        "barriers; both on their own duplicate of MPI_COMM_WORLD",
        "",
        f"### MLP {'-'.join(map(str, MLP_SIZES))} step (float32, SGD momentum, global batch {GLOBAL_BATCH}), "
        "DistributedDataParallel, one thread per rank",
        "",
        common.md_table(["ranks", "batch per rank", "ms / step (median)", "best", "all-reduce ms",
                         "share waiting on communication", "speed-up", "efficiency"], mrows),
        "",
        f"- gradients: {mlp[0]['params']} float32 parameters = {grad_mb:.2f} MB, one bucket (25 MB cap), so "
        "its all-reduce starts when the sweep is done and nothing overlaps it; its time includes waiting for "
        "the slower rank",
        "- speed-up = 1-rank step / N-rank step at the same global batch; efficiency = speed-up / N; the row "
        "\"no DDP\" runs the same 2 ranks on their half batches without DistributedDataParallel (no stand-ins, no "
        "communication): its step time is what 2 ranks sharing this machine's cores compute in, so the "
        "difference to the DDP row is the cost of data parallelism here",
        f"- {common.machine()}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--model", action="store_true", help="print the scaling model's table and exit")
    parser.add_argument("--worker", choices=["allreduce", "mlp", "mlp-alone"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.quick)
        return 0
    if args.model:
        print(scaling_table())
        return 0
    print("# pygrad data-parallel benchmark\n")
    print(run(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
