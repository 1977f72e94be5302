"""`python -m locomt.train` end to end on a small synthetic MedVidCL-layout set: run directory,
determinism, one-line errors, and DDP on two CPU processes (resume: tests/test_resume.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from locomt.config import load_config
from locomt.io import run_cli
from locomt.runs import RunRecord, train
from locomt.train import main
from tests.procs import children, wait_gone

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "synthetic-medvidcl.yaml"


@pytest.fixture(scope="module")
def data_overrides(tiny_synthetic):
    return [*tiny_synthetic, "trainer.max_epochs=2"]


def _run(tmp_path, overrides, name="run"):
    cfg = load_config(CONFIG, overrides)
    run_dir = tmp_path / name
    return train(cfg, run_dir, progress=False), run_dir


@pytest.mark.slow
def test_run_directory_and_determinism(tmp_path, data_overrides):
    result, run_dir = _run(tmp_path, data_overrides + ["model.backbone=locomt", "model.pattern=half"])
    for name in ("metrics.csv", "metrics.json", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert RunRecord.from_json((run_dir / "metrics.json").read_text()) == result
    assert {"val/acc", "test/acc", "test/f1", "test/loss"} <= set(saved["metrics"])
    assert saved["monitor"] == "val/acc"
    assert saved["pattern"] == "2s+1va+1vt" and saved["gflops"] > 0 and saved["params"] > 0
    assert saved["epochs"] == 2
    again, _ = _run(tmp_path, data_overrides + ["model.backbone=locomt", "model.pattern=half"], name="again")
    assert again.metrics == result.metrics


@pytest.mark.slow
def test_cli_writes_config_and_rejects_bad_input(tmp_path, data_overrides, capsys):
    run_dir = tmp_path / "cli"
    assert run_cli(main, ["--config", str(CONFIG), "--run-dir", str(run_dir), *data_overrides,
                          "model.backbone=joint", "trainer.max_epochs=1"]) == 0
    cfg = load_config(run_dir / "config.yaml")
    assert cfg.model.backbone == "joint" and cfg.trainer.max_epochs == 1
    capsys.readouterr()
    assert run_cli(main, ["--config", str(CONFIG), "--run-dir", str(tmp_path / "bad"), "model.patern=half"]) == 2
    assert "unknown config key 'model.patern'" in capsys.readouterr().err
    assert run_cli(main, ["--config", str(CONFIG), "--run-dir", str(tmp_path / "nodata"),
                          f"data.root={tmp_path / 'nowhere'}", "data.synthetic={}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and str(tmp_path / "nowhere") in err and "locomt.synth" in err
    assert "\n" not in err
    assert run_cli(main, ["--config", str(CONFIG), "--run-dir", str(run_dir), *data_overrides]) == 2
    assert "already holds a run; use --resume" in capsys.readouterr().err


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path, data_overrides):
    run_dir = tmp_path / "ddp"
    env = {k: v for k, v in os.environ.items() if k != "LOCOMT_RUN_DIR"}
    proc = subprocess.run([sys.executable, "-m", "locomt.train", "--config", str(CONFIG), "--run-dir", str(run_dir),
                           *data_overrides, "trainer.devices=2", "trainer.strategy=ddp", "trainer.max_epochs=1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "test/acc" in metrics["metrics"]
    assert not list(tmp_path.glob("*-20*")), "a worker process made a second run directory"


def test_precision_auto_follows_the_device(monkeypatch):
    from locomt.runs import resolve_precision

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert resolve_precision("auto", "auto") == "32-true"
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert resolve_precision("auto", "auto") == "16-mixed"
    assert resolve_precision("auto", "cpu") == "32-true"
    assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"


@pytest.mark.slow
def test_ddp_ranks_end_with_a_killed_rank_zero(tmp_path, data_overrides):
    run_dir = tmp_path / "ddp"
    env = {k: v for k, v in os.environ.items() if k not in ("LOCOMT_RUN_DIR", "LOCOMT_PARENT_PID")}
    proc = subprocess.Popen([sys.executable, "-m", "locomt.train", "--config", str(CONFIG), "--run-dir", str(run_dir),
                             *data_overrides, "trainer.devices=2", "trainer.strategy=ddp", "trainer.max_epochs=50"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while not children(proc.pid):  # rank 0 has launched rank 1
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.2)
    time.sleep(8)  # rank 1 is past its start (and the ranks are setting up or training)
    ranks = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not wait_gone(ranks, 15), "a DDP rank outlived rank 0"
