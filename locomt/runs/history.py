"""A run's ``metrics.csv`` that survives resuming: every epoch exactly once, however often the run
was interrupted.

Lightning's CSVLogger deletes ``metrics.csv`` when it starts in a folder that holds one, and
rewrites it in place when a new column appears (a kill then leaves half a file).
:class:`HistoryCSVLogger` is that logger with another writer: started with ``keep_epochs=K`` (a run
resumed from the checkpoint of epoch K) it keeps the rows of epochs 0..K and the rows without an
epoch (the model's size and cost, logged once when the run starts), drops the rows of the epoch
that was cut short (it is trained again), and every save rewrites the whole file atomically.
``keep_epochs=None`` (a fresh run) starts an empty file. It is one logger among any others: a
TensorBoard or MLflow logger next to it is unaffected.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from locomt.io import atomic_write_text

METRICS_CSV = "metrics.csv"


def read_history(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows) of a metrics.csv; an unfinished last line (a file cut by a crash) is dropped."""
    path = Path(path)
    if not path.is_file():
        return [], []
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), [dict(r) for r in reader]


def row_epoch(row: dict[str, Any]) -> int | None:
    """The epoch a metrics.csv row belongs to (None for a row without one)."""
    value = row.get("epoch")
    if value in (None, ""):
        return None
    return int(float(value))


class HistoryWriter(ExperimentWriter):
    """Lightning's CSV writer, keeping earlier rows (see the module docstring); saves are atomic."""

    def __init__(self, log_dir: str, keep_epochs: int | None) -> None:
        self.keep_epochs = keep_epochs
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:  # called by __init__ instead of deleting metrics.csv
        keys, rows = read_history(self.metrics_file_path) if self.keep_epochs is not None else ([], [])
        self._rows = [r for r in rows if (e := row_epoch(r)) is None or e <= self.keep_epochs]
        self._initial_keys = keys

    def save(self) -> None:
        if not self.metrics and not self._initial_keys and not self._rows:
            return
        if self._initial_keys:
            self.metrics_keys = sorted(set(self.metrics_keys) | set(self._initial_keys))
            self._initial_keys = []
        self._record_new_keys()
        self._rows.extend({k: "" if v is None else v for k, v in m.items()} for m in self.metrics)
        self.metrics = []
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.metrics_keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._rows)
        atomic_write_text(self.metrics_file_path, out.getvalue())


class HistoryCSVLogger(CSVLogger):
    """``RUN_DIR/metrics.csv`` that keeps the epochs 0..``keep_epochs`` an earlier part of the run
    wrote (None: a fresh run, an empty file)."""

    def __init__(self, run_dir: str | Path, keep_epochs: int | None = None, **kwargs: Any) -> None:
        super().__init__(run_dir, name="", version="", **kwargs)
        self.keep_epochs = keep_epochs

    @property
    @rank_zero_experiment
    def experiment(self) -> HistoryWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = HistoryWriter(self.log_dir, self.keep_epochs)
        return self._experiment
