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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402

import json  # noqa: E402

from locomt.io import atomic_path, atomic_write_csv, atomic_write_text  # noqa: E402
from locomt.models import reference_backbone  # noqa: E402
from locomt.search.front import hypervolume_history  # noqa: E402
from locomt.search.study import POINTER_FILE, TrialRecord, rung_order  # noqa: E402

BUDGET_FRACTIONS = (1.0, 0.75, 0.6, 0.5, 0.45)  # of joint fusion's GFLOPs: where view patterns differ in cost


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial of the study (``TrialRecord`` columns), with ``is_pareto`` marking the
    front of distinct configurations."""
    metric = study.user_attrs.get("metric", "val/acc")
    front = {t.number for t in study.best_trials if "duplicate_of" not in t.user_attrs}
    rows = [TrialRecord.from_trial(t, metric, front) for t in study.get_trials(deepcopy=False)]
    rungs = sorted({k for row in rows for k in row if k.startswith(f"{metric}@")}, key=rung_order)
    tests = sorted({k for row in rows for k in row if k.startswith("test/")})
    return pd.DataFrame(rows, columns=TrialRecord.columns([metric, *rungs, *tests]))


def pareto_frame(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[trials["is_pareto"]].sort_values(["gflops", "number"]).reset_index(drop=True)


def test_metric(metric: str) -> str:
    """The test split's name of a validation metric (``val/acc`` -> ``test/acc``)."""
    return "test/" + metric.split("/", 1)[1] if metric.startswith("val/") else f"test/{metric}"


def plot_pareto(trials: pd.DataFrame, metric: str, path: Path, title: str) -> Path:
    """Validation metric (optimised) and test metric (reported) against GFLOPs; front as a step line."""
    done = trials[trials["state"] == "COMPLETE"]
    test = test_metric(metric)
    test = test if test in trials else None
    panels = [(metric, "validation")] + ([(test, "test")] if test else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.6), sharex=True, squeeze=False)
    front = pareto_frame(trials)
    styles = {"search": dict(c="0.55", marker="o", s=22), "preset": dict(c="tab:blue", marker="s", s=40),
              "baseline": dict(c="tab:red", marker="D", s=44)}
    for ax, (col, which) in zip(axes[0], panels):
        for role, style in styles.items():
            part = done[done["role"] == role]
            if len(part):
                ax.scatter(part["gflops"], part[col], label=f"{role} ({len(part)})", zorder=3, **style)
        if len(front):
            ax.step(front["gflops"], front[col], where="post", color="black", lw=1.2, zorder=2,
                    label="Pareto front (validation)")
            ax.scatter(front["gflops"], front[col], facecolors="none", edgecolors="black", s=90, zorder=4)
        named = done[done["role"] != "search"].sort_values(col)
        for k, (_, r) in enumerate(named.iterrows()):  # alternate above/below so that close labels part
            ax.annotate(r["label"], (r["gflops"], r[col]), textcoords="offset points",
                        xytext=(5, -11 if k % 2 else 5), fontsize=7)
        ax.set_xlabel("GFLOPs per example (forward pass, analytic cost model)")
        ax.set_ylabel(f"{col} ({which})")
        ax.grid(alpha=0.3)
    if axes[0][0].get_legend_handles_labels()[0]:  # nothing finished yet (every configuration paused at a rung)
        axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)
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
        history = hypervolume_history(trials, metric, *ref)
        out.update(hypervolume=float(history["hypervolume"].iloc[-1]) if len(history) else 0.0,
                   reference={"chance": ref[0], "gflops": ref[1]}, history=history)
    return out


def plot_hypervolume(history: pd.DataFrame, path: Path, title: str) -> Path:
    """Normalised hypervolume of the validation front against the number of configurations trained."""
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    ax.step(history["n_trained"], history["hypervolume"], where="post", color="black")
    ax.scatter(history["n_trained"], history["hypervolume"], s=14, color="black")
    ax.set(xlabel="configurations trained", ylabel="hypervolume of the validation front (normalised)", title=title,
           ylim=(0, max(1e-3, float(history["hypervolume"].max()) * 1.1) if len(history) else 1))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)
    return path


def summary_markdown(study: optuna.Study, trials: pd.DataFrame, quality: dict | None = None) -> str:
    metric = study.user_attrs.get("metric", "val/acc")
    tests = [c for c in trials.columns if c.startswith("test/") and c != "test/loss"]
    counts = trials["state"].value_counts().to_dict()
    show = ["number", "role", "label", "backbone", "pattern", metric, *tests, "gflops", "params"]
    out = [f"# Sweep `{study.study_name}`", "",
           f"Dataset `{study.user_attrs.get('dataset', '?')}`; objectives: maximise `{metric}`, minimise GFLOPs per "
           "example (analytic cost model, forward pass). Test metrics are reported, never optimised.", "",
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
    if quality["proposals"]:
        out.append(f"\nSampler proposals: {quality['proposals']}, of which {quality['repeated_proposals']} repeated "
                   f"a configuration already trained ({quality['repeated_share']:.0%}; not trained again).")
    out += ["", "## Pareto front", ""]
    front = pareto_frame(trials)
    out += [_md_table(front[show]) if len(front) else "(no completed trial yet)", ""]
    done = trials[(trials["state"] == "COMPLETE") & trials["duplicate_of"].isna()]
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


def write_report(study: optuna.Study, out: str | Path, plots: bool = True) -> list[Path]:
    """Write trials.csv, pareto.csv, pareto.png, hypervolume.png, summary.md and sweep.json for
    ``study`` into ``out``; with ``plots`` False the tables only (the PNGs are left as they are)."""
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
    paths.append(atomic_write_text(out / "summary.md", summary_markdown(study, trials, quality) + "\n"))
    paths.append(update_pointer(out, study, quality))
    return paths


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
