"""MultimodalDataModule: prepare on demand, memory-mapped cache, documented batch shapes/dtypes, labels, seeding,
SpecAugment on training batches only."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from locomt.config import ExperimentConfig, SpecAugmentConfig, load_config, model_config
from locomt.data.augment import spec_augment
from locomt.data.audioset import read_audioset
from locomt.data.datamodule import MultimodalDataModule, build_datamodule
from locomt.data.medvidcl import read_medvidcl
from locomt.data.text import WordTokenizer
from locomt.models import build_model

REPO = Path(__file__).resolve().parents[1]


def yaml_config(name: str, root: Path, cache: Path, *overrides: str) -> ExperimentConfig:
    """The bundled experiment's data section, pointed at test folders."""
    return load_config(REPO / "experiments" / f"{name}.yaml",
                       [f"data.root={root}", f"data.cache_dir={cache}", *overrides])


@pytest.fixture(scope="module")
def mv(tmp_path_factory) -> tuple[ExperimentConfig, MultimodalDataModule]:
    """synthetic-medvidcl.yaml on 30 generated clips: generated and prepared by the data module itself."""
    base = tmp_path_factory.mktemp("dm_mv")
    cfg = yaml_config("synthetic-medvidcl", base / "data", base / "cache", "data.synthetic={n: 30, seed: 0, size: 32}",
                      "data.batch_size=4")
    dm = build_datamodule(cfg, prepare_workers=1, progress=False)
    dm.prepare_data()
    dm.setup("fit")
    return cfg, dm


def test_yaml_configs_fit_the_model():
    for name, n_classes in (("synthetic-medvidcl", 3), ("synthetic-audioset", 6)):
        cfg = load_config(REPO / "experiments" / f"{name}.yaml")
        assert cfg.data.audio.n_frames % cfg.model.audio_patch == 0
        assert cfg.data.audio.n_frames == {"synthetic-medvidcl": 64, "synthetic-audioset": 128}[name]
        # (synthetic-medvidcl's root names its version: data/synthetic-medvidcl-8f, issue 21)
        assert cfg.data.root.startswith(f"data/{name}") and cfg.data.synthetic["layout"] == cfg.data.dataset
        build_model(model_config(cfg, n_classes=n_classes, vocab_size=100))


def test_batches_have_the_documented_shapes(mv):
    cfg, dm = mv
    assert (dm.task, dm.n_classes) == ("multiclass", 3) and dm.class_names[0] == "Medical Instructional"
    d = cfg.data
    for loader, n in ((dm.train_dataloader(), 22), (dm.val_dataloader(), 4), (dm.test_dataloader(), 4)):
        seen = 0
        for inputs, target in loader:
            b = target.shape[0]
            assert list(inputs) == ["video", "audio", "text"]
            assert inputs["video"].dtype == torch.float32
            assert inputs["video"].shape == (b, 3, d.video.num_frames, d.video.size, d.video.size)
            assert inputs["audio"].dtype == torch.float32 and inputs["audio"].shape == (b, d.audio.n_mels, 64)
            assert inputs["text"].dtype == torch.int64 and inputs["text"].shape == (b, d.text.max_len)
            assert target.dtype == torch.int64 and target.shape == (b,) and 1 <= b <= 4
            seen += b
        assert seen == n
    # A model built from the config and the data module's sizes takes the batch.
    model = build_model(model_config(cfg, dm.n_classes, dm.vocab_size))
    assert model(inputs).shape == (b, 3)


def test_labels_and_text_match_the_metadata(mv):
    cfg, dm = mv
    splits = read_medvidcl(cfg.data.root)
    tok = WordTokenizer.load(dm.cache.path / "tokenizer.json")
    assert dm.vocab_size == len(tok)
    for split, loader in (("val", dm.val_dataloader()), ("test", dm.test_dataloader())):
        targets = torch.cat([t for _, t in loader]).tolist()
        texts = torch.cat([x["text"] for x, _ in loader]).numpy()
        assert targets == splits[split]["label_index"].tolist()
        assert np.array_equal(texts, tok.encode_batch(splits[split]["text"], cfg.data.text.max_len))


