"""Shared fixtures: small model configs over 2 and 3 modalities."""

from __future__ import annotations

import pytest

from locomt.modalities import ModalitySpec
from locomt.models import ModelConfig

VIDEO = ModalitySpec("video", "v", "video", frames=4, image_size=16, patch_size=8, tubelet=2)
AUDIO = ModalitySpec("audio", "a", "audio", n_mels=16, n_frames=48, patch_size=8)
TEXT = ModalitySpec("text", "t", "text", vocab_size=50, max_len=7)
FEATS = ModalitySpec("flow", "f", "features", length=5, feature_dim=12)


def small_config(modalities=(VIDEO, AUDIO, TEXT), **kw) -> ModelConfig:
    base = dict(n_classes=5, n_layers=3, n_heads=4, d_model=32, fusion_layer=1, n_bottlenecks=2, pattern="half")
    base.update(kw)
    return ModelConfig(tuple(modalities), **base)


@pytest.fixture(params=["va", "vat", "vatf"])
def modalities(request):
    return {"va": (VIDEO, AUDIO), "vat": (VIDEO, AUDIO, TEXT), "vatf": (VIDEO, AUDIO, TEXT, FEATS)}[request.param]
