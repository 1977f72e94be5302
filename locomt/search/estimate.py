"""What a view search would cost at paper scale, from the cost model and the benchmark's measured shares.

The search benchmark measures, per strategy, the training compute (in epochs of its own benchmark)
it needed to reach full-training TPE's hypervolume. At paper scale one configuration's full
training costs ``train_examples * epochs * 3 * forward FLOPs`` (the backward pass taken as twice
the forward, the usual rule), with the forward FLOPs from the analytic cost model (joint fusion's,
an upper bound: every LoCoMT pattern costs less). :func:`paper_scale_rows` turns a benchmark's
compute into full trainings (benchmark epochs / benchmark full-training epochs) and those into
GPU hours at an assumed sustained throughput. Every assumption is a column of the table.
"""

from __future__ import annotations

import math

import pandas as pd

from locomt.cost import analytic_cost
from locomt.models.registry import reference_backbone
from locomt.presets import get_preset

#: MedVidCL's training split (4217 items; val 300, test 1600) and MBT's schedule (50 epochs)
TRAIN_EXAMPLES = {"medvidcl-vitb": 4217, "medvidcl-vitb-long": 4217}
PAPER_EPOCHS = 50
#: assumed sustained training throughput of one GPU: an H200's ~989 dense bf16 TFLOP/s at 40 %
#: model-FLOPs utilisation (an assumption, not a measurement of this project)
GPU_TFLOPS = 400.0


def forward_gflops(preset: str) -> float:
    """Joint fusion's forward GFLOPs per example at ``preset`` (it bounds every LoCoMT pattern)."""
    return analytic_cost(get_preset(preset, backbone=reference_backbone())).gflops


def full_training_gpu_hours(preset: str, train_examples: int, epochs: int, tflops: float) -> float:
    """GPU hours of one full training at ``preset``: joint's forward FLOPs times 3 (forward and
    backward), per example and epoch, at ``tflops`` sustained."""
    return 3.0 * forward_gflops(preset) * 1e9 * train_examples * epochs / (tflops * 1e12) / 3600


def epochs_per_configuration(curves: pd.DataFrame, budget: float) -> dict[str, float]:
    """Per strategy, over its seeds: the epochs charged within ``budget`` per configuration evaluated
    by then (``n_configurations`` of the curves: repeats, rejections and promotions of a paused
    configuration are no new configurations)."""
    within = curves[curves["cum_epochs"] <= budget]
    last = within.groupby(["strategy", "seed"], sort=False)[["cum_epochs", "n_configurations"]].last()
    total = last.groupby(level="strategy", sort=False).sum()
    return (total["cum_epochs"] / total["n_configurations"]).to_dict()


def paper_scale_rows(comparison: pd.DataFrame, budget: float, bench_full_epochs: int,
                     presets: tuple[str, ...] = ("medvidcl-vitb", "medvidcl-vitb-long"),
                     epochs: int = PAPER_EPOCHS, tflops: float = GPU_TFLOPS,
                     curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per strategy of ``comparison`` (from ``locomt.search.benchmark.compare``) and preset: the
    compute it needed to reach TPE's final hypervolume (mean over seeds; all of ``budget`` for TPE
    itself), in full trainings and in GPU hours at ``tflops``; given the benchmark's ``curves``,
    also what one configuration it evaluated cost (mean epochs) and 100 such configurations."""
    per_config = epochs_per_configuration(curves, budget) if curves is not None else {}
    hours = {p: full_training_gpu_hours(p, TRAIN_EXAMPLES[p], epochs, tflops) for p in presets}
    rows = []
    for strategy, g in comparison.groupby("strategy", sort=False):
        need = g["epochs_to_reference"].astype(float)
        mean_epochs = float(need.mean())  # inf when a seed never reached it
        trainings = mean_epochs / bench_full_epochs
        configs = per_config.get(strategy, float("nan"))
        for preset in presets:
            rows.append({"strategy": strategy, "preset": preset, "train_examples": TRAIN_EXAMPLES[preset],
                         "epochs": epochs, "bench_full": bench_full_epochs,
                         "gflops_forward_joint": forward_gflops(preset),
                         "full_training_gpu_hours": hours[preset],
                         "bench_epochs_to_tpe": mean_epochs, "full_trainings": trainings,
                         "search_gpu_hours": trainings * hours[preset],
                         "epochs_per_configuration": configs,
                         "gpu_hours_per_100_configurations": 100 * configs / bench_full_epochs * hours[preset],
                         "assumed_tflops": tflops})
    return pd.DataFrame(rows)


def estimate_markdown(table: pd.DataFrame) -> list[str]:
    """The table as markdown lines, with its assumptions."""
    if table.empty:
        return []
    first = table.iloc[0]
    lines = ["## Paper-scale estimate (one GPU)", "",
             f"One configuration's full training: {int(first.train_examples)} MedVidCL training videos x "
             f"{int(first.epochs)} epochs (MBT's schedule) x 3 x joint's forward GFLOPs (backward = 2 x forward; "
             f"joint bounds every LoCoMT pattern), at an assumed {first.assumed_tflops:g} TFLOP/s sustained "
             "(an H200's dense bf16 peak at 40 % utilisation; not measured here). A strategy costs the full "
             "trainings' worth of epochs it needed, in the benchmark, to reach full-training TPE's final "
             "hypervolume (mean over seeds); and a configuration costs the mean share of a full training "
             "the strategy spent on each configuration it evaluated.", "",
             "| strategy | preset | forward GFLOPs (joint) | GPU hours per full training | full trainings "
             "to TPE's hypervolume | GPU hours | benchmark epochs per configuration (of "
             f"{int(first.bench_full)}) | GPU hours per 100 configurations |", "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        reached = math.isfinite(r.full_trainings)
        lines.append(f"| {r.strategy} | {r.preset} | {r.gflops_forward_joint:.0f} | {r.full_training_gpu_hours:.2f} | "
                     f"{f'{r.full_trainings:.1f}' if reached else 'not reached'} | "
                     f"{f'{r.search_gpu_hours:.1f}' if reached else '-'} | {r.epochs_per_configuration:.1f} | "
                     f"{r.gpu_hours_per_100_configurations:.1f} |")
    return lines
