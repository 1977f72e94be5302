"""The decoded-item cache: a key over every preprocessing parameter, atomic per-item files, memory-mapped arrays.

Layout of one cache (``DATA.cache_dir/<dataset>-<digest>/``, :func:`cache_for`; the digest being
the first 16 hex digits of the SHA-256 of ``key.json``)::

    key.json                      everything that decides the decoded items (:func:`cache_key`)
    items/<split>/<row>.npz       one decoded item (float16 video/audio), renamed into place when whole
    items/<split>/<row>.err.json  one item that could not be used: {"path", "kind", "reason"}
    items/<split>/<row>.note.json an item kept without a modality: {"path", "kind": "missing-modality", "reason"}
    <split>/video.npy             float16 (N, 3, T, S, S)        } written by consolidate(),
    <split>/audio.npy             float16 (N, n_mels, n_frames)  } each under a temporary name
    <split>/text.npy              int32 (N, max_len)             } and renamed when complete
    <split>/labels.npy            int64 (N,) class indices | uint8 (N, K) multi-hot
    <split>/present.npy           bool (N, m): item has modality (data.modalities order; zeros where not)
    <split>/items.csv             row (in the split's metadata), id, media paths, label names
    tokenizer.json                the WordTokenizer, built from the kept training items only
    report.csv                    every skipped item, and every item kept without a modality
                                  (kind missing-modality): split, id, path, kind, reason
    meta.json                     task, class names, counts, vocabulary size, audio mean/std
    COMPLETE                      written last: the cache is whole

Items are keyed by their row in the split's metadata, which the key pins (it holds a hash of the
metadata files). A temporary file (``.name.tmp``) is never read, so a run killed at any point
leaves only whole items, and the next run decodes just the rest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from locomt.data.datasets import check_data
from locomt.io import atomic_path, atomic_write_bytes, atomic_write_csv, atomic_write_text

if TYPE_CHECKING:
    from locomt.config import DataConfig

FORMAT_VERSION = 1
COMPLETE = "COMPLETE"
REPORT_COLUMNS = ("split", "id", "path", "kind", "reason")
ITEM_MODALITIES = ("video", "audio")  # decoded from media; text is tokenized at consolidation
SPLITS = ("train", "val", "test")
PRESENT = "present"  # the array of a split marking which items have which modality: bool (N, m)
MISSING_MODALITY = "missing-modality"  # report.csv's kind of an item kept without a modality (not skipped)


def file_digest(paths: Iterable[str | os.PathLike]) -> str:
    """SHA-256 over the names and bytes of ``paths`` (the metadata files a cache was built from)."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def key_digest(key: dict[str, Any]) -> str:
    """The short digest naming the cache directory of ``key``."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def media_error_kind(reason: str) -> str:
    """A short category of a MediaError reason: missing, empty, silent, no_stream or corrupt."""
    r = reason.lower()
    if "missing" in r:
        return "missing"
    if "zero-length" in r or "no frames" in r or "no samples" in r:
        return "empty"
    if "silent" in r:
        return "silent"
    if "no video stream" in r or "no audio stream" in r:
        return "no_stream"
    return "corrupt"


class Cache:
    """One cache directory (see the module docstring for its layout)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # ------------------------------------------------------------------ state
    @property
    def complete(self) -> bool:
        return (self.path / COMPLETE).is_file()

    def write_key(self, key: dict[str, Any]) -> None:
        """Create the directory and record its key (an existing, different key is an error)."""
        p = self.path / "key.json"
        text = json.dumps(key, indent=2, sort_keys=True) + "\n"
        if p.is_file() and json.loads(p.read_text()) != json.loads(text):
            raise ValueError(f"{p} holds another cache key; expected {key_digest(key)} (delete {self.path} to rebuild)")
        if not p.is_file():
            atomic_write_text(p, text)

    def meta(self) -> dict[str, Any]:
        """meta.json of a complete cache."""
        if not self.complete:
            raise FileNotFoundError(f"cache {self.path} is not complete; run python -m locomt.prepare first")
        return json.loads((self.path / "meta.json").read_text())

    # ------------------------------------------------------------------ items
    def item_path(self, split: str, row: int) -> Path:
        return self.path / "items" / split / f"{row:07d}.npz"

    def error_path(self, split: str, row: int) -> Path:
        return self.path / "items" / split / f"{row:07d}.err.json"

    def done(self, split: str, row: int) -> bool:
        """True when the item was decoded or recorded as unusable by an earlier run."""
        return self.item_path(split, row).is_file() or self.error_path(split, row).is_file()

    def write_item(self, split: str, row: int, arrays: dict[str, np.ndarray]) -> Path:
        """Store one decoded item atomically."""
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        path = self.item_path(split, row)
        atomic_write_bytes(path, buf.getvalue())
        return path

    def read_item(self, split: str, row: int) -> dict[str, np.ndarray]:
        with np.load(self.item_path(split, row)) as z:
            return {k: z[k] for k in z.files}

    def write_error(self, split: str, row: int, path: str, kind: str, reason: str) -> None:
        record = {"path": str(path), "kind": kind, "reason": reason}
        atomic_write_text(self.error_path(split, row), json.dumps(record) + "\n")

    def note_path(self, split: str, row: int) -> Path:
        return self.path / "items" / split / f"{row:07d}.note.json"

    def write_note(self, split: str, row: int, note: dict[str, str]) -> None:
        """Record that an item is kept without a modality (report.csv's ``missing-modality`` row)."""
        atomic_write_text(self.note_path(split, row), json.dumps(note) + "\n")

    def read_note(self, split: str, row: int) -> dict[str, str] | None:
        p = self.note_path(split, row)
        return json.loads(p.read_text()) if p.is_file() else None

    def read_error(self, split: str, row: int) -> dict[str, str] | None:
        p = self.error_path(split, row)
        return json.loads(p.read_text()) if p.is_file() else None

    def read_report(self) -> list[dict[str, str]]:
        """The rows of report.csv (none when it does not exist)."""
        p = self.path / "report.csv"
        if not p.is_file():
            return []
        return pd.read_csv(p, dtype=str, keep_default_na=False).to_dict("records")

    def write_report(self, rows: Sequence[dict[str, str]]) -> Path:
        """report.csv: one line per skipped item (an empty table when none)."""
        return atomic_write_csv(pd.DataFrame(list(rows), columns=list(REPORT_COLUMNS)), self.path / "report.csv")

    # ------------------------------------------------------------------ consolidated arrays
    def write_array(self, split: str, name: str, rows: Sequence[np.ndarray], dtype: Any,
                    shape: tuple[int, ...]) -> Path:
        """``<split>/<name>.npy`` of ``rows`` stacked (each of ``shape``), filled through a memmap and renamed."""
        out = self.path / split / f"{name}.npy"
        full = (len(rows), *shape)
        with atomic_path(out) as tmp:
            if len(rows) == 0:
                with open(tmp, "wb") as f:  # np.memmap cannot map zero bytes
                    np.save(f, np.zeros(full, dtype=dtype), allow_pickle=False)
            else:
                arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=full)
                _reserve(tmp)  # a full disk is an OSError here, not a SIGBUS while the map is filled
                for i, r in enumerate(rows):
                    arr[i] = r
                arr.flush()
                del arr
        return out

    def open_array(self, split: str, name: str) -> np.ndarray:
        """A read-only memory map of ``<split>/<name>.npy``."""
        return np.load(self.path / split / f"{name}.npy", mmap_mode="r")

    def mark_complete(self, meta: dict[str, Any]) -> None:
        """Write meta.json, then the COMPLETE marker (last, so a reader never sees a partial cache)."""
        atomic_write_text(self.path / "meta.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
        atomic_write_text(self.path / COMPLETE, json.dumps(meta.get("counts", {})) + "\n")


def _reserve(path: Path) -> None:
    """Allocate the blocks of a (sparse) file, so that writing through a memory map cannot run out of disk."""
    if hasattr(os, "posix_fallocate"):
        with open(path, "rb+") as f:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)


