"""MedVidCL captions: the text of a fetched caption file, and merging it into the split JSONs'
``video_sub_title`` the way the dataset's own ``prepare/Text_Extraction.py`` does."""

from __future__ import annotations

import html
import json
import os
import re
import unicodedata
from pathlib import Path

from locomt.io import atomic_write_text

SUBTITLE_SUFFIX = ".en.vtt"  # captions beside the clip: VIDEO_ID.en.vtt

_TIMING_RE = re.compile(r"-->")
_TAG_RE = re.compile(r"<[^>]*>")


def caption_text(text: str) -> str:
    """The spoken text of a WebVTT or SRT caption file as one line, the way MedVidCL's own
    ``prepare/Text_Extraction.py`` stores it in ``video_sub_title``: cue texts joined by spaces,
    newlines removed, stripped, NFKD-normalised. Only the text after a cue's timing line is kept
    (no headers, cue numbers, NOTE/STYLE blocks), without inline tags; a line that repeats the
    line before it (YouTube's rolling automatic captions) is kept once."""
    lines: list[str] = []
    block: list[str] = []

    def flush() -> None:
        timed = next((i for i, b in enumerate(block) if _TIMING_RE.search(b)), None)
        for line in block[timed + 1:] if timed is not None else ():  # no timing: a header or NOTE block
            clean = " ".join(html.unescape(_TAG_RE.sub("", line)).split())
            if clean and (not lines or lines[-1] != clean):
                lines.append(clean)
        block.clear()

    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw.strip():
            block.append(raw.strip())
        else:
            flush()
    flush()
    return unicodedata.normalize("NFKD", " ".join(lines)).strip()



def merge_subtitles(data_root: str | os.PathLike, media_root: str | os.PathLike,
                    splits: set[str] | tuple[str, ...]) -> dict[str, int]:
    """Put the text of each fetched ``VIDEO_ID.en.vtt`` into ``video_sub_title`` of the split JSONs.

    Only items whose ``video_sub_title`` is absent or empty are filled; every other field and value
    is kept as it was, a new key goes before ``label`` (the order of MedVidCL's own
    Text_Extraction.py). A file that changes is first kept as ``SPLIT.json.orig`` (once), then
    rewritten atomically in the official style (4-space indent, ASCII escapes). Returns, per split,
    how many items have caption text from a fetched file."""
    data_root, media_root = Path(data_root), Path(media_root)
    captions = {p.name[: -len(SUBTITLE_SUFFIX)]: p for p in media_root.glob("*" + SUBTITLE_SUFFIX)}
    counts: dict[str, int] = {}
    for split in sorted(splits):
        path = data_root / f"{split}.json"
        raw = path.read_text(encoding="utf-8")
        items = json.loads(raw)
        changed, counts[split] = False, 0
        for i, item in enumerate(items):
            cap = captions.get(item.get("video_id"))
            text = caption_text(cap.read_text(encoding="utf-8", errors="replace")) if cap else ""
            if not text:
                continue
            counts[split] += 1
            if item.get("video_sub_title"):
                continue
            if "video_sub_title" not in item and "label" in item:
                item = {**{k: v for k, v in item.items() if k != "label"}, "video_sub_title": text,
                        "label": item["label"]}
            else:
                item = {**item, "video_sub_title": text}
            items[i], changed = item, True
        if changed:
            backup = path.with_name(path.name + ".orig")
            if not backup.exists():
                atomic_write_text(backup, raw)
            atomic_write_text(path, json.dumps(items, indent=4) + ("\n" if raw.endswith("\n") else ""))
    return counts
