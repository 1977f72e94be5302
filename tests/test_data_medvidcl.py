"""MedVidCL metadata reader: real splits (when ../shared is present), bundled excerpts, bad items."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from locomt.data.medvidcl import CLASSES, read_medvidcl, read_split

HERE = Path(__file__).resolve().parent
EXCERPT = HERE / "data" / "medvidcl"
SHARED_MEDVIDCL = Path(__file__).resolve().parents[2] / "shared" / "data" / "medvidcl"
needs_shared = pytest.mark.skipif(
    not (SHARED_MEDVIDCL / "train.json").is_file(),
    reason=f"real MedVidCL annotations not found at {SHARED_MEDVIDCL} (the ../shared folder beside the repo)",
)

# From ../shared/data/medvidcl/SOURCE.md (and the paper: 6,117 videos).
REAL_COUNTS = {
    "train": {"Medical Instructional": 789, "Medical Non-instructional": 2394, "Non-medical": 1034},
    "val": {"Medical Instructional": 100, "Medical Non-instructional": 100, "Non-medical": 100},
    "test": {"Medical Instructional": 600, "Medical Non-instructional": 500, "Non-medical": 500},
}
EXCERPT_COUNTS = {
    "train": {"Medical Instructional": 1, "Medical Non-instructional": 13, "Non-medical": 3},
    "val": {"Medical Instructional": 4, "Medical Non-instructional": 7, "Non-medical": 4},
    "test": {"Medical Instructional": 7, "Medical Non-instructional": 5, "Non-medical": 5},
}


def check_split(df, expected_counts):
    assert list(df.columns) == [
        "video_id",
        "video_link",
        "video_title",
        "video_sub_title",
        "label",
        "label_index",
        "text",
    ]
    assert dict(Counter(df["label"])) == expected_counts
    assert (df["label"].map(CLASSES.index) == df["label_index"]).all()
    assert df["video_id"].is_unique and df["video_id"].str.len().eq(11).all()
    assert (df["video_link"] == "https://www.youtube.com/watch?v=" + df["video_id"]).all()
    assert (df["video_sub_title"] == "").all()  # the released files carry no subtitles
    assert (df["text"] == df["video_title"]).all()


def test_excerpt_splits():
    splits = read_medvidcl(EXCERPT)
    assert {k: len(v) for k, v in splits.items()} == {"train": 17, "val": 15, "test": 17}
    for name, df in splits.items():
        check_split(df, EXCERPT_COUNTS[name])
        assert df["video_id"].str.startswith("-").sum() == 2
        assert (~df["video_title"].map(str.isascii)).sum() == 3  # \\uXXXX escapes decoded
    first = splits["train"].iloc[0]
    assert (first.video_id, first.video_title, first.label, first.label_index) == (
        "dnzpr6Yj29I",
        "Cat Scratch Disease",
        "Medical Non-instructional",
        1,
    )


@needs_shared
def test_real_splits():
    splits = read_medvidcl(SHARED_MEDVIDCL)
    assert {k: len(v) for k, v in splits.items()} == {"train": 4217, "val": 300, "test": 1600}
    for name, df in splits.items():
        check_split(df, REAL_COUNTS[name])
    ids = [set(df["video_id"]) for df in splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert sum(len(df) for df in splits.values()) == 6117


@needs_shared
def test_excerpts_are_real_items():
    for split in ("train", "val", "test"):
        real = {item["video_id"]: item for item in json.loads((SHARED_MEDVIDCL / f"{split}.json").read_text())}
        for item in json.loads((EXCERPT / f"{split}.json").read_text()):
            assert real[item["video_id"]] == item


def test_subtitles_join_the_text(tmp_path):
    items = [
        {
            "video_id": "abcdefghijk",
            "video_link": "https://www.youtube.com/watch?v=abcdefghijk",
            "video_title": "How to splint a finger",
            "label": "Medical Instructional",
            "video_sub_title": "  first take the splint  ",
        },
        {
            "video_id": "-bcdefghijk",
            "video_link": "https://www.youtube.com/watch?v=-bcdefghijk",
            "video_title": "Guitar lesson",
            "label": "Non-medical",
            "video_sub_title": None,
        },
        {
            "video_id": "_bcdefghijk",
            "video_link": "https://www.youtube.com/watch?v=_bcdefghijk",
            "video_title": "Flu season",
            "label": "Medical Non-instructional",
            "extra": 3,
        },
    ]
    path = tmp_path / "train.json"
    path.write_text(json.dumps(items))
    df = read_split(path)
    assert df["text"].tolist() == ["How to splint a finger first take the splint", "Guitar lesson", "Flu season"]
    assert df["label_index"].tolist() == [0, 2, 1]


GOOD = {
    "video_id": "abcdefghijk",
    "video_link": "https://www.youtube.com/watch?v=abcdefghijk",
    "video_title": "A title",
    "label": "Non-medical",
}


@pytest.mark.parametrize(
    "bad, fragments",
    [
        (
            {k: v for k, v in GOOD.items() if k != "video_title"},
            ["item 1", "missing key 'video_title'", "expected keys"],
        ),
        (
            {**GOOD, "label": "Medical instructional"},
            ["item 1", "label 'Medical instructional'", "'Medical Instructional'"],
        ),
        ({**GOOD, "label": "medical"}, ["label 'medical'", "'Non-medical'"]),
        ({**GOOD, "video_title": 42}, ["video_title 42", "non-empty string"]),
        ({**GOOD, "video_sub_title": ["a"]}, ["video_sub_title ['a']", "string or null"]),
        ({**GOOD, "video_id": "zzzzzzzzzzz"}, ["item 1", "video_id 'zzzzzzzzzzz' repeats item 0"]),
        ("just a string", ["item 1", "expected an object"]),
    ],
)
def test_bad_item_names_file_index_value(tmp_path, bad, fragments):
    path = tmp_path / "val.json"
    good0 = {**GOOD, "video_id": "zzzzzzzzzzz"}
    path.write_text(json.dumps([good0, bad]))
    with pytest.raises(ValueError) as info:
        read_split(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    for frag in fragments:
        assert frag in msg, msg


def test_duplicate_id_and_bad_json(tmp_path):
    path = tmp_path / "test.json"
    path.write_text(json.dumps([GOOD, GOOD]))
    with pytest.raises(ValueError, match=r"item 1: video_id 'abcdefghijk' repeats item 0"):
        read_split(path)
    path.write_text('{"video_id": "x"}')
    with pytest.raises(ValueError, match=r"top-level dict; expected a JSON array"):
        read_split(path)
    path.write_text("[{")
    with pytest.raises(ValueError, match=r"not valid JSON"):
        read_split(path)


def test_missing_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train\.json"):
        read_medvidcl(tmp_path)
