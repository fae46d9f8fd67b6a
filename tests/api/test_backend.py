"""The reference engine stands alone, and PYGRAD_BACKEND=python serves it for every
import path: run in child processes, checking that the C extension never loads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pygrad

PKG = Path(pygrad.__file__).resolve().parent  # the package under test (installed or built in place)
ROOT = PKG.parent                              # what goes first on the children's sys.path
SRC = Path(__file__).resolve().parents[2]      # the checkout: README.md and examples/
EXAMPLES = SRC / "examples"

NO_EXTENSION = "import sys; assert 'pygrad._pygrad' not in sys.modules, 'the C extension was loaded'\n"


@pytest.fixture(scope="module")
def bare_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package without the compiled extension (as in a tree never built)."""
    root = tmp_path_factory.mktemp("bare")
    shutil.copytree(PKG, root / "pygrad", ignore=shutil.ignore_patterns("_pygrad*", "__pycache__"))
    assert not list((root / "pygrad").glob("_pygrad*"))
    return root


def _run(code: str, *, root: Path = ROOT, backend: str | None = None, args: tuple[str, ...] = (),
         cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYGRAD_BACKEND", "PYTHONPATH")}
    env["MPLBACKEND"] = "Agg"
    if backend is not None:
        env["PYGRAD_BACKEND"] = backend
    # the tree under test first on sys.path, and no editable-install finder that would
    # find an extension built elsewhere
    prelude = (f"import sys; sys.path.insert(0, {str(root)!r})\n"
               "sys.meta_path[:] = [f for f in sys.meta_path\n"
               "                   if not str(getattr(f, '__module__', '')).startswith('__editable__')]\n")
    return subprocess.run([sys.executable, "-c", prelude + code, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=cwd or root)


def test_reference_imports_without_the_extension(bare_tree: Path) -> None:
    code = textwrap.dedent("""
        import numpy as np
        import pygrad.reference as ref
        assert ref.__file__.startswith(sys.path[0]), ref.__file__
        x = ref.tensor([0.5, -1.0], dtype=ref.float64, requires_grad=True)
        model = ref.nn.Linear(2, 1, generator=0, dtype="float64")
        opt = ref.optim.SGD(model.parameters(), lr=0.1)
        (x * x).sum().backward()
        w = model.weight.numpy().copy()
        (model(x.detach().reshape(1, 2)) ** 2).sum().backward()
        opt.step()
        assert not np.allclose(model.weight.numpy(), w)
        print(x.grad.numpy().tolist(), ref.gates.MultiplyGate().forward(2.0, 3.0))
    """) + NO_EXTENSION + textwrap.dedent("""
        try:
            import pygrad._c
        except ImportError as exc:
            print("no extension:", exc)
    """)
    res = _run(code, root=bare_tree)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "[1.0, -2.0] 6.0"
    assert lines[1].startswith("no extension:") and "could not be loaded" in lines[1]


def test_reference_import_alone_does_not_load_the_extension() -> None:
    """In the built tree too: importing the reference (and its nn) never loads C."""
    res = _run("import pygrad.reference as r; r.nn.MLP([2, 3, 1], generator=0)\n" + NO_EXTENSION)
    assert res.returncode == 0, res.stderr


EVERY_PATH = textwrap.dedent("""
    import numpy as np
    import pygrad as pg
    import pygrad.optim
    import pygrad.nn.functional as F
    import pygrad.gates
    import pygrad.functional
    import pygrad.data
    from pygrad import nn, optim, gradcheck, testing, viz
    import pygrad.reference as ref
    assert pg.backend() == "python" and pg.Tensor is ref.Tensor
    assert pygrad.optim.SGD is ref.optim.SGD and optim.Adam is ref.optim.Adam
    layer = nn.Linear(2, 3, generator=0)
    out = layer(pg.randn(4, 2))
    assert type(out) is ref.Tensor and type(layer.weight) is ref.Tensor
    opt = pygrad.optim.SGD(layer.parameters(), lr=0.1)
    loss = F.cross_entropy(out, np.array([0, 1, 2, 0]))
    loss.backward()
    before = layer.weight.numpy().copy()
    opt.step()
    assert np.allclose(layer.weight.numpy(), before - 0.1 * layer.weight.grad.numpy())
    g = pygrad.gates.MultiplyGate()
    assert g.forward(-2.0, 3.0) == -6.0 and g.backward(1.0) == (3.0, -2.0)
    assert type(pygrad.gates.SigmoidGate()(pg.tensor([0.0], requires_grad=True))) is ref.Tensor
    assert type(pygrad.functional.grad(lambda t: (t * t).sum())(pg.tensor([1.0]))) is ref.Tensor
    xb, yb = next(iter(pygrad.data.DataLoader(np.ones((4, 2)), np.zeros(4, int), batch_size=2)))
    assert type(xb) is ref.Tensor
    print("ok")
""") + NO_EXTENSION


def test_backend_python_serves_the_reference_for_every_import_path() -> None:
    res = _run(EVERY_PATH, backend="python")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["ok"]
    assert "PYGRAD_BACKEND=python" in res.stderr


def test_backend_python_works_without_the_extension(bare_tree: Path) -> None:
    res = _run(EVERY_PATH, root=bare_tree, backend="python")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["ok"]


def test_c_names_are_bound_lazily_and_completely() -> None:
    import pygrad._c as C

    assert pygrad._C_NAMES == set(C.__all__)
    res = _run("import pygrad\n" + NO_EXTENSION + "pygrad.zeros(2)\nprint('pygrad._pygrad' in sys.modules)")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["True"]


def _readme_training_block() -> str:
    text = (SRC / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "DataLoader" in b]
    assert len(blocks) == 1, "README.md should have one training block (the one with a DataLoader)"
    return blocks[0]


def test_readme_training_block_runs_on_the_reference() -> None:
    block = _readme_training_block()
    assert "nn.MLP" in block and "opt.step()" in block
    res = _run(block + NO_EXTENSION, backend="python")
    assert res.returncode == 0, res.stderr
    assert float(res.stdout.split()[-1]) > 0.9  # the printed training accuracy


EXAMPLE_ARGS = {
    "moons_mlp.py": ("--steps", "20"),
    "digits_mlp.py": ("--epochs", "1"),
    "optimizer_comparison.py": ("--steps", "10"),
    "three_strategies.py": ("--seconds", "0.1"),
    "circuits.py": (),
    "port_from_pytorch.py": ("--steps", "5"),
    "convnet_digits.py": ("--epochs", "1", "--no-progress"),
    "char_transformer.py": ("--steps", "2", "--batch", "2", "--no-progress"),
}


def test_every_example_has_arguments_here() -> None:
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(EXAMPLE_ARGS)


@pytest.mark.parametrize("script", sorted(EXAMPLE_ARGS))
def test_example_runs_unchanged_on_the_reference(script: str, tmp_path: Path) -> None:
    if script in ("digits_mlp.py", "convnet_digits.py"):
        pytest.importorskip("sklearn")
    args = EXAMPLE_ARGS[script]
    if script not in ("digits_mlp.py", "port_from_pytorch.py"):  # the scripts that save pictures
        args = (*args, str(tmp_path)) if script == "circuits.py" else (*args, "--out", str(tmp_path))
    path = EXAMPLES / script
    code = (f"import runpy; sys.argv = [{str(path)!r}, *sys.argv[1:]]\n"
            f"runpy.run_path({str(path)!r}, run_name='__main__')\n" + NO_EXTENSION)
    res = _run(code, backend="python", args=args, cwd=tmp_path)
    assert res.returncode == 0, f"{script}:\n{res.stdout}\n{res.stderr}"
    assert "PYGRAD_BACKEND=python" in res.stderr
