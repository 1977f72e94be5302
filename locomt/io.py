"""Small shared I/O helpers: atomic file writes, the one-line error exit of every CLI, and optional extras."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pandas as pd


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path`` (with the mode
    ``open`` would give), on any error it is removed: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


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


class MissingDependencyError(OSError):
    """An optional package is not installed (an OSError, so ``run_cli`` prints one ``error:`` line)."""


def require_extra(module: str, package: str, extra: str, command: str) -> Any:
    """Import ``module`` of an optional ``package``, or raise MissingDependencyError naming the extra
    of pyproject.toml that installs it (``pip install -e .[extra]``)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{package} is not installed; {command} needs the {extra} extra: pip install -e .[{extra}]") from None
