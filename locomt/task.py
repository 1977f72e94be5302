"""The Lightning task around any registered backbone: loss, metrics, optimiser and schedule.

Batches are ``(inputs, target)``: inputs a dict keyed by modality name, target class indices
(``multiclass``, cross-entropy; metrics accuracy and macro F1) or a multi-hot float matrix
(``multilabel``, binary cross-entropy; metric mAP = macro average precision). Metrics are logged
as ``val/acc``, ``val/f1``, ``val/mAP``, ``test/...``. At the start of fitting the task logs
parameters, GMACs and GFLOPs per example (from ``locomt.cost``) and, after every training epoch,
examples per second.
"""

from __future__ import annotations

import math
import time

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MultilabelAveragePrecision

from locomt.config import OptimConfig, from_dict, to_dict
from locomt.cost import analytic_cost
from locomt.models import ModelConfig, build_model

TASKS = ("multiclass", "multilabel")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite: the run stops (a sweep marks the trial failed)."""


def metric_collection(task: str, n_classes: int) -> MetricCollection:
    if task == "multiclass":
        return MetricCollection({"acc": MulticlassAccuracy(n_classes, average="micro"),
                                 "f1": MulticlassF1Score(n_classes, average="macro")})
    if task == "multilabel":
        return MetricCollection({"mAP": MultilabelAveragePrecision(n_classes, average="macro")})
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


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

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        return self.model(inputs)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        if self.task == "multiclass":
            return F.cross_entropy(logits, target)
        return F.binary_cross_entropy_with_logits(logits, target.float())

    def _scores(self, logits: Tensor) -> Tensor:
        return logits.softmax(-1) if self.task == "multiclass" else logits.sigmoid()

    def _target_for_metrics(self, target: Tensor) -> Tensor:
        return target if self.task == "multiclass" else target.long()

    def training_step(self, batch, batch_idx: int) -> Tensor:
        inputs, target = batch
        loss = self.loss(self(inputs), target)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, step {self.global_step}; "
                "lower optim.lr or check the inputs"
            )
        self._epoch_examples += target.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=target.shape[0])
        return loss

    def _eval_step(self, batch, metrics: MetricCollection, stage: str) -> None:
        inputs, target = batch
        logits = self(inputs)
        self.log(f"{stage}/loss", self.loss(logits, target), batch_size=target.shape[0], sync_dist=True)
        metrics.update(self._scores(logits), self._target_for_metrics(target))
        self.log_dict(metrics, batch_size=target.shape[0])

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics, "test")

    def on_fit_start(self) -> None:
        cost = analytic_cost(self.model_cfg)
        stats = {"model/params": float(sum(p.numel() for p in self.model.parameters())),
                 "model/gmacs": cost.gmacs, "model/gflops": cost.gflops}
        if self.logger is not None:
            self.logger.log_metrics(stats, step=0)

    def on_train_epoch_start(self) -> None:
        self._epoch_start, self._epoch_examples = time.perf_counter(), 0

    def on_train_epoch_end(self) -> None:
        seconds = time.perf_counter() - self._epoch_start
        if seconds > 0:
            self.log("train/examples_per_s", self._epoch_examples / seconds)

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
