"""One training run: fit any backbone on a dataset, test the selected checkpoint, write the record.

A run directory holds ``config.yaml`` (the resolved config), the logs ``trainer.loggers`` asks for
(by default ``metrics.csv``, every logged epoch exactly once; ``tensorboard/``, ``mlflow/``:
``locomt.runs.loggers``), ``checkpoints/`` (``best.ckpt``, the epoch with the best validation
metric, and ``last.ckpt``, the newest finished epoch: ``locomt.runs.checkpoints``) and, when the run
ends, ``metrics.json`` (a ``RunRecord``).

``train`` checks everything it can before it writes anything: the config (when it was built), the
trainer section against this machine, the pretrained checkpoint, the data (every split must have
items) and, when resuming, the checkpoint. A fresh run that fails or is stopped before its first
epoch finishes leaves no run directory behind. ``train(..., resume=True)`` goes on from ``last.ckpt``
(the epoch that was cut short is trained again, with the same batches and random draws, so the run
ends as an uninterrupted one would: ``locomt.runs.reproducible``); a finished run is not resumed.
The same config and seed give the same metrics on CPU.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar

from locomt.config import ExperimentConfig, dump_config, model_config
from locomt.cost import analytic_cost
from locomt.data.datamodule import build_datamodule
from locomt.io import atomic_write_text
from locomt.models.checkpoints import read_checkpoint
from locomt.models.pretrained import load_pretrained
from locomt.runs.checkpoints import (BEST, CHECKPOINT_DIR, LAST, AtomicCheckpointIO, BestCheckpoint, LastCheckpoint,
                                     ResumePoint, resume_point)
from locomt.runs.history import METRICS_CSV
from locomt.runs.loggers import build_loggers, clear_logs, log_files, where_logs_are
from locomt.runs.preflight import check_memory, check_splits, check_trainer, trainer_errors
from locomt.runs.record import CONFIG_FILE, METRICS_FILE, RunRecord
from locomt.runs.reproducible import PositionSeeds
from locomt.task import MultimodalTask, monitor_metric

# A resumed run's checkpoint folder holds its checkpoints: that is the point
warnings.filterwarnings("ignore", message=r".*Checkpoint directory .* exists and is not empty.*")
# Lightning's own use of a deprecated torch pytree API (not ours to fix)
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


class RunFinished(ValueError):
    """``--resume`` of a run that has its metrics.json: there is nothing left to train."""


class OutOfMemory(ValueError):
    """Training ran out of host or device memory (one line, not a traceback)."""


def out_of_memory(err: BaseException) -> bool:
    import torch

    if isinstance(err, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "not enough memory" in text)


def quiet_lightning() -> None:
    """Lightning's per-run info lines ("GPU available: ...") off, for commands that train many runs."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")


def resume_checkpoint(run_dir: str | Path) -> ResumePoint | None:
    """Where ``train(run_dir, resume=True)`` goes on: ``last.ckpt`` checked (a ``CheckpointError``
    names it when it is empty, truncated or corrupt), None when no epoch has finished, and
    ``RunFinished`` when the run has its ``metrics.json``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist")
    if (run_dir / METRICS_FILE).is_file():
        record = RunRecord.read(run_dir)
        raise RunFinished(f"run {str(run_dir)!r} has finished ({record.epochs} epochs; its metrics are in "
                          f"{run_dir / METRICS_FILE}): there is nothing to resume")
    return resume_point(run_dir)


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto`` -> mixed precision where the device supports it (CUDA), full precision elsewhere."""
    if precision != "auto":
        return precision
    import torch

    return "16-mixed" if torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda") else "32-true"


def new_run_dir(cfg: ExperimentConfig) -> Path:
    """``TRAINER.OUT_DIR/NAME-TIMESTAMP``: where a run goes when no folder is given."""
    return Path(cfg.trainer.out_dir) / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"


