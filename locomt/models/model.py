"""The multimodal classifier: tokenizers, a registered fusion backbone, MBT's classifier."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from locomt.models.backbones import Backbone
from locomt.models.config import ModelConfig
from locomt.models.tokenizers import Tokenizer

PRESENT_SUFFIX = ":present"


def present_key(modality: str) -> str:
    """The inputs key of a modality's presence: a bool (B,) tensor, True where the example has the
    modality. A batch without the key has the modality in every example."""
    return modality + PRESENT_SUFFIX


def presence(inputs: dict[str, Tensor], names: list[str] | tuple[str, ...]) -> list[Tensor | None]:
    """Per modality of ``names``, its presence (B,) bool from ``inputs`` or None (present in all).
    ValueError when an example has none of them (nothing to classify it from)."""
    present = [inputs[present_key(n)].bool() if present_key(n) in inputs else None for n in names]
    given = [p for p in present if p is not None]
    if len(given) == len(names) and given and not torch.stack(given).any(0).all():
        raise ValueError(f"an example has every modality missing ({', '.join(names)}); at least one must be present")
    return present


class MultimodalClassifier(nn.Module):
    """Inputs as a dict keyed by modality name -> logits (B, n_classes).

    Classifier as in MBT: a CLS token per modality, a final norm per modality, one shared linear
    head, logits averaged over modalities.

    Missing modalities: ``inputs`` may hold, per modality, ``present_key(name)`` -> bool (B,). An
    absent modality's input is replaced by zeros (its content never matters), its tokens are masked
    as the backbone defines (:mod:`locomt.models.backbones`), and the logits are averaged over the
    CLS tokens of the present modalities only. Without any presence key the forward is the complete one.
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
        present = presence(inputs, names)
        tokens, masks = map(list, zip(*(self.tokenizers[n](_zero_absent(inputs[n], p))
                                        for n, p in zip(names, present))))
        if token_mix is not None:
            lam, perm = token_mix
            for i, m in enumerate(self.cfg.modalities):
                if m.kind == "text":
                    tokens[i] = lam * tokens[i] + (1.0 - lam) * tokens[i][perm]
                    masks[i] = masks[i] & masks[i][perm]
        if all(p is None for p in present):
            streams = self.backbone(tokens, masks)
            cls = [self.norms[n](x[:, 0]) for n, x in zip(names, streams)]
            return self.head(torch.stack(cls)).mean(0)
        streams = self.backbone(tokens, masks, present)
        logits = self.head(torch.stack([self.norms[n](x[:, 0]) for n, x in zip(names, streams)]))
        b = logits.shape[1]
        w = torch.stack([p.to(logits.dtype) if p is not None else logits.new_ones(b) for p in present])
        return (logits * w[:, :, None]).sum(0) / w.sum(0)[:, None]


def _zero_absent(x: Tensor, present: Tensor | None) -> Tensor:
    """``x`` with the examples where its modality is absent set to zero (whatever they held, NaN too)."""
    if present is None:
        return x
    keep = present.view(-1, *([1] * (x.dim() - 1)))
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))


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
