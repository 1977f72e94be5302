"""Synthetic datasets: official layouts read back by the real readers, content, determinism, fusion need."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import torch

from locomt.config import AudioConfig, VideoConfig
from locomt.data.audio import read_audio, read_log_mel
from locomt.data.audioset import read_audioset, read_class_labels
from locomt.data.media import MediaIndex, find_media, missing_media
from locomt.data.medvidcl import CLASSES, read_medvidcl
from locomt.data.synthetic.clips import render_video, write_clip
from locomt.data.synthetic.config import SynthConfig, config_dict
from locomt.data.synthetic.layout import generate, plan
from locomt.data.synthetic.pairs import (
    BAND_PX,
    BODY_WORDS,
    CARE_WORDS,
    GREYS,
    HUES,
    LOW_TONES_HZ,
    MID_TONES_HZ,
    MODALITY_PAIRS,
    NO_EVIDENCE,
    PAIRS,
    bayes_accuracy,
)
from locomt.data.synthetic.rule import AUDIOSET_CLASSES, COLOURS, TONES_HZ, audioset_labels
from locomt.data.text import WordTokenizer
from locomt.data.video import read_video
from locomt.synth import main

SHARED_AUDIOSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "audioset"
RAW = VideoConfig(num_frames=4, size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


@pytest.fixture(scope="module")
def medvidcl_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth_medvidcl")
    generate(out, SynthConfig("medvidcl", n=300, seed=0, size=32), progress=False)
    return out


@pytest.fixture(scope="module")
def audioset_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth_audioset")
    generate(out, SynthConfig("audioset", n=40, seed=3, size=32), progress=False)
    return out


def latents(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "synth_latents.csv", dtype={"id": str}, keep_default_na=False)


# ----------------------------------------------------------------------------- layouts


def test_audioset_layout_reads_back(audioset_dir):
    splits, classes = read_audioset(audioset_dir)
    assert {k: len(v) for k, v in splits.items()} == {"balanced_train": 32, "eval": 8}
    assert classes["mid"].tolist() == [m for m, _ in AUDIOSET_CLASSES]
    assert (audioset_dir / "class_labels_indices.csv").read_text().splitlines()[1] == '0,/t/dd99001,"Warm colour"'
    lat = latents(audioset_dir).set_index("id")
    for split, fname in (("balanced_train", "balanced_train_segments.csv"), ("eval", "eval_segments.csv")):
        df = splits[split]
        lines = (audioset_dir / fname).read_text().splitlines()
        assert lines[0].startswith("# Segments csv created")
        n_pos = int(df["labels"].map(len).sum())
        n_unique = len({i for labels in df["labels"] for i in labels})
        assert (
            lines[1]
            == f"# num_ytids={len(df)}, num_segs={len(df)}, num_unique_labels={n_unique}, num_positive_labels={n_pos}"
        )
        assert lines[2] == "# YTID, start_seconds, end_seconds, positive_labels"
        for line in lines[3:]:
            assert re.fullmatch(r'[A-Za-z0-9_-]{11}, \d+\.\d{3}, \d+\.\d{3}, "/t/dd\d{5}(,/t/dd\d{5})*"', line), line
        assert df["ytid"].tolist() == sorted(df["ytid"])
        for row in df.itertuples(index=False):
            assert row.labels == [int(x) for x in lat.loc[row.ytid, "labels"].split()]
            assert row.end_seconds - row.start_seconds == pytest.approx(lat.loc[row.ytid, "seconds"])
        assert missing_media(df, audioset_dir / "media") == []
    both = pd.concat(splits.values())
    assert both["ytid"].str.startswith("-").any()
    assert ((both["end_seconds"] - both["start_seconds"]) < 2.0).any()  # some short segments


def test_medvidcl_layout_reads_back(medvidcl_dir):
    splits = read_medvidcl(medvidcl_dir)
    assert {k: len(v) for k, v in splits.items()} == {"train": 210, "val": 45, "test": 45}
    for name, df in splits.items():
        counts = df["label"].value_counts()
        assert sorted(counts.index) == sorted(CLASSES) and counts.max() - counts.min() == 0
        assert missing_media(df, medvidcl_dir / "media") == []
        raw = (medvidcl_dir / f"{name}.json").read_text()
        items = json.loads(raw)
        assert raw == json.dumps(items, indent=4)  # the official files' formatting
        for item in items:
            assert list(item)[:4] == ["video_id", "video_link", "video_title", "label"]
            assert set(item) <= {"video_id", "video_link", "video_title", "label", "video_sub_title"}
        with_sub = (df["video_sub_title"] != "").mean()
        assert 0.5 < with_sub < 1.0
    ids = pd.concat(splits.values())["video_id"]
    assert ids.is_unique and ids.str.len().eq(11).all() and ids.str.startswith("-").any()


@pytest.mark.skipif(
    not (SHARED_AUDIOSET / "class_labels_indices.csv").is_file(),
    reason=f"real AudioSet class table not found at {SHARED_AUDIOSET} (the ../shared folder beside the repo)",
)
def test_synthetic_mids_do_not_clash_with_real_ones():
    real = set(read_class_labels(SHARED_AUDIOSET / "class_labels_indices.csv")["mid"])
    assert not real & {m for m, _ in AUDIOSET_CLASSES}


# ------------------------------------------------------------------------- generative rule


def test_medvidcl_rule_pairs_carry_the_evidence_and_modalities_alone_none():
    items = plan(SynthConfig("medvidcl", n=9000, seed=1))
    rel = SynthConfig().reliability
    y = np.array([it["labels"][0] for it in items])
    clips = [it["clip"] for it in items]
    feats = {f"{m}.{p}": np.array([c.features[m][p] for c in clips]) for m, ps in MODALITY_PAIRS.items() for p in ps}
    for k, pair in enumerate(PAIRS):
        inf = np.array([c.informative[k] for c in clips])
        e = (feats[f"{pair[0]}.{pair}"] + feats[f"{pair[1]}.{pair}"]) % 4
        assert (e[inf] == y[inf]).all() and (e[~inf] == NO_EVIDENCE).all()
        assert abs(inf.mean() - rel[k]) < 0.02
    # one feature, and one modality (its two features jointly), says nothing about the class
    for m, ps in MODALITY_PAIRS.items():
        joint_value = feats[f"{m}.{ps[0]}"] * 4 + feats[f"{m}.{ps[1]}"]
        for v in range(16):
            share = np.bincount(y[joint_value == v], minlength=3) / (joint_value == v).sum()
            np.testing.assert_allclose(share, 1 / 3, atol=0.09)
    # the Bayes rule on the pairs a model sees reaches A(S) = 1 - 2/3 prod (1 - r_p)
    for pairs in (("at",), ("vt",), ("va",), ("vt", "at"), ("va", "vt", "at")):
        ev = np.stack([(feats[f"{p[0]}.{p}"] + feats[f"{p[1]}.{p}"]) % 4 for p in pairs])
        seen = np.where((ev != NO_EVIDENCE).any(0), ev.min(0), -1)  # informative pairs agree on y
        guess = np.where(seen >= 0, seen, 0)
        assert abs((guess == y).mean() - bayes_accuracy(rel, pairs)) < 0.02, pairs
    assert bayes_accuracy(rel, ()) == pytest.approx(1 / 3) and bayes_accuracy(rel, PAIRS) == pytest.approx(0.92)


def test_audioset_rule_and_single_modality_uniformity():
    items = plan(SynthConfig("audioset", n=6000, seed=2))
    clips = [it["clip"] for it in items]
    labels = np.zeros((len(items), 6), bool)
    for i, it in enumerate(items):
        assert it["labels"] == audioset_labels(it["clip"]) and it["labels"]
        labels[i, it["labels"]] = True
    c = np.array([k.colour for k in clips])
    f = np.array([k.tone for k in clips])
    p = np.array([k.pulse for k in clips])
    m = np.array([k.motion for k in clips])
    assert (labels[:, 0] == (c < 2)).all() and (labels[:, 1] == (c >= 2)).all()
    assert (labels[:, 2] == (f >= 2)).all() and (labels[:, 3] == (p == 1)).all()
    assert (labels[:, 4] == (c == f)).all() and (labels[:, 5] == (m == p)).all()
    for k in range(4):  # class 4 given one modality's variable alone: 1/4
        assert abs(labels[c == k, 4].mean() - 0.25) < 0.04 and abs(labels[f == k, 4].mean() - 0.25) < 0.04
    for k in range(2):  # class 5 given motion alone or pulse alone: 1/2
        assert abs(labels[m == k, 5].mean() - 0.5) < 0.04 and abs(labels[p == k, 5].mean() - 0.5) < 0.04


# ------------------------------------------------------------------------ decoded content


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_decoded_clips_match_what_was_written(audioset_dir, backend):
    lat = latents(audioset_dir)
    for row in lat.head(10).itertuples(index=False):
        path = audioset_dir / row.file
        cfg = VideoConfig(num_frames=row.frames, size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), backend=backend)
        video = read_video(path, cfg)  # every frame, no resizing
        assert video.shape == (3, row.frames, 32, 32)
        background = np.median(video.reshape(3, -1), axis=1)
        np.testing.assert_allclose(background, np.array(COLOURS[row.colour][1]) / 255 * row.brightness, atol=0.03)
        dark = video.max(axis=0) < 0.25  # (T, H, W) mask of the moving square
        xs = [np.nonzero(frame.any(axis=0))[0].mean() for frame in dark]
        assert (xs[-1] > xs[0]) == bool(row.motion)
        wave = read_audio(path, 16000, backend)
        spec = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
        peak = np.fft.rfftfreq(wave.size, 1 / 16000)[spec.argmax()]
        assert abs(peak - TONES_HZ[row.tone]) < 3, (row.id, peak, row.tone_hz)
        # pulsing: the 25 ms envelope swings between on and off (inside the clip, away from AAC edges)
        body = wave[1600 : int(row.seconds * 16000) - 1600]
        env = np.abs(body[: body.size // 400 * 400]).reshape(-1, 400).max(axis=1)
        assert (env.min() < 0.2 * env.max()) == bool(row.pulse)


def test_decoded_frames_equal_rendered_frames(audioset_dir):
    items = {it["id"]: it for it in plan(SynthConfig("audioset", n=40, seed=3, size=32))}
    for row in latents(audioset_dir).head(5).itertuples(index=False):
        it = items[row.id]
        rendered = render_video(it["clip"], 32, 8).astype(np.float32).transpose(3, 0, 1, 2) / 255
        video = read_video(
            audioset_dir / row.file, VideoConfig(num_frames=row.frames, size=32, mean=(0, 0, 0), std=(1, 1, 1))
        )
        assert np.abs(video - rendered).mean() < 0.02


# ------------------------------------------------------------------------- learnability


def test_decoded_medvidcl_clips_show_their_features(medvidcl_dir):
    """Hue and grey bands, the low and mid tones and the feature words read back from the files."""
    lat = latents(medvidcl_dir).set_index("id")
    splits = read_medvidcl(medvidcl_dir)
    df = pd.concat(splits.values()).head(12)
    for f in find_media(df, medvidcl_dir / "media"):
        row = lat.loc[Path(f.video).stem]
        video = read_video(f.video, VideoConfig(num_frames=int(row.frames), size=32, mean=(0, 0, 0), std=(1, 1, 1)))
        upper = np.median(video[:, :, (np.arange(32) % BAND_PX) < BAND_PX // 2].reshape(3, -1), axis=1)
        lower = np.median(video[:, :, (np.arange(32) % BAND_PX) >= BAND_PX // 2].reshape(3, -1), axis=1)
        # RGB -> YUV 4:2:0 moves a colour a little (qp 0 is lossless in YUV); the nearest one is the feature
        hues = np.array([rgb for _, rgb in HUES]) / 255 * row.brightness
        assert np.abs(hues - upper).sum(1).argmin() == row["v.va"], (upper, row["v.va"])
        greys = np.array([g for _, g in GREYS]) / 255
        assert np.abs(greys - lower.mean()).argmin() == row["v.vt"], (lower, row["v.vt"])
        wave = read_audio(f.audio, 16000)
        spec = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
        hz = np.fft.rfftfreq(wave.size, 1 / 16000)
        assert abs(hz[np.where(hz < 1000, spec, 0).argmax()] - LOW_TONES_HZ[row["a.va"]]) < 3
        assert abs(hz[np.where((hz > 1000) & (hz < 3000), spec, 0).argmax()] - MID_TONES_HZ[row["a.at"]]) < 3
    for item in df.itertuples(index=False):
        words = item.text.lower().split()
        row = lat.loc[item.video_id]
        assert BODY_WORDS[row["t.vt"]] in words and CARE_WORDS[row["t.at"]] in words
        assert not set(words) & (set(BODY_WORDS) - {BODY_WORDS[row["t.vt"]]})


@pytest.mark.slow
def test_fusion_beats_late_fusion_on_decoded_clips(tmp_path):
    """Small MLPs on features decoded from 600 clips: a fused MLP learns part of the pairs' modular
    evidence (0.62 measured, the Bayes accuracy is 0.92; the transformers of results/ get closer);
    averaging per-modality logits (late fusion) stays at chance, as every modality alone says nothing."""
    root = tmp_path / "m"
    generate(root, SynthConfig("medvidcl", n=600, seed=0, size=32), progress=False)
    splits = read_medvidcl(root)
    acfg = AudioConfig(n_mels=24, hop_length=250, clip_seconds=2.0)
    tok = WordTokenizer.build(splits["train"]["text"], vocab_size=60)

    def features(df):
        files = find_media(df, root / "media")
        raw = VideoConfig(4, 32, (0, 0, 0), (1, 1, 1))
        v = np.stack([read_video(f.video, raw)[:, :, :BAND_PX].mean(axis=(1, 3)).reshape(-1) for f in files])
        a = np.stack([read_log_mel(f.audio, acfg)[0].mean(axis=1) for f in files])
        t = np.zeros((len(df), len(tok)), np.float32)
        for i, ids in enumerate(tok.encode_batch(df["text"], 48)):
            t[i, ids[ids > 0]] = 1
        return [torch.tensor(x, dtype=torch.float32) for x in (v, a, t)]

    def fit(xs, y, fuse):
        torch.manual_seed(0)
        mlp = lambda d: torch.nn.Sequential(torch.nn.Linear(d, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))  # noqa: E731
        nets = torch.nn.ModuleList([mlp(sum(x.shape[1] for x in xs))] if fuse else [mlp(x.shape[1]) for x in xs])
        fwd = (lambda X: nets[0](torch.cat(X, 1))) if fuse else (lambda X: sum(n(x) for n, x in zip(nets, X)) / len(X))
        opt = torch.optim.AdamW(nets.parameters(), lr=1e-2, weight_decay=1e-3)
        for _ in range(600):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(fwd(xs), y).backward()
            opt.step()
        return fwd

    train = pd.concat([splits["train"], splits["val"]])
    x_tr, x_te = features(train), features(splits["test"])
    mu, sd = [x.mean(0) for x in x_tr], [x.std(0) + 1e-3 for x in x_tr]
    x_tr = [(x - m) / s for x, m, s in zip(x_tr, mu, sd)]
    x_te = [(x - m) / s for x, m, s in zip(x_te, mu, sd)]
    y_tr, y_te = torch.tensor(train["label_index"].to_numpy()), torch.tensor(splits["test"]["label_index"].to_numpy())
    fused_fwd, late_fwd = fit(x_tr, y_tr, True), fit(x_tr, y_tr, False)
    with torch.no_grad():
        fused = (fused_fwd(x_te).argmax(1) == y_te).float().mean().item()
        late = (late_fwd(x_te).argmax(1) == y_te).float().mean().item()
    assert fused >= 0.55 and late <= 0.45, (fused, late)


# ---------------------------------------------------------------- determinism and writing


def _decoded(root: Path) -> list[np.ndarray]:
    out = []
    for row in latents(root).itertuples(index=False):
        out.append(read_video(root / row.file, RAW))
        out.append(read_audio(root / row.file, 16000))
    return out


def test_same_seed_same_dataset(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        generate(out, SynthConfig("medvidcl", n=9, seed=seed, size=16), progress=False)
    for name in ("train.json", "val.json", "test.json", "synth_latents.csv", "synth_config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    for x, y in zip(_decoded(a), _decoded(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert (a / "train.json").read_text() != (c / "train.json").read_text()
    files_a = sorted(p.name for p in (a / "media").iterdir())
    assert files_a == sorted(p.name for p in (b / "media").iterdir())
    assert all((a / "media" / n).read_bytes() == (b / "media" / n).read_bytes() for n in files_a)


def test_rerun_skips_finished_clips_and_guards_config(tmp_path):
    cfg = SynthConfig("audioset", n=6, seed=1, size=16)
    generate(tmp_path, cfg, progress=False)
    clips = sorted((tmp_path / "media").iterdir())
    stamps = [p.stat().st_mtime_ns for p in clips]
    clips[0].unlink()  # as if the run had been killed before this clip
    generate(tmp_path, cfg, progress=False)
    assert [p.stat().st_mtime_ns for p in clips[1:]] == stamps[1:] and clips[0].exists()
    assert not list(tmp_path.rglob("*.part"))
    with pytest.raises(ValueError, match="expected the same config"):
        generate(tmp_path, SynthConfig("audioset", n=6, seed=2, size=16), progress=False)
    generate(tmp_path, SynthConfig("audioset", n=6, seed=2, size=16), progress=False, overwrite=True)


def test_killed_run_leaves_no_finished_looking_partial_clip(tmp_path):
    out = tmp_path / "killed"
    args = ["--layout", "audioset", "--out", str(out), "--n", "400", "--size", "32", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "locomt.synth", *args], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list((out / "media").glob("*.mp4"))) < 10:
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    done = sorted((out / "media").glob("*.mp4"))
    assert 10 <= len(done) < 400, "the run finished before it could be killed"
    assert not (out / "balanced_train_segments.csv").exists()  # metadata comes last
    for path in done:  # every clip under its final name is complete
        assert read_video(path, RAW).shape == (3, 4, 32, 32)
        assert read_audio(path, 16000).size >= 16000
    # a leftover '.part' file is never taken for a clip
    assert len(MediaIndex(out / "media")) == len(done)


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "clip.mp4"
    bad = np.zeros((4, 33, 33, 3), np.uint8)  # odd size: H.264 4:2:0 refuses it mid-write
    with pytest.raises(av.error.FFmpegError):
        write_clip(path, bad, np.zeros(1600, np.float32), 8, 16000)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_config_errors():
    with pytest.raises(ValueError, match="layout 'kinetics'; expected one of audioset, medvidcl"):
        SynthConfig("kinetics")
    with pytest.raises(ValueError, match="size=33"):
        SynthConfig(size=33)
    with pytest.raises(ValueError, match=r"n=100, but splits=\[50, 25, 20\] hold 95 clips"):
        SynthConfig(n=100, splits=(50, 25, 20))
    with pytest.raises(ValueError, match=r"splits=\(50, 50\); expected 3 clip counts >= 1 \(train, val, test\)"):
        SynthConfig(n=100, splits=(50, 50))
    with pytest.raises(ValueError, match=r"expected 2 clip counts >= 1 \(balanced_train, eval\)"):
        SynthConfig("audioset", n=100, splits=(100, 0))


def test_splits_give_each_split_its_count_and_leave_older_datasets_alone(tmp_path):
    """``splits`` (issue 21: a validation split large enough to tell patterns apart) sets the count of
    each split; without it the shares of ``n`` and synth_config.json are what they always were."""
    generate(tmp_path / "m", SynthConfig("medvidcl", n=12, seed=2, size=16, splits=[4, 5, 3]), progress=False)
    assert {k: len(v) for k, v in read_medvidcl(tmp_path / "m").items()} == {"train": 4, "val": 5, "test": 3}
    assert json.loads((tmp_path / "m" / "synth_config.json").read_text())["splits"] == [4, 5, 3]
    assert SynthConfig("medvidcl", n=1200).split_sizes() == [840, 180, 180]
    assert SynthConfig("audioset", n=40).split_sizes() == [32, 8]
    assert "splits" not in config_dict(SynthConfig(n=12))  # roots written before the field stay valid
    a = plan(SynthConfig("audioset", n=10, seed=1, splits=(3, 7)))
    assert [it["split"] for it in a] == ["balanced_train"] * 3 + ["eval"] * 7
    assert main(["--layout", "medvidcl", "--out", str(tmp_path / "c"), "--splits", "2,1,1", "--size", "16",
                 "--no-progress"]) == 0
    assert {k: len(v) for k, v in read_medvidcl(tmp_path / "c").items()} == {"train": 2, "val": 1, "test": 1}
    with pytest.raises(SystemExit):
        main(["--layout", "medvidcl", "--out", str(tmp_path / "d"), "--splits", "2,x,1"])
    assert not (tmp_path / "d").exists()


def test_clips_written_in_parallel_are_the_clips_written_in_one_process(tmp_path):
    cfg = SynthConfig("medvidcl", n=100, seed=4, size=16, seconds=0.5)
    generate(tmp_path / "one", cfg, progress=False, workers=1)
    generate(tmp_path / "two", cfg, progress=False, workers=2)
    names = sorted(p.name for p in (tmp_path / "one" / "media").iterdir())
    assert len(names) == 100 and names == sorted(p.name for p in (tmp_path / "two" / "media").iterdir())
    assert all((tmp_path / "one" / "media" / n).read_bytes() == (tmp_path / "two" / "media" / n).read_bytes()
               for n in names)


def test_cli(tmp_path, capsys):
    assert (
        main(
            [
                "--layout",
                "medvidcl",
                "--out",
                str(tmp_path / "m"),
                "--n",
                "6",
                "--seed",
                "1",
                "--size",
                "16",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "wrote 6 medvidcl-layout clips" in capsys.readouterr().out
    assert sum(len(v) for v in read_medvidcl(tmp_path / "m").values()) == 6
    with pytest.raises(SystemExit):
        main(["--layout", "kinetics", "--out", str(tmp_path / "k")])
    env = {**os.environ, "COLUMNS": "80"}
    run = subprocess.run(
        [sys.executable, "-m", "locomt.synth", "--help"], capture_output=True, text=True, env=env, check=True
    )
    assert "--layout {audioset,medvidcl}" in run.stdout
