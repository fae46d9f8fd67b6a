"""pygrad.compile's tests run with the fast guard checked against the full signature: every call
the fast guard lets through also computes the full signature, and a difference fails the test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _verify_fast_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    from pygrad import _compile

    monkeypatch.setattr(_compile, "_VERIFY_FAST", True)


def _cross_entropy_step(model, opt):
    """The training step: cross-entropy of model(x) against the labels y, backward, one step of opt; returns the
    loss."""
    from pygrad.nn import functional as F  # noqa: N812 - the name users know

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


@pytest.fixture
def train_step():
    """train_step(model, opt): the cross-entropy training step many tests here compile (a function of x, y)."""
    return _cross_entropy_step
