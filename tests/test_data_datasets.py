"""The dataset registry: names, what every dataset declares, class counts from metadata alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from locomt.config import load_config
from locomt.data.datasets import (MODALITIES, TASKS, Dataset, classes_without_data, get_dataset, list_datasets,
                                  register_dataset)
from locomt.data.synthetic.config import LAYOUTS
from locomt.data.synthetic.rule import AUDIOSET_CLASSES

TESTS = Path(__file__).resolve().parent


def test_unknown_dataset_is_one_line_naming_the_known_ones():
    with pytest.raises(ValueError) as e:
        get_dataset("kinetics")
    msg = str(e.value)
    assert "'kinetics'" in msg and "\n" not in msg
    assert msg.endswith(f"expected one of {', '.join(list_datasets())}")
    assert list_datasets()[:3] == ["audioset", "medvidcl", "manifest"]


def test_a_name_registers_once():
    with pytest.raises(ValueError, match="'medvidcl' is already registered"):
        register_dataset("medvidcl")(type("Again", (Dataset,), {}))
    assert list_datasets().count("medvidcl") == 1


@pytest.mark.parametrize("name", list_datasets())
def test_every_dataset_declares_files_modalities_and_task(name):
    ds = get_dataset(name)
    assert ds.name == name and ds.title
    assert ds.files and all(isinstance(f, str) and f for f in ds.files)
    assert ds.modalities and set(ds.modalities) <= set(MODALITIES)
    assert ds.tasks and set(ds.tasks) <= set(TASKS) and len(set(ds.tasks)) == len(ds.tasks)
    cfg = load_config(None, [f"data.dataset={name}", "data.root=/nowhere",
                             f"data.modalities=[{', '.join(ds.modalities)}]"]).data
    assert "/nowhere" in ds.how_to_get(cfg) and "\n" not in ds.how_to_get(cfg)
    assert ("python -m locomt.synth" in ds.how_to_get(cfg)) == ds.synthetic


def test_synthetic_datasets_are_the_layouts_synth_writes():
    assert sorted(n for n in list_datasets() if get_dataset(n).synthetic) == sorted(LAYOUTS)


# Metadata without any media, per dataset: (how to write it under a folder, the class count it holds).
def _audioset(root: Path) -> None:
    shutil.copy(TESTS / "data" / "audioset" / "class_labels_indices.csv", root)
    for name in ("balanced_train_segments.csv", "eval_segments.csv"):
        shutil.copy(TESTS / "data" / "audioset" / "balanced_train_segments_excerpt.csv", root / name)


def _medvidcl(root: Path) -> None:
    shutil.copytree(TESTS / "data" / "medvidcl", root, dirs_exist_ok=True)


def _manifest(root: Path) -> None:
    (root / "manifest.csv").write_text("split,path,labels\ntrain,a.mp4,cat;dog\nval,b.wav,bird\ntest,c.mkv,cat\n")


METADATA = {"audioset": (_audioset, 527), "medvidcl": (_medvidcl, 3), "manifest": (_manifest, 3)}


@pytest.mark.parametrize("name", list_datasets())
def test_classes_without_data_reads_metadata_only(name, tmp_path):
    assert name in METADATA, f"add metadata (no media) for dataset {name!r} to METADATA in this test"
    write, n_classes = METADATA[name]
    root = tmp_path / "root"
    root.mkdir()
    write(root)
    before = sorted(tmp_path.rglob("*"))
    cfg = load_config(None, [f"data.dataset={name}", f"data.root={root}", f"data.cache_dir={tmp_path / 'cache'}",
                             f"data.modalities=[{','.join(get_dataset(name).modalities)}]"]).data
    assert classes_without_data(cfg) == (n_classes, None)
    assert all(p.is_file() for p in get_dataset(name).metadata_files(cfg))
    assert sorted(tmp_path.rglob("*")) == before  # nothing decoded, generated or cached


def test_audioset_class_count_without_a_class_table(tmp_path):
    av = "data.modalities=[video, audio]"
    synthetic = load_config(None, ["data.dataset=audioset", f"data.root={tmp_path}", "data.synthetic={n: 30}", av]).data
    assert classes_without_data(synthetic) == (len(AUDIOSET_CLASSES), None)  # locomt.synth's own table
    official = load_config(None, ["data.dataset=audioset", f"data.root={tmp_path}", av]).data
    n, note = classes_without_data(official)
    assert n == 527 and "class_labels_indices.csv not found" in note and "527" in note
    assert list(tmp_path.iterdir()) == []
