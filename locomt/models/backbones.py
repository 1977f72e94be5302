"""The modules of the fusion backbones (early, joint, late, bottleneck (MBT) and locomt): transformer
blocks and the layers a backbone's plan (``locomt.models.plans``, which also gives the cost model its
work) is built from.

Missing modalities: ``forward(xs, masks, present)`` takes per stream a bool (B,) (True where the
example has that modality) or None (all have it). What each backbone does with an absent modality
(its tokens are computed, as masks save nothing on CPU, but never reach a used output):

- ``early``, ``joint``: joint attention over the modalities that are there (keys of absent ones masked).
- ``late``: nothing crosses modalities; the classifier averages the logits of present modalities.
- ``bottleneck``: a present modality's block sees its tokens and the bottleneck as usual; the
  bottleneck copies are averaged over the present modalities only (an absent modality's copy is dropped).
- ``locomt``: unimodal layers and ``self`` heads are unchanged; a ``cross(i, j)`` head gives i's
  tokens a zero slice when j is absent (see :mod:`locomt.models.attention` for why), so the layer still
  computes exactly the blocks its views need.

The classifier (:class:`locomt.models.model.MultimodalClassifier`) averages logits over the CLS
tokens of present modalities. With one modality left, a LoCoMT model is its unimodal stack plus the
self heads of its fusion layers (cross heads contribute zero).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from locomt.models.attention import DenseAttention, ViewAttention
from locomt.models.config import ModelConfig
from locomt.models.plans import BASELINES, BlockWork, LayerPlan  # noqa: F401  (the plans, re-exported)
from locomt.models.registry import get_backbone


def drop_path_rates(cfg: ModelConfig) -> list[float]:
    """Stochastic depth per layer, rising linearly from 0 at the first layer to ``cfg.drop_path`` at
    the last (timm's ``linspace(0, rate, depth)``, MBT's ``lyr / (N - 1) * rate``)."""
    n = cfg.n_layers
    return [cfg.drop_path * i / max(n - 1, 1) for i in range(n)]


class Mlp(nn.Sequential):
    def __init__(self, d_model: int, hidden: int, dropout: float) -> None:
        layers: list[nn.Module] = [nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model)]
        if dropout:
            layers.insert(2, nn.Dropout(dropout))
        super().__init__(*layers)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016) on a residual branch, per example, as timm's ``DropPath``:
    in training each example's branch is zeroed with probability ``p`` and the kept ones are scaled
    by 1 / (1 - p), so the expectation is unchanged; in evaluation it is the identity. (torchvision's
    ``StochasticDepth`` does the same, but torchvision is not a dependency.)"""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        if keep == 0.0:
            return torch.zeros_like(x)
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x)); with ``drop_path`` > 0
    each residual branch is dropped per example in training (independently for the two branches)."""

    def __init__(self, cfg: ModelConfig, attn: nn.Module, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model, eps=1e-6)
        self.attn = attn
        self.norm2 = nn.LayerNorm(cfg.d_model, eps=1e-6)
        self.mlp = Mlp(cfg.d_model, cfg.mlp_dim, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()

    def forward(self, x: Tensor, lengths: list[int], masks: list[Tensor | None] | None = None,
                present: list[Tensor | None] | None = None) -> Tensor:
        x = x + self.drop_path(self.drop(self.attn(self.norm1(x), lengths, masks, present)))
        return x + self.drop_path(self.drop(self.mlp(self.norm2(x))))


class PerStreamLayer(nn.Module):
    """A block per modality stream. With ``bottleneck``, the last stream holds the B shared
    bottleneck tokens: each modality's block sees [own tokens; bottleneck] and the bottleneck
    copies the modalities produce are averaged (MBT), over the modalities present in each example."""

    def __init__(self, blocks: nn.ModuleList, bottleneck: bool = False) -> None:
        super().__init__()
        self.blocks, self.bottleneck = blocks, bottleneck

    def forward(self, xs: list[Tensor], masks: list[Tensor | None],
                present: list[Tensor | None] | None = None) -> list[Tensor]:
        if not self.bottleneck:  # a block sees one modality: absence changes nothing here
            return [blk(x, [x.shape[1]], [mk]) for blk, x, mk in zip(self.blocks, xs, masks)]
        *streams, z = xs
        present = present if present is not None else [None] * len(streams)
        out, zs = [], []
        for blk, x, mk, p in zip(self.blocks, streams, masks, present):
            n = x.shape[1]
            y = blk(torch.cat([x, z], dim=1), [n, z.shape[1]], [mk, None], [p, None])
            out.append(y[:, :n])
            zs.append(y[:, n:])
        if all(p is None for p in present):
            return out + [torch.stack(zs).mean(0)]
        weights = torch.stack([p.to(z.dtype) if p is not None else z.new_ones(z.shape[0]) for p in present])
        mean = (torch.stack(zs) * weights[:, :, None, None]).sum(0) / weights.sum(0)[:, None, None]
        return out + [mean]


class FusedLayer(nn.Module):
    """One block over all streams concatenated (joint attention, or LoCoMT views)."""

    def __init__(self, block: Block) -> None:
        super().__init__()
        self.block = block

    def forward(self, xs: list[Tensor], masks: list[Tensor | None],
                present: list[Tensor | None] | None = None) -> list[Tensor]:
        lengths = [x.shape[1] for x in xs]
        return list(self.block(torch.cat(xs, dim=1), lengths, masks, present).split(lengths, dim=1))


def build_layer(plan: LayerPlan, cfg: ModelConfig, drop_path: float = 0.0) -> nn.Module:
    """The modules of one planned layer."""
    m = len(cfg.modalities)
    if plan.kind in ("unimodal", "bottleneck"):
        return PerStreamLayer(nn.ModuleList(
            Block(cfg, DenseAttention(cfg.d_model, cfg.n_heads, cfg.attn_dropout), drop_path) for _ in range(m)),
            bottleneck=plan.kind == "bottleneck")
    if plan.kind == "joint":
        return FusedLayer(Block(cfg, DenseAttention(cfg.d_model, cfg.n_heads, cfg.attn_dropout), drop_path))
    return FusedLayer(Block(cfg, ViewAttention(cfg.d_model, cfg.n_heads, list(plan.views), cfg.codes,
                                               cfg.attn_dropout), drop_path))


class Backbone(nn.Module):
    """Layers over per-modality token streams, built from the plan of ``cfg.backbone``
    (``locomt.models.plans``). From the first ``bottleneck`` layer on (MBT), the ``n_bottlenecks``
    shared tokens ride along as one more stream, dropped at the end."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.plans = get_backbone(cfg.backbone).plan(cfg)
        self.layers = nn.ModuleList(build_layer(p, cfg, rate) for p, rate in zip(self.plans, drop_path_rates(cfg)))
        self.first_bottleneck = next((i for i, p in enumerate(self.plans) if p.kind == "bottleneck"), None)
        if self.first_bottleneck is not None:
            self.bottleneck_tokens = nn.Parameter(torch.zeros(1, cfg.n_bottlenecks, cfg.d_model))
            nn.init.normal_(self.bottleneck_tokens, std=0.02)

    def forward(self, xs: list[Tensor], masks: list[Tensor | None],
                present: list[Tensor | None] | None = None) -> list[Tensor]:
        """Streams (B, 1 + L_i, d) in declared order -> the same streams after every layer;
        ``present``: per stream (B,) bool or None (see the module docstring)."""
        for i, layer in enumerate(self.layers):
            if i == self.first_bottleneck:
                xs = xs + [self.bottleneck_tokens.expand(xs[0].shape[0], -1, -1)]
            xs = layer(xs, masks, present)
        return xs[: len(self.cfg.modalities)]
