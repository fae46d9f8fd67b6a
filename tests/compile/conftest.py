"""pygrad.compile's tests run with the fast guard checked against the full signature: every call
the fast guard lets through also computes the full signature, and a difference fails the test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _verify_fast_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    from pygrad import _compile

    monkeypatch.setattr(_compile, "_VERIFY_FAST", True)
