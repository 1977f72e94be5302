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

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from locomt.config import with_model
from locomt.experiment import load_experiment
from locomt.runs import canonical_config, config_key, quiet_lightning, train_cached

from locomt.search.bestfront import (best_front_markdown, best_known_front, front_test_hypervolume,  # noqa: F401
                                     full_fidelity, plot_against_best, replicate_shares, score_against_best, value_at,
                                     what_it_takes)
from locomt.search.front import hypervolume
from locomt.search.report import reference_point, test_metric, trials_frame, write_report
from locomt.search.session import open_sweep
from locomt.search.strategies import (REFERENCE, STRATEGIES, check_replicate_seeds, space_changes,  # noqa: F401
                                      study_name)
from locomt.search.study import find_study
from locomt.search.workers import console, run_workers

CURVE_COLUMNS = ["strategy", "seed", "number", "epochs", "cum_epochs", "n_configurations", "n_full", "hypervolume",
                 "test_hypervolume"]


def compute_curve(trials: pd.DataFrame, metric: str, chance: float, ref_gflops: float) -> pd.DataFrame:
    """Hypervolume of the full-fidelity front after each finished trial, against cumulative epochs;
    ``n_configurations`` counts the configurations evaluated so far (trials charged anything that are
    neither repeats nor promotions of a paused configuration), ``n_full`` those at full fidelity;
    ``test_hypervolume`` is :func:`front_test_hypervolume` of the same front (NaN without a test metric)."""
    rows, points, cum, n_configurations = [], [], 0, 0
    test = test_metric(metric)
    done = trials[trials["state"].isin(["COMPLETE", "PRUNED"])].sort_values("number")
    for _, r in done.iterrows():
        repeat = pd.notna(r.get("duplicate_of"))
        epochs = 0 if repeat or pd.isna(r.get("epochs")) else int(r["epochs"])
        cum += epochs
        n_configurations += epochs > 0 and pd.isna(r.get("promoted_from"))
        if r["state"] == "COMPLETE" and not repeat:
            points.append((float(r[metric]), float(r[test]) if pd.notna(r.get(test)) else float("nan"),
                           float(r["gflops"])))
        rows.append({"number": int(r["number"]), "epochs": cum - (rows[-1]["cum_epochs"] if rows else 0),
                     "cum_epochs": cum, "n_configurations": n_configurations, "n_full": len(points),
                     "hypervolume": hypervolume([(v, g) for v, _, g in points], chance, ref_gflops),
                     "test_hypervolume": front_test_hypervolume(points, chance, ref_gflops)})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS[2:])


REPLICATE_COLUMNS = ["key", "pattern", "backbone", "gflops", "of_seed", "seed", "run"]


def replicate_front(front: pd.DataFrame, seeds: list[int], config: str | Path, overrides: list[str], metric: str,
                    progress: bool = True) -> pd.DataFrame:
    """Train every configuration of a best-known ``front`` (:func:`best_known_front`) again on each of
    the training ``seeds``, through the run cache as the studies do (a finished run is read back), and
    return a row per configuration and seed: its ``key`` in the studies (at the config's own seed,
    ``of_seed``), the ``seed`` and run of the replicate, and its metrics (``metric`` and the test
    metric). ValueError when a configuration's key is not the one ``config`` with ``overrides`` gives
    it (a front of another task), or a seed is the studies' own."""
    base = load_experiment(config, overrides)
    check_replicate_seeds(seeds, base.seed)
    todo = []
    for r in front.itertuples(index=False):
        pattern = r.pattern if isinstance(r.pattern, str) else None  # NaN for a backbone without views
        cfg = canonical_config(with_model(base, r.backbone, pattern))
        if config_key(cfg) != r.key:
            raise ValueError(f"best-known front configuration {r.pattern!r} has key {r.key!r}, and {str(config)!r} "
                             f"gives it {config_key(cfg)!r}; expected the config the studies ran (--config, --set)")
        todo += [(r, pattern or r.backbone, dataclasses.replace(cfg, seed=seed)) for seed in seeds]
    quiet_lightning()
    rows, test = [], test_metric(metric)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=not progress) as bar:
        task = bar.add_task("replicates", total=len(todo))
        for r, label, cfg in todo:
            bar.update(task, description=f"{label} seed {cfg.seed}")
            record, run = train_cached(cfg, Path(cfg.trainer.out_dir) / "configs")
            rows.append({"key": r.key, "pattern": r.pattern, "backbone": r.backbone, "gflops": r.gflops,
                         "of_seed": base.seed, "seed": cfg.seed, "run": str(run), metric: record.metrics[metric],
                         test: record.metrics.get(test, float("nan"))})
            bar.advance(task)
    return pd.DataFrame(rows, columns=[*REPLICATE_COLUMNS, metric, test])


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


