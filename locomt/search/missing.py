"""A sweep and missing modalities: its front tested with modalities missing (``--robustness``), and
the optional third objective ``worst_missing``.

``python -m locomt.sweep ... --robustness`` (in the parent process, once its workers are done and the
front is confirmed over seeds) and ``python -m locomt.report FOLDER --robustness``: every finished run
of the configurations on the validation front (each seed the confirmation trained) and of the
baselines is tested on the test split complete and with each modality missing (and each pair, with
three), by :func:`locomt.robustness.evaluate_run` (what "missing" means there). Written next to
``pareto.csv``:

- ``robustness.csv``: :data:`locomt.robustness.COLUMNS` after ``configuration`` (the number of the
  search trial that trained the configuration, as in ``pareto.csv``) and ``role``; one row per run,
  missing set and test metric;
- ``robustness.png``: per missing set, each configuration's mean over its seeds (primary metric);
- ``summary.md`` gains a section (:func:`summary_table`): per configuration, the complete metric, the
  metric with each modality missing and the worst drop, on the means over seeds.

Resumable and idempotent: ``robustness.csv`` is rewritten after each run it evaluates; a rerun
evaluates only the runs the file lacks (or whose complete row no longer equals the run's own test
metric, i.e. a run trained again since), drops the rows of runs no longer on the front, and rewrites
the CSV, the plot and the summary. Test metrics are reported here, never optimised.

``objectives: [metric, gflops, worst_missing]`` in a space file (:mod:`locomt.search.space`): the
study has a third objective, maximised: at the end of each trial's training, its selected checkpoint
(the one its validation metric comes from) is evaluated on the VALIDATION split with each modality
missing in turn (:func:`worst_missing`, through the same ``evaluate_run``), and the lowest of these
metrics is the objective (``val/acc_worst_missing``; each one is kept as ``val/acc_without_<name>``).
The sweep never optimises a test metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from locomt.robustness import COLUMNS, missing_sets

if TYPE_CHECKING:
    import optuna
    import pandas as pd

CSV_FILE = "robustness.csv"
PLOT_FILE = "robustness.png"
SWEEP_COLUMNS = ("configuration", "role", *COLUMNS)


WORST = "worst_missing"  # the third objective's name in a space file


def worst_name(metric: str) -> str:
    """The trial attribute and column of the worst-missing objective: ``val/acc_worst_missing``."""
    return f"{metric}_{WORST}"


def worst_missing(run: Path, metric: str) -> dict[str, float]:
    """The validation ``metric`` of a finished run's selected checkpoint with each modality missing
    (``<metric>_without_<name>``) and the lowest of them (:func:`worst_name`)."""
    from locomt.robustness import evaluate_run, run_modalities

    _, modalities = run_modalities([run])
    if len(modalities) < 2:
        raise ValueError(f"objective {WORST}: run {run} has one modality ({modalities[0]}); expected two or more")
    rows = [r for r in evaluate_run(run, [(m,) for m in modalities], split="val") if r["metric"] == metric]
    values = {r["missing"]: r["value"] for r in rows if r["missing"]}
    return {**{f"{metric}_without_{m}": values[m] for m in modalities}, worst_name(metric): min(values.values())}


def check_own_table(out: str | Path) -> None:
    """ValueError when ``OUT/robustness.csv`` is not the sweep's (``python -m locomt.robust`` writes its
    table there by default, without the ``configuration`` column): ``--robustness`` would replace it."""
    path = Path(out) / CSV_FILE
    if path.is_file():
        with path.open() as f:
            header = f.readline().strip().split(",")
        if "configuration" not in header:
            raise ValueError(f"--robustness: {path} holds a table of python -m locomt.robust (no configuration "
                             "column), which the sweep's would replace; expected none or the sweep's: move it, or give "
                             "the sweep's results another folder")


def front_runs(trials: pd.DataFrame) -> pd.DataFrame:
    """``configuration``, ``role``, ``label``, ``gflops``, ``run``: every finished run (one per seed) of
    the configurations on the front and of the baselines (``trials``: ``locomt.search.report.trials_frame``),
    cheapest configuration first."""
    done = trials[(trials["state"] == "COMPLETE") & trials["duplicate_of"].isna() & trials["run"].notna()]
    own = done[done["confirms"].isna()]
    targets = own[own["is_pareto"].astype(bool) | (own["role"] == "baseline")]
    config = done["confirms"].fillna(done["number"]).astype(int)
    runs = done.assign(configuration=config)[config.isin(targets["number"])]
    info = targets.set_index("number")[["role", "label", "gflops"]]
    runs = runs[["configuration", "number", "run"]].join(info, on="configuration")
    runs = runs.sort_values(["gflops", "configuration", "number"])
    return runs[["configuration", "role", "label", "gflops", "run"]].reset_index(drop=True)


def named(df: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """``df`` (robustness rows with ``configuration``) with ``label`` the configuration's name in the
    sweep: its trial label (a baseline or preset) and its pattern, as pareto.csv shows them."""
    own = trials.set_index("number")
    names = {}
    for c in set(df["configuration"]):
        label, pattern = own.loc[c, "label"], own.loc[c, "pattern"]
        label, pattern = (v if isinstance(v, str) else "" for v in (label, pattern))
        names[c] = f"{label} ({pattern})" if label and pattern and label != pattern else label or pattern
    return df.assign(label=df["configuration"].map(names))


def read_rows(path: Path) -> pd.DataFrame:
    """A robustness CSV (this module's or ``locomt.robust``'s), empty strings kept as such."""
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False, dtype={"run": str, "missing": str, "pattern": str})


def _still_valid(rows: pd.DataFrame, run: Path, wanted: set[str]) -> bool:
    """Whether saved rows of ``run`` cover every missing set wanted and their complete rows equal the
    run's own test metrics (else it was trained again since, or evaluated otherwise)."""
    from locomt.runs.record import RunRecord

    if not wanted <= set(rows["missing"]):
        return False
    own = RunRecord.read(run).metrics
    complete = rows[rows["missing"] == ""]
    return len(complete) > 0 and all(m in own and abs(float(v) - own[m]) <= 1e-12
                                     for m, v in zip(complete["metric"], complete["value"]))


