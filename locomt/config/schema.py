"""The experiment schema: one frozen dataclass per config section (``data`` with its ``video``,
``audio``, ``text`` and ``spec_augment`` parts, ``model``, ``optim``, ``trainer``). Reading, overriding
and writing configs is ``locomt.config.loading``; everything is importable from ``locomt.config``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from locomt.models.config import Architecture

#: ImageNet statistics (RGB, 0..1 scale), the usual choice for ViT initialisations.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VIDEO_BACKEND_NAMES = ("decord", "pyav")
AUDIO_BACKENDS = ("decord", "pyav")


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
class VideoConfig:
    """How frames are sampled and normalised; ``backend`` is ``decord`` or ``pyav``."""

    num_frames: int = 8
    size: int = 64
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    backend: str = "decord"

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.size < 1:
            raise ValueError(f"num_frames={self.num_frames}, size={self.size}; expected both >= 1")
        if self.backend not in VIDEO_BACKEND_NAMES:
            raise ValueError(f"video backend {self.backend!r}; expected one of {', '.join(VIDEO_BACKEND_NAMES)}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean={self.mean}, std={self.std}; expected 3 values each, std > 0")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AudioConfig:
    """Log-mel parameters. ``backend`` reads audio tracks inside containers (``decord`` or ``pyav``)."""

    sample_rate: int = 16000
    n_mels: int = 128
    hop_length: int = 160
    win_length: int = 400
    n_fft: int = 512
    clip_seconds: float = 8.0
    fmin: float = 0.0
    fmax: float | None = None
    backend: str = "decord"

    def __post_init__(self) -> None:
        if self.backend not in AUDIO_BACKENDS:
            raise ValueError(f"audio backend {self.backend!r}; expected one of {', '.join(AUDIO_BACKENDS)}")
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length={self.win_length} > n_fft={self.n_fft}; expected win_length <= n_fft")
        if min(self.sample_rate, self.n_mels, self.hop_length, self.win_length) < 1 or self.clip_seconds <= 0:
            raise ValueError(f"{self}: expected positive sample_rate, n_mels, hop_length, win_length, clip_seconds")

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


@dataclass(frozen=True, kw_only=True)
class ModelSection(Architecture):
    """The model: an ``Architecture`` (``locomt.models.config``: the same fields and defaults as the
    ``ModelConfig`` it becomes) plus patch sizes and initialisation. ``init_from``: a local ViT
    checkpoint loaded into every modality before training (``locomt.models.pretrained``;
    ``init_video``: ``central`` or ``average`` tubelet inflation)."""

    video_patch: int = 16
    video_tubelet: int = 1
    audio_patch: int = 16
    init_from: str = ""  # a ViT .safetensors/.pth to start from ("" = random initialisation)
    init_video: str = "central"  # central | average: how the 2-D patch kernel becomes a tubelet kernel

    def __post_init__(self) -> None:
        super().__post_init__()
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
