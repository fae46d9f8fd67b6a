"""Test configuration: make sure the installed (compiled) pygrad is the one under test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# `python -m pytest` puts the source tree first on sys.path; without an in-place
# build its pygrad/ has no compiled extension. Prefer the installed package then.
if not list((ROOT / "pygrad").glob("_pygrad*.so")) and not list((ROOT / "pygrad").glob("_pygrad*.pyd")):
    sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != ROOT]

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, fresh per test."""
    return np.random.default_rng(1234)
