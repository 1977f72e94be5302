"""Video decoding: frame sampling, resize/crop/normalise, and the decord and PyAV reader backends.

:func:`get_video_reader` returns a :class:`VideoReader` by name (``decord``, the default, or
``pyav``). Both pick the same frame indices (the centres of ``num_frames`` equal stretches of the
clip), resize the short side to ``size`` with antialiased bilinear interpolation, centre-crop to
``size x size`` and normalise per channel, returning float32 ``(3, num_frames, size, size)``.
``read_video(..., clips=K)`` returns K clips ``(K, 3, num_frames, size, size)`` for multi-clip
evaluation: clip k holds ``num_frames`` frames spread over the k-th of K equal parts of the video.

Every failure of a media file (missing, zero-length, truncated, corrupt, no video stream) raises
:class:`~locomt.data.media.MediaError` with the path and a one-line reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from locomt.config import VideoConfig
from locomt.data.media import MediaError, PathLike, check_file, error_reason


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

        p = check_file(path)
        try:
            vr = decord.VideoReader(str(p), num_threads=self.num_threads)
        except Exception as e:  # decord raises RuntimeError or DECORDError (a RuntimeError subclass)
            msg = str(e)
            if "cannot find video stream" in msg:
                raise MediaError(p, "no video stream") from None
            raise MediaError(p, f"cannot open video ({error_reason(e)})") from None
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
            raise MediaError(p, f"truncated or corrupt video stream ({error_reason(e)})") from None
        return out


class PyAVVideoReader:
    """PyAV backend (sequential decode; the clips here are short)."""

    name = "pyav"

    def _open(self, path: PathLike):
        import av

        p = check_file(path)
        try:
            container = av.open(str(p))
        except Exception as e:  # av.FFmpegError and friends
            raise MediaError(p, f"cannot open video ({error_reason(e)})") from None
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
            raise MediaError(p, f"truncated or corrupt video stream after {n} frames ({error_reason(e)})") from None
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
