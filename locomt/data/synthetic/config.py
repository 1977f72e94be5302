"""The parameters of a synthetic dataset (:class:`SynthConfig`), the layouts it can be written in, and
how a config's ``data.synthetic`` maps to them (:func:`synth_config`, :func:`check_synthetic_root`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from locomt.constraints import check_seed

if TYPE_CHECKING:
    from locomt.config import DataConfig

LAYOUTS = ("audioset", "medvidcl")
#: each layout's splits, in the order ``splits`` counts them, and their shares of ``n`` when it does not
SPLITS = {"audioset": ("balanced_train", "eval"), "medvidcl": ("train", "val", "test")}
SPLIT_FRACTIONS = {"audioset": (0.8, 0.2), "medvidcl": (0.7, 0.15, 0.15)}


@dataclass(frozen=True)
class SynthConfig:
    """What :func:`locomt.data.synthetic.layout.generate` writes; every field goes into ``synth_config.json``."""

    layout: str = "medvidcl"
    n: int = 300
    seed: int = 0
    size: int = 64
    fps: int = 8
    seconds: float = 2.0
    sample_rate: int = 16000
    # MedVidCL layout: how often each pair's evidence is there (va, vt, at; locomt.data.synthetic.pairs)
    reliability: tuple[float, float, float] = (0.6, 0.5, 0.4)
    # shares of clips written without an audio track / without a video track (missing modalities);
    # drawn apart from everything else, so 0 (the default) writes the dataset it always did
    no_audio: float = 0.0
    no_video: float = 0.0
    # clips per split in SPLITS order (medvidcl: train, val, test); None: the shares SPLIT_FRACTIONS of n.
    # Given, they must add up to n: a larger validation and test split than n's shares give (issue 21).
    splits: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check_seed("seed", self.seed)
        for name in ("no_audio", "no_video"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}={v!r}; expected a share of clips in [0, 1]")
        if self.no_audio + self.no_video > 1.0:
            raise ValueError(f"no_audio={self.no_audio} + no_video={self.no_video} > 1; expected at most 1 (a clip "
                             "keeps at least one stream)")
        rel = self.reliability
        if (not isinstance(rel, (tuple, list)) or len(rel) != 3
                or not all(isinstance(r, (int, float)) and not isinstance(r, bool) and 0.0 <= r <= 1.0 for r in rel)):
            raise ValueError(f"reliability={rel!r}; expected three probabilities in [0, 1] (pairs va, vt, at)")
        object.__setattr__(self, "reliability", tuple(float(r) for r in rel))
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
        if self.splits is not None:
            self._check_splits()


    def _check_splits(self) -> None:
        names = SPLITS.get(self.layout, ())
        sp = self.splits
        if (not isinstance(sp, (tuple, list)) or len(sp) != len(names)
                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in sp)):
            raise ValueError(f"splits={sp!r}; expected {len(names)} clip counts >= 1 ({', '.join(names)})")
        object.__setattr__(self, "splits", tuple(sp))
        if sum(sp) != self.n:
            raise ValueError(f"n={self.n}, but splits={list(sp)} hold {sum(sp)} clips; expected n equal to their sum")

    def split_sizes(self) -> list[int]:
        """Clips per split in :data:`SPLITS` order: ``splits``, or the shares :data:`SPLIT_FRACTIONS` of ``n``."""
        if self.splits is not None:
            return list(self.splits)
        fractions = SPLIT_FRACTIONS[self.layout]
        sizes = [max(1, int(round(self.n * f))) for f in fractions[1:]]
        return [self.n - sum(sizes)] + sizes


#: fields left out of synth_config.json at their default, so roots written before them stay valid
_NEW_FIELDS = {"no_audio": 0.0, "no_video": 0.0, "splits": None}


def config_dict(cfg: SynthConfig) -> dict:
    """What ``synth_config.json`` holds for ``cfg``."""
    d = dataclasses.asdict(cfg)
    return {k: v for k, v in d.items() if not (k in _NEW_FIELDS and v == _NEW_FIELDS[k])}


def dropped_streams(cfg: SynthConfig, n: int) -> list[str | None]:
    """Per clip (in plan order), the stream it is written without (``audio``, ``video``) or None:
    a share ``no_video`` and ``no_audio`` of clips, from a generator of its own (seed, 0x6d)."""
    u = np.random.default_rng([cfg.seed, 0x6D]).random(n)
    return ["video" if x < cfg.no_video else "audio" if x < cfg.no_video + cfg.no_audio else None for x in u]


def synth_config(data: DataConfig) -> SynthConfig:
    """The :class:`SynthConfig` that ``data.synthetic`` describes (layout: ``data.dataset``)."""
    args = {"layout": data.dataset, **data.synthetic}
    fields = [f.name for f in dataclasses.fields(SynthConfig)]
    unknown = [k for k in args if k not in fields]
    if unknown:
        raise ValueError(f"data.synthetic: unknown key {unknown[0]!r}; expected some of {', '.join(fields)}")
    if args["layout"] != data.dataset:
        raise ValueError(
            f"data.synthetic.layout {args['layout']!r} does not match data.dataset {data.dataset!r}; "
            f"expected the same layout (synthetic data exists for {' and '.join(LAYOUTS)})"
        )
    return SynthConfig(**args)


def check_synthetic_root(data: DataConfig) -> None:
    """A synthetic root made with other parameters than ``data.synthetic`` asks for is an error
    (training on it would silently use another dataset than the config names)."""
    made = Path(data.root) / "synth_config.json"
    if not made.is_file():
        return
    want = json.loads(json.dumps(config_dict(synth_config(data))))  # as the file holds it (lists)
    have = json.loads(made.read_text())
    diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
    if diff:
        k, (old, new) = next(iter(diff.items()))
        raise ValueError(
            f"data.root {data.root} holds synthetic data made with {k}={old!r}, but data.synthetic asks for "
            f"{k}={new!r}; delete {data.root} to regenerate it, or point data.root elsewhere"
        )
