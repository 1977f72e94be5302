"""Named model shapes: paper-scale ViT-B presets (MBT's AudioSet recipe) and small CPU presets.

Token counts (content tokens; each modality adds one CLS token inside the model):

- ``audioset-vitb``: 8 RGB frames at 224x224 with 1x16x16 patches -> 1568 video tokens;
  8 s log-mel, 128 mels x 800 frames, 16x16 patches -> 400 audio tokens. ViT-B, fusion_layer 8,
  4 bottlenecks, 527 classes.
- ``audioset-vitb-32f``: as above with 32 frames and 2x16x16 tubelets -> 3136 video tokens.
- ``medvidcl-vitb``: video and audio as ``audioset-vitb``, plus 128 text tokens (the title
  followed by the subtitle text, word-level, truncated or padded to 128), 3 classes. MedVidCL's
  token counts are not public; these are ours: one 8 s clip per video, as for AudioSet, and 128
  words, which holds the title and the first sentences of the subtitles.
- ``medvidcl-vitb-long``: the paper's MedVidCL regime, a long video with subtitles, where attention
  dominates: 64 RGB frames sampled over the video at 224x224 in 2x16x16 tubelets -> 6272 video
  tokens; 24 s of audio, 128 mels x 2400 frames (10 ms hop) in 16x16 patches -> 1200 audio
  tokens; 512 words of title and subtitles. ViT-B with fusion_layer 2 (ours: the paper's summaries
  do not give its layer split); 7984 tokens at d=768, L/d = 10.4. Attention is 63 % of a joint
  fusion layer, the share the synthetic default (experiments/synthetic-medvidcl.yaml) mirrors at
  163 tokens of width 32 with mlp_ratio 1; all-cross saves 48.2 % of joint's GFLOPs (the paper: 51.3 %).
- ``audioset-tiny`` / ``medvidcl-tiny``: CPU-sized (d=128, 4 layers, 4 heads, fusion_layer 2):
  8 frames at 32x32 with 2x8x8 tubelets -> 64 video tokens; 64 mels x 128 frames, 16x16 patches
  -> 32 audio tokens; 32 text tokens.
"""

from __future__ import annotations

from typing import Callable

from locomt.modalities import ModalitySpec
from locomt.models.config import ModelConfig

VITB = dict(n_layers=12, n_heads=12, d_model=768, mlp_ratio=4.0, fusion_layer=8, n_bottlenecks=4)
TINY = dict(n_layers=4, n_heads=4, d_model=128, mlp_ratio=4.0, fusion_layer=2, n_bottlenecks=4)

VIDEO_8F = ModalitySpec("video", "v", "video", frames=8, image_size=224, patch_size=16, tubelet=1)
VIDEO_32F = ModalitySpec("video", "v", "video", frames=32, image_size=224, patch_size=16, tubelet=2)
AUDIO_8S = ModalitySpec("audio", "a", "audio", n_mels=128, n_frames=800, patch_size=16)
TEXT_128 = ModalitySpec("text", "t", "text", vocab_size=30000, max_len=128)
VIDEO_64F = ModalitySpec("video", "v", "video", frames=64, image_size=224, patch_size=16, tubelet=2)
AUDIO_24S = ModalitySpec("audio", "a", "audio", n_mels=128, n_frames=2400, patch_size=16)
TEXT_512 = ModalitySpec("text", "t", "text", vocab_size=30000, max_len=512)
VIDEO_TINY = ModalitySpec("video", "v", "video", frames=8, image_size=32, patch_size=8, tubelet=2)
AUDIO_TINY = ModalitySpec("audio", "a", "audio", n_mels=64, n_frames=128, patch_size=16)
TEXT_TINY = ModalitySpec("text", "t", "text", vocab_size=2000, max_len=32)

_PRESETS: dict[str, Callable[[], ModelConfig]] = {
    "audioset-vitb": lambda: ModelConfig((VIDEO_8F, AUDIO_8S), n_classes=527, **VITB),
    "audioset-vitb-32f": lambda: ModelConfig((VIDEO_32F, AUDIO_8S), n_classes=527, **VITB),
    "medvidcl-vitb": lambda: ModelConfig((VIDEO_8F, AUDIO_8S, TEXT_128), n_classes=3, **VITB),
    "medvidcl-vitb-long": lambda: ModelConfig((VIDEO_64F, AUDIO_24S, TEXT_512), n_classes=3,
                                              **{**VITB, "fusion_layer": 2}),
    "audioset-tiny": lambda: ModelConfig((VIDEO_TINY, AUDIO_TINY), n_classes=8, **TINY),
    "medvidcl-tiny": lambda: ModelConfig((VIDEO_TINY, AUDIO_TINY, TEXT_TINY), n_classes=3, **TINY),
}

PAPER_SCALE = ("audioset-vitb", "audioset-vitb-32f", "medvidcl-vitb", "medvidcl-vitb-long")


def list_presets() -> list[str]:
    return list(_PRESETS)


def get_preset(name: str, **overrides) -> ModelConfig:
    """The model config of a named preset, with field overrides (``backbone=``, ``pattern=`` ...)."""
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(_PRESETS)}")
    return _PRESETS[name]().replace(**overrides) if overrides else _PRESETS[name]()
