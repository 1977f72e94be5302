"""What only the machine or the data can decide, checked before a run writes anything: whether the
trainer section fits this machine (``trainer.accelerator=gpu`` without one, a device count it lacks,
a strategy or precision Lightning refuses, a logger whose optional package is not installed),
whether the model's parameters fit in its memory at all, and whether every split has items to
train, select and test on. Errors are one line naming the keys and values, or the split, its count
and the report that lists the media it lacks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from locomt.config import ConfigError, ExperimentConfig, TrainerConfig
from locomt.data.cache import MISSING_MODALITY, SPLITS, Cache
from locomt.procs import cpu_cores
from locomt.runs.loggers import check_loggers

_LIGHTNING_LOGS = ("lightning.pytorch", "lightning.fabric")


def trainer_keys(t: TrainerConfig) -> str:
    return (f"trainer.accelerator={t.accelerator!r}, trainer.devices={t.devices!r}, "
            f"trainer.strategy={t.strategy!r}, trainer.precision={t.precision!r}")


def check_device(t: TrainerConfig) -> None:
    """ConfigError when ``trainer.accelerator`` names a device kind this machine does not have."""
    import torch

    if t.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.accelerator={t.accelerator!r}: this machine has no CUDA GPU that torch can use "
                          "(torch.cuda.is_available() is False); expected cpu or auto")
    if t.accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.accelerator='mps': this machine has no Apple MPS device; expected cpu or auto")
    on_cpu = t.accelerator == "cpu" or (t.accelerator == "auto" and not torch.cuda.is_available())
    cores = cpu_cores()
    n = int(t.devices) if isinstance(t.devices, (int, str)) and str(t.devices).strip().isdigit() else None
    if on_cpu and n is not None and n > cores:
        raise ConfigError(f"trainer.devices={t.devices!r}: training on CPU runs one process per device and this "
                          f"machine has {cores} CPU cores; expected at most {cores}")


@contextmanager
def trainer_errors(t: TrainerConfig) -> Iterator[None]:
    """Lightning's refusal of the trainer section (while building a Trainer) as one ConfigError line."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as err:  # MisconfigurationException, ValueError, RuntimeError, ImportError ...
        if type(err).__module__.startswith("locomt"):
            raise
        reason = " ".join(str(err).split())[:300] or type(err).__name__
        raise ConfigError(f"{trainer_keys(t)}: {reason}") from None


@contextmanager
def quiet_lightning_info() -> Iterator[None]:
    """Lightning's info lines ("GPU available: ...") off for a Trainer built only to be checked."""
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def check_trainer(t: TrainerConfig, precision: str) -> None:
    """Build (and drop) a Lightning Trainer from the trainer section: a bad combination is a one-line
    ConfigError before any output exists, and so is a logger whose package is missing. Writes nothing."""
    import lightning as L

    check_device(t)
    check_loggers(t.loggers)
    with trainer_errors(t), quiet_lightning_info():
        L.Trainer(accelerator=t.accelerator, devices=t.devices, strategy=t.strategy, precision=precision,
                  logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)


BYTES_PER_PARAM = 16  # float32 weights, gradients and AdamW's two moments


def parameter_bound(exp: ExperimentConfig) -> int:
    """An upper bound of the model's parameter count from the config alone (nothing is built): a
    block per modality in every layer (fused layers have one), 4 d^2 of attention and 2 r d^2 of MLP
    per block, and the text embedding."""
    m = exp.model
    blocks = m.n_layers * len(exp.data.modalities)
    embed = exp.data.text.vocab_size * m.d_model if "text" in exp.data.modalities else 0
    return int(blocks * (4 + 2 * m.mlp_ratio) * m.d_model**2 + embed)


def memory_bytes(accelerator: str) -> int:
    """Memory of the device a run trains on: the first GPU's, or this machine's RAM."""
    import torch

    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(0).total_memory)
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_memory(exp: ExperimentConfig) -> None:
    """ConfigError when the model's weights, gradients and optimiser state alone cannot fit in the
    device's memory (``model.d_model=100000``), before any data is decoded; not an activation budget."""
    need = parameter_bound(exp) * BYTES_PER_PARAM
    have = memory_bytes(exp.trainer.accelerator)
    if need > have:
        m = exp.model
        raise ConfigError(f"model.d_model={m.d_model}, model.n_layers={m.n_layers}, model.mlp_ratio={m.mlp_ratio:g}: "
                          f"up to {parameter_bound(exp):.3g} parameters, about {need / 1e9:.3g} GB with gradients and "
                          f"optimiser state; the device has {have / 1e9:.3g} GB")


def skipped_by_split(cache: Cache) -> dict[str, int]:
    """How many items of each split the cache's report.csv lists as skipped (not the items it lists
    as kept without a modality)."""
    counts = dict.fromkeys(SPLITS, 0)
    for row in cache.read_report():
        if row.get("split") in counts and row.get("kind") != MISSING_MODALITY:
            counts[row["split"]] += 1
    return counts


def check_splits(cache: Cache, counts: dict[str, int], min_items: int = 1) -> None:
    """ValueError naming the first split with fewer than ``min_items`` items (one per process), how
    many it has, how many were skipped and the report that lists them."""
    skipped = skipped_by_split(cache)
    use = {"train": "to train on", "val": "to select the best epoch with", "test": "to test on"}
    for split in SPLITS:
        n = counts.get(split, 0)
        if n >= min_items:
            continue
        report = Path(cache.path) / "report.csv"
        why = (f"{skipped[split]} of its {n + skipped[split]} items were skipped for missing or unusable media, "
               f"listed in {report}") if skipped[split] else f"none were skipped (see {report})"
        per = f" (one per process: {min_items} processes)" if min_items > 1 else ""
        raise ValueError(f"split {split!r} has {n} item{'s' * (n != 1)}: {why}; expected at least {min_items}"
                         f"{per} {use[split]}")

