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
from locomt.data.synthetic.config import SynthConfig
from locomt.data.synthetic.layout import generate
from locomt.data.synthetic.rule import (
    AUDIOSET_CLASSES,
    COLOURS,
    MEDICAL_WORDS,
    NONMEDICAL_WORDS,
    TONES_HZ,
    audioset_labels,
    plan,
)
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
    assert {k: len(v) for k, v in splits.items()} == {"train": 210, "val": 30, "test": 60}
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


def test_medvidcl_rule_and_single_modality_uniformity():
    items = plan(SynthConfig("medvidcl", n=6000, seed=1))
    y = np.array([it["labels"][0] for it in items])
    c = np.array([it["clip"].colour for it in items])
    f = np.array([it["clip"].tone for it in items])
    titles = [it["json"]["video_title"].lower().split() for it in items]
    nonmed = np.array([any(w in NONMEDICAL_WORDS for w in t) for t in titles])
    med = np.array([any(w in MEDICAL_WORDS for w in t) for t in titles])
    assert (nonmed == (y == 2)).all() and (med == (y != 2)).all()  # text decides Non-medical
    assert (c[y == 0] == f[y == 0]).all() and (c[y == 1] != f[y == 1]).all()  # tone-colour match decides the rest
    # colour alone and tone alone carry no information on the class
    for var in (c, f):
        for k in range(4):
            share = np.bincount(y[var == k], minlength=3) / (var == k).sum()
            np.testing.assert_allclose(share, 1 / 3, atol=0.04)
    # nor does the title's filler: the medical topic word is drawn alike for both medical classes
    for word in MEDICAL_WORDS[:5]:
        has = np.array([word in t for t in titles])
        assert abs((y[has] == 0).mean() - 0.5) < 0.12


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


@pytest.mark.slow
def test_fusion_beats_late_fusion_on_decoded_clips(medvidcl_dir):
    """Small MLPs on decoded features: text decides Non-medical; on the medical items a model that
    fuses video and audio is near perfect, averaging per-modality logits is near chance."""
    splits = read_medvidcl(medvidcl_dir)
    acfg = AudioConfig(n_mels=32, clip_seconds=2.0)

    def video_audio(df):
        files = find_media(df, medvidcl_dir / "media")
        v = np.stack(
            [read_video(f.video, VideoConfig(4, 16, (0, 0, 0), (1, 1, 1))).mean(axis=(1, 2, 3)) for f in files]
        )
        a = np.stack([read_log_mel(f.audio, acfg)[0].mean(axis=1) for f in files])
        return [torch.tensor(v, dtype=torch.float32), torch.tensor(a, dtype=torch.float32)]

    def fit(xs, y, classes, fuse):
        torch.manual_seed(0)
        mlp = lambda d: torch.nn.Sequential(torch.nn.Linear(d, 32), torch.nn.ReLU(), torch.nn.Linear(32, classes))  # noqa: E731
        nets = torch.nn.ModuleList([mlp(sum(x.shape[1] for x in xs))] if fuse else [mlp(x.shape[1]) for x in xs])
        fwd = (lambda X: nets[0](torch.cat(X, 1))) if fuse else (lambda X: sum(n(x) for n, x in zip(nets, X)) / len(X))
        opt = torch.optim.AdamW(nets.parameters(), lr=1e-2, weight_decay=1e-2)
        for _ in range(300):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(fwd(xs), y).backward()
            opt.step()
        return fwd

    def accuracy(fwd, xs, y):
        with torch.no_grad():
            return (fwd(xs).argmax(1) == y).float().mean().item()

    # text alone separates Non-medical from medical (bag of words, tokenizer from train only)
    tok = WordTokenizer.build(splits["train"]["text"], vocab_size=80)

    def bow(df):
        ids = tok.encode_batch(df["text"], 48)
        out = np.zeros((len(df), len(tok)), np.float32)
        for i, row in enumerate(ids):
            out[i, row[row > 0]] = 1
        return [torch.tensor(out)]

    tr, te = splits["train"], splits["test"]
    y_tr, y_te = (
        torch.tensor((tr["label_index"] == 2).to_numpy()).long(),
        torch.tensor((te["label_index"] == 2).to_numpy()).long(),
    )
    assert accuracy(fit(bow(tr), y_tr, 2, True), bow(te), y_te) >= 0.95

    med_tr, med_te = tr[tr["label_index"] < 2], te[te["label_index"] < 2]
    x_tr, x_te = video_audio(med_tr), video_audio(med_te)
    mu = [x.mean(0) for x in x_tr]
    sd = [x.std(0) + 1e-3 for x in x_tr]
    x_tr = [(x - m) / s for x, m, s in zip(x_tr, mu, sd)]
    x_te = [(x - m) / s for x, m, s in zip(x_te, mu, sd)]
    y_tr, y_te = torch.tensor(med_tr["label_index"].to_numpy()), torch.tensor(med_te["label_index"].to_numpy())
    fused = accuracy(fit(x_tr, y_tr, 2, True), x_te, y_te)
    late = accuracy(fit(x_tr, y_tr, 2, False), x_te, y_te)
    assert fused >= 0.9, (fused, late)
    assert late <= 0.75 and fused - late >= 0.2, (fused, late)


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
