"""A/B: pygrad's per-op overhead and MLP steps under two installs, interleaved in one run.

    python bench/ab.py PYTHON_A PYTHON_B [--rounds 7] [--labels before after]

PYTHON_A and PYTHON_B are interpreters (for example the ``bin/python`` of two
virtual environments) each with a pygrad installed: typically the commit
before a change and the change itself. One worker process per interpreter
stays up for the whole run; the parent asks them in turn, round after round,
for the same measurements, so a burst of load elsewhere hits both alike. The
benchmark code is this checkout's (bench/overhead.py and bench/mlp.py); only
the pygrad under test differs. Each figure is the best over the rounds of the
per-round figure (the median of a chain's repeats for the overhead, the best
of back-to-back steps for the MLP). Nothing here asserts anything about time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (label, sizes, batch, threads): the MLP configurations of bench/mlp.py
MLP_CASES = [("64-256-256-10", (64, 256, 256, 10), 64), ("784-512-512-10", (784, 512, 512, 10), 256)]

WORKER = r"""
import json, os, sys, time
os.chdir(os.path.expanduser("~"))
import pygrad  # the interpreter's own install, before the bench modules look for an in-place build
sys.path.insert(0, sys.argv[1])
import common, mlp, overhead

made = {}
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["what"] == "overhead":
        r = overhead.measure(overhead.engine_pygrad(), 1000, repeats=cmd["repeats"], warmup=1)
        out = {"forward": r.forward, "backward": r.backward, "check": r.check}
    else:
        key = (cmd["label"], cmd["threads"])
        if key not in made:
            params0, x0, labels = mlp.init(tuple(cmd["sizes"]), cmd["batch"])
            made[key] = mlp.engine_pygrad(params0, x0, labels)[1]
        step = made[key]
        with common.threads(cmd["threads"]):
            best = common.interleaved({"s": step}, repeats=3, inner=cmd["inner"], warmup=2)["s"]
        out = {"step": best}
    out["version"] = getattr(pygrad, "__version__", "?")
    print(json.dumps(out), flush=True)
"""


class Worker:
    """One interpreter kept running, answering measurement requests on its stdin."""

    def __init__(self, python: str) -> None:
        self.proc = subprocess.Popen([python, "-c", WORKER, str(HERE)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=dict(os.environ))

    def ask(self, **cmd: object) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("a worker died; run it alone to see its error")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("python_a")
    parser.add_argument("python_b")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--labels", nargs=2, default=["A", "B"])
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import common

    workers = [Worker(args.python_a), Worker(args.python_b)]
    rows: dict[str, list[float]] = {}
    notes: list[str] = []
    with common.LoadMeter() as meter:
        for _ in range(args.rounds):
            for k, w in enumerate(workers):
                r = w.ask(what="overhead", repeats=9)
                if r["check"]:
                    notes.append(f"{args.labels[k]}: overhead result differs from numpy: {r['check']}")
                for name in ("forward", "backward"):
                    key = f"per-op {name} (µs)"
                    best = rows.setdefault(key, [float("inf")] * 2)
                    best[k] = min(best[k], r[name])
                time.sleep(0.05)
            for label, sizes, batch in MLP_CASES:
                for t in sorted({1, common.max_threads()}):
                    for k, w in enumerate(workers):
                        inner = 20 if sizes[0] < 100 else 3
                        r = w.ask(what="mlp", label=label, sizes=sizes, batch=batch, threads=t, inner=inner)
                        key = f"MLP {label} step, {t} thread{'s' if t > 1 else ''} (ms)"
                        best = rows.setdefault(key, [float("inf")] * 2)
                        best[k] = min(best[k], r["step"] * 1e3)
                        time.sleep(common.SETTLE)
    for w in workers:
        w.close()
    table = [[key, f"{a:.3f}", f"{b:.3f}", f"{(b / a - 1) * 100:+.1f}%"] for key, (a, b) in rows.items()]
    print(f"machine: {common.machine()}")
    print()
    print(common.md_table(["figure", args.labels[0], args.labels[1], f"{args.labels[1]} vs {args.labels[0]}"],
                          table, right={1, 2, 3}))
    print()
    print(f"- best over {args.rounds} interleaved rounds; {meter.note()}")
    for n in notes:
        print(f"- {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
