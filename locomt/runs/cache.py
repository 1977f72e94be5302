"""Train each configuration once: runs keyed by ``config_key`` under one root, read back when done."""

from __future__ import annotations

from pathlib import Path

from locomt.config import ExperimentConfig, dump_config
from locomt.io import atomic_write_text
from locomt.runs.fit import resume_checkpoint, train
from locomt.runs.keys import config_key
from locomt.runs.record import METRICS_FILE, RunRecord


def train_cached(cfg: ExperimentConfig, root: str | Path, progress: bool = False) -> tuple[RunRecord, Path]:
    """Train ``cfg`` once: its run lives in ``ROOT/<config_key>``. A finished run is read back from
    its ``metrics.json``; an interrupted one resumes from its checkpoint; otherwise it starts.
    Sweeps and ablations share this, so a configuration is never trained twice."""
    run_dir = Path(root) / config_key(cfg)
    if (run_dir / METRICS_FILE).is_file():
        return RunRecord.read(run_dir), run_dir
    if not (run_dir / "config.yaml").is_file():
        atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
    try:
        resume_checkpoint(run_dir)
        resume = True
    except FileNotFoundError:
        resume = False
    return train(cfg, run_dir, resume=resume, progress=progress), run_dir
