"""Train each configuration once: runs keyed by ``config_key`` under one root, read back when done."""

from __future__ import annotations

from pathlib import Path

from locomt.config import ExperimentConfig
from locomt.runs.fit import CONFIG_FILE, train
from locomt.runs.keys import config_key
from locomt.runs.record import METRICS_FILE, RunRecord


def train_cached(cfg: ExperimentConfig, root: str | Path, progress: bool = False) -> tuple[RunRecord, Path]:
    """Train ``cfg`` once: its run lives in ``ROOT/<config_key>``. A finished run is read back from
    its ``metrics.json``; an interrupted one resumes from its last finished epoch (or starts over when
    none finished); otherwise it starts. Sweeps and ablations share this, so a configuration is never
    trained twice."""
    run_dir = Path(root) / config_key(cfg)
    if (run_dir / METRICS_FILE).is_file():
        return RunRecord.read(run_dir), run_dir
    resume = (run_dir / CONFIG_FILE).is_file()
    return train(cfg, run_dir, resume=resume, progress=progress), run_dir
