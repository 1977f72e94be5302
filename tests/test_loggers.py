"""trainer.loggers: csv, tensorboard and mlflow, any combination. A tiny run logs to all three and
each tool's own reader (TensorBoard's EventAccumulator, MLflow's client) gives back the values of
metrics.csv at the same steps; a run stopped and resumed stays one MLflow run and one TensorBoard
history; an unknown logger or a missing package is one line and leaves nothing behind."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from locomt.config import ConfigError, load_config
from locomt.io import run_cli
from locomt.runs import config_key, train, value_at
from locomt.runs.checkpoints import ResumePoint
from locomt.runs.history import read_history
from locomt.runs.loggers import (MLFLOW_EXPERIMENT, build_loggers, mlflow_logger, tracking_uri,
                                 where_logs_are)
from locomt.train import main

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "synthetic-medvidcl.yaml"
ALL = "trainer.loggers=[csv, tensorboard, mlflow]"


def csv_values(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    """(step, value) of every metrics.csv row that holds ``metric``."""
    _, rows = read_history(run_dir / "metrics.csv")
    return [(int(r["step"]), float(r[metric])) for r in rows if r.get(metric)]


def tensorboard_values(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(metric)]


def mlflow_runs(run_dir: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri(run_dir))
    return client.search_runs([client.get_experiment_by_name(MLFLOW_EXPERIMENT).experiment_id])


def mlflow_values(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    from mlflow.tracking import MlflowClient

    (run,) = mlflow_runs(run_dir)
    history = MlflowClient(tracking_uri(run_dir)).get_metric_history(run.info.run_id, metric)
    return sorted((m.step, m.value) for m in history)


def same(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    return [s for s, _ in a] == [s for s, _ in b] and all(abs(x - y) <= 1e-6 for (_, x), (_, y) in zip(a, b))


@pytest.mark.slow
def test_one_epoch_logged_to_each_tool_reads_back_as_metrics_csv(tiny_synthetic, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_cli(main, ["--config", str(CONFIG), "--run-dir", str(run_dir), *tiny_synthetic, ALL]) == 0
    err = capsys.readouterr().err
    line = where_logs_are(["csv", "tensorboard", "mlflow"], run_dir)
    assert err.count(line) == 2, err[-3000:]  # when the run starts and when it ends
    assert f"tensorboard --logdir {run_dir / 'tensorboard'}" in line
    assert f"mlflow ui --backend-store-uri sqlite:///{run_dir.resolve() / 'mlflow' / 'mlflow.db'}" in line
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["logs"] == {"csv": "metrics.csv", "tensorboard": "tensorboard/", "mlflow": "mlflow/mlflow.db"}
    for metric in ("val/acc", "val/loss", "train/loss", "test/acc", "model/params"):
        expect = csv_values(run_dir, metric)
        assert expect, metric
        assert same(tensorboard_values(run_dir, metric), expect), metric
        assert same(mlflow_values(run_dir, metric), expect), metric
    (run,) = mlflow_runs(run_dir)
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    assert run.data.params["optim/name"] == "adamw"


@pytest.mark.slow
def test_a_stopped_and_resumed_run_is_one_mlflow_run_and_one_tensorboard_history(tiny_synthetic, tmp_path):
    cfg = load_config(CONFIG, [*tiny_synthetic, ALL, "trainer.max_epochs=2"])
    run_dir = tmp_path / "run"
    assert train(cfg, run_dir, progress=False, stop_after=1) is None  # epoch 0 done, then stopped
    (first,) = mlflow_runs(run_dir)
    assert len(csv_values(run_dir, "val/acc")) == 1
    train(cfg, run_dir, resume=True, progress=False)
    (again,) = mlflow_runs(run_dir)
    assert again.info.run_id == first.info.run_id and again.info.status == "FINISHED"
    for metric in ("val/acc", "train/loss"):
        expect = csv_values(run_dir, metric)
        assert same(tensorboard_values(run_dir, metric), expect), metric
        assert same(mlflow_values(run_dir, metric), expect), metric
    assert len(csv_values(run_dir, "val/acc")) == 2


def test_tensorboard_drops_the_epoch_that_was_cut_short(tmp_path):
    """Epoch 0 (steps 0..2) finished, epoch 1 was cut short at step 4: resumed from step 3, a reader
    keeps the values logged again and none of the lost ones."""
    (tb,) = build_loggers(["tensorboard"], tmp_path, None)
    for step in range(5):
        tb.log_metrics({"train/loss": 10.0 + step}, step=step)
    tb.finalize("failed")
    (tb,) = build_loggers(["tensorboard"], tmp_path, ResumePoint(tmp_path / "last.ckpt", epoch=0, global_step=3))
    for step in range(3, 6):
        tb.log_metrics({"train/loss": 20.0 + step}, step=step)
    tb.finalize("success")
    assert tensorboard_values(tmp_path, "train/loss") == [(0, 10.0), (1, 11.0), (2, 12.0), (3, 23.0), (4, 24.0),
                                                          (5, 25.0)]


def test_a_resumed_mlflow_logger_continues_the_run_its_store_holds(tmp_path):
    """Found in the store, not by name: a run directory that was renamed continues its run too."""
    run_dir = tmp_path / "run"
    logger = mlflow_logger(run_dir, resume=False)
    run_id = logger.run_id
    logger.log_metrics({"val/acc": 0.5}, step=2)
    logger.finalize("failed")  # what Lightning does when a fit is interrupted
    moved = run_dir.rename(tmp_path / "moved")
    logger = mlflow_logger(moved, resume=True)
    assert logger.run_id == run_id
    (run,) = mlflow_runs(moved)
    assert run.info.status == "RUNNING" and run.info.run_name == "run"
    logger.log_metrics({"val/acc": 0.75}, step=5)
    logger.finalize("success")
    assert mlflow_values(moved, "val/acc") == [(2, 0.5), (5, 0.75)]
    assert mlflow_logger(tmp_path / "fresh", resume=False).run_id != run_id


def test_loggers_default_to_csv_and_do_not_change_the_config_key():
    cfg = load_config(CONFIG)
    assert cfg.trainer.loggers == ("csv",)
    other = load_config(CONFIG, [ALL])
    assert other.trainer.loggers == ("csv", "tensorboard", "mlflow")
    assert config_key(other) == config_key(cfg)
    assert load_config(CONFIG, ["trainer.loggers=[]"]).trainer.loggers == ()
    with pytest.raises(ConfigError, match="without repeats"):
        load_config(CONFIG, ["trainer.loggers=[csv, csv]"])


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def test_an_unknown_logger_is_one_line_and_writes_nothing(tiny_synthetic, tmp_path, capsys):
    args = ["--config", str(CONFIG), "--run-dir", str(tmp_path / "run"), *tiny_synthetic,
            f"data.cache_dir={tmp_path / 'cache'}", "trainer.loggers=[csv, foo]"]
    assert run_cli(main, args) == 2
    assert _one_line(capsys) == ("error: trainer.loggers=['csv', 'foo']: expected a list of values, each one of csv, "
                                 "tensorboard, mlflow, without repeats")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("name", ["mlflow", "tensorboard"])
def test_a_missing_package_is_one_line_naming_the_extra(tiny_synthetic, tmp_path, capsys, monkeypatch, name):
    monkeypatch.setitem(sys.modules, name, None)  # import NAME now raises ImportError
    args = ["--config", str(CONFIG), "--run-dir", str(tmp_path / "run"), *tiny_synthetic,
            f"data.cache_dir={tmp_path / 'cache'}", f"trainer.loggers=[csv, {name}]"]
    assert run_cli(main, args) == 2
    assert _one_line(capsys) == (f"error: trainer.loggers holds {name!r} but the {name} package is not installed; "
                                 f"install it with pip install -e '.[{name}]'")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_a_lower_fidelity_needs_the_csv_log(tmp_path):
    cfg = load_config(CONFIG, ["trainer.loggers=[tensorboard]", "trainer.max_epochs=2"])
    with pytest.raises(ValueError, match=r"trainer.loggers=\['tensorboard'\]: the value after 1 epochs is read "
                                         r"from the run's metrics.csv; expected csv among them"):
        value_at(cfg, tmp_path, 1, "val/acc")
    assert not list(tmp_path.iterdir())


def test_an_asha_sweep_without_the_csv_log_is_one_line(tiny_synthetic, tmp_path, capsys):
    from locomt.sweep import main as sweep

    space = tmp_path / "space.yaml"
    space.write_text("space: counts\nn_trials: 2\nbaselines: []\npresets: [half]\nstrategy: asha\nmin_epochs: 1\n")
    args = ["--space", str(space), "--out", str(tmp_path / "out")]
    for s in [*tiny_synthetic, f"data.cache_dir={tmp_path / 'cache'}", "trainer.loggers=[tensorboard]"]:
        args += ["--set", s]
    assert run_cli(sweep, args) == 2
    assert _one_line(capsys) == ("error: trainer.loggers=['tensorboard']: the asha strategy reads each epoch's "
                                 "validation metric from a run's metrics.csv; expected csv among them")
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
