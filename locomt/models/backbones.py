"""Fusion backbones and their registry: early, joint, late, bottleneck (MBT) and locomt.

A backbone is a stack of layers over a list of token streams (one per modality, in declared
order). Each backbone describes itself as a *plan*, one ``LayerPlan`` per layer; the same plan
builds the modules and gives the cost model its work (tokens through the projections and MLP,
query-key pairs per head), so the analytic cost cannot drift from the code that runs.

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

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from locomt.models.attention import DenseAttention, ViewAttention
from locomt.constraints import key
from locomt.models.config import Architecture, ModelConfig
from locomt.models.registry import baselines, register_backbone
from locomt.pattern import SELF

@dataclass(frozen=True)
class BlockWork:
    """One transformer block's work for one example: tokens through QKV/out projections and the
    MLP, and query-key pairs of each head (attention scores and weighted sum cost d_head MACs each)."""

    n_tokens: int
    pairs_per_head: tuple[int, ...]


@dataclass(frozen=True)
class LayerPlan:
    """One layer: ``unimodal`` (a block per stream), ``joint`` (one block over the concatenation),
    ``views`` (one LoCoMT block with per-head ``views``) or ``bottleneck`` (a block per modality
    over its tokens plus the shared bottleneck tokens, whose copies are then averaged)."""

    kind: str
    views: tuple[tuple[str, int], ...] = ()

    def work(self, cfg: ModelConfig, lengths: list[int]) -> list[BlockWork]:
        """The blocks of this layer for one example with stream ``lengths``; a stream of length 0 (a
        modality absent from the input) runs no block of its own."""
        h, total = cfg.n_heads, sum(lengths)
        if self.kind == "unimodal":
            return [BlockWork(n, (n * n,) * h) for n in lengths if n]
        if self.kind == "joint":
            return [BlockWork(total, (total * total,) * h)]
        if self.kind == "bottleneck":
            b = cfg.n_bottlenecks
            return [BlockWork(n + b, ((n + b) ** 2,) * h) for n in lengths if n]
        codes = cfg.codes
        pairs: list[int] = []
        for view, count in self.views:
            if view == SELF:
                pairs += [sum(n * n for n in lengths)] * count
            else:
                i, j = codes.index(view[0]), codes.index(view[1])
                pairs += [2 * lengths[i] * lengths[j]] * count
        return [BlockWork(total, tuple(pairs))]

    def build(self, cfg: ModelConfig, drop_path: float = 0.0) -> nn.Module:
        m = len(cfg.modalities)
        if self.kind in ("unimodal", "bottleneck"):
            return PerStreamLayer(nn.ModuleList(
                Block(cfg, DenseAttention(cfg.d_model, cfg.n_heads, cfg.attn_dropout), drop_path) for _ in range(m)),
                bottleneck=self.kind == "bottleneck")
        if self.kind == "joint":
            return FusedLayer(Block(cfg, DenseAttention(cfg.d_model, cfg.n_heads, cfg.attn_dropout), drop_path))
        return FusedLayer(Block(cfg, ViewAttention(cfg.d_model, cfg.n_heads, list(self.views), cfg.codes,
                                                   cfg.attn_dropout), drop_path))


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


class Backbone(nn.Module):
    """Layers over per-modality token streams; subclasses only say which layer goes where."""

    name: ClassVar[str] = ""
    takes_pattern: ClassVar[bool] = False  # set by @register_backbone
    baseline: ClassVar[bool] = False
    reference: ClassVar[bool] = False

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.plans = self.plan(cfg)
        self.layers = nn.ModuleList(p.build(cfg, rate) for p, rate in zip(self.plans, drop_path_rates(cfg)))

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        raise NotImplementedError

    @classmethod
    def check_architecture(cls, arch: Architecture) -> None:
        """ValueError (naming the field with ``locomt.constraints.key``) for an architecture this
        backbone cannot be built with; called when any ``Architecture`` is made."""

    @classmethod
    def work(cls, cfg: ModelConfig, absent: frozenset[str] | set[str] | tuple[str, ...] = ()) -> list[list[BlockWork]]:
        """Per layer, the blocks it runs for one example (the cost model's input); the modalities
        named in ``absent`` count as streams of 0 tokens (an input without them)."""
        lengths = [0 if s.name in absent else s.seq_len for s in cfg.modalities]
        return [p.work(cfg, lengths) for p in cls.plan(cfg)]

    def forward(self, xs: list[Tensor], masks: list[Tensor | None],
                present: list[Tensor | None] | None = None) -> list[Tensor]:
        """Streams (B, 1 + L_i, d) in declared order -> the same streams after every layer;
        ``present``: per stream (B,) bool or None (see the module docstring)."""
        for layer in self.layers:
            xs = layer(xs, masks, present)
        return xs


@register_backbone("early", baseline=True)
class Early(Backbone):
    """Joint attention over the concatenated modalities from the first layer on (fusion_layer = 0)."""

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        return [LayerPlan("joint")] * cfg.n_layers


@register_backbone("joint", baseline=True, reference=True)
class Joint(Backbone):
    """Unimodal layers below ``fusion_layer``, then joint attention over the concatenation."""

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        f = cfg.fusion_layer
        return [LayerPlan("unimodal")] * f + [LayerPlan("joint")] * (cfg.n_layers - f)


@register_backbone("late", baseline=True)
class Late(Backbone):
    """No layer crosses modalities; the classifier averages the per-modality logits."""

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        return [LayerPlan("unimodal")] * cfg.n_layers


@register_backbone("bottleneck", baseline=True)
class Bottleneck(Backbone):
    """MBT attention bottlenecks: from ``fusion_layer`` on, modalities exchange information only
    through ``n_bottlenecks`` shared tokens."""

    @classmethod
    def check_architecture(cls, arch: Architecture) -> None:
        if arch.n_bottlenecks < 1:
            raise ValueError(f"{key('n_bottlenecks')}={arch.n_bottlenecks}: the bottleneck backbone needs at least 1 "
                             "bottleneck token")

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        self.bottleneck_tokens = nn.Parameter(torch.zeros(1, cfg.n_bottlenecks, cfg.d_model))
        nn.init.normal_(self.bottleneck_tokens, std=0.02)

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        f = cfg.fusion_layer
        return [LayerPlan("unimodal")] * f + [LayerPlan("bottleneck")] * (cfg.n_layers - f)

    def forward(self, xs: list[Tensor], masks: list[Tensor | None],
                present: list[Tensor | None] | None = None) -> list[Tensor]:
        for i, layer in enumerate(self.layers):
            if i == self.cfg.fusion_layer:
                xs = xs + [self.bottleneck_tokens.expand(xs[0].shape[0], -1, -1)]
            xs = layer(xs, masks, present)
        return xs[: len(self.cfg.modalities)]


@register_backbone("locomt", takes_pattern=True)
class LoCoMT(Backbone):
    """LoCoMT: unimodal layers below ``fusion_layer``; from there every head has the fixed view
    that ``pattern`` gives it, and attends only over the tokens that view needs."""

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        pattern = cfg.resolved_pattern()
        fusion = [LayerPlan("views", tuple(pattern.layer_views(i))) for i in range(cfg.n_fusion_layers)]
        return [LayerPlan("unimodal")] * cfg.fusion_layer + fusion


# The fusion baselines of MBT that sweeps and ablations compare LoCoMT with (as each declares above).
BASELINES = baselines()
