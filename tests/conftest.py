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


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> list[str]:
    """Overrides of experiments/synthetic-medvidcl.yaml: a 60-clip synthetic set (generated and
    decoded once per session, on first use; tests only read it) and a tiny model that trains in
    seconds. Modules append what they change (epochs, output folders)."""
    base = tmp_path_factory.mktemp("tiny-synthetic")
    return [f"data.root={base / 'synth'}", f"data.cache_dir={base / 'cache'}",
            "data.synthetic={layout: medvidcl, n: 60, seed: 0, size: 32, fps: 8, seconds: 2.0}",
            "data.video.num_frames=8", "model.video_tubelet=2", "data.batch_size=8", "model.n_layers=2", "model.fusion_layer=1", "model.d_model=32",
            "model.n_heads=4", "trainer.max_epochs=1", "trainer.accelerator=cpu", "trainer.log_every_n_steps=1"]
