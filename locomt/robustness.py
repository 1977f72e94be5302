"""Robustness to missing modalities: trained runs evaluated on the test split with modalities removed.

For every run and every *missing set* (each modality alone, and each pair when a run has three or
more modalities), the run's selected checkpoint (``best.ckpt``, else ``last.ckpt``) is tested with
those modalities absent from every test example (``MultimodalTask.eval_absent``: the per-example
presence mask of :mod:`locomt.models.backbones`, so each backbone handles it as it defines). An
example that then has nothing left (an item stored without the one modality that remains) is left
out of that row's metrics and counted in ``left_out``.

One row per run, missing set and test metric (accuracy and macro F1, or mAP; not the loss): ``run``,
``label``, ``backbone``, ``pattern``, ``seed``, ``modality_dropout`` (the run's ``data.modality_dropout`` as ``name=p`` pairs; ``""`` when off),
``missing`` (``+``-joined names; ``""`` for the complete input), ``metric`` (``test/acc`` ...),
``value``, ``complete`` (the metric on the complete input), ``drop`` (complete - value), ``left_out``,
``gflops`` (analytic, complete input) and ``gflops_missing`` (analytic, input without the missing set:
``locomt.cost.analytic_cost(absent=...)``).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from locomt.runs.record import CONFIG_FILE, METRICS_FILE

if TYPE_CHECKING:
    import pandas as pd

SPLITS = {"test": "test", "val": "validate"}  # evaluate_run's splits -> Lightning's stage
COLUMNS = ("run", "label", "backbone", "pattern", "seed", "modality_dropout", "missing", "metric", "value", "complete",
           "drop", "left_out", "gflops", "gflops_missing")


def missing_sets(modalities: tuple[str, ...] | list[str]) -> list[tuple[str, ...]]:
    """Each modality alone, and each pair when there are three or more (always leaving one)."""
    mods = tuple(modalities)
    sets = [(m,) for m in mods]
    if len(mods) >= 3:
        sets += list(itertools.combinations(mods, 2))
    return sets


def parse_missing(texts: list[str], modalities: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``--missing audio --missing video,text`` -> [("audio",), ("video", "text")], checked against
    ``modalities``: ValueError naming an unknown modality or a set that names every one."""
    sets = []
    for text in texts:
        names = tuple(n.strip() for n in text.replace("+", ",").split(",") if n.strip())
        if not names:
            raise ValueError(f"--missing {text!r}: expected modality names separated by commas, e.g. audio,text")
        for n in names:
            if n not in modalities:
                raise ValueError(f"--missing {text}: {n!r} is not a modality of the runs ({', '.join(modalities)})")
        if set(names) >= set(modalities):
            raise ValueError(f"--missing {text}: names every modality ({', '.join(modalities)}); at least one must "
                             "remain")
        sets.append(tuple(m for m in modalities if m in names))
    return sets


def is_run(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / METRICS_FILE).is_file()


def checkpoint(run: Path) -> Path:
    """The checkpoint a run's test metrics come from: ``best.ckpt``, else ``last.ckpt``."""
    from locomt.runs.checkpoints import BEST, CHECKPOINT_DIR, LAST

    for name in (f"{BEST}.ckpt", LAST):
        if (run / CHECKPOINT_DIR / name).is_file():
            return run / CHECKPOINT_DIR / name
    raise FileNotFoundError(f"run {run} has no checkpoint ({CHECKPOINT_DIR}/{BEST}.ckpt or {LAST})")


def find_runs(source: str | Path) -> list[Path]:
    """The finished runs ``source`` names: a run directory (config.yaml and metrics.json), a folder
    of run directories (an ablation's or sweep's ``TRAINER.OUT_DIR/configs``), or a sweep's
    ``pareto.csv`` (its Pareto rows' ``run`` column, relative to the working directory or the CSV)."""
    path = Path(source)
    if path.is_file() and path.suffix == ".csv":
        import pandas as pd

        df = pd.read_csv(path, dtype={"run": str}, keep_default_na=False)
        if "run" not in df.columns:
            raise ValueError(f"{path}: no 'run' column; expected a sweep's pareto.csv or trials.csv")
        if "is_pareto" in df.columns:
            df = df[df["is_pareto"].astype(str).str.lower() == "true"]
        runs = []
        for text in df["run"]:
            if not text:
                continue
            candidates = [Path(text), path.parent / text, path.parent.parent.parent / text]
            found = next((c for c in candidates if is_run(c)), None)
            if found is None:
                raise FileNotFoundError(f"{path}: run {text} is not a finished run directory (looked in "
                                        f"{', '.join(str(c) for c in candidates)})")
            runs.append(found)
        if not runs:
            raise ValueError(f"{path}: no run in its Pareto rows; expected a sweep's pareto.csv")
        return runs
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such run directory, folder of runs or pareto.csv")
    if is_run(path):
        return [path]
    runs = sorted(p for p in path.iterdir() if p.is_dir() and is_run(p))
    if not runs:
        raise ValueError(f"{path}: neither a finished run directory (config.yaml and {METRICS_FILE}) nor a folder "
                         "holding some")
    return runs


def run_modalities(runs: list[Path]) -> tuple[str, tuple[str, ...]]:
    """The config name of the first run and the modalities every run has; ValueError naming a run
    whose modalities differ."""
    from locomt.config import load_config

    configs = [load_config(r / CONFIG_FILE) for r in runs]
    modalities = tuple(configs[0].data.modalities)
    for r, c in zip(runs, configs):
        if tuple(c.data.modalities) != modalities:
            raise ValueError(f"run {r} has modalities {', '.join(c.data.modalities)}; expected those of {runs[0]} "
                             f"({', '.join(modalities)})")
    return configs[0].name, modalities