# ------------------------------------------------------------------ running the strategies
def run_benchmark(dataset: str, strategies: list[str], seeds: list[int], budget_epochs: int, out: Path,
                  command: str, config: str | None = None, space: str | None = None, overrides: list[str] = (),
                  enqueue: bool = False, n_workers: int = 1, progress: bool = True) -> list[tuple[str, int, Path]]:
    """Run (or resume) one study per strategy and search seed in ``OUT/<strategy>-seed<k>/`` (each
    with its own study.db and sweep report), all sharing the run cache; returns (strategy, seed,
    folder) of each. One worker by default (a study is then deterministic; torch's own thread count,
    ``OMP_NUM_THREADS=1`` in every committed command); ``n_workers`` > 1 runs that many worker
    processes sharing the cores, as the default sweep does (at most one per core: the sweep's check)."""
    done = []
    for seed in seeds:
        for strategy in strategies:
            name = study_name(strategy, seed)
            sweep = open_sweep(dataset, command, config=config, space=space, overrides=list(overrides), study=name,
                               out=str(out / name), progress=progress,
                               space_changes=space_changes(strategy, seed, budget_epochs, enqueue),
                               n_workers=n_workers)
            try:
                run_workers(sweep.ctx, n_workers, sweep.study)
            finally:
                write_report(sweep.study, sweep.out)
                sweep.storage.remove_session()
            done.append((strategy, seed, sweep.out))
    return done


