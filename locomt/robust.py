"""``python -m locomt.robust``: trained runs tested with modalities missing; the table and a plot.

Examples::

    python -m locomt.robust runs/configs/94050a64c237            # one run directory
    python -m locomt.robust results/synthetic-medvidcl/pareto.csv  # a sweep's front
    python -m locomt.robust runs/configs --missing audio --missing video,text   # every run under a folder

Each run's selected checkpoint is tested on the test split complete and with each modality missing
(and each pair, with three modalities), or with the ``--missing`` sets; see
:mod:`locomt.robustness` for what "missing" does and the columns. Writes ``OUT/robustness.csv`` and
``OUT/robustness.png`` (default OUT: ``results/<the first run's config name>``) and prints the table.
Bad input (an unknown modality, a set naming every modality, a path that is no run) is one
``error:`` line, exit 2, and nothing written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from locomt.io import run_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.robust", description=__doc__.split("\n")[0],
                                epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="+", metavar="RUNS",
                   help="a run directory, a folder of run directories, or a sweep's pareto.csv")
    p.add_argument("--missing", action="append", default=[], metavar="MODALITIES",
                   help="a set of modalities to remove, comma-separated (repeatable; default: each one, and each "
                   "pair with three modalities)")
    p.add_argument("--out", help="output folder (default results/NAME, NAME the first run's config name)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from locomt.robustness import find_runs, missing_sets, parse_missing, run_modalities

    runs = list(dict.fromkeys(r for s in args.sources for r in find_runs(s)))
    name, modalities = run_modalities(runs)
    sets = parse_missing(args.missing, modalities) if args.missing else missing_sets(modalities)
    import pandas as pd
    from rich import get_console

    from locomt.io import atomic_write_csv
    from locomt.robustness import COLUMNS, evaluate_runs, plot, table

    out = Path(args.out or Path("results") / name)
    console = get_console()
    df = pd.DataFrame(evaluate_runs(runs, sets, console), columns=list(COLUMNS))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(df, out / "robustness.csv")
    title = f"{name}: test metric with modalities missing"
    plot(df, out / "robustness.png", title)
    console.print(table(df, title))
    console.print(f"wrote {out / 'robustness.csv'} and {out / 'robustness.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
