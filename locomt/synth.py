"""Synthetic AudioSet/MedVidCL-layout datasets: real H.264+AAC mp4 clips whose labels need fusion.

``python -m locomt.synth --layout {audioset,medvidcl} --out DIR --n N --seed S`` writes

* AudioSet layout: ``DIR/balanced_train_segments.csv`` (80 %), ``DIR/eval_segments.csv`` (20 %)
  with the three ``#`` comment lines and ``YTID, start, end, "mid,mid"`` rows sorted by YTID,
  ``DIR/class_labels_indices.csv`` (``index,mid,display_name``) and the clips as
  ``DIR/media/YTID_START_END.mp4`` (times as the CSV writes them, ``30.000``);
* MedVidCL layout: ``DIR/train.json`` (70 %), ``DIR/val.json`` (10 %), ``DIR/test.json`` (20 %),
  4-space indented arrays of ``video_id, video_link, video_title, label`` objects plus
  ``video_sub_title`` (the field the dataset's own caption script adds) for 80 % of the items,
  and the clips as ``DIR/media/VIDEO_ID.mp4``;
* both: ``DIR/synth_latents.csv`` (the hidden variables of every clip, for tests and analysis)
  and ``DIR/synth_config.json`` (the parameters; a rerun with the same ones skips finished clips).

IDs are 11 characters of ``[A-Za-z0-9_-]``, one in ten starting with ``-``. One clip in ten is
shorter than the nominal length (3/4 of it), like AudioSet segments cut at the end of a video;
one AudioSet start time in twenty is not a whole second. Every file is written under
a temporary name and renamed when complete, so a killed run never leaves a finished-looking clip.

Generative rule
---------------
Every clip has four hidden variables, drawn with ``numpy.random.default_rng`` from the seed:

* colour ``c`` in 0..3 = red, yellow, green, blue: the background of every frame (brightness
  scaled by a nuisance factor in [0.85, 1]);
* tone ``f`` in 0..3 = 440, 660, 990, 1485 Hz: a sine of amplitude in [0.3, 0.5] plus faint noise;
* pulse ``p`` in {0, 1}: the tone is gated on/off at 4 Hz (p=1) or steady (p=0);
* motion ``m`` in {0, 1}: a dark square (a quarter of the frame wide, random height) crosses the
  frame left-to-right (m=1) or right-to-left (m=0).

AudioSet layout (c, f, p, m independent and uniform; multi-label, 6 classes):

====  ====================  ======================  ================
idx   display_name          rule                    modality needed
====  ====================  ======================  ================
0     Warm colour           c in {red, yellow}      video alone
1     Cool colour           c in {green, blue}      video alone
2     High tone             f in {990, 1485 Hz}     audio alone
3     Pulsing tone          p = 1                   audio alone
4     Colour matches tone   c = f (same index)      video AND audio
5     Motion matches pulse  m = p                   video AND audio
====  ====================  ======================  ================

Classes 4 and 5 are independent of each modality on its own (P(c=f | c) = 1/4 for every c,
P(m=p | m) = 1/2 for every m), so a late-fusion model (per-modality logits averaged) cannot
separate them: a sum g(c) + h(f) cannot represent c = f, nor g(m) + h(p) the XOR m = p.

MedVidCL layout (3 classes, each 1/3 of every split; text = title + subtitle):

* Non-medical: the title (and subtitle) holds a non-medical topic word (guitar, recipe, ...),
  c and f independent and uniform -- decided by text alone;
* Medical Instructional: a medical topic word (knee, insulin, ...), f = c;
* Medical Non-instructional: a medical topic word, f uniform over the three values != c.

Filler words are drawn from one list for every class, so text does not separate the two medical
classes, and c alone and f alone are uniform in every class. A fusion model can reach 100 %;
late fusion is capped at about 1/3 + 2/3 * 2/3 = 78 % accuracy (on the medical items the best
additive rule g(c) + h(f) gets 2/3 right). p and m are nuisances here. Measured in
``tests/test_synth.py`` (n=300, seed 0, small MLPs on decoded clip features, held-out medical
items): video+audio fused about 97 %, late fusion about 45 %.
"""

