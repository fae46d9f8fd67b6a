"""Smoke runs of every script in examples/, with small settings, in subprocesses."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import pygrad

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = {**os.environ, "PYTHONPATH": str(Path(pygrad.__file__).resolve().parent.parent), "MPLBACKEND": "Agg"}
HAS_MPL = importlib.util.find_spec("matplotlib") is not None


def _run(script: str, *args: str, timeout: float = 180) -> str:
    with tempfile.TemporaryDirectory() as cwd:  # outside the source tree, which may hold an unbuilt pygrad
        r = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, env=ENV,
                           timeout=timeout, cwd=cwd)
    assert r.returncode == 0, f"{script} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _picture(out: str, path: Path) -> None:
    if HAS_MPL:
        assert f"saved {path}" in out and path.read_bytes()[:4] == b"\x89PNG"
    else:
        assert "matplotlib is not installed" in out


def test_every_example_has_a_smoke_test() -> None:
    tested = {"moons_mlp.py", "digits_mlp.py", "optimizer_comparison.py", "three_strategies.py", "circuits.py",
              "port_from_pytorch.py", "convnet_digits.py", "char_transformer.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_port_from_pytorch() -> None:
    """The PyTorch script gives the same numbers on both engines (and, with torch installed, as torch)."""
    out = _run("port_from_pytorch.py", "--steps", "30")
    finals = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\S+)\s+loss [\d.]+ -> ([\d.]+)", out, re.M)}
    assert abs(finals["pygrad"] - finals["pygrad.reference"]) < 1e-5, out
    assert finals["pygrad"] < 1.2, out
    if "torch" in finals:
        for m in re.finditer(r"vs torch: max \|loss difference\| ([\d.e+-]+), max \|parameter difference\| ([\d.e+-]+)",
                             out):
            assert float(m.group(1)) < 1e-4 and float(m.group(2)) < 1e-3, out


def test_moons_mlp(tmp_path) -> None:
    out = _run("moons_mlp.py", "--steps", "30", "--out", str(tmp_path))
    assert "step  29" in out
    acc = float(re.search(r"final accuracy ([\d.]+)%", out).group(1))
    assert acc > 80
    _picture(out, tmp_path / "moons_boundary.png")


def test_digits_mlp_reaches_95_percent() -> None:
    pytest.importorskip("sklearn")
    out = _run("digits_mlp.py")
    test_acc = float(re.search(r"test accuracy ([\d.]+)% \(", out).group(1))
    assert test_acc >= 95.0, out


def test_optimizer_comparison(tmp_path) -> None:
    out = _run("optimizer_comparison.py", "--steps", "40", "--out", str(tmp_path))
    rows = {line[:16].strip(): [float(v) for v in line[16:].split()] for line in out.splitlines()[2:8]}
    assert list(rows) == ["SGD", "SGD + momentum", "SGD + Nesterov", "AdaGrad", "RMSProp", "Adam"]
    for name, losses in rows.items():
        assert len(losses) == 4 and losses[-1] < losses[0], name
    _picture(out, tmp_path / "optimizers.png")


def test_three_strategies(tmp_path) -> None:
    out = _run("three_strategies.py", "--seconds", "0.3", "--out", str(tmp_path))
    names = [line.split("  ")[0] for line in out.splitlines()[2:5]]
    assert names == ["random search", "numeric gradient", "analytic gradient"]
    for line in out.splitlines()[2:5]:
        iterations, loss = line[20:].split()[:2]
        assert int(iterations) >= 1 and float(loss) < 9.0  # each improved on W = 0
    err = float(re.search(r"max relative error ([\d.e+-]+)", out).group(1))
    assert err < 1e-5
    _picture(out, tmp_path / "three_strategies.png")


def test_circuits(tmp_path) -> None:
    """The notes' two circuits as DOT files (and PNG/SVG with Graphviz), run as a user would."""
    out = _run("circuits.py", str(tmp_path))
    assert (tmp_path / "add_mul.dot").is_file() and (tmp_path / "sigmoid_neuron.dot").is_file()
    dot = (tmp_path / "sigmoid_neuron.dot").read_text()
    assert "0.7311" in dot and "0.1966" in dot  # σ(1) and (1 - σ)σ, forward value and gradient
    assert str(tmp_path / "add_mul.dot") in out


def test_convnet_digits(tmp_path) -> None:
    """The script runs the demo's ConvNet (its 98% claim is tested on the default run in test_demo.py)."""
    pytest.importorskip("sklearn")
    out = _run("convnet_digits.py", "--epochs", "3", "--no-progress", "--out", str(tmp_path))
    assert "epoch 3/3" in out
    assert float(re.search(r"test accuracy: ([\d.]+)%", out).group(1)) > 80, out
    _picture(out, tmp_path / "convnet_curves.png")


def test_char_transformer_learns(tmp_path) -> None:
    """A short run: the loss falls well below the uniform guess, samples print, the curve is saved."""
    out = _run("char_transformer.py", "--steps", "60", "--batch", "16", "--no-progress", "--out", str(tmp_path))
    m = re.search(r"final loss ([\d.]+) nats/char \(uniform: ([\d.]+)\)", out)
    assert m and float(m.group(1)) < float(m.group(2)) - 0.8, out
    assert out.count("sample: 'The gradient ") == 1 and out.count("sample:") == 3
    _picture(out, tmp_path / "char_transformer_loss.png")