def cache_key(data: DataConfig) -> dict[str, Any]:
    """Everything that decides the cached items: format version, dataset, resolved roots, a hash of
    the metadata files, the modalities and the settings of each (video, audio with skip_silent,
    text), the dataset's split settings (:meth:`~locomt.data.datasets.Dataset.key_settings`: for
    AudioSet the validation slice, val_fraction and split_seed), and ``test_clips`` when it is more
    than 1 (so caches made before multi-clip evaluation keep their keys), and ``missing_modalities:
    keep`` unless ``data.require_modalities`` (which keeps the key caches had before). Modality
    dropout is a training-time setting, not in the key."""
    ds = check_data(data)
    mods = set(data.modalities)
    key: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "dataset": data.dataset,
        "root": str(Path(data.root).resolve()),
        "media_root": str(ds.media_root(data).resolve()),
        "metadata_sha256": file_digest(ds.metadata_files(data)),
        "modalities": sorted(mods),
    }
    if "video" in mods:
        key["video"] = data.video.to_dict()
    if "audio" in mods:
        key["audio"] = data.audio.to_dict()
        key["skip_silent"] = data.skip_silent
    if "text" in mods:
        key["text"] = dataclasses.asdict(data.text)
    key.update(ds.key_settings(data))
    if data.test_clips > 1:
        key["test_clips"] = data.test_clips
    if not data.require_modalities:  # items lacking a stream are kept (require_modalities: the key before)
        key["missing_modalities"] = "keep"
    return json.loads(json.dumps(key))  # tuples as lists, as key.json reads back


def cache_for(data: DataConfig) -> Cache:
    """The cache directory of ``data`` (``cache_dir/<dataset>-<digest of the key>``); needs the metadata."""
    return Cache(Path(data.cache_dir) / f"{data.dataset}-{key_digest(cache_key(data))}")
