"""Search strategies: successive halving over epochs in the sweep, stopping- and promotion-based (a
stopped or paused configuration keeps its checkpoint and resumes to the result of an uninterrupted
run), the epoch budget, and the search benchmark's curves, comparison and ranking."""

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from locomt.config import load_config
from locomt.io import run_cli
from locomt.runs import config_key, epoch_values, train, value_at
from locomt.search.benchmark import compare, compute_curve, epochs_to_reach, hypervolume_at, space_changes
from locomt.search.fidelity import next_promotion, promoted, rungs
from locomt.search.front import hypervolume
from locomt.search.space import SweepSpace
from locomt.search.workers import trial_line
from locomt.sweep import main
from tests.procs import spawn_sweep

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "synthetic-medvidcl.yaml"
EPOCHS = 4  # rungs at 1 and 2 (eta 2), full fidelity at 4
SPACE = """\
space: counts
n_trials: {n}
baselines: []
presets: [half]
strategy: asha
min_epochs: 1
eta: 2
n_workers: 1
confirm_seeds: 0
{extra}
"""


# ------------------------------------------------------------------ no training
def test_space_checks_the_strategy():
    assert SweepSpace(strategy="asha", min_epochs=2, eta=3).strategy == "asha"
    for bad, needle in [({"strategy": "bohb"}, "strategy 'bohb' is unknown; expected one of full, asha"),
                        ({"eta": 1}, "eta >= 2"), ({"budget_epochs": 0}, "budget_epochs=0")]:
        with pytest.raises(ValueError, match=needle):
            SweepSpace(**bad)
    assert space_changes("asha", 3, 60, enqueue=False)["baselines"] == ()
    changes = space_changes("asha-promotion", 3, 60, enqueue=False)
    assert SweepSpace(**{k: v for k, v in changes.items() if k not in ("baselines", "presets")}).asha_type == "promotion"
    for name, sampler, strategy in [("ehvi", "ehvi", "full"), ("asha-ehvi", "ehvi", "asha")]:
        changes = space_changes(name, 3, 60, enqueue=False)
        assert (changes["sampler"], changes["strategy"]) == (sampler, strategy)
    with pytest.raises(ValueError, match="asha_type 'eager' is unknown; expected one of stopping, promotion"):
        SweepSpace(strategy="asha", asha_type="eager")
    with pytest.raises(ValueError, match="strategy 'sh' is unknown"):
        space_changes("sh", 0, 60, enqueue=False)


def _trials(rows):
    base = {"duplicate_of": None, "gflops": 0.5, "val/acc": None}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_curve_charges_epochs_and_counts_full_fidelity_only():
    trials = _trials([
        {"number": 0, "state": "COMPLETE", "val/acc": 0.9, "gflops": 0.8, "epochs": 6},
        {"number": 1, "state": "PRUNED", "epochs": 1},  # stopped at a rung: charged, not on the front
        {"number": 2, "state": "COMPLETE", "val/acc": 0.9, "gflops": 0.8, "epochs": 0, "duplicate_of": 0},
        {"number": 3, "state": "COMPLETE", "val/acc": 0.7, "gflops": 0.3, "epochs": 6},
        {"number": 4, "state": "FAIL", "epochs": 3},  # failed (retried elsewhere): not finished
        {"number": 5, "state": "PRUNED", "epochs": 2, "promoted_from": 1},  # 1 resumed: charged, no new configuration
    ])
    curve = compute_curve(trials, "val/acc", 0.5, 1.0)
    assert list(curve.cum_epochs) == [6, 7, 7, 13, 15] and list(curve.n_full) == [1, 1, 1, 2, 2]
    assert list(curve.n_configurations) == [1, 2, 2, 3, 3]
    assert curve.hypervolume.iloc[0] == pytest.approx(hypervolume([(0.9, 0.8)], 0.5, 1.0))
    assert curve.hypervolume.iloc[-1] == pytest.approx(hypervolume([(0.9, 0.8), (0.7, 0.3)], 0.5, 1.0))
    assert hypervolume_at(curve, 6.5) == curve.hypervolume.iloc[0] and hypervolume_at(curve, 5) == 0.0
    assert epochs_to_reach(curve, curve.hypervolume.iloc[-1]) == 13 and epochs_to_reach(curve, 0.99) == float("inf")


