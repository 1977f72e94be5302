"""The experiment schema: one frozen dataclass per config section (``data`` with its ``video``,
``audio``, ``text`` and ``spec_augment`` parts, ``model``, ``optim``, ``trainer``). Reading, overriding
and writing configs is ``locomt.config.loading``; everything is importable from ``locomt.config``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from locomt.constraints import MAX_SEED, at_least, between, check_fields, custom, each, key, one_of, positive, text
from locomt.modalities import DEFAULT_CODES
from locomt.models.config import Architecture
from locomt.models.registry import takes_pattern
from locomt.pattern import resolve_pattern

#: ImageNet statistics (RGB, 0..1 scale), the usual choice for ViT initialisations.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VIDEO_BACKEND_NAMES = ("decord", "pyav")
AUDIO_BACKENDS = ("decord", "pyav")
SEED_RANGE = between(0, MAX_SEED, integer=True)  # what numpy and Lightning's seed_everything accept
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")  # Lightning's; whether one is present is checked
# when a run starts (locomt.runs.preflight)
# where a run's metrics go (locomt.runs.loggers): metrics.csv, TensorBoard event files, an MLflow store
LOGGERS = ("csv", "tensorboard", "mlflow")
PRECISIONS = ("auto", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "transformer-engine",
              "transformer-engine-float16", "32", "16", "bf16", "64")


DROPOUT_EXPECT = "a mapping of modality name to a probability in [0, 1), e.g. {audio: 0.3}"


def dropout_ok(value: Any) -> bool:
    """The shape of ``data.modality_dropout`` (``locomt.data.presence``): a mapping of name to a
    probability in [0, 1); the names are checked against ``data.modalities`` by ``DataConfig``."""
    if not isinstance(value, dict):
        return False
    for name, p in value.items():
        if not isinstance(name, str) or isinstance(p, bool) or not isinstance(p, (int, float)):
            return False
        if not 0.0 <= p < 1.0:  # NaN fails too
            return False
    return True


def _strategy_names() -> list[str]:
    from lightning.pytorch.strategies import StrategyRegistry

    return StrategyRegistry.available_strategies()


def _devices_ok(v: Any) -> bool:
    """Lightning's ``devices``: a count >= 1, -1 (all), ``auto``, a list of indices or a string of them."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v >= 1 or v == -1
    if isinstance(v, str):
        s = v.strip()
        if s in ("auto", "-1"):
            return True
        parts = [p.strip() for p in s.split(",")]
        if len(parts) == 1:
            return parts[0].isdigit() and int(parts[0]) >= 1
        return all(p.isdigit() for p in parts) and len(set(parts)) == len(parts)
    if isinstance(v, (list, tuple)):
        return bool(v) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v) \
            and len(set(v)) == len(v)
    return False


@dataclass(frozen=True)
class TextConfig:
    """Word-level text: the vocabulary is built from the training split only."""

    max_len: int = field(default=32, metadata=at_least(1))
    vocab_size: int = field(default=2000, metadata=at_least(2))  # with the padding and unknown-word ids
    min_count: int = field(default=1, metadata=at_least(1))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class SpecAugmentConfig:
    """SpecAugment (Park et al. 2019) masks on training log-mels: ``time_masks`` masks of up to
    ``time_width`` frames and ``freq_masks`` masks of up to ``freq_width`` mel bins, each width
    uniform in 0..max, filled with 0 (the normalised mean). All 0 (the default) = off."""

    time_masks: int = field(default=0, metadata=at_least(0))
    time_width: int = field(default=0, metadata=at_least(0))
    freq_masks: int = field(default=0, metadata=at_least(0))
    freq_width: int = field(default=0, metadata=at_least(0))

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def enabled(self) -> bool:
        return bool(self.time_masks and self.time_width) or bool(self.freq_masks and self.freq_width)


