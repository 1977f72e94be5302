"""The search benchmark scored against the best-known front (issue 22): the test hypervolume of the
configurations a validation front picks, the best-known front as the union of every study's
full-fidelity configurations, per-study scores after E epochs and at the end, and the rescoring of
committed studies from their trials.csv without a study.db. Hand-built fronts, no training."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from locomt.io import run_cli
from locomt.search.strategies import bench_files
from locomt.search.benchmark import (best_known_front, collect_folders, compute_curve,
                                     front_test_hypervolume, full_fidelity, replicate_front, replicate_shares,
                                     score_against_best, value_at, what_it_takes)
from locomt.search.front import hypervolume
from locomt.searchbench import main

CHANCE, REF = 0.5, 1.0
ROOT = Path(__file__).resolve().parents[1]


def _trials(rows):
    base = {"state": "COMPLETE", "duplicate_of": None, "epochs": 10, "test/acc": None, "backbone": "locomt",
            "fidelity": 10, "run": "runs/configs/none"}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["number"] = range(len(frame))
    frame["pattern"] = frame["key"]
    return frame


def test_test_hypervolume_scores_what_the_validation_front_picks():
    # (val, test, gflops): b is dominated on validation, so its high test metric must not count;
    # d costs more than the reference and e is at chance: both outside the box
    a, b, c = (0.9, 0.70, 0.6), (0.8, 0.95, 0.7), (0.7, 0.80, 0.2)
    d, e = (0.99, 0.99, 1.5), (0.5, 0.99, 0.1)
    got = front_test_hypervolume([a, b, c, d, e], CHANCE, REF)
    assert got == pytest.approx(hypervolume([(0.70, 0.6), (0.80, 0.2)], CHANCE, REF))
    # by hand: test 0.8 over [0.2, 1.0), no gain from a (0.70 < 0.80 at more GFLOPs): 0.3 * 0.8 / 0.5
    assert got == pytest.approx(0.48)
    assert front_test_hypervolume([a, b, c], CHANCE, REF) != pytest.approx(
        hypervolume([(t, g) for _, t, g in [a, b, c]], CHANCE, REF))  # b would have counted
    assert front_test_hypervolume([], CHANCE, REF) == 0.0
    assert np.isnan(front_test_hypervolume([(0.9, float("nan"), 0.5)], CHANCE, REF))


def test_best_known_front_is_the_union_of_full_fidelity_configurations():
    one = _trials([{"key": "k1", "val/acc": 0.9, "test/acc": 0.85, "gflops": 0.8},
                   {"key": "k2", "val/acc": 0.6, "test/acc": 0.7, "gflops": 0.5},
                   {"key": "k5", "val/acc": 0.99, "gflops": 0.1, "state": "PRUNED"}])  # stopped: not full fidelity
    two = _trials([{"key": "k3", "val/acc": 0.8, "test/acc": 0.75, "gflops": 0.3},
                   {"key": "k1", "val/acc": 0.9, "test/acc": 0.85, "gflops": 0.8},  # the same run again
                   {"key": "k4", "val/acc": 0.95, "gflops": 0.2, "duplicate_of": 0}])  # a repeat: not a new point
    front, best, best_test = best_known_front(pd.concat([one, two]), "val/acc", CHANCE, REF)
    assert list(front["key"]) == ["k3", "k1"]  # k2 dominated by k3
    assert best == pytest.approx(hypervolume([(0.8, 0.3), (0.9, 0.8)], CHANCE, REF))
    assert best == pytest.approx(((0.8 - 0.5) * 0.5 + (0.9 - 0.5) * 0.2) / 0.5)
    assert best_test == pytest.approx(hypervolume([(0.75, 0.3), (0.85, 0.8)], CHANCE, REF))
    # each study alone is below the union
    assert best > best_known_front(one, "val/acc", CHANCE, REF)[1]
    with pytest.raises(ValueError, match="no configuration trained to full fidelity"):
        best_known_front(one[one["state"] == "PRUNED"], "val/acc", CHANCE, REF)


def test_what_the_best_known_front_takes_counts_its_best_subsets_and_who_reaches_the_target_alone():
    trials = _trials([{"key": "k1", "val/acc": 0.9, "gflops": 0.8}, {"key": "k2", "val/acc": 0.6, "gflops": 0.5},
                      {"key": "k3", "val/acc": 0.8, "gflops": 0.3}, {"key": "k4", "val/acc": 0.79, "gflops": 0.3},
                      {"key": "k5", "val/acc": 0.99, "gflops": 0.1, "state": "PRUNED"}])
    best = ((0.8 - 0.5) * 0.5 + (0.9 - 0.5) * 0.2) / 0.5  # the front k3, k1 (k5 never finished)
    front, _, _ = best_known_front(trials, "val/acc", CHANCE, REF)
    shares, alone = what_it_takes(full_fidelity(trials), front, best, "val/acc", CHANCE, REF)
    # k3 alone: 0.3 * 0.7 / 0.5 of it; both: all of it (k_max 3, but the front has 2)
    assert shares == pytest.approx([0.3 * 0.7 / 0.5 / best, 1.0])
    assert alone == 1  # k3 (0.913); k4 falls just short (0.29 * 0.7 / 0.5 / best = 0.883)
    assert what_it_takes(full_fidelity(trials), front, best, "val/acc", CHANCE, REF, k_max=1)[0] == pytest.approx(
        shares[:1])


def _replicates(rows):
    return pd.DataFrame([{"pattern": r["key"], "backbone": "locomt", "gflops": None, "of_seed": 0, "run": "runs/x", **r}
                         for r in rows])


def test_replicates_say_how_much_of_the_front_its_configurations_keep_on_other_seeds():
    trials = _trials([{"key": "k1", "val/acc": 0.9, "gflops": 0.8}, {"key": "k3", "val/acc": 0.8, "gflops": 0.3},
                      {"key": "k2", "val/acc": 0.6, "gflops": 0.5}])
    front, best, _ = best_known_front(trials, "val/acc", CHANCE, REF)
    assert best == pytest.approx(0.46)  # (0.3 * 0.5 + 0.4 * 0.2) / 0.5, as above
    reps = _replicates([{"key": "k1", "seed": 1, "val/acc": 0.7}, {"key": "k3", "seed": 1, "val/acc": 0.75},
                        {"key": "k1", "seed": 2, "val/acc": 0.9},  # seed 2 has only k1 so far
                        {"key": "k2", "seed": 1, "val/acc": 0.99}])  # not on the front: ignored
    got = replicate_shares(front, reps, "val/acc", CHANCE, REF, best).set_index("seeds")
    assert list(got.index) == ["1", "2", "mean"] and list(got["configurations"]) == [2, 1, 2]
    # seed 1: k3 at 0.75 over [0.3, 1.0), k1 at 0.7 adds nothing: 0.25 * 0.7 / 0.5
    assert got.loc["1", "hypervolume"] == pytest.approx(0.35)
    assert got.loc["1", "share"] == pytest.approx(0.35 / 0.46)
    assert got.loc["2", "hypervolume"] == pytest.approx(0.4 * 0.2 / 0.5)  # k1 alone, at 0.9
    # means: k1 (0.9 + 0.7 + 0.9) / 3, k3 (0.8 + 0.75) / 2
    k1, k3 = 2.5 / 3, 0.775
    assert got.loc["mean", "hypervolume"] == pytest.approx(((k3 - 0.5) * 0.5 + (k1 - 0.5) * 0.2) / 0.5)
    assert replicate_shares(front, reps.iloc[:0], "val/acc", CHANCE, REF, best).empty


def test_replicating_a_front_of_another_task_or_on_the_studies_seed_is_refused():
    config = ROOT / "experiments" / "synthetic-medvidcl-bench.yaml"
    committed = pd.read_csv(ROOT / "results" / "searchbench" / "synthetic-medvidcl" / "best_front.csv").iloc[:1]
    wrong = committed.assign(key="0123456789ab")
    with pytest.raises(ValueError, match="has key '0123456789ab'.*expected the config the studies ran"):
        replicate_front(wrong, [1], config, [], "val/acc", progress=False)
    with pytest.raises(ValueError, match="--replicate-seeds 0: the studies train seed 0"):
        replicate_front(committed, [1, 0], config, [], "val/acc", progress=False)


def _curve(trials):
    return compute_curve(trials, "val/acc", CHANCE, REF)


def test_scores_after_e_epochs_and_at_the_end_and_nothing_past_a_study_end():
    fast = _trials([{"key": "a", "val/acc": 0.7, "test/acc": 0.7, "gflops": 0.5, "epochs": 4, "state": "PRUNED"},
                    {"key": "b", "val/acc": 0.8, "test/acc": 0.9, "gflops": 0.5},
                    {"key": "c", "val/acc": 0.9, "test/acc": 0.6, "gflops": 0.2}])  # 24 epochs in all
    slow = _trials([{"key": "d", "val/acc": 0.7, "test/acc": 0.65, "gflops": 0.5}] * 1
                   + [{"key": f"e{i}", "val/acc": 0.6, "test/acc": 0.6, "gflops": 0.9} for i in range(3)])  # 40
    curves = pd.concat([_curve(fast).assign(strategy="fast", seed=7), _curve(slow).assign(strategy="tpe", seed=7)])
    best = hypervolume([(0.9, 0.2)], CHANCE, REF)
    scores = score_against_best(curves, best, at_epochs=14).set_index("strategy")
    assert scores.loc["fast", "epochs"] == 24 and scores.loc["tpe", "epochs"] == 40
    assert scores.loc["fast", "share_at"] == pytest.approx(hypervolume([(0.8, 0.5)], CHANCE, REF) / best)
    assert scores.loc["fast", "share_at_end"] == pytest.approx(1.0)
    assert scores.loc["fast", "test_hypervolume_at_end"] == pytest.approx(hypervolume([(0.6, 0.2)], CHANCE, REF))
    assert scores.loc["fast", "reference_test_hypervolume"] == pytest.approx(hypervolume([(0.65, 0.5)], CHANCE, REF))
    late = score_against_best(curves, best, at_epochs=30).set_index("strategy")
    assert np.isnan(late.loc["fast", "share_at"]) and late.loc["tpe", "share_at"] > 0  # fast stopped at 24
    c = _curve(fast)
    assert value_at(c, 3, "hypervolume") == 0.0 and np.isnan(value_at(c, 25, "hypervolume"))


def _study(folder: Path, trials: pd.DataFrame, chance=CHANCE, ref=REF):
    folder.mkdir(parents=True)
    trials.to_csv(folder / "trials.csv", index=False)
    (folder / "sweep.json").write_text(json.dumps({"reference": {"chance": chance, "gflops": ref}}))


def test_rescoring_reads_studies_from_their_files(tmp_path):
    out = tmp_path / "task"
    _study(out / "tpe-seed3", _trials([{"key": "a", "val/acc": 0.8, "test/acc": 0.8, "gflops": 0.5},
                                        {"key": "b", "val/acc": 0.7, "test/acc": 0.7, "gflops": 0.3}]))
    _study(out / "asha-ehvi-rung-4-seed3", _trials([{"key": "c", "val/acc": 0.9, "test/acc": 0.85, "gflops": 0.4}]))
    curves, trials, metric, ref = collect_folders(out)
    assert metric == "val/acc" and ref == (CHANCE, REF)
    assert set(zip(curves.strategy, curves.seed)) == {("tpe", 3), ("asha-ehvi-rung-4", 3)}
    known = tmp_path / "more"
    _study(known / "x-seed0", _trials([{"key": "d", "val/acc": 0.99, "test/acc": 0.9, "gflops": 0.1}]))
    assert run_cli(main, ["--rescore", "--budget-epochs", "30", "--out", str(out), "--known", str(known)]) == 0
    front = pd.read_csv(out / "best_front.csv")
    assert list(front["key"]) == ["d"]  # the known study's configuration dominates every scored one
    scores = pd.read_csv(out / "scores.csv").set_index("strategy")
    assert scores.loc["asha-ehvi-rung-4", "share_at_end"] == pytest.approx(
        hypervolume([(0.9, 0.4)], CHANCE, REF) / hypervolume([(0.99, 0.1)], CHANCE, REF))
    assert "x" not in scores.index  # known studies make the front, they are not scored
    text = (out / "summary.md").read_text()
    assert f"{hypervolume([(0.99, 0.1)], CHANCE, REF):.4f}" in text
    assert "What it takes: the best single configuration reaches 1.000 of it; 1 of the 4 configurations reach 0.9" in text
    # the test-hypervolume column names how far tpe trained: "final" is 120 epochs in the issue, not any end
    assert f"tpe's at the end of its study ({scores.loc['tpe', 'epochs']} epochs, same seed)" in text
    assert (out / "hypervolume_vs_epochs.png").stat().st_size > 0
    assert "On other seeds" not in text
    # replicates.csv (written by --replicate-seeds) is read back by every rescoring
    _replicates([{"key": "d", "seed": 1, "val/acc": 0.9}, {"key": "d", "seed": 2, "val/acc": 0.93}]).to_csv(
        out / "replicates.csv", index=False)
    assert run_cli(main, ["--rescore", "--budget-epochs", "30", "--out", str(out), "--known", str(known)]) == 0
    d = hypervolume([(0.99, 0.1)], CHANCE, REF)
    shares = [hypervolume([(v, 0.1)], CHANCE, REF) / d for v in (0.9, 0.93, (0.99 + 0.9 + 0.93) / 3)]
    assert (f"On other seeds: all 1 configurations of this front, trained again on training seeds 1, 2 (the "
            f"studies train seed 0; `replicates.csv`), reach {shares[0]:.3f}, {shares[1]:.3f} of its hypervolume, "
            f"and their means over the 3 seeds {shares[2]:.3f} (on the same validation split") in (out / "summary.md").read_text()
    # a study of another task (another reference point) is refused, and so is a folder of another name
    _study(known / "y-seed1", _trials([{"key": "e", "val/acc": 0.9, "gflops": 0.1}]), ref=2.0)
    assert run_cli(main, ["--rescore", "--budget-epochs", "30", "--out", str(out), "--known", str(known)]) == 2
    _study(out / "not-a-study", _trials([{"key": "f", "val/acc": 0.9, "gflops": 0.1}]))
    with pytest.raises(ValueError, match="expected a study folder named <strategy>-seed<k>"):
        collect_folders(out)


def test_the_benchmark_task_is_frozen():
    config, space = bench_files("synthetic-medvidcl")
    assert Path(config).name == "synthetic-medvidcl-bench.yaml" and Path(space).name == "synthetic-medvidcl-bench.yaml"
    assert Path(bench_files("synthetic-audioset")[0]).name == "synthetic-audioset.yaml"
    # the frozen task trains what the committed studies trained: the same run keys as today's default
    from locomt.config import load_config
    from locomt.runs import config_key

    frozen = load_config(ROOT / "experiments" / "synthetic-medvidcl-bench.yaml", [])
    committed = pd.read_csv(ROOT / "results" / "searchbench" / "synthetic-medvidcl" / "tpe-seed0" / "trials.csv")
    row = committed[committed["state"] == "COMPLETE"].iloc[0]
    from locomt.config import with_model
    assert config_key(with_model(frozen, "locomt", row["pattern"])) == row["key"]
