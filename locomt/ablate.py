"""``python -m locomt.ablate``: train view patterns (and the baselines) over seeds; accuracy against cost.

Examples::

    python -m locomt.ablate --patterns half all-cross 4s 2s+2va --seeds 3 --baselines
    python -m locomt.ablate --dataset synthetic-audioset --patterns half random:0 random:1 --set trainer.max_epochs=10
    python -m locomt.ablate --config my.yaml --patterns 4s/2s+2va half --out results/mine
    python -m locomt.ablate --patterns        # list the presets and baselines with their GFLOPs; trains nothing

Every pattern is trained with backbone ``locomt`` (``--baselines`` adds early, joint, late and
bottleneck) for seeds 0..N-1. Each run goes through ``locomt.runs.train_cached`` into
``TRAINER.OUT_DIR/configs/<config key>``: a run done before, by an ablation or a sweep, is read
back, and an interrupted ablation resumes where it stopped. All patterns are checked before
anything trains; patterns with the same canonical form train once, under the first label.

Writes ``OUT/ablation.csv`` (default OUT: ``results/<dataset>``), one row per configuration with
its GFLOPs, GMACs and params (analytic cost model, forward pass, one example) and the mean and
std over seeds of the best validation metric and of every test metric, sorted by GFLOPs and
rewritten as each configuration finishes; and ``OUT/ablation.png``, test accuracy (mAP for
multilabel data) against GFLOPs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box, get_console
from rich.console import Console
from rich.table import Table

from locomt.config import ExperimentConfig, experiment_path
from locomt.experiment import load_experiment
from locomt.io import run_cli
from locomt.pattern import PRESETS

if TYPE_CHECKING:
    import pandas as pd


def render(df: pd.DataFrame, title: str, console: Console) -> None:
    """The summary as a table: metrics in % as mean ± std (params and losses are in the CSV only)."""
    import pandas as pd

    metrics = [c[:-5] for c in df.columns if c.endswith("_mean") and not c.endswith("loss_mean")]
    patterns = [p or f"({b})" for p, b in zip(df.pattern, df.backbone)]
    table = Table(title=f"{title}, metrics in %", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("label", no_wrap=True)
    table.add_column("pattern", overflow="fold", min_width=min(24, max(map(len, patterns))))
    for col in ("GFLOPs", *metrics):
        table.add_column(col, justify="right", no_wrap=True)
    for r, pattern in zip(df.to_dict("records"), patterns):
        cells = [f"{100 * r[m + '_mean']:.1f}" + ("" if pd.isna(r[m + "_std"]) else f"±{100 * r[m + '_std']:.1f}")
                 for m in metrics]
        table.add_row(r["label"], pattern, f"{r['gflops']:.4f}", *cells)
    console.print(table)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.ablate", description=__doc__.split("\n")[0],
                                epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patterns", nargs="*", required=True, metavar="PATTERN",
                   help=f"view patterns: specs such as 2s+1va+1vt or 4s/2s+2va, or presets ({', '.join(PRESETS)}); "
                   "none: list the presets and baselines with their GFLOPs")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", default="synthetic-medvidcl", help="experiments/DATASET.yaml (default %(default)s)")
    src.add_argument("--config", help="any experiment YAML instead of --dataset")
    p.add_argument("--seeds", type=int, default=3, help="train seeds 0..N-1 (default %(default)s)")
    p.add_argument("--baselines", action="store_true", help="also train early, joint, late and bottleneck")
    p.add_argument("--out", help="output folder (default results/DATASET, or results/NAME for --config)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="dotted config override (repeatable), e.g. --set trainer.max_epochs=5")
    return p


def render_listing(cfg: ExperimentConfig, console: Console) -> None:
    from locomt.ablation import listing

    df, notes = listing(cfg)
    table = Table(title=f"{cfg.name}: view-pattern presets and baselines, forward, 1 example", title_justify="left",
                  caption="\n".join(notes) or None, caption_justify="left", box=box.SIMPLE_HEAD)
    for col in ("name", "backbone", "pattern"):
        table.add_column(col, overflow="fold")
    for col in ("GFLOPs", "params M", "x joint"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in df.itertuples():
        table.add_row(r.name, r.backbone, r.pattern, f"{r.gflops:.4f}", f"{r.params / 1e6:.3f}", f"{r.gflops_vs_joint:.3f}")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = load_experiment(args.config or experiment_path(args.dataset), args.overrides)
    from locomt.ablation import plan, plot, run_ablation  # training: imported once the config is checked

    console = get_console()  # the console locomt.synth and locomt.prepare draw their bars on: they nest in ours
    if not args.patterns:
        render_listing(cfg, console)
        return 0
    if args.seeds < 1:
        raise ValueError(f"--seeds {args.seeds}: expected at least 1 seed")
    todo = plan(cfg, args.patterns, args.baselines, console)  # every pattern checked before anything trains
    out = Path(args.out or Path("results") / (cfg.name if args.config else args.dataset))
    df = run_ablation(todo, args.seeds, Path(cfg.trainer.out_dir) / "configs", out / "ablation.csv", console)
    title = f"{cfg.name}: mean ± std over {args.seeds} seed{'s' * (args.seeds > 1)}"
    plot(df, out / "ablation.png", title)
    render(df, title, console)
    console.print(f"wrote {out / 'ablation.csv'} and {out / 'ablation.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
