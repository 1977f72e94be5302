"""Experiment configs: the schema (``locomt.config.schema``) and reading, overriding and writing it
(``locomt.config.loading``). Import everything from here: ``from locomt.config import load_config``."""

from locomt.config.loading import (ConfigError, apply_override, dump_config, experiment_path, from_dict, get_value,
                                   load_config, model_config, to_dict, with_model, with_values)
from locomt.config.schema import (AudioConfig, DataConfig, ExperimentConfig, ModelSection, OptimConfig,
                                  SpecAugmentConfig, TextConfig, TrainerConfig, VideoConfig)

__all__ = [
    "AudioConfig", "ConfigError", "DataConfig", "ExperimentConfig", "ModelSection", "OptimConfig",
    "SpecAugmentConfig", "TextConfig", "TrainerConfig", "VideoConfig", "apply_override", "dump_config",
    "experiment_path", "from_dict", "get_value", "load_config", "model_config", "to_dict", "with_model", "with_values",
]
