"""Small shared I/O helpers: atomic file writes and the one-line error exit of every CLI."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV atomically (no index column)."""
    return atomic_write_text(path, df.to_csv(index=False))


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a CLI ``main``; bad input (ValueError, KeyError, OSError such as a missing file, or an
    ArithmeticError such as a non-finite loss) becomes one ``error:`` line on stderr and exit 2."""
    try:
        return int(main(argv) or 0)
    except (ValueError, KeyError, OSError, ArithmeticError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {msg}", file=sys.stderr)
        return 2
