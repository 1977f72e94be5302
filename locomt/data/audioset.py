"""AudioSet metadata readers: segment CSVs and ``class_labels_indices.csv`` (multi-label).

Segment CSV (``balanced_train_segments.csv``, ``eval_segments.csv``, ``unbalanced_train_segments.csv``)::

    # Segments csv created Sun Mar  5 10:54:31 2017
    # num_ytids=22160, num_segs=22160, num_unique_labels=527, num_positive_labels=52882
    # YTID, start_seconds, end_seconds, positive_labels
    --PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"

Fields are separated by ``", "``; the label list is quoted and holds bare commas, so it is parsed
with ``skipinitialspace=True`` (without it pandas and ``csv`` split the list). YouTube IDs are 11
characters of ``[A-Za-z0-9_-]`` and may start with ``-``; segments may be shorter than 10 s.

Class table: ``index,mid,display_name`` with ``index`` running 0..K-1 (K = 527 for AudioSet).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

SEGMENT_COLUMNS = ("ytid", "start_seconds", "end_seconds", "labels")
CLASS_COLUMNS = ("index", "mid", "display_name")
YTID_RE = re.compile(r"^[A-Za-z0-9_-]{11}$")
#: The official split file names (the evaluation split is ``eval_segments.csv``).
SPLIT_FILES = {
    "balanced_train": "balanced_train_segments.csv",
    "unbalanced_train": "unbalanced_train_segments.csv",
    "eval": "eval_segments.csv",
}

_FIELD_COUNT_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _line(path: Path, lineno: int) -> str:
    """Text of 1-based line ``lineno`` of ``path`` (for error messages), without its newline."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, text in enumerate(f, start=1):
            if i == lineno:
                return text.rstrip("\r\n")
    return ""


