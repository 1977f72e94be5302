"""The Lightning task around any registered backbone: loss, metrics, optimiser and schedule.

Batches are ``(inputs, target)``: inputs a dict keyed by modality name, target class indices
(``multiclass``, cross-entropy; metrics accuracy and macro F1) or a multi-hot float matrix
(``multilabel``, binary cross-entropy; metric mAP = macro average precision). Metrics are logged
as ``val/acc``, ``val/f1``, ``val/mAP``, ``test/...``. At the start of fitting the task logs
parameters, GMACs and GFLOPs per example (from ``locomt.cost``) and, with every epoch's validation
metrics, training examples per second.

MBT's training recipe, each off by default (``OptimConfig``): ``label_smoothing`` s turns the
training targets into y(1 - s) + s/K (softmax and sigmoid alike, as scenic's
``apply_label_smoothing``; validation and test losses are unsmoothed); ``mixup_alpha`` mixes each
training batch with itself in a random order (:func:`mixup`). Test inputs with a clip axis
(``data.test_clips`` > 1: video/audio (B, K, ...)) are run clip by clip and the K logits of each
item averaged before the metrics.

Missing modalities: batches may carry presence masks (``locomt.models.present_key``); the model
handles them. ``eval_absent`` (set by ``python -m locomt.robust``) removes the named modalities from
every validation and test example; an example then left with nothing is left out of the metrics and
counted in ``eval_left_out``.
"""

from __future__ import annotations

import math
import os
import time

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MultilabelAveragePrecision

from locomt.config import OptimConfig, from_dict, to_dict
from locomt.cost import analytic_cost
from locomt.data.presence import mark_absent
from locomt.models import ModelConfig, build_model, present_key

TASKS = ("multiclass", "multilabel")


