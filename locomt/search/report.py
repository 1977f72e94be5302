"""A sweep's tables and plot, regenerated from its study (the single source of truth).

- ``trials.csv``: every trial (``TrialRecord`` columns: number, state, role, label, backbone,
  canonical pattern, validation and test metrics, params, GMACs, GFLOPs, measured forward latency,
  seconds, is_pareto, note, ...);
- ``pareto.csv``: the Pareto front (validation metric up, GFLOPs down), sorted by GFLOPs;
- ``pareto.png``: every trial, the front as a step line, baselines and presets labelled;
- ``hypervolume.png``: the front's normalised hypervolume (``locomt.search.front``) after each trial;
- ``summary.md``: the hypervolume and its reference point, the share of sampler proposals that
  repeated a trained configuration, the front as a table, the best trial under several GFLOPs
  budgets, the command;
- ``sweep.json``: the study's name and storage (written by the sweep) plus the hypervolume.

Every file is written atomically (a crash never leaves a truncated file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402

import json  # noqa: E402

from locomt.io import atomic_write_csv, atomic_write_text, save_figure  # noqa: E402
from locomt.models import reference_backbone  # noqa: E402
from locomt.stats import bootstrap_interval, differ  # noqa: E402
from locomt.stats import summarise as seed_summary  # noqa: E402
from locomt.search.confirm import configurations, front_of_means  # noqa: E402
from locomt.search.front import hypervolume, hypervolume_3d, hypervolume_history  # noqa: E402
from locomt.search.missing import CSV_FILE as ROBUSTNESS_CSV, PLOT_FILE as ROBUSTNESS_PNG  # noqa: E402
from locomt.search.missing import summary_table, update_robustness, worst_name  # noqa: E402
from locomt.search.study import POINTER_FILE, TrialRecord, rung_order  # noqa: E402

BUDGET_FRACTIONS = (1.0, 0.75, 0.6, 0.5, 0.45)  # of joint fusion's GFLOPs: where view patterns differ in cost


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial of the study (``TrialRecord`` columns), with ``is_pareto`` marking the
    front of distinct configurations, taken on their means over seeds (``locomt.search.confirm``).
    Each trial of a trained configuration (the search trial and its confirmations) also carries the
    configuration's ``n_seeds`` and, per metric, ``M_mean``, ``M_std`` and the 95 % interval
    ``M_lo``, ``M_hi`` over its seeds (``locomt.stats``; one seed: no std or interval)."""
    metric = study.user_attrs.get("metric", "val/acc")
    trials = study.get_trials(deepcopy=False)
    groups = configurations(trials)
    front = front_of_means(groups)
    rows = [TrialRecord.from_trial(t, metric, front) for t in trials]
    rungs = sorted({k for row in rows for k in row if k.startswith(f"{metric}@")}, key=rung_order)
    tests = sorted({k for row in rows for k in row if k.startswith("test/")})
    missing = sorted({k for row in rows for k in row if k.startswith(f"{metric}_")})  # objective worst_missing
    df = pd.DataFrame(rows, columns=TrialRecord.columns([metric, *missing, *rungs, *tests]))
    return with_seed_stats(df, groups, [metric, *missing, *tests])


def with_seed_stats(df: pd.DataFrame, groups: dict, metrics: list[str]) -> pd.DataFrame:
    """``df`` with the seed statistics of each trained configuration on the rows of its trials."""
    owner = {t.number: k for k, g in groups.items() for t in g}
    runs = df[df["number"].isin(owner)].assign(configuration=lambda d: d["number"].map(owner))
    stats = seed_summary(runs, "configuration", [m for m in metrics if m in df])
    df = df.assign(configuration=df["number"].map(owner).astype("Int64"))
    out = df.merge(stats, on="configuration", how="left")
    return out.drop(columns="configuration")


