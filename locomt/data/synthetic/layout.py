"""Writing a synthetic dataset in the official AudioSet or MedVidCL layout: clips, metadata, latents.

:func:`generate` writes

``python -m locomt.synth --layout {audioset,medvidcl} --out DIR --n N --seed S`` writes

* AudioSet layout: ``DIR/balanced_train_segments.csv`` (80 %), ``DIR/eval_segments.csv`` (20 %; or
  the counts of ``splits``)
  with the three ``#`` comment lines and ``YTID, start, end, "mid,mid"`` rows sorted by YTID,
  ``DIR/class_labels_indices.csv`` (``index,mid,display_name``) and the clips as
  ``DIR/media/YTID_START_END.mp4`` (times as the CSV writes them, ``30.000``);
* MedVidCL layout: ``DIR/train.json`` (70 %), ``DIR/val.json`` (15 %), ``DIR/test.json`` (15 %; or the
  counts of ``splits``),
  4-space indented arrays of ``video_id, video_link, video_title, label`` objects plus
  ``video_sub_title`` (the field the dataset's own caption script adds) for 80 % of the items,
  and the clips as ``DIR/media/VIDEO_ID.mp4``;
* both: ``DIR/synth_latents.csv`` (the hidden variables of every clip, for tests and analysis)
  and ``DIR/synth_config.json`` (the parameters; a rerun with the same ones skips finished clips).

IDs are 11 characters of ``[A-Za-z0-9_-]``, one in ten starting with ``-``. One clip in ten is
shorter than the nominal length (3/4 of it), like AudioSet segments cut at the end of a video;
one AudioSet start time in twenty is not a whole second. ``no_audio``/``no_video`` (default 0) write a
share of the clips without their audio or video track (:func:`~locomt.data.synthetic.config.dropped_streams`). Every file is written under
a temporary name and renamed when complete, so a killed run never leaves a finished-looking clip.

What each clip shows and which labels it gets is :mod:`locomt.data.synthetic.rule` (AudioSet layout)
and :mod:`locomt.data.synthetic.pairs` (MedVidCL layout). Video is H.264 at qp 0 (lossless): the
same config gives the same bytes on every run (crf 12 did not, in 387 of 900 clips).
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

from locomt.data.synthetic import clips, pairs, rule
from locomt.data.synthetic.clips import write_clip
from locomt.data.synthetic.config import SynthConfig, config_dict, dropped_streams
from locomt.data.synthetic.rule import AUDIOSET_CLASSES
from locomt.io import atomic_write_text
from locomt.procs import default_workers, pool_child

# each layout's rule: how its items are planned, rendered (video, audio) and described in synth_latents.csv
RULES = {
    "audioset": (rule.plan_audioset, clips.render_video, clips.render_audio, rule.latent_row),
    "medvidcl": (pairs.plan_medvidcl, pairs.render_video, pairs.render_audio, pairs.latent_row),
}


def plan(cfg: SynthConfig) -> list[dict]:
    """Every item to write (split, id, file name, hidden variables, labels), determined by ``cfg``:
    the AudioSet rule (:mod:`locomt.data.synthetic.rule`) or the MedVidCL one
    (:mod:`locomt.data.synthetic.pairs`)."""
    return RULES[cfg.layout][0](cfg, np.random.default_rng(cfg.seed))


def _write_audioset_metadata(out: Path, cfg: SynthConfig, items: list[dict]) -> None:
    lines = ["index,mid,display_name"] + [f'{i},{mid},"{name}"' for i, (mid, name) in enumerate(AUDIOSET_CLASSES)]
    atomic_write_text(out / "class_labels_indices.csv", "\n".join(lines) + "\n")
    for split, fname in (("balanced_train", "balanced_train_segments.csv"), ("eval", "eval_segments.csv")):
        rows = sorted((it for it in items if it["split"] == split), key=lambda it: it["id"])
        n_pos = sum(len(it["labels"]) for it in rows)
        n_unique = len({label for it in rows for label in it["labels"]})
        text = [
            f"# Segments csv created by locomt.synth (seed={cfg.seed})",
            f"# num_ytids={len(rows)}, num_segs={len(rows)}, num_unique_labels={n_unique}, num_positive_labels={n_pos}",
            "# YTID, start_seconds, end_seconds, positive_labels",
        ]
        for it in rows:
            mids = ",".join(sorted(AUDIOSET_CLASSES[i][0] for i in it["labels"]))
            text.append(f'{it["id"]}, {it["start"]:.3f}, {it["end"]:.3f}, "{mids}"')
        atomic_write_text(out / fname, "\n".join(text) + "\n")


def _write_medvidcl_metadata(out: Path, items: list[dict]) -> None:
    for split in ("train", "val", "test"):
        rows = [it["json"] for it in items if it["split"] == split]
        atomic_write_text(out / f"{split}.json", json.dumps(rows, indent=4))


def _write_latents(out: Path, cfg: SynthConfig, items: list[dict]) -> None:
    rows = []
    for it in items:
        c = it["clip"]
        rows.append({"split": it["split"], "id": it["id"], "file": f"media/{it['file']}", "seconds": c.seconds,
                     "frames": max(1, round(c.seconds * cfg.fps)), **RULES[cfg.layout][3](c),
                     "labels": " ".join(map(str, it["labels"]))})
    atomic_write_text(out / "synth_latents.csv", pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))


def _write_item(cfg: SynthConfig, path: Path, clip: object, dropped: str | None) -> None:
    _, video, audio, _ = RULES[cfg.layout]
    write_clip(path, None if dropped == "video" else video(clip, cfg.size, cfg.fps),
               None if dropped == "audio" else audio(clip, cfg.sample_rate), cfg.fps, cfg.sample_rate)


def _write_items(cfg: SynthConfig, jobs: list[tuple[Path, object, str | None]]) -> int:
    for job in jobs:
        _write_item(cfg, *job)
    return len(jobs)


def generate(out: str | os.PathLike, cfg: SynthConfig, progress: bool = True, overwrite: bool = False,
             workers: int | None = None) -> list[dict]:
    """Write the dataset described by ``cfg`` under ``out``; returns :func:`plan`'s items. The clips
    are written by ``workers`` processes (default min(4, CPU cores); one for fewer than 100 clips).

    A rerun into the same folder with the same config skips clips already there (they were
    renamed into place only when complete). A different config in a non-empty ``out`` raises
    ValueError unless ``overwrite`` is set.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "synth_config.json"
    cfg_text = json.dumps(config_dict(cfg), indent=2, sort_keys=True) + "\n"
    if cfg_path.exists() and cfg_path.read_text() != cfg_text and not overwrite:
        raise ValueError(
            f"{out} holds a synthetic dataset made with {cfg_path.read_text().strip()!r}; expected the same "
            "config, an empty folder, or --overwrite"
        )
    reuse = cfg_path.exists() and cfg_path.read_text() == cfg_text and not overwrite
    items = plan(cfg)
    atomic_write_text(cfg_path, cfg_text)
    media = out / "media"
    media.mkdir(exist_ok=True)
    columns = (TextColumn("[bold]synth {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    todo = [(media / it["file"], it["clip"], dropped) for it, dropped in zip(items, dropped_streams(cfg, len(items)))
            if not (reuse and (media / it["file"]).exists())]
    workers = min(default_workers() if workers is None else workers, max(1, len(todo) // 50))
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task(cfg.layout, total=len(items), completed=len(items) - len(todo))
        if workers <= 1:
            for job in todo:
                _write_item(cfg, *job)
                bar.advance(task)
        else:  # each clip depends only on its planned item: the same files, in any order
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=pool_child, initargs=(os.getpid(),)) as pool:
                for fut in as_completed([pool.submit(_write_items, cfg, todo[i:i + 25])
                                         for i in range(0, len(todo), 25)]):
                    bar.advance(task, fut.result())
    if cfg.layout == "audioset":
        _write_audioset_metadata(out, cfg, items)
    else:
        _write_medvidcl_metadata(out, items)
    _write_latents(out, cfg, items)
    return items
