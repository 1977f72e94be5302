"""Dataset I/O: AudioSet and MedVidCL metadata readers, media lookup and decoding (video, audio, text)."""

from __future__ import annotations

from locomt.data.media import MediaError

#: Modality codes used across locomt: video, audio, subtitle/title text.
MODALITY_CODES = {"video": "v", "audio": "a", "text": "t"}

__all__ = ["MODALITY_CODES", "MediaError"]
