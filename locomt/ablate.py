"""``python -m locomt.ablate``: train view patterns (and the baselines) over seeds; accuracy against cost.

Examples::

    python -m locomt.ablate --patterns half all-cross 4s 2s+2va --seeds 3 --baselines
    python -m locomt.ablate --dataset synthetic-audioset --patterns half random:0 random:1 --set trainer.max_epochs=10
    python -m locomt.ablate --config my.yaml --patterns 4s/2s+2va half --out results/mine
    python -m locomt.ablate --patterns        # list the presets and baselines with their GFLOPs; trains nothing

Every pattern is trained with backbone ``locomt`` (``--baselines`` adds early, joint, late and
bottleneck) for seeds 0..N-1. Each run goes through ``locomt.train.train_cached`` into
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
import dataclasses
import sys
from pathlib import Path

import pandas as pd
from rich import box, get_console
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from locomt.config import ExperimentConfig, experiment_path, load_config, model_config, with_model
from locomt.cost import analytic_cost, count_params
from locomt.io import atomic_path, atomic_write_csv, run_cli
from locomt.models import BASELINES
from locomt.pattern import NAMED_PRESETS, PRESETS, PatternError
from locomt.train import quiet_lightning, train_cached

AUDIOSET_CLASSES = 527

def plan(cfg: ExperimentConfig, patterns: list[str], baselines: bool,
         console: Console) -> list[tuple[str, ExperimentConfig]]:
    """(label, config) of every configuration to train; each pattern checked, duplicates dropped."""
    seen: dict[str, str] = {}  # canonical pattern -> first label
    todo, notes = [], []
    for label in patterns:
        try:
            spec = model_config(with_model(cfg, "locomt", label), n_classes=1).pattern_spec
        except PatternError as err:
            raise PatternError(str(err) if repr(label) in str(err) else f"pattern {label!r}: {err}") from None
        if spec in seen:
            notes.append(f"note: {label!r} ({spec}) is the same pattern as {seen[spec]!r}: trained and reported once")
            continue
        seen[spec] = label
        todo.append((label, with_model(cfg, "locomt", label)))
    for note in notes:
        console.print(note)
    return todo + [(b, with_model(cfg, b)) for b in (BASELINES if baselines else ())]


def classes_without_data(cfg: ExperimentConfig) -> tuple[int, str | None]:
    """The class count of ``cfg``'s dataset from its metadata alone, and a note when it is assumed."""
    d = cfg.data
    if d.dataset == "medvidcl":
        from locomt.data.medvidcl import CLASSES

        return len(CLASSES), None
    if d.dataset == "audioset":
        from locomt.data.audioset import read_class_labels

        path = Path(d.root) / "class_labels_indices.csv"
        if path.is_file():
            return len(read_class_labels(path)), None
        if d.synthetic:  # generated on first use: locomt.synth writes its own class table
            from locomt.synth import AUDIOSET_CLASSES as SYNTH_CLASSES

            return len(SYNTH_CLASSES), None
        return AUDIOSET_CLASSES, f"{path} not found: assumed AudioSet's {AUDIOSET_CLASSES} classes"
    if d.dataset == "manifest":
        from locomt.data.manifest import manifest_path, read_manifest

        return len(read_manifest(manifest_path(d.root)).class_names), None
    raise ValueError(f"data.dataset {d.dataset!r} is unknown; expected audioset, medvidcl or manifest")


