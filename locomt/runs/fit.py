"""One training run: fit any backbone on a dataset, test the selected checkpoint, write the record.

A run directory holds ``config.yaml`` (the resolved config, written by the caller), ``metrics.csv``
(Lightning's CSV log), ``checkpoints/`` (``best.ckpt``, ``last.ckpt``, and ``interrupted.ckpt``
after Ctrl-C or a crash) and, when the run ends, ``metrics.json`` (a ``RunRecord``). ``train(...,
resume=True)`` continues from the newest of ``last.ckpt``/``interrupted.ckpt``. The same config
and seed give the same metrics on CPU.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, OnExceptionCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger

from locomt.config import ExperimentConfig, model_config
from locomt.cost import analytic_cost
from locomt.data.datamodule import build_datamodule
from locomt.models.checkpoints import read_checkpoint
from locomt.models.pretrained import load_pretrained
from locomt.runs.record import RunRecord
from locomt.task import MultimodalTask, monitor_metric

# The run directory already holds config.yaml when the CSV log starts; Lightning warns that old
# logs "will be deleted", but it appends to metrics.csv (which is what resume needs).
warnings.filterwarnings("ignore", message=r".*exists and is not empty\. Previous log files.*")
# With OnExceptionCheckpoint, Lightning 2.6 turns a fresh fit's ckpt_path=None into "last" and warns
# twice that there is none; a fresh fit is what we asked for. (Resume passes the checkpoint.)
warnings.filterwarnings("ignore", message=r".*\.fit\(ckpt_path=None\)` was called without a model.*")
warnings.filterwarnings("ignore", message=r".*\.fit\(ckpt_path=\"last\"\) is set, but there is no last checkpoint.*")
# Lightning's own use of a deprecated torch pytree API (not ours to fix)
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def quiet_lightning() -> None:
    """Lightning's per-run info lines ("GPU available: ...") off, for commands that train many runs."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")


def resume_checkpoint(run_dir: Path) -> Path:
    """The newest of ``last.ckpt`` and ``interrupted.ckpt`` in a run directory."""
    candidates = [p for p in (run_dir / "checkpoints" / "last.ckpt", run_dir / "checkpoints" / "interrupted.ckpt")
                  if p.is_file()]
    if not candidates:
        raise FileNotFoundError(f"run {str(run_dir)!r} has no checkpoints/last.ckpt or interrupted.ckpt to resume from")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto`` -> mixed precision where the device supports it (CUDA), full precision elsewhere."""
    if precision != "auto":
        return precision
    import torch

    return "16-mixed" if torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda") else "32-true"


def new_run_dir(cfg: ExperimentConfig) -> Path:
    """``TRAINER.OUT_DIR/NAME-TIMESTAMP``: where a run goes when no folder is given."""
    return Path(cfg.trainer.out_dir) / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(cfg: ExperimentConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> RunRecord:
    """Fit, test the best checkpoint and write ``metrics.json`` in ``run_dir``; return its record."""
    run_dir = Path(run_dir)
    # read a pretrained checkpoint before decoding any data, so a bad path fails at once
    init = read_checkpoint(cfg.model.init_from) if cfg.model.init_from and not resume else None
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = build_datamodule(cfg, progress=progress)
    dm.prepare_data()
    dm.setup("fit")
    mcfg = model_config(cfg, n_classes=dm.n_classes, vocab_size=dm.vocab_size)
    task = MultimodalTask(mcfg, dm.task, cfg.optim)
    if init is not None:  # a resumed run gets its weights from its own checkpoint instead
        print(load_pretrained(task.model, init, video_init=cfg.model.init_video).summary(), file=sys.stderr)
    metric = monitor_metric(dm.task)
    ckpt_dir = run_dir / "checkpoints"
    callbacks = [
        ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=metric, mode="max", save_last=True),
        OnExceptionCheckpoint(dirpath=ckpt_dir, filename="interrupted"),
    ]
    if progress:
        callbacks.append(RichProgressBar())
    t = cfg.trainer
    trainer = L.Trainer(
        default_root_dir=run_dir, max_epochs=t.max_epochs, accelerator=t.accelerator, devices=t.devices,
        strategy=t.strategy, precision=resolve_precision(t.precision, t.accelerator),
        log_every_n_steps=t.log_every_n_steps,
        gradient_clip_val=cfg.optim.grad_clip or None, deterministic=True, callbacks=callbacks,
        logger=CSVLogger(run_dir, name="", version=""), enable_progress_bar=progress, enable_model_summary=False,
    )
    ckpt_path = str(resume_checkpoint(run_dir)) if resume else None
    start = time.perf_counter()
    trainer.fit(task, datamodule=dm, ckpt_path=ckpt_path)
    train_seconds = time.perf_counter() - start
    best = callbacks[0].best_model_path or None
    test = trainer.test(task, datamodule=dm, ckpt_path=best or "last", verbose=False)[0]
    cost = analytic_cost(mcfg)
    record = RunRecord(
        backbone=mcfg.backbone, pattern=mcfg.pattern_spec, monitor=metric,
        metrics={metric: float(callbacks[0].best_model_score or float("nan")),
                 **{k: float(v) for k, v in test.items()}},
        params=sum(p.numel() for p in task.model.parameters()), gmacs=cost.gmacs, gflops=cost.gflops,
        train_seconds=train_seconds, epochs=trainer.current_epoch, seed=cfg.seed,
    )
    if trainer.is_global_zero:
        record.write(run_dir)
    return record
