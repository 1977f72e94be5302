"""Media lookup: file namings, extensions, sibling audio, missing rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from locomt.data.media import MediaIndex, candidate_stems, find_media, missing_media


def touch(root: Path, rel: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")
    return p


def segments(*rows: tuple[str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ytid": [r[0] for r in rows],
            "start_seconds": [r[1] for r in rows],
            "end_seconds": [r[2] for r in rows],
            "labels": [[0]] * len(rows),
        }
    )


def test_candidate_stems_forms():
    stems = candidate_stems("--PJHxphWEs", 30.0, 40.0)
    assert stems[0] == "--PJHxphWEs"
    for s in [
        "--PJHxphWEs_30.000_40.000",
        "--PJHxphWEs_30_40",
        "--PJHxphWEs_30.000",
        "--PJHxphWEs_30",
        "Y--PJHxphWEs",
        "Y--PJHxphWEs_30.000_40.000",
    ]:
        assert s in stems
    frac = candidate_stems("AE5oZzfu2-E", 239.8, 249.8)
    assert "AE5oZzfu2-E_239.800_249.800" in frac and "AE5oZzfu2-E_239.8_249.8" in frac
    assert "AE5oZzfu2-E_239_249" not in frac  # a fractional time never matches its integer part
    assert candidate_stems("abcdefghijk") == ["abcdefghijk", "Yabcdefghijk"]


@pytest.mark.parametrize(
    "rel",
    [
        "--PJHxphWEs.mp4",
        "--PJHxphWEs_30.000.mkv",
        "--PJHxphWEs_30.webm",
        "--PJHxphWEs_30.000_40.000.mp4",
        "--PJHxphWEs_30_40.mp4",
        "sub/dir/--PJHxphWEs_30_40.MP4",
        "Y--PJHxphWEs.mkv",
    ],
)
def test_each_naming_is_found(tmp_path, rel):
    path = touch(tmp_path, rel)
    (files,) = find_media(segments(("--PJHxphWEs", 30.0, 40.0)), tmp_path)
    assert files.video == path and files.audio == path  # audio from the container


def test_sibling_audio_and_audio_only(tmp_path):
    video = touch(tmp_path, "a/--PJHxphWEs_30.000_40.000.mp4")
    wav = touch(tmp_path, "a/--PJHxphWEs_30.000_40.000.wav")
    flac = touch(tmp_path, "b/Y--ZhevVpy1s.flac")  # audio-only download, PANNs naming
    f1, f2 = find_media(segments(("--PJHxphWEs", 30.0, 40.0), ("--ZhevVpy1s", 50.0, 60.0)), tmp_path)
    assert (f1.video, f1.audio) == (video, wav)
    assert (f2.video, f2.audio) == (None, flac)
    rows = segments(("--PJHxphWEs", 30.0, 40.0), ("--ZhevVpy1s", 50.0, 60.0))
    assert missing_media(rows, tmp_path) == ["--ZhevVpy1s"]
    assert missing_media(rows, tmp_path, need=("audio",)) == []


def test_preference_order(tmp_path):
    touch(tmp_path, "abcdefghijk.webm")
    mkv = touch(tmp_path, "abcdefghijk.mkv")
    touch(tmp_path, "abcdefghijk_1_2.mp4")  # a less preferred naming than the bare ID
    (files,) = find_media(segments(("abcdefghijk", 1.0, 2.0)), tmp_path)
    assert files.video == mkv


def test_ignored_files(tmp_path):
    touch(tmp_path, "abcdefghijk.mp4.part")  # a write in progress
    touch(tmp_path, ".hidden/abcdefghijk.mp4")
    touch(tmp_path, ".abcdefghijk.mp4")
    touch(tmp_path, "abcdefghijk.txt")
    touch(tmp_path, "abcdefghijk_31.000_41.000.mp4")  # other segment times
    assert len(MediaIndex(tmp_path)) == 1
    assert missing_media(segments(("abcdefghijk", 30.0, 40.0)), tmp_path) == ["abcdefghijk"]


def test_medvidcl_rows_and_report(tmp_path):
    rows = pd.DataFrame({"video_id": ["dnzpr6Yj29I", "-bcdefghijk", "nFc3ppL5faU"]})
    touch(tmp_path, "dnzpr6Yj29I.mp4")
    touch(tmp_path, "-bcdefghijk.webm")
    assert missing_media(rows, tmp_path) == ["nFc3ppL5faU"]
    index = MediaIndex(tmp_path)  # an index can be reused across splits
    assert [f.video is not None for f in find_media(rows, index)] == [True, True, False]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        MediaIndex(tmp_path / "nope")
    with pytest.raises(ValueError, match="expected 'ytid'.*or 'video_id'"):
        find_media(pd.DataFrame({"path": ["x"]}), tmp_path)
    with pytest.raises(ValueError, match="unknown modality 'text'"):
        missing_media(pd.DataFrame({"video_id": ["x"]}), tmp_path, need=("text",))
