"""The op-table cases live in the package (pygrad._opcases) so that
`python -m pygrad parity` can run them on an installed pygrad; the tests
import them from here."""

from pygrad._opcases import CASES, DOMAINS, OP_NAMES, OpCase, make_inputs

__all__ = ["CASES", "DOMAINS", "OP_NAMES", "OpCase", "make_inputs"]
