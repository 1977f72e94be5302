"""The generative rule of the synthetic AudioSet layout: each clip's hidden variables and the labels they decide.

This module is the rule as a unit (its constants, word lists and planning); rendering the variables
into pixels and samples is :mod:`locomt.data.synthetic.clips`, writing the files
:mod:`locomt.data.synthetic.layout`.

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

The MedVidCL layout has its own rule, in which each modality pair carries its own evidence:
:mod:`locomt.data.synthetic.pairs`. The word lists and ID helpers here serve both.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from locomt.data.synthetic.config import SPLITS, SynthConfig

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


def ytids(rng: np.random.Generator, n: int) -> list[str]:
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


def latent_row(clip: Clip) -> dict:
    """The columns of ``synth_latents.csv`` for one AudioSet-layout clip."""
    return {"colour": clip.colour, "colour_name": COLOURS[clip.colour][0], "brightness": round(clip.brightness, 6),
            "tone": clip.tone, "tone_hz": TONES_HZ[clip.tone], "pulse": clip.pulse, "motion": clip.motion}


def plan_audioset(cfg: SynthConfig, rng: np.random.Generator) -> list[dict]:
    ids = ytids(rng, cfg.n)
    splits = [name for name, size in zip(SPLITS["audioset"], cfg.split_sizes()) for _ in range(size)]
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