def pareto_frame(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[trials["is_pareto"]].sort_values(["gflops", "number"]).reset_index(drop=True)


def seed_values(trials: pd.DataFrame, number: int, col: str) -> list[float]:
    """The per-seed values of ``col`` of the configuration whose search trial is ``number``."""
    done = trials[(trials["state"] == "COMPLETE") & trials["duplicate_of"].isna()]
    part = done[(done["number"] == number) | (done["confirms"] == number)]
    return [float(v) for v in part[col] if pd.notna(v)]


def test_metric(metric: str) -> str:
    """The test split's name of a validation metric (``val/acc`` -> ``test/acc``)."""
    return "test/" + metric.split("/", 1)[1] if metric.startswith("val/") else f"test/{metric}"


def plot_pareto(trials: pd.DataFrame, metric: str, path: Path, title: str) -> Path:
    """Validation metric (optimised) and test metric (reported) against GFLOPs; front as a step line."""
    done = trials[(trials["state"] == "COMPLETE") & trials["confirms"].isna()]  # a configuration's own seed
    test = test_metric(metric)
    test = test if test in trials else None
    panels = [(metric, "validation")] + ([(test, "test")] if test else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.6), sharex=True, squeeze=False)
    front = pareto_frame(trials)
    styles = {"search": dict(c="0.55", marker="o", s=22), "preset": dict(c="tab:blue", marker="s", s=40),
              "baseline": dict(c="tab:red", marker="D", s=44)}
    worst = worst_name(metric) if worst_name(metric) in trials else None  # a third objective: a colour scale
    for ax, (col, which) in zip(axes[0], panels):
        # a configuration trained on several seeds (the baselines, after the confirmation) is drawn at
        # its mean, with its interval, as the front's points are
        y = done[f"{col}_mean"].fillna(done[col]) if f"{col}_mean" in done else done[col]
        for role, style in styles.items():
            part = done[done["role"] == role]
            if len(part):
                ax.scatter(part["gflops"], y[part.index], label=f"{role} ({len(part)})", zorder=3, **style)
                seeds = part[(part.get("n_seeds", 1) > 1) & ~part["number"].isin(front.get("number", []))]
                if len(seeds) and f"{col}_lo" in seeds:
                    ax.errorbar(seeds["gflops"], y[seeds.index], fmt="none", ecolor=style["c"], elinewidth=1, capsize=3,
                                yerr=[(y[seeds.index] - seeds[f"{col}_lo"]).clip(lower=0),
                                      (seeds[f"{col}_hi"] - y[seeds.index]).clip(lower=0)], zorder=3)
        if len(front):
            mean = front[f"{col}_mean"] if f"{col}_mean" in front else front[col]
            if worst:  # the front of three objectives is no staircase in this plane
                shade = ax.scatter(front["gflops"], mean, c=front[f"{worst}_mean"], cmap="viridis", s=90, zorder=4,
                                   edgecolors="black", label="Pareto front (3 objectives, seed means)")
                fig.colorbar(shade, ax=ax, label=f"{worst} (validation, seed mean)")
            else:
                ax.step(front["gflops"], mean, where="post", color="black", lw=1.2, zorder=2,
                        label="Pareto front (validation, seed means)")
                ax.scatter(front["gflops"], mean, facecolors="none", edgecolors="black", s=90, zorder=4)
            if f"{col}_lo" in front and front[f"{col}_lo"].notna().any():  # 95 % intervals over seeds
                yerr = [(mean - front[f"{col}_lo"]).fillna(0).clip(lower=0), (front[f"{col}_hi"] - mean).fillna(0).clip(lower=0)]
                ax.errorbar(front["gflops"], mean, yerr=yerr, fmt="none", ecolor="black", elinewidth=1, capsize=4,
                            zorder=5, label=f"95% interval over {int(front['n_seeds'].max())} seeds")
        named = done[done["role"] != "search"].assign(_y=y).sort_values("_y")
        for k, (_, r) in enumerate(named.iterrows()):  # alternate above/below so that close labels part
            ax.annotate(r["label"], (r["gflops"], r["_y"]), textcoords="offset points",
                        xytext=(5, -11 if k % 2 else 5), fontsize=7)
        ax.set_xlabel("GFLOPs per example (forward pass, analytic cost model)")
        ax.set_ylabel(f"{col} ({which})")
        ax.grid(alpha=0.3)
    if axes[0][0].get_legend_handles_labels()[0]:  # nothing finished yet (every configuration paused at a rung)
        axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def _md_table(df: pd.DataFrame) -> str:
    def fmt(v):
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return ""
        if isinstance(v, float):
            return str(int(v)) if v.is_integer() and abs(v) >= 1000 else f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def reference_point(study: optuna.Study, trials: pd.DataFrame) -> tuple[float, float] | None:
    """(chance level of the metric, joint's GFLOPs): recorded by the sweep when it created the study;
    joint's GFLOPs from its baseline trial otherwise. None when the chance level is unknown."""
    chance, ref = study.user_attrs.get("chance"), study.user_attrs.get("reference_gflops")
    if ref is None:
        joint = trials[(trials["backbone"] == reference_backbone()) & trials["gflops"].notna()]
        ref = float(joint["gflops"].iloc[0]) if len(joint) else None
    return (float(chance), float(ref)) if chance is not None and ref is not None else None


