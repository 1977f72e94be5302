"""Experiment configs: one YAML format, dotted command-line overrides, strict keys.

A config file mirrors ``ExperimentConfig``: sections ``data``, ``model``, ``optim``, ``trainer``
(plus ``name`` and ``seed``). ``load_config(path, ["model.pattern=half", "trainer.max_epochs=3"])``
reads the file, applies the overrides (values parsed as YAML scalars or lists) and builds the
typed config; an unknown key anywhere, in the file or an override, is an error naming the key and
the keys that exist there. ``dump_config`` writes the resolved config that a run saves.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from locomt.data.decode import AudioConfig, VideoConfig

if TYPE_CHECKING:
    from locomt.models import ModelConfig


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


@dataclass(frozen=True)
class TextConfig:
    """Word-level text: the vocabulary is built from the training split only."""

    max_len: int = 32
    vocab_size: int = 2000
    min_count: int = 1


@dataclass(frozen=True)
class SpecAugmentConfig:
    """SpecAugment (Park et al. 2019) masks on training log-mels: ``time_masks`` masks of up to
    ``time_width`` frames and ``freq_masks`` masks of up to ``freq_width`` mel bins, each width
    uniform in 0..max, filled with 0 (the normalised mean). All 0 (the default) = off."""

    time_masks: int = 0
    time_width: int = 0
    freq_masks: int = 0
    freq_width: int = 0

    def __post_init__(self) -> None:
        if min(self.time_masks, self.time_width, self.freq_masks, self.freq_width) < 0:
            raise ValueError(f"{self}: expected counts and widths >= 0")

    @property
    def enabled(self) -> bool:
        return bool(self.time_masks and self.time_width) or bool(self.freq_masks and self.freq_width)


@dataclass(frozen=True)
class DataConfig:
    """Where a dataset lives and how each item is decoded.

    Every field that can change the decoded items is part of the cache key (see
    ``locomt.prepare.cache_key``); the loader settings ``batch_size``, ``num_workers`` and
    ``synthetic`` and the training-time ``spec_augment`` are not. ``test_clips`` K > 1 decodes every
    test item as K clips evenly spaced over its media, whose logits are averaged (K > 1 is in the
    key of the whole cache; train and val keep one clip). ``root`` is the metadata folder (AudioSet
    segment CSVs, MedVidCL split JSONs) or, for ``dataset: manifest``, the manifest CSV itself (or
    a folder holding ``manifest.csv``).
    """

    dataset: str = "medvidcl"  # audioset | medvidcl | manifest
    root: str = "data/synthetic-medvidcl"  # the metadata files (segment CSVs / split JSONs / manifest)
    media_root: str = ""  # clips; default: ROOT/media (manifest: paths are relative to the manifest)
    cache_dir: str = "data/cache"
    modalities: tuple[str, ...] = ("video", "audio", "text")
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    text: TextConfig = field(default_factory=TextConfig)
    val_fraction: float = 0.1  # AudioSet has no validation split: a seeded slice of train
    split_seed: int = 0  # seed of that slice
    skip_silent: bool = True  # report and skip items whose audio is silent (peak < 1e-4)
    synthetic: dict = field(default_factory=dict)  # locomt.synth arguments when root is generated
    batch_size: int = 16
    num_workers: int = 0
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)  # training audio only
    test_clips: int = 1  # clips per test item (multi-clip evaluation); 1 = one clip over the whole media

    def __post_init__(self) -> None:
        if self.test_clips < 1:
            raise ValueError(f"test_clips={self.test_clips}; expected >= 1")


@dataclass(frozen=True)
class ModelSection:
    """The model: backbone and shape (``locomt.models.ModelConfig`` fields) and patch sizes.
    ``init_from``: a local ViT checkpoint loaded into every modality before training (``locomt.models.
    pretrained``; ``init_video``: ``central`` or ``average`` tubelet inflation)."""

    backbone: str = "locomt"
    pattern: str = "half"
    n_layers: int = 4
    n_heads: int = 4
    d_model: int = 128
    mlp_ratio: float = 4.0
    fusion_layer: int = 2
    n_bottlenecks: int = 4
    dropout: float = 0.0
    attn_dropout: float = 0.0
    drop_path: float = 0.0  # stochastic depth, rising linearly over the layers to this rate (0 = off)
    video_patch: int = 8
    video_tubelet: int = 2
    audio_patch: int = 16
    init_from: str = ""  # a ViT .safetensors/.pth to start from ("" = random initialisation)
    init_video: str = "central"  # central | average: how the 2-D patch kernel becomes a tubelet kernel

    def __post_init__(self) -> None:
        if self.init_video not in ("central", "average"):
            raise ValueError(f"init_video={self.init_video!r}; expected central or average")


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adamw"  # adamw | sgd
    lr: float = 3e-4
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    schedule: str = "cosine"  # cosine | constant
    grad_clip: float = 1.0
    label_smoothing: float = 0.0  # s: targets y(1-s) + s/K, softmax and sigmoid alike (scenic's rule)
    mixup_alpha: float = 0.0  # 0 = off; else lambda ~ Beta(alpha, alpha) per training batch

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={self.label_smoothing}; expected a value in [0, 1)")
        if self.mixup_alpha < 0:
            raise ValueError(f"mixup_alpha={self.mixup_alpha}; expected >= 0 (0 = no mixup)")


@dataclass(frozen=True)
class TrainerConfig:
    max_epochs: int = 10
    accelerator: str = "auto"
    devices: Any = 1
    strategy: str = "auto"
    precision: str = "auto"  # auto: 16-mixed on CUDA, 32-true elsewhere; or any Lightning precision
    log_every_n_steps: int = 10
    out_dir: str = "runs"


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "experiment"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


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
        raise ConfigError(f"{where}: {value!r} is not a {tp}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {value!r} is not a list")
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, where) for v in value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{where}: {value!r} is not a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {value!r} is not a number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {value!r} is not an integer")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {value!r} is not true/false")
        return value
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: {value!r} is not a string")
        return str(value)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {value!r} is not a mapping")
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
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None


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


def model_config(exp: ExperimentConfig, n_classes: int, vocab_size: int | None = None) -> "ModelConfig":
    """The ``locomt.models.ModelConfig`` of an experiment: modality shapes from the data section
    (in the order ``data.modalities`` declares), the rest from the model section."""
    from locomt.modalities import DEFAULT_CODES, ModalitySpec
    from locomt.models import ModelConfig

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
        # every model-section field that ModelConfig also has (all but the patch sizes used above)
        shared = {f.name: getattr(m, f.name) for f in dataclasses.fields(m)
                  if f.name in {g.name for g in dataclasses.fields(ModelConfig)}}
        return ModelConfig(tuple(specs), n_classes=n_classes, **shared)
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(f"model: {err}") from None



def with_model(cfg: ExperimentConfig, backbone: str | None = None, pattern: str | None = None) -> ExperimentConfig:
    """``cfg`` with another backbone and/or view pattern (the fields sweeps and ablations vary)."""
    m = cfg.model
    return dataclasses.replace(cfg, model=dataclasses.replace(
        m, backbone=backbone or m.backbone, pattern=m.pattern if pattern is None else pattern))


EXPERIMENTS_DIR = "experiments"


def experiment_path(dataset: str) -> Path:
    """``experiments/<dataset>.yaml``, looked up from the working directory and then from the
    repository this package lives in; an unknown name is an error listing the names there are."""
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        path = base / EXPERIMENTS_DIR / f"{dataset}.yaml"
        if path.is_file():
            return path
    names = sorted({p.stem for base in (Path.cwd(), Path(__file__).resolve().parent.parent)
                    for p in (base / EXPERIMENTS_DIR).glob("*.yaml")})
    raise ConfigError(f"unknown dataset {dataset!r}: there is no {EXPERIMENTS_DIR}/{dataset}.yaml; "
                      f"expected one of {', '.join(names) or '(none found)'}")
