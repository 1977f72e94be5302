"""A run's checkpoints: written atomically, ``last.ckpt`` always the newest finished epoch, and read
back, or refused with one line, when the run resumes.

``AtomicCheckpointIO`` writes every checkpoint to a temporary file beside its target, flushes it to
disk and renames it (Lightning's own "atomic" save goes through the system temp folder and copies
across file systems, which a full disk truncates). ``LastCheckpoint`` writes ``checkpoints/last.ckpt``
after every epoch's validation, once the loggers hold (and have flushed) everything the epoch
logged, so a run's log never has an epoch its checkpoint lacks. ``resume_point`` checks
``last.ckpt`` before anything else runs: an empty, truncated or corrupt file is a ``CheckpointError``
naming it and what is wrong, never a silent fresh start.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint

from locomt.io import atomic_path, unreadable_reason

CHECKPOINT_DIR = "checkpoints"
LAST = "last.ckpt"
BEST = "best"  # best.ckpt: the epoch with the best monitored validation metric


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from (the message names it and says why)."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written beside their target, flushed and renamed: never half a file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        buffer = io.BytesIO()  # serialised in memory first, as Lightning does: torch.save onto a full disk
        torch.save(checkpoint, buffer)  # raises a RuntimeError from its zip writer, Python's write an OSError
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(buffer.getbuffer())


class LastCheckpoint(Checkpoint):
    """``last.ckpt`` at the end of every epoch (after its validation), the loggers flushed first."""

    def __init__(self, dirpath: str | Path) -> None:
        self.path = Path(dirpath) / LAST

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        for logger in trainer.loggers:
            logger.save()
        trainer.save_checkpoint(self.path, weights_only=False)


class BestCheckpoint(ModelCheckpoint):
    """``best.ckpt``: Lightning's ModelCheckpoint whose state follows the run directory when it moves
    (Lightning keeps absolute paths and drops the best score of a run resumed elsewhere)."""

    @property
    def state_key(self) -> str:  # the key ModelCheckpoint's state has in checkpoints written before this class
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old, new = state_dict.get("dirpath"), self.dirpath
        if old and new and old != new:
            def moved(p: Any) -> Any:
                return new + p[len(old):] if isinstance(p, str) and p.startswith(old) else p

            state_dict = {k: moved(v) for k, v in state_dict.items()}
            state_dict["best_k_models"] = {moved(k): v for k, v in state_dict.get("best_k_models", {}).items()}
            state_dict["dirpath"] = new
        super().load_state_dict(state_dict)


@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed run goes on: its checkpoint, the epoch that checkpoint finished, its step."""

    path: Path
    epoch: int
    global_step: int


def read_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning training checkpoint's top level (tensors memory-mapped, not read); CheckpointError
    naming the file and what is wrong with it otherwise."""
    path = Path(path)
    reason = unreadable_reason(path)
    if reason is None and not zipfile.is_zipfile(path):
        reason = f"is not a checkpoint ({path.stat().st_size} bytes that are no zip archive, which torch.save writes)"
    if reason is not None:  # empty, truncated, corrupt or something else: known before loading it
        raise CheckpointError(f"checkpoint {path} {reason}; it cannot be resumed from")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # unpickling errors, a file that is no torch checkpoint, ...
        raise CheckpointError(f"checkpoint {path} {unreadable_reason(path, err)}; it cannot be resumed from") from None
    missing = [k for k in ("epoch", "global_step", "state_dict", "loops") if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path} is not a Lightning training checkpoint (it has no "
                              f"{', '.join(map(repr, missing))}); it cannot be resumed from")
    return ckpt


def resume_point(run_dir: str | Path) -> ResumePoint | None:
    """The resume point of a run (its ``last.ckpt``, checked), or None when no epoch has finished."""
    path = Path(run_dir) / CHECKPOINT_DIR / LAST
    if not path.exists():
        return None
    ckpt = read_training_checkpoint(path)
    return ResumePoint(path, int(ckpt["epoch"]), int(ckpt["global_step"]))