def test_compare_measures_against_the_reference_strategy_of_the_same_seed():
    curve = lambda pts: pd.DataFrame({"cum_epochs": [p[0] for p in pts], "hypervolume": [p[1] for p in pts],
                                      "n_full": range(1, len(pts) + 1)})
    curves = pd.concat([curve([(6, 0.1), (60, 0.4)]).assign(strategy="tpe", seed=0),
                        curve([(2, 0.2), (20, 0.45), (50, 0.5)]).assign(strategy="asha", seed=0)])
    c = compare(curves, "tpe", budget=60).set_index("strategy")
    assert c.loc["tpe", "reference_hypervolume"] == 0.4 and c.loc["tpe", "share_of_budget"] == 1.0
    assert c.loc["asha", "epochs_to_reference"] == 20 and c.loc["asha", "share_of_budget"] == pytest.approx(1 / 3)
    assert c.loc["asha", "hypervolume"] == 0.5


# ------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def sets(tiny_synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("strategies")
    return [*tiny_synthetic, f"trainer.max_epochs={EPOCHS}", f"trainer.out_dir={out / 'runs'}"], out


@pytest.mark.slow
def test_a_stopped_run_resumes_to_the_uninterrupted_result(sets, tmp_path):
    overrides, _ = sets
    cfg = load_config(CONFIG, [*overrides, "model.pattern=all-cross"])
    a, b = tmp_path / "a", tmp_path / "b"
    assert train(cfg, a, progress=False, stop_after=2) is None  # the lower fidelity: no test, no record
    assert sorted(epoch_values(a, "val/acc")) == [1, 2] and not (a / "metrics.json").exists()
    partial = epoch_values(a, "val/acc")
    record = train(cfg, a, resume=True, progress=False)
    straight = train(cfg, b, progress=False)
    assert record.metrics == straight.metrics and record.epochs == straight.epochs == EPOCHS
    assert {e: v for e, v in epoch_values(b, "val/acc").items() if e <= 2} == partial
    # value_at reads back what a run holds and trains only what it lacks
    root = tmp_path / "cache"
    v1, run = value_at(cfg, root, 1, "val/acc")
    assert run.name == config_key(cfg) and v1 == partial[1] and sorted(epoch_values(run, "val/acc")) == [1]
    assert value_at(cfg, root, 2, "val/acc")[0] == partial[2]


def _args(out, overrides, space_text, *extra):
    space = out / "space.yaml"
    space.write_text(space_text)
    args = ["--space", str(space), "--out", str(out / "out")]
    for s in overrides:
        args += ["--set", s]
    return [*args, *extra]


@pytest.fixture(scope="module")
def halved(sets):
    overrides, out = sets
    assert run_cli(main, _args(out, overrides, SPACE.format(n=6, extra=""))) == 0
    study = optuna.load_study(study_name="space", storage=f"sqlite:///{out / 'out' / 'study.db'}")
    return study, pd.read_csv(out / "out" / "trials.csv", keep_default_na=False, na_values=[""]), out


