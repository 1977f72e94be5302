"""Nothing lost, nothing half-written, tried as a hostile user would: a run stopped by Ctrl-C (in
epoch 1) and by SIGKILL (in epoch 2) and resumed twice ends exactly as an uninterrupted one (metrics.csv row for row, test
metrics to the bit); a finished run is not resumed; an unreadable last.ckpt is refused in one line
and never replaced by a fresh start; a full disk keeps the previous checkpoint; rejected commands
leave no run directory and no cache; an empty split stops before training."""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from locomt.io import run_cli
from locomt.train import main

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "synthetic-medvidcl.yaml"
# every random draw of training is on: dropout, stochastic depth, mixup, SpecAugment and modality dropout
RANDOM = ["model.dropout=0.2", "model.drop_path=0.2", "optim.mixup_alpha=0.4", "data.spec_augment.time_masks=2",
          "data.spec_augment.time_width=10", "data.spec_augment.freq_masks=1", "data.spec_augment.freq_width=8",
          "data.modality_dropout={audio: 0.3, text: 0.2}"]
EPOCHS = 4


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "locomt.train", *args]


def _start(args: list[str], **kw) -> subprocess.Popen:
    # SIGINT back to its default in the child: a shell that starts CI in the background ignores it
    def child_setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if "fsize" in kw:
            resource.setrlimit(resource.RLIMIT_FSIZE, (kw["fsize"], kw["fsize"]))

    return subprocess.Popen(_cmd(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=child_setup)


def _finished_epoch(run_dir: Path) -> int:
    try:
        return int(torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, mmap=True)["epoch"])
    except Exception:
        return -1


def _stat(path: Path):
    try:
        st = path.stat()
        return st.st_ino, st.st_mtime_ns
    except FileNotFoundError:
        return None


def _stop_after(proc: subprocess.Popen, run_dir: Path, epoch: int, sig: int) -> str:
    """Send ``sig`` once epoch ``epoch`` has its checkpoint, and no later one: the child is frozen
    (SIGSTOP) within a millisecond or two of each new last.ckpt, so however fast the machine, the
    signal lands in the next epoch (a sleep after polling let a fast CI machine finish two more)."""
    last = run_dir / "checkpoints" / "last.ckpt"
    seen, deadline = _stat(last), time.time() + 300
    while True:
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "no checkpoint in 300 s"
        now = _stat(last)
        if now is not None and now != seen:
            proc.send_signal(signal.SIGSTOP)
            seen = _stat(last)
            if _finished_epoch(run_dir) >= epoch:
                break
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.001)
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    return proc.communicate(timeout=120)[0]


def _log(run_dir: Path) -> pd.DataFrame:
    """metrics.csv without its one wall-clock column."""
    return pd.read_csv(run_dir / "metrics.csv").drop(columns=["train/examples_per_s"])