@dataclass(frozen=True)
class VideoConfig:
    """How frames are sampled and normalised; ``backend`` is ``decord`` or ``pyav``."""

    num_frames: int = field(default=8, metadata=at_least(1))
    size: int = field(default=64, metadata=at_least(1))
    mean: tuple[float, float, float] = field(default=IMAGENET_MEAN, metadata=each(between(-1e3, 1e3), length=3))
    std: tuple[float, float, float] = field(default=IMAGENET_STD, metadata=each(positive(), length=3))
    backend: str = field(default="decord", metadata=one_of(*VIDEO_BACKEND_NAMES))

    def __post_init__(self) -> None:
        check_fields(self)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AudioConfig:
    """Log-mel parameters. ``backend`` reads audio tracks inside containers (``decord`` or ``pyav``)."""

    sample_rate: int = field(default=16000, metadata=at_least(1000))
    n_mels: int = field(default=128, metadata=at_least(1))
    hop_length: int = field(default=160, metadata=at_least(1))
    win_length: int = field(default=400, metadata=at_least(1))
    n_fft: int = field(default=512, metadata=at_least(2))
    clip_seconds: float = field(default=8.0, metadata=between(0.0, 3600.0, lo_open=True))
    fmin: float = field(default=0.0, metadata=at_least(0.0, integer=False))
    fmax: float | None = field(default=None, metadata=custom(
        "empty (null: half the sample rate) or a number > 0", lambda v: v is None or (v == v and 0 < v < float("inf")),
        (0.0, -1.0, float("nan"))))
    backend: str = field(default="decord", metadata=one_of(*AUDIO_BACKENDS))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.win_length > self.n_fft:
            raise ValueError(f"{key('win_length')}={self.win_length}: expected at most {key('n_fft')}={self.n_fft}")
        nyquist = self.sample_rate / 2
        fmax = nyquist if self.fmax is None else self.fmax
        if fmax > nyquist:
            raise ValueError(f"{key('fmax')}={self.fmax}: expected at most half of {key('sample_rate')}={self.sample_rate}")
        if self.fmin >= fmax:
            raise ValueError(f"{key('fmin')}={self.fmin}: expected less than {key('fmax')}={fmax:g}")
        if self.n_frames < 1:
            raise ValueError(f"{key('clip_seconds')}={self.clip_seconds}: gives {self.n_frames} log-mel frames at "
                             f"{key('hop_length')}={self.hop_length}; expected at least 1")

    @property
    def num_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))

    @property
    def n_frames(self) -> int:
        return int(round(self.num_samples / self.hop_length))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DataConfig:
    """Where a dataset lives and how each item is decoded.

    Every field that can change the decoded items is part of the cache key (see
    ``locomt.data.cache.cache_key``); the loader settings ``batch_size``, ``num_workers`` and
    ``synthetic`` and the training-time ``spec_augment`` and ``modality_dropout`` are not.
    ``test_clips`` K > 1 decodes every test item as K clips evenly spaced over its media, whose logits are averaged (K > 1 is in the
    key of the whole cache; train and val keep one clip). ``root`` is the metadata folder (AudioSet
    segment CSVs, MedVidCL split JSONs) or, for ``dataset: manifest``, the manifest CSV itself (or
    a folder holding ``manifest.csv``).
    """

    # audioset | medvidcl | manifest: a name of the dataset registry, which checks this section against
    # what the dataset has (locomt.data.datasets.check_data; locomt.experiment.load_experiment)
    dataset: str = field(default="medvidcl", metadata=text())
    root: str = field(default="data/synthetic-medvidcl", metadata=text())  # the metadata (CSVs / JSONs / manifest)
    media_root: str = ""  # clips; default: ROOT/media (manifest: paths are relative to the manifest)
    cache_dir: str = field(default="data/cache", metadata=text())
    modalities: tuple[str, ...] = field(default=("video", "audio", "text"),
                                        metadata=each(one_of("video", "audio", "text"), unique=True))
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    text: TextConfig = field(default_factory=TextConfig)
    # AudioSet has no validation split: a seeded slice of train
    val_fraction: float = field(default=0.1, metadata=between(0.0, 1.0, hi_open=True))
    split_seed: int = field(default=0, metadata=SEED_RANGE)  # seed of that slice
    skip_silent: bool = True  # report and skip items whose audio is silent (peak < 1e-4)
    synthetic: dict = field(default_factory=dict)  # locomt.synth arguments when root is generated
    batch_size: int = field(default=16, metadata=at_least(1))
    num_workers: int = field(default=0, metadata=between(0, 256, integer=True))
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)  # training audio only
    # clips per test item (multi-clip evaluation); 1 = one clip over the whole media
    test_clips: int = field(default=1, metadata=between(1, 64, integer=True))
    # missing modalities (locomt.data.presence): skip items lacking a modality's stream (true), or keep
    # them marked missing (false); per modality, the training-time probability of dropping it per example
    require_modalities: bool = False
    modality_dropout: dict = field(default_factory=dict, metadata=custom(
        DROPOUT_EXPECT, dropout_ok,
        ({"audio": 1.0}, {"audio": -0.1}, {"audio": "x"}, [0.5])))

    def __post_init__(self) -> None:
        check_fields(self)
        mods = tuple(self.modalities)
        for name in self.modality_dropout:
            if name not in mods:
                raise ValueError(f"{key('modality_dropout')}.{name}: expected one of data.modalities ({', '.join(mods)})")
        if len(mods) == 1 and any(self.modality_dropout.values()):
            raise ValueError(f"{key('modality_dropout')}={self.modality_dropout!r}: expected no dropout with a single "
                             "modality (an example would be left with nothing)")


