"""Models: tokenizers, attention, fusion backbones (plans and registry) and the classifier.

The plans, the registry and the model schema are imported with the package (pure Python: a config
is checked without torch); the torch modules (``Backbone``, ``MultimodalClassifier``, ``build_model``,
``example_inputs``) on first use of their names."""

from locomt.models.config import Architecture, ModelConfig
from locomt.models.plans import BASELINES, BackbonePlan, BlockWork, LayerPlan
from locomt.models.registry import get_backbone, list_backbones, reference_backbone, register_backbone, takes_pattern

__all__ = [
    "Architecture", "BASELINES", "Backbone", "BackbonePlan", "BlockWork", "LayerPlan", "ModelConfig",
    "MultimodalClassifier", "build_model", "example_inputs", "get_backbone", "list_backbones", "reference_backbone",
    "register_backbone", "takes_pattern", "present_key", "presence",
]


def __getattr__(name: str):
    """The torch modules, imported when first asked for (``from locomt.models import build_model``)."""
    if name == "Backbone":
        from locomt.models.backbones import Backbone

        return Backbone
    if name in ("MultimodalClassifier", "build_model", "example_inputs", "present_key", "presence"):
        from locomt.models import model

        return getattr(model, name)
    raise AttributeError(f"module 'locomt.models' has no attribute {name!r}")