def evaluate_runs(runs: list[Path], sets: list[tuple[str, ...]], console: Any,
                  on_run: Callable[[Path, list[dict]], None] | None = None) -> list[dict]:
    """:func:`evaluate_run` of each run (test split) under one rich progress bar on ``console``; the
    rows of all; ``on_run(run, rows)`` after each run (e.g. to save what is done so far)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    rows = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        bar = progress.add_task("robustness", total=len(runs) * (len(sets) + 1))
        for run in runs:
            progress.update(bar, description=f"testing {run.name}")
            got = evaluate_run(run, sets, progress=lambda: progress.advance(bar))
            rows += got
            if on_run is not None:
                on_run(run, got)
    return rows


def evaluate_run(run: Path, sets: list[tuple[str, ...]], progress: Any = None, split: str = "test") -> list[dict]:
    """The rows (see the module docstring) of one run: its checkpoint tested complete and without
    each of ``sets``; ``split="val"`` evaluates the validation split instead (``val/*`` metrics: what a
    sweep may optimise, :mod:`locomt.search.missing`)."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}; expected one of {', '.join(SPLITS)}")
    import lightning as L

    from locomt.config import load_config, model_config
    from locomt.cost import analytic_cost
    from locomt.data.datamodule import build_datamodule
    from locomt.runs.fit import quiet_lightning, resolve_precision
    from locomt.runs.record import RunRecord
    from locomt.task import MultimodalTask

    quiet_lightning()
    cfg = load_config(run / CONFIG_FILE)
    record = RunRecord.read(run)
    ckpt = checkpoint(run)
    dm = build_datamodule(cfg, progress=False)
    dm.prepare_data()
    dm.setup(SPLITS[split])
    task = MultimodalTask.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    mcfg = model_config(cfg, n_classes=dm.n_classes, vocab_size=dm.vocab_size)
    trainer = L.Trainer(accelerator=cfg.trainer.accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        precision=resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator))
    label = record.backbone + (f" {record.pattern}" if record.pattern else "")
    dropout = ",".join(f"{k}={v:g}" for k, v in cfg.data.modality_dropout.items())
    results: dict[tuple[str, ...], tuple[dict[str, float], int]] = {}
    for absent in [(), *sets]:
        task.eval_absent, task.eval_left_out = absent, 0
        evaluate = trainer.test if split == "test" else trainer.validate
        out = evaluate(task, datamodule=dm, verbose=False)[0]
        results[absent] = ({k: float(v) for k, v in out.items() if k.startswith(f"{split}/") and not k.endswith("loss")},
                           task.eval_left_out)
        if progress is not None:
            progress()
    complete = results[()][0]
    rows = []
    for absent, (metrics, left_out) in results.items():
        for metric, value in metrics.items():
            rows.append({"run": str(run), "label": label, "backbone": record.backbone, "pattern": record.pattern,
                         "seed": record.seed, "modality_dropout": dropout, "missing": "+".join(absent), "metric": metric, "value": value,
                         "complete": complete[metric], "drop": complete[metric] - value, "left_out": left_out,
                         "gflops": analytic_cost(mcfg).gflops, "gflops_missing": analytic_cost(mcfg, absent).gflops})
    return rows


def primary_metric(df: pd.DataFrame) -> str:
    """``test/acc`` for multiclass runs, ``test/mAP`` for multilabel ones."""
    return "test/acc" if (df["metric"] == "test/acc").any() else "test/mAP"


def plot(df: pd.DataFrame, path: Path, title: str) -> None:
    """Grouped bars: per missing set, the primary test metric of every run (of every ``series`` when
    ``df`` has that column: e.g. a configuration's mean over its seeds, :mod:`locomt.search.missing`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from locomt.io import save_figure

    metric = primary_metric(df)
    part = df[df["metric"] == metric]
    sets = list(dict.fromkeys(part["missing"]))
    if "series" not in part:
        part = part.assign(series=[f"{label} (seed {seed}; {Path(run).name})"
                                   for label, seed, run in zip(part["label"], part["seed"], part["run"])])
    runs = list(dict.fromkeys(part["series"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(sets) * max(1, len(runs)) ** 0.5 + 2), 4.2))
    width = 0.8 / max(1, len(runs))
    for k, name in enumerate(runs):
        rows = part[part["series"] == name].set_index("missing")
        ax.bar([i + k * width for i in range(len(sets))], [rows.loc[s, "value"] for s in sets], width, label=name)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(sets))],
                  ["complete" if not s else "without " + s for s in sets], rotation=20, ha="right")
    ax.set(ylabel=metric, title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def table(df: pd.DataFrame, title: str):
    """The primary metric of every run and missing set as a rich table (in %, the drop from complete
    in points)."""
    from rich import box
    from rich.table import Table

    metric = primary_metric(df)
    part = df[df["metric"] == metric]
    out = Table(title=f"{title} ({metric} in %, drop from complete in points)", title_justify="left",
                box=box.SIMPLE_HEAD)
    for col in ("run", "label", "seed", "modality dropout"):
        out.add_column(col, overflow="fold")
    names = list(dict.fromkeys(part["missing"]))
    for s in names:
        out.add_column("complete" if not s else f"without {s}", justify="right", no_wrap=True)
    for run, g in part.groupby("run", sort=False):
        g = g.set_index("missing")
        cells = [f"{100 * g.loc[s, 'value']:.1f}" + ("" if not s else f" ({-100 * g.loc[s, 'drop']:+.1f})")
                 for s in names]
        out.add_row(Path(run).name, g["label"].iloc[0], str(g["seed"].iloc[0]), g["modality_dropout"].iloc[0] or "-",
                    *cells)
    return out
