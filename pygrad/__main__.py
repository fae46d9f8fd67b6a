"""The ``pygrad`` command (also ``python -m pygrad``): a dispatcher of subcommands.

    python -m pygrad demo            # train a small network on the spiral data
    python -m pygrad parity          # check the C engine against the reference engine
    python -m pygrad demo --help

Each subcommand lives in its own module, which provides ``add_parser(subparsers)``
(registering its arguments and ``func``, the function that runs it and returns
the exit status); adding a subcommand means adding its module to :func:`_commands`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType


def _commands() -> list[ModuleType]:
    from pygrad import _parity_cli, demo

    return [demo, _parity_cli]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    import pygrad

    parser = argparse.ArgumentParser(prog="pygrad", description="pygrad: backpropagation with a C engine.")
    parser.add_argument("--version", action="version", version=f"pygrad {pygrad.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _commands():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the chosen subcommand."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