from __future__ import annotations

import argparse
import json
import os
import string
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

LAYOUTS = ("audioset", "medvidcl")
COLOURS = (("red", (220, 40, 40)), ("yellow", (230, 210, 40)), ("green", (40, 190, 70)), ("blue", (50, 90, 230)))
TONES_HZ = (440.0, 660.0, 990.0, 1485.0)
PULSE_HZ = 4.0
SQUARE_RGB = (24, 24, 24)
AUDIOSET_CLASSES = (
    ("/t/dd99001", "Warm colour"),
    ("/t/dd99002", "Cool colour"),
    ("/t/dd99003", "High tone"),
    ("/t/dd99004", "Pulsing tone"),
    ("/t/dd99005", "Colour matches tone"),
    ("/t/dd99006", "Motion matches pulse"),
)
MEDICAL_WORDS = (
    "knee",
    "insulin",
    "bandage",
    "fracture",
    "asthma",
    "stroke",
    "diabetes",
    "wound",
    "ankle",
    "vaccine",
    "cpr",
    "injection",
    "stitches",
    "spine",
    "kidney",
    "heart",
    "migraine",
    "burn",
)
NONMEDICAL_WORDS = (
    "guitar",
    "recipe",
    "football",
    "travel",
    "garden",
    "painting",
    "camera",
    "chess",
    "bicycle",
    "baking",
    "fishing",
    "car",
    "piano",
    "dance",
    "makeup",
    "puppy",
    "minecraft",
    "surfing",
)
FILLER_WORDS = (
    "video",
    "part",
    "the",
    "a",
    "new",
    "best",
    "simple",
    "my",
    "today",
    "first",
    "easy",
    "full",
    "guide",
    "review",
    "episode",
    "vlog",
    "tips",
    "explained",
    "channel",
    "update",
    "how",
    "to",
    "with",
    "and",
    "your",
    "about",
    "quick",
    "basics",
    "live",
    "story",
)
YTID_CHARS = string.ascii_letters + string.digits + "_-"


@dataclass(frozen=True)
class SynthConfig:
    """What :func:`generate` writes; every field goes into ``synth_config.json``."""

    layout: str = "medvidcl"
    n: int = 300
    seed: int = 0
    size: int = 64
    fps: int = 8
    seconds: float = 2.0
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r}; expected one of {', '.join(LAYOUTS)}")
        if self.n < 3:
            raise ValueError(f"n={self.n}; expected at least 3 clips (one per split)")
        if self.size < 16 or self.size % 2:
            raise ValueError(f"size={self.size}; expected an even number >= 16 (H.264 4:2:0)")
        if self.fps < 1 or self.seconds <= 0 or self.sample_rate < 8000:
            raise ValueError(
                f"fps={self.fps}, seconds={self.seconds}, sample_rate={self.sample_rate}; "
                "expected fps >= 1, seconds > 0, sample_rate >= 8000"
            )


@dataclass(frozen=True)
class Clip:
    """The hidden variables of one clip."""

    colour: int
    tone: int
    pulse: int
    motion: int
    seconds: float
    brightness: float
    square_y: float
    amplitude: float
    phase: float
    noise_seed: int


# ------------------------------------------------------------------------------------ rendering