@pytest.mark.slow
def test_halving_records_rungs_and_stops_by_the_rule(halved):
    study, df, _ = halved
    assert rungs(1, 2, EPOCHS) == [1, 2, EPOCHS]
    distinct = df[df.duplicate_of.isna()]
    assert len(distinct) >= 6 and set(df.state) <= {"COMPLETE", "PRUNED"}
    seen: dict[int, list] = {1: [], 2: []}
    for _, r in distinct.sort_values("number").iterrows():
        run = Path(r["run"])
        values = epoch_values(run, "val/acc")
        for e in (1, 2):  # every rung it reached holds the run's own value after that many epochs
            if r["fidelity"] >= e:
                assert r[f"val/acc@{e}"] == pytest.approx(values[e])
        # replay the decisions in trial order (one worker): promoted or stopped as the rule says
        for e in (1, 2):
            if r["fidelity"] < e:
                break
            goes_on = promoted((r[f"val/acc@{e}"], r["gflops"]), seen[e], eta=2)
            seen[e].append((r[f"val/acc@{e}"], r["gflops"]))
            assert goes_on == (r["fidelity"] > e), (r["number"], e)
        if r["state"] == "PRUNED":  # stopped: its checkpoint is at its rung, ready to resume
            assert r["fidelity"] < EPOCHS and pd.isna(r["val/acc"]) and "stopped at" in r["note"]
            assert sorted(values) == list(range(1, int(r["fidelity"]) + 1))
            assert not (run / "metrics.json").exists() and (run / "checkpoints" / "last.ckpt").exists()
        else:  # full fidelity: the run's record is what the study holds
            saved = json.loads((run / "metrics.json").read_text())
            assert r["fidelity"] == EPOCHS and r["val/acc"] == pytest.approx(saved["metrics"]["val/acc"])
        assert r["epochs"] == r["fidelity"]  # charged what it trained
    assert (distinct.state == "PRUNED").any() and (distinct.state == "COMPLETE").any()
    front = pd.read_csv(halved[2] / "out" / "pareto.csv")
    assert set(front.state) == {"COMPLETE"}  # the front is confirmed at full fidelity


@pytest.mark.slow
def test_cost_aware_sampler_under_halving(sets, tmp_path):
    """``--sampler ehvi`` in a halving sweep: every proposal a pattern the study did not hold, its
    GFLOPs the cost model's, the rungs judged as with TPE, the front confirmed at full fidelity; a
    rerun of the finished study adds nothing."""
    overrides, _ = sets
    args = _args(tmp_path, _own_runs(overrides, tmp_path), SPACE.format(n=8, extra=""), "--sampler", "ehvi")
    assert run_cli(main, args) == 0
    df = pd.read_csv(tmp_path / "out" / "trials.csv", keep_default_na=False, na_values=[""])
    assert len(df) == 8 and df.duplicate_of.isna().all() and df.pattern.is_unique
    assert set(df.state) <= {"COMPLETE", "PRUNED"} and (df.state == "PRUNED").any()
    cfg = load_config(CONFIG, overrides)
    from locomt.search.ehvi import PatternSpace
    ps = PatternSpace(cfg, "counts", n_classes=5, vocab_size=None)  # (the sweep's class count and vocabulary
    gflops = ps.gflops(ps.rows(list(df.pattern)))                   # add the same to every pattern)
    assert np.allclose(gflops - gflops[0], df.gflops - df.gflops[0], rtol=0, atol=1e-15)
    assert set(pd.read_csv(tmp_path / "out" / "pareto.csv").state) == {"COMPLETE"}
    study = optuna.load_study(study_name="space", storage=f"sqlite:///{tmp_path / 'out' / 'study.db'}")
    assert run_cli(main, args) == 0 and len(study.trials) == 8


PROMOTION = "asha_type: promotion"


def _own_runs(overrides, folder):
    """The overrides with a run cache of the test's own: a configuration another test trained further
    would be read back, not trained as far as its rung."""
    return [*(s for s in overrides if not s.startswith("trainer.out_dir=")), f"trainer.out_dir={folder / 'runs'}"]


@pytest.fixture(scope="module")
def paused(sets):
    overrides, out = sets
    folder = out / "promotion"
    folder.mkdir()
    args = _args(folder, _own_runs(overrides, folder), SPACE.format(n=6, extra=PROMOTION))
    assert run_cli(main, args) == 0
    study = optuna.load_study(study_name="space", storage=f"sqlite:///{folder / 'out' / 'study.db'}")
    return study, pd.read_csv(folder / "out" / "trials.csv", keep_default_na=False, na_values=[""]), folder, args


