"""Runs: one training run (``fit``), its record (``record``: what ``metrics.json`` holds), which
configs are the same run (``keys``), training each configuration once (``cache``), where its
metrics go (``loggers``: csv, TensorBoard, MLflow), and what makes a run safe to stop and resume:
checks before any output (``preflight``), checkpoints (``checkpoints``), the metrics log
(``history``) and position-seeded randomness (``reproducible``)."""

from importlib import import_module

# name -> the module of the package that holds it, imported on first use (``from locomt.runs import
# train``): ``locomt.runs.record`` and ``keys`` stay free of torch, so reading a run's files does not
# wait for Lightning
_HOMES = {
    "epoch_values": "cache", "train_cached": "cache", "value_at": "cache", "CheckpointError": "checkpoints",
    "RunFinished": "fit", "new_run_dir": "fit", "quiet_lightning": "fit", "resolve_precision": "fit",
    "resume_checkpoint": "fit", "train": "fit", "check_memory": "preflight", "check_splits": "preflight",
    "check_trainer": "preflight", "canonical_config": "keys", "config_key": "keys", "METRICS_FILE": "record",
    "RunRecord": "record",
}

__all__ = [
    "METRICS_FILE", "CheckpointError", "RunFinished", "RunRecord", "canonical_config", "epoch_values", "value_at", "check_memory", "check_splits",
    "check_trainer", "config_key", "new_run_dir", "quiet_lightning", "resolve_precision", "resume_checkpoint", "train", "train_cached",
]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f"locomt.runs.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'locomt.runs' has no attribute {name!r}")