def front_quality(study: optuna.Study, trials: pd.DataFrame) -> dict:
    """Hypervolume (and its history) of the validation front, and the share of repeated proposals."""
    metric = study.user_attrs.get("metric", "val/acc")
    search = trials[(trials["role"] == "search") & trials["state"].isin(["COMPLETE", "PRUNED"])
                    & trials["promoted_from"].isna()]  # a promotion resumes a configuration: no proposal
    repeats = int(search["duplicate_of"].notna().sum())
    out = {"proposals": len(search), "repeated_proposals": repeats,
           "repeated_share": repeats / len(search) if len(search) else None}
    ref = reference_point(study, trials)
    if ref is not None:
        history = hypervolume_history(trials[trials["confirms"].isna()], metric, *ref)  # the search's trials
        out.update(hypervolume=float(history["hypervolume"].iloc[-1]) if len(history) else 0.0,
                   reference={"chance": ref[0], "gflops": ref[1]}, history=history)
        out.update(seed_hypervolumes(trials, metric, ref))
        if worst_name(metric) in trials:
            out.update(hypervolume_3d=hypervolume_of_means(trials, metric, ref))
    return out


def hypervolume_of_means(trials: pd.DataFrame, metric: str, ref: tuple[float, float]) -> float:
    """The 3-objective hypervolume (``locomt.search.front.hypervolume_3d``: the metric, GFLOPs and the
    worst metric with a modality missing, both metrics from chance) of the configurations' seed means."""
    configs = trials[trials["confirms"].isna() & (trials["state"] == "COMPLETE") & trials["duplicate_of"].isna()]
    worst = worst_name(metric)
    return hypervolume_3d([(float(np.mean(seed_values(trials, int(n), metric))), float(g),
                            float(np.mean(seed_values(trials, int(n), worst))))
                           for n, g in zip(configs["number"], configs["gflops"])], *ref)


def seed_hypervolumes(trials: pd.DataFrame, metric: str, ref: tuple[float, float]) -> dict:
    """The hypervolume of the front of seed means (validation) and of the test metric's means of the
    configurations that front picks, each with a 95 % bootstrap interval over seeds once a front
    configuration has more than one seed; empty when no configuration finished."""
    configs = trials[trials["n_seeds"].notna() & trials["confirms"].isna() & (trials["state"] == "COMPLETE")
                     & trials["duplicate_of"].isna()]
    if not len(configs):
        return {}
    test = test_metric(metric)
    out = {}
    for name, col, rows in (("hypervolume", metric, configs), ("test_hypervolume", test, configs[configs["is_pareto"]])):
        if col not in trials or not len(rows):
            continue
        values = [seed_values(trials, int(n), col) for n in rows["number"]]
        gs = rows["gflops"].astype(float).tolist()
        if any(not v for v in values):
            continue

        def hv(means: list[float], gs=gs) -> float:
            return hypervolume(zip(means, gs), *ref)

        out[name] = hv([float(np.mean(v)) for v in values])
        if any(len(v) > 1 for v in values):
            out[f"{name}_lo"], out[f"{name}_hi"] = bootstrap_interval(values, hv)
    out["n_seeds_max"] = int(configs["n_seeds"].max())
    return out


def neighbour_noise(trials: pd.DataFrame, metric: str) -> list[str]:
    """Markdown lines: whether each pair of neighbouring front points (by GFLOPs) differs in the mean
    validation metric by more than the seeds' noise (Welch's t-test at 5 %)."""
    front = pareto_frame(trials)
    lines = []
    for (_, a), (_, b) in zip(front.iloc[:-1].iterrows(), front.iloc[1:].iterrows()):
        va, vb = seed_values(trials, int(a["number"]), metric), seed_values(trials, int(b["number"]), metric)
        verdict, p = differ(va, vb)
        names = f"{a['label'] or a['pattern']} ({a['gflops']:.4g} GFLOPs) vs {b['label'] or b['pattern']} ({b['gflops']:.4g})"
        diff = float(np.mean(vb) - np.mean(va))
        if verdict is None:
            lines.append(f"- {names}: {metric} {diff:+.4f}; not judged (one seed: no noise estimate)")
        else:
            lines.append(f"- {names}: {metric} {diff:+.4f} over {len(va)} and {len(vb)} seeds, "
                         f"{'differs by more than its noise' if verdict else 'within the noise'} (Welch p = {p:.3g})")
    return lines


