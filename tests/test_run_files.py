"""What keeps a run's files whole, without training: the metrics log across resumes, atomic and
checked checkpoints, the empty-split check, the batch order of an epoch, one-line CLI exits, full
disks, and children that end with their parent. Each test takes seconds."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import torch

from locomt.data.cache import Cache
from locomt.data.datamodule import EpochBatches, EpochShuffle
from locomt.io import atomic_write_bytes, error_line, run_cli, unreadable_reason
from locomt.runs.checkpoints import AtomicCheckpointIO, CheckpointError, read_training_checkpoint, resume_point
from locomt.runs.history import HistoryCSVLogger, read_history
from locomt.runs.preflight import check_splits
from tests.procs import alive, wait_gone

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------------------ history

OLD = ("epoch,model/params,step,train/loss,val/acc\r\n"
       ",100.0,0,,\r\n"
       "0,,0,1.5,\r\n0,,1,1.4,\r\n0,,1,,0.5\r\n"
       "1,,2,1.3,\r\n1,,3,1.2,\r\n1,,3,,0.6\r\n"
       "2,,4,1.1,\r\n2,,5,1.")  # epoch 2 was cut short, mid-line


def test_a_resumed_log_keeps_every_finished_epoch_once(tmp_path):
    (tmp_path / "metrics.csv").write_bytes(OLD.encode())
    logger = HistoryCSVLogger(tmp_path, keep_epochs=1)  # resumed from the checkpoint of epoch 1
    logger.log_metrics({"train/loss": 1.0, "epoch": 2, "train/examples_per_s": 9.0}, step=4)
    logger.save()
    cols, rows = read_history(tmp_path / "metrics.csv")
    assert "train/examples_per_s" in cols and "val/acc" in cols and "model/params" in cols
    assert [(r["epoch"], r["step"]) for r in rows] == [("", "0"), ("0", "0"), ("0", "1"), ("0", "1"), ("1", "2"),
                                                       ("1", "3"), ("1", "3"), ("2", "4")]
    assert rows[-1]["train/loss"] == "1.0" and rows[-1]["train/examples_per_s"] == "9.0"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_fresh_log_starts_empty_and_a_resumed_one_untouched_until_it_saves(tmp_path):
    (tmp_path / "metrics.csv").write_bytes(OLD.encode())
    HistoryCSVLogger(tmp_path, keep_epochs=1).experiment  # started, nothing logged: the file is as it was
    assert (tmp_path / "metrics.csv").read_bytes() == OLD.encode()
    fresh = HistoryCSVLogger(tmp_path, keep_epochs=None)
    fresh.log_metrics({"train/loss": 2.0, "epoch": 0}, step=0)
    fresh.save()
    cols, rows = read_history(tmp_path / "metrics.csv")
    assert cols == ["epoch", "step", "train/loss"] and len(rows) == 1


# ------------------------------------------------------------------------------------------ checkpoints


def _lightning_like(path: Path) -> None:
    AtomicCheckpointIO().save_checkpoint({"epoch": 3, "global_step": 40, "state_dict": {"w": torch.ones(3)},
                                          "loops": {}}, path)


def test_checkpoints_are_read_back_or_refused_in_one_line(tmp_path):
    ckpt_dir = tmp_path / "checkpoints"
    good = ckpt_dir / "last.ckpt"
    _lightning_like(good)
    assert resume_point(tmp_path).epoch == 3 and resume_point(tmp_path).global_step == 40
    assert resume_point(tmp_path / "elsewhere") is None  # no finished epoch
    data = good.read_bytes()
    cases = {"empty.ckpt": (b"", "is empty (0 bytes)"),
             "cut.ckpt": (data[: len(data) // 2], "is truncated"),
             "junk.ckpt": (b"not a checkpoint at all", "is not a checkpoint (23 bytes that are no zip archive")}
    for name, (content, needle) in cases.items():
        (ckpt_dir / name).write_bytes(content)
        with pytest.raises(CheckpointError) as err:
            read_training_checkpoint(ckpt_dir / name)
        msg = str(err.value)
        assert str(ckpt_dir / name) in msg and needle in msg and "\n" not in msg, msg
    torch.save({"w": torch.ones(2)}, ckpt_dir / "weights.ckpt")
    with pytest.raises(CheckpointError, match="not a Lightning training checkpoint"):
        read_training_checkpoint(ckpt_dir / "weights.ckpt")
    # a flipped byte inside a member: the archive's CRC check finds it
    flipped = bytearray(data)
    with zipfile.ZipFile(good) as z:
        info = next(i for i in z.infolist() if i.file_size > 8)
    h = info.header_offset  # the member's data follows its local header (30 bytes, name, extra field)
    at = h + 30 + int.from_bytes(data[h + 26:h + 28], "little") + int.from_bytes(data[h + 28:h + 30], "little") + 2
    flipped[at] ^= 0xFF
    (ckpt_dir / "flipped.ckpt").write_bytes(bytes(flipped))
    assert "fails its CRC check" in unreadable_reason(ckpt_dir / "flipped.ckpt")


def test_a_failed_checkpoint_write_leaves_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    _lightning_like(path)
    before = path.read_bytes()

    real_open = open

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(bytes(data[:100]))
            raise OSError(errno.ENOSPC, "No space left on device")

    import locomt.runs.checkpoints as checkpoints

    monkeypatch.setattr(checkpoints, "open", lambda p, mode="r": FullDisk(real_open(p, mode)), raising=False)
    with pytest.raises(OSError) as err:
        AtomicCheckpointIO().save_checkpoint({"epoch": 4}, path)
    assert err.value.filename == str(path) and error_line(err.value) == f"{path}: No space left on device"
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path):
    """RLIMIT_FSIZE makes writes past the limit fail (EFBIG) as a full disk does (ENOSPC)."""
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    code = textwrap.dedent(f"""
        import resource, sys
        from locomt.io import atomic_write_bytes, error_line
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))
        try:
            atomic_write_bytes({str(target)!r}, b"x" * 100_000)
        except OSError as err:
            print(error_line(err))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.strip() == f"{target}: File too large", out.stderr
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]


