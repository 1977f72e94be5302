"""AudioSet metadata readers: real files (when ../shared is present), bundled excerpts, bad rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from locomt.data.audioset import label_matrix, read_audioset, read_class_labels, read_segments

HERE = Path(__file__).resolve().parent
EXCERPT = HERE / "data" / "audioset"
SHARED_AUDIOSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "audioset"
needs_shared = pytest.mark.skipif(
    not (SHARED_AUDIOSET / "balanced_train_segments.csv").is_file(),
    reason=f"real AudioSet metadata not found at {SHARED_AUDIOSET} (the ../shared folder beside the repo)",
)


def naive_parse(path: Path) -> list[tuple[str, float, float, list[str]]]:
    """An independent parser (split at ', ' three times) to cross-check the pandas reader."""
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        ytid, start, end, labels = line.split(", ", 3)
        rows.append((ytid, float(start), float(end), labels.strip('"').split(",")))
    return rows


@pytest.fixture(scope="module")
def classes():
    return read_class_labels(EXCERPT / "class_labels_indices.csv")


def test_class_table_excerpt(classes):
    assert len(classes) == 527
    assert list(classes.columns) == ["index", "mid", "display_name"]
    assert classes["index"].tolist() == list(range(527))
    assert classes.loc[0, "mid"] == "/m/09x0r" and classes.loc[0, "display_name"] == "Speech"
    assert classes.loc[1, "display_name"] == "Male speech, man speaking"  # quoted comma kept
    assert classes["mid"].is_unique and classes["display_name"].is_unique


def test_segments_excerpt(classes):
    path = EXCERPT / "balanced_train_segments_excerpt.csv"
    df = read_segments(path, classes)
    assert list(df.columns) == ["ytid", "start_seconds", "end_seconds", "labels"]
    assert len(df) == 41
    assert df["ytid"].str.len().eq(11).all()
    assert df["ytid"].str.startswith("-").sum() == 13
    assert ((df["end_seconds"] - df["start_seconds"]) < 10).sum() == 5
    assert (~np.equal(np.mod(df["start_seconds"], 1), 0)).sum() == 3
    assert df["labels"].map(len).sum() == 104
    assert df["labels"].map(len).max() == 12
    first = df.iloc[0]
    assert (first.ytid, first.start_seconds, first.end_seconds, first.labels) == ("--PJHxphWEs", 30.0, 40.0, [0, 451])
    # Same content as an independent parse, label by label.
    mid_to_index = dict(zip(classes["mid"], classes["index"]))
    for row, (ytid, start, end, mids) in zip(df.itertuples(index=False), naive_parse(path), strict=True):
        assert (row.ytid, row.start_seconds, row.end_seconds) == (ytid, start, end)
        assert row.labels == sorted(mid_to_index[m] for m in mids)
    m = label_matrix(df, len(classes))
    assert m.shape == (41, 527) and m.dtype == np.uint8 and int(m.sum()) == 104


def test_class_table_path_accepted():
    df = read_segments(EXCERPT / "balanced_train_segments_excerpt.csv", EXCERPT / "class_labels_indices.csv")
    assert len(df) == 41


@needs_shared
def test_real_balanced_train():
    splits, classes = read_audioset(SHARED_AUDIOSET)
    assert set(splits) == {"balanced_train"}  # the eval CSV is held out of ../shared on purpose
    df = splits["balanced_train"]
    assert len(classes) == 527
    assert len(df) == 22160 and df["ytid"].is_unique
    assert df["ytid"].tolist() == sorted(df["ytid"])  # file is in ASCII order
    assert df["labels"].map(len).sum() == 52882
    assert df["ytid"].str.startswith("-").sum() == 459
    assert ((df["end_seconds"] - df["start_seconds"]) < 10).sum() == 345
    assert ((df["end_seconds"] - df["start_seconds"]) > 10 + 1e-9).sum() == 0
    assert (df["start_seconds"] % 1 != 0).sum() == 7
    lengths = df["labels"].map(len)
    assert lengths.min() == 1 and lengths.max() == 12 and lengths.mode()[0] == 2
    per_class = label_matrix(df, 527).sum(axis=0)
    assert per_class.min() == 59 and per_class.max() == 6244 and (per_class > 0).all()
    # per-class counts agree with an independent parse of the raw file
    naive = Counter(m for *_, mids in naive_parse(SHARED_AUDIOSET / "balanced_train_segments.csv") for m in mids)
    assert {mid: int(per_class[i]) for i, mid in zip(classes["index"], classes["mid"])} == dict(naive)


@needs_shared
def test_bundled_class_table_is_the_real_one():
    real = (SHARED_AUDIOSET / "class_labels_indices.csv").read_bytes()
    assert (EXCERPT / "class_labels_indices.csv").read_bytes() == real


# --------------------------------------------------------------------------------- bad rows

HEADER = (
    "# Segments csv created Sun Mar  5 10:54:31 2017\n"
    "# num_ytids=2, num_segs=2, num_unique_labels=2, num_positive_labels=3\n"
    "# YTID, start_seconds, end_seconds, positive_labels\n"
)
GOOD = '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"\n'


@pytest.mark.parametrize(
    "bad_line, fragments",
    [
        ('abcdefghijk, 1.000, 5.000, "/m/09x0r", "x"\n', ["5 fields", "expected 4"]),
        ("abcdefghijk, 1.000, 5.000\n", ["3 field(s)", "expected 4 fields"]),
        ("abcdefghijk, 1.000, 5.000, /m/09x0r,/m/05zppz\n", ["5 fields", "double quotes"]),
        ('#NAME?, 1.000, 5.000, "/m/09x0r"\n', ["'#NAME?'", "11 characters"]),
        ('abcdefghijk, 1.0x0, 5.000, "/m/09x0r"\n', ["start_seconds '1.0x0'", "number of seconds"]),
        ('abcdefghijk, 1.000, soon, "/m/09x0r"\n', ["end_seconds 'soon'", "number of seconds"]),
        ('abcdefghijk, 5.000, 1.000, "/m/09x0r"\n', ["end_seconds '1.000'", "expected end > start"]),
        ('abcdefghijk, 1.000, 5.000, "/m/nope"\n', ["mid '/m/nope'", "527 mids"]),
        ('abcdefghijk, 1.000, 5.000, ""\n', ["label list ''", "at least one mid"]),
        ("\n", ["empty line", "expected 4 fields"]),
    ],
)
def test_bad_row_names_file_line_value(tmp_path, classes, bad_line, fragments):
    path = tmp_path / "segments.csv"
    path.write_text(HEADER + GOOD + bad_line + GOOD.replace("--PJHxphWEs", "--ZhevVpy1s"))
    with pytest.raises(ValueError) as info:
        read_segments(path, classes)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:5:"), msg  # 3 comment lines, one good row, then the bad one
    for frag in fragments:
        assert frag in msg, msg


def test_unquoted_single_label_is_fine(tmp_path, classes):
    # Only the quoting of lists with commas matters; a bare single mid parses.
    path = tmp_path / "segments.csv"
    path.write_text(HEADER + "abcdefghijk, 1.000, 5.000, /m/09x0r\n")
    assert read_segments(path, classes)["labels"].tolist() == [[0]]


def test_without_skipinitialspace_the_trap_is_real(tmp_path):
    # Documents why the reader needs skipinitialspace: plain pandas splits the quoted list.
    import pandas as pd

    path = tmp_path / "segments.csv"
    path.write_text(HEADER + GOOD)
    assert pd.read_csv(path, skiprows=3, header=None).shape == (1, 5)
    assert pd.read_csv(path, skiprows=3, header=None, skipinitialspace=True).shape == (1, 4)


def test_bad_class_table(tmp_path):
    path = tmp_path / "classes.csv"
    path.write_text('index,mid,display_name\n0,/m/09x0r,"Speech"\n2,/m/05zppz,"Male speech, man speaking"\n')
    with pytest.raises(ValueError, match=r"classes\.csv:3: index '2'; expected 1"):
        read_class_labels(path)
    path.write_text('id,mid,name\n0,/m/09x0r,"Speech"\n')
    with pytest.raises(ValueError, match=r"header 'id,mid,name'; expected 'index,mid,display_name'"):
        read_class_labels(path)
    path.write_text('index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/09x0r,"Again"\n')
    with pytest.raises(ValueError, match=r":3: mid '/m/09x0r' repeats line 2"):
        read_class_labels(path)


def test_unknown_split_name():
    with pytest.raises(ValueError, match="unknown AudioSet split"):
        read_audioset(EXCERPT, splits=("validation",))
