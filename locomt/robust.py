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
    from locomt.config import load_config
    from locomt.robustness import CONFIG_FILE, find_runs, missing_sets, parse_missing

    runs = list(dict.fromkeys(r for s in args.sources for r in find_runs(s)))
    configs = [load_config(r / CONFIG_FILE) for r in runs]
    modalities = tuple(configs[0].data.modalities)
    for r, c in zip(runs, configs):
        if tuple(c.data.modalities) != modalities:
            raise ValueError(f"run {r} has modalities {', '.join(c.data.modalities)}; expected those of {runs[0]} "
                             f"({', '.join(modalities)})")
    sets = parse_missing(args.missing, modalities) if args.missing else missing_sets(modalities)
    import pandas as pd
    from rich import box, get_console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from locomt.io import atomic_write_csv
    from locomt.robustness import COLUMNS, evaluate_run, plot, primary_metric

    out = Path(args.out or Path("results") / configs[0].name)
    console = get_console()
    rows = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        bar = progress.add_task("robustness", total=len(runs) * (len(sets) + 1))
        for run in runs:
            progress.update(bar, description=f"testing {run.name}")
            rows += evaluate_run(run, sets, progress=lambda: progress.advance(bar))
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(df, out / "robustness.csv")
    title = f"{configs[0].name}: test metric with modalities missing"
    plot(df, out / "robustness.png", title)
    metric = primary_metric(df)
    part = df[df["metric"] == metric]
    table = Table(title=f"{title} ({metric} in %, drop from complete in points)", title_justify="left",
                  box=box.SIMPLE_HEAD)
    for col in ("run", "label", "seed", "modality dropout"):
        table.add_column(col, overflow="fold")
    names = list(dict.fromkeys(part["missing"]))
    for s in names:
        table.add_column("complete" if not s else f"without {s}", justify="right", no_wrap=True)
    for run, g in part.groupby("run", sort=False):
        g = g.set_index("missing")
        cells = [f"{100 * g.loc[s, 'value']:.1f}" + ("" if not s else f" ({-100 * g.loc[s, 'drop']:+.1f})")
                 for s in names]
        table.add_row(Path(run).name, g["label"].iloc[0], str(g["seed"].iloc[0]), g["modality_dropout"].iloc[0] or "-",
                      *cells)
    console.print(table)
    console.print(f"wrote {out / 'robustness.csv'} and {out / 'robustness.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
