"""``python -m locomt.report results/<dataset>``: the sweep's tables and plot, from the study storage.

    python -m locomt.report results/synthetic-medvidcl
    python -m locomt.report results/medvidcl --storage postgresql://user:pw@db-host/locomt --study medvidcl

The study (an Optuna storage) is the single source of truth; every file here is regenerated from
it, atomically (a crash never leaves a truncated file):

- ``trials.csv``: every trial (number, state, role, label, backbone, canonical pattern, validation
  and test metrics, params, GMACs, GFLOPs, measured forward latency, seconds, is_pareto, note);
- ``pareto.csv``: the Pareto front (validation metric up, GFLOPs down), sorted by GFLOPs;
- ``pareto.png``: every trial, the front as a step line, baselines and presets labelled;
- ``summary.md``: the front as a table, the best trial under several GFLOPs budgets, the command.

Without ``--storage``, the folder's ``sweep.json`` (written by the sweep) names the study and its
storage (``study.db`` in the folder for the default SQLite storage).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402

from locomt.io import atomic_path, atomic_write_csv, atomic_write_text, run_cli  # noqa: E402

# user attributes of a trial that become columns (the sweep sets them), in this order
ATTR_COLUMNS = ("role", "label", "backbone", "pattern")
TAIL_COLUMNS = ("params", "gmacs", "gflops", "latency_ms", "seconds", "is_pareto", "duplicate_of", "note", "key",
                "run")
BUDGET_FRACTIONS = (1.0, 0.95, 0.92, 0.9, 0.85)  # of joint fusion's GFLOPs (the costliest trial without joint)


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial of the study, with ``is_pareto`` marking the front of distinct configurations."""
    metric = study.user_attrs.get("metric", "val/acc")
    front = {t.number for t in study.best_trials if "duplicate_of" not in t.user_attrs}
    rows = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        row = {"number": t.number, "state": t.state.name}
        row.update({k: a.get(k, "") for k in ATTR_COLUMNS})
        row["role"] = row["role"] or "search"
        row[metric] = t.values[0] if t.values else a.get(metric)
        row.update({k: v for k, v in sorted(a.items()) if k.startswith("test/")})
        row.update({k: a.get(k) for k in TAIL_COLUMNS})
        row["gflops"] = t.values[1] if t.values else a.get("gflops")
        row["is_pareto"] = t.number in front
        rows.append(row)
    columns = ["number", "state", *ATTR_COLUMNS, metric]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=[*columns, *TAIL_COLUMNS])
    tests = sorted(c for c in df.columns if c.startswith("test/"))
    return df[[*columns, *tests, *TAIL_COLUMNS]]


def pareto_frame(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[trials["is_pareto"]].sort_values(["gflops", "number"]).reset_index(drop=True)


def plot_pareto(trials: pd.DataFrame, metric: str, path: Path, title: str) -> Path:
    """Validation metric (optimised) and test metric (reported) against GFLOPs; front as a step line."""
    done = trials[trials["state"] == "COMPLETE"]
    test = "test/acc" if "test/acc" in trials else "test/mAP" if "test/mAP" in trials else None
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


def summary_markdown(study: optuna.Study, trials: pd.DataFrame) -> str:
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
           "## Pareto front", ""]
    front = pareto_frame(trials)
    out += [_md_table(front[show]) if len(front) else "(no completed trial yet)", ""]
    done = trials[(trials["state"] == "COMPLETE") & trials["duplicate_of"].isna()]
    baselines = done[done["role"] == "baseline"]
    if len(done):
        joint = baselines[baselines["backbone"] == "joint"]
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


def write_report(study: optuna.Study, out: str | Path) -> list[Path]:
    """Write trials.csv, pareto.csv, pareto.png and summary.md for ``study`` into ``out``."""
    out = Path(out)
    trials = trials_frame(study)
    metric = study.user_attrs.get("metric", "val/acc")
    paths = [atomic_write_csv(trials, out / "trials.csv"), atomic_write_csv(pareto_frame(trials), out / "pareto.csv")]
    title = (f"{study.study_name}: {int((trials['state'] == 'COMPLETE').sum())} completed trials "
             f"({study.user_attrs.get('dataset', '')})")
    paths.append(plot_pareto(trials, metric, out / "pareto.png", title))
    paths.append(atomic_write_text(out / "summary.md", summary_markdown(study, trials) + "\n"))
    return paths


def load_study_from(folder: Path, storage: str | None, study: str | None) -> optuna.Study:
    """The study a results folder was written from (its ``sweep.json``), or the one given."""
    from locomt.sweep import POINTER_FILE, STUDY_FILE, SweepError, open_storage

    pointer = folder / POINTER_FILE
    info = {}
    if pointer.is_file():
        try:
            info = json.loads(pointer.read_text())
        except json.JSONDecodeError as err:
            raise SweepError(f"{pointer} is not valid JSON ({err.msg} at line {err.lineno}); give --storage "
                             "and --study") from None
    url = storage or info.get("storage") or (f"sqlite:///{folder / STUDY_FILE}" if (folder / STUDY_FILE).is_file()
                                             else None)
    if url is None:
        raise SweepError(f"{folder} has no {POINTER_FILE} or {STUDY_FILE}; expected a folder written by "
                         "python -m locomt.sweep, or give --storage URL")
    if "***" in url:
        raise SweepError(f"{pointer} names a storage with a hidden password ({url}); give it with --storage")
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise SweepError(f"study storage {url} does not exist; run the sweep first (make sweep)")
    name = study or info.get("study")
    storage_obj = open_storage(url, heartbeat=60)
    if name is None:
        names = optuna.get_all_study_names(storage_obj)
        if len(names) != 1:
            raise SweepError(f"{url} holds {len(names)} studies ({', '.join(names)}); give --study NAME")
        name = names[0]
    try:
        return optuna.load_study(study_name=name, storage=storage_obj)
    except KeyError:
        names = optuna.get_all_study_names(storage_obj)
        raise SweepError(f"no study {name!r} in {url}; studies there: {', '.join(names) or 'none'}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.report", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="results folder of a sweep, e.g. results/synthetic-medvidcl")
    p.add_argument("--storage", help="Optuna storage URL (default: from FOLDER/sweep.json)")
    p.add_argument("--study", help="study name (default: from FOLDER/sweep.json)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    folder = Path(args.folder)
    study = load_study_from(folder, args.storage, args.study)
    for path in write_report(study, folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
