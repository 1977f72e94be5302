"""`python -m locomt.ablate` on a 60-clip synthetic MedVidCL-layout set: the summary CSV against the
per-seed runs it read, reuse of finished runs, a CSV that survives an interrupt, the preset listing
against the cost model, and bad input that trains nothing."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from locomt.ablate import main
from locomt.ablation import listing
from locomt.config import load_config, model_config, with_model
from locomt.cost import analytic_cost, count_params
from locomt.io import run_cli
from locomt.runs import config_key

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "synthetic-medvidcl.yaml"
PATTERNS = ["half", "2s+1va+1vt", "all-cross"]  # the second is half spelled out: trained once
SEEDS = 2
# train.py silences this Lightning warning at import; pytest resets warning filters for each test
pytestmark = [pytest.mark.slow,  # every test here trains or runs the command
              pytest.mark.filterwarnings("ignore:Experiment logs directory .* exists and is not empty")]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """This module's runs and outputs (the data is the session's tiny synthetic set)."""
    return tmp_path_factory.mktemp("ablate")


@pytest.fixture(scope="module")
def overrides(base, tiny_synthetic):
    return [*tiny_synthetic, f"trainer.out_dir={base / 'runs'}"]


def sets(overrides):
    return [a for o in overrides for a in ("--set", o)]


def ablate(out, overrides, *args):
    return run_cli(main, ["--out", str(out), *sets(overrides), *args])


def run_dirs(overrides):
    return sorted((Path(overrides[-1].split("=", 1)[1]) / "configs").glob("*/metrics.json"))


@pytest.fixture(scope="module")
def ablation(base, overrides):
    """One ablation of three patterns (two of them the same) over two seeds: its output folder and
    the number of runs there were just after it."""
    out = base / "out"
    assert ablate(out, overrides, "--patterns", *PATTERNS, "--seeds", str(SEEDS)) == 0
    return out, len(run_dirs(overrides))


def run_metrics(overrides, backbone, pattern, seed):
    """metrics.json of one run, found by its config key (as train_cached stores it)."""
    cfg = dataclasses.replace(with_model(load_config(CONFIG, overrides), backbone, pattern), seed=seed)
    path = Path(cfg.trainer.out_dir) / "configs" / config_key(cfg) / "metrics.json"
    return json.loads(path.read_text()), path


def read_csv(path):
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def check_summary(df, overrides, seeds):
    """Every row of an ablation.csv against the metrics.json of its runs and the cost model."""
    assert list(df.label) == list(df.sort_values("gflops", kind="stable").label)
    assert (df.n_seeds == seeds).all()
    for r in df.itertuples():
        backbone, pattern = (r.backbone, r.label) if r.backbone == "locomt" else (r.label, None)
        assert r.backbone == backbone
        per_seed = [run_metrics(overrides, backbone, pattern, s)[0] for s in range(seeds)]
        assert [m["seed"] for m in per_seed] == list(range(seeds))
        row = df.set_index("label").loc[r.label]
        for name in ("val/acc", "test/acc", "test/f1", "test/loss"):
            values = [m["metrics"][name] for m in per_seed]
            assert row[f"{name}_mean"] == pytest.approx(np.mean(values), abs=1e-12), name
            std = np.std(values, ddof=1) if seeds > 1 else np.nan
            assert row[f"{name}_std"] == pytest.approx(std, abs=1e-12, nan_ok=True), name
        mcfg = model_config(with_model(load_config(CONFIG, overrides), backbone, pattern), n_classes=3)
        assert r.gflops == pytest.approx(analytic_cost(mcfg).gflops, rel=1e-12)
        assert r.gmacs == pytest.approx(analytic_cost(mcfg).gmacs, rel=1e-12)
        assert r.params == per_seed[0]["params"]
        assert (r.pattern if backbone == "locomt" else "") == mcfg.pattern_spec


def test_summary_equals_the_runs(ablation, overrides):
    out, n_runs = ablation
    df = read_csv(out / "ablation.csv")
    assert sorted(df.label) == ["all-cross", "half"]
    assert n_runs == 2 * SEEDS  # the second spelling of half trained nothing
    check_summary(df, overrides, SEEDS)
    assert df.set_index("label").pattern["half"] == "2s+1va+1vt"


def test_baselines(ablation, overrides, base):
    assert ablate(base / "baselines", overrides, "--patterns", "half", "--seeds", "1", "--baselines") == 0
    df = read_csv(base / "baselines" / "ablation.csv")
    assert sorted(df.label) == ["bottleneck", "early", "half", "joint", "late"]
    assert df.pattern[df.label != "half"].isna().all()  # empty in the CSV
    check_summary(df, overrides, 1)


def test_png_is_written(ablation):
    import matplotlib.image

    img = matplotlib.image.imread(ablation[0] / "ablation.png")
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300


def test_second_invocation_reads_runs_back(ablation, overrides, capsys):
    out, _ = ablation
    runs = run_dirs(overrides)
    mtimes = [p.stat().st_mtime_ns for p in runs]
    before = (out / "ablation.csv").read_bytes()
    capsys.readouterr()
    assert ablate(out, overrides, "--patterns", *PATTERNS, "--seeds", str(SEEDS)) == 0
    printed = capsys.readouterr().out
    assert "'2s+1va+1vt' (2s+1va+1vt) is the same pattern as 'half'" in printed
    assert (out / "ablation.csv").read_bytes() == before
    assert run_dirs(overrides) == runs
    assert [p.stat().st_mtime_ns for p in runs] == mtimes


def test_one_seed_has_no_std_and_reuses_seed_zero(ablation, overrides, tmp_path):
    assert ablate(tmp_path / "one", overrides, "--patterns", "all-cross", "--seeds", "1") == 0
    row = read_csv(tmp_path / "one" / "ablation.csv").iloc[0]
    metrics, _ = run_metrics(overrides, "locomt", "all-cross", 0)
    assert row.n_seeds == 1 and np.isnan(row["test/acc_std"]) and np.isnan(row["val/acc_std"])
    assert row["test/acc_mean"] == pytest.approx(metrics["metrics"]["test/acc"], abs=1e-12)


def test_csv_holds_finished_configurations_after_an_interrupt(ablation, overrides, tmp_path, monkeypatch):
    import locomt.ablation

    real, calls = locomt.ablation.train_cached, []

    def interrupted(cfg, root, progress=False):
        calls.append(cfg.model.backbone)
        if len(calls) > SEEDS:  # Ctrl-C during the second configuration
            raise KeyboardInterrupt
        return real(cfg, root, progress=progress)

    monkeypatch.setattr(locomt.ablation, "train_cached", interrupted)
    assert ablate(tmp_path, overrides, "--baselines", "--seeds", str(SEEDS), "--patterns", "half") == 130
    df = read_csv(tmp_path / "ablation.csv")
    assert list(df.label) == ["half"] and df.n_seeds.tolist() == [SEEDS]
    assert not (tmp_path / "ablation.png").exists()


def test_listing_matches_the_cost_model(overrides, tmp_path, capsys):
    cfg = load_config(CONFIG, overrides + [f"data.root={tmp_path / 'no-data'}"])
    df, _ = listing(cfg)
    assert list(df.name) == ["all-self", "all-cross", "half", "alternate", "bottom-self",
                             "early", "joint", "late", "bottleneck"]
    for r in df.itertuples():
        mcfg = model_config(with_model(cfg, r.backbone, r.name if r.backbone == "locomt" else None), n_classes=3)
        assert r.gflops == analytic_cost(mcfg).gflops and r.params == count_params(mcfg)
        assert r.pattern == mcfg.pattern_spec
    by = df.set_index("name")
    assert by.gflops["all-cross"] < by.gflops["half"] < by.gflops["all-self"] < by.gflops["joint"]
    assert by.gflops_vs_joint["joint"] == 1.0 and by.pattern["half"] == "2s+1va+1vt"
    assert not (tmp_path / "no-data").exists()
    assert run_cli(main, ["--patterns", *sets(overrides)]) == 0
    out = capsys.readouterr().out
    for r in df.itertuples():
        assert f"{r.gflops:.4f}" in out and r.name in out


def test_audioset_class_count_from_metadata(tmp_path):
    from locomt.data.synthetic.rule import AUDIOSET_CLASSES as SYNTH_CLASSES

    synth = load_config(ROOT / "experiments" / "synthetic-audioset.yaml", [f"data.root={tmp_path}"])
    df, notes = listing(synth)  # not generated yet: the synthetic class table's size, not AudioSet's
    mcfg = model_config(with_model(synth, "joint"), n_classes=len(SYNTH_CLASSES))
    assert notes == [] and df.set_index("name").gflops["joint"] == analytic_cost(mcfg).gflops
    cfg = load_config(ROOT / "experiments" / "synthetic-audioset.yaml", [f"data.root={tmp_path}", "data.synthetic={}"])
    df, notes = listing(cfg)
    assert any("527" in n for n in notes)
    mcfg = model_config(with_model(cfg, "joint"), n_classes=527)
    assert df.set_index("name").gflops["joint"] == analytic_cost(mcfg).gflops
    (tmp_path / "class_labels_indices.csv").write_text(
        "index,mid,display_name\n" + "".join(f"{i},/m/{i:03d},class {i}\n" for i in range(6)))
    df, notes = listing(cfg)
    assert notes == []
    assert df.set_index("name").gflops["joint"] == analytic_cost(mcfg.replace(n_classes=6)).gflops


@pytest.mark.parametrize("args, message", [
    (["--patterns", "half", "2s+1xa"], "pattern '2s+1xa': unknown view 'xa'"),
    (["--patterns", "halff"], "unknown preset 'halff'"),
    (["--patterns", "half", "3s"], "pattern '3s': counts in '3s' sum to 3, expected the head count 4"),
    (["--patterns", "random:x"], "preset 'random:x'"),
    (["--patterns", "half", "--seeds", "0"], "--seeds 0"),
    (["--patterns", "half", "--set", "model.patern=x"], "unknown config key 'model.patern'"),
    (["--patterns", "half", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["--patterns", "--set", "data.dataset=manifest"], "manifest"),
])
def test_bad_input_is_one_line_and_trains_nothing(overrides, tmp_path, capsys, args, message):
    fresh = overrides[:-1] + [f"trainer.out_dir={tmp_path / 'runs'}"]
    if "--dataset" in args:
        fresh = []
    assert run_cli(main, ["--out", str(tmp_path / "out"), *sets(fresh), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()