def _check_chains(trials: pd.DataFrame, full: int) -> None:
    """Every configuration of a promotion-based study: a chain of trials, one rung each, every trial
    resuming the one before and charged only the epochs it added; its run trained once, exactly as
    far as its last trial got, and the rung values are the run's own."""
    steps = rungs(1, 2, full)
    for _, g in trials[trials.duplicate_of.isna()].sort_values("number").groupby("key"):
        assert pd.isna(g.promoted_from.iloc[0]) and list(g.promoted_from.iloc[1:]) == list(g.number.iloc[:-1])
        assert list(g.fidelity) == steps[:len(g)]
        assert list(g.epochs) == np.diff([0, *g.fidelity]).tolist()
        last, run = g.iloc[-1], Path(g.run.iloc[-1])
        values = epoch_values(run, "val/acc")
        assert sorted(values) == list(range(1, int(last.fidelity) + 1))
        for e in steps[:-1]:
            if e <= last.fidelity:
                assert last[f"val/acc@{e}"] == pytest.approx(values[e])
        if last.state == "COMPLETE":
            saved = json.loads((run / "metrics.json").read_text())
            assert last.fidelity == full and last["val/acc"] == pytest.approx(saved["metrics"]["val/acc"])
        else:
            assert last.note.startswith(f"paused at {int(last.fidelity)} of {full} epochs")
            assert not (run / "metrics.json").exists() and (run / "checkpoints" / "last.ckpt").exists()


@pytest.mark.slow
def test_promotion_pauses_every_configuration_and_resumes_the_best_by_the_rule(paused):
    study, df, folder, args = paused
    trials = study.get_trials(deepcopy=False)
    assert set(df.state) <= {"COMPLETE", "PRUNED"}
    # replay (one worker): before each trial the worker enqueued the promotion the rule named, if any
    for t in trials[1:]:  # trial 0: the preset, enqueued when the study was created
        expected = next_promotion([u for u in trials if u.number < t.number], "val/acc", rungs(1, 2, EPOCHS), 2)
        assert t.user_attrs.get("promoted_from") == (expected.number if expected else None), t.number
    _check_chains(df, EPOCHS)
    configs = df[df.duplicate_of.isna() & df.promoted_from.isna()]
    assert len(configs) == 6 and (df.state == "COMPLETE").any() and (df.fidelity == 2).any()
    assert set(pd.read_csv(folder / "out" / "pareto.csv").state) == {"COMPLETE"}
    promotion = next(t for t in trials if "promoted_from" in t.user_attrs)
    assert f"[resumes trial {promotion.user_attrs['promoted_from']}]" in trial_line(promotion, "val/acc")
    info = json.loads((folder / "out" / "sweep.json").read_text())
    assert info["proposals"] == ((df.role == "search") & df.promoted_from.isna()).sum()  # promotions are no proposals
    assert run_cli(main, args) == 0  # the study is done: the rerun adds nothing
    assert len(optuna.load_study(study_name="space", storage=f"sqlite:///{folder / 'out' / 'study.db'}").trials) == \
        len(trials)


@pytest.mark.slow
def test_killed_promotion_resumes_the_paused_run(sets, tmp_path):
    """SIGKILL while a promotion runs; the rerun fails the stale trial and retries it, which resumes
    the same paused configuration: every chain stays one rung per trial, each epoch trained once."""
    overrides, _ = sets
    full = 6  # rungs at 1, 2 and 4
    args = _args(tmp_path, [*_own_runs(overrides, tmp_path), f"trainer.max_epochs={full}"],
                 SPACE.format(n=4, extra=PROMOTION), "--heartbeat", "1")  # 3 promotions
    proc = spawn_sweep(args)
    db, deadline = tmp_path / "out" / "study.db", time.time() + 300
    def promotions(states):
        study = optuna.load_study(study_name="space", storage=f"sqlite:///{db}")
        return any("promoted_from" in t.user_attrs for t in study.get_trials(states=states))

    while True:  # once a promotion waits or runs, freeze the sweep (SIGSTOP) and look: killed while one runs
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[0][-2000:]
        frozen = False
        try:
            if promotions((TrialState.WAITING, TrialState.RUNNING)):
                proc.send_signal(signal.SIGSTOP)
                frozen = True
                if promotions((TrialState.RUNNING,)):
                    break
        except Exception:  # no study yet, or the sweep (frozen or not) holds the database's lock
            pass
        if frozen:
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    _, failed, retry = _kill_then_resume(proc, args, db)
    assert "promoted_from" in failed.user_attrs
    assert retry.user_attrs["promoted_from"] == failed.user_attrs["promoted_from"]
    df = pd.read_csv(tmp_path / "out" / "trials.csv", keep_default_na=False, na_values=[""])
    _check_chains(df[df.state != "FAIL"], full)


