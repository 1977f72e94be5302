"""Preparation: decode every item of a dataset once, in worker processes, into the cache that training reads.

:func:`prepare` reads the dataset named by ``data.dataset`` (:mod:`locomt.data.datasets`) from
``data.root``, finds each row's media below its media root (default ``ROOT/media``), decodes video
(``data.video``) and audio (``data.audio``) in worker processes and stores each item as soon as it
is done (see :mod:`locomt.data.cache`); killed and rerun, it decodes only the rest. Then
:func:`locomt.data.consolidate.consolidate` builds the word tokenizer from the kept training items
and writes the per-split arrays, ``report.csv`` (every skipped item with its path and reason) and
the completion marker. A cache whose key matches and is complete is left alone.

Splits: MedVidCL train/val/test as the JSON files give them; AudioSet ``balanced_train`` is train
minus a seeded ``data.val_fraction`` slice (seed ``data.split_seed``) that becomes val, because
AudioSet has no validation split, and ``eval`` is test; a manifest names each row's split.

With ``data.test_clips`` K > 1, every test item is decoded as K clips evenly spaced over its media
(``locomt.data.video.read_video``/``locomt.data.audio.read_log_mel`` with ``clips=K``) and the test
split's ``video``/``audio`` arrays get a clip axis: (N, K, ...). Train and val keep one clip. K > 1
is part of the cache key (of the whole cache: a cache is one directory); K = 1 leaves the key as it was.

Missing, zero-length, truncated, corrupt and (with ``data.skip_silent``) silent media are
reported and skipped; ``strict=True`` stops at the first one with a one-line ValueError. An item
without media whose clip the media root's ``missing.csv`` lists (``python -m locomt.fetch`` could
not get it) is reported as ``unavailable`` with the fetch's reason (:mod:`locomt.data.missing`).
Missing modalities (:mod:`locomt.data.presence`): with ``data.require_modalities: false`` (the
default) an item whose media lacks one modality's stream (a container without an audio or video
track, or no video file beside an audio file) is kept: decoded without that modality, listed in
``report.csv`` with kind ``missing-modality``, and marked absent in ``present.npy``. An item none of
whose media decodes is skipped as before, and so is every other defect (corrupt, empty, silent).
With ``data.require_modalities: true`` items lacking a stream are skipped as ``no_stream``/``missing``.
When ``data.root`` is missing and ``data.synthetic`` holds ``locomt.synth`` arguments, the
synthetic dataset is generated there first (:func:`locomt.data.datasets.ensure_root`).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from locomt.data.audio import read_log_mel
from locomt.data.cache import MISSING_MODALITY, SPLITS, Cache, cache_for, cache_key, media_error_kind
from locomt.data.consolidate import consolidate
from locomt.data.datasets import Item, ensure_root, plan_dataset
from locomt.data.media import MediaError, MediaFiles
from locomt.data.missing import MISSING_CSV, skipped_summary, unavailable_error, unavailable_media
from locomt.data.video import read_video
from locomt.procs import default_workers, pool_child

if TYPE_CHECKING:
    from locomt.config import AudioConfig, DataConfig, VideoConfig


def decode_media(
    files: MediaFiles, modalities: tuple[str, ...], video: VideoConfig, audio: AudioConfig, skip_silent: bool,
    clips: int = 1, absent: dict[str, MediaError] | None = None,
) -> dict[str, np.ndarray]:
    """Decode one item's media: float16 ``video`` (3, T, S, S) and/or ``audio`` (n_mels, n_frames),
    with a leading clip axis (clips, ...) when ``clips`` > 1. Raises MediaError for a missing,
    empty, corrupt or (with ``skip_silent``) silent file. With ``absent`` (a dict to fill), a
    modality whose stream or file is not there (kind ``no_stream``, or no file) is left out and its
    error recorded there instead, as long as another modality decodes."""
    out: dict[str, np.ndarray] = {}

    def lacking(name: str, path: Path | None, decode: Callable[[Path], np.ndarray]) -> None:
        try:
            if path is None:
                raise MediaError(Path(""), f"no {name} file")
            out[name] = decode(path)
        except MediaError as e:
            if absent is None or not (path is None or media_error_kind(e.reason) == "no_stream"):
                raise
            absent[name] = e

    def decode_audio(path: Path) -> np.ndarray:
        mel, silent = read_log_mel(path, audio, clips)
        if silent and skip_silent:
            raise MediaError(path, "silent audio (peak amplitude below 1e-4)")
        return mel.astype(np.float16)

    if "video" in modalities:
        lacking("video", files.video, lambda p: read_video(p, video, clips).astype(np.float16))
    if "audio" in modalities:
        lacking("audio", files.audio, decode_audio)
    if absent and not out:
        raise next(iter(absent.values()))
    for name, arr in out.items():
        if not np.isfinite(arr).all():
            path = files.video if name == "video" else files.audio
            raise MediaError(path, f"{name} decodes to non-finite values in float16")
    return out


@dataclass(frozen=True)
class _Job:
    cache: str
    split: str
    row: int
    files: MediaFiles
    modalities: tuple[str, ...]
    video: VideoConfig
    audio: AudioConfig
    skip_silent: bool
    clips: int = 1
    keep_missing: bool = False


def missing_note(files: MediaFiles, absent: dict[str, MediaError]) -> dict[str, str]:
    """report.csv's record of an item kept without the modalities ``absent`` names."""
    names = sorted(absent)
    path = next((str(e.path) for e in absent.values() if str(e.path) not in ("", ".")), str(files.video or files.audio))
    reason = "; ".join(f"{n} missing ({absent[n].reason})" for n in names) + ": kept, marked missing"
    return {"path": path, "kind": MISSING_MODALITY, "reason": reason}


