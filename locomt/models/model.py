"""The multimodal classifier: tokenizers, a registered fusion backbone, MBT's classifier."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from locomt.models.backbones import Backbone
from locomt.models.config import ModelConfig
from locomt.models.tokenizers import Tokenizer


class MultimodalClassifier(nn.Module):
    """Inputs as a dict keyed by modality name -> logits (B, n_classes).

    Classifier as in MBT: a CLS token per modality, a final norm per modality, one shared linear
    head, logits averaged over modalities.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizers = nn.ModuleDict({m.name: Tokenizer(m, cfg.d_model) for m in cfg.modalities})
        self.backbone = Backbone(cfg)
        self.norms = nn.ModuleDict({m.name: nn.LayerNorm(cfg.d_model, eps=1e-6) for m in cfg.modalities})
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)

    def forward(self, inputs: dict[str, Tensor], token_mix: tuple[float, Tensor] | None = None) -> Tensor:
        """``token_mix = (lam, perm)`` is mixup for inputs that cannot be mixed as numbers (text token
        ids): their tokens become ``lam * tokens + (1 - lam) * tokens[perm]`` after the embedding, and
        a position is padding only where it is padding in both. Other modalities are left alone (mix
        them as inputs: their tokenizers are affine, so that is the same thing)."""
        names = [m.name for m in self.cfg.modalities]
        missing = [n for n in names if n not in inputs]
        if missing:
            raise KeyError(f"inputs lack modalities {missing}; expected keys {names}, got {sorted(inputs)}")
        tokens, masks = map(list, zip(*(self.tokenizers[n](inputs[n]) for n in names)))
        if token_mix is not None:
            lam, perm = token_mix
            for i, m in enumerate(self.cfg.modalities):
                if m.kind == "text":
                    tokens[i] = lam * tokens[i] + (1.0 - lam) * tokens[i][perm]
                    masks[i] = masks[i] & masks[i][perm]
        streams = self.backbone(tokens, masks)
        cls = [self.norms[n](x[:, 0]) for n, x in zip(names, streams)]
        return self.head(torch.stack(cls)).mean(0)


def build_model(cfg: ModelConfig) -> MultimodalClassifier:
    """Build the classifier for ``cfg.backbone`` (any name in ``list_backbones()``)."""
    return MultimodalClassifier(cfg)


def example_inputs(cfg: ModelConfig, batch: int = 2, generator: torch.Generator | None = None,
                   device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """Random inputs of the right shapes; text gets a random amount of trailing padding."""
    g = generator or torch.Generator().manual_seed(0)
    out: dict[str, Tensor] = {}
    for m in cfg.modalities:
        shape = m.input_shape(batch)
        if m.kind == "text":
            ids = torch.randint(1, m.vocab_size, shape, generator=g)
            keep = torch.randint(1, m.max_len + 1, (batch, 1), generator=g)
            ids = ids * (torch.arange(m.max_len)[None] < keep)
            out[m.name] = ids.to(device)
        else:
            out[m.name] = torch.randn(shape, generator=g).to(device)
    return out
