"""Runs: one training run (``fit``), its record (``record``: what ``metrics.json`` holds), which
configs are the same run (``keys``) and training each configuration once (``cache``)."""

from locomt.runs.cache import train_cached
from locomt.runs.fit import new_run_dir, quiet_lightning, resolve_precision, resume_checkpoint, train
from locomt.runs.keys import canonical_config, config_key
from locomt.runs.record import METRICS_FILE, RunRecord

__all__ = [
    "METRICS_FILE", "RunRecord", "canonical_config", "config_key", "new_run_dir", "quiet_lightning",
    "resolve_precision", "resume_checkpoint", "train", "train_cached",
]
