"""python -m locomt.robust on runs trained here: complete row equal to the run's own test metric,
each modality and pair missing, a run folder and a front CSV as sources, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from locomt.config import load_config
from locomt.io import run_cli
from locomt.robust import main
from locomt.robustness import missing_sets, parse_missing
from locomt.runs import train

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "synthetic-medvidcl.yaml"


def test_missing_sets_and_their_checks():
    assert missing_sets(("video", "audio")) == [("video",), ("audio",)]
    assert missing_sets(("video", "audio", "text")) == [("video",), ("audio",), ("text",), ("video", "audio"),
                                                       ("video", "text"), ("audio", "text")]
    assert parse_missing(["text,video", "audio"], ("video", "audio", "text")) == [("video", "text"), ("audio",)]
    with pytest.raises(ValueError, match="--missing sound: 'sound' is not a modality of the runs"):
        parse_missing(["sound"], ("video", "audio"))
    with pytest.raises(ValueError, match="names every modality"):
        parse_missing(["audio,video"], ("video", "audio"))


@pytest.fixture(scope="module")
def runs(tiny_synthetic, tmp_path_factory):
    root = tmp_path_factory.mktemp("robust-runs")
    out = {}
    for backbone, pattern in (("joint", "half"), ("locomt", "half")):
        cfg = load_config(CONFIG, [*tiny_synthetic, f"model.backbone={backbone}", f"model.pattern={pattern}",
                                   "trainer.max_epochs=2"])
        run = root / "configs" / backbone
        train(cfg, run, progress=False)
        out[backbone] = run
    return root, out


@pytest.mark.slow
def test_robustness_of_a_run(runs, tmp_path, capsys):
    _, by = runs
    out = tmp_path / "out"
    assert run_cli(main, [str(by["locomt"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "complete" in printed and "without" in printed and "wrote" in printed
    df = pd.read_csv(out / "robustness.csv", keep_default_na=False)
    assert (out / "robustness.png").stat().st_size > 1000
    assert sorted(set(df["missing"])) == sorted(["", "video", "audio", "text", "video+audio", "video+text",
                                                 "audio+text"])
    assert set(df["metric"]) == {"test/acc", "test/f1"}
    record = json.loads((by["locomt"] / "metrics.json").read_text())
    complete = df[(df["missing"] == "") & (df["metric"] == "test/acc")].iloc[0]
    assert complete["value"] == record["metrics"]["test/acc"]  # the run's own test, to the bit
    assert (df["drop"] == df["complete"] - df["value"]).all()
    acc = df[df["metric"] == "test/acc"].set_index("missing")["value"]
    assert acc.nunique() > 1  # removing modalities changes the answers
    gf = df.drop_duplicates("missing").set_index("missing")
    assert (gf.loc[["video", "audio", "text"], "gflops_missing"] < gf.loc["", "gflops"]).all()
    assert (df["left_out"] == 0).all() and set(df["backbone"]) == {"locomt"} and set(df["modality_dropout"]) == {""}


@pytest.mark.slow
def test_a_folder_and_a_front_csv(runs, tmp_path):
    root, by = runs
    out = tmp_path / "out"
    assert run_cli(main, [str(root / "configs"), "--missing", "audio", "--out", str(out)]) == 0
    df = pd.read_csv(out / "robustness.csv", keep_default_na=False)
    assert set(df["backbone"]) == {"joint", "locomt"} and set(df["missing"]) == {"", "audio"}
    front = tmp_path / "pareto.csv"
    pd.DataFrame({"run": [str(by["joint"]), str(by["locomt"])], "is_pareto": [True, False]}).to_csv(front, index=False)
    assert run_cli(main, [str(front), "--missing", "video,text", "--out", str(tmp_path / "front")]) == 0
    df = pd.read_csv(tmp_path / "front" / "robustness.csv", keep_default_na=False)
    assert set(df["backbone"]) == {"joint"} and set(df["missing"]) == {"", "video+text"}


@pytest.mark.slow
@pytest.mark.parametrize("args, needle", [
    (["--missing", "sound"], "error: --missing sound: 'sound' is not a modality of the runs (video, audio, text)"),
    (["--missing", "video,audio,text"], "error: --missing video,audio,text: names every modality"),
])
def test_bad_input_is_one_line_and_writes_nothing(runs, tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    assert run_cli(main, [str(runs[1]["joint"]), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(needle) and "\n" not in err, err
    assert not out.exists()


def test_a_path_that_is_no_run(tmp_path, capsys):
    assert run_cli(main, [str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nowhere" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_the_sweeps_front_runs_and_their_summary(tmp_path):
    """locomt.search.missing on a made-up trials frame: every seed of the front's configurations and of
    the baselines (not repeats, not configurations off the front), and the summary's means over seeds,
    worst drop and the count of runs robustness.csv lacks."""
    from locomt.search.missing import CSV_FILE, front_runs, summary_table

    nan = float("nan")
    trials = pd.DataFrame({
        "number": [0, 1, 2, 3, 4, 5, 6],
        "state": ["COMPLETE"] * 6 + ["PRUNED"],
        "role": ["baseline", "search", "search", "baseline", "search", "search", "search"],
        "label": ["joint", "", "", "joint", "", "", ""],
        "pattern": ["", "4s", "4va", "", "4s", "4s", "2s+2va"],
        "gflops": [2.0, 1.0, 1.5, 2.0, 1.0, 1.0, 0.5],
        "is_pareto": [False, True, False, False, False, False, False],
        "duplicate_of": [nan, nan, nan, nan, nan, 1.0, nan],
        "confirms": [nan, nan, nan, 0.0, 1.0, nan, nan],
        "run": ["r/joint0", "r/s0", "r/va0", "r/joint1", "r/s1", "r/s0", None]})
    runs = front_runs(trials)
    assert list(runs["run"]) == ["r/s0", "r/s1", "r/joint0", "r/joint1"]  # cheapest first, seeds together
    assert list(runs["configuration"]) == [1, 1, 0, 0] and list(runs["role"]) == ["search", "search", "baseline",
                                                                                  "baseline"]
    assert summary_table(trials, tmp_path) is None  # no robustness.csv: no section
    rows = []
    for conf, run, complete, video, audio in ((1, "r/s0", 0.8, 0.5, 0.7), (1, "r/s1", 0.6, 0.5, 0.2),
                                              (0, "r/joint0", 0.9, 0.4, 0.9)):
        for missing, value in (("", complete), ("video", video), ("audio", audio), ("video+audio", 0.1)):
            rows.append({"configuration": conf, "role": "", "run": run, "label": "x", "missing": missing,
                         "metric": "test/acc", "value": value, "drop": complete - value})
    pd.DataFrame(rows).to_csv(tmp_path / CSV_FILE, index=False)
    metric, table, lacking = summary_table(trials, tmp_path)
    assert metric == "test/acc" and lacking == 1  # r/joint1 is not in the file
    table = table.set_index("configuration")
    assert table.loc[1, "seeds"] == 2 and table.loc[1, "label"] == "4s" and table.loc[0, "label"] == "joint"
    assert table.loc[1, "complete"] == pytest.approx(0.7) and table.loc[1, "without audio"] == pytest.approx(0.45)
    assert table.loc[1, "worst drop"] == "0.2500 (audio)" and table.loc[0, "worst drop"] == "0.5000 (video)"
    assert "without video+audio" not in table  # pairs stay in robustness.csv
