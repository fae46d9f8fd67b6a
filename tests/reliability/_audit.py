"""What the fast-path audit files (test_fastpath_*.py) share: their hypothesis settings, read from the
environment, and a fixture that puts the thread count back after each test.

PYGRAD_AUDIT_EXAMPLES=2000 (say) runs longer; PYGRAD_AUDIT_SEED=<n> draws other cases (without it the
cases are derandomized, the same on every run).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, seed, settings

import pygrad as pg

SEED = os.environ.get("PYGRAD_AUDIT_SEED")


def fuzz_with(default_examples: int):
    """A decorator factory: ``fuzz(strategy)`` is ``@given(strategy)`` with the audit's settings,
    ``default_examples`` examples unless PYGRAD_AUDIT_EXAMPLES says otherwise."""
    examples = int(os.environ.get("PYGRAD_AUDIT_EXAMPLES", str(default_examples)))
    audit_settings = settings(max_examples=examples, deadline=None, derandomize=SEED is None, database=None,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

    def fuzz(strategy):
        def deco(f):
            f = audit_settings(given(strategy)(f))
            return seed(int(SEED))(f) if SEED is not None else f
        return deco
    return fuzz


@pytest.fixture(autouse=True)
def restore_threads():
    n = pg.get_num_threads()
    yield
    pg.set_num_threads(n)
