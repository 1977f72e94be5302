"""``python -m locomt.report results/<dataset>``: the sweep's tables and plot, from the study storage.

    python -m locomt.report results/synthetic-medvidcl
    python -m locomt.report results/medvidcl --storage postgresql://user:pw@db-host/locomt --study medvidcl

The study (an Optuna storage) is the single source of truth; every file here is regenerated from
it, atomically (a crash never leaves a truncated file):

- ``trials.csv``: every trial (number, state, role, label, backbone, canonical pattern, validation
  and test metrics, params, GMACs, GFLOPs, measured forward latency, seconds, is_pareto, note);
- ``pareto.csv``: the Pareto front (validation metric up, GFLOPs down), sorted by GFLOPs;
- ``pareto.png``: every trial, the front as a step line, baselines and presets labelled;
- ``summary.md``: the front as a table, the best trial under several GFLOPs budgets, the command.

With ``--robustness``, the front's and the baselines' runs are also tested with each modality missing
(``locomt.search.missing``): ``robustness.csv``, ``robustness.png`` and a section of ``summary.md``.

Without ``--storage``, the folder's ``sweep.json`` (written by the sweep) names the study and its
storage (``study.db`` in the folder for the default SQLite storage).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from locomt.io import run_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.report", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="results folder of a sweep, e.g. results/synthetic-medvidcl")
    p.add_argument("--storage", help="Optuna storage URL (default: from FOLDER/sweep.json)")
    p.add_argument("--study", help="study name (default: from FOLDER/sweep.json)")
    p.add_argument("--robustness", action="store_true",
                   help="also test the front's and the baselines' runs with each modality missing (test split): "
                   "robustness.csv, robustness.png and a section of summary.md; only the runs robustness.csv lacks")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    folder = Path(args.folder)
    if not args.storage and not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such results folder; expected the folder a sweep wrote (it holds "
                                "sweep.json or study.db), or --storage URL and --study NAME")
    if args.robustness:
        from locomt.search.missing import check_own_table

        check_own_table(folder)
    from locomt.search.report import write_report  # Optuna, pandas, matplotlib: once the arguments are read
    from locomt.search.study import load_study_from

    study = load_study_from(folder, args.storage, args.study)
    from rich import get_console

    for path in write_report(study, folder, robustness=get_console() if args.robustness else None):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
