"""Generic CSV manifest reader for a user's own data: one row per clip with its split, path, label(s), text.

Format (UTF-8 CSV with a header)::

    split,path,label,text
    train,clips/cat_001.mp4,cat,a cat on a sofa
    val,clips/dog_014.mp4,dog,
    test,audio_only/bird_3.wav,bird,birdsong at dawn

* ``split``: ``train``, ``val`` or ``test`` (every split needs at least one row);
* ``path``: the media file, relative to the manifest's folder (or absolute): a video container
  (``.mp4``, ``.mkv``, ``.webm``; audio from its track or a sibling ``.wav``/``.flac`` with the same
  stem) or an audio file (``.wav``, ``.flac``) for audio-only data;
* ``label`` (one class name: multiclass) **or** ``labels`` (class names joined by ``;``: multilabel);
* ``text`` (optional): the text modality of the item.

Classes are the sorted set of names over all splits; their index is the position in that list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from locomt.data.media import AUDIO_EXTS, VIDEO_EXTS, MediaFiles

SPLITS = ("train", "val", "test")
LABEL_SEPARATOR = ";"
MANIFEST_NAME = "manifest.csv"


@dataclass(frozen=True)
class Manifest:
    """A read manifest: ``rows`` has columns split, path (absolute), labels (list of class indices), text."""

    path: Path
    rows: pd.DataFrame
    class_names: tuple[str, ...]
    task: str  # multiclass | multilabel


def manifest_path(root: str | Path) -> Path:
    """The manifest file of ``data.root``: the file itself, or ``root/manifest.csv`` for a folder."""
    root = Path(root)
    return root / MANIFEST_NAME if root.is_dir() else root


def media_files(path: str | Path) -> MediaFiles:
    """The :class:`MediaFiles` of one manifest path (sibling .wav/.flac preferred for audio)."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext in AUDIO_EXTS:
        return MediaFiles(video=None, audio=p)
    sibling = next((p.with_suffix(e) for e in AUDIO_EXTS if p.with_suffix(e).is_file()), None)
    return MediaFiles(video=p, audio=sibling if sibling is not None else p)


def read_manifest(path: str | Path) -> Manifest:
    """Read and check a manifest CSV; a bad header, split, path or label raises a one-line ValueError
    naming the file, line, value and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"manifest {path} not found; expected a CSV with columns split,path,label (or labels)[,text]"
        )
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot parse manifest CSV ({' '.join(str(e).split())})") from None
    cols = [c.strip() for c in df.columns]
    df.columns = cols
    has_label, has_labels = "label" in cols, "labels" in cols
    allowed = {"split", "path", "label", "labels", "text"}
    unknown = [c for c in cols if c not in allowed]
    if unknown or "split" not in cols or "path" not in cols or has_label == has_labels:
        raise ValueError(
            f"{path}:1: header {','.join(cols)!r}; expected columns split,path and exactly one of label "
            "(multiclass) or labels (multilabel, ';'-joined), optionally text"
        )
    label_col = "label" if has_label else "labels"
    task = "multiclass" if has_label else "multilabel"
    names_per_row: list[list[str]] = []
    for i, (split, rel, raw) in enumerate(zip(df["split"], df["path"], df[label_col])):
        where = f"{path}:{i + 2}"
        if split.strip() not in SPLITS:
            raise ValueError(f"{where}: split {split!r}; expected one of {', '.join(SPLITS)}")
        if not rel.strip():
            raise ValueError(f"{where}: empty path; expected a media file relative to {path.parent}")
        ext = Path(rel.strip()).suffix.lower()
        if ext not in VIDEO_EXTS + AUDIO_EXTS:
            raise ValueError(f"{where}: path {rel!r}; expected a file ending in {', '.join(VIDEO_EXTS + AUDIO_EXTS)}")
        names = [n.strip() for n in raw.split(LABEL_SEPARATOR)] if has_labels else [raw.strip()]
        names = [n for n in names if n]
        if not names:
            raise ValueError(f"{where}: empty {label_col} {raw!r}; expected a class name")
        names_per_row.append(sorted(set(names)))
    missing_splits = [s for s in SPLITS if not (df["split"].str.strip() == s).any()]
    if missing_splits:
        raise ValueError(
            f"{path}: no rows with split {missing_splits[0]!r}; expected rows for each of {', '.join(SPLITS)}"
        )
    class_names = tuple(sorted({n for names in names_per_row for n in names}))
    index = {n: i for i, n in enumerate(class_names)}
    rows = pd.DataFrame(
        {
            "split": df["split"].str.strip(),
            "path": [str((path.parent / p.strip()).resolve()) for p in df["path"]],
            "labels": pd.Series([[index[n] for n in names] for names in names_per_row], dtype=object),
            "text": df["text"].str.strip() if "text" in cols else "",
        }
    )
    return Manifest(path=path, rows=rows, class_names=class_names, task=task)