@pytest.fixture(scope="module")
def runs(tiny_synthetic, tmp_path_factory):
    """The same config and seed trained without a break, and stopped twice (Ctrl-C, then SIGKILL) and
    resumed twice."""
    tmp = tmp_path_factory.mktemp("resume")
    ov = [*tiny_synthetic, f"trainer.max_epochs={EPOCHS}", *RANDOM]
    whole, broken = tmp / "whole", tmp / "broken"
    done = subprocess.run(_cmd("--config", str(CONFIG), "--run-dir", str(whole), *ov), cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    first = _stop_after(_start(["--config", str(CONFIG), "--run-dir", str(broken), *ov]), broken, 0, signal.SIGINT)
    shutil.copytree(broken, tmp / "after-ctrl-c")  # for the full-disk test
    second = _stop_after(_start(["--resume", str(broken)]), broken, 1, signal.SIGKILL)
    last = subprocess.run(_cmd("--resume", str(broken)), cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert last.returncode == 0, last.stderr[-3000:]
    return whole, broken, first, second


@pytest.mark.slow
def test_a_resumed_run_ends_as_an_uninterrupted_one(runs):
    whole, broken, first, second = runs
    lines = first.strip().splitlines()
    assert lines[-1] == (f"interrupted: run {broken} keeps its finished epochs 0..0; go on with: "
                         f"python -m locomt.train --resume {broken}"), first[-2000:]
    assert "Traceback" not in first and "Traceback" not in second
    a, b = _log(whole), _log(broken)
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert sorted(b.dropna(subset=["val/acc"]).epoch.astype(int)) == list(range(EPOCHS))  # each epoch once
    ra, rb = json.loads((whole / "metrics.json").read_text()), json.loads((broken / "metrics.json").read_text())
    assert ra["metrics"] == rb["metrics"] and ra["epochs"] == rb["epochs"] == EPOCHS
    assert _finished_epoch(broken) == EPOCHS - 1
    assert sorted(p.name for p in (broken / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


@pytest.mark.slow
def test_a_finished_run_is_not_resumed(runs, capsys):
    whole = runs[0]
    before = {p: p.stat().st_mtime_ns for p in whole.rglob("*")}
    assert run_cli(main, ["--resume", str(whole)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: run '{whole}' has finished ({EPOCHS} epochs; its metrics are in {whole / 'metrics.json'}): "
                   "there is nothing to resume")
    assert {p: p.stat().st_mtime_ns for p in whole.rglob("*")} == before


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_an_unreadable_checkpoint_is_refused_and_kept(runs, tmp_path, capsys, damage):
    run = tmp_path / "run"
    shutil.copytree(runs[1], run)
    (run / "metrics.json").unlink()
    last = run / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    last.write_bytes(b"" if damage == "empty" else data[: len(data) // 3])
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in run.rglob("*")}
    for _ in range(2):  # and the second try is no different: never a silent fresh start
        assert run_cli(main, ["--resume", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: checkpoint {last} is {damage}") and "\n" not in err, err
        assert err.endswith("it cannot be resumed from")
        assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in run.rglob("*")} == before


@pytest.mark.slow
def test_a_full_disk_keeps_the_previous_checkpoint(runs, tmp_path):
    """RLIMIT_FSIZE fails writes past 200 kB (EFBIG), as a full disk does (ENOSPC); the checkpoints
    are larger, so the first one the resumed run writes fails."""
    whole, broken = runs[0], runs[1]
    run = tmp_path / "run"
    shutil.copytree(broken.parent / "after-ctrl-c", run)
    ckpts = run / "checkpoints"
    before = (ckpts / "last.ckpt").read_bytes()
    assert len(before) > 200_000
    proc = _start(["--resume", str(run)], fsize=200_000)
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 2, out[-2000:]
    line = out.strip().splitlines()[-1]
    assert line.startswith(f"error: {ckpts}/") and line.endswith(".ckpt: File too large"), line
    assert "Traceback" not in out
    assert (ckpts / "last.ckpt").read_bytes() == before and not list(run.rglob("*.tmp"))
    # with room again, the run goes on from the kept checkpoint and ends as the uninterrupted one
    done = subprocess.run(_cmd("--resume", str(run)), cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    pd.testing.assert_frame_equal(_log(whole), _log(run), check_exact=True)
    assert json.loads((run / "metrics.json").read_text())["metrics"] == \
        json.loads((whole / "metrics.json").read_text())["metrics"]


@pytest.mark.parametrize("override, needle", [
    ("trainer.max_epochs=0", "trainer.max_epochs=0: expected an integer >= 1"),
    ("trainer.devices=0", "trainer.devices=0: expected a number of devices >= 1"),
    ("model.d_model=-4", "model.d_model=-4: expected an integer >= 1"),
    ("model.n_heads=0", "model.n_heads=0: expected an integer >= 1"),
    ("optim.lr=-1", "optim.lr=-1.0: expected a number in (0.0, 100.0]"),
    ("data.video.size=7", "data.video.size=7 must be a multiple of model.video_patch=8"),
    ("trainer.strategy=fsdp", "trainer.strategy='fsdp', trainer.precision='32-true': The strategy `fsdp` requires a GPU"),
    ("trainer.precision=transformer-engine", "trainer.precision='transformer-engine': Requirement"),
    ("trainer.devices=4096", "trainer.devices=4096: training on CPU runs one process per device"),
    ("model.d_model=1000000", "model.d_model=1000000, model.n_layers=2, model.mlp_ratio=1: up to"),
    ("trainer.accelerator=gpu", "trainer.accelerator='gpu': this machine has no CUDA GPU"),
    ("model.init_from=TRUNCATED", "model.init_from"),
    ("data.modality_dropout={audio: 1.0}", "data.modality_dropout={'audio': 1.0}: expected a mapping of modality"),
    ("data.modality_dropout={sound: 0.2}", "data.modality_dropout.sound: expected one of data.modalities"),
])
def test_a_rejected_run_leaves_nothing(tiny_synthetic, tmp_path, capsys, override, needle):
    if override == "trainer.accelerator=gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    if override.endswith("TRUNCATED"):
        pth = tmp_path / "vit.pth"
        torch.save({"patch_embed.proj.weight": torch.zeros(8, 3, 16, 16)}, pth)
        pth.write_bytes(pth.read_bytes()[:300])
        override, needle = f"model.init_from={pth}", f"checkpoint '{pth}' is truncated"
    cache = tmp_path / "cache"
    args = ["--config", str(CONFIG), "--run-dir", str(tmp_path / "run"), *tiny_synthetic, f"data.cache_dir={cache}",
            override]
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and "\n" not in err, err
    assert not (tmp_path / "run").exists() and not cache.exists()


@pytest.mark.parametrize("args, needle", [
    (["--resume", "{tmp}/nowhere"], "--resume '{tmp}/nowhere': no such run directory"),
    (["--resume", "{tmp}"], "--resume '{tmp}': not a run directory (it has no config.yaml)"),
    (["--resume", "{tmp}", "--config", "x.yaml"], "give no --config, --run-dir or overrides with it"),
    (["--config", "{tmp}/none.yaml"], "config file '{tmp}/none.yaml' does not exist"),
    (["--config", str(CONFIG), "--run-dir", "{tmp}"], "exists and is not an empty folder"),
])
def test_bad_command_lines_are_one_line(tmp_path, capsys, args, needle):
    (tmp_path / "notes.txt").write_text("mine")
    before = sorted(tmp_path.rglob("*"))
    assert run_cli(main, [a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle.format(tmp=tmp_path) in err and "\n" not in err, err
    assert sorted(tmp_path.rglob("*")) == before


def test_an_empty_split_stops_before_training(tmp_path, capsys):
    """Media for the training clips only (a partial download): val and test are empty after prepare."""
    from locomt.data.medvidcl import read_medvidcl
    from locomt.data.synthetic.config import SynthConfig
    from locomt.data.synthetic.layout import generate

    root = tmp_path / "data"
    generate(root, SynthConfig("medvidcl", n=9, seed=0, size=32), progress=False)
    for split, df in read_medvidcl(root).items():
        if split != "train":
            for vid in df["video_id"]:
                for f in (root / "media").glob(f"{vid}.*"):
                    f.unlink()
    ov = [f"data.root={root}", f"data.cache_dir={tmp_path / 'cache'}", "data.synthetic={}", "model.n_layers=2",
          "model.fusion_layer=1", "model.d_model=32", "model.n_heads=4", "trainer.max_epochs=1"]
    assert run_cli(main, ["--config", str(CONFIG), "--run-dir", str(tmp_path / "run"), *ov]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    report = next((tmp_path / "cache").glob("*/report.csv"))
    assert err.startswith("error: split 'val' has 0 items: ") and str(report) in err, err
    assert "items were skipped for missing or unusable media" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_running_out_of_memory_is_one_line(tiny_synthetic, tmp_path, capsys, monkeypatch):
    from locomt.task import MultimodalTask

    def no_memory(self, batch, batch_idx):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: you tried to "
                           "allocate 68719476736 bytes.")

    monkeypatch.setattr(MultimodalTask, "training_step", no_memory)
    args = ["--config", str(CONFIG), "--run-dir", str(tmp_path / "run"), *tiny_synthetic]
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: out of memory in epoch 0 (") and "lower data.batch_size=8" in err, err
    assert not (tmp_path / "run").exists()
