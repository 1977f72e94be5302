"""The run cache under processes that share it: a configuration reached by two at once is trained
by one and read back by the other (``locomt.runs.cache.run_lock``)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from locomt.config import load_config
from locomt.runs import cache, config_key

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "synthetic-medvidcl.yaml"

pytestmark = pytest.mark.skipif(cache.fcntl is None, reason="flock is POSIX only; elsewhere the cache has no lock")


@pytest.fixture
def slow_training(monkeypatch):
    """``train`` replaced by a 0.5 s stand-in that writes the run's files, and a record read back as
    "read": what matters is who trains and who reads (each call opens the lock file itself, as
    another process would; flock locks belong to the open file, so threads stand in for processes)."""
    calls = []

    def train(cfg, run_dir, resume=False, progress=False, announce=True, stop_after=None):
        calls.append((run_dir, stop_after))
        time.sleep(0.5)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / cache.METRICS_FILE).write_text("{}")
        (run_dir / "metrics.csv").write_text("epoch,val/acc\n0,0.5\n1,0.7\n")
        return "trained"

    monkeypatch.setattr(cache, "train", train)
    monkeypatch.setattr(cache.RunRecord, "read", staticmethod(lambda run_dir: "read"))
    return calls


def test_two_processes_reaching_one_configuration_train_it_once(slow_training, tmp_path, capsys):
    cfg = load_config(CONFIG, ["trainer.max_epochs=2"])
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda _: cache.train_cached(cfg, tmp_path), range(2)))
    assert sorted(record for record, _ in got) == ["read", "trained"]
    assert slow_training == [(tmp_path / config_key(cfg), None)]
    assert f"waiting for another process training {tmp_path / config_key(cfg)}" in capsys.readouterr().err
    # another configuration does not wait for it: trained while its lock is held (a 10 s join, no timing)
    other = load_config(CONFIG, ["trainer.max_epochs=2", "seed=1"])
    with cache.run_lock(tmp_path / config_key(cfg)):
        trainer = threading.Thread(target=cache.train_cached, args=(other, tmp_path))
        trainer.start()
        trainer.join(10)
        assert not trainer.is_alive() and len(slow_training) == 2


def test_a_lower_fidelity_waits_for_the_run_being_trained(slow_training, tmp_path):
    cfg = load_config(CONFIG, ["trainer.max_epochs=2"])
    run_dir = tmp_path / config_key(cfg)
    got = []
    with cache.run_lock(run_dir):  # another process is training it
        reader = threading.Thread(target=lambda: got.append(cache.value_at(cfg, tmp_path, 1, "val/acc")))
        reader.start()
        time.sleep(0.3)
        assert reader.is_alive() and not got  # waiting, not training beside it
        run_dir.mkdir()
        (run_dir / "metrics.csv").write_text("epoch,val/acc\n0,0.55\n1,0.75\n")
    reader.join(5)
    assert got == [(0.55, run_dir)] and slow_training == []  # read back what the holder wrote
