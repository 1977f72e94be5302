"""``python -m locomt.train``: fit any backbone on a dataset, then test the best checkpoint.

    python -m locomt.train --config experiments/synthetic-medvidcl.yaml model.backbone=locomt model.pattern=half
    python -m locomt.train --resume runs/synthetic-medvidcl-20261124-101500

A run directory holds ``config.yaml`` (the resolved config), ``metrics.csv`` (Lightning's CSV
log), ``checkpoints/`` (``best.ckpt``, ``last.ckpt``, and ``interrupted.ckpt`` after Ctrl-C or
a crash) and, when the run ends, ``metrics.json`` (validation and test metrics, params, GMACs,
GFLOPs, train seconds). ``--resume RUN_DIR`` continues from the newest of
``last.ckpt``/``interrupted.ckpt`` with the saved config. The same config and seed give the same
metrics on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from locomt.config import dump_config, load_config
from locomt.io import atomic_write_text, run_cli
from locomt.runs import new_run_dir, train

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
        record = train(cfg, run_dir, resume=bool(args.resume), progress=sys.stderr.isatty())
    finally:
        if not inherited:
            os.environ.pop(RUN_DIR_ENV, None)
    print(json.dumps({"run_dir": str(run_dir), **record.metrics, "gflops": record.gflops}))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