def _run_job(job: _Job) -> tuple[str, int, dict[str, str] | None, dict[str, str] | None]:
    """Decode one item and store it (or its failure) in the cache; runs in a worker process. Returns
    the split, the row, the error of a skipped item and the note of an item kept without a modality."""
    cache = Cache(job.cache)
    absent: dict[str, MediaError] | None = {} if job.keep_missing else None
    try:
        arrays = decode_media(job.files, job.modalities, job.video, job.audio, job.skip_silent, job.clips, absent)
    except MediaError as e:
        err = {"path": str(e.path), "kind": media_error_kind(e.reason), "reason": e.reason}
        cache.write_error(job.split, job.row, **err)
        return job.split, job.row, err, None
    note = None
    if absent:
        note = missing_note(job.files, absent)
        cache.write_note(job.split, job.row, note)  # before the item: a stored item's note is whole
    cache.write_item(job.split, job.row, arrays)
    return job.split, job.row, None, note


def _init_worker(parent: int) -> None:
    import torch

    pool_child(parent)  # a killed prepare leaves no decoding worker behind; Ctrl-C reaches the parent
    torch.set_num_threads(1)


def _missing_error(item: Item, need: tuple[str, ...], root: Path, keep_missing: bool = False) -> dict[str, str] | None:
    """The report record of an item lacking a media file for a modality it needs, else None; with
    ``keep_missing``, only of an item that has no file for any of them."""
    if keep_missing and any(getattr(item.files, m) is not None and Path(getattr(item.files, m)).is_file()
                            for m in need):
        return None
    for m in need:
        f = getattr(item.files, m)
        if f is None:
            exts = ".mp4/.mkv/.webm" if m == "video" else ".wav/.flac or a container with audio"
            return {
                "path": str(root / item.item_id),
                "kind": "missing",
                "reason": f"missing media: no {m} file ({exts}) named {item.item_id}[_START[_END]] below {root}",
            }
        if not Path(f).is_file():
            return {"path": str(f), "kind": "missing", "reason": "missing file"}
    return None


@dataclass(frozen=True)
class PrepareResult:
    """What :func:`prepare` did: the cache, whether it was already complete, counts and rate."""

    cache: Cache
    reused: bool
    counts: dict[str, int]
    skipped: int
    decoded: int
    decode_seconds: float

    @property
    def items_per_second(self) -> float:
        return self.decoded / self.decode_seconds if self.decode_seconds > 0 else float("nan")


def _strict_error(err: dict[str, str], cache: Cache) -> ValueError:
    return ValueError(
        f"--strict: {err['path']}: {err['reason']} (every skipped item so far is in {cache.path / 'report.csv'})"
    )


