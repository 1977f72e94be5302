"""Ablations: train view patterns (and the baselines) over seeds and put accuracy next to analytic cost.

``plan`` checks every pattern and drops duplicates; ``run_ablation`` trains (or reads back, through
``locomt.runs.train_cached``) every configuration for every seed and rewrites the summary CSV after
each configuration; ``summarise`` gives one row per configuration with the mean and std over
seeds of every metric (``val/acc_mean``, ``test/acc_std``, ...); ``plot`` draws test accuracy (mAP)
against GFLOPs; ``listing`` is the cost of every preset and baseline, without data.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from locomt.config import ExperimentConfig, model_config, with_model
from locomt.cost import cost_rows
from locomt.data.datasets import classes_without_data
from locomt.io import atomic_write_csv, save_figure
from locomt.models import BASELINES, list_backbones, takes_pattern
from locomt.models.config import ModelConfig
from locomt.pattern import NAMED_PRESETS, PatternError
from locomt.runs import quiet_lightning, train_cached
from locomt.stats import summarise as seed_summary

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


def model_without_data(cfg: ExperimentConfig) -> tuple[ModelConfig, list[str]]:
    """The model ``cfg`` trains, built without media or cache (the class count from the metadata, the
    text vocabulary at its cap), and notes on what was assumed."""
    n_classes, note = classes_without_data(cfg.data)
    notes = [note] if note else []
    if "text" in cfg.data.modalities:
        notes.append(f"params with the text vocabulary at its cap, data.text.vocab_size={cfg.data.text.vocab_size} "
                     "(a trained model's, built from its training split, can be smaller)")
    return model_config(cfg, n_classes), notes


def listing(cfg: ExperimentConfig) -> tuple[pd.DataFrame, list[str]]:
    """Presets and baselines of ``cfg``'s model (canonical pattern, GFLOPs, params, ratio to joint's
    GFLOPs), and notes on what was assumed. Needs no data: only the class count, from the metadata."""
    mcfg, notes = model_without_data(cfg)
    rows = cost_rows(mcfg, [b for b in list_backbones() if takes_pattern(b)], NAMED_PRESETS) + cost_rows(mcfg, BASELINES)
    df = pd.DataFrame(rows)
    df.insert(0, "name", [r["pattern_name"] or r["backbone"] for r in rows])
    return df, notes


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: cost, n_seeds, and the mean, std (ddof 1) and 95 % t interval
    (``_lo``, ``_hi``) over seeds of each metric (``locomt.stats``, as a sweep's confirmed front)."""
    metrics = [c for c in runs.columns if c.startswith(("val/", "test/"))]
    df = seed_summary(runs, "label", metrics, first=["backbone", "pattern", "gflops", "gmacs", "params"])
    return df.sort_values("gflops", kind="stable", ignore_index=True)


def accuracy_metric(df: pd.DataFrame) -> tuple[str, str]:
    """The column stem the plot shows, and its axis name."""
    return ("test/acc", "test accuracy (%)") if "test/acc_mean" in df else ("test/mAP", "test mAP (%)")


def plot(df: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric, ylabel = accuracy_metric(df)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for is_base, part in df.groupby(df.backbone.isin(BASELINES)):
        ax.errorbar(part.gflops, 100 * part[f"{metric}_mean"], yerr=100 * part[f"{metric}_std"].fillna(0),
                    fmt="s" if is_base else "o", color="C1" if is_base else "C0", capsize=3,
                    label="baselines" if is_base else "locomt view patterns")
    for k, (_, r) in enumerate(df.sort_values("gflops").iterrows()):  # alternate above/below: close labels part
        ax.annotate(r["label"], (r["gflops"], 100 * r[f"{metric}_mean"]), textcoords="offset points",
                    xytext=(4, 5 if k % 2 == 0 else -12), fontsize=8)
    ax.set(xlabel="GFLOPs per example (forward, analytic)", ylabel=ylabel, title=title)
    ax.margins(x=0.15, y=0.1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


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
                record, _ = train_cached(dataclasses.replace(base, seed=seed), root, progress=False)
                runs.append({"label": label, "backbone": record.backbone, "pattern": record.pattern, "seed": seed,
                             "gflops": record.gflops, "gmacs": record.gmacs, "params": record.params,
                             **record.metrics})
                progress.advance(bar)
            df = summarise(pd.DataFrame(runs))
            atomic_write_csv(df, csv)
    return df