def monitor_metric(task: str) -> str:
    """The validation metric that picks the best checkpoint (and that sweeps maximise)."""
    return "val/acc" if task == "multiclass" else "val/mAP"


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite: the run stops (a sweep marks the trial failed)."""


def metric_collection(task: str, n_classes: int) -> MetricCollection:
    if task == "multiclass":
        return MetricCollection({"acc": MulticlassAccuracy(n_classes, average="micro"),
                                 "f1": MulticlassF1Score(n_classes, average="macro")})
    if task == "multilabel":
        return MetricCollection({"mAP": MultilabelAveragePrecision(n_classes, average="macro")})
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def mixup(inputs: dict[str, Tensor], target: Tensor, lam: float, perm: Tensor, task: str,
          n_classes: int) -> tuple[dict[str, Tensor], Tensor]:
    """Mixup (Zhang et al. 2018) of a batch with itself in the order ``perm``: every floating-point
    input becomes ``lam * x + (1 - lam) * x[perm]`` (one lambda and one permutation for all
    modalities, as MBT); integer inputs (text token ids) are returned as they are, for the model to
    mix after embedding (``MultimodalClassifier.forward(token_mix=...)``). Targets are mixed the same
    way, class indices as one-hot rows: the result is float (B, n_classes). Presence masks (bool,
    ``present_key``) become "present in either", as text padding becomes "padding in both"."""
    # an absent modality's input (modality dropout leaves the data in place) is zero before it is mixed
    inputs = {k: torch.where(inputs[present_key(k)].view(-1, *[1] * (v.dim() - 1)), v, 0) if present_key(k) in inputs
              and v.is_floating_point() else v for k, v in inputs.items()}
    mixed = {k: lam * v + (1.0 - lam) * v[perm] if v.is_floating_point() else v for k, v in inputs.items()}
    # a modality's presence (bool): the mixed example has it where either of the two had it
    mixed = {k: v | v[perm] if v.dtype == torch.bool else v for k, v in mixed.items()}
    y = F.one_hot(target, n_classes).float() if task == "multiclass" else target.float()
    return mixed, lam * y + (1.0 - lam) * y[perm]


class MultimodalTask(L.LightningModule):
    """Trains and evaluates ``build_model(model_cfg)`` for a multiclass or multilabel task."""

    def __init__(self, model_cfg: ModelConfig | dict, task: str, optim: OptimConfig | dict = OptimConfig()) -> None:
        super().__init__()
        if isinstance(model_cfg, dict):  # from a checkpoint's hyperparameters
            model_cfg = ModelConfig.from_dict(model_cfg)
        if isinstance(optim, dict):
            optim = from_dict(OptimConfig, optim, "optim")
        # plain data only, so checkpoints load with torch.load(weights_only=True)
        self.save_hyperparameters({"model_cfg": to_dict(model_cfg), "task": task, "optim": to_dict(optim)})
        self.model_cfg, self.task, self.optim = model_cfg, task, optim
        self.model = build_model(model_cfg)
        metrics = metric_collection(task, model_cfg.n_classes)
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self._epoch_start, self._epoch_examples = 0.0, 0
        self.eval_absent: tuple[str, ...] = ()  # modalities removed from every evaluated example
        self.eval_left_out = 0

    def forward(self, inputs: dict[str, Tensor], token_mix: tuple[float, Tensor] | None = None) -> Tensor:
        return self.model(inputs, token_mix)

    def loss(self, logits: Tensor, target: Tensor, label_smoothing: float = 0.0) -> Tensor:
        """Cross-entropy (targets: class indices or rows of class probabilities) or binary
        cross-entropy (multi-hot or mixed float targets), with targets smoothed to y(1 - s) + s/K."""
        if self.task == "multiclass":
            return F.cross_entropy(logits, target, label_smoothing=label_smoothing)
        target = target.float()
        if label_smoothing:
            target = target * (1.0 - label_smoothing) + label_smoothing / target.shape[-1]
        return F.binary_cross_entropy_with_logits(logits, target)

    def _scores(self, logits: Tensor) -> Tensor:
        return logits.softmax(-1) if self.task == "multiclass" else logits.sigmoid()

    def _target_for_metrics(self, target: Tensor) -> Tensor:
        return target if self.task == "multiclass" else target.long()

    def mixup_draw(self, batch_size: int, batch_idx: int) -> tuple[float, Tensor]:
        """Lambda ~ Beta(alpha, alpha) and a permutation of the batch, from a generator seeded with
        Lightning's seed, the rank, the epoch and the batch index (the same on a rerun or a resume)."""
        a = self.optim.mixup_alpha
        seed = int(os.environ.get("PL_GLOBAL_SEED", "0")) % 2**32
        rng = np.random.default_rng([seed, self.global_rank, self.current_epoch, batch_idx])
        return float(rng.beta(a, a)), torch.from_numpy(rng.permutation(batch_size)).to(self.device)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        inputs, target = batch
        token_mix = None
        if self.optim.mixup_alpha > 0:
            lam, perm = self.mixup_draw(target.shape[0], batch_idx)
            inputs, target = mixup(inputs, target, lam, perm, self.task, self.model_cfg.n_classes)
            token_mix = (lam, perm)
        loss = self.loss(self(inputs, token_mix), target, self.optim.label_smoothing)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, step {self.global_step}; "
                "lower optim.lr or check the inputs"
            )
        self._epoch_examples += target.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=target.shape[0])
        return loss

    def _flatten_clips(self, inputs: dict[str, Tensor]) -> tuple[dict[str, Tensor], int]:
        """Inputs with a clip axis (video/audio (B, K, ...)) -> (B * K, ...) with the clips of an item
        adjacent, text (which has no clips) repeated K times; inputs without one are returned as is."""
        with_clips = {m.name for m in self.model_cfg.modalities
                      if inputs[m.name].dim() == len(m.input_shape(1)) + 1}
        counts = {inputs[n].shape[1] for n in with_clips}
        if not counts:
            return inputs, 1
        if len(counts) > 1:
            raise ValueError(f"inputs {sorted(with_clips)} hold different numbers of clips {sorted(counts)}")
        k = counts.pop()
        return {n: v.flatten(0, 1) if n in with_clips else v.repeat_interleave(k, dim=0)
                for n, v in inputs.items()}, k

    def _eval_step(self, batch, metrics: MetricCollection, stage: str) -> None:
        inputs, target = batch
        if self.eval_absent:
            names = tuple(m.name for m in self.model_cfg.modalities)
            inputs, target, left_out = mark_absent(inputs, target, names, self.eval_absent)
            self.eval_left_out += left_out
            if not target.shape[0]:
                return
        inputs, clips = self._flatten_clips(inputs)
        logits = self(inputs)
        if clips > 1:  # multi-clip evaluation: the mean of each item's clip logits
            logits = logits.view(target.shape[0], clips, -1).mean(1)
        self.log(f"{stage}/loss", self.loss(logits, target), batch_size=target.shape[0], sync_dist=True)
        metrics.update(self._scores(logits), self._target_for_metrics(target))
        self.log_dict(metrics, batch_size=target.shape[0])

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics, "test")

    def on_fit_start(self) -> None:
        if self.trainer.ckpt_path is not None:  # a resumed run logged these when it started
            return
        cost = analytic_cost(self.model_cfg)
        stats = {"model/params": float(sum(p.numel() for p in self.model.parameters())),
                 "model/gmacs": cost.gmacs, "model/gflops": cost.gflops}
        for logger in self.loggers:
            logger.log_metrics(stats, step=0)

    def on_train_epoch_start(self) -> None:
        self._epoch_start, self._epoch_examples = time.perf_counter(), 0

    def on_validation_epoch_start(self) -> None:
        """Training examples per second of the epoch (its training batches only), logged with the
        epoch's validation metrics, so that an epoch's log is complete when its checkpoint is written."""
        seconds = time.perf_counter() - self._epoch_start
        if self.trainer.training or self.trainer.sanity_checking or not self._epoch_examples or seconds <= 0:
            return
        self.log("train/examples_per_s", self._epoch_examples / seconds)
        self._epoch_examples = 0

    def configure_optimizers(self):
        o = self.optim
        decay, no_decay = [], []
        for n, p in self.named_parameters():  # no decay on biases, norms, positions and CLS tokens
            (decay if p.ndim >= 2 and "pos" not in n and "cls" not in n else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if o.name == "adamw":
            opt = torch.optim.AdamW(groups, lr=o.lr)
        elif o.name == "sgd":
            opt = torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum)
        else:
            raise ValueError(f"optim.name {o.name!r}; expected adamw or sgd")
        if o.schedule == "constant" and o.warmup_epochs == 0:
            return opt
        total = max(1, int(self.trainer.estimated_stepping_batches))
        epochs = max(1, self.trainer.max_epochs or 1)
        warmup = min(total, int(round(o.warmup_epochs * total / epochs)))
        cosine = o.schedule == "cosine"
        if o.schedule not in ("cosine", "constant"):
            raise ValueError(f"optim.schedule {o.schedule!r}; expected cosine or constant")

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            if not cosine:
                return 1.0
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
