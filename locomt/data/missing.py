"""``missing.csv``: the items ``python -m locomt.fetch`` could not get, in the media root beside the clips.

One row per item: ``split`` (the metadata's: ``balanced_train``, ``eval``, ``train`` ...), ``id``
(YouTube id), ``file`` (the clip's name, or the caption file's when only a fetched video's captions
could not be had), ``reason`` (one of ``locomt.data.download_ytdlp.REASONS``) and ``detail`` (yt-dlp's
message, one line). ``locomt.data.download`` writes it as a fetch goes; ``locomt.data.build`` reads it
so that ``prepare`` reports such an item as unavailable at fetch rather than as missing media.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from locomt.data.media import VIDEO_EXTS
from locomt.io import atomic_write_csv

MISSING_CSV = "missing.csv"
MISSING_COLUMNS = ("split", "id", "file", "reason", "detail")
UNAVAILABLE = "unavailable"  # report.csv's kind of an item fetch could not get


@dataclass(frozen=True)
class MissingRow:
    """One line of missing.csv. ``file`` is the clip's name, or the caption file's when only the
    captions of a fetched video could not be had (then :attr:`is_media` is False)."""

    split: str
    id: str
    file: str
    reason: str
    detail: str = ""

    @property
    def is_media(self) -> bool:
        return Path(self.file).suffix.lower() in VIDEO_EXTS


def read_missing(media_root: str | os.PathLike) -> dict[tuple[str, str], MissingRow]:
    """The rows of ``media_root/missing.csv`` keyed by (split, id); empty when there is none."""
    path = Path(media_root) / MISSING_CSV
    if not path.is_file():
        return {}
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    absent = [c for c in MISSING_COLUMNS if c not in df.columns]
    if absent:
        raise ValueError(f"{path}: no column {absent[0]!r}; expected columns {', '.join(MISSING_COLUMNS)}")
    return {(r.split, r.id): MissingRow(r.split, r.id, r.file, r.reason, r.detail)
            for r in df[list(MISSING_COLUMNS)].itertuples(index=False)}


def write_missing(media_root: str | os.PathLike, rows: dict[tuple[str, str], MissingRow]) -> Path:
    """Rewrite ``media_root/missing.csv`` atomically, sorted by split and id."""
    ordered = sorted(rows.values(), key=lambda r: (r.split, r.id))
    df = pd.DataFrame([[getattr(r, c) for c in MISSING_COLUMNS] for r in ordered], columns=list(MISSING_COLUMNS))
    return atomic_write_csv(df, Path(media_root) / MISSING_CSV)


def unavailable_media(media_root: str | os.PathLike) -> dict[str, MissingRow]:
    """The clips missing.csv lists (not the caption-only rows), keyed by id: prepare's splits differ
    from the metadata's (AudioSet's val is a slice of balanced_train), its ids do not."""
    out: dict[str, MissingRow] = {}
    for row in read_missing(media_root).values():
        if row.is_media:
            out.setdefault(row.id, row)
    return out


def unavailable_error(item_id: str, unavailable: dict[str, MissingRow],
                      media_root: str | os.PathLike) -> dict[str, str] | None:
    """The report.csv record (path, kind, reason) of an item without media whose clip ``unavailable``
    (:func:`unavailable_media`) lists: kind ``unavailable``, the fetch's reason and yt-dlp's message.
    None when fetch did not list it (plain missing media)."""
    row = unavailable.get(item_id)
    if row is None:
        return None
    reason = f"unavailable at fetch: {row.reason}" + (f" ({row.detail})" if row.detail else "")
    return {"path": str(Path(media_root) / row.file), "kind": UNAVAILABLE, "reason": reason}


def skipped_summary(kinds: Iterable[str], report_csv: Path, missing_csv: Path) -> str:
    """prepare's line on its skipped items (their report.csv kinds), the unavailable ones counted apart."""
    kinds = list(kinds)
    n_unavailable = kinds.count(UNAVAILABLE)
    if not n_unavailable:
        return f"skipped {len(kinds)} item(s) with unusable media; see {report_csv}"
    return (f"{len(kinds)} skipped: {n_unavailable} unavailable at fetch (see {missing_csv}), "
            f"{len(kinds) - n_unavailable} missing/corrupt (see {report_csv})")
