"""An experiment as a command reads it: the YAML file and overrides checked by the schema
(:func:`locomt.config.load_config`), then its data section by its dataset
(:func:`locomt.data.datasets.check_data`: the dataset that knows its metadata checks the modalities
and the ``data.synthetic`` arguments it is given). The config package knows no dataset; the two meet
here, so every command reports a data section its dataset refuses as a config error before it writes
anything.
"""

from __future__ import annotations

from pathlib import Path

from locomt.config import ConfigError, ExperimentConfig, load_config
from locomt.data.datasets import check_data


def check_experiment(cfg: ExperimentConfig) -> ExperimentConfig:
    """``cfg``, once its dataset has checked its data section (ConfigError naming the key otherwise)."""
    try:
        check_data(cfg.data)
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return cfg


def load_experiment(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """:func:`locomt.config.load_config` of an experiment, with its data section checked by its dataset."""
    return check_experiment(load_config(path, overrides))
