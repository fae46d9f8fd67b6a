"""Table rows shared by the scripts that time a memory-bound op against PyTorch and the copy roofline
(bench/pool.py, bench/interpolate.py): the header they print and one row per op and pass."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.common import machine


def _fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def header(first: str, shape: tuple[int, ...], x: np.ndarray, n_thr: int, torch: Any, why: str) -> None:
    """The host, the input and the table's header, whose first column is ``first`` (op, case)."""
    print(f"host: {machine()}")
    print(f"input {shape} float32 ({x.nbytes / 1e6:.0f} MB), {n_thr} threads; torch: "
          f"{torch.__version__ if torch is not None else why}")
    print()
    print(f"| {first} | pass | pygrad ms | pygrad GB/s | torch ms | torch GB/s | pygrad / torch | of copy roofline |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")


def row(name: str, pname: str, pt: float, pbytes: int, tt: float | None, tbytes: int, copy_gbs: float) -> None:
    """One pass: pygrad's best time pt moving pbytes, PyTorch's tt (None: not run) moving tbytes, and the
    fraction of the copy roofline (copy_gbs GB/s) pygrad reaches: the roofline's time for pbytes over pt."""
    roof = pbytes / (copy_gbs * 1e9) / pt
    print(f"| {name} | {pname} | {pt * 1e3:.2f} | {pbytes / pt / 1e9:.1f} | "
          f"{_fmt(tt * 1e3 if tt else None, 2)} | {_fmt(tbytes / tt / 1e9 if tt else None)} | "
          f"{_fmt(pt / tt if tt else None, 2)} | {roof:.0%} |")