def plot_hypervolume(history: pd.DataFrame, path: Path, title: str) -> Path:
    """Normalised hypervolume of the validation front against the number of configurations trained."""
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    ax.step(history["n_trained"], history["hypervolume"], where="post", color="black")
    ax.scatter(history["n_trained"], history["hypervolume"], s=14, color="black")
    ax.set(xlabel="configurations trained", ylabel="hypervolume of the validation front (normalised)", title=title,
           ylim=(0, max(1e-3, float(history["hypervolume"].max()) * 1.1) if len(history) else 1))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def summary_markdown(study: optuna.Study, trials: pd.DataFrame, quality: dict | None = None) -> str:
    metric = study.user_attrs.get("metric", "val/acc")
    tests = [c for c in trials.columns if c.startswith("test/") and c != "test/loss"]
    counts = trials["state"].value_counts().to_dict()
    show = ["number", "role", "label", "backbone", "pattern", metric, *tests, "gflops", "params"]
    out = [f"# Sweep `{study.study_name}`", "",
           f"Dataset `{study.user_attrs.get('dataset', '?')}`; objectives: maximise `{metric}`, minimise GFLOPs per "
           "example (analytic cost model, forward pass)"
           + (f", maximise `{worst_name(metric)}` (the worst `{metric}` with one modality missing, validation split)"
              if worst_name(metric) in trials else "") + ". Test metrics are reported, never optimised.", "",
           "Trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) + ".", "",
           "Produced by:", "", "```bash", study.user_attrs.get("command", "python -m locomt.sweep"),
           "python -m locomt.report <this folder>   # regenerates these files from the study", "```", "",
           ]
    quality = quality if quality is not None else front_quality(study, trials)
    out += ["## Front quality", ""]
    if "hypervolume" in quality:
        ref = quality["reference"]
        out.append(f"Hypervolume of the validation front: **{quality['hypervolume']:.4f}** (normalised to [0, 1]; "
                   f"reference point: chance `{metric}` {ref['chance']:.4g}, the score of always guessing the "
                   f"majority class (multilabel: of a constant score), and joint fusion's {ref['gflops']:.4g} "
                   "GFLOPs; see `hypervolume.png` for its growth over the trials).")
    else:
        out.append("Hypervolume: not available (the study does not record the chance level; it predates it).")
    if "hypervolume_lo" in quality or "test_hypervolume" in quality:
        def ci(name):
            return (f" (95% bootstrap interval over seeds {quality[name + '_lo']:.4f}-{quality[name + '_hi']:.4f})"
                    if f"{name}_lo" in quality else "")
        out.append(f"\nOn the seed means (up to {quality.get('n_seeds_max', 1)} seeds a configuration): validation "
                   f"hypervolume **{quality['hypervolume']:.4f}**{ci('hypervolume')}"
                   + (f"; test hypervolume of the configurations the validation front picks **"
                      f"{quality['test_hypervolume']:.4f}**{ci('test_hypervolume')}" if "test_hypervolume" in quality
                      else "") + ".")
    if "hypervolume_3d" in quality:
        out.append(f"\nHypervolume of the three objectives (seed means; `{metric}` and `{worst_name(metric)}` from "
                   f"chance, GFLOPs from joint's; normalised): **{quality['hypervolume_3d']:.4f}**. The figures above "
                   "are of the two objectives (metric, GFLOPs), comparable with a two-objective sweep; the front marked "
                   "in the tables is that of all three.")
    if quality["proposals"]:
        out.append(f"\nSampler proposals: {quality['proposals']}, of which {quality['repeated_proposals']} repeated "
                   f"a configuration already trained ({quality['repeated_share']:.0%}; not trained again).")
    out += ["", "## Pareto front", ""]
    front = pareto_frame(trials)
    if len(front):
        out += ["On the means over seeds (`n_seeds`; the search trained each configuration on one, the confirmation "
                "adds seeds to the front's and the baselines'): mean and 95% t interval per metric; the search "
                "trial's own values are in trials.csv.", ""]
        table = front[["number", "role", "label", "backbone", "pattern", "n_seeds"]].copy()
        for m in [metric, worst_name(metric), *tests]:
            if f"{m}_mean" in front:
                table[m] = front[f"{m}_mean"]
                table[f"{m} 95% CI"] = [f"{lo:.4f}-{hi:.4f}" if pd.notna(lo) else "" for lo, hi in
                                        zip(front[f"{m}_lo"], front[f"{m}_hi"])]
        table[["gflops", "params"]] = front[["gflops", "params"]]
        out += [_md_table(table), "", "Neighbouring front points:", "", *neighbour_noise(trials, metric), ""]
    else:
        out += ["(no completed trial yet)", ""]
    done = trials[(trials["state"] == "COMPLETE") & trials["duplicate_of"].isna() & trials["confirms"].isna()]
    baselines = done[done["role"] == "baseline"]
    if len(done):
        joint = baselines[baselines["backbone"] == reference_backbone()]
        ref = joint.iloc[0] if len(joint) else done.loc[done["gflops"].idxmax()]
        out += ["## Best trial under a GFLOPs budget", "",
                f"Budgets are fractions of {ref['label'] or ref['backbone']}'s {ref['gflops']:.4g} GFLOPs; the best "
                f"is the highest `{metric}` (ties: fewer GFLOPs).", ""]
        rows = []
        for frac in BUDGET_FRACTIONS:
            budget = frac * ref["gflops"]
            fits = done[done["gflops"] <= budget + 1e-12]
            if len(fits):
                best = fits.sort_values([metric, "gflops"], ascending=[False, True]).iloc[0]
                rows.append({"budget": f"{frac:.0%} ({budget:.4g})", **{k: best[k] for k in show}})
            else:
                rows.append({"budget": f"{frac:.0%} ({budget:.4g})", "number": "none fits"})
        out += [_md_table(pd.DataFrame(rows).reindex(columns=["budget", *show])), ""]
    return "\n".join(out)