class StopAfter(Callback):
    """Stop the fit once ``epochs`` epochs of the full schedule have finished (their validation done
    and ``last.ckpt`` written): a lower fidelity of the same run, which a later ``train`` resumes."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


def train(cfg: ExperimentConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
          stop_after: int | None = None, announce: bool = True) -> RunRecord | None:
    """Fit, test the best checkpoint and write ``metrics.json`` in ``run_dir``; return its record.
    With ``stop_after`` E below ``trainer.max_epochs``, stop once epoch E has finished, on the full
    schedule (the learning rate of epoch E is that of the whole run's epoch E), with nothing tested
    and no record (None): successive halving's lower fidelity, resumed by a later call. ``announce``
    prints where a resumed run goes on (commands that train many runs keep to one line per run)."""
    run_dir = Path(run_dir)
    start = resume_checkpoint(run_dir) if resume else None
    precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    check_trainer(cfg.trainer, precision)  # before any output: a GPU that is not there, a bad device count
    check_memory(cfg)  # and a model whose weights alone cannot fit
    # read a pretrained checkpoint before decoding any data, so a bad path fails at once
    init = read_checkpoint(cfg.model.init_from) if cfg.model.init_from and start is None else None
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = build_datamodule(cfg, progress=progress)
    dm.prepare_data()
    dm.setup("fit")
    metric = monitor_metric(dm.task)
    partial = stop_after is not None and stop_after < cfg.trainer.max_epochs
    trainer, best = build_trainer(cfg, run_dir, metric, precision, progress,
                                  extra=[StopAfter(stop_after)] if partial else [])
    check_splits(dm.cache, dm.meta["counts"], min_items=trainer.num_devices * trainer.num_nodes)
    mcfg = model_config(cfg, n_classes=dm.n_classes, vocab_size=dm.vocab_size)
    task = MultimodalTask(mcfg, dm.task, cfg.optim)
    if init is not None:  # a resumed run gets its weights from its own checkpoint instead
        print(load_pretrained(task.model, init, video_init=cfg.model.init_video).summary(), file=sys.stderr)
    created = not run_dir.exists()
    if trainer.is_global_zero:
        open_run_dir(run_dir, cfg, fresh=start is None)
        if resume and announce:
            print(f"resuming {run_dir} from {start.path} (epoch {start.epoch} finished, step {start.global_step})"
                  if start else f"run {run_dir} has no finished epoch to resume from: it starts at epoch 0",
                  file=sys.stderr)
        if announce:
            print(where_logs_are(cfg.trainer.loggers, run_dir), file=sys.stderr)
    with stopping(trainer, cfg, run_dir, created):
        if trainer.is_global_zero:  # built now: opening an MLflow store writes its database
            trainer.loggers = build_loggers(cfg.trainer.loggers, run_dir, start)
    began = time.perf_counter()
    with stopping(trainer, cfg, run_dir, created):
        trainer.fit(task, datamodule=dm, ckpt_path=str(start.path) if start else None, weights_only=True)
    train_seconds = time.perf_counter() - began
    if partial:
        return None
    ckpt = best.best_model_path or str(run_dir / CHECKPOINT_DIR / LAST)
    with stopping(trainer, cfg, run_dir, created):
        test = trainer.test(task, datamodule=dm, ckpt_path=ckpt, verbose=False, weights_only=True)[0]
    cost = analytic_cost(mcfg)
    record = RunRecord(
        backbone=mcfg.backbone, pattern=mcfg.pattern_spec, monitor=metric,
        metrics={metric: float(best.best_model_score if best.best_model_score is not None else float("nan")),
                 **{k: float(v) for k, v in test.items()}},
        params=sum(p.numel() for p in task.model.parameters()), gmacs=cost.gmacs, gflops=cost.gflops,
        train_seconds=train_seconds, epochs=trainer.current_epoch, seed=cfg.seed, logs=log_files(cfg.trainer.loggers),
    )
    if trainer.is_global_zero:
        record.write(run_dir)
        if announce:
            print(where_logs_are(cfg.trainer.loggers, run_dir), file=sys.stderr)
    return record


@contextmanager
def stopping(trainer: L.Trainer, cfg: ExperimentConfig, run_dir: Path, created: bool) -> Iterator[None]:
    """How a fit or test ends early: a new run with no finished epoch removes its directory; Ctrl-C
    (which Lightning turns into ``sys.exit(1)``) is a KeyboardInterrupt again; running out of memory
    is one line."""
    try:
        yield
    except BaseException as err:
        if trainer.is_global_zero and created and not (run_dir / CHECKPOINT_DIR / LAST).exists():
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing finished: leave nothing half-written
        if isinstance(err, SystemExit) and trainer.interrupted:
            raise KeyboardInterrupt from None
        if out_of_memory(err):
            raise OutOfMemory(f"out of memory in epoch {trainer.current_epoch} ({' '.join(str(err).split())[:160]}); "
                              f"lower data.batch_size={cfg.data.batch_size} or the model's size") from None
        raise


def build_trainer(cfg: ExperimentConfig, run_dir: Path, metric: str, precision: str, progress: bool,
                  extra: list[Callback] = ()) -> tuple[L.Trainer, ModelCheckpoint]:
    """The Lightning Trainer of a run and its best-checkpoint callback (nothing is written yet); its
    loggers are given once the run directory is open (``build_loggers``)."""
    ckpt_dir = run_dir / CHECKPOINT_DIR
    # saved after validation only: on resume Lightning replays the restored epoch's train-epoch-end hooks
    best = BestCheckpoint(dirpath=ckpt_dir, filename=BEST, monitor=metric, mode="max", save_last=False,
                          save_on_train_epoch_end=False, enable_version_counter=False)
    callbacks = [best, LastCheckpoint(ckpt_dir), PositionSeeds(cfg.seed), *extra]
    if progress:
        callbacks.append(RichProgressBar())
    t = cfg.trainer
    with trainer_errors(t):
        trainer = L.Trainer(
            default_root_dir=run_dir, max_epochs=t.max_epochs, accelerator=t.accelerator, devices=t.devices,
            strategy=t.strategy, precision=precision, log_every_n_steps=t.log_every_n_steps,
            gradient_clip_val=cfg.optim.grad_clip or None, deterministic=True, callbacks=callbacks,
            plugins=[AtomicCheckpointIO()], logger=False,
            enable_progress_bar=progress, enable_model_summary=False,
        )
    return trainer, best


def open_run_dir(run_dir: Path, cfg: ExperimentConfig, fresh: bool) -> None:
    """Write ``config.yaml`` unless the run has one; a fresh start in a run directory (a run that
    never finished an epoch) first removes what that attempt left."""
    if fresh and (run_dir / CONFIG_FILE).is_file():
        for name in (METRICS_CSV, "hparams.yaml"):
            (run_dir / name).unlink(missing_ok=True)
        for ckpt in (run_dir / CHECKPOINT_DIR).glob("*.ckpt"):
            ckpt.unlink()
        clear_logs(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        atomic_write_text(run_dir / CONFIG_FILE, dump_config(cfg))
