"""Per-modality tokenizers: raw input -> (batch, 1 + L_i, d) tokens with a CLS token and positions."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from locomt.modalities import ModalitySpec


class Tokenizer(nn.Module):
    """Embeds one modality, prepends a learned CLS token and adds learned positional embeddings.

    ``forward`` returns ``(tokens, key_padding_mask)``: tokens (B, 1 + L, d); the mask is
    (B, 1 + L) with True at padding positions (text only; None for the other kinds). The CLS
    position is never padding, so every query has at least one key to attend to.
    """

    def __init__(self, spec: ModalitySpec, d_model: int) -> None:
        super().__init__()
        self.spec = spec
        if spec.kind == "video":
            k = (spec.tubelet, spec.patch_size, spec.patch_size)
            self.embed = nn.Conv3d(spec.channels, d_model, kernel_size=k, stride=k)
        elif spec.kind == "audio":
            self.embed = nn.Conv2d(1, d_model, kernel_size=spec.patch_size, stride=spec.patch_size)
        elif spec.kind == "text":
            self.embed = nn.Embedding(spec.vocab_size, d_model, padding_idx=0)
        else:
            self.embed = nn.Linear(spec.feature_dim, d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos = nn.Parameter(torch.zeros(1, spec.seq_len, d_model))
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        spec, mask = self.spec, None
        expected = spec.input_shape(x.shape[0])
        if tuple(x.shape) != expected:
            raise ValueError(f"modality {spec.name!r}: input shape {tuple(x.shape)}, expected {expected}")
        if spec.kind == "video":
            tokens = self.embed(x).flatten(2).transpose(1, 2)  # (B, T'*H'*W', d)
        elif spec.kind == "audio":
            tokens = self.embed(x.unsqueeze(1)).flatten(2).transpose(1, 2)  # (B, F'*T', d)
        elif spec.kind == "text":
            tokens = self.embed(x)
            pad = x == 0
            mask = torch.cat([pad.new_zeros(pad.shape[0], 1), pad], dim=1)
        else:
            tokens = self.embed(x)
        cls = self.cls.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos, mask
