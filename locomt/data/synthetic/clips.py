"""Synthetic clips: an AudioSet-layout clip's hidden variables rendered to frames and a waveform, and
:func:`write_clip`, which writes any clip as an H.264 (lossless) + AAC mp4."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from locomt.data.synthetic.rule import COLOURS, PULSE_HZ, SQUARE_RGB, TONES_HZ, Clip


def moving_square(background: np.ndarray, t: int, square_y: float, left_to_right: bool) -> np.ndarray:
    """uint8 (T, H, W, 3): ``background`` (H, W, 3) in every frame, and a dark square a quarter of the
    frame wide at height ``square_y`` (0..1) crossing it left to right or right to left."""
    size = background.shape[0]
    frames = np.repeat(background[None], t, axis=0)
    side = max(2, size // 4)
    y0 = int(round(square_y * (size - side)))
    for i in range(t):
        frac = i / max(1, t - 1)
        x0 = int(round((frac if left_to_right else 1.0 - frac) * (size - side)))
        frames[i, y0 : y0 + side, x0 : x0 + side] = SQUARE_RGB
    return frames


def render_video(clip: Clip, size: int, fps: int) -> np.ndarray:
    """uint8 (T, size, size, 3) frames of ``clip``: coloured background and a moving dark square."""
    rgb = np.array(COLOURS[clip.colour][1], dtype=np.float32) * clip.brightness
    background = np.empty((size, size, 3), dtype=np.uint8)
    background[:] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    return moving_square(background, max(1, round(clip.seconds * fps)), clip.square_y, bool(clip.motion))


def render_audio(clip: Clip, sample_rate: int) -> np.ndarray:
    """float32 mono waveform of ``clip``: a (possibly gated) sine plus faint noise."""
    n = max(1, round(clip.seconds * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    wave = clip.amplitude * np.sin(2 * np.pi * TONES_HZ[clip.tone] * t + clip.phase)
    if clip.pulse:
        gate = (np.sin(2 * np.pi * PULSE_HZ * t) > 0).astype(np.float64)
        ramp = np.hanning(max(3, int(0.01 * sample_rate)))
        gate = np.convolve(gate, ramp / ramp.sum(), mode="same")
        wave *= gate
    wave += 0.01 * np.random.default_rng(clip.noise_seed).standard_normal(n)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def write_clip(
    path: str | os.PathLike,
    frames: np.ndarray | None,
    audio: np.ndarray | None,
    fps: int = 8,
    sample_rate: int = 16000,
) -> Path:
    """Write an mp4 (H.264 video from uint8 (T, H, W, 3) ``frames``, AAC mono ``audio``) atomically.

    Either stream may be None (an audio-less or a video-less file). The file is written as
    ``path + '.part'`` and renamed to ``path`` only when complete.
    """
    import av

    if frames is None and audio is None:
        raise ValueError("write_clip needs frames, audio or both")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            vstream = astream = None
            if frames is not None:
                _, h, w, _ = frames.shape
                vstream = out.add_stream("libx264", rate=fps)
                vstream.width, vstream.height, vstream.pix_fmt = w, h, "yuv420p"
                vstream.codec_context.time_base = Fraction(1, fps)
                # qp 0 is lossless and deterministic: crf 12 gave other bytes (and pixels off by up to 6)
                # in 387 of 900 clips of two runs with the same config
                vstream.options = {"qp": "0", "preset": "medium", "threads": "1"}
            if audio is not None:
                astream = out.add_stream("aac", rate=sample_rate, layout="mono")
            if vstream is not None:
                for i, img in enumerate(frames):
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                    frame.pts = i
                    out.mux(vstream.encode(frame))
                out.mux(vstream.encode())
            if astream is not None:
                wave = np.asarray(audio, dtype=np.float32).reshape(-1)
                step = 1024
                for start in range(0, wave.size, step):
                    chunk = np.ascontiguousarray(wave[None, start : start + step])
                    frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                    frame.sample_rate = sample_rate
                    frame.pts = start
                    out.mux(astream.encode(frame))
                out.mux(astream.encode())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