def collect(studies: list[tuple[str, int, Path]]) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(curves of every study, every study's trials with strategy and seed columns, the metric)."""
    import optuna

    curves, frames, metric = [], [], "val/acc"
    for strategy, seed, folder in studies:
        storage, name = find_study(Path(folder), None, None)
        study = optuna.load_study(study_name=name, storage=storage)
        metric = study.user_attrs.get("metric", metric)
        trials = trials_frame(study)
        if not trials["state"].isin(["COMPLETE", "PRUNED"]).any():
            raise ValueError(f"study {name!r} in {folder} has no finished trial ({len(trials)} trials, none complete "
                             f"or pruned); nothing to compare: see why with python -m locomt.report {folder}")
        ref = reference_point(study, trials)
        if ref is None:
            raise ValueError(f"study {name!r} records no chance level; expected one made by locomt.sweep")
        curve = compute_curve(trials, metric, *ref)
        curves.append(curve.assign(strategy=strategy, seed=seed)[CURVE_COLUMNS])
        frames.append(trials.assign(strategy=strategy, seed=seed))
    return pd.concat(curves, ignore_index=True), pd.concat(frames, ignore_index=True), metric


STUDY_FOLDER = re.compile(r"^(?P<strategy>.+)-seed(?P<seed>\d+)$")


def collect_folders(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, str, tuple[float, float]]:
    """:func:`collect` from the files a study leaves, without its study.db: every ``trials.csv`` under
    ``root`` (at any depth) in a folder named ``<strategy>-seed<k>``, with the reference point of its
    ``sweep.json``. Returns (curves, trials with strategy and seed columns, the metric, the reference
    point), every study of a task sharing one reference point."""
    import json

    curves, frames, metric, ref = [], [], "val/acc", None
    for path in sorted(Path(root).rglob("trials.csv")):
        folder = path.parent
        match = STUDY_FOLDER.match(folder.name)
        if match is None:
            raise ValueError(f"{str(folder)!r}: expected a study folder named <strategy>-seed<k>")
        info = json.loads((folder / "sweep.json").read_text()) if (folder / "sweep.json").is_file() else {}
        point = info.get("reference") or {}
        if "chance" not in point or "gflops" not in point:
            raise ValueError(f"{str(folder / 'sweep.json')!r} records no reference point; expected one written by "
                             "locomt.sweep's report")
        here = (float(point["chance"]), float(point["gflops"]))
        if ref is not None and not np.allclose(here, ref, rtol=1e-9, atol=0):
            raise ValueError(f"{str(folder)!r}: reference point {here}, and other studies of this task have {ref}; "
                             "expected one task per folder")
        ref = here
        trials = pd.read_csv(path, keep_default_na=False, na_values=[""])
        metric = next((c for c in trials.columns if c.startswith("val/") and "@" not in c), metric)
        strategy, seed = match["strategy"], int(match["seed"])
        curves.append(compute_curve(trials, metric, *ref).assign(strategy=strategy, seed=seed)[CURVE_COLUMNS])
        frames.append(trials.assign(strategy=strategy, seed=seed, folder=str(folder)))
    if not frames:
        raise ValueError(f"no study (trials.csv) under {str(root)!r}")
    return pd.concat(curves, ignore_index=True), pd.concat(frames, ignore_index=True), metric, ref


def ranking(trials: pd.DataFrame, metric: str, n: int, earlier: Path | None = None) -> pd.DataFrame:
    """Configurations trained to full fidelity in any study, at most ``n`` (the union front first,
    then evenly spaced over GFLOPs): the full-fidelity validation metric and, from each run's
    ``metrics.csv``, the metric after every earlier epoch (``val/acc@E``). When some of those runs
    are not in the run cache here (studies committed from another machine), the ``earlier`` ranking
    file is read back instead, if there is one."""
    from locomt.runs import epoch_values
    from locomt.search.fidelity import front_ranks

    full = full_fidelity(trials).sort_values("gflops", kind="stable").reset_index(drop=True)
    on_front = front_ranks(list(zip(full[metric], full["gflops"]))) == 0 if len(full) else np.zeros(0, bool)
    chosen = list(np.flatnonzero(on_front))
    rest = [i for i in range(len(full)) if i not in chosen]
    if len(chosen) < n and rest:
        picks = np.linspace(0, len(rest) - 1, min(n - len(chosen), len(rest))).round().astype(int)
        chosen += [rest[i] for i in sorted(set(picks))]
    if earlier is not None and Path(earlier).is_file() and not all(
            (Path(full.iloc[i]["run"]) / "metrics.csv").is_file() for i in chosen):
        return pd.read_csv(earlier)
    rows, test = [], test_metric(metric)
    for i in sorted(chosen):
        r = full.iloc[i]
        values = epoch_values(r["run"], metric)
        rows.append({"key": r["key"], "pattern": r["pattern"], "gflops": r["gflops"], metric: r[metric],
                     test: r.get(test), "on_front": bool(on_front[i]),
                     **{f"{metric}@{e}": v for e, v in sorted(values.items())[:-1]}})
    return pd.DataFrame(rows)


def kendall(rank: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Kendall's tau (tau-b, scipy) between the metric after E epochs and at full fidelity, per E;
    then, as the last row, between the test metric and the validation metric of the same
    full-fidelity models: how well a second measurement of the very same models agrees with the
    validation ranking, a reference for the split noise that every estimate is ranked against."""
    from scipy.stats import kendalltau

    rows = []
    test = test_metric(metric)
    estimates = [c for c in rank.columns if c.startswith(f"{metric}@")] + ([test] if test in rank.columns else [])
    for col in estimates:
        part = rank[[col, metric]].dropna()
        tau, p = kendalltau(part[col], part[metric])
        rows.append({"estimate": col, "epochs": int(col.split("@")[1]) if "@" in col else None,
                     "n_patterns": len(part), "kendall_tau": float(tau), "p_value": float(p)})
    return pd.DataFrame(rows, columns=KENDALL_COLUMNS).astype({"epochs": "Int64"})


KENDALL_COLUMNS = ["estimate", "epochs", "n_patterns", "kendall_tau", "p_value"]


def write_outputs(out: Path, curves: pd.DataFrame, rank: pd.DataFrame, budget: float, metric: str,
                  command: str, machine: str, full_epochs: int | None = None, trials: pd.DataFrame | None = None,
                  reference: tuple[float, float] | None = None, at_epochs: float | None = None,
                  replicates: pd.DataFrame | None = None) -> list[Path]:
    """curves.csv, compare.csv, ranking.csv, kendall.csv, hypervolume_vs_epochs.png and summary.md
    (and paper_scale.csv, :mod:`locomt.search.estimate`, given the benchmark's full-training epochs).
    Given every study's ``trials`` and the task's ``reference`` point, also the best-known front
    (``best_front.csv``) and each study's score against it after ``at_epochs`` (default a third of the
    budget) and at its end (``scores.csv``), and the plot shows those; given ``replicates``
    (:func:`replicate_front`), what the front keeps on other seeds (:func:`replicate_shares`). The comparison at the budget
    (``compare.csv``) holds the studies that ran to within one full training of it."""
    from locomt.io import atomic_write_csv, atomic_write_text
    from locomt.search.estimate import estimate_markdown, paper_scale_rows

    ends = curves.groupby(["strategy", "seed"])["cum_epochs"].transform("max")
    comparison = compare(curves[ends >= budget - (full_epochs or 0)], REFERENCE, budget)
    tau = kendall(rank, metric) if len(rank) else pd.DataFrame(columns=KENDALL_COLUMNS)
    paths = [atomic_write_csv(curves, out / "curves.csv"), atomic_write_csv(comparison, out / "compare.csv"),
             atomic_write_csv(rank, out / "ranking.csv"), atomic_write_csv(tau, out / "kendall.csv")]
    at_epochs = budget / 3 if at_epochs is None else at_epochs
    best_lines: list[str] = []
    if trials is not None and reference is not None:
        front, best, best_test = best_known_front(trials, metric, *reference)
        scores = score_against_best(curves, best, at_epochs)
        full = full_fidelity(trials)
        keep = [c for c in ["key", "pattern", "backbone", "gflops", metric, test_metric(metric), "strategy", "seed"]
                if c in front]
        paths += [atomic_write_csv(front[keep], out / "best_front.csv"), atomic_write_csv(scores, out / "scores.csv")]
        replicated = base_seed = None
        if replicates is not None and len(replicates):
            replicated = replicate_shares(front, replicates, metric, *reference, best)
            base_seed = int(replicates["of_seed"].iloc[0])
        best_lines = best_front_markdown(scores, best, best_test, len(front), len(full), at_epochs,
                                         what_it_takes(full, front, best, metric, *reference), replicated, base_seed)
    else:
        best = float(curves["hypervolume"].max())  # no trials: shares of the best any curve reached
    paths.append(plot_against_best(curves, best, out / "hypervolume_vs_epochs.png",
                                   f"against the best-known front ({curves['seed'].nunique()} search seeds; "
                                   f"validation hypervolume {best:.4f})"))
    text = summary_markdown(comparison, tau, budget, metric, command, machine, best_lines)
    if full_epochs:
        estimate = paper_scale_rows(comparison, budget, full_epochs, curves=curves)
        paths.append(atomic_write_csv(estimate, out / "paper_scale.csv"))
        text = "\n".join([text, "", *estimate_markdown(estimate)])
    paths.append(atomic_write_text(out / "summary.md", text + "\n"))
    return paths


def summary_markdown(comparison: pd.DataFrame, tau: pd.DataFrame, budget: float, metric: str, command: str,
                     machine: str, best_lines: list[str] = ()) -> str:
    lines = ["# Search strategies at equal training compute", "",
             f"Every study may train {budget:g} epochs (one epoch: one pass over the training split); its "
             f"hypervolume is that of its front of configurations trained to full fidelity (`{metric}` up, "
             "GFLOPs down; reference: chance level and joint fusion's GFLOPs, normalised to [0, 1]).", "",
             "Produced by:", "", "```bash", command, "```", "", f"Machine: {machine}.", "",
             *best_lines, *([""] if best_lines else []),
             f"## Hypervolume at {budget:g} epochs, and the epochs needed to reach {REFERENCE}'s", "",
             "| strategy | seeds | hypervolume (mean) | min..max | full-fidelity configurations (mean) "
             f"| epochs to {REFERENCE}'s hypervolume (mean share of the budget) | per seed |", "|---|---|---|---|---|---|---|"]
    for strategy, g in comparison.groupby("strategy", sort=False):
        shares = g["share_of_budget"].tolist()
        per_seed = ", ".join("never" if not np.isfinite(x) else f"{x:.2f}" for x in shares)
        mean = float(np.mean(shares)) if all(np.isfinite(shares)) else float("inf")
        lines.append(f"| {strategy} | {len(g)} | {g['hypervolume'].mean():.4f} | {g['hypervolume'].min():.4f}.."
                     f"{g['hypervolume'].max():.4f} | {g['n_full'].mean():.1f} | "
                     f"{'not reached in every seed' if not np.isfinite(mean) else f'{mean:.2f}'} | {per_seed} |")
    lines += ["", "## Ranking quality of the low fidelity", "",
              f"Kendall's tau between `{metric}` after E epochs and at full fidelity, over the configurations "
              "in `ranking.csv` (the union front of every study, then evenly spaced over GFLOPs); last, "
              f"`{test_metric(metric)}` against `{metric}` of the same full-fidelity models, a reference for "
              "the noise of a split this size: how well a second split ranks the very same models.", "",
              "| estimate | patterns | Kendall tau | p |", "|---|---|---|---|"]
    lines += [f"| `{r.estimate}`{'' if pd.notna(r.epochs) else ' (same models: split noise)'} "
              f"| {int(r.n_patterns)} | {r.kendall_tau:.3f} | {r.p_value:.2g} |" for r in tau.itertuples()]
    return "\n".join(lines)