def listing(cfg: ExperimentConfig) -> tuple[pd.DataFrame, list[str]]:
    """Presets and baselines of ``cfg``'s model (canonical pattern, GFLOPs, params, ratio to joint's
    GFLOPs), and notes on what was assumed. Needs no data: only the class count, from the metadata."""
    n_classes, note = classes_without_data(cfg)
    notes = [note] if note else []
    if "text" in cfg.data.modalities:
        notes.append(f"params with the text vocabulary at its cap, data.text.vocab_size={cfg.data.text.vocab_size} "
                     "(a trained model's, built from its training split, can be smaller)")
    rows = []
    for name, backbone in [(p, "locomt") for p in NAMED_PRESETS] + [(b, b) for b in BASELINES]:
        mcfg = model_config(with_model(cfg, backbone, name if backbone == "locomt" else None), n_classes)
        rows.append({"name": name, "backbone": backbone, "pattern": mcfg.pattern_spec,
                     "gflops": analytic_cost(mcfg).gflops, "params": count_params(mcfg)})
    df = pd.DataFrame(rows)
    df["x_joint"] = df.gflops / df.gflops[df.name == "joint"].iloc[0]
    return df, notes


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: cost, n_seeds, and mean and std (ddof 1) over seeds of each metric."""
    metrics = [c for c in runs.columns if c.startswith(("best_val_", "test_"))]
    g = runs.groupby("label", sort=False)
    df = g[["backbone", "pattern"]].first()
    df["n_seeds"] = g.size()
    df[["gflops", "gmacs", "params"]] = g[["gflops", "gmacs", "params"]].first()
    for m in metrics:
        df[f"{m}_mean"], df[f"{m}_std"] = g[m].mean(), g[m].std(ddof=1)
    return df.reset_index().sort_values("gflops", kind="stable", ignore_index=True)


def accuracy_metric(df: pd.DataFrame) -> tuple[str, str]:
    """The column stem the plot shows, and its axis name."""
    return ("test_acc", "test accuracy (%)") if "test_acc_mean" in df else ("test_mAP", "test mAP (%)")


def plot(df: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric, ylabel = accuracy_metric(df)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for is_base, part in df.groupby(df.backbone != "locomt"):
        ax.errorbar(part.gflops, 100 * part[f"{metric}_mean"], yerr=100 * part[f"{metric}_std"].fillna(0),
                    fmt="s" if is_base else "o", color="C1" if is_base else "C0", capsize=3,
                    label="baselines" if is_base else "locomt view patterns")
    for k, r in enumerate(df.sort_values("gflops").itertuples()):  # alternate above/below: close labels part
        ax.annotate(r.label, (r.gflops, 100 * getattr(r, f"{metric}_mean")), textcoords="offset points",
                    xytext=(4, 5 if k % 2 == 0 else -12), fontsize=8)
    ax.set(xlabel="GFLOPs per example (forward, analytic)", ylabel=ylabel, title=title)
    ax.margins(x=0.15, y=0.1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def render(df: pd.DataFrame, title: str, console: Console) -> None:
    """The summary as a table: metrics in % as mean ± std (params and losses are in the CSV only)."""
    metrics = [c[:-5] for c in df.columns if c.endswith("_mean") and not c.endswith("loss_mean")]
    patterns = [p or f"({b})" for p, b in zip(df.pattern, df.backbone)]
    table = Table(title=f"{title}, metrics in %", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("label", no_wrap=True)
    table.add_column("pattern", overflow="fold", min_width=min(24, max(map(len, patterns))))
    for col in ("GFLOPs", *(m.replace("best_", "").replace("_", " ") for m in metrics)):
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
    df, notes = listing(cfg)
    table = Table(title=f"{cfg.name}: view-pattern presets and baselines, forward, 1 example", title_justify="left",
                  caption="\n".join(notes) or None, caption_justify="left", box=box.SIMPLE_HEAD)
    for col in ("name", "backbone", "pattern"):
        table.add_column(col, overflow="fold")
    for col in ("GFLOPs", "params M", "x joint"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in df.itertuples():
        table.add_row(r.name, r.backbone, r.pattern, f"{r.gflops:.4f}", f"{r.params / 1e6:.3f}", f"{r.x_joint:.3f}")
    console.print(table)


def run_ablation(todo: list[tuple[str, ExperimentConfig]], seeds: int, root: Path, csv: Path,
                 console: Console) -> pd.DataFrame:
    """Train (or read back) every configuration for every seed; rewrite ``csv`` after each configuration."""
    runs, df = [], None
    quiet_lightning()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        bar = progress.add_task("ablation", total=len(todo) * seeds)
        for label, base in todo:
            for seed in range(seeds):
                progress.update(bar, description=f"{label} seed {seed}")
                result, _ = train_cached(dataclasses.replace(base, seed=seed), root, progress=False)
                runs.append({"label": label, "backbone": result["backbone"], "pattern": result["pattern"],
                             "seed": seed, **{k: result[k] for k in ("gflops", "gmacs", "params")},
                             **{k: v for k, v in result.items() if k.startswith("best_val_")},
                             **{k.replace("/", "_"): v for k, v in result["test"].items()}})
                progress.advance(bar)
            df = summarise(pd.DataFrame(runs))
            atomic_write_csv(df, csv)
    return df


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = load_config(args.config or experiment_path(args.dataset), args.overrides)
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
