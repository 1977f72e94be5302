"""Child processes that end with their parent: a worker pool, sweep workers and DDP ranks call
:func:`die_with_parent` first thing, so that killing a command (even with SIGKILL, which runs no
cleanup) leaves no orphan behind.

On Linux the kernel sends the child SIGKILL when its parent exits (``prctl(PR_SET_PDEATHSIG)``);
elsewhere, or when that call fails, a daemon thread polls ``os.getppid()`` once a second and ends
the process when the parent is gone. :func:`ignore_interrupts` keeps Ctrl-C (which the terminal
sends to the whole process group) away from workers whose parent shuts them down itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
PARENT_ENV = "LOCOMT_PARENT_PID"  # set by a parent whose children are started by a library (Lightning's DDP)


def _prctl_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)


def die_with_parent(parent: int | None = None, interval: float = 1.0) -> None:
    """End this process when its parent ``parent`` (default: the current parent) exits."""
    parent = os.getppid() if parent is None else parent
    if not _prctl_pdeathsig(signal.SIGKILL):
        threading.Thread(target=_watch, args=(parent, interval), daemon=True, name="locomt-parent-watch").start()
    if os.getppid() != parent:  # the parent died before the watch began
        os._exit(1)


def ignore_interrupts() -> None:
    """Ignore SIGINT in a worker: the parent turns Ctrl-C into an orderly shutdown of its pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity mask: a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers() -> int:
    """Processes of a pool that decodes or writes media: min(4, CPU cores)."""
    return max(1, min(4, cpu_cores()))


def pool_child(parent: int) -> None:
    """Initializer of a pool's worker process: it ends with ``parent`` and leaves Ctrl-C to it."""
    die_with_parent(parent)
    ignore_interrupts()