def _kill_then_resume(proc: subprocess.Popen, args: list[str], db: Path):
    """SIGKILL the sweep, wait until its trial is stale, run the same command again: (the study, its
    one failed trial, the retry of that trial, finished)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(4)  # > 3 heartbeats: the killed trial is stale
    assert run_cli(main, args) == 0
    study = optuna.load_study(study_name="space", storage=f"sqlite:///{db}")
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 1
    retry = [t for t in study.trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retry) == 1 and retry[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    return study, failed[0], retry[0]


@pytest.mark.slow
def test_epoch_budget_ends_the_study(sets, tmp_path):
    overrides, _ = sets
    args = _args(tmp_path, overrides, SPACE.format(n=50, extra="budget_epochs: 9"))
    assert run_cli(main, args) == 0
    df = pd.read_csv(tmp_path / "out" / "trials.csv")
    spent = df.epochs.fillna(0).cumsum()
    assert spent.iloc[-1] >= 9 and spent.iloc[-2] < 9  # stopped right after the budget was reached
    assert run_cli(main, args) == 0  # rerun: the budget is spent, nothing more trains
    assert len(pd.read_csv(tmp_path / "out" / "trials.csv")) == len(df)


@pytest.mark.slow
def test_killed_halving_sweep_resumes(sets, tmp_path):
    """SIGKILL mid-trial; the rerun fails the stale trial and retries it, which resumes the run from
    its last finished epoch: its rung values are the run's own, each configuration is trained once."""
    overrides, out = sets
    args = _args(tmp_path, [*overrides, "trainer.max_epochs=6"], SPACE.format(n=2, extra="").replace(
        "presets: [half]", "presets: [half, all-cross]"), "--heartbeat", "1")
    proc = spawn_sweep(args)
    runs = Path(next(s for s in overrides if s.startswith("trainer.out_dir=")).split("=", 1)[1]) / "configs"
    deadline = time.time() + 300
    before = set(runs.glob("*/checkpoints/last.ckpt"))
    while not set(runs.glob("*/checkpoints/last.ckpt")) - before:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[0][-2000:]
        time.sleep(0.3)
    study, _, retry = _kill_then_resume(proc, args, tmp_path / "out" / "study.db")
    keys = [t.user_attrs["key"] for t in study.trials if t.state != TrialState.FAIL and "duplicate_of" not in t.user_attrs]
    assert len(keys) == len(set(keys)) and len(keys) >= 2
    values = epoch_values(Path(retry.user_attrs["run"]), "val/acc")
    for name, v in retry.user_attrs.items():
        if name.startswith("val/acc@"):
            assert v == pytest.approx(values[int(name.split("@")[1])])


