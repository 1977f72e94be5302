"""Decoding: video frames (decord or PyAV backend), audio log-mel spectrograms (librosa), word tokenizer.

Video: :func:`get_video_reader` returns a :class:`VideoReader` by name (``decord``, the default,
or ``pyav``). Both pick the same frame indices (the centres of ``num_frames`` equal stretches of
the clip), resize the short side to ``size`` with antialiased bilinear interpolation, centre-crop
to ``size x size`` and normalise per channel, returning float32 ``(3, num_frames, size, size)``.
``read_video(..., clips=K)`` returns K clips ``(K, 3, num_frames, size, size)`` for multi-clip
evaluation: clip k holds ``num_frames`` frames spread over the k-th of K equal parts of the video.

Audio: :func:`read_audio` gives a mono float32 waveform at a given sample rate from a container's
audio track (decord ``AudioReader`` or PyAV) or a .wav/.flac file (soundfile, librosa resampling);
:func:`log_mel` pads or trims it to ``clip_seconds`` and returns float32 ``(n_mels, n_frames)``
in dB with ``n_frames = round(clip_seconds * sample_rate / hop_length)``. With ``clips=K``,
:func:`read_log_mel` returns ``(K, n_mels, n_frames)``: K windows of ``clip_seconds`` evenly spaced
over the track (:func:`audio_window_starts`), so clip k of the audio is as far along the track as
clip k of the video is along the video. One clip is the first ``clip_seconds``, as always.

Every failure of a media file (missing, zero-length, truncated, corrupt, no such stream) raises
:class:`~locomt.data.media.MediaError` with the path and a one-line reason. Silent audio is not
an error: :func:`is_silent` flags it.

Text: :class:`WordTokenizer`, a lower-cased word-level vocabulary built from the training split
only (0 = padding, 1 = unknown), saved and loaded as JSON.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from locomt.config import AudioConfig, VideoConfig
from locomt.config.schema import AUDIO_BACKENDS
from locomt.data.media import AUDIO_EXTS, MediaError

PathLike = str | os.PathLike



def _reason(e: BaseException) -> str:
    """A one-line description of a decoder exception."""
    text = " ".join(str(e).split())
    # decord prefixes its messages with "[hh:mm:ss] /github/workspace/src/...cc:NN: ".
    text = re.sub(r"\[\d\d:\d\d:\d\d\] \S+\.cc:\d+: ", "", text)
    return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__


def _check_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "missing file")
    if not p.is_file():
        raise MediaError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise MediaError(p, "zero-length file")
    return p


# ----------------------------------------------------------------------------------------- video


def frame_indices(total: int, num_frames: int) -> np.ndarray:
    """``num_frames`` indices spread evenly over ``total`` frames (centres of equal stretches)."""
    if total < 1:
        raise ValueError(f"total frames {total}; expected >= 1")
    return np.minimum(((np.arange(num_frames) + 0.5) * total / num_frames).astype(np.int64), total - 1)


def resize_crop_normalize(frames: np.ndarray, size: int, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (N, H, W, 3) frames -> float32 (3, N, size, size): short side to ``size``, centre crop,
    scale to 0..1, subtract ``mean`` and divide by ``std`` per channel."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    n, _, h, w = x.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[:, :, top : top + size, left : left + size].clamp_(0.0, 1.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    x = (x - m) / s
    return x.permute(1, 0, 2, 3).contiguous().numpy()


@runtime_checkable
class VideoReader(Protocol):
    """The small interface every video backend implements."""

    name: str

    def info(self, path: PathLike) -> tuple[int, float]:
        """(number of frames, frames per second) of the video stream."""
        ...

    def frames(self, path: PathLike, indices: Sequence[int]) -> np.ndarray:
        """The frames at ``indices`` as uint8 (len(indices), H, W, 3) RGB."""
        ...


def read_video(path: PathLike, cfg: VideoConfig = VideoConfig(), clips: int = 1) -> np.ndarray:
    """``cfg.num_frames`` frames spread over the clip, float32 (3, N, S, S); MediaError on bad media.

    With ``clips`` K > 1: float32 (K, 3, N, S, S), clip k the centres of N equal stretches of the
    k-th of K equal parts of the video (the K * N frames of ``frame_indices(total, K * N)``, in
    order, cut into K clips)."""
    reader = get_video_reader(cfg.backend)
    total, _fps = reader.info(path)
    raw = reader.frames(path, frame_indices(total, clips * cfg.num_frames).tolist())
    x = resize_crop_normalize(raw, cfg.size, cfg.mean, cfg.std)
    if clips == 1:
        return x
    return np.ascontiguousarray(x.reshape(3, clips, cfg.num_frames, cfg.size, cfg.size).transpose(1, 0, 2, 3, 4))


class DecordVideoReader:
    """decord 0.6.0 backend (random access through the container index).

    decord 0.6.0 cannot copy out frames of some widths (16, 24, 48, 72 px among others: "Check
    failed: from_size == to_size"); for those this backend hands the file to PyAV.
    """

    name = "decord"

    def __init__(self, num_threads: int = 1) -> None:
        self.num_threads = num_threads

    def _open(self, path: PathLike):
        import decord

        p = _check_file(path)
        try:
            vr = decord.VideoReader(str(p), num_threads=self.num_threads)
        except Exception as e:  # decord raises RuntimeError or DECORDError (a RuntimeError subclass)
            msg = str(e)
            if "cannot find video stream" in msg:
                raise MediaError(p, "no video stream") from None
            raise MediaError(p, f"cannot open video ({_reason(e)})") from None
        if len(vr) < 1:
            raise MediaError(p, "video stream has no frames")
        return p, vr

    def info(self, path: PathLike) -> tuple[int, float]:
        _, vr = self._open(path)
        return len(vr), float(vr.get_avg_fps())

    def frames(self, path: PathLike, indices: Sequence[int]) -> np.ndarray:
        p, vr = self._open(path)
        bad = [i for i in indices if not 0 <= i < len(vr)]
        if bad:
            raise MediaError(p, f"frame index {bad[0]} out of range; the video has {len(vr)} frames")
        try:
            out = vr.get_batch(list(indices)).asnumpy()
        except Exception as e:
            if "DECORDArrayCopyFromTo" in str(e):
                # decord 0.6.0 bug: frames of some widths (16, 24, 48, 72 px ...) fail to copy out
                # of its frame buffer although the file is fine. PyAV decodes them identically.
                return PyAVVideoReader().frames(p, indices)
            raise MediaError(p, f"truncated or corrupt video stream ({_reason(e)})") from None
        return out


class PyAVVideoReader:
    """PyAV backend (sequential decode; the clips here are short)."""

    name = "pyav"

    def _open(self, path: PathLike):
        import av

        p = _check_file(path)
        try:
            container = av.open(str(p))
        except Exception as e:  # av.FFmpegError and friends
            raise MediaError(p, f"cannot open video ({_reason(e)})") from None
        if not container.streams.video:
            container.close()
            raise MediaError(p, "no video stream")
        return p, container

    def _decode_all(self, path: PathLike, keep: set[int] | None) -> tuple[int, float, dict[int, np.ndarray]]:
        p, container = self._open(path)
        kept: dict[int, np.ndarray] = {}
        n = 0
        try:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or 0
            for frame in container.decode(stream):
                if keep is None or n in keep:
                    if keep is not None:
                        kept[n] = frame.to_ndarray(format="rgb24")
                n += 1
        except Exception as e:
            raise MediaError(p, f"truncated or corrupt video stream after {n} frames ({_reason(e)})") from None
        finally:
            container.close()
        if n < 1:
            raise MediaError(p, "video stream has no frames")
        return n, float(rate), kept

    def info(self, path: PathLike) -> tuple[int, float]:
        p, container = self._open(path)
        try:
            stream = container.streams.video[0]
            n, rate = int(stream.frames or 0), stream.average_rate or stream.guessed_rate
        finally:
            container.close()
        if n > 0 and rate:
            return n, float(rate)
        n, rate_f, _ = self._decode_all(p, keep=None)  # .mkv/.webm carry no frame count
        return n, rate_f

    def frames(self, path: PathLike, indices: Sequence[int]) -> np.ndarray:
        n, _, kept = self._decode_all(path, keep=set(indices))
        missing = [i for i in indices if i not in kept]
        if missing:
            raise MediaError(path, f"frame index {missing[0]} out of range; decoded {n} frames")
        return np.stack([kept[i] for i in indices])


VIDEO_BACKENDS = {"decord": DecordVideoReader, "pyav": PyAVVideoReader}


def get_video_reader(name: str = "decord") -> VideoReader:
    """The video backend called ``name`` (``decord`` or ``pyav``)."""
    try:
        return VIDEO_BACKENDS[name]()
    except KeyError:
        raise ValueError(f"video backend {name!r}; expected one of {', '.join(VIDEO_BACKENDS)}") from None


# ----------------------------------------------------------------------------------------- audio

def _audio_decord(p: Path, sample_rate: int) -> np.ndarray:
    import decord

    try:
        ar = decord.AudioReader(str(p), sample_rate=sample_rate, mono=True)
        wave = ar[:].asnumpy()
    except Exception as e:
        if "audio stream" in str(e):
            raise MediaError(p, "no audio stream") from None
        raise MediaError(p, f"cannot decode audio ({_reason(e)})") from None
    return np.asarray(wave, dtype=np.float32).reshape(-1)


def _audio_pyav(p: Path, sample_rate: int) -> np.ndarray:
    import av

    try:
        container = av.open(str(p))
    except Exception as e:
        raise MediaError(p, f"cannot open audio ({_reason(e)})") from None
    chunks: list[np.ndarray] = []
    try:
        if not container.streams.audio:
            raise MediaError(p, "no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        for frame in container.decode(container.streams.audio[0]):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    except MediaError:
        raise
    except Exception as e:
        raise MediaError(p, f"truncated or corrupt audio stream ({_reason(e)})") from None
    finally:
        container.close()
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _audio_file(p: Path, sample_rate: int) -> np.ndarray:
    import librosa
    import soundfile

    try:
        wave, native_rate = soundfile.read(str(p), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile.LibsndfileError and friends
        raise MediaError(p, f"cannot decode audio ({_reason(e)})") from None
    wave = wave.mean(axis=1)
    if native_rate != sample_rate and wave.size:
        wave = librosa.resample(wave, orig_sr=native_rate, target_sr=sample_rate)
    return np.asarray(wave, dtype=np.float32)


def read_audio(path: PathLike, sample_rate: int = 16000, backend: str = "decord") -> np.ndarray:
    """Mono float32 waveform at ``sample_rate``.

    .wav/.flac files are read with soundfile and resampled with librosa; the audio track of a container
    (.mp4/.mkv/.webm) with decord's AudioReader or PyAV (``backend``). Raises MediaError for
    missing, empty, corrupt or audio-less media and for a track that decodes to no samples.
    """
    if backend not in AUDIO_BACKENDS:
        raise ValueError(f"audio backend {backend!r}; expected one of {', '.join(AUDIO_BACKENDS)}")
    p = _check_file(path)
    if p.suffix.lower() in AUDIO_EXTS:
        wave = _audio_file(p, sample_rate)
    elif backend == "decord":
        wave = _audio_decord(p, sample_rate)
    else:
        wave = _audio_pyav(p, sample_rate)
    if wave.size == 0:
        raise MediaError(p, "audio track has no samples")
    if not np.isfinite(wave).all():
        raise MediaError(p, "audio decodes to non-finite samples")
    return wave


def is_silent(wave: np.ndarray, threshold: float = 1e-4) -> bool:
    """True when the peak absolute amplitude is below ``threshold`` (an all-zero track, say)."""
    return wave.size == 0 or float(np.max(np.abs(wave))) < threshold


@functools.lru_cache(maxsize=8)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    """librosa's mel filter bank, built once per setting (as librosa.feature.melspectrogram builds it)."""
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


def log_mel(wave: np.ndarray, cfg: AudioConfig = AudioConfig()) -> np.ndarray:
    """float32 (n_mels, cfg.n_frames) log-mel spectrogram in dB of ``wave`` padded (zeros at the
    end) or trimmed (from the start) to ``cfg.clip_seconds``."""
    import librosa

    wave = np.asarray(wave, dtype=np.float32).reshape(-1)[: cfg.num_samples]
    if wave.size < cfg.num_samples:
        wave = np.pad(wave, (0, cfg.num_samples - wave.size))
    power = (
        np.abs(librosa.stft(wave, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, center=True))
        ** 2
    )
    mel = _mel_basis(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax) @ power
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    n = cfg.n_frames
    if db.shape[1] >= n:
        db = db[:, :n]
    else:  # cannot happen with center=True, kept for other settings
        db = np.pad(db, ((0, 0), (0, n - db.shape[1])), constant_values=-100.0)
    return db.astype(np.float32)


def audio_window_starts(n_samples: int, cfg: AudioConfig, clips: int) -> list[int]:
    """First samples of ``clips`` windows of ``cfg.clip_seconds`` evenly spaced over a track of
    ``n_samples``: the first at 0 and the last ending at the end of the track (all at 0 when the
    track is no longer than one window; one clip starts at 0)."""
    last = max(0, n_samples - cfg.num_samples)
    return [int(round(v)) for v in np.linspace(0, last, clips)]


def read_log_mel(path: PathLike, cfg: AudioConfig = AudioConfig(), clips: int = 1) -> tuple[np.ndarray, bool]:
    """(log-mel (n_mels, n_frames), silent flag) of a media file's audio; with ``clips`` K > 1 the
    log-mels of K windows (K, n_mels, n_frames), starting at :func:`audio_window_starts`."""
    wave = read_audio(path, cfg.sample_rate, cfg.backend)
    if clips == 1:
        return log_mel(wave, cfg), is_silent(wave)
    mels = [log_mel(wave[start:], cfg) for start in audio_window_starts(wave.size, cfg, clips)]
    return np.stack(mels), is_silent(wave)


# ------------------------------------------------------------------------------------------ text

PAD_ID = 0
UNK_ID = 1
WORD_PATTERN = r"\w+(?:'\w+)?"


@dataclass
class WordTokenizer:
    """Lower-cased word-level tokenizer: ids 0 = padding, 1 = unknown, then words by frequency.

    Build it from the training split only (:meth:`build`); ties in frequency are broken
    alphabetically, so the same texts give the same vocabulary.
    """

    words: list[str] = field(default_factory=list)
    pattern: str = WORD_PATTERN

    def __post_init__(self) -> None:
        self._re = re.compile(self.pattern)
        self._ids = {w: i + 2 for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Iterable[str], vocab_size: int, min_count: int = 1) -> "WordTokenizer":
        """The ``vocab_size - 2`` most frequent words of ``texts`` (seen at least ``min_count`` times)."""
        if vocab_size < 2:
            raise ValueError(f"vocab_size={vocab_size}; expected >= 2 (pad and unknown ids)")
        tok = cls()
        counts = Counter(w for t in texts for w in tok.split(t))
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(words=ranked[: vocab_size - 2])

    def __len__(self) -> int:
        return len(self.words) + 2

    @property
    def vocab_size(self) -> int:
        return len(self)

    def split(self, text: str) -> list[str]:
        return self._re.findall(text.lower())

    def encode(self, text: str, max_len: int) -> np.ndarray:
        """int64 (max_len,) ids: the first ``max_len`` words, padded with 0."""
        ids = [self._ids.get(w, UNK_ID) for w in self.split(text)[:max_len]]
        out = np.zeros(max_len, dtype=np.int64)
        out[: len(ids)] = ids
        return out

    def encode_batch(self, texts: Iterable[str], max_len: int) -> np.ndarray:
        rows = [self.encode(t, max_len) for t in texts]
        return np.stack(rows) if rows else np.zeros((0, max_len), np.int64)

    def save(self, path: PathLike) -> None:
        data = {
            "type": "word",
            "version": 1,
            "lowercase": True,
            "pattern": self.pattern,
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            "words": self.words,
        }
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: PathLike) -> "WordTokenizer":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("type") != "word" or not isinstance(data.get("words"), list):
            raise ValueError(
                f"{path}: type {data.get('type')!r}; expected a word tokenizer JSON written by WordTokenizer.save"
            )
        return cls(words=list(data["words"]), pattern=data.get("pattern", WORD_PATTERN))