# ------------------------------------------------------------------------------------------ splits


def test_an_empty_split_names_itself_its_count_and_the_report(tmp_path):
    cache = Cache(tmp_path)
    cache.write_report([{"split": "val", "id": f"v{i}", "path": f"/m/v{i}.mp4", "kind": "missing",
                         "reason": "missing file"} for i in range(3)])
    check_splits(cache, {"train": 3, "val": 1, "test": 2})
    with pytest.raises(ValueError) as err:
        check_splits(cache, {"train": 3, "val": 0, "test": 2})
    msg = str(err.value)
    assert msg.startswith("split 'val' has 0 items: 3 of its 3 items were skipped") and "\n" not in msg
    assert str(tmp_path / "report.csv") in msg and "expected at least 1" in msg
    with pytest.raises(ValueError, match="split 'test' has 2 items: none were skipped .* expected at least 4"):
        check_splits(cache, {"train": 9, "val": 9, "test": 2}, min_items=4)


# ------------------------------------------------------------------------------------------ batch order


def test_the_order_of_an_epoch_depends_on_the_seed_and_the_epoch_only():
    def order(seed, epoch):
        s = EpochShuffle(50, seed)
        s.set_epoch(epoch)
        return list(s)

    a = EpochShuffle(50, 7)
    seen = []
    for epoch in range(3):  # one sampler through three epochs, as an uninterrupted run
        a.set_epoch(epoch)
        seen.append(list(a))
    assert seen == [order(7, e) for e in range(3)]  # what a run resumed at each epoch draws
    assert seen[0] != seen[1] and sorted(seen[0]) == list(range(50)) and order(8, 0) != seen[0]
    batches = EpochBatches(EpochShuffle(10, 0), batch_size=4, drop_last=False)
    batches.set_epoch(2)
    one = EpochShuffle(10, 0)
    one.set_epoch(2)
    assert [i for b in batches for i in b] == list(one)


# ------------------------------------------------------------------------------------------ CLI exits


def test_cli_exits_are_one_line(capsys, tmp_path):
    def main_raising(err):
        def main(argv):
            raise err
        return main

    assert run_cli(main_raising(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err.strip() == "interrupted (Ctrl-C): stopped; what was finished is kept"
    assert run_cli(main_raising(FileNotFoundError(errno.ENOENT, "No such file or directory", "x.yaml"))) == 2
    assert capsys.readouterr().err.strip() == "error: x.yaml: No such file or directory"
    with pytest.raises(RuntimeError):  # a bug keeps its traceback
        run_cli(main_raising(RuntimeError("bug")))


def test_sigterm_is_an_orderly_interrupt(tmp_path):
    marker = tmp_path / "cleaned"
    code = textwrap.dedent(f"""
        import sys, time
        from locomt.io import run_cli
        def main(argv):
            try:
                print("ready", flush=True)
                time.sleep(60)
            finally:
                open({str(marker)!r}, "w").close()
        sys.exit(run_cli(main))
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=ROOT)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130 and marker.exists()
    assert err.strip() == "terminated (SIGTERM): stopped; what was finished is kept"


# ------------------------------------------------------------------------------------------ children


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_child_ends_with_its_killed_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp, os, sys, time
        from locomt.procs import die_with_parent
        def child(parent):
            die_with_parent(parent)
            time.sleep(120)
        if __name__ == "__main__":
            p = mp.get_context("spawn").Process(target=child, args=(os.getpid(),))
            p.start()
            print(p.pid, flush=True)
            time.sleep(120)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    child = int(parent.stdout.readline())
    time.sleep(1.0)  # the child has called die_with_parent
    assert alive(child)
    parent.kill()
    parent.wait()
    assert not wait_gone([child]), f"child {child} outlived its parent"
