"""Randomness that depends on where training is, not on how it got there, so a run resumed at an
epoch boundary goes on exactly as an uninterrupted one with the same seed.

Lightning restores the weights, optimiser, schedule and step counters from a checkpoint, but not the
random streams: a resumed run would draw other batch orders and other dropout masks. With
:class:`PositionSeeds` the training order of epoch e is a function of (seed, e) (the data module's
``set_epoch``) and the global random state (dropout, stochastic depth) is seeded before every
training batch from (seed, rank, epoch, batch index). Mixup and SpecAugment already draw from
generators seeded the same way (``locomt.task``, ``locomt.data.datamodule``).
"""

from __future__ import annotations

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback


class PositionSeeds(Callback):
    """Seeds the epoch's batch order and each batch's random state from the training position."""

    def __init__(self, seed: int) -> None:
        self.seed = seed % 2**32

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        set_epoch = getattr(trainer.datamodule, "set_epoch", None)
        if callable(set_epoch):  # also under a distributed sampler, which hides the data module's own
            set_epoch(trainer.current_epoch)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        state = np.random.SeedSequence([self.seed, trainer.global_rank, trainer.current_epoch, batch_idx])
        torch.manual_seed(int(state.generate_state(1)[0]))
