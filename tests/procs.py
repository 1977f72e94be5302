"""Test helpers: a sweep in a process of its own, which processes are alive and which descend from
a process (read from /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def spawn_sweep(args: list[str], sigint=signal.SIG_DFL, **env_extra: str) -> subprocess.Popen:
    """``python -m locomt.sweep ARGS`` from the project root, its output (unbuffered) on a pipe;
    ``sigint``: its SIGINT disposition (default: back to the default, since a shell that starts CI
    in the background ignores it; ``signal.SIG_IGN``: as nohup starts it)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_extra}
    return subprocess.Popen([sys.executable, "-m", "locomt.sweep", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))


def alive(pid: int) -> bool:
    """Running (a zombie, reaped by no one yet, counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc)."""
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        kids.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def wait_gone(pids: list[int], seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]