def test_training_reads_only_the_memory_mapped_cache(mv, tmp_path):
    cfg, dm = mv
    arrays = dm.splits["train"]._open()
    assert all(isinstance(a, np.memmap) and a.mode == "r" for a in arrays.values())
    media = Path(cfg.data.root) / "media"
    hidden = tmp_path / "media-away"
    shutil.move(media, hidden)
    try:
        fresh = build_datamodule(cfg, progress=False)
        fresh.prepare_data()  # complete cache: nothing to decode, no media needed
        fresh.setup("fit")
        inputs, target = next(iter(fresh.train_dataloader()))
        assert target.shape == (4,)
    finally:
        shutil.move(hidden, media)
    audio = torch.cat([x["audio"] for x, _ in dm.train_dataloader()])
    assert abs(float(audio.mean())) < 0.05 and abs(float(audio.std()) - 1.0) < 0.05  # standardised on train


def test_shuffling_is_seeded(mv):
    cfg, dm = mv

    def ids(seed: int) -> list[bytes]:
        other = MultimodalDataModule(replace(cfg, seed=seed), progress=False)
        other.setup("fit")
        return [row.numpy().tobytes() for x, _ in other.train_dataloader() for row in x["text"]]

    assert ids(0) == ids(0)
    assert ids(0) != ids(1)
    assert sorted(ids(0)) == sorted(ids(1))
    val = [x["text"] for x, _ in dm.val_dataloader()]
    assert [x["text"] for x, _ in dm.val_dataloader()][0].equal(val[0])  # evaluation order is fixed


def test_modality_subset_in_config_order(mv):
    cfg, dm = mv
    sub = replace(cfg, data=replace(cfg.data, modalities=("audio", "video")))
    dm2 = build_datamodule(sub, prepare_workers=1, progress=False)
    assert dm2.cache.path != dm.cache.path
    dm2.prepare_data()
    inputs, _ = next(iter(dm2.val_dataloader()))
    assert list(inputs) == ["audio", "video"] and dm2.vocab_size is None
    ref, _ = next(iter(dm.val_dataloader()))
    assert torch.equal(inputs["video"], ref["video"])


def test_audioset_multilabel_targets(tmp_path):
    cfg = yaml_config("synthetic-audioset", tmp_path / "data", tmp_path / "cache",
                      "data.synthetic={n: 20, seed: 4, size: 32}", "data.batch_size=5", "data.val_fraction=0.25")
    dm = build_datamodule(cfg, prepare_workers=1, progress=False)
    with pytest.raises(RuntimeError, match="prepare_data"):
        dm.task
    dm.prepare_data()
    dm.setup("fit")
    assert dm.task == "multilabel" and dm.n_classes == 6 and dm.vocab_size is None
    splits, classes = read_audioset(cfg.data.root)
    assert dm.class_names == classes["display_name"].tolist()
    test = pd.read_csv(dm.cache.path / "test" / "items.csv", dtype={"id": str})
    assert test["id"].tolist() == splits["eval"]["ytid"].tolist()
    targets = torch.cat([t for _, t in dm.test_dataloader()])
    assert targets.dtype == torch.float32 and targets.shape == (len(test), 6)
    for row, labels in zip(targets, splits["eval"]["labels"]):
        assert torch.nonzero(row).flatten().tolist() == labels
    inputs, _ = next(iter(dm.train_dataloader()))
    assert list(inputs) == ["video", "audio"] and inputs["audio"].shape == (5, 64, 128)


def test_loader_workers(mv):
    cfg, dm = mv
    par = replace(cfg, data=replace(cfg.data, num_workers=1))
    dm2 = build_datamodule(par, progress=False)
    dm2.setup("fit")
    got = torch.cat([t for _, t in dm2.test_dataloader()])
    assert got.tolist() == torch.cat([t for _, t in dm.test_dataloader()]).tolist()


