"""CSV manifest for a user's own data: reader checks and the path end to end through prepare and the data module."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

from locomt.config import load_config
from locomt.data.datamodule import build_datamodule
from locomt.data.manifest import read_manifest
from locomt.data.synthetic.config import SynthConfig
from locomt.data.synthetic.layout import generate

HEADER_MC = "split,path,label,text\n"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A user's folder: 12 synthetic clips under clips/ and their hidden colour as the class."""
    synth = tmp_path_factory.mktemp("manifest_src")
    generate(synth, SynthConfig("audioset", n=12, seed=5, size=32), progress=False)
    user = tmp_path_factory.mktemp("user")
    shutil.copytree(synth / "media", user / "clips")
    shutil.copy(synth / "synth_latents.csv", user / "latents.csv")
    return user


def write_manifest(user: Path, name: str, multilabel: bool = False) -> Path:
    lat = pd.read_csv(user / "latents.csv", dtype={"id": str}, keep_default_na=False)
    splits = ["train"] * 8 + ["val"] * 2 + ["test"] * 2
    rows = pd.DataFrame({"split": splits, "path": ["clips/" + Path(f).name for f in lat["file"]]})
    if multilabel:
        rows["labels"] = [f"{c};{'pulse' if p else 'steady'}" for c, p in zip(lat["colour_name"], lat["pulse"])]
    else:
        rows["label"] = lat["colour_name"]
    rows["text"] = [f"a {c} clip" for c in lat["colour_name"]]
    path = user / name
    rows.to_csv(path, index=False)
    return path


def test_reader(clips):
    man = read_manifest(write_manifest(clips, "m.csv"))
    assert man.task == "multiclass" and man.class_names == tuple(sorted(set(man.class_names)))
    assert man.rows["split"].tolist()[:1] == ["train"] and Path(man.rows["path"][0]).is_absolute()
    assert Path(man.rows["path"][0]).is_file()
    ml = read_manifest(write_manifest(clips, "ml.csv", multilabel=True))
    assert ml.task == "multilabel" and {"pulse", "steady"} <= set(ml.class_names)
    assert all(len(x) == 2 for x in ml.rows["labels"])


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("split,path\ntrain,a.mp4\n", ["header", "label"]),
        ("split,path,label,labels\ntrain,a.mp4,x,y\n", ["exactly one of label"]),
        ("split,path,label,extra\ntrain,a.mp4,x,1\n", ["header", "extra"]),
        ("split,path,label\ntraining,a.mp4,x\nval,b.mp4,x\ntest,c.mp4,x\n", [":2:", "'training'", "train, val, test"]),
        ("split,path,label\ntrain,a.mp4,\nval,b.mp4,x\ntest,c.mp4,x\n", [":2:", "empty label"]),
        ("split,path,label\ntrain,a.txt,x\nval,b.mp4,x\ntest,c.mp4,x\n", [":2:", "'a.txt'", ".mp4"]),
        ("split,path,label\ntrain,a.mp4,x\ntest,c.mp4,x\n", ["'val'"]),
    ],
)
def test_reader_errors(tmp_path, text, fragments):
    path = tmp_path / "manifest.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        read_manifest(path)
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg
    for f in fragments:
        assert f in msg, msg


def test_manifest_end_to_end(clips, tmp_path):
    path = write_manifest(clips, "manifest.csv")
    man = read_manifest(path)
    # root may be the folder holding manifest.csv
    cfg = load_config(None, ["data.dataset=manifest", f"data.root={clips}", f"data.cache_dir={tmp_path}",
                             "data.video.num_frames=4", "data.video.size=32", "data.audio.n_mels=32",
                             "data.audio.clip_seconds=1.0", "data.audio.hop_length=250", "data.text.max_len=4",
                             "data.batch_size=3"])
    dm = build_datamodule(cfg, prepare_workers=1, progress=False)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.task == "multiclass" and dm.class_names == list(man.class_names) and dm.vocab_size >= 4
    targets = torch.cat([t for _, t in dm.test_dataloader()]).tolist()
    assert targets == [man.class_names.index(c) for c in pd.read_csv(path)["label"][-2:]]
    inputs, target = next(iter(dm.train_dataloader()))
    assert list(inputs) == ["video", "audio", "text"] and inputs["video"].shape == (3, 3, 4, 32, 32)
    assert inputs["audio"].shape == (3, 32, 64) and target.dtype == torch.int64


def test_multilabel_audio_only_manifest(clips, tmp_path):
    """Multi-label rows, one an audio-only .wav, one missing (reported, skipped)."""
    path = write_manifest(clips, "ml.csv", multilabel=True)
    df = pd.read_csv(path)
    wave = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32) * 0.3
    soundfile.write(clips / "clips" / "tone.wav", wave, 16000)
    df.loc[0, "path"] = "clips/tone.wav"
    df.loc[1, "path"] = "clips/gone.mp4"
    df.to_csv(path, index=False)
    cfg = load_config(None, ["data.dataset=manifest", f"data.root={path}", f"data.cache_dir={tmp_path}",
                             "data.modalities=[audio]", "data.audio.n_mels=32", "data.audio.clip_seconds=1.0",
                             "data.audio.hop_length=250", "data.batch_size=16"])
    dm = build_datamodule(cfg, prepare_workers=1, progress=False)
    dm.prepare_data()
    dm.setup("fit")
    report = pd.read_csv(dm.cache.path / "report.csv")
    assert report["kind"].tolist() == ["missing"] and report["path"][0].endswith("gone.mp4")
    inputs, target = next(iter(dm.train_dataloader()))
    assert list(inputs) == ["audio"] and target.dtype == torch.float32 and target.shape == (7, dm.n_classes)
    assert (target.sum(1) == 2).all()
    with pytest.raises(ValueError, match="no rows with split 'test'"):
        df[df["split"] != "test"].to_csv(path, index=False)
        read_manifest(path)