def write_report(study: optuna.Study, out: str | Path, plots: bool = True, robustness: Any = None) -> list[Path]:
    """Write trials.csv, pareto.csv, pareto.png, hypervolume.png, summary.md and sweep.json for
    ``study`` into ``out``; with ``plots`` False the tables only (the PNGs are left as they are). With
    ``robustness`` (a rich console), the front's and the baselines' runs that robustness.csv lacks are
    tested with modalities missing first (``locomt.search.missing``); the summary shows robustness.csv
    whenever the folder has the sweep's."""
    out = Path(out)
    trials = trials_frame(study)
    metric = study.user_attrs.get("metric", "val/acc")
    paths = [atomic_write_csv(trials, out / "trials.csv"), atomic_write_csv(pareto_frame(trials), out / "pareto.csv")]
    title = (f"{study.study_name}: {int((trials['state'] == 'COMPLETE').sum())} completed trials "
             f"({study.user_attrs.get('dataset', '')})")
    if plots:
        paths.append(plot_pareto(trials, metric, out / "pareto.png", title))
    quality = front_quality(study, trials)
    if plots and "history" in quality:
        paths.append(plot_hypervolume(quality["history"], out / "hypervolume.png", study.study_name))
    if robustness is not None:  # the front and the baselines tested with modalities missing (--robustness)
        paths += update_robustness(trials, out, study.study_name, robustness)
    paths.append(atomic_write_text(out / "summary.md", summary_markdown(study, trials, quality) + "\n"
                                   + "".join(line + "\n" for line in robustness_markdown(trials, out))))
    paths.append(update_pointer(out, study, quality))
    return paths


def robustness_markdown(trials: pd.DataFrame, out: Path) -> list[str]:
    """The summary's section on the folder's robustness.csv (``locomt.search.missing.summary_table``);
    none without one."""
    found = summary_table(trials, out)
    if found is None:
        return []
    metric, table, lacking = found
    lines = ["## Robustness to missing modalities", ""]
    if len(table):
        lines += [f"`{metric}` on the test split (reported, never optimised) of the front's configurations and the "
                  "baselines, complete and with each modality missing from every example, means over the seeds of "
                  "each (the configuration is the trial number in pareto.csv); the worst drop is from complete, one "
                  f"modality missing. Every run, pair and metric: `{ROBUSTNESS_CSV}`; the plot: `{ROBUSTNESS_PNG}`.",
                  "", _md_table(table), ""]
    if lacking:
        lines += [f"{lacking} run{'s' if lacking != 1 else ''} of the current front and baselines "
                  f"{'are' if lacking != 1 else 'is'} not in `{ROBUSTNESS_CSV}` (the front changed since it was "
                  "written): `python -m locomt.report <this folder> --robustness` tests them.", ""]
    return lines


def update_pointer(out: Path, study: optuna.Study, quality: dict) -> Path:
    """Add the front's numbers to ``sweep.json`` (written by the sweep; a new one names the study and
    leaves the storage null, the ``study.db`` beside it)."""
    path = out / POINTER_FILE
    try:
        info = json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        info = {}
    info = {"study": info.get("study", study.study_name), "storage": info.get("storage")}
    info.update({k: v for k, v in quality.items() if k != "history"})
    return atomic_write_text(path, json.dumps(info, indent=2) + "\n")
