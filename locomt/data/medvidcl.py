"""MedVidCL metadata reader: JSON splits (train/val/test) with 3 classes and title/subtitle text.

Each split is one JSON array of objects with exactly ``video_id``, ``video_link``,
``video_title`` and ``label`` (strings). The dataset's own ``prepare/Text_Extraction.py`` adds the
YouTube captions as ``video_sub_title``; it is read when present (a missing, null or empty value
means no subtitles). Other extra keys are ignored.

Class indices follow :data:`CLASSES` order: 0 Medical Instructional, 1 Medical Non-instructional,
2 Non-medical. (The authors' baseline scripts use another order, 1/0/2; only the names are
stored in the files, so any order reads them correctly.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

CLASSES = ("Medical Instructional", "Medical Non-instructional", "Non-medical")
SPLITS = ("train", "val", "test")
REQUIRED_KEYS = ("video_id", "video_link", "video_title", "label")
SUBTITLE_KEY = "video_sub_title"
COLUMNS = ("video_id", "video_link", "video_title", "video_sub_title", "label", "label_index", "text")


def item_text(title: str, subtitle: str | None) -> str:
    """The text modality of one item: the title, then the subtitles where present."""
    return f"{title} {subtitle}".strip() if subtitle else title


def read_split(path: str | Path) -> pd.DataFrame:
    """Read one MedVidCL split file into a DataFrame with columns :data:`COLUMNS`.

    A bad item (not an object, a missing or non-string field, an unknown label, a repeated
    video_id) raises ValueError with a one-line message naming the file, the item index, the bad
    value and what was expected.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            items = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); expected a JSON array of objects"
        ) from None
    if not isinstance(items, list):
        raise ValueError(f"{path}: top-level {type(items).__name__}; expected a JSON array of objects")
    rows = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        where = f"{path}: item {i}"
        if not isinstance(item, dict):
            raise ValueError(
                f"{where}: {type(item).__name__} {str(item)[:60]!r}; "
                f"expected an object with keys {', '.join(REQUIRED_KEYS)}"
            )
        missing = [k for k in REQUIRED_KEYS if k not in item]
        if missing:
            raise ValueError(
                f"{where}: missing key {missing[0]!r} (has {sorted(item)}); expected keys {', '.join(REQUIRED_KEYS)}"
            )
        for k in REQUIRED_KEYS:
            if not isinstance(item[k], str) or not item[k]:
                raise ValueError(f"{where}: {k} {item[k]!r}; expected a non-empty string")
        label = item["label"]
        if label not in CLASSES:
            raise ValueError(f"{where}: label {label!r}; expected one of {', '.join(repr(c) for c in CLASSES)}")
        vid = item["video_id"]
        if vid in seen:
            raise ValueError(f"{where}: video_id {vid!r} repeats item {seen[vid]}; expected unique video_ids")
        seen[vid] = i
        sub = item.get(SUBTITLE_KEY)
        if sub is not None and not isinstance(sub, str):
            raise ValueError(f"{where}: {SUBTITLE_KEY} {sub!r}; expected a string or null")
        sub = (sub or "").strip()
        rows.append(
            (
                vid,
                item["video_link"],
                item["video_title"],
                sub,
                label,
                CLASSES.index(label),
                item_text(item["video_title"], sub),
            )
        )
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["label_index"] = df["label_index"].astype("int64")
    return df


def read_medvidcl(root: str | Path, splits: tuple[str, ...] = SPLITS) -> dict[str, pd.DataFrame]:
    """Read ``root/{split}.json`` for each split; a missing file raises FileNotFoundError."""
    root = Path(root)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown MedVidCL split(s) {unknown}; expected some of {SPLITS}")
    out = {}
    for split in splits:
        path = root / f"{split}.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: MedVidCL split file not found; expected {', '.join(s + '.json' for s in SPLITS)} in {root}"
            )
        out[split] = read_split(path)
    return out
