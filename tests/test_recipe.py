"""MBT's training recipe on a small synthetic MedVidCL-layout set: multi-clip evaluation against a
computation by hand, and one training epoch with every switch on, each switch seen at work."""

import csv
import json
import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from locomt.config import load_config, model_config
from locomt.data.datamodule import build_datamodule
from locomt.models.backbones import DropPath
from locomt.task import MultimodalTask
from locomt.runs import RunRecord, train

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "synthetic-medvidcl.yaml"


@pytest.fixture(scope="module")
def base(tiny_synthetic):
    """The session's 60-clip synthetic set (clips of 2 s at 8 fps) and a small model."""
    return tiny_synthetic


def _macro_f1(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> float:
    """Macro F1 over the classes that occur in the targets or the predictions (torchmetrics' rule)."""
    scores = []
    for c in range(n_classes):
        tp = int(((pred == c) & (target == c)).sum())
        fp = int(((pred == c) & (target != c)).sum())
        fn = int(((pred != c) & (target == c)).sum())
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def test_multi_clip_metrics_are_those_of_the_mean_clip_logits(base):
    # 1 s audio windows in 2 s clips, so the audio of the 3 clips differs as well as the video
    cfg = load_config(CONFIG, base + ["data.test_clips=3", "data.audio.clip_seconds=1.0"])
    dm = build_datamodule(cfg, prepare_workers=1, progress=False)
    dm.prepare_data()
    dm.setup("test")
    inputs, target = next(iter(dm.test_dataloader()))
    assert inputs["video"].shape == (8, 3, 3, 8, 32, 32) and inputs["audio"].shape == (8, 3, 24, 32)  # 1 s at hop 500
    assert inputs["text"].shape == (8, 8) and target.shape == (8,)
    train_inputs, _ = next(iter(dm.train_dataloader()))
    assert train_inputs["video"].shape == (8, 3, 8, 32, 32)  # training keeps one clip

    L.seed_everything(0, verbose=False)
    task = MultimodalTask(model_config(cfg, dm.n_classes, dm.vocab_size), dm.task, cfg.optim)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    got = trainer.test(task, datamodule=dm, verbose=False)[0]

    arrays = {m: torch.from_numpy(np.array(dm.cache.open_array("test", m))) for m in ("video", "audio", "text")}
    labels = torch.from_numpy(np.array(dm.cache.open_array("test", "labels")))
    mean, std = dm.meta["audio_mean"], dm.meta["audio_std"]
    task.eval()
    with torch.no_grad():
        per_clip = torch.stack([task.model({"video": arrays["video"][:, k].float(),
                                            "audio": (arrays["audio"][:, k].float() - mean) / std,
                                            "text": arrays["text"].long()}) for k in range(3)])
    logits = per_clip.mean(0)
    pred = logits.argmax(1)
    assert got["test/acc"] == pytest.approx(float((pred == labels).float().mean()), abs=1e-6)
    assert got["test/f1"] == pytest.approx(_macro_f1(pred, labels, dm.n_classes), abs=1e-6)
    assert got["test/loss"] == pytest.approx(float(F.cross_entropy(logits, labels)), abs=1e-5)
    assert got["test/loss"] != pytest.approx(float(F.cross_entropy(per_clip[0], labels)), abs=1e-4)


def _rows(path: Path, key: str) -> list[float]:
    with open(path) as f:
        return [float(r[key]) for r in csv.DictReader(f) if r.get(key)]


@pytest.mark.slow
def test_one_epoch_with_every_switch_on(base, tmp_path, monkeypatch):
    """Mixup, label smoothing, SpecAugment, stochastic depth and 2 test clips in one real run."""
    seen: dict[str, list] = {"lam": [], "smoothing": [], "masked": [], "eval_masked": [], "dropped": [], "clips": []}

    def record(cls, name, before=None, after=None):
        real = getattr(cls, name)

        def wrapper(self, *a, **k):
            if before:
                before(self, *a, **k)
            out = real(self, *a, **k)
            if after:
                after(self, out, *a, **k)
            return out
        monkeypatch.setattr(cls, name, wrapper)

    def audio_masked(batch) -> bool:  # some whole frame of some example is 0: a time mask
        return bool((batch[0]["audio"] == 0).all(dim=1).any())

    record(MultimodalTask, "mixup_draw", after=lambda self, out, *a: seen["lam"].append(out[0]))
    record(MultimodalTask, "loss", before=lambda self, *a: seen["smoothing"].append(a[2] if len(a) > 2 else 0.0))
    record(MultimodalTask, "training_step", before=lambda self, batch, i: seen["masked"].append(audio_masked(batch)))
    record(MultimodalTask, "validation_step",
           before=lambda self, batch, i: seen["eval_masked"].append(audio_masked(batch)))
    record(MultimodalTask, "_flatten_clips", after=lambda self, out, *a: seen["clips"].append(out[1]))
    record(DropPath, "forward",
           after=lambda self, out, x: seen["dropped"].append(self.training and bool((out == 0).all(-1).all(-1).any())))

    s = 0.3
    cfg = load_config(CONFIG, base + [
        "optim.mixup_alpha=0.5", f"optim.label_smoothing={s}", "model.drop_path=0.5", "data.test_clips=2",
        "data.spec_augment={time_masks: 2, time_width: 20, freq_masks: 2, freq_width: 10}"])
    result = train(cfg, tmp_path / "run", progress=False)

    steps = len(seen["masked"])
    assert steps == 6  # 42 training clips in batches of 8
    assert len(seen["lam"]) == steps and all(0 < lam < 1 for lam in seen["lam"])  # mixup: one draw per batch
    assert seen["smoothing"].count(s) == steps  # training losses smoothed; evaluation losses not
    assert set(seen["smoothing"]) == {s, 0.0}
    assert all(seen["masked"]) and not any(seen["eval_masked"])  # SpecAugment: training batches only
    assert any(seen["dropped"])  # stochastic depth dropped some residual branches in training
    assert set(seen["clips"]) == {1, 2}  # validation: one clip; test: 2 clips per item

    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert RunRecord.from_json(json.dumps(saved)) == result and saved["epochs"] == 1
    assert {"val/acc", "test/acc", "test/f1", "test/loss"} <= set(saved["metrics"])
    assert all(math.isfinite(v) for v in saved["metrics"].values())
    log = tmp_path / "run" / "metrics.csv"
    losses = _rows(log, "train/loss")
    assert len(losses) == steps and _rows(log, "val/acc")
    # Label smoothing puts a floor under the cross-entropy: the entropy of a smoothed one-hot
    # target, the least entropy any smoothed target (mixed or not) can have.
    on, off = 1 - s + s / 3, s / 3
    floor = -(on * math.log(on) + 2 * off * math.log(off))
    assert min(losses) > floor
