"""Dataset I/O: AudioSet and MedVidCL metadata readers, media lookup and decoding (video, audio, text)."""

from __future__ import annotations

from locomt.data.media import MediaError
from locomt.modalities import DEFAULT_CODES as MODALITY_CODES  # video v, audio a, text t

__all__ = ["MODALITY_CODES", "MediaError"]
