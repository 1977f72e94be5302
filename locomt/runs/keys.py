"""Which runs are the same run: a config's canonical form and its key.

Two configs that differ only in how their view pattern is spelled (``half`` and ``2s+1va+1vt``),
in their name or output folder, train the same model: ``config_key`` gives them one key, so a
sweep or an ablation never trains a configuration twice (``locomt.runs.cache``).
"""

from __future__ import annotations

import hashlib
import json

from locomt.config import ExperimentConfig, model_config, to_dict, with_model

# fields that do not change what a run computes: left out of ``config_key``
_KEY_EXCLUDE = {("name",), ("trainer", "out_dir"), ("trainer", "log_every_n_steps"), ("trainer", "loggers"),
                ("data", "num_workers")}
# fields added after runs were keyed: left out at these values, so those runs keep their keys (a run
# trained before missing modalities were kept has the key of one trained now, at the defaults)
_KEY_DEFAULTS = {("data", "modality_dropout"): {}, ("data", "require_modalities"): False}


def canonical_config(cfg: ExperimentConfig) -> ExperimentConfig:
    """``cfg`` with its view pattern in canonical form (``half`` -> ``2s+1va+1vt``), or empty for a
    backbone without views, so that equivalent configs compare equal."""
    return with_model(cfg, pattern=model_config(cfg, n_classes=1).pattern_spec)


def config_key(cfg: ExperimentConfig) -> str:
    """A short hash of everything in ``cfg`` that changes the result of training it (the canonical
    pattern, data, model, optimiser, trainer and seed; not the name, output folder or loggers)."""
    data = to_dict(canonical_config(cfg))
    for path in _KEY_EXCLUDE:
        node = data
        for part in path[:-1]:
            node = node[part]
        node.pop(path[-1], None)
    for path, default in _KEY_DEFAULTS.items():
        node = data
        for part in path[:-1]:
            node = node[part]
        if node.get(path[-1]) == default:
            node.pop(path[-1])
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
