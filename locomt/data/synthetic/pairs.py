"""The MedVidCL-layout rule: each modality pair carries its own, partly redundant evidence of the class.

The three pairs differ in cost (video-audio is the long pair, audio-text the short one) and in how
often their evidence is there, so which per-head views are worth their GFLOPs depends on the
budget: the benchmark of ``make sweep`` (issue 12).

Classes y in {0, 1, 2} (Medical Instructional, Medical Non-instructional, Non-medical), a third of
every split each. Each modality carries two latent features, one per pair it belongs to, each in
Z_4 = {0, 1, 2, 3}:

========  =========  ============================================  ============================
modality  feature    rendered as                                   where a model sees it
========  =========  ============================================  ============================
video     ``v.va``   hue of the upper half of 8-px bands           every 8x8 patch
video     ``v.vt``   grey level of the lower half of the bands     every 8x8 patch
audio     ``a.va``   a low tone, 121 / 362 / 603 / 845 Hz          mel bins 0-7 (of 24, 0-8 kHz)
audio     ``a.at``   a mid tone, 1237 / 1587 / 2035 / 2611 Hz      mel bins 8-15
text      ``t.vt``   a body word: knee, heart, skin, spine         ~40 % of title and subtitle
text      ``t.at``   a care word: exercise, injection, bandage,    ~40 % of title and subtitle
                     diet
========  =========  ============================================  ============================

For each pair p = (i, j) its evidence is e_p = (i.p + j.p) mod 4. It is *informative* with
probability r_p, independently per pair and item: then e_p = y; otherwise e_p = 3, a value that says
nothing about y. The first feature i.p is uniform on Z_4 and j.p = (e_p - i.p) mod 4, so every
feature alone, and every modality alone (its two features belong to different pairs), is uniform
and independent of y: one modality carries no information and late fusion (per-modality logits
averaged) is at chance. A model that sees the pairs S reads e_p for each (y when informative, "no
evidence" otherwise), so its Bayes accuracy is

    A(S) = 1 - (2/3) * prod_{p in S} (1 - r_p)        (:func:`bayes_accuracy`)

With the default r = (va 0.6, vt 0.5, at 0.4): no pair 0.333, at 0.600, vt 0.667, va 0.733,
at+vt 0.800, at+va 0.840, vt+va 0.867, all three 0.920. The expensive pair (va) is the most
reliable, the cheap pair (at) the least; each added pair helps, and the two cheap pairs together
beat the expensive one alone.

Nuisances: brightness in [0.8, 1]; a dark square crossing the frame left-right or right-left at a
random height; tone amplitudes and phases; a distractor tone in mel bins 16-23 (3792-5508 Hz) of
random pitch and level; faint noise; filler and non-medical topic words (a fifth of the text); one
clip in ten 3/4 long; one item in five without subtitles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from locomt.data.synthetic.config import SPLITS, SynthConfig
from locomt.data.synthetic.clips import moving_square
from locomt.data.synthetic.rule import FILLER_WORDS, NONMEDICAL_WORDS, ytids

PAIRS = ("va", "vt", "at")
MODALITY_PAIRS = {"v": ("va", "vt"), "a": ("va", "at"), "t": ("vt", "at")}
N_VALUES = 4
NO_EVIDENCE = 3
HUES = (("red", (220, 40, 40)), ("yellow", (230, 210, 40)), ("green", (40, 190, 70)), ("blue", (50, 90, 230)))
GREYS = (("black", 30), ("dark grey", 100), ("light grey", 170), ("white", 240))
BAND_PX = 8  # the video patch of experiments/synthetic-medvidcl.yaml: every patch shows hue and grey
LOW_TONES_HZ = (121.0, 362.0, 603.0, 845.0)  # mel bins 0, 2, 4, 6 of 24 over 0-8 kHz
MID_TONES_HZ = (1237.0, 1587.0, 2035.0, 2611.0)  # mel bins 9, 11, 13, 15
DISTRACTOR_HZ = (3792.0, 4294.0, 4863.0, 5508.0)  # mel bins 18-21: says nothing
BODY_WORDS = ("knee", "heart", "skin", "spine")
CARE_WORDS = ("exercise", "injection", "bandage", "diet")


@dataclass(frozen=True)
class PairClip:
    """The hidden variables of one MedVidCL-layout item."""

    y: int
    informative: tuple[bool, bool, bool]  # per pair, in PAIRS order
    features: dict  # {"v": {"va": f, "vt": f}, "a": {"va": f, "at": f}, "t": {"vt": f, "at": f}}
    seconds: float
    brightness: float
    square_y: float
    square_ltr: int
    low_amp: float
    mid_amp: float
    distractor: int
    distractor_amp: float
    phases: tuple[float, float, float]
    noise_seed: int

    def evidence(self, pair: str) -> int:
        i, j = pair
        return (self.features[i][pair] + self.features[j][pair]) % N_VALUES


def bayes_accuracy(reliability: tuple[float, ...], pairs: tuple[str, ...] | list[str]) -> float:
    """The best accuracy a model that sees the pairs ``pairs`` can reach: 1 - (2/3) prod (1 - r_p)."""
    miss = 1.0
    for p in pairs:
        miss *= 1.0 - reliability[PAIRS.index(p)]
    return 1.0 - (2.0 / 3.0) * miss


def _features(rng: np.random.Generator, y: int, informative: tuple[bool, ...]) -> dict:
    feats: dict = {"v": {}, "a": {}, "t": {}}
    for pair, inf in zip(PAIRS, informative):
        e = y if inf else NO_EVIDENCE
        first = int(rng.integers(N_VALUES))
        feats[pair[0]][pair] = first
        feats[pair[1]][pair] = (e - first) % N_VALUES
    return feats


def _words(rng: np.random.Generator, clip: PairClip, lo: int, hi: int) -> str:
    """Topic-dense text: each word is the body word (t.vt) with probability 0.4, the care word (t.at)
    with 0.4, otherwise a filler or (one in five) a non-medical topic word; both feature words
    appear at least once."""
    body, care = BODY_WORDS[clip.features["t"]["vt"]], CARE_WORDS[clip.features["t"]["at"]]
    words = [body, care]
    for _ in range(int(rng.integers(lo, hi)) - 2):
        u = rng.random()
        words.append(body if u < 0.4 else care if u < 0.8 else
                     str(rng.choice(FILLER_WORDS)) if u < 0.96 else str(rng.choice(NONMEDICAL_WORDS)))
    rng.shuffle(words)
    return " ".join(words)


def plan_medvidcl(cfg: SynthConfig, rng: np.random.Generator) -> list[dict]:
    """Every MedVidCL-layout item: split, id, file, hidden variables, label and its JSON object."""
    from locomt.data.medvidcl import CLASSES

    ids = ytids(rng, cfg.n)
    items, k = [], 0
    for split, size in zip(SPLITS["medvidcl"], cfg.split_sizes()):
        for y in rng.permutation(np.arange(size) % 3):
            informative = tuple(bool(rng.random() < r) for r in cfg.reliability)
            clip = PairClip(
                y=int(y), informative=informative, features=_features(rng, int(y), informative),
                seconds=cfg.seconds * (0.75 if k % 10 == 5 else 1.0), brightness=float(rng.uniform(0.8, 1.0)),
                square_y=float(rng.random()), square_ltr=int(rng.integers(2)),
                low_amp=float(rng.uniform(0.15, 0.25)), mid_amp=float(rng.uniform(0.15, 0.25)),
                distractor=int(rng.integers(len(DISTRACTOR_HZ))), distractor_amp=float(rng.uniform(0.0, 0.2)),
                phases=tuple(float(p) for p in rng.uniform(0, 2 * np.pi, 3)), noise_seed=int(rng.integers(2**31)),
            )
            vid = ids[k]
            k += 1
            js = {"video_id": vid, "video_link": f"https://www.youtube.com/watch?v={vid}",
                  "video_title": _words(rng, clip, 4, 8).title(), "label": CLASSES[clip.y]}
            if rng.random() < 0.8:
                js["video_sub_title"] = _words(rng, clip, 12, 24)
            items.append({"split": split, "id": vid, "file": f"{vid}.mp4", "clip": clip, "json": js,
                          "labels": [clip.y]})
    return items


def render_video(clip: PairClip, size: int, fps: int) -> np.ndarray:
    """uint8 (T, size, size, 3): horizontal bands ``BAND_PX`` apart, aligned with the patch grid; the
    upper half of each band is the hue (v.va), the lower half a grey level (v.vt); a dark square
    crosses the frame."""
    frame = np.empty((size, size, 3), dtype=np.float32)
    frame[:] = np.array(HUES[clip.features["v"]["va"]][1], dtype=np.float32) * clip.brightness
    frame[(np.arange(size) % BAND_PX) >= BAND_PX // 2] = float(GREYS[clip.features["v"]["vt"]][1])
    background = np.clip(np.round(frame), 0, 255).astype(np.uint8)
    return moving_square(background, max(1, round(clip.seconds * fps)), clip.square_y, bool(clip.square_ltr))


def render_audio(clip: PairClip, sample_rate: int) -> np.ndarray:
    """float32 mono: the low tone (a.va), the mid tone (a.at), a distractor tone and faint noise."""
    n = max(1, round(clip.seconds * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    p = clip.phases
    wave = clip.low_amp * np.sin(2 * np.pi * LOW_TONES_HZ[clip.features["a"]["va"]] * t + p[0])
    wave += clip.mid_amp * np.sin(2 * np.pi * MID_TONES_HZ[clip.features["a"]["at"]] * t + p[1])
    wave += clip.distractor_amp * np.sin(2 * np.pi * DISTRACTOR_HZ[clip.distractor] * t + p[2])
    wave += 0.01 * np.random.default_rng(clip.noise_seed).standard_normal(n)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def latent_row(clip: PairClip) -> dict:
    """The columns of ``synth_latents.csv`` for one item: every feature, and each pair's evidence."""
    row: dict = {"y": clip.y}
    for m, pairs in MODALITY_PAIRS.items():
        for p in pairs:
            row[f"{m}.{p}"] = clip.features[m][p]
    for p, inf in zip(PAIRS, clip.informative):
        row[f"informative.{p}"] = int(inf)
        row[f"evidence.{p}"] = clip.evidence(p)
    row.update(hue=HUES[clip.features["v"]["va"]][0], grey=GREYS[clip.features["v"]["vt"]][0],
               low_hz=LOW_TONES_HZ[clip.features["a"]["va"]], mid_hz=MID_TONES_HZ[clip.features["a"]["at"]],
               body_word=BODY_WORDS[clip.features["t"]["vt"]], care_word=CARE_WORDS[clip.features["t"]["at"]],
               brightness=round(clip.brightness, 6), square_ltr=clip.square_ltr)
    return row
