"""Train each configuration once: runs keyed by ``config_key`` under one root, read back when done,
also at a lower fidelity (the validation metric after the first epochs of the full schedule).

Processes that share a root (two sweeps of one experiment, a sweep and ``locomt.ablate``, benchmark
studies run side by side) may reach the same configuration at once: each run is trained under an
exclusive lock on ``ROOT/.<key>.lock`` (``flock``, released when its holder ends, even killed), so
the second waits and reads back what the first trained instead of training into the same folder."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock, as before
    fcntl = None

from locomt.config import ExperimentConfig
from locomt.runs.checkpoints import resume_point
from locomt.runs.fit import CONFIG_FILE, train
from locomt.runs.history import METRICS_CSV, read_history, row_epoch
from locomt.runs.keys import config_key
from locomt.runs.record import METRICS_FILE, RunRecord


def train_cached(cfg: ExperimentConfig, root: str | Path, progress: bool = False) -> tuple[RunRecord, Path]:
    """Train ``cfg`` once: its run lives in ``ROOT/<config_key>``. A finished run is read back from
    its ``metrics.json``; an interrupted one resumes from its last finished epoch (or starts over when
    none finished); otherwise it starts. Sweeps and ablations share this, so a configuration is never
    trained twice, not even by two processes at once (:func:`run_lock`)."""
    run_dir = Path(root) / config_key(cfg)
    with run_lock(run_dir):
        return _train_cached(cfg, run_dir, progress), run_dir


def _train_cached(cfg: ExperimentConfig, run_dir: Path, progress: bool) -> RunRecord:
    if (run_dir / METRICS_FILE).is_file():
        return RunRecord.read(run_dir)
    resume = (run_dir / CONFIG_FILE).is_file()
    return train(cfg, run_dir, resume=resume, progress=progress, announce=False)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock of the run in ``run_dir`` (the file ``.<name>.lock`` beside it) while
    the block runs; another process holding it is waited for, with one line on stderr saying so. Not
    re-entrant: a process that holds it must not take it again."""
    if fcntl is None:
        yield
        return
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(run_dir.parent / f".{run_dir.name}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process training {run_dir} ...", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def epoch_values(run_dir: str | Path, metric: str) -> dict[int, float]:
    """The validation ``metric`` of every finished epoch of a run (epochs counted from 1), from its
    ``metrics.csv``."""
    _, rows = read_history(Path(run_dir) / METRICS_CSV)
    return {row_epoch(r) + 1: float(r[metric]) for r in rows if row_epoch(r) is not None and r.get(metric)}


def value_at(cfg: ExperimentConfig, root: str | Path, epochs: int, metric: str,
             progress: bool = False) -> tuple[float, Path]:
    """The validation ``metric`` of ``cfg`` after ``epochs`` epochs of its full schedule, training (or
    resuming) its run in ``ROOT/<config_key>`` only as far as that; what a run already holds is read
    back. At ``trainer.max_epochs`` this is the last epoch's value (a finished run's record holds the
    best epoch's)."""
    if "csv" not in cfg.trainer.loggers:
        raise ValueError(f"trainer.loggers={list(cfg.trainer.loggers)}: the value after {epochs} epochs is read from "
                         "the run's metrics.csv; expected csv among them")
    run_dir = Path(root) / config_key(cfg)
    epochs = min(epochs, cfg.trainer.max_epochs)
    with run_lock(run_dir):
        values = epoch_values(run_dir, metric)
        if epochs not in values:
            if epochs >= cfg.trainer.max_epochs:
                _train_cached(cfg, run_dir, progress)
            else:
                start = resume_point(run_dir) if (run_dir / CONFIG_FILE).is_file() else None
                train(cfg, run_dir, resume=start is not None, progress=progress, stop_after=epochs, announce=False)
            values = epoch_values(run_dir, metric)
    return values[epochs], run_dir
