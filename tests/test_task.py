"""The Lightning task: losses and metrics per task type, schedule, non-finite loss, a real fit,
label smoothing and mixup."""

import math

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from locomt.config import OptimConfig
from locomt.models import example_inputs
from locomt.task import MultimodalTask, NonFiniteLossError, mixup

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


@pytest.mark.slow
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


# ------------------------------------------------------------------ MBT's recipe: smoothing, mixup


def _log_sigmoid(z: float) -> float:
    return -math.log1p(math.exp(-z))


def test_label_smoothing_is_the_formula():
    """Training targets y(1 - s) + s/K, for softmax (class indices) and sigmoid (multi-hot) losses."""
    s = 0.3
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    mc = MultimodalTask(small_config((VIDEO, AUDIO), n_classes=3), "multiclass")
    want = 0.0
    for row, cls in zip(logits.tolist(), [0, 2]):
        log_z = math.log(sum(math.exp(v) for v in row))
        q = [(1 - s) * (k == cls) + s / 3 for k in range(3)]
        want -= sum(qk * (v - log_z) for qk, v in zip(q, row)) / 2
    assert float(mc.loss(logits, torch.tensor([0, 2]), s)) == pytest.approx(want, rel=1e-6)
    assert float(mc.loss(logits, torch.tensor([0, 2]))) < want  # unsmoothed: the plain cross-entropy

    ml = MultimodalTask(small_config((VIDEO, AUDIO), n_classes=3), "multilabel")
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    want = 0.0
    for zrow, yrow in zip(logits.tolist(), y.tolist()):
        for z, t in zip(zrow, yrow):
            q = t * (1 - s) + s / 3
            want -= (q * _log_sigmoid(z) + (1 - q) * _log_sigmoid(-z)) / 6
    assert float(ml.loss(logits, y, s)) == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match=r"label_smoothing=1.0: expected a number in \[0.0, 1.0\)"):
        OptimConfig(label_smoothing=1.0)


def test_mixup_is_the_convex_combination():
    cfg = small_config(n_classes=5)
    x = example_inputs(cfg, batch=4)
    perm = torch.tensor([2, 0, 3, 1])
    mixed, y = mixup(x, torch.tensor([0, 1, 4, 4]), 0.3, perm, "multiclass", 5)
    for name in ("video", "audio"):
        assert torch.equal(mixed[name], 0.3 * x[name] + 0.7 * x[name][perm])
    assert mixed["text"] is x["text"]  # token ids are mixed after the embedding, inside the model
    one_hot = torch.eye(5)[[0, 1, 4, 4]]
    assert torch.equal(y, 0.3 * one_hot + 0.7 * one_hot[perm])
    hot = torch.tensor([[1, 0], [1, 1], [0, 0], [0, 1]], dtype=torch.float32)
    _, y = mixup(x, hot, 0.6, perm, "multilabel", 2)
    assert torch.equal(y, 0.6 * hot + 0.4 * hot[perm])


class _Batches(Dataset):
    def __init__(self, batch):
        self.batch = batch

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return self.batch


def test_training_step_mixes_every_modality_and_evaluation_never_does(tmp_path, monkeypatch):
    cfg = small_config(n_classes=5, n_layers=1, fusion_layer=0)
    batch = (example_inputs(cfg, batch=4), torch.tensor([0, 1, 4, 4]))
    module = MultimodalTask(cfg, "multiclass", OptimConfig(mixup_alpha=0.5, label_smoothing=0.1))
    seen = []
    module.model.register_forward_pre_hook(lambda m, args, kwargs: seen.append((args, kwargs)), with_kwargs=True)
    perm = torch.tensor([3, 2, 1, 0])
    monkeypatch.setattr(module, "mixup_draw", lambda b, i: (0.25, perm))
    losses = []
    real_loss = module.loss
    monkeypatch.setattr(module, "loss", lambda *a: losses.append(a) or real_loss(*a))
    module.training_step(batch, 0)
    (inputs, token_mix), _ = seen.pop()
    want_x, want_y = mixup(*batch, 0.25, perm, "multiclass", 5)
    assert all(torch.equal(inputs[k], want_x[k]) for k in want_x) and token_mix == (0.25, perm)
    assert torch.equal(losses[-1][1], want_y) and losses[-1][2] == 0.1

    # evaluation: the batch as it comes, no token mixing, unsmoothed loss
    trainer = _trainer(tmp_path, max_epochs=1)
    loader = DataLoader(_Batches(batch), batch_size=None)
    trainer.validate(module, loader, verbose=False)
    trainer.test(module, loader, verbose=False)
    assert len(seen) == 2
    for (inputs, token_mix), _ in seen:
        assert all(torch.equal(inputs[k], batch[0][k]) for k in inputs) and token_mix is None
    assert all(len(a) == 2 for a in losses[1:])

    # mixup off: the training batch is not touched and no lambda is drawn
    plain = MultimodalTask(cfg, "multiclass", OptimConfig())
    plain.model.register_forward_pre_hook(lambda m, args, kwargs: seen.append((args, kwargs)), with_kwargs=True)
    monkeypatch.setattr(plain, "mixup_draw", lambda b, i: pytest.fail("mixup drawn with mixup_alpha=0"))
    plain.training_step(batch, 0)
    (inputs, token_mix), _ = seen.pop()
    assert all(inputs[k] is batch[0][k] for k in inputs) and token_mix is None


def test_mixup_draws_are_seeded():
    module = MultimodalTask(small_config((VIDEO, AUDIO), n_classes=2), "multiclass", OptimConfig(mixup_alpha=0.5))
    L.seed_everything(0, verbose=False)
    lam, perm = module.mixup_draw(16, batch_idx=3)
    assert 0 < lam < 1 and sorted(perm.tolist()) == list(range(16))
    again = module.mixup_draw(16, batch_idx=3)
    assert again[0] == lam and torch.equal(again[1], perm)
    assert module.mixup_draw(16, batch_idx=4)[0] != lam
    L.seed_everything(1, verbose=False)
    assert module.mixup_draw(16, batch_idx=3)[0] != lam
