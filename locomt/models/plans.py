"""What each fusion backbone is, in pure Python: its plan of layers, what it declares (takes a view
pattern, is a baseline, is the reference) and the architecture it needs, registered by name.

A backbone is a stack of layers over a list of token streams (one per modality, in declared
order). Each backbone describes itself as a *plan*, one ``LayerPlan`` per layer; the same plan
builds the modules (``locomt.models.backbones``, torch) and gives the cost model its work (tokens
through the projections and MLP, query-key pairs per head), so the analytic cost cannot drift from
the code that runs. Nothing here imports torch: a config is checked, and a cost counted, without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from locomt.constraints import key
from locomt.models.registry import baselines, register_backbone
from locomt.pattern import SELF

if TYPE_CHECKING:
    from locomt.models.config import Architecture, ModelConfig


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


def fused_from(cfg: ModelConfig, fusion: LayerPlan) -> list[LayerPlan]:
    """Unimodal layers below ``cfg.fusion_layer``, then ``fusion`` in every layer from there (MBT's
    convention: fusion_layer 0 fuses from the input on, fusion_layer = n_layers never fuses)."""
    return [LayerPlan("unimodal")] * cfg.fusion_layer + [fusion] * (cfg.n_layers - cfg.fusion_layer)


class BackbonePlan:
    """A backbone kind: which layer goes where (:meth:`plan`), what it needs of an architecture
    (:meth:`check_architecture`) and its work (:meth:`work`); ``locomt.models.backbones.Backbone``
    builds the modules from the plan."""

    name: ClassVar[str] = ""
    takes_pattern: ClassVar[bool] = False  # set by @register_backbone
    baseline: ClassVar[bool] = False
    reference: ClassVar[bool] = False

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


@register_backbone("early", baseline=True)
class Early(BackbonePlan):
    """Joint attention over the concatenated modalities from the first layer on (fusion_layer = 0)."""

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        return [LayerPlan("joint")] * cfg.n_layers


@register_backbone("joint", baseline=True, reference=True)
class Joint(BackbonePlan):
    """Unimodal layers below ``fusion_layer``, then joint attention over the concatenation."""

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        return fused_from(cfg, LayerPlan("joint"))


@register_backbone("late", baseline=True)
class Late(BackbonePlan):
    """No layer crosses modalities; the classifier averages the per-modality logits."""

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        return [LayerPlan("unimodal")] * cfg.n_layers


@register_backbone("bottleneck", baseline=True)
class Bottleneck(BackbonePlan):
    """MBT attention bottlenecks: from ``fusion_layer`` on, modalities exchange information only
    through ``n_bottlenecks`` shared tokens."""

    @classmethod
    def check_architecture(cls, arch: Architecture) -> None:
        if arch.n_bottlenecks < 1:
            raise ValueError(f"{key('n_bottlenecks')}={arch.n_bottlenecks}: the bottleneck backbone needs at least 1 "
                             "bottleneck token")

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        return fused_from(cfg, LayerPlan("bottleneck"))


@register_backbone("locomt", takes_pattern=True)
class LoCoMT(BackbonePlan):
    """LoCoMT: unimodal layers below ``fusion_layer``; from there every head has the fixed view
    that ``pattern`` gives it, and attends only over the tokens that view needs."""

    @classmethod
    def plan(cls, cfg: ModelConfig) -> list[LayerPlan]:
        pattern = cfg.resolved_pattern()
        fusion = [LayerPlan("views", tuple(pattern.layer_views(i))) for i in range(cfg.n_fusion_layers)]
        return [LayerPlan("unimodal")] * cfg.fusion_layer + fusion


# The fusion baselines of MBT that sweeps and ablations compare LoCoMT with (as each declares above).
BASELINES = baselines()
