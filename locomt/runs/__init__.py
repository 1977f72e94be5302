"""Runs: one training run (``fit``), its record (``record``: what ``metrics.json`` holds), which
configs are the same run (``keys``), training each configuration once (``cache``), where its
metrics go (``loggers``: csv, TensorBoard, MLflow), and what makes a run safe to stop and resume:
checks before any output (``preflight``), checkpoints (``checkpoints``), the metrics log
(``history``) and position-seeded randomness (``reproducible``)."""

from locomt.runs.cache import epoch_values, train_cached, value_at
from locomt.runs.checkpoints import CheckpointError
from locomt.runs.fit import RunFinished, new_run_dir, quiet_lightning, resolve_precision, resume_checkpoint, train
from locomt.runs.preflight import check_memory, check_splits, check_trainer
from locomt.runs.keys import canonical_config, config_key
from locomt.runs.record import METRICS_FILE, RunRecord

__all__ = [
    "METRICS_FILE", "CheckpointError", "RunFinished", "RunRecord", "canonical_config", "epoch_values", "value_at", "check_memory", "check_splits",
    "check_trainer", "config_key", "new_run_dir", "quiet_lightning", "resolve_precision", "resume_checkpoint", "train", "train_cached",
]