def test_errors(tmp_path):
    with pytest.raises(ValueError, match=r"data.dataset='ucf101': expected one of audioset, medvidcl"):
        build_datamodule(load_config(None, ["data.dataset=ucf101"]))
    dm = build_datamodule(load_config(None, [f"data.root={tmp_path / 'none'}"]), progress=False)
    with pytest.raises(FileNotFoundError, match=r"none does not exist.*python -m locomt.synth --layout medvidcl"):
        dm.prepare_data()


# ------------------------------------------------------------------ SpecAugment (training audio only)

SA = SpecAugmentConfig(time_masks=2, time_width=20, freq_masks=2, freq_width=10)


def _zero_bands(x: torch.Tensor, dim: int) -> list[list[int]]:
    """Per example, the lengths of the runs of mel bins (dim 1) or frames (dim 2) that are all 0."""
    whole = (x == 0).all(dim=3 - dim)
    runs = []
    for row in whole.int().tolist():
        lengths, n = [], 0
        for v in row + [0]:
            if v:
                n += 1
            elif n:
                lengths.append(n)
                n = 0
        runs.append(lengths)
    return runs


def test_spec_augment_zeroes_bounded_bands():
    mel = torch.randn(200, 32, 100) + 3.0  # no exact zeros of its own
    out = spec_augment(mel, SA, torch.Generator().manual_seed(0))
    rows, cols = (out == 0).all(dim=2), (out == 0).all(dim=1)
    in_band = rows[:, :, None] | cols[:, None, :]
    assert torch.equal(out == 0, in_band)  # every zero lies in a masked band of bins or frames ...
    assert torch.equal(out[~in_band], mel[~in_band])  # ... and everything else is untouched
    for dim, count, width in ((1, SA.freq_masks, SA.freq_width), (2, SA.time_masks, SA.time_width)):
        runs = _zero_bands(out, dim)
        assert all(len(r) <= count and sum(r) <= count * width for r in runs)
        assert sum(bool(r) for r in runs) > 0.8 * len(runs)  # widths are uniform in 0..max: most examples masked
        assert max(max(r, default=0) for r in runs) > width // 2
    assert torch.equal(spec_augment(mel, SA, torch.Generator().manual_seed(0)), out)  # seeded
    assert not torch.equal(spec_augment(mel, SA, torch.Generator().manual_seed(1)), out)
    assert torch.equal(spec_augment(mel, SpecAugmentConfig(), torch.Generator()), mel)  # all 0: off


def test_spec_augment_masks_training_batches_only(mv):
    cfg, dm = mv
    aug = MultimodalDataModule(replace(cfg, data=replace(cfg.data, spec_augment=SA)), progress=False)
    assert aug.cache.path == dm.cache.path  # a training-time transform: not part of the cache key
    aug.setup("fit")
    aug.trainer = SimpleNamespace(training=True, global_rank=0, global_step=3)
    batch = next(iter(aug.train_dataloader()))
    assert not any(_zero_bands(batch[0]["audio"], 2)[0])  # the loader itself does not mask
    (inputs, target) = aug.on_after_batch_transfer(batch, 0)
    assert inputs["video"] is batch[0]["video"] and inputs["text"] is batch[0]["text"] and target is batch[1]
    freq, time = _zero_bands(inputs["audio"], 1), _zero_bands(inputs["audio"], 2)
    assert any(freq) and any(time)
    assert all(len(r) <= 2 and sum(r) <= 20 for r in freq) and all(len(r) <= 2 and sum(r) <= 40 for r in time)
    assert torch.equal(aug.on_after_batch_transfer(batch, 0)[0]["audio"], inputs["audio"])  # same step: same masks
    aug.trainer.global_step = 4
    assert not torch.equal(aug.on_after_batch_transfer(batch, 0)[0]["audio"], inputs["audio"])
    aug.trainer.training = False  # validating or testing
    for loader in (aug.val_dataloader(), aug.test_dataloader()):
        for b in loader:
            assert aug.on_after_batch_transfer(b, 0) is b
