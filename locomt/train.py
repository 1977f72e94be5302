"""``python -m locomt.train``: fit any backbone on a dataset, then test the best checkpoint.

    python -m locomt.train --config experiments/synthetic-medvidcl.yaml model.backbone=locomt model.pattern=half
    python -m locomt.train --resume runs/synthetic-medvidcl-20261124-101500

A run directory holds ``config.yaml`` (the resolved config), ``metrics.csv`` (every epoch's log,
exactly once; ``trainer.loggers=[csv, tensorboard, mlflow]`` adds ``tensorboard/`` and ``mlflow/``,
and the run prints where they are and how to view them), ``checkpoints/`` (``best.ckpt``;
``last.ckpt``, the newest finished epoch) and, when the run ends, ``metrics.json`` (validation and
test metrics, params, GMACs, GFLOPs, train seconds).
Bad input stops with one ``error:`` line before anything is written. ``--resume RUN_DIR`` continues
from ``last.ckpt`` with the saved config: the epoch that was cut short is trained again and the run
ends as an uninterrupted one would. The same config and seed give the same metrics on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from locomt.experiment import load_experiment
from locomt.io import run_cli
from locomt.procs import PARENT_ENV, die_with_parent

RUN_DIR_ENV = "LOCOMT_RUN_DIR"  # lets DDP worker processes (re-launched by Lightning) find rank 0's run dir


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="experiment YAML (experiments/*.yaml)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--run-dir", help="where to write the run (default: TRAINER.OUT_DIR/NAME-TIMESTAMP)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. model.pattern=half trainer.max_epochs=3")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    inherited = os.environ.get(RUN_DIR_ENV)  # set when Lightning re-launched us as a DDP worker
    if inherited:
        die_with_parent(int(os.environ.get(PARENT_ENV, os.getppid())))  # no orphaned rank if rank 0 is killed
    if not args.resume and args.config:
        cfg = load_experiment(args.config, args.overrides)  # a config error answers before torch is imported
    from locomt.runs import new_run_dir, resume_checkpoint, train
    from locomt.runs.fit import CONFIG_FILE

    if args.resume:
        run_dir = Path(args.resume)
        if args.config or args.overrides or args.run_dir:
            raise ValueError("--resume takes the run's saved config.yaml; give no --config, --run-dir or overrides "
                             "with it")
        if not run_dir.is_dir():
            raise FileNotFoundError(f"--resume {str(run_dir)!r}: no such run directory")
        if not (run_dir / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"--resume {str(run_dir)!r}: not a run directory (it has no {CONFIG_FILE})")
        cfg = load_experiment(run_dir / CONFIG_FILE)
        resume_checkpoint(run_dir)  # a finished run or an unreadable checkpoint stops here
    else:
        if not args.config:
            raise ValueError("--config is required (e.g. --config experiments/synthetic-medvidcl.yaml), "
                             "or --resume RUN_DIR")
        run_dir = Path(args.run_dir or inherited or new_run_dir(cfg))
        if not inherited:
            if (run_dir / CONFIG_FILE).exists():
                raise FileExistsError(f"run directory {str(run_dir)!r} already holds a run; use --resume {run_dir}")
            if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
                raise FileExistsError(f"--run-dir {str(run_dir)!r} exists and is not an empty folder; "
                                      "give a new folder for the run")
    os.environ[RUN_DIR_ENV] = str(run_dir)
    os.environ.setdefault(PARENT_ENV, str(os.getpid()))
    try:
        record = train(cfg, run_dir, resume=bool(args.resume), progress=sys.stderr.isatty())
    except KeyboardInterrupt:
        if inherited:
            raise
        last = resume_point_or_none(run_dir)
        kept = (f"run {run_dir} keeps its finished epochs 0..{last.epoch}; go on with: python -m locomt.train "
                f"--resume {run_dir}") if last else "no epoch had finished, so nothing was kept"
        print(f"interrupted: {kept}", file=sys.stderr)
        return 130
    finally:
        if not inherited:
            os.environ.pop(RUN_DIR_ENV, None)
            os.environ.pop(PARENT_ENV, None)
    print(json.dumps({"run_dir": str(run_dir), **record.metrics, "gflops": record.gflops}))
    return 0


def resume_point_or_none(run_dir: Path):
    """The run's last finished epoch, or None (none, or an unreadable checkpoint)."""
    from locomt.runs.checkpoints import resume_point

    try:
        return resume_point(run_dir)
    except (ValueError, OSError):
        return None


if __name__ == "__main__":
    sys.exit(run_cli(main))
