"""Items with a modality absent: kept through prepare (report.csv kind missing-modality, present.npy),
batched with presence masks, trained and tested; data.require_modalities skips them as before;
data.modality_dropout draws reproducible masks at training time only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from locomt.config import load_config
from locomt.data.build import prepare
from locomt.data.datamodule import build_datamodule
from locomt.data.presence import apply_modality_dropout, drop_modalities
from locomt.data.synthetic.config import SynthConfig, dropped_streams
from locomt.data.synthetic.layout import generate
from locomt.models import present_key
from locomt.runs import train

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "synthetic-medvidcl.yaml"
SYNTH = {"layout": "medvidcl", "n": 40, "seed": 3, "size": 32, "fps": 8, "seconds": 2.0,
         "no_audio": 0.2, "no_video": 0.1}
TINY = ["data.video.num_frames=8", "model.video_tubelet=2", "data.batch_size=8", "model.n_layers=2",
        "model.fusion_layer=1", "model.d_model=32", "model.n_heads=4", "trainer.max_epochs=1",
        "trainer.accelerator=cpu", "trainer.log_every_n_steps=1"]


@pytest.fixture(scope="module")
def gappy(tmp_path_factory):
    base = tmp_path_factory.mktemp("gappy")
    synth = "{" + ", ".join(f"{k}: {v}" for k, v in SYNTH.items()) + "}"
    return [f"data.root={base / 'synth'}", f"data.cache_dir={base / 'cache'}", f"data.synthetic={synth}", *TINY]


@pytest.fixture(scope="module")
def kept(gappy):
    cfg = load_config(CONFIG, gappy)
    return cfg, prepare(cfg.data, workers=1, progress=False, log=lambda s: None)


def test_synthetic_knob_writes_clips_without_a_stream(kept):
    cfg, _ = kept
    drops = dropped_streams(SynthConfig(**SYNTH), SYNTH["n"])
    assert 0 < drops.count("audio") and 0 < drops.count("video") and drops.count(None) > SYNTH["n"] // 2
    # the default writes every stream (and so the datasets made before the knob)
    assert set(dropped_streams(SynthConfig(n=40), 40)) == {None}
    import av

    media = Path(cfg.data.root) / "media"
    streams = {}
    for f in sorted(media.glob("*.mp4")):
        with av.open(str(f)) as c:
            streams[f.stem] = (len(c.streams.video), len(c.streams.audio))
    assert sum(1 for v, a in streams.values() if a == 0) == drops.count("audio")
    assert sum(1 for v, a in streams.values() if v == 0) == drops.count("video")


def test_items_without_a_stream_are_kept_and_marked(kept):
    cfg, result = kept
    drops = dropped_streams(SynthConfig(**SYNTH), SYNTH["n"])
    assert result.skipped == 0 and sum(result.counts.values()) == SYNTH["n"]
    report = pd.read_csv(result.cache.path / "report.csv", dtype=str, keep_default_na=False)
    assert set(report["kind"]) == {"missing-modality"}
    assert len(report) == sum(d is not None for d in drops)
    meta = json.loads((result.cache.path / "meta.json").read_text())
    assert meta["skipped"] == 0
    n_audio = n_video = 0
    for split in ("train", "val", "test"):
        present = np.load(result.cache.path / split / "present.npy")
        ids = pd.read_csv(result.cache.path / split / "items.csv", dtype={"id": str})["id"].tolist()
        assert present.shape == (len(ids), 3) and present.dtype == bool
        audio = np.load(result.cache.path / split / "audio.npy")
        video = np.load(result.cache.path / split / "video.npy")
        for i, item in enumerate(ids):
            row = report[report["id"] == item]
            want = {"video": True, "audio": True, "text": True}
            if len(row):
                gone = row.iloc[0]["reason"].split(" missing")[0]
                want[gone] = False
                assert row.iloc[0]["split"] == split
            assert list(present[i]) == [want["video"], want["audio"], want["text"]], item
            assert want["audio"] or not audio[i].any()
            assert want["video"] or not video[i].any()
        n_audio += int((~present[:, 1]).sum())
        n_video += int((~present[:, 0]).sum())
        assert meta["missing_modality"][split] == {"video": int((~present[:, 0]).sum()),
                                                   "audio": int((~present[:, 1]).sum()), "text": 0}
    assert (n_audio, n_video) == (drops.count("audio"), drops.count("video"))
    # audio statistics over the clips that have audio (the zero rows would pull the mean to 0)
    train_audio = np.load(result.cache.path / "train" / "audio.npy").astype(np.float64)
    has = np.load(result.cache.path / "train" / "present.npy")[:, 1]
    assert meta["audio_mean"] == pytest.approx(train_audio[has].mean(), rel=1e-6)


def test_require_modalities_skips_them_as_before(gappy):
    cfg = load_config(CONFIG, [*gappy, "data.require_modalities=true"])
    result = prepare(cfg.data, workers=1, progress=False, log=lambda s: None)
    drops = dropped_streams(SynthConfig(**SYNTH), SYNTH["n"])
    report = pd.read_csv(result.cache.path / "report.csv", dtype=str, keep_default_na=False)
    assert result.skipped == sum(d is not None for d in drops) == len(report)
    assert set(report["kind"]) == {"no_stream"}
    for split in ("train", "val", "test"):
        assert np.load(result.cache.path / split / "present.npy").all()


def test_batches_carry_presence_and_the_model_uses_it(kept, gappy):
    cfg, result = kept
    dm = build_datamodule(cfg, progress=False)
    dm.prepare_data()
    dm.setup()
    present = np.load(result.cache.path / "train" / "present.npy")
    inputs, target = next(iter(dm.train_dataloader()))
    assert present_key("audio") in inputs and present_key("video") in inputs and present_key("text") not in inputs
    seen = 0
    for inputs, _ in dm.train_dataloader():
        absent = ~inputs[present_key("audio")]
        mean, std = dm.meta["audio_mean"], dm.meta["audio_std"]
        torch.testing.assert_close(inputs["audio"][absent], torch.full_like(inputs["audio"][absent], -mean / std))
        seen += int(absent.sum())
    assert seen == int((~present[:, 1]).sum())


def test_modality_dropout_draws_are_reproducible_and_never_empty():
    g = torch.Generator().manual_seed(0)
    present = torch.rand(4000, 3, generator=g) < 0.8
    present[present.sum(1) == 0, 0] = True
    a = drop_modalities(present, [0.5, 0.9, 0.0], torch.Generator().manual_seed(1))
    b = drop_modalities(present, [0.5, 0.9, 0.0], torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.any(1).all()
    assert not (a & ~present).any()  # never brings back a modality an item lacks
    assert torch.equal(a[:, 2], present[:, 2])  # p = 0 drops nothing ...
    kept_audio = a[:, 1][present[:, 1]].float().mean().item()
    assert kept_audio < 0.2  # ... p = 0.9 drops most (some come back as an example's last modality)
    inputs = {"video": torch.zeros(4, 1), "audio": torch.zeros(4, 1), "text": torch.zeros(4, 1, dtype=torch.long)}
    out = apply_modality_dropout(inputs, ("video", "audio", "text"), {"audio": 0.5}, [7, 0, 3])
    assert set(out) == {*inputs, present_key("audio")}
    again = apply_modality_dropout(inputs, ("video", "audio", "text"), {"audio": 0.5}, [7, 0, 3])
    assert torch.equal(out[present_key("audio")], again[present_key("audio")])


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["data.modality_dropout={audio: 0.3, video: 0.2}", "optim.mixup_alpha=0.4"]])
def test_train_and_test_on_data_with_missing_modalities(kept, gappy, tmp_path, extra):
    cfg = load_config(CONFIG, [*gappy, "model.backbone=locomt", "model.pattern=half", *extra])
    result = train(cfg, tmp_path / "run", progress=False)
    assert np.isfinite(result.metrics["test/acc"]) and np.isfinite(result.metrics["test/loss"])


def test_run_key_holds_modality_dropout_and_keeps_the_keys_runs_had():
    """Modality dropout changes what training computes: another run key. At their defaults the new
    fields are left out, so runs trained before them keep their keys (the key computed as it was)."""
    import hashlib

    from locomt.config import to_dict
    from locomt.runs.keys import _KEY_EXCLUDE, canonical_config, config_key

    cfg = load_config(CONFIG)
    old = to_dict(canonical_config(cfg))
    for path in _KEY_EXCLUDE:
        node = old
        for part in path[:-1]:
            node = node[part]
        node.pop(path[-1], None)
    del old["data"]["modality_dropout"], old["data"]["require_modalities"]
    assert config_key(cfg) == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:12]
    assert config_key(load_config(CONFIG, ["data.modality_dropout={audio: 0.3}"])) != config_key(cfg)
    assert config_key(load_config(CONFIG, ["data.require_modalities=true"])) != config_key(cfg)


@pytest.mark.slow
def test_audioset_clips_without_audio_are_kept_trained_and_tested(tmp_path):
    """AudioSet layout (multilabel, video + audio): clips written without an audio track go through
    prepare kept and marked, then through training and test with the mask."""
    cfg = load_config(ROOT / "experiments" / "synthetic-audioset.yaml", [
        f"data.root={tmp_path / 'synth'}", f"data.cache_dir={tmp_path / 'cache'}",
        "data.synthetic={layout: audioset, n: 30, seed: 2, size: 32, fps: 8, seconds: 2.0, no_audio: 0.3}",
        "model.n_layers=2", "model.fusion_layer=1", "model.d_model=32", "model.backbone=locomt",
        "model.pattern=all-cross", "trainer.max_epochs=1", "trainer.accelerator=cpu", "data.batch_size=8"])
    result = prepare(cfg.data, workers=1, progress=False, log=lambda s: None)
    n_without = dropped_streams(SynthConfig(layout="audioset", n=30, seed=2, no_audio=0.3), 30).count("audio")
    assert n_without > 0 and result.skipped == 0
    report = pd.read_csv(result.cache.path / "report.csv", dtype=str, keep_default_na=False)
    assert len(report) == n_without and set(report["kind"]) == {"missing-modality"}
    assert report["reason"].str.startswith("audio missing (no audio stream)").all()
    absent = sum(int((~np.load(result.cache.path / s / "present.npy")[:, 1]).sum()) for s in ("train", "val", "test"))
    assert absent == n_without
    record = train(cfg, tmp_path / "run", progress=False)
    assert np.isfinite(record.metrics["test/mAP"])


def test_kept_items_are_not_counted_as_skipped(kept):
    from locomt.runs.preflight import skipped_by_split

    _, result = kept
    assert skipped_by_split(result.cache) == {"train": 0, "val": 0, "test": 0}
