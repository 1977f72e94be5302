"""Models: tokenizers, attention, fusion backbones (registry) and the classifier."""

from locomt.models.backbones import BASELINES, Backbone, BlockWork, LayerPlan
from locomt.models.config import Architecture, ModelConfig
from locomt.models.model import MultimodalClassifier, build_model, example_inputs, present_key, presence
from locomt.models.registry import get_backbone, list_backbones, reference_backbone, register_backbone, takes_pattern

__all__ = [
    "Architecture", "BASELINES", "Backbone", "BlockWork", "LayerPlan", "ModelConfig", "MultimodalClassifier",
    "build_model", "example_inputs", "get_backbone", "present_key", "presence", "list_backbones", "reference_backbone", "register_backbone",
    "takes_pattern",
]
