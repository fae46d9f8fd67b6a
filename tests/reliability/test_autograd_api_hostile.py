"""Hostile uses of the autograd API, run in a child process so that a crash in
C fails the test instead of killing the run: hooks that raise, return junk,
re-enter backward, register or remove hooks mid-sweep, drop the tensors they
were given; gradients of freed and odd tensors; in-place updates from hooks.
Each case must end in a result or a pygrad exception, on both engines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pygrad

CHILD = textwrap.dedent(r'''
    import gc, sys, threading
    import numpy as np
    import pygrad as pg, pygrad.reference as ref
    from pygrad import autograd

    results = []

    def case(name, fn):
        try:
            fn()
            results.append((name, "ok"))
        except (pg.PygradError, ValueError, TypeError, RuntimeError) as exc:
            results.append((name, type(exc).__name__))

    for e in (pg, ref):
        def leaf(v):
            return e.tensor(np.asarray(v, dtype=np.float64), dtype=e.float64, requires_grad=True)

        def junk_returns():
            for bad in (1.0, "x", np.ones(2), [1.0, 2.0], (ref if e is pg else pg).tensor([1.0, 2.0])):
                x = leaf([1.0, 2.0])
                x.register_hook(lambda g, bad=bad: bad)
                try:
                    (x * 2.0).sum().backward()
                except (pg.PygradError, TypeError, RuntimeError, ValueError):
                    pass
            x = leaf([1.0, 2.0])
            (x * 2.0).sum().backward()
            assert np.allclose(x.grad.numpy(), 2.0)

        def reenter_same_graph():
            x = leaf([1.0, 2.0])
            y = x * x
            z = (y * 3.0).sum()
            y.register_hook(lambda g: z.backward(retain_graph=True))
            z.backward(retain_graph=True)

        def reenter_other_graph():
            x = leaf([1.0, 2.0])
            inner = leaf([3.0])
            def h(g):
                with e.enable_grad():  # hooks run with grad mode as the sweep's create_graph (off), as in PyTorch
                    (inner * inner).sum().backward()
            x.register_hook(h)
            (x * 2.0).sum().backward()
            assert np.allclose(inner.grad.numpy(), 6.0)

        def register_and_remove_mid_sweep():
            x = leaf([1.0, 2.0])
            y = x * 2.0
            handles = []
            def h(g):
                handles.append(x.register_hook(lambda g2: g2 * 0.0))
                handles.append(y.register_hook(lambda g2: g2))
                for hd in handles:
                    hd.remove()
            y.register_hook(h)
            (y * y).sum().backward()

        def drop_everything_in_a_hook():
            x = leaf([1.0, 2.0])
            holder = {"y": x * 2.0}
            z = (holder["y"] * holder["y"]).sum()
            def h(g):
                holder.clear()
                gc.collect()
            holder["y"].register_hook(h)
            x.register_hook(lambda g: g * 1.0)
            x.register_post_accumulate_grad_hook(lambda t: t.detach_())
            z.backward()
            del z
            gc.collect()

        def keep_and_modify_the_gradient():
            x = leaf([1.0, 2.0])
            kept = []
            x.register_hook(lambda g: kept.append(g))
            y = x * 3.0
            y.register_hook(lambda g: (g.mul_(2.0), None)[1])
            (y * 1.0).sum().backward()
            kept[0].add_(1.0)

        def inplace_on_a_saved_value_from_a_hook():
            x = leaf([1.0, 2.0])
            b = x * 1.0
            c = b * b
            d = c * 1.0
            d.register_hook(lambda g: b.detach().mul_(5.0))
            d.sum().backward()

        def grad_of_freed_and_odd_tensors():
            x = leaf([1.0, 2.0])
            y = x * 2.0
            z = (y * y).sum()
            (gy,) = autograd.grad(z, y, retain_graph=True)
            del y
            gc.collect()
            autograd.grad(z, [x, x, x], retain_graph=True)
            autograd.grad([z, z], [x], retain_graph=True)
            autograd.grad(x, [x], grad_outputs=[np.ones(2)])
            autograd.grad(z, [x], create_graph=True)
            autograd.grad([], [x])

        def empty_and_zero_d():
            x = leaf(np.zeros((0, 3)))
            x.register_hook(lambda g: g * 2.0)
            autograd.grad((x * 2.0).sum(), x)
            s = leaf(1.5)
            s.register_hook(lambda g: g + 1.0)
            (s * s).backward()

        def inplace_chains():
            x = leaf([0.5, -1.0, 2.0])
            y = x * 1.0
            for _ in range(50):
                y.tanh_().mul_(1.5).add_(x, alpha=0.1).clamp_(-3.0, 3.0)
            y.sum().backward()
            y.exp_()
            with e.no_grad():
                y.zero_()

        def inference_mix():
            with e.inference_mode():
                t = e.ones(3, dtype=e.float64)
                u = t.reshape(3)
            x = leaf([1.0, 2.0, 3.0])
            for f in (lambda: x * t, lambda: x + u, lambda: t.copy_(x), lambda: u.requires_grad_(),
                      lambda: t.masked_fill_(e.tensor([True, False, True]), 1.0)):
                try:
                    f()
                except (pg.PygradError, RuntimeError):
                    pass

        def hooks_in_threads():
            errors = []
            def work():
                try:
                    for _ in range(50):
                        x = leaf([1.0, 2.0])
                        x.register_hook(lambda g: g * 2.0)
                        y = x * x
                        y.register_hook(lambda g: g + 0.0)
                        y.sum().backward()
                        assert np.allclose(x.grad.numpy(), [4.0, 8.0])
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)
            ts = [threading.Thread(target=work) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert not errors, errors

        def shared_leaf_hooks_in_threads():
            w = leaf([1.0, 2.0])
            calls = []
            w.register_hook(lambda g: calls.append(1) or g)
            def work():
                for _ in range(50):
                    (w * 3.0).sum().backward()
            ts = [threading.Thread(target=work) for _ in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert len(calls) == 150 and np.allclose(w.grad.numpy(), 450.0)

        for f in (junk_returns, reenter_same_graph, reenter_other_graph, register_and_remove_mid_sweep,
                  drop_everything_in_a_hook, keep_and_modify_the_gradient, inplace_on_a_saved_value_from_a_hook,
                  grad_of_freed_and_odd_tensors, empty_and_zero_d, inplace_chains, inference_mix, hooks_in_threads,
                  shared_leaf_hooks_in_threads):
            case(f"{e.__name__}.{f.__name__}", f)

    for name, outcome in results:
        print(name, outcome)
    print(len(results), "cases done")
''')


def test_hostile_autograd_api_calls_never_crash(tmp_path: Path) -> None:
    script = tmp_path / "hostile.py"
    script.write_text(CHILD)
    root = str(Path(pygrad.__file__).resolve().parent.parent)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": root}, cwd=str(tmp_path))  # keeps LD_PRELOAD (ASan)
    assert r.returncode == 0, f"the child failed (status {r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == f"{2 * 13} cases done", r.stdout
    outcomes = dict(line.rsplit(" ", 1) for line in lines[:-1])
    for eng in ("pygrad", "pygrad.reference"):
        # what must succeed outright
        for name in ("reenter_other_graph", "register_and_remove_mid_sweep", "drop_everything_in_a_hook",
                     "keep_and_modify_the_gradient", "empty_and_zero_d", "inplace_chains", "inference_mix",
                     "hooks_in_threads", "shared_leaf_hooks_in_threads", "junk_returns"):
            assert outcomes[f"{eng}.{name}"] == "ok", (eng, name, outcomes)
        # what must be refused with an exception
        assert outcomes[f"{eng}.reenter_same_graph"] == "PygradRuntimeError", outcomes
        assert outcomes[f"{eng}.inplace_on_a_saved_value_from_a_hook"] == "PygradRuntimeError", outcomes
        assert outcomes[f"{eng}.grad_of_freed_and_odd_tensors"] in ("PygradTypeError", "TypeError"), outcomes
