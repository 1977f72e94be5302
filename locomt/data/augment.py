"""Training-time augmentation of decoded batches: SpecAugment's time and frequency masks.

torchaudio cannot be installed next to the pinned torch, so the masks are drawn here with torch
alone (vectorised over the batch, one seeded generator per call).
"""

from __future__ import annotations

import torch
from torch import Tensor

from locomt.config import SpecAugmentConfig


def _band_mask(batch: int, size: int, count: int, width: int, generator: torch.Generator) -> Tensor:
    """bool (batch, size): per example, the union of ``count`` bands, each of a width uniform in
    0..``width`` (at most ``size``) and a start uniform over the positions where it fits."""
    w = torch.randint(0, min(width, size) + 1, (batch, count), generator=generator)
    start = (torch.rand(batch, count, generator=generator) * (size - w + 1)).long()
    pos = torch.arange(size)
    return ((pos >= start[..., None]) & (pos < (start + w)[..., None])).any(dim=1)


def spec_augment(mel: Tensor, cfg: SpecAugmentConfig, generator: torch.Generator) -> Tensor:
    """SpecAugment (Park et al. 2019) without time warping, as MBT uses it: a copy of the log-mels
    ``mel`` (B, n_mels, n_frames) with ``cfg.freq_masks`` bands of mel bins and ``cfg.time_masks``
    bands of frames set to 0 in each example (the mean, on standardised input)."""
    b, n_mels, n_frames = mel.shape
    keep = torch.ones(b, n_mels, n_frames, dtype=torch.bool)
    if cfg.freq_masks and cfg.freq_width:
        keep &= ~_band_mask(b, n_mels, cfg.freq_masks, cfg.freq_width, generator)[:, :, None]
    if cfg.time_masks and cfg.time_width:
        keep &= ~_band_mask(b, n_frames, cfg.time_masks, cfg.time_width, generator)[:, None, :]
    return mel.masked_fill(~keep.to(mel.device), 0.0)
