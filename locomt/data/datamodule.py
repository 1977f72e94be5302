"""LightningDataModules over the decoded-item cache (AudioSet, MedVidCL, CSV manifest): memory-mapped, batched reads.

``build_datamodule(cfg)`` returns a :class:`MultimodalDataModule`. ``prepare_data()`` builds the
cache with :func:`locomt.data.build.prepare` when it is not complete (generating synthetic data first
when ``data.synthetic`` asks for it); ``setup()`` opens the cache's arrays with
``np.load(..., mmap_mode="r")``. Training never touches the media files.

A batch is ``(inputs, target)``: ``inputs`` maps each name of ``data.modalities`` (in that order)
to ``video`` float32 (B, 3, T, S, S), ``audio`` float32 (B, n_mels, n_frames) or ``text`` int64
(B, max_len); ``target`` is int64 (B,) class indices (multiclass) or float32 (B, K) multi-hot
(multilabel). Audio is standardised with the training split's mean and standard deviation (kept
in the cache's meta.json). Training batches are shuffled in an order that is a function of
``cfg.seed`` and the epoch (:class:`EpochShuffle`), so a resumed run sees the batches an uninterrupted one does.

With ``data.test_clips`` K > 1 the test split's ``video`` and ``audio`` carry a clip axis,
(B, K, 3, T, S, S) and (B, K, n_mels, n_frames); text and targets do not (the task averages the
clips' logits). With ``data.spec_augment`` set, the audio of training batches is masked
(:func:`locomt.data.augment.spec_augment`) in :meth:`MultimodalDataModule.on_after_batch_transfer`,
that is on the device and only while a Lightning trainer is training: batches drawn from the
loaders directly, and every validation and test batch, are never masked.

Missing modalities (:mod:`locomt.data.presence`): when some item of a split lacks a modality (its
``present.npy`` column is False somewhere), that split's batches carry ``inputs[present_key(name)]``,
bool (B,). ``data.modality_dropout`` drops modalities of training examples in the same place and under
the same conditions as SpecAugment, seeded the same way.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Sampler, SequentialSampler

from locomt.config import ExperimentConfig
from locomt.data.augment import spec_augment
from locomt.data.build import prepare
from locomt.data.cache import Cache, cache_for
from locomt.data.datasets import check_data, ensure_root
from locomt.data.presence import PRESENT, apply_modality_dropout
from locomt.models.model import present_key


class CachedSplit(torch.utils.data.Dataset):
    """One split of a complete cache. Indexed by a list of item indices, it returns a whole batch
    (one fancy-indexed read per array); the memory maps open lazily in each loader process."""

    def __init__(self, cache: Cache, split: str, modalities: tuple[str, ...], task: str,
                 audio_norm: tuple[float, float] | None = None) -> None:
        self.cache, self.split, self.modalities, self.task = cache, split, tuple(modalities), task
        self.audio_norm = audio_norm
        self._arrays: dict[str, np.ndarray] | None = None
        self._len = int(self._open()["labels"].shape[0])
        self.with_presence = self._partial_modalities()

    def _partial_modalities(self) -> tuple[str, ...]:
        """The modalities some item of the split lacks (a cache made before presence was recorded
        has no present.npy: every item has everything)."""
        if not (self.cache.path / self.split / f"{PRESENT}.npy").is_file():
            return ()
        present = np.asarray(self.cache.open_array(self.split, PRESENT))
        self._present_cols = list(self.cache.meta()["modalities"])
        return tuple(m for m in self.modalities
                     if m in self._present_cols and not present[:, self._present_cols.index(m)].all())

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {name: self.cache.open_array(self.split, name) for name in (*self.modalities, "labels")}
        return self._arrays

    def __getstate__(self) -> dict[str, Any]:  # pickle paths, not mapped arrays (spawned loader workers)
        return {**self.__dict__, "_arrays": None}

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int | list[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """A batch of the items at ``index`` (a list), or one item (an int) without the batch axis."""
        single = isinstance(index, (int, np.integer))
        idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        arrays = self._open()

        def take(name: str) -> np.ndarray:
            return np.asarray(arrays[name][sorted_idx])[inverse]  # sorted reads from the memory map

        inputs: dict[str, torch.Tensor] = {}
        for m in self.modalities:
            if m == "text":
                inputs[m] = torch.from_numpy(take(m).astype(np.int64))
            else:
                x = torch.from_numpy(take(m).astype(np.float32))
                if m == "audio" and self.audio_norm is not None:
                    mean, std = self.audio_norm
                    x = (x - mean) / std
                inputs[m] = x
        if self.with_presence:
            present = np.asarray(self.cache.open_array(self.split, PRESENT)[sorted_idx])[inverse]
            for m in self.with_presence:
                inputs[present_key(m)] = torch.from_numpy(present[:, self._present_cols.index(m)].astype(bool))
        labels = take("labels")
        target = torch.from_numpy(labels.astype(np.int64 if self.task == "multiclass" else np.float32))
        if single:
            return {k: v[0] for k, v in inputs.items()}, target[0]
        return inputs, target


class EpochShuffle(Sampler[int]):
    """A random order of ``n`` items that is a function of (``seed``, epoch) alone: Lightning calls
    ``set_epoch`` before every epoch, so a run resumed at epoch k draws the orders an uninterrupted
    run draws (a sampler with one generator seeded once would restart its stream instead)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        state = np.random.SeedSequence([self.seed % 2**32, self.epoch]).generate_state(1)[0]
        yield from torch.randperm(self.n, generator=torch.Generator().manual_seed(int(state))).tolist()

    def __len__(self) -> int:
        return self.n


