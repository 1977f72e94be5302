"""The Lightning task: losses and metrics per task type, schedule, non-finite loss, a real fit."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from locomt.config import OptimConfig
from locomt.models import example_inputs
from locomt.task import MultimodalTask, NonFiniteLossError

from conftest import AUDIO, VIDEO, small_config


class Toy(Dataset):
    """Class = sign of the mean of the audio input: learnable, and only from audio."""

    def __init__(self, cfg, n: int, task: str, seed: int = 0):
        self.x = example_inputs(cfg, batch=n, generator=torch.Generator().manual_seed(seed))
        mean = self.x["audio"].mean(dim=(1, 2))
        self.x["audio"] = self.x["audio"] + 2.0 * torch.sign(mean)[:, None, None]
        cls = (mean > 0).long()
        self.y = cls if task == "multiclass" else torch.stack([cls, 1 - cls], 1).float()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.x.items()}, self.y[i]


def _trainer(tmp_path, **kw):
    return L.Trainer(default_root_dir=tmp_path, accelerator="cpu", enable_progress_bar=False,
                     enable_model_summary=False, logger=L.pytorch.loggers.CSVLogger(tmp_path), **kw)


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_fit_learns_and_logs(task, tmp_path):
    torch.manual_seed(0)
    cfg = small_config((VIDEO, AUDIO), n_classes=2, backbone="locomt", n_layers=2, fusion_layer=1)
    module = MultimodalTask(cfg, task, OptimConfig(lr=3e-3, warmup_epochs=0.5))
    train = DataLoader(Toy(cfg, 64, task), batch_size=16, shuffle=True)
    val = DataLoader(Toy(cfg, 32, task, seed=1), batch_size=16)
    trainer = _trainer(tmp_path, max_epochs=6)
    trainer.fit(module, train, val)
    metrics = trainer.callback_metrics
    key = "val/acc" if task == "multiclass" else "val/mAP"
    assert metrics[key] > 0.8, metrics
    assert "train/examples_per_s" in metrics
    if task == "multiclass":
        assert "val/f1" in metrics
    log = (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text()
    assert "model/gflops" in log and "model/params" in log
    result = trainer.test(module, val, verbose=False)[0]
    assert (f"test/{key.split('/')[1]}") in result


def test_warmup_then_cosine(tmp_path):
    cfg = small_config((VIDEO, AUDIO), n_classes=2, n_layers=1, fusion_layer=0)
    module = MultimodalTask(cfg, "multiclass", OptimConfig(lr=1.0, warmup_epochs=1, schedule="cosine"))
    lrs = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    trainer = _trainer(tmp_path, max_epochs=4, callbacks=[Record()])
    trainer.fit(module, DataLoader(Toy(cfg, 16, "multiclass"), batch_size=4))
    assert len(lrs) == 16
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # linear warm-up over the first epoch
    assert lrs[4] == pytest.approx(1.0) and lrs[-1] < 0.05 and lrs == sorted(lrs[:4]) + sorted(lrs[4:], reverse=True)


def test_non_finite_loss_stops_the_run(tmp_path):
    cfg = small_config((VIDEO, AUDIO), n_classes=2, n_layers=1, fusion_layer=0)
    data = Toy(cfg, 8, "multiclass")
    data.x["audio"][:] = float("nan")
    with pytest.raises(NonFiniteLossError, match="training loss is nan at epoch 0, step 0"):
        _trainer(tmp_path, max_epochs=1).fit(MultimodalTask(cfg, "multiclass"), DataLoader(data, batch_size=4))


def test_unknown_task_is_an_error():
    cfg = small_config((VIDEO, AUDIO), n_classes=2)
    with pytest.raises(ValueError, match="unknown task 'regression'"):
        MultimodalTask(cfg, "regression")