def read_class_labels(path: str | Path) -> pd.DataFrame:
    """Read ``class_labels_indices.csv`` into a DataFrame with columns index, mid, display_name.

    Raises ValueError naming the file, line and bad value when the header is not
    ``index,mid,display_name``, an index is out of sequence, or a mid is empty or repeated.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False)
    except pd.errors.ParserError as e:
        raise ValueError(f"{path}: cannot parse class table: {str(e).strip()}") from None
    if tuple(df.columns) != CLASS_COLUMNS:
        raise ValueError(f"{path}:1: header {','.join(map(str, df.columns))!r}; expected {','.join(CLASS_COLUMNS)!r}")
    seen: dict[str, int] = {}
    for i, (idx, mid, name) in enumerate(df.itertuples(index=False, name=None)):
        lineno = i + 2
        if idx != str(i):
            raise ValueError(f"{path}:{lineno}: index {idx!r}; expected {i} (indices run 0..K-1 in order)")
        if not mid or not mid.startswith("/"):
            raise ValueError(f"{path}:{lineno}: mid {mid!r}; expected a Freebase-style id such as '/m/09x0r'")
        if mid in seen:
            raise ValueError(f"{path}:{lineno}: mid {mid!r} repeats line {seen[mid]}; expected unique mids")
        seen[mid] = lineno
        if not name:
            raise ValueError(f"{path}:{lineno}: empty display_name for mid {mid!r}; expected a class name")
    df["index"] = df["index"].astype(np.int64)
    return df


def _leading_comment_lines(path: Path) -> int:
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for text in f:
            if not text.startswith("#"):
                break
            n += 1
    return n


def read_segments(path: str | Path, classes: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Read an AudioSet segment CSV.

    ``classes`` is the class table (a DataFrame from :func:`read_class_labels` or its path).
    Returns a DataFrame with columns ytid (str), start_seconds, end_seconds (float64) and
    labels (sorted list of class indices), one row per data line, in file order.

    A broken row (wrong field count, bad YTID, unparseable or inverted times, empty label list,
    mid not in the class table) raises ValueError with a one-line message naming the file, the
    line number, the bad value and what was expected.
    """
    path = Path(path)
    if not isinstance(classes, pd.DataFrame):
        classes = read_class_labels(classes)
    mid_to_index = dict(zip(classes["mid"], classes["index"].astype(int)))
    skip = _leading_comment_lines(path)
    try:
        raw = pd.read_csv(
            path,
            skiprows=skip,
            header=None,
            names=list(SEGMENT_COLUMNS),
            skipinitialspace=True,
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
        )
    except pd.errors.ParserError as e:
        m = _FIELD_COUNT_RE.search(str(e))
        if m:
            lineno = int(m.group(2))
            raise ValueError(
                f"{path}:{lineno}: {m.group(3)} fields in {_line(path, lineno)!r}; expected 4 "
                '(YTID, start, end, "mid,mid" with the label list in double quotes)'
            ) from None
        raise ValueError(f"{path}: cannot parse segment CSV: {str(e).strip()}") from None
    except pd.errors.EmptyDataError:
        raw = pd.DataFrame(columns=list(SEGMENT_COLUMNS), dtype=str)

    first_line = skip + 1
    # A row with too few fields comes back with "" in the missing columns: count its fields.
    for i in np.flatnonzero((raw == "").any(axis=1).to_numpy()):
        lineno = first_line + int(i)
        text = _line(path, lineno)
        n_fields = len(next(csv.reader([text], skipinitialspace=True), []))
        if n_fields != 4:
            what = "empty line" if not text.strip() else f"{n_fields} field(s) in {text!r}"
            raise ValueError(f'{path}:{lineno}: {what}; expected 4 fields (YTID, start, end, "mid,mid")')

    ytids = raw["ytid"].to_numpy(dtype=object)
    bad = ~raw["ytid"].str.fullmatch(YTID_RE.pattern).to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{path}:{first_line + i}: YTID {ytids[i]!r}; expected 11 characters of [A-Za-z0-9_-] "
            "(a spreadsheet may have turned IDs starting with '-' into '#NAME?')"
        )

    times = {}
    for col in ("start_seconds", "end_seconds"):
        values = pd.to_numeric(raw[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{path}:{first_line + i}: {col} {raw[col].iloc[i]!r}; "
                "expected a non-negative number of seconds such as '30.000'"
            )
        times[col] = values
    bad = times["end_seconds"] <= times["start_seconds"]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{path}:{first_line + i}: end_seconds {raw['end_seconds'].iloc[i]!r} <= start_seconds "
            f"{raw['start_seconds'].iloc[i]!r}; expected end > start"
        )

    labels: list[list[int]] = []
    for i, field in enumerate(raw["labels"].to_numpy(dtype=object)):
        mids = [m for m in field.split(",") if m.strip()]
        if not mids:
            raise ValueError(f"{path}:{first_line + i}: label list {field!r}; expected at least one mid")
        try:
            labels.append(sorted({mid_to_index[m.strip()] for m in mids}))
        except KeyError as e:
            raise ValueError(
                f"{path}:{first_line + i}: mid {e.args[0]!r}; expected one of the {len(mid_to_index)} mids "
                "of the class table"
            ) from None

    return pd.DataFrame(
        {
            "ytid": pd.Series(ytids, dtype=object),
            "start_seconds": times["start_seconds"],
            "end_seconds": times["end_seconds"],
            "labels": pd.Series(labels, dtype=object),
        }
    )


def label_matrix(segments: pd.DataFrame, num_classes: int) -> np.ndarray:
    """Multi-hot (N, num_classes) uint8 matrix from the ``labels`` column of :func:`read_segments`."""
    out = np.zeros((len(segments), num_classes), dtype=np.uint8)
    for i, labels in enumerate(segments["labels"]):
        out[i, labels] = 1
    return out


def read_audioset(
    root: str | Path, splits: tuple[str, ...] = ("balanced_train", "eval")
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Read the class table and the named splits found under ``root``.

    Returns ``({split: segments}, classes)``; splits whose CSV is absent are left out. ``splits``
    names come from :data:`SPLIT_FILES`.
    """
    root = Path(root)
    unknown = [s for s in splits if s not in SPLIT_FILES]
    if unknown:
        raise ValueError(f"unknown AudioSet split(s) {unknown}; expected some of {sorted(SPLIT_FILES)}")
    classes = read_class_labels(root / "class_labels_indices.csv")
    out = {}
    for split in splits:
        path = root / SPLIT_FILES[split]
        if path.exists():
            out[split] = read_segments(path, classes)
    return out, classes
