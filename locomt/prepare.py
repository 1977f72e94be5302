"""``python -m locomt.prepare``: decode every item of a dataset once into the cache that training reads.

    python -m locomt.prepare --config experiments/synthetic-medvidcl.yaml [KEY=VALUE ...] [--workers N] [--strict]

Builds (or reuses) the cache of the config's ``data`` section with :func:`locomt.data.build.prepare`
(what it decodes, how splits are made, what is skipped and reported: see there). ``--strict`` stops
at the first unusable media file with a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from locomt.config import ExperimentConfig
from locomt.experiment import load_experiment
from locomt.io import run_cli


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m locomt.prepare", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, type=Path, help="experiment YAML (its data section is used)")
    p.add_argument("overrides", nargs="*", help="dotted KEY=VALUE overrides, e.g. data.video.size=64")
    p.add_argument("--workers", type=int, default=None,
                   help="decoding processes (default min(4, CPU cores))")
    p.add_argument("--strict", action="store_true", help="stop at the first unusable media file (exit status 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_intermixed_args(argv)
    cfg: ExperimentConfig = load_experiment(a.config, a.overrides)
    from locomt.data.build import prepare  # the decoders: once the config is checked

    prepare(cfg.data, workers=a.workers, strict=a.strict, progress=not a.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
