"""`python -m locomt.sweep` and `python -m locomt.report` on a tiny synthetic set: the study's
contents against the runs it trained, the Pareto front against a brute-force one, resume, dedupe,
budget, Ctrl-C, SIGKILL with heartbeats, local workers, two workers on one PostgreSQL study, and
one-line errors."""

import gc
import json
import os
import signal
import sqlite3
import subprocess
import time
import weakref
from pathlib import Path

import matplotlib.image
import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import FixedTrial, TrialState

from locomt.config import load_config
from locomt.cost import analytic_cost
from locomt.io import run_cli
from locomt.pattern import PRESETS, canonical, layer_specs, resolve_pattern
from locomt.report import main as report_main
from locomt.search.space import SweepSpace, load_space, pattern_params, suggest_pattern, trial_config
from locomt.sweep import main
from locomt.runs import config_key
from tests.procs import children, spawn_sweep, wait_gone

pytestmark = pytest.mark.slow  # every test here trains or runs the command

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "synthetic-medvidcl.yaml"
SPACE = """\
space: {kind}
n_trials: {n}
baselines: [joint, late]
presets: [half, all-cross]
n_workers: 1
confirm_seeds: 0
{extra}
"""  # one worker and no confirmation unless a test says otherwise (--n-workers, the confirmation's tests)


@pytest.fixture(scope="module")
def data_sets(tiny_synthetic):
    """The session's 60-clip synthetic set, prepared, as --set overrides for a tiny model."""
    sets = tiny_synthetic
    from locomt.data.datamodule import build_datamodule

    dm = build_datamodule(load_config(CONFIG, sets), progress=False)
    dm.prepare_data()
    return sets


def _args(tmp_path, data_sets, space_text, *extra, name="space"):
    space = tmp_path / f"{name}.yaml"
    space.write_text(space_text)
    args = ["--space", str(space), "--out", str(tmp_path / "out"), "--set", f"trainer.out_dir={tmp_path / 'runs'}"]
    for s in data_sets:
        args += ["--set", s]
    return [*args, *extra]


def _study(tmp_path, name="space"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'out' / 'study.db'}")


def _pareto(df, metric):
    """Brute force: not dominated (>= metric and <= GFLOPs, one strictly) by any other row."""
    keep = []
    for i, r in df.iterrows():
        dominated = ((df[metric] >= r[metric]) & (df["gflops"] <= r["gflops"])
                     & ((df[metric] > r[metric]) | (df["gflops"] < r["gflops"]))).any()
        keep.append(not dominated)
    return set(df[keep]["number"])


# ------------------------------------------------------------------ spaces (no training)
def test_layer_specs_are_every_composition():
    for codes, heads in (("va", 4), ("vat", 4), ("vat", 12), ("vatx", 3)):
        specs = layer_specs(codes, heads)
        k = 1 + len(codes) * (len(codes) - 1) // 2
        from math import comb

        assert len(specs) == len(set(specs)) == comb(heads + k - 1, k - 1)
        assert all(canonical(s, codes, heads, 1) == s for s in specs)


def test_counts_are_integers_one_point_per_layer_spec():
    """Every layer spec is exactly one point of integer head counts (s, va, vt; at takes the rest),
    within the ranges the sampler is given, and back."""
    cfg = load_config(CONFIG, ["model.n_layers=3", "model.fusion_layer=2"])  # one fusion layer, 4 heads, v a t
    specs = layer_specs("vat", 4)
    points = {tuple(sorted(pattern_params(s, "counts", cfg).items())) for s in specs}
    assert len(points) == len(specs) == 35
    for spec in specs:
        params = pattern_params(spec, "counts", cfg)
        assert set(params) == {"layer0.s", "layer0.va", "layer0.vt"} and all(isinstance(v, int) for v in params.values())
        assert params["layer0.s"] + params["layer0.va"] + params["layer0.vt"] <= 4
        assert suggest_pattern(FixedTrial(params), "counts", cfg) == spec


@pytest.mark.parametrize("kind", ["counts", "heads", "shared"])
def test_presets_map_to_space_parameters(kind):
    """The parameters that express a preset in a space, given back to the suggest code, give the preset."""
    cfg = load_config(CONFIG, ["model.n_layers=5", "model.fusion_layer=2"])  # 3 fusion layers, 4 heads, v a t
    for preset in [p for p in PRESETS if not p.startswith("random")] + ["random:3", "4s/2s+2va/1va+1vt+2at"]:
        params = pattern_params(preset, kind, cfg)
        want = str(resolve_pattern(preset, "vat", 4, 3))
        if params is None:  # a per-layer pattern cannot be one shared spec
            assert kind == "shared" and "/" in want
            continue
        assert suggest_pattern(FixedTrial(params), kind, cfg) == want


def test_trial_config_applies_params_and_fixed_backbones():
    base = load_config(CONFIG, ["model.n_layers=4"])  # fusion_layer 3 leaves one fusion layer
    space = SweepSpace(params={"optim.lr": {"low": 1e-4, "high": 1e-2, "log": True},
                               "model.fusion_layer": {"choices": [1, 3]}})
    counts = {"layer0.s": 1, "layer0.va": 0, "layer0.vt": 0}  # the last view, at, takes the heads left
    cfg = trial_config(FixedTrial({"optim.lr": 0.002, "model.fusion_layer": 3, **counts}), base, space)
    assert (cfg.optim.lr, cfg.model.fusion_layer, cfg.model.backbone, cfg.model.pattern) == (0.002, 3, "locomt",
                                                                                          "1s+3at")