def update_robustness(trials: pd.DataFrame, out: str | Path, title: str, console: Any) -> list[Path]:
    """Test what ``OUT/robustness.csv`` lacks of the front's and the baselines' runs (``trials``:
    ``locomt.search.report.trials_frame``; see the module docstring), write it and ``robustness.png``,
    print the table. Returns their paths (``locomt.search.report.write_report`` writes the summary)."""
    import pandas as pd

    from locomt.io import atomic_write_csv
    from locomt.robustness import evaluate_runs, plot, run_modalities, table

    out = Path(out)
    check_own_table(out)
    targets = front_runs(trials)
    if not len(targets):
        raise ValueError(f"{title}: no finished run on the front or among the baselines: nothing to test with "
                         "modalities missing")
    runs = [Path(r) for r in dict.fromkeys(targets["run"])]
    for run in runs:
        if not run.is_dir():
            raise FileNotFoundError(f"run {run} of the front is not on this machine (its runs live where the "
                                    "trial trained it); run --robustness where the runs are")
    _, modalities = run_modalities(runs)
    sets = missing_sets(modalities)
    wanted = {"", *("+".join(s) for s in sets)}
    old = read_rows(out / CSV_FILE) if (out / CSV_FILE).is_file() else None
    kept: dict[str, pd.DataFrame] = {}
    if old is not None:
        for run in runs:
            rows = old[old["run"] == str(run)]
            if len(rows) and _still_valid(rows, run, wanted):
                kept[str(run)] = rows[rows["missing"].isin(wanted)][list(COLUMNS)]
    where = targets.drop_duplicates("run").set_index("run")

    def frame() -> pd.DataFrame:
        parts = [kept[str(r)].assign(configuration=int(where.loc[str(r), "configuration"]),
                                     role=where.loc[str(r), "role"]) for r in runs if str(r) in kept]
        return pd.concat(parts, ignore_index=True)[list(SWEEP_COLUMNS)]

    def save(run: Path, rows: list[dict]) -> None:
        kept[str(run)] = pd.DataFrame(rows, columns=list(COLUMNS))
        atomic_write_csv(frame(), out / CSV_FILE)

    todo = [r for r in runs if str(r) not in kept]
    console.print(f"robustness: {len(runs)} runs of the front and the baselines, {len(runs) - len(todo)} already in "
                  f"{out / CSV_FILE}, {len(todo)} to test", markup=False, highlight=False, soft_wrap=True)
    evaluate_runs(todo, sets, console, on_run=save)
    df = frame()
    atomic_write_csv(df, out / CSV_FILE)
    title = f"{title}: test metric with modalities missing"
    plot(means(named(df, trials)), out / PLOT_FILE, title + " (front and baselines, means over seeds)")
    console.print(table(df, title))
    return [out / CSV_FILE, out / PLOT_FILE]


def means(df: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, missing set and metric: the mean ``value`` and ``drop`` over its runs, the
    number of runs (``n_seeds``) and a ``series`` name for the plot."""
    g = df.groupby(["configuration", "missing", "metric"], sort=False)
    out = g.agg(value=("value", "mean"), drop=("drop", "mean"), n_seeds=("run", "nunique"), label=("label", "first"),
                role=("role", "first")).reset_index()
    out["series"] = [f"{label or role} (trial {c}; {n} seed{'s' if n != 1 else ''})"
                     for label, role, c, n in zip(out["label"], out["role"], out["configuration"], out["n_seeds"])]
    return out


def summary_table(trials: pd.DataFrame, out: Path) -> tuple[str, pd.DataFrame, int] | None:
    """What the summary shows of ``OUT/robustness.csv`` when the sweep wrote one (None otherwise): the
    primary test metric, a row per configuration of the front and the baselines that it has runs of
    (complete, with each modality missing and the worst drop, on the means over seeds), and how many
    runs of the current front and baselines it lacks (the front changed since it was written)."""
    import pandas as pd

    from locomt.robustness import primary_metric

    path = out / CSV_FILE
    if not path.is_file():
        return None
    df = read_rows(path)
    if "configuration" not in df.columns:  # a locomt.robust table written there
        return None
    targets = front_runs(trials)
    df = df[df["run"].isin(set(targets["run"]))]
    lacking = len(set(targets["run"]) - set(df["run"]))
    if not len(df):
        return "test/acc", pd.DataFrame(), lacking
    metric = primary_metric(df)
    m = means(named(df[df["metric"] == metric], trials))
    singles = [s for s in dict.fromkeys(m["missing"]) if s and "+" not in s]
    rows = []
    for c, g in m.groupby("configuration", sort=False):
        g = g.set_index("missing")
        drops = {s: float(g.loc[s, "drop"]) for s in singles}
        worst = max(drops, key=drops.get) if drops else None
        rows.append({"configuration": int(c), "role": g["role"].iloc[0], "label": g["label"].iloc[0],
                     "seeds": int(g["n_seeds"].iloc[0]), "complete": float(g.loc["", "value"]),
                     **{f"without {s}": float(g.loc[s, "value"]) for s in singles},
                     "worst drop": f"{drops[worst]:.4f} ({worst})" if worst else ""})
    return metric, pd.DataFrame(rows), lacking
