"""Media files: which file under a media root holds a metadata row's video and audio, and how a bad one fails.

Expected layout
---------------
Point ``media_root`` at the folder where you saved the clips; files may sit at any depth below it
(for example ``media_root/balanced_train/`` and ``media_root/eval/``), hidden files and folders
are ignored. A row is matched by the file's *stem* (name without extension):

* ``ID.ext``                         e.g. ``--PJHxphWEs.mp4`` (MedVidCL: ``video_id.mp4``)
* ``ID_START.ext``                   e.g. ``--PJHxphWEs_30.000.mp4`` or ``--PJHxphWEs_30.mp4``
* ``ID_START_END.ext``               e.g. ``--PJHxphWEs_30.000_40.000.mp4`` or ``--PJHxphWEs_30_40.mp4``
* each of the above with a ``Y`` prefix (``Y--PJHxphWEs.wav``, the PANNs/AudioSet-downloader habit)

START/END are written as the CSV writes them (three decimals, ``30.000``), as integers when the
time is whole (``30``), or in shortest form (``239.8``). Video containers: ``.mp4``, ``.mkv``,
``.webm``. Audio is read from the container, or from a sibling ``.wav``/``.flac`` with the same
stem (preferred when present, also accepted on its own for audio-only downloads).

When several files match one row the first naming in the list above wins, then the extension
order ``.mp4``, ``.mkv``, ``.webm`` (``.wav``, ``.flac`` for audio).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

VIDEO_EXTS = (".mp4", ".mkv", ".webm")
AUDIO_EXTS = (".wav", ".flac")
MODALITIES = ("video", "audio")
PathLike = str | os.PathLike


class MediaError(Exception):
    """A media file is missing, empty, truncated, corrupt or lacks the wanted stream."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())  # one line
        super().__init__(f"{self.path}: {self.reason}")


def check_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path when it is a non-empty regular file; MediaError (missing, not a regular
    file, zero-length) otherwise. Every decoder checks its input with this first."""
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "missing file")
    if not p.is_file():
        raise MediaError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise MediaError(p, "zero-length file")
    return p


def error_reason(e: BaseException) -> str:
    """A one-line description of a decoder exception (for a MediaError reason)."""
    text = " ".join(str(e).split())
    # decord prefixes its messages with "[hh:mm:ss] /github/workspace/src/...cc:NN: ".
    text = re.sub(r"\[\d\d:\d\d:\d\d\] \S+\.cc:\d+: ", "", text)
    return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__


@dataclass(frozen=True)
class MediaFiles:
    """The files of one item: ``video`` container (or None), ``audio`` source (or None).

    ``audio`` is the sibling .wav/.flac when there is one, else the video container (whose audio
    track is only checked when decoded: a container without audio raises MediaError then).
    """

    video: Path | None
    audio: Path | None

    def has(self, modality: str) -> bool:
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
        return getattr(self, modality) is not None


def _time_forms(t: float) -> list[str]:
    forms = [f"{t:.3f}"]
    if float(t).is_integer():
        forms.append(str(int(t)))
    forms += [f"{t:g}", f"{t:.1f}"]
    return list(dict.fromkeys(forms))


def candidate_stems(item_id: str, start: float | None = None, end: float | None = None) -> list[str]:
    """File stems accepted for ``item_id`` (and its segment times), most preferred first."""
    bases = [item_id]
    if start is not None:
        starts = _time_forms(start)
        if end is not None:
            ends = _time_forms(end)
            # Same style for both times first (30.000_40.000, 30_40), then any mix.
            paired = [f"{item_id}_{s}_{e}" for s, e in zip(starts, ends)]
            mixed = [f"{item_id}_{s}_{e}" for s in starts for e in ends]
            bases += list(dict.fromkeys(paired + mixed))
        bases += [f"{item_id}_{s}" for s in starts]
    return bases + ["Y" + b for b in bases]


class MediaIndex:
    """An index of the media files below ``root``, built once by walking the tree."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"media root {self.root} is not a folder; expected the folder holding the clips")
        self._files: dict[str, dict[str, Path]] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                stem, ext = os.path.splitext(name)
                ext = ext.lower()
                if ext in VIDEO_EXTS or ext in AUDIO_EXTS:
                    self._files.setdefault(stem, {}).setdefault(ext, Path(dirpath) / name)

    def __len__(self) -> int:
        return sum(len(v) for v in self._files.values())

    def find(self, item_id: str, start: float | None = None, end: float | None = None) -> MediaFiles:
        """The files for one row; fields are None where nothing matched."""
        video = audio = None
        for stem in candidate_stems(item_id, start, end):
            exts = self._files.get(stem)
            if not exts:
                continue
            if video is None:
                video = next((exts[e] for e in VIDEO_EXTS if e in exts), None)
            if audio is None:
                audio = next((exts[e] for e in AUDIO_EXTS if e in exts), None)
            if video is not None and audio is not None:
                break
        return MediaFiles(video=video, audio=audio if audio is not None else video)


def _row_keys(rows: pd.DataFrame) -> Iterable[tuple[str, float | None, float | None]]:
    if "ytid" in rows.columns:
        for ytid, start, end in zip(rows["ytid"], rows["start_seconds"], rows["end_seconds"]):
            yield str(ytid), float(start), float(end)
    elif "video_id" in rows.columns:
        for vid in rows["video_id"]:
            yield str(vid), None, None
    else:
        raise ValueError(
            f"metadata columns {list(rows.columns)}; expected 'ytid', 'start_seconds', 'end_seconds' (AudioSet) "
            "or 'video_id' (MedVidCL)"
        )


def find_media(rows: pd.DataFrame, media_root: str | os.PathLike | MediaIndex) -> list[MediaFiles]:
    """The :class:`MediaFiles` of every row of an AudioSet or MedVidCL metadata frame, in order."""
    index = media_root if isinstance(media_root, MediaIndex) else MediaIndex(media_root)
    return [index.find(*key) for key in _row_keys(rows)]


def missing_media(
    rows: pd.DataFrame,
    media_root: str | os.PathLike | MediaIndex,
    need: tuple[str, ...] = ("video", "audio"),
) -> list[str]:
    """IDs (ytid or video_id) of the rows lacking a file for any modality in ``need``."""
    for m in need:
        if m not in MODALITIES:
            raise ValueError(f"unknown modality {m!r} in need; expected some of {MODALITIES}")
    keys = list(_row_keys(rows))
    files = find_media(rows, media_root)
    return [key[0] for key, f in zip(keys, files) if not all(f.has(m) for m in need)]
