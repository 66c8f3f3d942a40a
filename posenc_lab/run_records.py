"""What every lab command shares when it writes results: the command line it records, the guard
against overwriting bundled weights, and the percent format of the tables."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from posenc.checkpoint_files import is_bundled


def command_line() -> str:
    """The current command line, for model cards and benchmark tables."""
    return "python -m posenc_lab " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def check_output(path, overwrite: bool) -> None:
    """Refuse to overwrite bundled weights (models/) unless told to."""
    path = Path(path)
    if path.exists() and is_bundled(path) and not overwrite:
        raise FileExistsError(f"{path} holds bundled weights; pass --overwrite to replace them")


def pct(v: float) -> str:
    """A rate as a table cell: 0.969 -> '96.9%'."""
    return f"{100 * v:.1f}%"
