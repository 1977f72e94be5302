"""The one model schema: ``Architecture`` (backbone, pattern and shape: one field list, one set of
defaults) and ``ModelConfig`` (an architecture over given modalities and classes), which every
backbone is built from. The experiment config's ``model`` section extends the same
``Architecture`` with its patch sizes and initialisation (``locomt.config``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from locomt.constraints import at_least, between, check_fields, key, one_of, positive, text
from locomt.modalities import ModalitySpec, check_modalities
from locomt.models.registry import get_backbone, list_backbones
from locomt.pattern import Pattern, resolve_pattern


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """Backbone and shape of a multimodal transformer; the defaults are ViT-Base as MBT uses it.
    ``pattern`` (a spec or preset of ``locomt.pattern``) is read by backbones that take one
    (``locomt``); ``n_bottlenecks`` by ``bottleneck``. ``drop_path`` (stochastic depth) acts in
    training only and does not change the cost model."""

    backbone: str = field(default="locomt", metadata=one_of(lazy=list_backbones))
    pattern: str = field(default="half", metadata=text(empty=True))  # "" for a backbone without views
    n_layers: int = field(default=12, metadata=at_least(1))
    n_heads: int = field(default=12, metadata=at_least(1))
    d_model: int = field(default=768, metadata=at_least(1))
    mlp_ratio: float = field(default=4.0, metadata=positive())
    fusion_layer: int = field(default=8, metadata=at_least(0))
    n_bottlenecks: int = field(default=4, metadata=at_least(0))
    dropout: float = field(default=0.0, metadata=between(0.0, 1.0, hi_open=True))
    attn_dropout: float = field(default=0.0, metadata=between(0.0, 1.0, hi_open=True))
    # stochastic depth of the last layer; layer i of N gets drop_path * i / (N - 1)
    drop_path: float = field(default=0.0, metadata=between(0.0, 1.0))

    def __post_init__(self) -> None:
        check_fields(self)  # the declared ranges and choices (every field of a subclass too)
        if self.d_model % self.n_heads:
            raise ValueError(f"{key('d_model')}={self.d_model} must be a multiple of {key('n_heads')}={self.n_heads}")
        if self.fusion_layer > self.n_layers:
            raise ValueError(f"{key('fusion_layer')}={self.fusion_layer}: expected an integer in "
                             f"0..{key('n_layers')}={self.n_layers}")
        if int(self.d_model * self.mlp_ratio) < 1:
            raise ValueError(f"{key('mlp_ratio')}={self.mlp_ratio}: {key('d_model')} * mlp_ratio is "
                             f"{self.d_model * self.mlp_ratio:g}; expected an MLP width of at least 1")
        get_backbone(self.backbone).check_architecture(self)  # what the backbone itself needs

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
