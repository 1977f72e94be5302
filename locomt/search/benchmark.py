"""Comparing search strategies at equal training compute: hypervolume against epochs trained.

Every strategy runs as its own study (one per strategy and search seed). A trial is charged the
epochs its configuration was trained to in that study (``TrialRecord.epochs``: the full schedule
for full training, the last rung reached for successive halving; 0 for a repeat of a configuration
the study had trained, and for a configuration rejected before training). The curve of a study is
the hypervolume of its front of configurations confirmed at full fidelity after each trial,
against the cumulative epochs charged so far. Runs are shared through the run cache, so a
configuration that several studies train costs wall time once; each study is charged for it all
the same, as if it had trained it alone (training is deterministic, so the values are those it
would have got).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from locomt.io import atomic_path  # noqa: E402
from locomt.search.front import hypervolume  # noqa: E402

CURVE_COLUMNS = ["strategy", "seed", "number", "epochs", "cum_epochs", "n_full", "hypervolume"]


def compute_curve(trials: pd.DataFrame, metric: str, chance: float, ref_gflops: float) -> pd.DataFrame:
    """Hypervolume of the full-fidelity front after each finished trial, against cumulative epochs."""
    rows, points, cum = [], [], 0
    done = trials[trials["state"].isin(["COMPLETE", "PRUNED"])].sort_values("number")
    for _, r in done.iterrows():
        repeat = pd.notna(r.get("duplicate_of"))
        cum += 0 if repeat or pd.isna(r.get("epochs")) else int(r["epochs"])
        if r["state"] == "COMPLETE" and not repeat:
            points.append((float(r[metric]), float(r["gflops"])))
        rows.append({"number": int(r["number"]), "epochs": cum - (rows[-1]["cum_epochs"] if rows else 0),
                     "cum_epochs": cum, "n_full": len(points),
                     "hypervolume": hypervolume(points, chance, ref_gflops)})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS[2:])


def hypervolume_at(curve: pd.DataFrame, epochs: float) -> float:
    """The hypervolume a study had reached once it had been charged ``epochs`` (0 before its first trial)."""
    seen = curve[curve["cum_epochs"] <= epochs]
    return float(seen["hypervolume"].iloc[-1]) if len(seen) else 0.0


def epochs_to_reach(curve: pd.DataFrame, target: float) -> float:
    """The epochs charged when a study first reached hypervolume ``target`` (inf if it never did)."""
    hit = curve[curve["hypervolume"] >= target - 1e-12]
    return float(hit["cum_epochs"].iloc[0]) if len(hit) else float("inf")


def compare(curves: pd.DataFrame, reference: str, budget: float) -> pd.DataFrame:
    """Per strategy and seed: its hypervolume at the budget, and the epochs it needed to reach the
    reference strategy's hypervolume at the budget (same seed), as a share of the budget."""
    rows = []
    for (strategy, seed), c in curves.groupby(["strategy", "seed"]):
        ref = curves[(curves["strategy"] == reference) & (curves["seed"] == seed)]
        target = hypervolume_at(ref, budget) if len(ref) else float("nan")
        need = epochs_to_reach(c, target) if len(ref) else float("nan")
        rows.append({"strategy": strategy, "seed": seed, "hypervolume": hypervolume_at(c, budget),
                     "n_full": int(c[c["cum_epochs"] <= budget]["n_full"].max()) if len(c) else 0,
                     "reference_hypervolume": target, "epochs_to_reference": need,
                     "share_of_budget": need / budget if np.isfinite(need) else float("inf")})
    return pd.DataFrame(rows)


def plot_curves(curves: pd.DataFrame, budget: float, path: Path, title: str) -> Path:
    """Hypervolume against epochs charged: the mean over seeds of each strategy as a step line, the
    range over seeds shaded."""
    grid = np.linspace(0, budget, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, (strategy, part) in enumerate(curves.groupby("strategy", sort=False)):
        per_seed = np.array([[hypervolume_at(c, x) for x in grid] for _, c in part.groupby("seed")])
        ax.step(grid, per_seed.mean(0), where="post", color=f"C{k}",
                label=f"{strategy} (mean of {len(per_seed)} seeds)")
        ax.fill_between(grid, per_seed.min(0), per_seed.max(0), step="post", color=f"C{k}", alpha=0.15)
    ax.set(xlabel="training epochs charged (one epoch = one pass over the training split)",
           ylabel="hypervolume of the full-fidelity front", title=title, xlim=(0, budget))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)
    return path
