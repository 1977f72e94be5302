"""Small shared I/O helpers: atomic file writes, what is wrong with an unreadable file, the one-line
exit of every CLI (errors, Ctrl-C and SIGTERM), and optional extras."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import tempfile
import zipfile
from pathlib import Path
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    import pandas as pd


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is flushed to disk and renamed to
    ``path`` (with the mode ``open`` would give), on any error it is removed: readers never see a
    half-written file, and a full disk leaves the previous file as it was. An OSError names ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as err:
        raise _naming(err, path) from None
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _naming(err, path) from None
        raise


def save_figure(fig, path: str | Path, dpi: int = 130) -> Path:
    """Write a matplotlib figure to ``path`` as PNG through :func:`atomic_path` and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` with ``path`` as its file name (a full disk says which file it could not write)."""
    if err.filename is not None and not str(err.filename).endswith(".tmp"):
        return err
    return type(err)(err.errno, err.strerror or str(err), str(path))


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


def unreadable_reason(path: str | Path, err: BaseException | None = None) -> str | None:
    """What is wrong with a file (empty, a truncated or corrupt zip archive such as a torch
    checkpoint, or else the first line of ``err``, the reader's own error), in a few words that
    follow its path; None when nothing is found wrong and there is no ``err``."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        return e.strerror or type(e).__name__
    if size == 0:
        return "is empty (0 bytes)"
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":  # a zip archive: torch.save's format
        if not zipfile.is_zipfile(path):
            return f"is truncated ({size} bytes; its zip archive has no end record)"
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            return f"is corrupt ({size} bytes; {e})"
        if bad is not None:
            return f"is corrupt ({size} bytes; {bad} fails its CRC check)"
    if err is None:
        return None
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return f"cannot be read ({size} bytes): {type(err).__name__}" + (f": {first}" if first else "")


class Interrupted(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that a terminated command cleans up the same way."""


def _terminate(signum: int, frame: object) -> None:
    raise Interrupted(f"signal {signum}")


def error_line(err: BaseException) -> str:
    """The one line a CLI prints for ``err``: an OSError names its file; a KeyError its message, or,
    when it holds a bare key (a lookup in a table or mapping that failed: never a message of
    locomt's), that key as what was missing rather than the key alone."""
    if isinstance(err, KeyError) and err.args:
        text = " ".join(str(err.args[0]).split())
        if " " in text:  # a message: "inputs lack modalities ..."
            return text
        return (f"{err.args[0]!r} is missing: an input lacks an entry this command needs (if the input is as "
                "expected, this is a bug in locomt: please report the command)")
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return " ".join(str(err).split()) or type(err).__name__


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a CLI ``main``; bad input (ValueError, KeyError, OSError such as a missing file or a full
    disk, or an ArithmeticError such as a non-finite loss) becomes one ``error:`` line on stderr and
    exit 2; Ctrl-C and SIGTERM (raised as KeyboardInterrupt, so ``finally`` blocks and worker pools
    clean up) one ``interrupted`` line and exit 130. Anything else is a bug and keeps its traceback."""
    previous = None
    if threading_main():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(main(argv) or 0)
    except (ValueError, KeyError, OSError, ArithmeticError) as err:
        print(f"error: {error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        what = "terminated (SIGTERM)" if isinstance(err, Interrupted) else "interrupted (Ctrl-C)"
        print(f"{what}: stopped; what was finished is kept", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def threading_main() -> bool:
    """Whether this is the main thread (the only one that may set signal handlers)."""
    import threading

    return threading.current_thread() is threading.main_thread()


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
