"""Consolidation: the decoded items of a cache become per-split arrays, tokenizer, items.csv and meta.json."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from locomt.data.cache import PRESENT, SPLITS, Cache, cache_key
from locomt.data.datasets import DatasetPlan
from locomt.data.text import WordTokenizer
from locomt.io import atomic_write_csv

if TYPE_CHECKING:
    from locomt.config import DataConfig


def consolidate(cache: Cache, plan: DatasetPlan, data: DataConfig, errors: dict) -> dict[str, int]:
    """Write tokenizer, per-split arrays and items.csv, meta.json and the COMPLETE marker, once every item
    of ``plan`` is decoded into ``cache`` or listed in ``errors`` (by :func:`locomt.data.build.prepare`)."""
    kept = {s: [it for it in plan.items if it.split == s and (s, it.row) not in errors] for s in SPLITS}
    if not kept["train"]:
        raise ValueError(
            f"no usable training items in {data.root} (every one is listed in {cache.path / 'report.csv'}); "
            "expected at least one decodable clip in the train split"
        )
    mods = tuple(data.modalities)
    K = len(plan.class_names)
    vocab_size = None
    tokenizer = None
    if "text" in mods:
        tokenizer = WordTokenizer.build((it.text for it in kept["train"]), data.text.vocab_size, data.text.min_count)
        tokenizer.save(cache.path / "tokenizer.json")
        vocab_size = tokenizer.vocab_size
    shapes = {
        "video": ((3, data.video.num_frames, data.video.size, data.video.size), np.float16),
        "audio": ((data.audio.n_mels, data.audio.n_frames), np.float16),
    }
    missing: dict[str, dict[str, int]] = {}
    for split, items in kept.items():
        clips = (data.test_clips,) if split == "test" and data.test_clips > 1 else ()
        present = np.ones((len(items), len(mods)), dtype=bool)
        stored = [_stored(cache, split, it.row) for it in items]
        for j, m in enumerate(mods):
            if m in shapes:
                present[:, j] = [m in names for names in stored]
            elif m == "text":
                present[:, j] = [bool(it.text.strip()) for it in items]
        for m in mods:
            if m in shapes:
                shape, dtype = shapes[m]
                rows = _LazyRows(cache, split, [it.row for it in items], m, clips + shape, dtype)
                cache.write_array(split, m, rows, dtype, clips + shape)
        cache.write_array(split, PRESENT, present, bool, (len(mods),))
        missing[split] = {m: int((~present[:, j]).sum()) for j, m in enumerate(mods)}
        if tokenizer is not None:
            ids = tokenizer.encode_batch([it.text for it in items], data.text.max_len).astype(np.int32)
            cache.write_array(split, "text", ids, np.int32, (data.text.max_len,))
        if plan.task == "multiclass":
            labels = np.array([it.labels[0] for it in items], dtype=np.int64)
            cache.write_array(split, "labels", labels, np.int64, ())
        else:
            hot = np.zeros((len(items), K), dtype=np.uint8)
            for i, it in enumerate(items):
                hot[i, list(it.labels)] = 1
            cache.write_array(split, "labels", hot, np.uint8, (K,))
        table = pd.DataFrame({
            "row": [it.row for it in items],
            "id": [it.item_id for it in items],
            "video": [str(it.files.video or "") for it in items],
            "audio": [str(it.files.audio or "") for it in items],
            "labels": [";".join(plan.class_names[i] for i in it.labels) for it in items],
        })
        atomic_write_csv(table, cache.path / split / "items.csv")
    meta: dict[str, Any] = {
        "dataset": plan.dataset,
        "task": plan.task,
        "class_names": list(plan.class_names),
        "modalities": list(mods),
        "counts": {s: len(kept[s]) for s in SPLITS},
        "skipped": len(errors),
        "missing_modality": missing,  # per split and modality: items kept without it
        "vocab_size": vocab_size,
        "test_clips": data.test_clips,
        "key": cache_key(data),
    }
    if "audio" in mods:
        has_audio = np.load(cache.path / "train" / f"{PRESENT}.npy")[:, mods.index("audio")]
        meta["audio_mean"], meta["audio_std"] = _mean_std(cache.open_array("train", "audio"), has_audio)
    cache.mark_complete(meta)
    return meta["counts"]


class _LazyRows:
    """A sequence view of one modality of the stored items, read one item at a time."""

    def __init__(self, cache: Cache, split: str, rows: list[int], name: str, shape: tuple[int, ...] = (),
                 dtype: Any = np.float16) -> None:
        self.cache, self.split, self.rows, self.name = cache, split, rows, name
        self.shape, self.dtype = shape, dtype

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> np.ndarray:
        with np.load(self.cache.item_path(self.split, self.rows[i])) as z:
            if self.name not in z.files:  # kept without this modality: zeros, marked in present.npy
                return np.zeros(self.shape, self.dtype)
            return z[self.name]


def _stored(cache: Cache, split: str, row: int) -> set[str]:
    """The arrays one stored item holds (its zip directory only, no data read)."""
    with np.load(cache.item_path(split, row)) as z:
        return set(z.files)


def _mean_std(arr: np.ndarray, keep: np.ndarray | None = None, chunk: int = 256) -> tuple[float, float]:
    """Mean and standard deviation of a (memory-mapped) array, in float64 chunks, over the rows
    ``keep`` marks (all rows without it)."""
    total, sq, n = 0.0, 0.0, 0
    for i in range(0, len(arr), chunk):
        x = np.asarray(arr[i : i + chunk], dtype=np.float64)
        if keep is not None:
            x = x[keep[i : i + chunk]]
        total += float(x.sum())
        sq += float((x * x).sum())
        n += x.size
    mean = total / max(n, 1)
    return mean, float(np.sqrt(max(sq / max(n, 1) - mean * mean, 1e-12)))