@dataclass(frozen=True, kw_only=True)
class ModelSection(Architecture):
    """The model: an ``Architecture`` (``locomt.models.config``: the same fields and defaults as the
    ``ModelConfig`` it becomes) plus patch sizes and initialisation. ``init_from``: a local ViT
    checkpoint loaded into every modality before training (``locomt.models.pretrained``;
    ``init_video``: ``central`` or ``average`` tubelet inflation)."""

    video_patch: int = field(default=16, metadata=at_least(1))
    video_tubelet: int = field(default=1, metadata=at_least(1))
    audio_patch: int = field(default=16, metadata=at_least(1))
    init_from: str = ""  # a ViT .safetensors/.pth to start from ("" = random initialisation)
    # how the 2-D patch kernel becomes a tubelet kernel
    init_video: str = field(default="central", metadata=one_of("central", "average"))


@dataclass(frozen=True)
class OptimConfig:
    name: str = field(default="adamw", metadata=one_of("adamw", "sgd"))
    lr: float = field(default=3e-4, metadata=between(0.0, 100.0, lo_open=True))
    weight_decay: float = field(default=0.05, metadata=at_least(0.0, integer=False))
    momentum: float = field(default=0.9, metadata=between(0.0, 1.0, hi_open=True))
    warmup_epochs: float = field(default=1.0, metadata=at_least(0.0, integer=False))
    schedule: str = field(default="cosine", metadata=one_of("cosine", "constant"))
    grad_clip: float = field(default=1.0, metadata=at_least(0.0, integer=False))  # 0 = no clipping
    # s: targets y(1-s) + s/K, softmax and sigmoid alike (scenic's rule)
    label_smoothing: float = field(default=0.0, metadata=between(0.0, 1.0, hi_open=True))
    # 0 = off; else lambda ~ Beta(alpha, alpha) per training batch
    mixup_alpha: float = field(default=0.0, metadata=at_least(0.0, integer=False))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class TrainerConfig:
    max_epochs: int = field(default=10, metadata=at_least(1))
    accelerator: str = field(default="auto", metadata=one_of(*ACCELERATORS))
    devices: Any = field(default=1, metadata=custom(
        "a number of devices >= 1, -1 (all), auto, or a list of device indices", _devices_ok, (0, -2, "x", [], 1.5)))
    strategy: str = field(default="auto", metadata=one_of("auto", lazy=_strategy_names))
    # auto: 16-mixed on CUDA, 32-true elsewhere; or a Lightning precision
    precision: str = field(default="auto", metadata=one_of(*PRECISIONS))
    log_every_n_steps: int = field(default=10, metadata=at_least(1))
    out_dir: str = field(default="runs", metadata=text())
    # any of csv (RUN_DIR/metrics.csv), tensorboard (RUN_DIR/tensorboard/), mlflow (RUN_DIR/mlflow/mlflow.db)
    loggers: tuple[str, ...] = field(default=("csv",), metadata=each(one_of(*LOGGERS), unique=True))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = field(default="experiment", metadata=text(forbid="/\\"))  # names run folders NAME-TIMESTAMP
    seed: int = field(default=0, metadata=SEED_RANGE)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        check_fields(self)
        check_shapes(self)


def check_shapes(exp: ExperimentConfig) -> None:
    """The rules between sections: every patch size divides what the data section makes, and the
    view pattern fits the modalities, heads and fusion layers. Errors name the dotted keys."""
    d, m = exp.data, exp.model
    rules = []
    if "video" in d.modalities:
        rules += [("data.video.num_frames", d.video.num_frames, "model.video_tubelet", m.video_tubelet),
                  ("data.video.size", d.video.size, "model.video_patch", m.video_patch)]
    if "audio" in d.modalities:
        rules.append(("data.audio.n_mels", d.audio.n_mels, "model.audio_patch", m.audio_patch))
        if d.audio.n_frames % m.audio_patch:
            raise ValueError(
                f"data.audio.clip_seconds={d.audio.clip_seconds:g} at sample_rate={d.audio.sample_rate} and "
                f"hop_length={d.audio.hop_length} gives {d.audio.n_frames} log-mel frames; expected a multiple of "
                f"model.audio_patch={m.audio_patch}")
    for name, value, by_name, by in rules:
        if value % by:
            raise ValueError(f"{name}={value} must be a multiple of {by_name}={by}")
    if takes_pattern(m.backbone):
        codes = tuple(DEFAULT_CODES[name] for name in d.modalities)
        try:
            resolve_pattern(m.pattern, codes, m.n_heads, m.n_layers - m.fusion_layer)
        except ValueError as err:
            raise ValueError(f"model.pattern={m.pattern!r}: {err}") from None