class EpochBatches(BatchSampler):
    """Batches of a sampler, passing ``set_epoch`` on to it."""

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


class MultimodalDataModule(L.LightningDataModule):
    """Train/val/test loaders over the cache of ``cfg.data`` (see the module docstring)."""

    def __init__(self, cfg: ExperimentConfig, prepare_workers: int | None = None, progress: bool = True) -> None:
        super().__init__()
        check_data(cfg.data)
        self.cfg = cfg
        self.prepare_workers = prepare_workers
        self.progress = progress
        self._cache: Cache | None = None
        self._meta: dict[str, Any] | None = None
        self.splits: dict[str, CachedSplit] = {}
        self._train_batches: EpochBatches | None = None

    # ------------------------------------------------------------------ cache
    @property
    def cache(self) -> Cache:
        """The cache directory of the config (reads the metadata, so the data root must exist)."""
        if self._cache is None:
            ensure_root(self.cfg.data, progress=self.progress)
            self._cache = cache_for(self.cfg.data)
        return self._cache

    def prepare_data(self) -> None:
        """Build the cache unless it is complete (decoding each item once, in worker processes)."""
        if not self.cache.complete:
            prepare(self.cfg.data, workers=self.prepare_workers, progress=self.progress)

    def setup(self, stage: str | None = None) -> None:
        """Open the memory-mapped arrays of every split."""
        if self.splits:
            return
        meta = self.meta
        norm = (meta["audio_mean"], meta["audio_std"]) if "audio_std" in meta else None
        self.splits = {
            s: CachedSplit(self.cache, s, tuple(self.cfg.data.modalities), meta["task"], norm)
            for s in ("train", "val", "test")
        }

    @property
    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            if not self.cache.complete:
                raise RuntimeError(
                    f"cache {self.cache.path} is not built; call prepare_data() first "
                    "(or run python -m locomt.prepare --config ...)"
                )
            self._meta = self.cache.meta()
        return self._meta

    @property
    def task(self) -> str:
        """``multiclass`` or ``multilabel``."""
        return self.meta["task"]

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def n_classes(self) -> int:
        return len(self.meta["class_names"])

    @property
    def vocab_size(self) -> int | None:
        """Size of the word vocabulary built from the training split (None without text)."""
        return self.meta["vocab_size"]

    # ------------------------------------------------------------------ loaders
    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        ds = self.splits[split]
        d = self.cfg.data
        base = EpochShuffle(len(ds), self.cfg.seed) if shuffle else SequentialSampler(ds)
        batches = EpochBatches(base, batch_size=d.batch_size, drop_last=False)
        if shuffle:
            self._train_batches = batches
        return DataLoader(
            ds,
            sampler=batches,
            batch_size=None,  # the dataset returns whole batches
            num_workers=d.num_workers,
            persistent_workers=d.num_workers > 0,
        )

    def set_epoch(self, epoch: int) -> None:
        """Order the training batches of ``epoch`` (Lightning does so through the sampler too; a
        distributed run wraps the sampler, so the run's callback calls this as well)."""
        if self._train_batches is not None:
            self._train_batches.set_epoch(epoch)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    # ------------------------------------------------------------------ augmentation
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """SpecAugment on the audio of training batches (see the module docstring), from a generator
        seeded with ``cfg.seed``, the rank and the global step: the same masks on a rerun or resume."""
        trainer = self.trainer
        if trainer is None or not trainer.training:
            return batch
        inputs, target = batch
        if self.cfg.data.modality_dropout:
            inputs = apply_modality_dropout(inputs, tuple(self.cfg.data.modalities), self.cfg.data.modality_dropout,
                                            [self.cfg.seed, trainer.global_rank, trainer.global_step])
        sa = self.cfg.data.spec_augment
        if not sa.enabled or "audio" not in inputs:
            return inputs, target
        seed = np.random.SeedSequence([self.cfg.seed % 2**32, trainer.global_rank, trainer.global_step])
        gen = torch.Generator().manual_seed(int(seed.generate_state(1)[0]))
        return {**inputs, "audio": spec_augment(inputs["audio"], sa, gen)}, target


def build_datamodule(cfg: ExperimentConfig, prepare_workers: int | None = None,
                     progress: bool = True) -> MultimodalDataModule:
    """The data module of ``cfg.data.dataset`` (one of :func:`locomt.data.datasets.list_datasets`)."""
    return MultimodalDataModule(cfg, prepare_workers=prepare_workers, progress=progress)
