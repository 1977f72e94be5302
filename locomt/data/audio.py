"""Audio decoding: mono waveforms from containers or .wav/.flac files, and log-mel spectrograms (librosa).

:func:`read_audio` gives a mono float32 waveform at a given sample rate from a container's audio
track (decord ``AudioReader`` or PyAV) or a .wav/.flac file (soundfile, librosa resampling);
:func:`log_mel` pads or trims it to ``clip_seconds`` and returns float32 ``(n_mels, n_frames)`` in
dB with ``n_frames = round(clip_seconds * sample_rate / hop_length)``. With ``clips=K``,
:func:`read_log_mel` returns ``(K, n_mels, n_frames)``: K windows of ``clip_seconds`` evenly spaced
over the track (:func:`audio_window_starts`), so clip k of the audio is as far along the track as
clip k of the video is along the video (:func:`locomt.data.video.read_video`). One clip is the
first ``clip_seconds``, as always.

Every failure of a media file (missing, zero-length, truncated, corrupt, no audio stream) raises
:class:`~locomt.data.media.MediaError` with the path and a one-line reason. Silent audio is not
an error: :func:`is_silent` flags it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from locomt.config import AudioConfig
from locomt.config.schema import AUDIO_BACKENDS
from locomt.data.media import AUDIO_EXTS, MediaError, PathLike, check_file, error_reason


def _audio_decord(p: Path, sample_rate: int) -> np.ndarray:
    import decord

    try:
        ar = decord.AudioReader(str(p), sample_rate=sample_rate, mono=True)
        wave = ar[:].asnumpy()
    except Exception as e:
        if "audio stream" in str(e):
            raise MediaError(p, "no audio stream") from None
        raise MediaError(p, f"cannot decode audio ({error_reason(e)})") from None
    return np.asarray(wave, dtype=np.float32).reshape(-1)


def _audio_pyav(p: Path, sample_rate: int) -> np.ndarray:
    import av

    try:
        container = av.open(str(p))
    except Exception as e:
        raise MediaError(p, f"cannot open audio ({error_reason(e)})") from None
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
        raise MediaError(p, f"truncated or corrupt audio stream ({error_reason(e)})") from None
    finally:
        container.close()
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _audio_file(p: Path, sample_rate: int) -> np.ndarray:
    import librosa
    import soundfile

    try:
        wave, native_rate = soundfile.read(str(p), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile.LibsndfileError and friends
        raise MediaError(p, f"cannot decode audio ({error_reason(e)})") from None
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
    p = check_file(path)
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
