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


def _reference_only(item: pytest.Item) -> bool:
    """A test parametrized to run on the reference engine (an id segment "ref"): pure Python and
    numpy, no C of pygrad's runs in it."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "ref" in callspec.id.split("-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under the sanitized build (PYGRAD_SANITIZED=1, tests/reliability/test_asan_python_suite.py) the
    reference engine's runs are left out: they exercise no C, which is what the sanitizers check, and
    the main suite runs them. (Some 1700 tests; the sanitized run is CI's longest part.)"""
    if os.environ.get("PYGRAD_SANITIZED") != "1":
        return
    kept = [it for it in items if not _reference_only(it)]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[it for it in items if _reference_only(it)])
        items[:] = kept
