"""The parameters of a synthetic dataset (:class:`SynthConfig`) and the layouts it can be written in."""

from __future__ import annotations

from dataclasses import dataclass

LAYOUTS = ("audioset", "medvidcl")


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
