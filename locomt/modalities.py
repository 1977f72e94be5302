"""Modality specs: what each input stream is, its one-letter code and its token count.

A dataset declares its modalities as an ordered tuple of ``ModalitySpec``; that order is the
order of token segments in every fused sequence and of the modality codes in view names
(``va``, ``vt``, ``at`` for video, audio, text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

KINDS = ("video", "audio", "text", "features")

#: Default names and codes used by the bundled datasets (video, audio, subtitle text).
DEFAULT_CODES = {"video": "v", "audio": "a", "text": "t"}


@dataclass(frozen=True)
class ModalitySpec:
    """One input stream and the shape its tokenizer turns into tokens.

    kind ``video``: input (B, channels, frames, image_size, image_size), tubelet embedding of
      ``tubelet`` frames x ``patch_size`` x ``patch_size`` pixels.
    kind ``audio``: log-mel input (B, n_mels, n_frames), patches of ``patch_size`` squared.
    kind ``text``: token ids (B, max_len), padding id 0 (masked out of attention keys).
    kind ``features``: precomputed features (B, length, feature_dim), linearly projected.
    """

    name: str
    code: str
    kind: str
    channels: int = 3
    frames: int = 8
    image_size: int = 224
    patch_size: int = 16
    tubelet: int = 2
    n_mels: int = 128
    n_frames: int = 800
    vocab_size: int = 30522
    max_len: int = 128
    length: int = 0
    feature_dim: int = 0
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"modality {self.name!r}: unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if len(self.code) != 1 or not self.code.isalpha() or not self.code.islower() or self.code == "s":
            raise ValueError(
                f"modality {self.name!r}: code {self.code!r} must be one lower-case letter other than 's' "
                "('s' is the self view)"
            )
        if self.kind == "video":
            _divides(self.name, "frames", self.frames, "tubelet", self.tubelet)
            _divides(self.name, "image_size", self.image_size, "patch_size", self.patch_size)
        elif self.kind == "audio":
            _divides(self.name, "n_mels", self.n_mels, "patch_size", self.patch_size)
            _divides(self.name, "n_frames", self.n_frames, "patch_size", self.patch_size)
        elif self.kind == "text" and self.max_len < 1:
            raise ValueError(f"modality {self.name!r}: max_len must be >= 1, got {self.max_len}")
        elif self.kind == "features" and (self.length < 1 or self.feature_dim < 1):
            raise ValueError(
                f"modality {self.name!r}: features need length >= 1 and feature_dim >= 1, "
                f"got length={self.length}, feature_dim={self.feature_dim}"
            )

    @property
    def n_tokens(self) -> int:
        """Content tokens the tokenizer produces (the CLS token is not included)."""
        if self.kind == "video":
            return (self.frames // self.tubelet) * (self.image_size // self.patch_size) ** 2
        if self.kind == "audio":
            return (self.n_mels // self.patch_size) * (self.n_frames // self.patch_size)
        if self.kind == "text":
            return self.max_len
        return self.length

    @property
    def seq_len(self) -> int:
        """Sequence length inside the transformer: content tokens plus one CLS token."""
        return self.n_tokens + 1

    @property
    def embed_macs_per_token(self) -> int:
        """Multiply-accumulates of the patch/feature embedding per content token, per output unit."""
        if self.kind == "video":
            return self.channels * self.tubelet * self.patch_size**2
        if self.kind == "audio":
            return self.patch_size**2
        if self.kind == "features":
            return self.feature_dim
        return 0  # an embedding lookup multiplies nothing

    def input_shape(self, batch: int) -> tuple[int, ...]:
        """Shape of one batch of raw input for this modality."""
        if self.kind == "video":
            return (batch, self.channels, self.frames, self.image_size, self.image_size)
        if self.kind == "audio":
            return (batch, self.n_mels, self.n_frames)
        if self.kind == "text":
            return (batch, self.max_len)
        return (batch, self.length, self.feature_dim)


def _divides(name: str, what: str, value: int, by_what: str, by: int) -> None:
    if by < 1 or value % by:
        raise ValueError(f"modality {name!r}: {what}={value} must be a positive multiple of {by_what}={by}")


def check_modalities(modalities: tuple[ModalitySpec, ...]) -> tuple[ModalitySpec, ...]:
    """Validate a dataset's declared modalities: unique names and codes, at least one."""
    if not modalities:
        raise ValueError("a model needs at least one modality")
    for attr in ("name", "code"):
        seen = [getattr(m, attr) for m in modalities]
        dup = sorted({x for x in seen if seen.count(x) > 1})
        if dup:
            raise ValueError(f"modality {attr}s must be unique, got {', '.join(map(repr, dup))} more than once")
    return tuple(modalities)


def n_pairs(m: int) -> int:
    """Number of unordered modality pairs, i.e. of cross views."""
    return math.comb(m, 2)
