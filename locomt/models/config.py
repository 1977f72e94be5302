"""The one model schema: ``Architecture`` (backbone, pattern and shape: one field list, one set of
defaults) and ``ModelConfig`` (an architecture over given modalities and classes), which every
backbone is built from. The experiment config's ``model`` section extends the same
``Architecture`` with its patch sizes and initialisation (``locomt.config``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from locomt.modalities import ModalitySpec, check_modalities
from locomt.models.registry import get_backbone
from locomt.pattern import Pattern, resolve_pattern


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """Backbone and shape of a multimodal transformer; the defaults are ViT-Base as MBT uses it.
    ``pattern`` (a spec or preset of ``locomt.pattern``) is read by backbones that take one
    (``locomt``); ``n_bottlenecks`` by ``bottleneck``. ``drop_path`` (stochastic depth) acts in
    training only and does not change the cost model."""

    backbone: str = "locomt"
    pattern: str = "half"
    n_layers: int = 12
    n_heads: int = 12
    d_model: int = 768
    mlp_ratio: float = 4.0
    fusion_layer: int = 8
    n_bottlenecks: int = 4
    dropout: float = 0.0
    attn_dropout: float = 0.0
    drop_path: float = 0.0  # stochastic depth of the last layer; layer i of N gets drop_path * i / (N - 1)

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}")
        if not 0 <= self.fusion_layer <= self.n_layers:
            raise ValueError(f"fusion_layer={self.fusion_layer} must be in 0..n_layers={self.n_layers}")
        if not 0.0 <= self.drop_path <= 1.0:
            raise ValueError(f"drop_path={self.drop_path} must be in [0, 1]")

    def architecture(self) -> dict:
        """The ``Architecture`` fields of this object, as keyword arguments."""
        return {f.name: getattr(self, f.name) for f in fields(Architecture)}


@dataclass(frozen=True)
class ModelConfig(Architecture):
    """An ``Architecture`` over ``modalities`` (in declared order) with ``n_classes`` outputs."""

    modalities: tuple[ModalitySpec, ...]
    n_classes: int
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "modalities", check_modalities(tuple(self.modalities)))
        if self.n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {self.n_classes}")
        super().__post_init__()

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(m.code for m in self.modalities)

    @property
    def mlp_dim(self) -> int:
        return int(self.d_model * self.mlp_ratio)

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def n_fusion_layers(self) -> int:
        return self.n_layers - self.fusion_layer

    def resolved_pattern(self) -> Pattern:
        return resolve_pattern(self.pattern, self.codes, self.n_heads, self.n_fusion_layers)

    @property
    def pattern_spec(self) -> str:
        """The canonical view pattern of a backbone that takes one; empty for the others."""
        return str(self.resolved_pattern()) if get_backbone(self.backbone).takes_pattern else ""

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Inverse of ``locomt.config.to_dict`` (modalities as a list of field mappings)."""
        data = dict(data)
        data["modalities"] = tuple(ModalitySpec(**m) for m in data["modalities"])
        return cls(**data)

    def replace(self, **changes) -> "ModelConfig":
        return replace(self, **changes)
