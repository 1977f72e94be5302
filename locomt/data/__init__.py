"""Data: the dataset registry (``datasets``), metadata readers (``audioset``, ``medvidcl``, ``manifest``),
media lookup (``media``), decoding by modality (``video``, ``audio``, ``text``), the decoded-item cache
(``cache``) and how it is built (``build``, ``consolidate``), synthetic datasets (``synthetic``) and the
Lightning data module (``datamodule``)."""

from __future__ import annotations

from locomt.data.media import MediaError
from locomt.modalities import DEFAULT_CODES as MODALITY_CODES  # video v, audio a, text t

__all__ = ["MODALITY_CODES", "MediaError"]
