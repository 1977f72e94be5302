"""Reading and writing experiment configs: one YAML format, dotted command-line overrides, strict keys.

``load_config(path, ["model.pattern=half", "trainer.max_epochs=3"])`` reads the file, applies the
overrides (values parsed as YAML scalars or lists) and builds the typed config
(``locomt.config.schema``); an unknown key anywhere, in the file or an override, is an error naming
the key and the keys that exist there. ``dump_config`` writes the resolved config that a run saves;
``model_config`` turns an experiment into the ``ModelConfig`` its model is built from.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from locomt.config.schema import ExperimentConfig
from locomt.constraints import section
from locomt.modalities import DEFAULT_CODES, ModalitySpec
from locomt.models.config import ModelConfig


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _type_name(tp: Any) -> str:
    """``float | None`` -> ``a number or null``."""
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}
    args = typing.get_args(tp) or (tp,)
    return " or ".join(names.get(a, getattr(a, "__name__", str(a))) for a in args)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check/convert a YAML value to the annotated type (ints to floats, lists to tuples, Optional)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}={value!r}: expected {_type_name(tp)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}={value!r}: expected a list")
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, where) for v in value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{where}={value!r}: expected a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}={value!r}: expected a number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}={value!r}: expected an integer")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}={value!r}: expected true or false")
        return value
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}={value!r}: expected a string")
        return str(value)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}={value!r}: expected a mapping")
        return dict(value)
    if _is_dataclass_type(tp):
        return from_dict(tp, value, where)
    return value


def from_dict(cls: type, data: Any, where: str = "config") -> Any:
    """Build dataclass ``cls`` from a nested mapping; unknown keys and wrong types are errors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} fields, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        key = f"{where}.{unknown[0]}" if where != "config" else unknown[0]
        raise ConfigError(f"unknown config key {key!r}; keys there are {', '.join(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where != "config" else k) for k, v in data.items()}
    prefix = "" if where == "config" else where
    try:
        with section(prefix):  # the declared constraints and cross-field rules name dotted keys
            return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as err:
        msg = str(err)
        raise ConfigError(msg if not prefix or msg.startswith(prefix) else f"{prefix}: {msg}") from None


def to_dict(cfg: Any) -> Any:
    """Nested plain data (tuples as lists) of a config dataclass, for YAML."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def apply_override(data: dict, override: str) -> None:
    """Apply ``a.b.c=value`` to a nested dict in place (value parsed as YAML)."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {override!r}: expected KEY=VALUE with a dotted key, e.g. model.pattern=half")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part!r} is a value, not a section")
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {override!r}: the value is not valid YAML ({err.problem})") from None


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                schema: type = ExperimentConfig) -> Any:
    """Read a YAML config (or the defaults when ``path`` is None), apply dotted overrides, validate."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist; the bundled ones are in experiments/")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {str(path)!r} is not valid YAML: {str(err).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(path)!r}: expected a mapping at the top level")
    for override in overrides:
        apply_override(data, override)
    return from_dict(schema, data)


def dump_config(cfg: Any) -> str:
    """The resolved config as YAML (what a run saves next to its results)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def model_config(exp: ExperimentConfig, n_classes: int, vocab_size: int | None = None) -> ModelConfig:
    """The ``ModelConfig`` of an experiment: modality shapes from the data section (in the order
    ``data.modalities`` declares) and patch sizes, the architecture from the model section."""
    d, m = exp.data, exp.model
    specs = []
    try:
        for name in d.modalities:
            if name == "video":
                specs.append(ModalitySpec("video", DEFAULT_CODES["video"], "video", frames=d.video.num_frames,
                                          image_size=d.video.size, patch_size=m.video_patch, tubelet=m.video_tubelet))
            elif name == "audio":
                specs.append(ModalitySpec("audio", DEFAULT_CODES["audio"], "audio", n_mels=d.audio.n_mels,
                                          n_frames=d.audio.n_frames, patch_size=m.audio_patch))
            elif name == "text":
                specs.append(ModalitySpec("text", DEFAULT_CODES["text"], "text", max_len=d.text.max_len,
                                          vocab_size=vocab_size or d.text.vocab_size))
            else:
                raise ConfigError(f"data.modalities: unknown modality {name!r}; expected video, audio or text")
        return ModelConfig(tuple(specs), n_classes=n_classes, **m.architecture())
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(f"model: {err}") from None


def with_model(cfg: ExperimentConfig, backbone: str | None = None, pattern: str | None = None) -> ExperimentConfig:
    """``cfg`` with another backbone and/or view pattern (the fields sweeps and ablations vary)."""
    m = cfg.model
    return dataclasses.replace(cfg, model=dataclasses.replace(
        m, backbone=backbone or m.backbone, pattern=m.pattern if pattern is None else pattern))


def with_values(cfg: ExperimentConfig, values: dict[str, Any]) -> ExperimentConfig:
    """``cfg`` with dotted keys set to values (``{"optim.lr": 0.01}``), checked by the schema."""
    data = to_dict(cfg)
    for key, value in values.items():
        apply_override(data, f"{key}={json.dumps(value)}")
    return from_dict(type(cfg), data)


def get_value(cfg: Any, key: str) -> Any:
    """The value at dotted ``key`` of a config (``get_value(cfg, "optim.lr")``)."""
    node = to_dict(cfg)
    try:
        for part in key.split("."):
            node = node[part]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown config key {key!r}; expected a dotted key of the experiment config, "
                          "e.g. optim.lr or model.fusion_layer") from None
    return node


EXPERIMENTS_DIR = "experiments"
_REPO = Path(__file__).resolve().parents[2]  # the checkout this package lives in


def experiment_path(dataset: str) -> Path:
    """``experiments/<dataset>.yaml``, looked up from the working directory and then from the
    repository this package lives in; an unknown name is an error listing the names there are."""
    for base in (Path.cwd(), _REPO):
        path = base / EXPERIMENTS_DIR / f"{dataset}.yaml"
        if path.is_file():
            return path
    names = sorted({p.stem for base in (Path.cwd(), _REPO)
                    for p in (base / EXPERIMENTS_DIR).glob("*.yaml")})
    raise ConfigError(f"unknown dataset {dataset!r}: there is no {EXPERIMENTS_DIR}/{dataset}.yaml; "
                      f"expected one of {', '.join(names) or '(none found)'}")