@pytest.mark.slow
def test_searchbench_end_to_end(sets, tmp_path, capsys):
    """Two strategies, one search seed, a tiny budget: every output, the curves against the studies'
    trials, and a rerun that resumes without training anything."""
    from locomt.searchbench import main as bench_main

    overrides, out = sets
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.format(n=6, extra=""))
    args = ["--space", str(space), "--strategies", "tpe", "asha", "--seeds", "0", "--budget-epochs", "10",
            "--rank-patterns", "3", "--out", str(tmp_path / "bench")]
    for s in overrides:
        args += ["--set", s]
    assert run_cli(bench_main, args) == 0
    bench = tmp_path / "bench"
    for name in ("curves.csv", "compare.csv", "ranking.csv", "kendall.csv", "hypervolume_vs_epochs.png", "summary.md",
                 "tpe-seed0/trials.csv", "asha-seed0/trials.csv"):
        assert (bench / name).is_file(), name
    curves = pd.read_csv(bench / "curves.csv")
    for strategy in ("tpe", "asha"):
        c = curves[curves.strategy == strategy]
        trials = pd.read_csv(bench / f"{strategy}-seed0" / "trials.csv")
        assert c.cum_epochs.is_monotonic_increasing and c.hypervolume.is_monotonic_increasing
        assert c.cum_epochs.iloc[-1] == trials.epochs.fillna(0).sum() >= 10  # the budget was spent
        assert c.cum_epochs.iloc[-2] < 10
        if strategy == "tpe":
            assert (trials[trials.duplicate_of.isna()].fidelity == EPOCHS).all()
    assert not (pd.read_csv(bench / "tpe-seed0" / "trials.csv").role != "search").any()  # nothing enqueued
    kendall = pd.read_csv(bench / "kendall.csv")
    assert list(kendall.estimate) == ["val/acc@1", "val/acc@2", "val/acc@3", "test/acc"]
    assert list(kendall.epochs.iloc[:3]) == [1, 2, 3] and (kendall.n_patterns == 3).all()
    ranking = pd.read_csv(bench / "ranking.csv")
    assert len(ranking) == 3 and ranking.on_front.any()
    # the ceiling row: test against validation accuracy of the same models, recomputed here
    from scipy.stats import kendalltau
    assert kendall.kendall_tau.iloc[-1] == pytest.approx(kendalltau(ranking["test/acc"], ranking["val/acc"])[0],
                                                         nan_ok=True)
    summary = (bench / "summary.md").read_text()
    assert "Kendall" in summary and "python -m locomt.searchbench" in summary
    before = (bench / "curves.csv").read_text()
    assert run_cli(bench_main, args) == 0  # resumes: both budgets are spent, nothing trains
    assert (bench / "curves.csv").read_text() == before
    # --replicate-seeds: every configuration of the best-known front trained again on seed 1, in the run cache
    from locomt.runs import RunRecord

    assert run_cli(bench_main, [*args, "--rescore", "--replicate-seeds", "1"]) == 0
    front, reps = pd.read_csv(bench / "best_front.csv"), pd.read_csv(bench / "replicates.csv")
    assert sorted(reps.key) == sorted(front.key) and set(reps.seed) == {1} and set(reps.of_seed) == {0}
    for _, r in reps.iterrows():
        record = RunRecord.read(r["run"])
        assert record.seed == 1 and record.pattern == r["pattern"] and Path(r["run"]).name != r["key"]
        assert record.metrics["val/acc"] == pytest.approx(r["val/acc"])
    assert "On other seeds: all" in (bench / "summary.md").read_text()
    stamps = {r: (Path(r) / "metrics.json").stat().st_mtime_ns for r in reps.run}
    assert run_cli(bench_main, [*args, "--rescore", "--replicate-seeds", "1"]) == 0  # read back, not trained again
    assert {r: (Path(r) / "metrics.json").stat().st_mtime_ns for r in reps.run} == stamps
    assert pd.read_csv(bench / "replicates.csv").equals(reps)


@pytest.mark.slow
def test_searchbench_runs_a_study_with_two_workers(sets, tmp_path):
    """``--n-workers 2``: each study runs as the default sweep does, two one-thread workers sharing it
    (their trials overlap in time), until its epoch budget is spent."""
    from locomt.searchbench import main as bench_main

    overrides, _ = sets
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.format(n=6, extra=""))
    args = ["--space", str(space), "--strategies", "random", "--seeds", "7", "--budget-epochs", "8",
            "--n-workers", "2", "--rank-patterns", "2", "--out", str(tmp_path / "bench")]
    for s in _own_runs(overrides, tmp_path):
        args += ["--set", s]
    assert run_cli(bench_main, args) == 0
    study = optuna.load_study(study_name="random-seed7",
                              storage=f"sqlite:///{tmp_path / 'bench' / 'random-seed7' / 'study.db'}")
    done = sorted((t for t in study.trials if t.state == TrialState.COMPLETE), key=lambda t: t.datetime_start)
    assert len(done) >= 2 and sum(t.user_attrs["epochs"] for t in done) >= 8
    assert any(b.datetime_start < a.datetime_complete for a, b in zip(done, done[1:]))  # two ran at once
