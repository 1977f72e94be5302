"""The exact cost model: analytic multiply-accumulates per component, and a measured count.

Analytic MACs for one example, by component (from the backbone's plan, without building it):

- ``tokenizer``: patch/tubelet convolutions and feature projections (a text embedding lookup
  multiplies nothing);
- ``projections``: QKV (3 d^2) and output (d^2) projections, per token through each block;
- ``attention``: scores QK^T and the weighted sum AV, d_head MACs each per query-key pair
  of every head (2 d_head per pair);
- ``mlp``: the two MLP linears, 2 d d_mlp per token through each block;
- ``classifier``: the shared head on each modality's CLS token, d n_classes per modality.

Left out, because they are not multiply-accumulates of a matrix product and are small next to
the rest: biases, layer norms, softmax, GELU, residual and positional additions, the averaging
of bottleneck copies and of logits, dropout. ``measured_flops`` counts the real forward (and
optionally backward) pass with ``torch.utils.flop_counter.FlopCounterMode``, with formulas
registered for torch's CPU attention kernel, which the counter otherwise counts as zero.
Units: 1 MAC = 2 FLOPs; columns say which (``gmacs``, ``gflops``).

Reduced input: ``analytic_cost(cfg, absent={...})`` is the cost of an example without the named
modalities, counted as streams of 0 tokens (no tokenizer, no block of their own, no share of joint
or cross attention, no classifier row). It is what a model that drops those streams computes; the
masked forward of a batch where some examples lack a modality still computes every block at full
size (masks save nothing on CPU), so its measured count is ``analytic_cost(cfg)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from locomt.models.plans import BlockWork
from locomt.models.config import ModelConfig
from locomt.models.model import build_model
from locomt.models.registry import get_backbone, reference_backbone, takes_pattern


@dataclass(frozen=True)
class Cost:
    """Multiply-accumulates for one example, by component."""

    tokenizer: int = 0
    projections: int = 0
    attention: int = 0
    mlp: int = 0
    classifier: int = 0

    @property
    def macs(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    @property
    def attn_share(self) -> float:
        """Fraction of all MACs spent in attention scores and weighted sums."""
        return self.attention / self.macs if self.macs else 0.0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def block_cost(cfg: ModelConfig, work: BlockWork) -> Cost:
    """MACs of one transformer block doing ``work``."""
    d = cfg.d_model
    return Cost(
        projections=work.n_tokens * 4 * d * d,
        attention=2 * cfg.d_head * sum(work.pairs_per_head),
        mlp=work.n_tokens * 2 * d * cfg.mlp_dim,
    )


def layer_cost(cfg: ModelConfig, layer: int) -> Cost:
    """MACs of one layer (every block it runs) for one example."""
    return sum((block_cost(cfg, w) for w in get_backbone(cfg.backbone).work(cfg)[layer]), Cost())


def check_absent(cfg: ModelConfig, absent: Iterable[str]) -> frozenset[str]:
    """``absent`` as a set of modality names of ``cfg``; ValueError naming an unknown one, or when
    it names every modality (nothing left to classify from)."""
    absent = frozenset(absent)
    names = [m.name for m in cfg.modalities]
    unknown = sorted(absent - set(names))
    if unknown:
        raise ValueError(f"missing modality {unknown[0]!r} is not one of the config's modalities ({', '.join(names)})")
    if absent and absent >= set(names):
        raise ValueError(f"missing set {','.join(sorted(absent))} names every modality; at least one must remain")
    return absent


def analytic_cost(cfg: ModelConfig, absent: Iterable[str] = ()) -> Cost:
    """MACs of the whole forward pass for one example, by component; with ``absent`` (modality
    names), for an input without those modalities (see the module docstring)."""
    absent = check_absent(cfg, absent)
    d = cfg.d_model
    present = [m for m in cfg.modalities if m.name not in absent]
    tok = sum(m.n_tokens * d * m.embed_macs_per_token for m in present)
    cls = len(present) * d * cfg.n_classes
    layers = sum((block_cost(cfg, w) for layer in get_backbone(cfg.backbone).work(cfg, absent) for w in layer),
                 Cost())
    return Cost(tokenizer=tok, classifier=cls) + layers


def fusion_attention_share(cfg: ModelConfig) -> float:
    """Share of attention (scores and weighted sums) in the MACs of one fusion layer of joint at
    ``cfg``'s shapes: the regime a view pattern can save in (issue 12 asks at least 1/2)."""
    return layer_cost(cfg.replace(backbone=reference_backbone()), cfg.n_layers - 1).attn_share


def attention_pairs(cfg: ModelConfig) -> int:
    """Query-key pairs summed over the heads of every layer (the attention term of the guarantee)."""
    return sum(sum(w.pairs_per_head) for layer in get_backbone(cfg.backbone).work(cfg) for w in layer)


def count_params(cfg: ModelConfig) -> int:
    """Parameters of the model for ``cfg``, built on the meta device (no memory, no init work)."""
    with torch.device("meta"):
        return sum(p.numel() for p in build_model(cfg).parameters())


def cost_rows(base: ModelConfig, backbones: Iterable[str], patterns: Iterable[str] = ()) -> list[dict]:
    """The cost table of ``base``'s shapes: one row per backbone, and per pattern of ``patterns``
    for a backbone that takes one, with ``gflops_vs_joint`` against joint at the same shapes.
    Columns: backbone, pattern_name, canonical pattern, tokens (content tokens per modality), params,
    GMACs, GFLOPs, attention GMACs and share, and GMACs by component."""
    joint_gflops = analytic_cost(base.replace(backbone=reference_backbone())).gflops
    tokens = " ".join(f"{m.code}={m.n_tokens}" for m in base.modalities)
    rows = []
    for backbone in backbones:
        for name in patterns if takes_pattern(backbone) else [""]:
            cfg = base.replace(backbone=backbone, pattern=name or base.pattern)
            cost = analytic_cost(cfg)
            rows.append({
                "backbone": backbone,
                "pattern_name": name,
                "pattern": cfg.pattern_spec,
                "tokens": tokens,
                "params": count_params(cfg),
                "gmacs": cost.gmacs,
                "gflops": cost.gflops,
                "attn_gmacs": cost.attention / 1e9,
                "attn_share": cost.attn_share,
                "gflops_vs_joint": cost.gflops / joint_gflops,
                "tokenizer_gmacs": cost.tokenizer / 1e9,
                "projections_gmacs": cost.projections / 1e9,
                "mlp_gmacs": cost.mlp / 1e9,
                "classifier_gmacs": cost.classifier / 1e9,
            })
    return rows


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward_flop(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                            **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


#: Formulas for attention kernels that FlopCounterMode (torch 2.13) counts as zero.
EXTRA_FLOP_FORMULAS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flop,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flop,
}


def flop_counter() -> FlopCounterMode:
    """A FlopCounterMode that also counts torch's CPU attention kernels."""
    return FlopCounterMode(display=False, custom_mapping=EXTRA_FLOP_FORMULAS)


def measured_flops(model: nn.Module, inputs: dict[str, Tensor] | Tensor | tuple, backward: bool = False) -> int:
    """FLOPs the real forward (and, with ``backward``, backward) pass executes, as torch counts them."""
    counter = flop_counter()
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    with counter:
        out = model(*args)
        if backward:
            (out if isinstance(out, Tensor) else torch.cat([o.flatten() for o in out])).float().sum().backward()
    return counter.get_total_flops()
