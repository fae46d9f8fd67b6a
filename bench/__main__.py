"""``python -m bench``: the whole benchmark suite (see bench/run.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

sys.exit(run.main())
