"""``python -m locomt.train``: fit any backbone on a dataset, then test the best checkpoint.

    python -m locomt.train --config experiments/synthetic-medvidcl.yaml model.backbone=locomt model.pattern=half
    python -m locomt.train --resume runs/synthetic-medvidcl-20261124-101500

A run directory holds ``config.yaml`` (the resolved config), ``metrics.csv`` (Lightning's CSV
log), ``checkpoints/`` (``best.ckpt``, ``last.ckpt``, and ``interrupted.ckpt`` after Ctrl-C or
a crash) and, when the run ends, ``metrics.json`` (test metrics, params, GMACs, GFLOPs, train
seconds). ``--resume RUN_DIR`` continues from the newest of ``last.ckpt``/``interrupted.ckpt``
with the saved config. The same config and seed give the same metrics on CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, OnExceptionCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger

from locomt.config import ExperimentConfig, dump_config, load_config, model_config, to_dict, with_model
from locomt.cost import analytic_cost
from locomt.io import atomic_write_text, run_cli
from locomt.models.pretrained import load_pretrained, read_checkpoint
from locomt.task import MultimodalTask

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


RUN_DIR_ENV = "LOCOMT_RUN_DIR"  # lets DDP worker processes (re-launched by Lightning) find rank 0's run dir


def monitor_metric(task: str) -> str:
    """The validation metric that picks the best checkpoint (and that sweeps maximise)."""
    return "val/acc" if task == "multiclass" else "val/mAP"


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


def train(cfg: ExperimentConfig, run_dir: str | Path, resume: bool = False,
          progress: bool = True) -> dict:
    """Fit, test the best checkpoint and write ``metrics.json`` in ``run_dir``; return its contents."""
    from locomt.data.datamodule import build_datamodule

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
    result = {
        "test": {k: float(v) for k, v in test.items()},
        f"best_{metric.replace('/', '_')}": float(callbacks[0].best_model_score or float("nan")),
        "backbone": mcfg.backbone,
        "pattern": mcfg.pattern_spec,
        "params": sum(p.numel() for p in task.model.parameters()),
        "gmacs": cost.gmacs,
        "gflops": cost.gflops,
        "train_seconds": train_seconds,
        "epochs": trainer.current_epoch,
        "seed": cfg.seed,
    }
    if trainer.is_global_zero:
        atomic_write_text(run_dir / "metrics.json", json.dumps(result, indent=2) + "\n")
    return result


# fields that do not change what a run computes: left out of ``config_key``
_KEY_EXCLUDE = {("name",), ("trainer", "out_dir"), ("trainer", "log_every_n_steps"), ("data", "num_workers")}


def canonical_config(cfg: ExperimentConfig) -> ExperimentConfig:
    """``cfg`` with its view pattern in canonical form (``half`` -> ``2s+1va+1vt``), or empty for a
    backbone without views, so that equivalent configs compare equal."""
    spec = model_config(cfg, n_classes=1).pattern_spec
    return with_model(cfg, pattern=spec)


def config_key(cfg: ExperimentConfig) -> str:
    """A short hash of everything in ``cfg`` that changes the result of training it (the canonical
    pattern, data, model, optimiser, trainer and seed; not the name or output folder)."""
    data = to_dict(canonical_config(cfg))
    for path in _KEY_EXCLUDE:
        node = data
        for part in path[:-1]:
            node = node[part]
        node.pop(path[-1], None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def train_cached(cfg: ExperimentConfig, root: str | Path, progress: bool = False) -> tuple[dict, Path]:
    """Train ``cfg`` once: its run lives in ``ROOT/<config_key>``. A finished run is read back from
    its ``metrics.json``; an interrupted one resumes from its checkpoint; otherwise it starts.
    Sweeps and ablations share this, so a configuration is never trained twice."""
    run_dir = Path(root) / config_key(cfg)
    done = run_dir / "metrics.json"
    if done.is_file():
        return json.loads(done.read_text()), run_dir
    if not (run_dir / "config.yaml").is_file():
        atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
    try:
        resume_checkpoint(run_dir)
        resume = True
    except FileNotFoundError:
        resume = False
    return train(cfg, run_dir, resume=resume, progress=progress), run_dir


def new_run_dir(cfg: ExperimentConfig) -> Path:
    return Path(cfg.trainer.out_dir) / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="experiment YAML (experiments/*.yaml)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--run-dir", help="where to write the run (default: TRAINER.OUT_DIR/NAME-TIMESTAMP)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. model.pattern=half trainer.max_epochs=3")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    inherited = os.environ.get(RUN_DIR_ENV)  # set when Lightning re-launched us as a DDP worker
    if args.resume:
        run_dir = Path(args.resume)
        if args.config or args.overrides:
            raise ValueError("--resume takes the run's saved config.yaml; give no --config or overrides with it")
        cfg = load_config(run_dir / "config.yaml")
    else:
        if not args.config:
            raise ValueError("--config is required (e.g. --config experiments/synthetic-medvidcl.yaml), "
                             "or --resume RUN_DIR")
        cfg = load_config(args.config, args.overrides)
        run_dir = Path(args.run_dir or inherited or new_run_dir(cfg))
        if not inherited:
            if (run_dir / "config.yaml").exists():
                raise FileExistsError(f"run directory {str(run_dir)!r} already holds a run; use --resume {run_dir}")
            atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        result = train(cfg, run_dir, resume=bool(args.resume), progress=sys.stderr.isatty())
    finally:
        if not inherited:
            os.environ.pop(RUN_DIR_ENV, None)
    print(json.dumps({"run_dir": str(run_dir), **result["test"], "gflops": result["gflops"]}))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
