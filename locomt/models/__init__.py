"""Models: tokenizers, attention, fusion backbones (registry) and the classifier."""

from locomt.models.backbones import BASELINES, Backbone, BlockWork, LayerPlan, get_backbone, list_backbones, register_backbone
from locomt.models.config import ModelConfig
from locomt.models.model import MultimodalClassifier, build_model, example_inputs

__all__ = [
    "BASELINES", "Backbone", "BlockWork", "LayerPlan", "ModelConfig", "MultimodalClassifier", "build_model", "example_inputs",
    "get_backbone", "list_backbones", "register_backbone",
]