@pytest.mark.parametrize("text, message", [
    ("space: grid\n", "space 'grid' is unknown; expected one of counts, heads, shared"),
    ("sampler: cmaes\n", "sampler 'cmaes' is unknown"),
    ("baselines: [mbt]\n", "baselines: 'mbt' is not a baseline"),
    ("params: {optim.lr: {low: 1}}\n", "params.optim.lr: expected {choices: [...]} or {low: .., high: .."),
    ("spaec: counts\n", "unknown config key 'spaec'"),
    ("presets: [halfs]\n", "unknown preset 'halfs'"),
    ("strategy: asha\nasha_type: eager\n", "asha_type 'eager' is unknown; expected one of stopping, promotion"),
    ("params: {model.colour: {choices: [1]}}\n", "unknown config key 'model.colour'"),
    ("sampler: ehvi\nparams: {optim.lr: {low: 0.001, high: 0.01}}\n",
     "sampler 'ehvi' proposes view patterns only, and params has optim.lr; expected no params"),
    ("confirm_seeds: -1\n", "confirm_seeds=-1; expected a whole number of seeds >= 0 (0 turns the confirmation off)"),
    ("confirm_seeds: three\n", "confirm_seeds"),
    ("confirm_seeds: 2.5\n", "confirm_seeds"),
    ("n_workers: 0\n", "n_workers=0; expected a whole number of worker processes >= 1"),
    ("objectives: [metric]\n", "objectives ['metric']; expected [metric, gflops] or [metric, gflops, worst_missing]"),
    ("objectives: [metric, gflops, worst_missing]\nsampler: ehvi\n",
     "objectives with worst_missing need strategy 'full' and sampler tpe, nsga2 or random"),
    ("objectives: [metric, gflops, worst_missing]\nstrategy: asha\n", "strategy 'asha'"),
])
def test_bad_space_is_one_line_and_writes_nothing(tmp_path, capsys, text, message):
    space = tmp_path / "bad.yaml"
    space.write_text(text)
    code = run_cli(main, ["--space", str(space), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_unknown_dataset_and_missing_data(tmp_path, capsys, monkeypatch):
    assert run_cli(main, ["--dataset", "kinetics", "--out", str(tmp_path / "k")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown dataset 'kinetics'" in err and "synthetic-medvidcl" in err and len(err.splitlines()) == 1
    monkeypatch.chdir(tmp_path)  # the real MedVidCL config; its data root is absent here
    assert run_cli(main, ["--dataset", "medvidcl"]) == 2
    err = capsys.readouterr().err.strip()
    assert "data/medvidcl" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("extra, message", [
    (["--n-trials", "0"], "--n-trials 0: expected 1 or more"),
    (["--n-trials", "-3"], "--n-trials -3: expected 1 or more"),
    (["--n-workers", "0"], "--n-workers 0: expected 1 or more"),
    (["--n-workers", "999"], f"--n-workers 999: this machine gives the sweep {len(os.sched_getaffinity(0))} CPU core"),
    (["--asha-type", "promotion"], "asha_type 'promotion' applies to the asha strategy, and this sweep's strategy is "
                                   "'full'; add --strategy asha"),
    (["--set", "trainer.devices=0"], "trainer.devices=0: expected a number of devices >= 1"),
    (["--set", "trainer.accelerator=gpu"], "trainer.accelerator='gpu': this machine has no CUDA GPU"),
    (["--set", "trainer.max_epochs=-1"], "trainer.max_epochs=-1: expected an integer >= 1"),
])
def test_bad_numbers_and_devices_stop_before_a_study_exists(tmp_path, data_sets, capsys, extra, message):
    if "trainer.accelerator=gpu" in extra and __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU")
    args = _args(tmp_path, data_sets, SPACE.format(kind="counts", n=2, extra=""), *extra)
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_a_param_value_the_config_refuses_stops_before_a_study_exists(tmp_path, data_sets, capsys):
    extra = "params: {model.fusion_layer: {choices: [1, 9]}}"
    assert run_cli(main, _args(tmp_path, data_sets, SPACE.format(kind="counts", n=2, extra=extra))) == 2
    err = capsys.readouterr().err.strip()
    assert "params.model.fusion_layer: the value 9 is refused: model.fusion_layer=9: expected an integer in " \
           "0..model.n_layers=2" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_unreachable_storage(tmp_path, data_sets, capsys):
    args = _args(tmp_path, data_sets, SPACE.format(kind="counts", n=1, extra=""),
                 "--storage", "postgresql://nobody@127.0.0.1:9/none")
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot open study storage 'postgresql://nobody@127.0.0.1:9/none'")
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


# ------------------------------------------------------------------ a sweep, end to end
@pytest.fixture(scope="module")
def swept(tmp_path_factory, data_sets):
    tmp = tmp_path_factory.mktemp("sweep")
    args = _args(tmp, data_sets, SPACE.format(kind="counts", n=6, extra=""))
    assert run_cli(main, args) == 0
    assert gc.get_freeze_count() == 0  # the in-process worker thawed what it froze (see the next test)
    return tmp, args


def test_a_worker_collects_after_every_trial_and_freezes_the_heap_after_its_first():
    """A worker collects garbage after each trial (a finished Lightning run leaves cycles that hold its
    model and loaders), and after its first trial it freezes what survived, so that later collections
    scan only what later trials made; garbage made by a trial is still collected after the freeze."""
    from locomt.search.workers import _one_trial

    class Cycle:  # garbage only the collector frees: an object that refers to itself
        def __init__(self):
            self.me = self

    alive, freezes = [], []

    def objective(trial):
        cycle = Cycle()
        alive.append(weakref.ref(cycle))
        return trial.suggest_float("x", 0, 1)

    study = optuna.create_study()
    try:
        _one_trial(study, objective, lambda s, t: freezes.append(gc.get_freeze_count()))
        frozen = gc.get_freeze_count()
        assert freezes == [0] and frozen > 0 and alive[0]() is None  # collected, then the heap frozen
        _one_trial(study, objective, lambda s, t: freezes.append(gc.get_freeze_count()))
        assert freezes == [0, frozen] and gc.get_freeze_count() == frozen  # frozen once
        assert alive[1]() is None  # a later trial's cycle is collected all the same
    finally:
        gc.unfreeze()


def test_worker_seeds_never_collide_across_workers_resumes_and_search_seeds():
    """The first worker of a new study draws from the search seed itself (a one-worker study is
    reproducible); every other (seed, worker, trials before) draws apart, neighbouring seeds included
    (``seed + 1000 * worker + n_before`` gave seed 100's second worker, joining after one trial, the
    draws of seed 101's second worker joining before any)."""
    from locomt.search.workers import worker_seed

    assert [worker_seed(s, 0, 0) for s in (0, 7, 105)] == [0, 7, 105]
    seeds = {(s, w, n): worker_seed(s, w, n) for s in range(0, 210) for w in range(4) for n in range(4)}
    assert len(set(seeds.values())) == len(seeds)  # 3360 streams, none shared
    assert worker_seed(100, 1, 1) != worker_seed(101, 1, 0)
    assert all(0 <= v < 2**32 for v in seeds.values())


def test_study_matches_the_runs_and_the_cost_model(swept, data_sets):
    tmp, _ = swept
    df = pd.read_csv(tmp / "out" / "trials.csv", keep_default_na=False, na_values=[""])
    assert (df["state"] == "COMPLETE").all() and df.duplicate_of.isna().sum() == 6  # repeats do not count
    assert sorted(df[df.role == "baseline"].label) == ["joint", "late"]
    assert sorted(df[df.role == "preset"].label) == ["all-cross", "half"]
    assert (df[df.duplicate_of.isna()].role == "search").sum() == 2
    trained = df[df.duplicate_of.isna()]  # a repeated proposal's row points at its trial and has no seeds of its own
    assert df.confirms.isna().all() and (trained.n_seeds == 1).all()  # confirm_seeds 0: the front of single seeds
    for _, row in df.iterrows():
        run = Path(row["run"])
        saved = json.loads((run / "metrics.json").read_text())
        cfg = load_config(run / "config.yaml")
        assert config_key(cfg) == row["key"] == run.name
        from locomt.config import model_config

        assert row["gflops"] == pytest.approx(analytic_cost(model_config(cfg, n_classes=3)).gflops, rel=1e-12)
        assert row["val/acc"] == pytest.approx(saved["metrics"]["val/acc"])
        assert row["test/acc"] == pytest.approx(saved["metrics"]["test/acc"])
        assert row["params"] == saved["params"] and row["latency_ms"] > 0
        assert (row["pattern"] if isinstance(row["pattern"], str) else "") == saved["pattern"]
    # the front: brute force over distinct configurations, and pareto.csv is it sorted by GFLOPs
    distinct = df[df.duplicate_of.isna()]  # TPE may propose a trained configuration again: not retrained
    assert all(df.key[df.duplicate_of.notna()].isin(distinct.key))
    assert set(df[df.is_pareto].number) == _pareto(distinct, "val/acc")
    front = pd.read_csv(tmp / "out" / "pareto.csv")
    assert list(front.number) == list(df[df.is_pareto].sort_values(["gflops", "number"]).number)
    assert front.gflops.is_monotonic_increasing and front["val/acc"].is_monotonic_increasing
    image = matplotlib.image.imread(tmp / "out" / "pareto.png")
    assert image.shape[0] > 300 and image.shape[1] > 600
    summary = (tmp / "out" / "summary.md").read_text()
    assert "python -m locomt.sweep --space" in summary and "## Pareto front" in summary
    # the front's hypervolume, recomputed here from trials.csv and the recorded reference point
    info = json.loads((tmp / "out" / "sweep.json").read_text())
    study = _study(tmp)
    chance, ref = study.user_attrs["chance"], study.user_attrs["reference_gflops"]
    assert info["reference"] == {"chance": chance, "gflops": ref}
    joint = df[df.label == "joint"].iloc[0]
    assert ref == pytest.approx(joint.gflops, rel=1e-12)
    from locomt.data.datamodule import build_datamodule

    y = np.asarray(build_datamodule(load_config(CONFIG, data_sets), progress=False).cache.open_array("val", "labels"))
    assert chance == pytest.approx(np.bincount(y).max() / len(y))  # the majority class of the validation split
    pts = sorted((g, m) for m, g in zip(distinct["val/acc"], distinct.gflops) if m > chance and g < ref)
    area = sum((max(m for _, m in pts[: i + 1]) - chance) * ((pts[i + 1][0] if i + 1 < len(pts) else ref) - g)
               for i, (g, _) in enumerate(pts))
    assert info["hypervolume"] == pytest.approx(area / ((1 - chance) * ref), rel=1e-9)
    assert f"{info['hypervolume']:.4f}" in summary
    search = df[df.role == "search"]
    assert info["proposals"] == len(search) and info["repeated_proposals"] == search.duplicate_of.notna().sum()
    assert matplotlib.image.imread(tmp / "out" / "hypervolume.png").ndim == 3
    assert f"| {front.number[0]} |" in summary


def test_report_after_a_trial_redraws_the_plots_at_most_every_interval(swept, tmp_path, monkeypatch):
    """Tables after every trial; the plots (a second or two to draw) when they are PLOT_EVERY_S old."""
    from types import SimpleNamespace

    from locomt.search import workers

    study = _study(swept[0])
    out = tmp_path / "report"
    callback = workers.ReportCallback(SimpleNamespace(metric="val/acc", out=out))
    callback(study, study.trials[0])  # the first trial draws them
    drawn = {name: (out / name).stat().st_mtime_ns for name in ("pareto.png", "hypervolume.png")}
    (out / "trials.csv").unlink()
    callback(study, study.trials[1])  # a moment later: tables only
    assert (out / "trials.csv").is_file() and (out / "pareto.csv").is_file()
    assert {name: (out / name).stat().st_mtime_ns for name in drawn} == drawn
    monkeypatch.setattr(workers, "PLOT_EVERY_S", 0.0)
    callback(study, study.trials[2])
    assert all((out / name).stat().st_mtime_ns != t for name, t in drawn.items())


def test_robustness_of_the_front_and_the_baselines(swept, capfd):
    """--robustness on the finished sweep: nothing trained, every run of the front and the baselines
    tested with each modality (and pair) missing, the complete rows equal to the runs' own test
    metrics; a rerun tests nothing again, and only a run whose rows are gone; locomt.report does the same."""
    tmp, args = swept
    out = tmp / "out"
    stamps = {p: p.stat().st_mtime_ns for p in (tmp / "runs" / "configs").glob("*/metrics.json")}
    n_trials = len(_study(tmp).trials)
    assert run_cli(main, [*args, "--robustness"]) == 0
    assert "0 already in" in capfd.readouterr().err
    assert len(_study(tmp).trials) == n_trials
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing trained
    trials = pd.read_csv(out / "trials.csv", keep_default_na=False, na_values=[""])
    own = trials[trials.duplicate_of.isna()]
    want = set(own[own.is_pareto | (own.role == "baseline")].number)
    df = pd.read_csv(out / "robustness.csv", keep_default_na=False)
    assert set(df.configuration) == want and {"joint", "late"} <= set(df.backbone)
    assert set(df.role) <= {"baseline", "preset", "search"}
    assert sorted(set(df.missing)) == sorted(["", "video", "audio", "text", "video+audio", "video+text", "audio+text"])
    for number, g in df[df.metric == "test/acc"].groupby("configuration"):
        row = own[own.number == number].iloc[0]
        assert g.run.nunique() == 1 and g.run.iloc[0] == row.run  # one seed each here (no confirmation)
        assert g[g.missing == ""].value.iloc[0] == row["test/acc"]  # the run's own test, to the bit
    assert (df["drop"] == df.complete - df.value).all()
    assert (out / "robustness.png").stat().st_size > 1000
    summary = (out / "summary.md").read_text()
    section = summary[summary.index("## Robustness to missing modalities"):]
    assert "| configuration | role | label | seeds | complete | without video | without audio | without text | " \
           "worst drop |" in section
    acc = df[df.metric == "test/acc"]
    for number in want:
        g = acc[acc.configuration == number].set_index("missing")
        worst = max(("video", "audio", "text"), key=lambda m: g.loc[m, "drop"])
        assert f"| {number} |" in section and f"{g.loc[worst, 'drop']:.4f} ({worst})" in section
    # a rerun tests nothing again; with one run's rows gone, it tests that run only, to the same numbers
    saved = (out / "robustness.csv").read_bytes()
    assert run_cli(main, [*args, "--robustness"]) == 0
    assert f"{len(want)} already in" in capfd.readouterr().err and (out / "robustness.csv").read_bytes() == saved
    df[df.configuration != min(want)].to_csv(out / "robustness.csv", index=False)
    assert run_cli(report_main, [str(out), "--robustness"]) == 0
    assert f"{len(want) - 1} already in {out / 'robustness.csv'}, 1 to test" in capfd.readouterr().out
    assert (out / "robustness.csv").read_bytes() == saved and (out / "summary.md").read_text() == summary
    # without --robustness, the report keeps the section (from robustness.csv)
    assert run_cli(report_main, [str(out)]) == 0 and (out / "summary.md").read_text() == summary


def test_worst_missing_is_a_third_objective(swept, data_sets, capsys):
    """objectives: [metric, gflops, worst_missing]: a 3-objective study whose third value is the worst
    VALIDATION metric with one modality missing, from the checkpoint the metric comes from; the front
    in three objectives, its hypervolume in 3-D, the report's columns and plot. A study of its own over
    the swept fixture's runs (the run cache: nothing is trained again; the 3-D front of seed means is
    tested in test_front.py)."""
    from locomt.robustness import evaluate_run
    from locomt.search.front import hypervolume_3d

    tmp, _ = swept
    space = SPACE.format(kind="counts", n=3, extra="objectives: [metric, gflops, worst_missing]").replace(
        "presets: [half, all-cross]", "presets: [half]")
    (tmp / "three.yaml").write_text(space)
    out = tmp / "out3"
    args = ["--space", str(tmp / "three.yaml"), "--out", str(out), "--set", f"trainer.out_dir={tmp / 'runs'}",
            *(a for s in data_sets for a in ("--set", s))]
    stamps = {p: p.stat().st_mtime_ns for p in (tmp / "runs" / "configs").glob("*/metrics.json")}
    assert run_cli(main, args) == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp / "runs" / "configs").glob("*/metrics.json")} == stamps
    study = optuna.load_study(study_name="three", storage=f"sqlite:///{out / 'study.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MAXIMIZE"]
    assert study.metric_names == ["val/acc", "gflops", "val/acc_worst_missing"]
    done = [t for t in study.trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs]
    for t in done:
        without = {m: t.user_attrs[f"val/acc_without_{m}"] for m in ("video", "audio", "text")}
        assert len(t.values) == 3 and t.values[2] == min(without.values()) == t.user_attrs["val/acc_worst_missing"]
    t = done[0]  # against the run's checkpoint evaluated here: complete = its validation objective, to the bit
    rows = {(r["missing"], r["metric"]): r["value"] for r in evaluate_run(Path(t.user_attrs["run"]), [("audio",)],
                                                                          split="val")}
    assert rows[("", "val/acc")] == t.values[0] and rows[("audio", "val/acc")] == t.user_attrs["val/acc_without_audio"]
    df = pd.read_csv(out / "trials.csv", keep_default_na=False, na_values=[""])
    assert {"val/acc_worst_missing", "val/acc_worst_missing_mean", "val/acc_without_text"} <= set(df.columns)
    own = df[(df.state == "COMPLETE") & df.duplicate_of.isna() & df.confirms.isna()]
    means = {int(r.number): (r["val/acc_mean"], r.gflops, r["val/acc_worst_missing_mean"]) for _, r in own.iterrows()}
    brute = {k for k, (m, g, w) in means.items() if not any(
        m2 >= m and g2 <= g and w2 >= w and (m2 > m or g2 < g or w2 > w) for k2, (m2, g2, w2) in means.items() if k2 != k)}
    assert set(own[own.is_pareto].number) == brute == set(pd.read_csv(out / "pareto.csv").number)
    info = json.loads((out / "sweep.json").read_text())
    chance, ref = study.user_attrs["chance"], study.user_attrs["reference_gflops"]
    assert info["hypervolume_3d"] == pytest.approx(hypervolume_3d(means.values(), chance, ref), rel=1e-12)
    summary = (out / "summary.md").read_text()
    assert "maximise `val/acc_worst_missing`" in summary and f"**{info['hypervolume_3d']:.4f}**" in summary
    assert "val/acc_worst_missing 95% CI" in summary
    assert matplotlib.image.imread(out / "pareto.png").shape[1] > 600
    # the same study asked for two objectives is refused, naming the directions
    (tmp / "three.yaml").write_text(space.replace("objectives: [metric, gflops, worst_missing]", ""))
    capsys.readouterr()
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err.strip()
    assert "study 'three' exists with directions ['MAXIMIZE', 'MINIMIZE', 'MAXIMIZE']; expected MAXIMIZE, MINIMIZE " \
           "(val/acc, gflops)" in err and len(err.splitlines()) == 1, err


def test_robustness_keeps_a_table_of_locomt_robust(tmp_path, data_sets, capsys):
    """python -m locomt.robust writes results/NAME/robustness.csv by default: --robustness refuses to
    replace it, in one line, before a study exists (the sweep and the report alike)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "robustness.csv").write_text("run,label,missing,metric,value\nruns/x,joint,,test/acc,0.5\n")
    saved = (out / "robustness.csv").read_bytes()
    assert run_cli(main, [*_args(tmp_path, data_sets, SPACE.format(kind="counts", n=1, extra="")), "--robustness"]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds a table of python -m locomt.robust" in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in out.iterdir()) == ["robustness.csv"] and not (tmp_path / "runs").exists()
    assert run_cli(report_main, [str(out), "--robustness"]) == 2
    assert "holds a table of python -m locomt.robust" in capsys.readouterr().err
    assert (out / "robustness.csv").read_bytes() == saved


def test_rerun_resumes_and_extends_without_retraining(swept, tmp_path):
    tmp, args = swept
    before = pd.read_csv(tmp / "out" / "trials.csv")
    stamps = {p: p.stat().st_mtime_ns for p in (tmp / "runs" / "configs").glob("*/metrics.json")}
    assert run_cli(main, args) == 0  # the study is done: nothing new
    assert len(_study(tmp).trials) == len(before) and pd.read_csv(tmp / "out" / "trials.csv").equals(before)
    assert run_cli(main, [*args, "--n-trials", "8"]) == 0
    study = _study(tmp)
    assert sum("duplicate_of" not in t.user_attrs for t in study.trials) == 8
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # finished runs were not touched
    # a configuration already trained is not trained again: same values, marked duplicate
    first, n_before = study.trials[0], len(study.trials)
    study.enqueue_trial(first.params, user_attrs={k: first.user_attrs[k] for k in ("backbone", "label", "role")})
    assert run_cli(main, [*args, "--n-trials", "8"]) == 0  # the enqueued trial runs although 8 are done
    assert len(_study(tmp).trials) == n_before + 1
    dup = _study(tmp).trials[-1]
    assert dup.user_attrs["duplicate_of"] == 0 and dup.values == first.values
    keys = {t.user_attrs["key"] for t in _study(tmp).trials}
    assert {p.parent.name for p in (tmp / "runs" / "configs").glob("*/metrics.json")} == keys  # one run each
    after = pd.read_csv(tmp / "out" / "trials.csv")
    assert not after[after.number == dup.number].is_pareto.any()
    # locomt.report regenerates the same files from the study alone
    saved = {n: (tmp / "out" / n).read_bytes() for n in ("trials.csv", "pareto.csv", "summary.md")}
    for n in saved:
        (tmp / "out" / n).unlink()
    assert run_cli(report_main, [str(tmp / "out")]) == 0
    assert {n: (tmp / "out" / n).read_bytes() for n in saved} == saved


def test_report_errors(tmp_path, capsys):
    assert run_cli(report_main, [str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no sweep.json or study.db" in err and len(err.splitlines()) == 1
    (tmp_path / "sweep.json").write_text("{broken")
    assert run_cli(report_main, [str(tmp_path)]) == 2
    assert "sweep.json is not valid JSON" in capsys.readouterr().err


def test_budget_rejects_before_training(tmp_path, data_sets):
    # just below joint fusion: joint is rejected untrained, the cheaper configurations train
    cfg = load_config(CONFIG, data_sets)
    from locomt.config import model_config

    joint = analytic_cost(model_config(cfg, n_classes=3).replace(backbone="joint")).gflops
    space = SPACE.format(kind="shared", n=3, extra=f"budget_gflops: {joint * 0.999}").replace(
        "presets: [half, all-cross]", "presets: [half]")
    assert run_cli(main, _args(tmp_path, data_sets, space)) == 0
    trials = {t.user_attrs["label"]: t for t in _study(tmp_path).trials}
    assert trials["joint"].state == TrialState.PRUNED and "rejected" in trials["joint"].user_attrs["note"]
    assert trials["late"].state == trials["half"].state == TrialState.COMPLETE
    runs = {p.name for p in (tmp_path / "runs" / "configs").iterdir()}
    assert trials["joint"].user_attrs["key"] not in runs and trials["half"].user_attrs["key"] in runs


# ------------------------------------------------------------------ interruptions and workers
def _freeze_in_a_trial(tmp_path, proc, timeout=120):
    """Freeze the sweep (SIGSTOP) in a trial whose run has just written its first checkpoint, and
    return that trial: the sweep is stopped within a poll (10 ms) of the checkpoint, before the
    study is read, so however fast the machine, the caller's signal (then SIGCONT) lands in that
    trial's next epoch and not after it has finished."""
    runs = tmp_path / "runs" / "configs"
    seen: set[Path] = set()
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        new = set(runs.glob("*/checkpoints/last.ckpt")) - seen if runs.is_dir() else set()
        if new:
            proc.send_signal(signal.SIGSTOP)
            seen |= new
            try:  # (a read that meets the frozen sweep's write lock fails: go on and try again)
                running = [t for t in _study(tmp_path).trials if t.state == TrialState.RUNNING and "key" in t.user_attrs]
            except Exception:
                running, seen = [], seen - new
            for t in running:
                if (runs / t.user_attrs["key"] / "checkpoints" / "last.ckpt") in new:
                    return t
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    out = proc.communicate(timeout=30)[0] if proc.poll() is not None else ""
    raise AssertionError(f"no running trial with a checkpoint; output: {out[-2000:]}")


def test_ctrl_c_then_rerun_retries_the_interrupted_trial(tmp_path, data_sets):
    args = _args(tmp_path, data_sets, SPACE.format(kind="counts", n=3, extra="").replace(
        "presets: [half, all-cross]", "presets: [half]"), "--set", "trainer.max_epochs=3")
    proc = spawn_sweep(args)
    victim = _freeze_in_a_trial(tmp_path, proc)  # after its epoch 0 of 3
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out
    assert "run the same command again to go on" in out
    study = _study(tmp_path)
    failed = study.trials[victim.number]
    assert failed.state == TrialState.FAIL and "interrupted" in failed.user_attrs["note"]
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert [t.user_attrs["retry_of"] for t in waiting if "retry_of" in t.user_attrs] == [victim.number]
    # the retry resumes the interrupted run from its checkpoint and the study completes
    ckpt = tmp_path / "runs" / "configs" / victim.user_attrs["key"] / "checkpoints" / "last.ckpt"
    assert ckpt.exists()  # its newest finished epoch
    assert run_cli(main, args) == 0
    study = _study(tmp_path)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(done) == 3 and {t.user_attrs["label"] for t in done if "label" in t.user_attrs} >= {"joint", "late"}
    assert any(t.user_attrs.get("retry_of") == victim.number for t in done)


def test_sigkill_stale_trial_is_failed_and_retried(tmp_path, data_sets):
    args = _args(tmp_path, data_sets, SPACE.format(kind="counts", n=2, extra="").replace(
        "presets: [half, all-cross]", "presets: []"), "--heartbeat", "1", "--set", "trainer.max_epochs=3")
    proc = spawn_sweep(args)
    victim = _freeze_in_a_trial(tmp_path, proc)
    proc.kill()  # (SIGKILL ends a stopped process too)
    proc.wait(timeout=30)
    assert _study(tmp_path).trials[victim.number].state == TrialState.RUNNING  # nobody has noticed yet
    time.sleep(4)  # > 3 heartbeats: stale
    assert run_cli(main, args) == 0
    study = _study(tmp_path)
    assert study.trials[victim.number].state == TrialState.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].user_attrs["label"] == victim.user_attrs["label"]
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert sorted(t.user_attrs["label"] for t in done) == ["joint", "late"]


def test_killed_sweep_leaves_no_worker_behind(tmp_path, data_sets):
    args = _args(tmp_path, data_sets, SPACE.format(kind="counts", n=4, extra=""), "--n-workers", "2",
                 "--set", "trainer.max_epochs=40")
    proc = spawn_sweep(args)
    deadline = time.time() + 120
    while len(children(proc.pid)) < 3:  # two workers and multiprocessing's resource tracker
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() is not None else ""
        time.sleep(0.2)
    time.sleep(5)  # the workers are importing or training
    workers = children(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    # a worker ends at its first line (die_with_parent), which a spawned process reaches only after
    # importing torch and Lightning: ~10 s of CPU alone, 20-30 s on 2 cores beside another test file
    assert not wait_gone(workers, 90), "sweep workers outlived the killed sweep"


@pytest.mark.parametrize("how", ["sigterm, sigint ignored", "sigint to the sweep alone", "ctrl-c: sigint to all"])
def test_a_signal_stops_the_workers_and_hands_their_trials_back(tmp_path, data_sets, how):
    """nohup (or a script's background job) starts a sweep with SIGINT ignored, and its workers
    inherit that: the sweep's SIGTERM, which it passes on to them as SIGINT, must still interrupt
    them, their trials handed back to the study (failed with a retry waiting), not killed while
    running and left RUNNING until their heartbeats go stale. A SIGINT sent to the sweep process
    alone (``kill -INT``, not Ctrl-C, which reaches the whole group) does the same, after a grace
    period in which workers that a Ctrl-C reached too end by themselves (it once left them training
    while the sweep waited on them). Ctrl-C in a terminal, a SIGINT to every process of
    the group, ends the same way."""
    # 400 epochs: a trial of the tiny model outlasts the signal and the 5 s grace by far (with 40, the
    # SIGINT-alone case failed once in 8 runs: a trial ending before its worker is told is the likely cause)
    args = _args(tmp_path, data_sets, SPACE.format(kind="counts", n=4, extra=""), "--n-workers", "2",
                 "--set", "trainer.max_epochs=400")
    sigterm = how.startswith("sigterm")
    proc = spawn_sweep(args, sigint=signal.SIG_IGN if sigterm else signal.SIG_DFL)

    def running() -> int:
        # read-only and without Optuna: opening the study while the sweep creates its schema would
        # race it (both would write the schema's version row)
        db = sqlite3.connect(f"file:{tmp_path / 'out' / 'study.db'}?mode=ro", uri=True)
        try:
            return db.execute("SELECT COUNT(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0]
        except sqlite3.OperationalError:  # no trials table yet
            return 0
        finally:
            db.close()

    deadline = time.time() + 240
    while not ((tmp_path / "out" / "study.db").exists() and running() == 2):
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() is not None else ""
        time.sleep(0.5)
    time.sleep(2)  # into their first epoch
    if how.startswith("ctrl-c"):  # what a terminal does: the sweep, its workers, the resource tracker
        for pid in [proc.pid, *children(proc.pid)]:
            os.kill(pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM if sigterm else signal.SIGINT)
    out = proc.communicate(timeout=150)[0]
    assert proc.returncode == 130, out  # run_cli: one line, exit 130, for either signal
    study = _study(tmp_path)
    assert not study.get_trials(states=(TrialState.RUNNING,)), out
    interrupted = study.get_trials(states=(TrialState.FAIL,))
    assert len(interrupted) == 2 and all("interrupted" in t.user_attrs["note"] for t in interrupted)
    retries = [t.user_attrs.get("retry_of") for t in study.get_trials(states=(TrialState.WAITING,))]
    assert sorted(r for r in retries if r is not None) == sorted(t.number for t in interrupted)


def _check_shared_study(study, n_trials):
    """No lost or duplicated trials: numbers 0..N-1, every one finished, each configuration trained
    once, each enqueued default held once."""
    trials = study.trials
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials), [t.state for t in trials]
    assert len(trials) >= n_trials
    trained = [t.user_attrs["key"] for t in trials if t.state == TrialState.COMPLETE
               and "duplicate_of" not in t.user_attrs]
    assert len(trained) == len(set(trained))
    labels = [t.user_attrs["label"] for t in trials if "label" in t.user_attrs and "retry_of" not in t.user_attrs
              and "promoted_from" not in t.user_attrs]  # a promotion carries its configuration's label
    assert sorted(labels) == sorted(set(labels))


ASHA = "strategy: asha\nmin_epochs: 1\neta: 2"  # with 3 epochs: judged after 1 and 2


def _check_full_fidelity_front(out: Path, epochs: int):
    """pareto.csv holds configurations trained to every epoch, never a low-fidelity estimate."""
    front = pd.read_csv(out / "pareto.csv")
    assert len(front) and (front["fidelity"] == epochs).all(), front[["number", "fidelity"]]


@pytest.mark.parametrize("strategy", ["full", "asha", "asha-promotion", "asha-ehvi"])
def test_local_workers_share_one_study(tmp_path, data_sets, strategy, capfd):
    extra = {"full": "", "asha": ASHA, "asha-promotion": ASHA + "\nasha_type: promotion",
             "asha-ehvi": ASHA + "\nsampler: ehvi"}[strategy]
    n = 9 if strategy == "asha-ehvi" else 6  # ehvi: 3 random proposals, then the model's (it needs 5 results)
    sets = [*data_sets, "trainer.max_epochs=3"] if strategy != "full" else data_sets
    args = _args(tmp_path, sets, SPACE.format(kind="heads", n=n, extra=extra), "--n-workers", "2")
    # (this exited 2 now and then, "Cannot tell a COMPLETE trial": both workers had popped one enqueued
    # trial, which SQLite let happen until search.study.serialize_sqlite; tests/test_study_storage.py)
    assert run_cli(main, args) == 0, capfd.readouterr().err[-3000:]
    _check_shared_study(_study(tmp_path), n)
    assert len(pd.read_csv(tmp_path / "out" / "trials.csv")) == len(_study(tmp_path).trials)
    if strategy == "asha-ehvi":  # the two workers' proposals: patterns the study did not hold
        searched = [t.user_attrs["pattern"] for t in _study(tmp_path).trials if "role" not in t.user_attrs]
        # (n - 4 or more: two workers may each start the last configuration, as _check_shared_study allows)
        assert len(searched) >= n - 4 and len(set(searched)) == len(searched)
    if strategy == "asha":
        _check_full_fidelity_front(tmp_path / "out", 3)
        assert any(t.state == TrialState.PRUNED and "stopped at" in t.user_attrs.get("note", "")
                   for t in _study(tmp_path).trials)  # some stopped at a rung
    if strategy == "asha-promotion":
        _check_full_fidelity_front(tmp_path / "out", 3)
        df = pd.read_csv(tmp_path / "out" / "trials.csv")
        df = df[df.duplicate_of.isna()]
        assert df.promoted_from.notna().any()
        # each configuration's epochs trained once between the two workers: charged as far as it got
        assert (df.groupby("key").epochs.sum() == df.groupby("key").fidelity.max()).all()


@pytest.fixture
def postgres_url(tmp_path):
    """LOCOMT_TEST_POSTGRES_URL (.ci/run starts a server), else a server started here from the
    Debian package's binaries when they are installed; the test skips, saying why, without one."""
    url = os.environ.get("LOCOMT_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("no PostgreSQL server: set LOCOMT_TEST_POSTGRES_URL or install Debian's postgresql (.ci/run does)")
    env = {**os.environ, "LOCOMT_PG_DIR": str(tmp_path / "pg"), "LOCOMT_PG_PORT": "55433"}
    if os.getuid() == 0:
        env["LOCOMT_PG_DIR"] = f"/tmp/locomt-pg-test-{os.getpid()}"  # owned by the postgres user
    out = subprocess.run([ROOT / ".ci" / "postgres.sh", "start"], env=env, capture_output=True, text=True)
    if out.returncode:
        pytest.fail(f".ci/postgres.sh start failed: {out.stderr[-1000:]}")
    try:
        yield out.stdout.strip().split("=", 1)[1]
    finally:
        subprocess.run([ROOT / ".ci" / "postgres.sh", "stop"], env=env, capture_output=True)


def test_two_processes_share_one_postgresql_study(tmp_path, data_sets, postgres_url):
    """Two sweep commands on one PostgreSQL study, with the default strategy's rungs (successive
    halving: the sharing of full training is the same minus the rungs, and is tested on SQLite with
    local workers; one strategy here, since each case trains for minutes on CI's 2 cores)."""
    name = f"pg-{os.getpid()}-{time.time_ns()}"
    space = SPACE.format(kind="counts", n=7, extra=ASHA)
    sets = [*data_sets, "trainer.max_epochs=3"]
    procs = []
    for w in range(2):  # two separate sweep commands, as on two machines, started together
        wdir = tmp_path / f"w{w}"
        wdir.mkdir()
        procs.append(spawn_sweep(_args(wdir, sets, space, "--storage", postgres_url, "--study", name),
                            OMP_NUM_THREADS="1"))  # two processes on a 2-core machine
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    study = optuna.load_study(study_name=name, storage=postgres_url)
    _check_shared_study(study, 7)
    assert any(t.state == TrialState.PRUNED and "stopped at" in t.user_attrs.get("note", "") for t in study.trials)
    assert {t.user_attrs["label"] for t in study.trials if t.user_attrs.get("role")} == {"joint", "late", "half",
                                                                                     "all-cross"}
    # both workers ran trials, and each wrote the report of the whole study
    ran = [sum(f"trial {t.number:3d}" in o for t in study.trials) for o in outs]
    assert all(ran) and sum(ran) == len(study.trials), ran
    for w in range(2):
        assert len(pd.read_csv(tmp_path / f"w{w}" / "out" / "trials.csv")) == len(study.trials)
        _check_full_fidelity_front(tmp_path / f"w{w}" / "out", 3)


def test_every_space_file_loads():
    """The space files in sweeps/ are valid (a newcomer runs them as the README and their comments say)."""
    files = sorted((Path(__file__).resolve().parents[1] / "sweeps").glob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        load_space(path)
    fast = load_space(files[0].parent / "synthetic-medvidcl-fast.yaml")
    assert (fast.strategy, fast.sampler, fast.min_epochs) == ("asha", "ehvi", 4)


# ------------------------------------------------------------------ workers: every core busy
def test_worker_plan_one_per_core_or_gpu(monkeypatch):
    """By default one worker per CPU core (its affinity), one torch thread each; a count above the
    cores, or above the visible GPUs with a GPU accelerator, is refused naming it."""
    import torch

    from locomt.search.study import SweepError
    from locomt.search.workers import worker_plan

    cores = len(os.sched_getaffinity(0))
    assert worker_plan(None, "cpu") == (cores, 1)
    assert worker_plan(1, "cpu") == (1, cores)
    with pytest.raises(SweepError, match=rf"--n-workers {cores + 1}: this machine gives the sweep {cores} CPU"):
        worker_plan(cores + 1, "cpu")
    for bad, accelerator in [(0, "cpu"), (-2, "cpu"), (0, "gpu")]:  # no division by zero, no GPU default for 0
        with pytest.raises(SweepError, match=rf"--n-workers {bad}: expected 1 or more"):
            worker_plan(bad, accelerator)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert worker_plan(None, "auto") == (3, 0) and worker_plan(None, "gpu") == (3, 0) and worker_plan(2, "cuda") == (2, 0)
    with pytest.raises(SweepError, match=r"--n-workers 4: a sweep on 'gpu' runs one worker per CUDA device and 3 are "
                                         r"visible; expected at most 3"):
        worker_plan(4, "gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(SweepError, match=r"--n-workers 1: a sweep on 'cuda' runs one worker per CUDA device and 0 are"):
        worker_plan(1, "cuda")
    assert worker_plan(None, "auto") == (cores, 1)  # no GPU: the CPU's cores


def test_default_spaces_run_the_measured_search():
    """Every shipped space searches with asha and ehvi proposals (2 random start-up proposals), one
    rung, confirms its front on 3 seeds and takes one worker per core; full-training TPE is one flag away."""
    sweeps = ROOT / "sweeps"
    for name in ("synthetic-medvidcl", "medvidcl", "audioset", "synthetic-audioset"):
        sp = load_space(sweeps / f"{name}.yaml")
        assert (sp.strategy, sp.sampler, sp.eta, sp.confirm_seeds, sp.n_workers, sp.startup_trials) == (
            "asha", "ehvi", 3, 3, None, 2), name
        assert sp.baselines and sp.presets, name  # still enqueued
    assert load_space(sweeps / "synthetic-medvidcl.yaml").min_epochs == 4  # the measured rung
    assert SweepSpace().confirm_seeds == 3 and SweepSpace().n_workers is None


# ------------------------------------------------------------------ the front confirmed over seeds
CONFIRM = SPACE.replace("confirm_seeds: 0\n", "confirm_seeds: {seeds}\n")


def _seed_stats(values):
    from scipy import stats

    v = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return v.mean(), v.std(ddof=1), v.mean() - half, v.mean() + half


def _check_confirmed(out: Path, seeds: int):
    """Every front configuration (on seed means) and every baseline has ``seeds`` seeds; the interval
    columns of trials.csv and pareto.csv are their t statistics; the front is that of the means."""
    df = pd.read_csv(out / "trials.csv", keep_default_na=False, na_values=[""])
    done = df[(df.state == "COMPLETE") & df.duplicate_of.isna()]
    own = done[done.confirms.isna()]
    confirm = done[done.confirms.notna()]
    assert (confirm.seed >= 1).all() and set(confirm.confirms.astype(int)) <= set(own.number)
    means = {}
    for _, r in own.iterrows():
        rows = done[(done.number == r.number) | (done.confirms == r.number)]
        assert len(set(rows.seed)) == len(rows) and len(set(rows.key)) == len(rows)  # one run per seed
        means[int(r.number)] = (rows["val/acc"].mean(), r.gflops)
        assert r.n_seeds == len(rows)
        if len(rows) > 1:
            for m in ("val/acc", "test/acc"):
                mean, std, lo, hi = _seed_stats(rows[m])
                assert (r[f"{m}_mean"], r[f"{m}_std"], r[f"{m}_lo"], r[f"{m}_hi"]) == pytest.approx((mean, std, lo, hi),
                                                                                                   rel=1e-9)
    brute = {k for k, (m, g) in means.items()
             if not any(m2 >= m and g2 <= g and (m2 > m or g2 < g) for k2, (m2, g2) in means.items() if k2 != k)}
    assert set(own[own.is_pareto].number) == brute
    assert set(df[df.is_pareto].number) == brute  # a confirmation row is never a front point of its own
    for number in brute | set(own[own.role == "baseline"].number):
        assert own[own.number == number].n_seeds.iloc[0] == seeds, number
    front = pd.read_csv(out / "pareto.csv")
    assert set(front.number) == brute and front.gflops.is_monotonic_increasing
    assert front["val/acc_mean"].is_monotonic_increasing
    for _, r in front.iterrows():
        rows = done[(done.number == r.number) | (done.confirms == r.number)]
        assert r["val/acc_lo"] == pytest.approx(_seed_stats(rows["val/acc"])[2], rel=1e-9)
    return df


def test_killed_during_confirmation_then_rerun_loses_and_retrains_nothing(tmp_path, data_sets):
    args = _args(tmp_path, data_sets, CONFIRM.format(kind="counts", n=3, extra="", seeds=3),
                 "--heartbeat", "1", "--set", "trainer.max_epochs=2")
    proc = spawn_sweep(args)
    lines = []
    for line in proc.stdout:  # wait for the first finished confirmation trial
        lines.append(line)
        if "[confirms trial" in line:
            break
    else:
        raise AssertionError("".join(lines[-30:]))
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "configs").glob("*/metrics.json")}
    proc.kill()
    proc.wait(timeout=30)
    before = _study(tmp_path)
    finished = {t.user_attrs["key"] for t in before.trials if t.state == TrialState.COMPLETE}
    assert any("confirms" in t.user_attrs for t in before.trials if t.state == TrialState.COMPLETE)
    assert any("confirms" in t.user_attrs for t in before.trials if t.state in (TrialState.WAITING,
                                                                                TrialState.RUNNING))
    time.sleep(4)  # > 3 heartbeats: a trial the kill left running is stale
    assert run_cli(main, args) == 0
    after = _study(tmp_path)
    # nothing finished was trained again: same metrics files, the same trials complete
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert finished <= {t.user_attrs["key"] for t in after.trials if t.state == TrialState.COMPLETE}
    trained = [t.user_attrs["key"] for t in after.trials if t.state == TrialState.COMPLETE
               and "duplicate_of" not in t.user_attrs]
    assert len(trained) == len(set(trained))  # each configuration and seed trained once
    assert not [t for t in after.trials if t.state in (TrialState.WAITING, TrialState.RUNNING)]
    # what the confirmed sweep reports (one test with the kill: each confirmation test trains for minutes)
    df = _check_confirmed(tmp_path / "out", 3)
    assert df.confirms.notna().sum() >= 2 * 3  # two baselines and a front point at least, two more seeds each
    summary = (tmp_path / "out" / "summary.md").read_text()
    info = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert info["hypervolume_lo"] <= info["hypervolume"] <= info["hypervolume_hi"]
    assert f"{info['hypervolume_lo']:.4f}-{info['hypervolume_hi']:.4f}" in summary
    assert "Neighbouring front points" in summary and "val/acc 95% CI" in summary
    assert matplotlib.image.imread(tmp_path / "out" / "pareto.png").shape[1] > 600
    # a second rerun: done, nothing trained or added
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "configs").glob("*/metrics.json")}
    assert run_cli(main, args) == 0
    assert len(_study(tmp_path).trials) == len(after.trials)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "configs").glob("*/metrics.json")} == stamps