def prepare(
    data: DataConfig,
    workers: int | None = None,
    strict: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> PrepareResult:
    """Build (or reuse) the cache of ``data``; see the module docstring."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"--workers {workers}: expected at least 1")
    ensure_root(data, progress=progress)
    cache = cache_for(data)
    if cache.complete:
        meta = cache.meta()
        counts = {s: meta["counts"][s] for s in SPLITS}
        if strict and meta["skipped"]:  # the same answer as the strict run that would build it
            first = next(r for r in cache.read_report() if r["kind"] != MISSING_MODALITY)
            raise _strict_error(first, cache)
        log(
            f"cache {cache.path} is complete (same key): nothing to do "
            f"({', '.join(f'{s} {n}' for s, n in counts.items())}; {meta['skipped']} skipped)"
        )
        return PrepareResult(cache, True, counts, meta["skipped"], 0, 0.0)

    plan = plan_dataset(data)
    cache.write_key(cache_key(data))
    need = tuple(m for m in data.modalities if m in ("video", "audio"))
    keep_missing = not data.require_modalities
    errors: dict[tuple[str, int], dict[str, str]] = {}
    notes: dict[tuple[str, int], dict[str, str]] = {}  # items kept without a modality
    unavailable = unavailable_media(plan.media_root)  # the clips python -m locomt.fetch could not get
    todo: list[_Job] = []
    n_earlier = 0
    for item in plan.items:
        if cache.done(item.split, item.row):
            n_earlier += 1
            err = cache.read_error(item.split, item.row)
            if err is not None:
                errors[(item.split, item.row)] = err
            note = cache.read_note(item.split, item.row)
            if note is not None and err is None:
                notes[(item.split, item.row)] = note
            continue
        err = _missing_error(item, need, plan.media_root, keep_missing)
        if err is not None:
            err = unavailable_error(item.item_id, unavailable, plan.media_root) or err
            cache.write_error(item.split, item.row, **err)
            errors[(item.split, item.row)] = err
            continue
        todo.append(_Job(str(cache.path), item.split, item.row, item.files, need, data.video, data.audio,
                         data.skip_silent, clips=data.test_clips if item.split == "test" else 1,
                         keep_missing=keep_missing))
    by_key = {(it.split, it.row): it for it in plan.items}

    def report() -> None:
        rows = [{"split": s, "id": by_key[(s, r)].item_id, **e} for (s, r), e in sorted(
            [*errors.items(), *notes.items()], key=lambda kv: (SPLITS.index(kv[0][0]), kv[0][1]))]
        cache.write_report(rows)

    if strict and errors:
        report()
        raise _strict_error(next(iter(errors.values())), cache)

    log(
        f"preparing {len(plan.items)} {plan.dataset} items into {cache.path}: {len(todo)} to decode with "
        f"{min(workers, max(1, len(todo)))} worker(s), {n_earlier} done by an earlier run"
    )
    columns = (TextColumn("[bold]prepare"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    start = time.perf_counter()
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("decode", total=len(todo))

        def record(result: tuple[str, int, dict[str, str] | None, dict[str, str] | None]) -> None:
            split, row, err, note = result
            bar.advance(task)
            if note is not None:
                notes[(split, row)] = note
            if err is not None:
                errors[(split, row)] = err
                if strict:
                    report()
                    raise _strict_error(err, cache)

        if workers == 1 or len(todo) <= 1:
            for job in todo:
                record(_run_job(job))
        else:
            ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
            with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx,
                                     initializer=_init_worker, initargs=(os.getpid(),)) as pool:
                pending: set[Future] = {pool.submit(_run_job, job) for job in todo}
                try:
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            record(fut.result())
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    seconds = time.perf_counter() - start
    report()
    decoded = len(todo)
    if decoded:
        log(f"decoded {decoded} items in {seconds:.1f} s ({decoded / seconds:.1f} items/s)")
    if errors:
        log(skipped_summary((e["kind"] for e in errors.values()), cache.path / "report.csv",
                            plan.media_root / MISSING_CSV))
    if notes:
        log(f"kept {len(notes)} item(s) without a modality ({MISSING_MODALITY} in {cache.path / 'report.csv'})")
    counts = consolidate(cache, plan, data, errors)
    log(f"cache ready: {cache.path} ({', '.join(f'{s} {n}' for s, n in counts.items())})")
    for split in (s for s in SPLITS if not counts[s]):
        log(f"warning: split {split!r} has no items; training will stop before it starts (see {cache.path / 'report.csv'})")
    return PrepareResult(cache, False, counts, len(errors), decoded, seconds)