def render_video(clip: Clip, size: int, fps: int) -> np.ndarray:
    """uint8 (T, size, size, 3) frames of ``clip``: coloured background and a moving dark square."""
    t = max(1, round(clip.seconds * fps))
    rgb = np.array(COLOURS[clip.colour][1], dtype=np.float32) * clip.brightness
    frames = np.empty((t, size, size, 3), dtype=np.uint8)
    frames[:] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    side = max(2, size // 4)
    y0 = int(round(clip.square_y * (size - side)))
    for i in range(t):
        frac = i / max(1, t - 1)
        x0 = int(round((frac if clip.motion else 1.0 - frac) * (size - side)))
        frames[i, y0 : y0 + side, x0 : x0 + side] = SQUARE_RGB
    return frames


def render_audio(clip: Clip, sample_rate: int) -> np.ndarray:
    """float32 mono waveform of ``clip``: a (possibly gated) sine plus faint noise."""
    n = max(1, round(clip.seconds * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    wave = clip.amplitude * np.sin(2 * np.pi * TONES_HZ[clip.tone] * t + clip.phase)
    if clip.pulse:
        gate = (np.sin(2 * np.pi * PULSE_HZ * t) > 0).astype(np.float64)
        ramp = np.hanning(max(3, int(0.01 * sample_rate)))
        gate = np.convolve(gate, ramp / ramp.sum(), mode="same")
        wave *= gate
    wave += 0.01 * np.random.default_rng(clip.noise_seed).standard_normal(n)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def write_clip(
    path: str | os.PathLike,
    frames: np.ndarray | None,
    audio: np.ndarray | None,
    fps: int = 8,
    sample_rate: int = 16000,
) -> Path:
    """Write an mp4 (H.264 video from uint8 (T, H, W, 3) ``frames``, AAC mono ``audio``) atomically.

    Either stream may be None (an audio-less or a video-less file). The file is written as
    ``path + '.part'`` and renamed to ``path`` only when complete.
    """
    import av

    if frames is None and audio is None:
        raise ValueError("write_clip needs frames, audio or both")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            vstream = astream = None
            if frames is not None:
                _, h, w, _ = frames.shape
                vstream = out.add_stream("libx264", rate=fps)
                vstream.width, vstream.height, vstream.pix_fmt = w, h, "yuv420p"
                vstream.codec_context.time_base = Fraction(1, fps)
                vstream.options = {"crf": "12", "preset": "medium", "threads": "1"}
            if audio is not None:
                astream = out.add_stream("aac", rate=sample_rate, layout="mono")
            if vstream is not None:
                for i, img in enumerate(frames):
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                    frame.pts = i
                    out.mux(vstream.encode(frame))
                out.mux(vstream.encode())
            if astream is not None:
                wave = np.asarray(audio, dtype=np.float32).reshape(-1)
                step = 1024
                for start in range(0, wave.size, step):
                    chunk = np.ascontiguousarray(wave[None, start : start + step])
                    frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                    frame.sample_rate = sample_rate
                    frame.pts = start
                    out.mux(astream.encode(frame))
                out.mux(astream.encode())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# ------------------------------------------------------------------------------------ metadata


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="ascii" if text.isascii() else "utf-8", newline="\n")
    os.replace(tmp, path)


def _ytids(rng: np.random.Generator, n: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    chars = np.array(list(YTID_CHARS))
    while len(out) < n:
        s = "".join(rng.choice(chars, 11))
        if len(out) % 10 == 0:  # like real YouTube IDs, some start with '-'
            s = "-" + s[1:]
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def _split_sizes(n: int, fractions: tuple[float, ...]) -> list[int]:
    sizes = [max(1, int(round(n * f))) for f in fractions[1:]]
    return [n - sum(sizes)] + sizes


def _clip(rng: np.random.Generator, cfg: SynthConfig, colour: int, tone: int, short: bool) -> Clip:
    return Clip(
        colour=int(colour),
        tone=int(tone),
        pulse=int(rng.integers(2)),
        motion=int(rng.integers(2)),
        seconds=cfg.seconds * (0.75 if short else 1.0),
        brightness=float(rng.uniform(0.85, 1.0)),
        square_y=float(rng.random()),
        amplitude=float(rng.uniform(0.3, 0.5)),
        phase=float(rng.uniform(0, 2 * np.pi)),
        noise_seed=int(rng.integers(2**31)),
    )


def _title(rng: np.random.Generator, topic: str) -> str:
    words = list(rng.choice(FILLER_WORDS, int(rng.integers(2, 6))))
    words.insert(int(rng.integers(len(words) + 1)), topic)
    return " ".join(w.capitalize() for w in words)


def _subtitle(rng: np.random.Generator, topic: str) -> str:
    words = list(rng.choice(FILLER_WORDS, int(rng.integers(8, 21))))
    words.insert(int(rng.integers(len(words) + 1)), topic)
    return " ".join(words)


def audioset_labels(clip: Clip) -> list[int]:
    """The AudioSet-layout class indices of ``clip`` (see the module docstring)."""
    labels = [0 if clip.colour in (0, 1) else 1]
    if clip.tone in (2, 3):
        labels.append(2)
    if clip.pulse:
        labels.append(3)
    if clip.colour == clip.tone:
        labels.append(4)
    if clip.motion == clip.pulse:
        labels.append(5)
    return labels


def _plan_audioset(cfg: SynthConfig, rng: np.random.Generator) -> list[dict]:
    ids = _ytids(rng, cfg.n)
    splits = ["balanced_train"] * _split_sizes(cfg.n, (0.8, 0.2))[0] + ["eval"] * _split_sizes(cfg.n, (0.8, 0.2))[1]
    items = []
    for k, (ytid, split) in enumerate(zip(ids, splits)):
        clip = _clip(rng, cfg, rng.integers(4), rng.integers(4), short=k % 10 == 5)
        start = float(rng.integers(0, 300)) + (0.5 if k % 20 == 7 else 0.0)
        end = start + clip.seconds
        items.append(
            {
                "split": split,
                "id": ytid,
                "start": start,
                "end": end,
                "clip": clip,
                "labels": audioset_labels(clip),
                "file": f"{ytid}_{start:.3f}_{end:.3f}.mp4",
            }
        )
    return items


def _plan_medvidcl(cfg: SynthConfig, rng: np.random.Generator) -> list[dict]:
    from locomt.data.medvidcl import CLASSES

    ids = _ytids(rng, cfg.n)
    sizes = _split_sizes(cfg.n, (0.7, 0.1, 0.2))
    items = []
    k = 0
    for split, size in zip(("train", "val", "test"), sizes):
        ys = rng.permutation(np.arange(size) % 3)
        for y in ys:
            colour = int(rng.integers(4))
            if y == 0:  # Medical Instructional: tone matches colour
                tone = colour
            elif y == 1:  # Medical Non-instructional: tone differs from colour
                tone = (colour + int(rng.integers(1, 4))) % 4
            else:  # Non-medical: independent
                tone = int(rng.integers(4))
            clip = _clip(rng, cfg, colour, tone, short=k % 10 == 5)
            topic = str(rng.choice(NONMEDICAL_WORDS if y == 2 else MEDICAL_WORDS))
            vid = ids[k]
            k += 1
            item = {
                "video_id": vid,
                "video_link": f"https://www.youtube.com/watch?v={vid}",
                "video_title": _title(rng, topic),
                "label": CLASSES[int(y)],
            }
            if rng.random() < 0.8:
                item["video_sub_title"] = _subtitle(rng, topic)
            items.append(
                {"split": split, "id": vid, "clip": clip, "json": item, "labels": [int(y)], "file": f"{vid}.mp4"}
            )
    return items


def plan(cfg: SynthConfig) -> list[dict]:
    """Every item to write (split, id, file name, hidden variables, labels), determined by ``cfg``."""
    rng = np.random.default_rng(cfg.seed)
    return _plan_audioset(cfg, rng) if cfg.layout == "audioset" else _plan_medvidcl(cfg, rng)


def _write_audioset_metadata(out: Path, cfg: SynthConfig, items: list[dict]) -> None:
    lines = ["index,mid,display_name"] + [f'{i},{mid},"{name}"' for i, (mid, name) in enumerate(AUDIOSET_CLASSES)]
    _atomic_write_text(out / "class_labels_indices.csv", "\n".join(lines) + "\n")
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
        _atomic_write_text(out / fname, "\n".join(text) + "\n")


def _write_medvidcl_metadata(out: Path, items: list[dict]) -> None:
    for split in ("train", "val", "test"):
        rows = [it["json"] for it in items if it["split"] == split]
        _atomic_write_text(out / f"{split}.json", json.dumps(rows, indent=4))


def _write_latents(out: Path, cfg: SynthConfig, items: list[dict]) -> None:
    rows = []
    for it in items:
        c: Clip = it["clip"]
        rows.append(
            {
                "split": it["split"],
                "id": it["id"],
                "file": f"media/{it['file']}",
                "seconds": c.seconds,
                "frames": max(1, round(c.seconds * cfg.fps)),
                "colour": c.colour,
                "colour_name": COLOURS[c.colour][0],
                "brightness": round(c.brightness, 6),
                "tone": c.tone,
                "tone_hz": TONES_HZ[c.tone],
                "pulse": c.pulse,
                "motion": c.motion,
                "labels": " ".join(map(str, it["labels"])),
            }
        )
    _atomic_write_text(out / "synth_latents.csv", pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))


def generate(out: str | os.PathLike, cfg: SynthConfig, progress: bool = True, overwrite: bool = False) -> list[dict]:
    """Write the dataset described by ``cfg`` under ``out``; returns :func:`plan`'s items.

    A rerun into the same folder with the same config skips clips already there (they were
    renamed into place only when complete). A different config in a non-empty ``out`` raises
    ValueError unless ``overwrite`` is set.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "synth_config.json"
    cfg_text = json.dumps(asdict(cfg), indent=2, sort_keys=True) + "\n"
    if cfg_path.exists() and cfg_path.read_text() != cfg_text and not overwrite:
        raise ValueError(
            f"{out} holds a synthetic dataset made with {cfg_path.read_text().strip()!r}; expected the same "
            "config, an empty folder, or --overwrite"
        )
    reuse = cfg_path.exists() and cfg_path.read_text() == cfg_text and not overwrite
    items = plan(cfg)
    _atomic_write_text(cfg_path, cfg_text)
    media = out / "media"
    media.mkdir(exist_ok=True)
    columns = (TextColumn("[bold]synth {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task(cfg.layout, total=len(items))
        for it in items:
            path = media / it["file"]
            if not (reuse and path.exists()):
                clip = it["clip"]
                write_clip(
                    path,
                    render_video(clip, cfg.size, cfg.fps),
                    render_audio(clip, cfg.sample_rate),
                    cfg.fps,
                    cfg.sample_rate,
                )
            bar.advance(task)
    if cfg.layout == "audioset":
        _write_audioset_metadata(out, cfg, items)
    else:
        _write_medvidcl_metadata(out, items)
    _write_latents(out, cfg, items)
    return items


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m locomt.synth", description=__doc__.split("\n")[0])
    p.add_argument("--layout", choices=LAYOUTS, required=True, help="metadata format to write")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--n", type=int, default=300, help="number of clips over all splits (default 300)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same dataset (default 0)")
    p.add_argument("--size", type=int, default=64, help="frame width and height in pixels (default 64)")
    p.add_argument("--fps", type=int, default=8, help="frames per second (default 8)")
    p.add_argument("--seconds", type=float, default=2.0, help="nominal clip length (default 2.0)")
    p.add_argument("--sample-rate", type=int, default=16000, help="audio sample rate in Hz (default 16000)")
    p.add_argument(
        "--overwrite", action="store_true", help="rewrite every clip even if the folder holds another config"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    try:
        cfg = SynthConfig(a.layout, a.n, a.seed, a.size, a.fps, a.seconds, a.sample_rate)
        items = generate(a.out, cfg, progress=not a.no_progress, overwrite=a.overwrite)
    except ValueError as e:
        p.error(str(e))
    print(f"wrote {len(items)} {a.layout}-layout clips and metadata to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
