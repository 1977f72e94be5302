"""Scoring studies against the best-known front of their task: the front of every configuration any
study trained to full fidelity (``best_known_front``), each study's share of its validation
hypervolume after a given number of epochs and the test hypervolume of what its validation front
picks (``score_against_best``), how many configurations the front's hypervolume takes
(``what_it_takes``), how much of it the front's own configurations keep on other training seeds
(``replicate_shares``), the two-panel plot and the summary's section. Used by
``locomt.search.benchmark`` (``python -m locomt.searchbench``)."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from locomt.io import save_figure  # noqa: E402
from locomt.search.front import hypervolume  # noqa: E402
from locomt.search.report import test_metric  # noqa: E402
from locomt.search.strategies import REFERENCE  # noqa: E402

#: the share of the best-known front a search should reach within a third of full-training TPE's budget
#: (issue 22's target); the summary counts the configurations that reach it alone
TARGET_SHARE = 0.9


def front_test_hypervolume(points: list[tuple[float, float, float]], chance: float, ref_gflops: float) -> float:
    """The test hypervolume of the configurations a validation front picks: of ``(validation metric,
    test metric, GFLOPs)`` points, those on the validation front inside the reference box (metric
    above ``chance``, GFLOPs below ``ref_gflops``), scored by their test metric (NaN if one of them has
    none). What a user who chose by validation gets on data no choice saw."""
    from locomt.search.fidelity import front_ranks

    inside = [(v, t, g) for v, t, g in points if v > chance and g < ref_gflops]
    if not inside:
        return 0.0
    on_front = front_ranks([(v, g) for v, _, g in inside]) == 0
    picked = [(t, g) for (_, t, g), keep in zip(inside, on_front) if keep]
    if any(not np.isfinite(t) for t, _ in picked):
        return float("nan")
    return hypervolume(picked, chance, ref_gflops)


def best_known_front(trials: pd.DataFrame, metric: str, chance: float, ref_gflops: float
                     ) -> tuple[pd.DataFrame, float, float]:
    """The best front known for a task: of every distinct configuration that any study trained to
    full fidelity (COMPLETE, not a repeat; one row per run key), those on the validation front.
    Returns (that front sorted by GFLOPs, its validation hypervolume, the test hypervolume of the
    configurations it picks)."""
    from locomt.search.fidelity import front_ranks

    test = test_metric(metric)
    full = full_fidelity(trials)
    if full.empty:
        raise ValueError("no configuration trained to full fidelity in any study: no best-known front")
    front = full[front_ranks(list(zip(full[metric], full["gflops"]))) == 0].sort_values("gflops")
    points = [(float(v), float(t) if test in full and pd.notna(t) else float("nan"), float(g))
              for v, t, g in zip(full[metric], full[test] if test in full else [np.nan] * len(full), full["gflops"])]
    return (front.reset_index(drop=True), hypervolume(list(zip(full[metric], full["gflops"])), chance, ref_gflops),
            front_test_hypervolume(points, chance, ref_gflops))


def full_fidelity(trials: pd.DataFrame) -> pd.DataFrame:
    """Every distinct configuration trained to full fidelity: COMPLETE, not a repeat, one row per run key."""
    return trials[(trials["state"] == "COMPLETE") & trials["duplicate_of"].isna()].drop_duplicates("key")


def what_it_takes(full: pd.DataFrame, front: pd.DataFrame, best: float, metric: str, chance: float,
                  ref_gflops: float, k_max: int = 3) -> tuple[list[float], int]:
    """How many configurations the best-known front's validation hypervolume ``best`` takes, given the
    full-fidelity configurations (:func:`full_fidelity`) and their ``front`` (:func:`best_known_front`):
    the largest share of it that any k of them reach (k = 1..``k_max``; a best k-subset always lies on
    the front, since a point that dominates another adds at least as much), and how many of the
    configurations reach ``TARGET_SHARE`` of it alone. A study that finishes a few configurations
    reaches a share only by finding these."""
    on_front = list(zip(front[metric].astype(float), front["gflops"].astype(float)))
    shares = [max(hypervolume(c, chance, ref_gflops) for c in itertools.combinations(on_front, k)) / best
              for k in range(1, min(k_max, len(on_front)) + 1)]
    alone = sum(hypervolume([(v, g)], chance, ref_gflops) >= TARGET_SHARE * best
                for v, g in zip(full[metric].astype(float), full["gflops"].astype(float)))
    return shares, alone


def replicate_shares(front: pd.DataFrame, replicates: pd.DataFrame, metric: str, chance: float,
                     ref_gflops: float, best: float) -> pd.DataFrame:
    """How much of the best-known front's validation hypervolume ``best`` its own configurations keep
    when trained on other seeds: per training seed of ``replicates`` (rows of the configuration's ``key``
    in the studies, the ``seed`` it was trained on again and its ``metric`` there:
    :func:`locomt.search.benchmark.replicate_front`), the hypervolume of those of the
    ``front``'s configurations that seed has, and its share of ``best``; last (``seeds`` "mean"), that
    of each configuration's mean over the front's own value and every replicate of it. The studies
    train one seed, so a configuration's value there is one draw: a share well below 1 says the front
    is partly that draw's luck, which no model of the metric can aim at. Rows of configurations not on
    ``front`` are ignored."""
    reps = replicates[replicates["key"].isin(set(front["key"]))]
    gflops = dict(zip(front["key"], front["gflops"].astype(float)))
    rows = []
    for seed, part in reps.groupby("seed", sort=True):
        points = [(float(v), gflops[k]) for k, v in zip(part["key"], part[metric])]
        hv = hypervolume(points, chance, ref_gflops)
        rows.append({"seeds": str(seed), "configurations": len(points), "hypervolume": hv, "share": hv / best})
    if rows:
        values = pd.concat([front[["key", metric]], reps[["key", metric]]]).groupby("key")[metric].mean()
        points = [(float(v), gflops[k]) for k, v in values.items()]
        hv = hypervolume(points, chance, ref_gflops)
        rows.append({"seeds": "mean", "configurations": len(points), "hypervolume": hv, "share": hv / best})
    return pd.DataFrame(rows, columns=["seeds", "configurations", "hypervolume", "share"])


def value_at(curve: pd.DataFrame, epochs: float, column: str) -> float:
    """``column`` of a study's curve once it had been charged ``epochs`` (0 before its first trial;
    NaN past the epochs it was charged in all: a study that stopped says nothing about later)."""
    if not len(curve) or epochs > curve["cum_epochs"].max():
        return float("nan")
    seen = curve[curve["cum_epochs"] <= epochs]
    return float(seen[column].iloc[-1]) if len(seen) else 0.0


def score_against_best(curves: pd.DataFrame, best: float, at_epochs: float, reference: str = REFERENCE
                       ) -> pd.DataFrame:
    """Per strategy and seed: the share of the best-known front's validation hypervolume ``best``
    reached after ``at_epochs`` epochs and at the study's end, the test hypervolume of its
    validation front then, and that of full-training ``reference`` at its own end (same seed)."""
    rows = []
    for (strategy, seed), c in curves.groupby(["strategy", "seed"], sort=False):
        c = c.sort_values("cum_epochs")
        ref = curves[(curves["strategy"] == reference) & (curves["seed"] == seed)].sort_values("cum_epochs")
        rows.append({"strategy": strategy, "seed": seed, "epochs": int(c["cum_epochs"].max()) if len(c) else 0,
                     "share_at": value_at(c, at_epochs, "hypervolume") / best,
                     "test_hypervolume_at": value_at(c, at_epochs, "test_hypervolume"),
                     "share_at_end": float(c["hypervolume"].iloc[-1]) / best if len(c) else 0.0,
                     "test_hypervolume_at_end": float(c["test_hypervolume"].iloc[-1]) if len(c) else 0.0,
                     "reference_epochs": int(ref["cum_epochs"].max()) if len(ref) else None,
                     "reference_test_hypervolume": (float(ref["test_hypervolume"].iloc[-1]) if len(ref)
                                                    else float("nan"))})
    return pd.DataFrame(rows)


def plot_against_best(curves: pd.DataFrame, best: float, path: Path, title: str) -> Path:
    """Two panels against epochs charged: the share of the best-known front's validation hypervolume,
    and the test hypervolume of each study's validation front. Per strategy the mean over seeds as a
    step line and the range (min-max) shaded, as far as every seed's study ran; past that each
    seed's own line, thin, to where its study stopped (nothing is drawn past a study's end)."""
    end = float(curves["cum_epochs"].max())
    grid = np.linspace(0, end, 400)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    panels = [(axes[0], "hypervolume", best, "share of the best-known front's validation hypervolume"),
              (axes[1], "test_hypervolume", 1.0, "test hypervolume of the validation front")]
    for ax, column, scale, label in panels:
        for k, (strategy, part) in enumerate(curves.groupby("strategy", sort=False)):
            per_seed = np.array([[value_at(c, x, column) / scale for x in grid] for _, c in part.groupby("seed")])
            full = ~np.isnan(per_seed).any(axis=0)
            ax.step(grid[full], per_seed[:, full].mean(0), where="post", color=f"C{k}",
                    label=f"{strategy} (mean of {len(per_seed)} seeds, range shaded)")
            ax.fill_between(grid[full], per_seed[:, full].min(0), per_seed[:, full].max(0), step="post",
                            color=f"C{k}", alpha=0.15)
            for row in per_seed:
                ax.step(grid, row, where="post", color=f"C{k}", lw=0.6, alpha=0.45)
        ax.set(xlabel="training epochs charged", ylabel=label, xlim=(0, end))
        ax.grid(alpha=0.3)
    axes[0].axhline(1.0, color="k", lw=0.8, ls=":")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def best_front_markdown(scores: pd.DataFrame, best: float, best_test: float, n_front: int, n_full: int,
                        at_epochs: float, takes: tuple[list[float], int] | None = None,
                        replicated: pd.DataFrame | None = None, base_seed: int | None = None) -> list[str]:
    """The summary's section on the best-known front: per strategy mean, min and max over seeds,
    (``takes``: :func:`what_it_takes`) how many configurations its hypervolume takes and
    (``replicated``: :func:`replicate_shares`) how much of it its configurations keep on other seeds."""
    def stat(x: pd.Series) -> str:
        x = x.dropna()
        return f"{x.mean():.3f} ({x.min():.3f}..{x.max():.3f})" if len(x) else "-"

    ref = scores["reference_epochs"].dropna().astype(int)  # what the last column compares with
    ref_epochs = ("no tpe study" if ref.empty else f"{ref.min()} epochs" if ref.min() == ref.max()
                  else f"{ref.min()}..{ref.max()} epochs")  # 120 is the "final"; a shorter study is not
    lines = ["## Against the best-known front", "",
             f"The best-known front of this task: the validation front of every distinct configuration any study "
             f"here (and in any --known folder) trained to full fidelity ({n_full} configurations, {n_front} on "
             "the front); validation "
             f"hypervolume **{best:.4f}**, test hypervolume of the configurations it picks {best_test:.4f}. "
             "Recomputed from the studies' `trials.csv` each time (`scores.csv`, `best_front.csv`). Per strategy: "
             "mean (min..max) over seeds; a study that stopped before "
             f"{at_epochs:g} epochs has no value there.", ""]
    if takes is not None:
        shares, alone = takes
        lines += ["What it takes: the best single configuration reaches "
                  + ", ".join(f"{x:.3f} of it" if k == 1 else f"the best {k} {x:.3f}" for k, x in enumerate(shares, 1))
                  + f"; {alone} of the {n_full} configurations reach {TARGET_SHARE:g} of it alone.", ""]
    if replicated is not None and len(replicated):
        per_seed = replicated[replicated["seeds"] != "mean"]
        mean = replicated[replicated["seeds"] == "mean"].iloc[0]
        count = ("all" if (per_seed["configurations"] == n_front).all() else
                 "/".join(str(c) for c in per_seed["configurations"]) + " of the")
        lines += [f"On other seeds: {count} {n_front} configurations of this front, trained again on training "
                  f"seed{'s' if len(per_seed) > 1 else ''} {', '.join(per_seed['seeds'])} (the studies train seed "
                  f"{'?' if base_seed is None else base_seed}; `replicates.csv`), reach "
                  + ", ".join(f"{x:.3f}" for x in per_seed["share"])
                  + f" of its hypervolume, and their means over the {len(per_seed) + 1} seeds {mean['share']:.3f} "
                  "(on the same validation split: how much of the front is one training seed's draw, not the "
                  "split's).", ""]
    lines += [
             f"| strategy | seeds | epochs run | share of best after {at_epochs:g} epochs | at the end "
             f"| test hypervolume of its validation front after {at_epochs:g} | at the end "
             f"| seeds with test hypervolume at the end >= full-training tpe's at the end of its study "
             f"({ref_epochs}, same seed) |",
             "|---|---|---|---|---|---|---|---|"]
    for strategy, g in scores.groupby("strategy", sort=False):
        seeds = sorted(g["seed"])
        run = seeds == list(range(seeds[0], seeds[-1] + 1))
        span = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}" if run else " ".join(map(str, seeds))
        paired = g.dropna(subset=["reference_test_hypervolume"])
        versus = (f"{int((paired['test_hypervolume_at_end'] >= paired['reference_test_hypervolume']).sum())} of "
                  f"{len(paired)}" if len(paired) and strategy != REFERENCE else "-")
        lines.append(f"| {strategy} | {len(g)} ({span}) | {g['epochs'].min()}..{g['epochs'].max()} "
                     f"| {stat(g['share_at'])} | {stat(g['share_at_end'])} | {stat(g['test_hypervolume_at'])} "
                     f"| {stat(g['test_hypervolume_at_end'])} "
                     f"| {versus} |")
    return lines
