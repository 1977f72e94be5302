"""python -m locomt.prepare: cache reuse and invalidation, kill and resume, bad media, real vs synthetic layouts."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import locomt.data.build as build
from locomt.config import ExperimentConfig, VideoConfig, load_config
from locomt.experiment import load_experiment
from locomt.data.audio import log_mel, read_audio
from locomt.data.audioset import read_audioset
from locomt.data.cache import cache_for, cache_key
from locomt.data.datasets import ensure_root, plan_dataset
from locomt.data.media import MediaFiles
from locomt.data.medvidcl import read_medvidcl
from locomt.data.synthetic.clips import write_clip
from locomt.data.synthetic.config import SynthConfig
from locomt.data.synthetic.layout import generate
from locomt.data.text import WordTokenizer
from locomt.data.video import read_video
from locomt.io import run_cli
from locomt.prepare import main as prepare_main
from tests.procs import children, wait_gone

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# Small decode settings: 4 frames of 32 px, 1 s of audio -> 32 mels x 64 frames, 12 words.
SMALL = [
    "data.video.num_frames=4",
    "data.video.size=32",
    "data.audio.n_mels=32",
    "data.audio.hop_length=250",
    "data.audio.clip_seconds=1.0",
    "data.text.max_len=12",
]


def config(dataset: str, root: Path, cache: Path, *overrides: str) -> ExperimentConfig:
    return load_experiment(None, [f"data.dataset={dataset}", f"data.root={root}", f"data.cache_dir={cache}", *SMALL,
                                  *overrides])


@pytest.fixture(scope="module")
def mv_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth_mv")
    generate(out, SynthConfig("medvidcl", n=30, seed=0, size=32), progress=False)
    return out


@pytest.fixture(scope="module")
def au_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth_au")
    generate(out, SynthConfig("audioset", n=20, seed=1, size=32), progress=False)
    return out


@pytest.fixture(scope="module")
def ref(mv_root, tmp_path_factory):
    """A reference cache of the synthetic MedVidCL data, built in-process with one worker."""
    cfg = config("medvidcl", mv_root, tmp_path_factory.mktemp("ref_cache"))
    result = build.prepare(cfg.data, workers=1, progress=False, log=lambda s: None)
    return cfg, result


def arrays(cache_path: Path) -> dict[str, np.ndarray]:
    return {f"{s}/{n}": np.load(cache_path / s / f"{n}.npy") for s in ("train", "val", "test")
            for n in ("video", "audio", "text", "labels")}


def snapshot(cache_path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(cache_path)): (p.stat().st_mtime_ns, p.stat().st_ino)
            for p in sorted(cache_path.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------- build


def test_cache_contents_match_metadata_and_decoder(ref, mv_root):
    cfg, result = ref
    path = result.cache.path
    assert not result.reused and result.decoded == 30 and result.skipped == 0
    assert result.counts == {"train": 22, "val": 4, "test": 4}
    assert (path / "COMPLETE").is_file() and (path / "key.json").is_file()
    meta = json.loads((path / "meta.json").read_text())
    assert meta["task"] == "multiclass" and meta["class_names"][2] == "Non-medical"
    splits = read_medvidcl(mv_root)
    tok = WordTokenizer.load(path / "tokenizer.json")
    # The vocabulary is the training split's words only.
    train_words = {w for t in splits["train"]["text"] for w in tok.split(t)}
    assert set(tok.words) == train_words and meta["vocab_size"] == len(tok)
    for split, df in splits.items():
        video = np.load(path / split / "video.npy", mmap_mode="r")
        audio = np.load(path / split / "audio.npy", mmap_mode="r")
        text = np.load(path / split / "text.npy")
        labels = np.load(path / split / "labels.npy")
        assert video.dtype == np.float16 and video.shape == (len(df), 3, 4, 32, 32)
        assert audio.dtype == np.float16 and audio.shape == (len(df), 32, 64)
        assert text.dtype == np.int32 and text.shape == (len(df), 12)
        assert labels.dtype == np.int64 and labels.tolist() == df["label_index"].tolist()
        items = pd.read_csv(path / split / "items.csv", dtype={"id": str}, keep_default_na=False)
        assert items["id"].tolist() == df["video_id"].tolist()
        assert np.array_equal(text, tok.encode_batch(df["text"], 12).astype(np.int32))
    # Row 0 of test is what the decoder gives for that clip.
    first = read_medvidcl(mv_root)["test"]["video_id"][0]
    clip = mv_root / "media" / f"{first}.mp4"
    direct = build.decode_media(MediaFiles(clip, clip), ("video", "audio"), cfg.data.video, cfg.data.audio, True)
    assert np.array_equal(np.load(path / "test" / "video.npy")[0], direct["video"])
    assert np.array_equal(np.load(path / "test" / "audio.npy")[0], direct["audio"])
    assert pd.read_csv(path / "report.csv").empty


def test_second_prepare_decodes_nothing(ref, monkeypatch):
    cfg, result = ref
    before = snapshot(result.cache.path)

    def no_decoding(*a, **k):
        raise AssertionError("decoded although the cache is complete")

    monkeypatch.setattr(build, "decode_media", no_decoding)
    lines: list[str] = []
    again = build.prepare(cfg.data, workers=1, progress=False, log=lines.append)
    assert again.reused and again.cache.path == result.cache.path and again.decoded == 0
    assert "nothing to do" in lines[0] and str(result.cache.path) in lines[0]
    assert snapshot(result.cache.path) == before


@pytest.mark.parametrize(
    "override",
    [
        "data.video.size=16",
        "data.video.num_frames=2",
        "data.video.backend=pyav",
        "data.video.mean=[0.5,0.5,0.5]",
        "data.audio.hop_length=125",
        "data.audio.n_mels=16",
        "data.audio.sample_rate=8000",
        "data.audio.clip_seconds=2.0",
        "data.audio.backend=pyav",
        "data.text.max_len=8",
        "data.text.vocab_size=50",
        "data.text.min_count=2",
        "data.modalities=[video,audio]",
        "data.skip_silent=false",
        "data.test_clips=2",
    ],
)
def test_every_preprocessing_parameter_is_in_the_key(ref, override):
    cfg, result = ref
    changed = load_config(None, ["data.dataset=medvidcl", f"data.root={cfg.data.root}",
                                 f"data.cache_dir={cfg.data.cache_dir}", *SMALL, override])
    assert cache_for(changed.data).path != result.cache.path


def test_require_modalities_is_in_the_key_and_modality_dropout_is_not(ref):
    cfg, result = ref
    base = ["data.dataset=medvidcl", f"data.root={cfg.data.root}", f"data.cache_dir={cfg.data.cache_dir}", *SMALL]
    assert cache_for(load_config(None, [*base, "data.require_modalities=true"]).data).path != result.cache.path
    assert cache_for(load_config(None, [*base, "data.modality_dropout={audio: 0.5}"]).data).path == result.cache.path


def test_key_covers_roots_metadata_and_audioset_split(ref, au_root, mv_root, tmp_path):
    cfg, result = ref
    same = load_config(None, [f"data.root={cfg.data.root}", f"data.cache_dir={cfg.data.cache_dir}", *SMALL,
                              "data.batch_size=3", "data.num_workers=2", "data.synthetic={n: 7}", "seed=5",
                              "data.spec_augment={time_masks: 2, time_width: 8}", "data.test_clips=1"])
    assert cache_for(same.data).path == result.cache.path  # loader settings are not in the key
    assert "test_clips" not in cache_key(same.data)  # one test clip: the key caches had before
    copy = tmp_path / "copy"
    shutil.copytree(mv_root, copy)
    moved = cache_for(config("medvidcl", copy, Path(cfg.data.cache_dir)).data).path
    assert moved != result.cache.path  # another root
    other_media = config("medvidcl", mv_root, Path(cfg.data.cache_dir), f"data.media_root={copy / 'media'}")
    assert cache_for(other_media.data).path != result.cache.path
    items = json.loads((copy / "train.json").read_text())
    (copy / "train.json").write_text(json.dumps(items[:-1]))
    edited = config("medvidcl", copy, Path(cfg.data.cache_dir))
    assert cache_for(edited.data).path != moved  # metadata content
    base = config("audioset", au_root, tmp_path, "data.modalities=[video,audio]")
    paths = {cache_for(base.data).path}
    for o in ("data.val_fraction=0.3", "data.split_seed=1"):
        paths.add(cache_for(config("audioset", au_root, tmp_path, "data.modalities=[video,audio]", o).data).path)
    assert len(paths) == 3


def test_changed_parameter_builds_a_new_cache(ref, tmp_path):
    cfg, result = ref
    cache = tmp_path / "cache"
    a = build.prepare(config("medvidcl", cfg.data.root, cache).data, workers=1, progress=False, log=lambda s: None)
    b = build.prepare(config("medvidcl", cfg.data.root, cache, "data.video.size=16").data, workers=1, progress=False,
                     log=lambda s: None)
    assert a.cache.path != b.cache.path and not b.reused and b.decoded == 30
    assert sorted(p.name for p in cache.iterdir()) == sorted([a.cache.path.name, b.cache.path.name])
    assert np.load(b.cache.path / "train" / "video.npy").shape[-1] == 16
    assert a.cache.path.name == result.cache.path.name  # same key, other cache_dir: same name


def test_test_clips_decode_evenly_spaced_clips_of_the_test_split_only(ref, mv_root, tmp_path):
    cfg, result = ref
    multi = config("medvidcl", mv_root, tmp_path / "cache", "data.test_clips=3")
    out = build.prepare(multi.data, workers=1, progress=False, log=lambda s: None)
    assert out.cache.path.name != result.cache.path.name and cache_key(multi.data)["test_clips"] == 3
    assert out.cache.meta()["test_clips"] == 3
    one, many = arrays(result.cache.path), arrays(out.cache.path)
    for k in one:
        if k.startswith("test/") and k.split("/")[1] in ("video", "audio"):
            assert many[k].shape == (one[k].shape[0], 3, *one[k].shape[1:]), k
        else:
            assert np.array_equal(one[k], many[k]), k  # train and val: the one clip they always had
    video, audio = many["test/video"], many["test/audio"]
    assert all(not np.array_equal(x[i, a], x[i, b]) for x in (video, audio) for i in range(len(x))
               for a, b in ((0, 1), (1, 2), (0, 2)))  # the clips differ
    # Item 0 by hand: 16 frames (2 s at 8 fps) -> frame_indices(16, 3 clips x 4 frames) cut into 3
    # clips; audio windows of 1 s starting at 0, halfway through what is left, and at the end.
    first = read_medvidcl(mv_root)["test"]["video_id"][0]
    path = mv_root / "media" / f"{first}.mp4"
    every = read_video(path, VideoConfig(16, 32, cfg.data.video.mean, cfg.data.video.std))
    for k, frames in enumerate(([0, 2, 3, 4], [6, 7, 8, 10], [11, 12, 14, 15])):
        np.testing.assert_allclose(video[0, k], every[:, frames].astype(np.float16), atol=2e-3)
    wave = read_audio(path, cfg.data.audio.sample_rate)
    last = wave.size - cfg.data.audio.num_samples
    assert last > 0
    for k, start in enumerate((0, round(last / 2), last)):
        assert np.array_equal(audio[0, k], log_mel(wave[start:], cfg.data.audio).astype(np.float16))
    assert np.array_equal(audio[0, 0], one["test/audio"][0])  # clip 0 of audio: the first window, as before


# --------------------------------------------------------------------------------------- resume

KILLABLE = """
import sys, time
import locomt.data.build as build
from locomt.io import run_cli
from locomt.prepare import main
real = build.decode_media
def slow(*a, **k):
    time.sleep(0.25)
    return real(*a, **k)
build.decode_media = slow
sys.exit(run_cli(main, sys.argv[1:]))
"""


@pytest.mark.slow
def test_killed_prepare_resumes_without_redoing_items(ref, tmp_path, monkeypatch):
    cfg, result = ref
    yaml = tmp_path / "exp.yaml"
    cache = tmp_path / "cache"
    yaml.write_text(f"data: {{dataset: medvidcl, root: '{cfg.data.root}', cache_dir: '{cache}'}}\n")
    args = [sys.executable, "-c", KILLABLE, "--config", str(yaml), *SMALL, "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    items = cache / result.cache.path.name / "items"
    deadline = time.monotonic() + 60
    while len(list(items.rglob("*.npz"))) < 5:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "prepare did not store 5 items in 60 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (items.parent / "COMPLETE").exists()
    done = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in items.rglob("*.npz")}
    assert 5 <= len(done) < 30
    # What a kill during a write leaves behind: a temporary file, never read.
    (items / "train" / ".0000020.npz.garbage.tmp").write_bytes(b"half an item")

    calls = []
    real = build.decode_media
    monkeypatch.setattr(build, "decode_media", lambda *a, **k: calls.append(1) or real(*a, **k))
    lines: list[str] = []
    resumed = build.prepare(load_config(yaml, SMALL).data, workers=1, progress=False, log=lines.append)
    assert resumed.cache.path == cache / result.cache.path.name
    assert len(calls) == 30 - len(done)
    assert f"{len(done)} done by an earlier run" in lines[0]
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in done} == done
    ref_arrays, new_arrays = arrays(result.cache.path), arrays(resumed.cache.path)
    for k in ref_arrays:
        assert np.array_equal(ref_arrays[k], new_arrays[k]), k


@pytest.mark.slow
def test_cli_parallel_workers_match_serial(ref, tmp_path):
    cfg, result = ref
    yaml = tmp_path / "exp.yaml"
    yaml.write_text(f"data: {{dataset: medvidcl, root: '{cfg.data.root}', cache_dir: '{tmp_path / 'c'}'}}\n")
    proc = subprocess.run([sys.executable, "-m", "locomt.prepare", "--config", str(yaml), *SMALL, "--workers", "2",
                           "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "with 2 worker(s)" in proc.stdout and "cache ready" in proc.stdout
    ref_arrays, new_arrays = arrays(result.cache.path), arrays(tmp_path / "c" / result.cache.path.name)
    for k in ref_arrays:
        assert np.array_equal(ref_arrays[k], new_arrays[k]), k


# --------------------------------------------------------------------------------------- bad media


@pytest.fixture
def broken(mv_root, tmp_path):
    """A copy of the synthetic data with six kinds of bad media in the train split."""
    root = tmp_path / "broken"
    shutil.copytree(mv_root, root)
    ids = read_medvidcl(root)["train"]["video_id"].tolist()
    media = root / "media"
    (media / f"{ids[0]}.mp4").write_bytes(b"")  # zero-length
    data = (media / f"{ids[1]}.mp4").read_bytes()
    (media / f"{ids[1]}.mp4").write_bytes(data[: len(data) // 3])  # truncated
    (media / f"{ids[2]}.mp4").write_bytes(np.random.default_rng(0).bytes(len(data)))  # random bytes
    (media / f"{ids[3]}.mp4").unlink()  # missing
    frames = np.full((16, 32, 32, 3), 128, np.uint8)
    write_clip(media / f"{ids[4]}.mp4", frames, np.zeros(32000, np.float32))  # silent audio
    write_clip(media / f"{ids[5]}.mp4", frames, None)  # no audio track
    kinds = {ids[0]: {"empty"}, ids[1]: {"corrupt", "empty"}, ids[2]: {"corrupt"}, ids[3]: {"missing"},
             ids[4]: {"silent"}, ids[5]: {"no_stream"}}
    return root, kinds


def test_bad_media_is_reported_and_skipped(broken, tmp_path):
    """With data.require_modalities the clip without an audio track is skipped too (the behaviour
    before missing modalities were kept; test_missing_stream_is_kept_marked_missing is the default)."""
    root, kinds = broken
    result = build.prepare(config("medvidcl", root, tmp_path / "c", "data.require_modalities=true").data, workers=1,
                          progress=False, log=lambda s: None)
    report = pd.read_csv(result.cache.path / "report.csv", dtype=str, keep_default_na=False)
    assert sorted(report["id"]) == sorted(kinds)
    for row in report.itertuples():
        assert row.split == "train" and row.kind in kinds[row.id], (row.id, row.kind, row.reason)
        assert row.id in row.path and row.reason
    assert result.counts == {"train": 16, "val": 4, "test": 4} and result.skipped == 6
    items = pd.read_csv(result.cache.path / "train" / "items.csv", dtype={"id": str})
    assert not set(items["id"]) & set(kinds)
    assert np.load(result.cache.path / "train" / "video.npy").shape[0] == 16


def test_strict_stops_with_one_line_error(broken, tmp_path, capsys):
    root, kinds = broken
    yaml = tmp_path / "exp.yaml"
    yaml.write_text(f"data: {{dataset: medvidcl, root: '{root}', cache_dir: '{tmp_path / 'c'}'}}\n")
    proc = subprocess.run([sys.executable, "-m", "locomt.prepare", "--config", str(yaml), *SMALL, "--strict",
                           "--workers", "1", "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --strict:") and "report.csv" in lines[0]
    assert any(i in lines[0] for i in kinds)
    assert not list((tmp_path / "c").glob("*/COMPLETE"))


def test_strict_on_a_complete_cache_with_skipped_media_fails_as_a_fresh_strict_run(broken, tmp_path, capsys):
    root, kinds = broken
    yaml = tmp_path / "exp.yaml"
    yaml.write_text(f"data: {{dataset: medvidcl, root: '{root}', cache_dir: '{tmp_path / 'c'}'}}\n")
    args = ["--config", str(yaml), *SMALL, "--workers", "1", "--no-progress"]
    assert run_cli(prepare_main, args) == 0  # without --strict: built, six items skipped
    capsys.readouterr()
    assert run_cli(prepare_main, [*args, "--strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --strict:") and "report.csv" in err and "\n" not in err
    assert any(i in err for i in kinds)


SLOW_WORKERS = """
import sys, time
import locomt.data.build as build
from locomt.io import run_cli
from locomt.prepare import main

real_init, real_decode = build._init_worker, build.decode_media

def slow(*a, **k):
    time.sleep(0.5)
    return real_decode(*a, **k)

def slow_init(parent):  # runs in each worker (imported from this file, which is on the workers' sys.path)
    real_init(parent)
    build.decode_media = slow

if __name__ == "__main__":
    import slowprep
    build._init_worker = slowprep.slow_init
    sys.exit(run_cli(main, sys.argv[1:]))
"""


def test_workers_end_with_a_killed_or_interrupted_prepare(ref, tmp_path):
    """SIGKILL (no cleanup at all) and Ctrl-C of the parent: no decoding worker outlives it."""
    cfg, result = ref
    (tmp_path / "slowprep.py").write_text(SLOW_WORKERS)
    for n, sig in enumerate((signal.SIGKILL, signal.SIGINT)):
        yaml = tmp_path / f"exp{n}.yaml"
        cache = tmp_path / f"cache{n}"
        yaml.write_text(f"data: {{dataset: medvidcl, root: '{cfg.data.root}', cache_dir: '{cache}'}}\n")
        args = [sys.executable, str(tmp_path / "slowprep.py"), "--config", str(yaml), *SMALL, "--workers", "2",
                "--no-progress"]
        proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 60
        while len(list(cache.rglob("*.npz"))) < 2:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "prepare stored no item in 60 s"
            time.sleep(0.05)
        workers = children(proc.pid)
        assert len(workers) >= 2, workers
        proc.send_signal(sig)
        err = proc.communicate(timeout=60)[1]
        assert not wait_gone(workers), f"workers outlived prepare ({sig.name})"
        if sig == signal.SIGINT:
            assert proc.returncode == 130 and "Traceback" not in err, err
            assert err.strip().splitlines()[-1] == "interrupted (Ctrl-C): stopped; what was finished is kept"


# --------------------------------------------------------------------------------------- layouts


def test_real_medvidcl_layout_goes_through_the_same_path(mv_root, ref, tmp_path):
    """The bundled excerpts of the real MedVidCL JSONs, with synthetic clips saved under real IDs."""
    cfg, result = ref
    root = tmp_path / "real"
    shutil.copytree(TESTS / "data" / "medvidcl", root)
    real = read_medvidcl(root)
    synth_test = read_medvidcl(mv_root)["test"]["video_id"].tolist()
    (root / "clips").mkdir()
    have = {s: real[s]["video_id"].tolist()[:2] for s in ("train", "val", "test")}
    sources = {}
    for k, vid in enumerate(v for s in ("train", "val", "test") for v in have[s]):
        sources[vid] = synth_test[k % len(synth_test)]
        shutil.copy(mv_root / "media" / f"{sources[vid]}.mp4", root / "clips" / f"{vid}.mp4")
    out = build.prepare(config("medvidcl", root, tmp_path / "c", f"data.media_root={root / 'clips'}").data,
                       workers=1, progress=False, log=lambda s: None)
    assert out.counts == {"train": 2, "val": 2, "test": 2}
    report = pd.read_csv(out.cache.path / "report.csv", dtype=str, keep_default_na=False)
    assert len(report) == sum(len(df) for df in real.values()) - 6
    assert set(report["kind"]) == {"missing"} and report["reason"].str.contains("missing media").all()
    labels = np.load(out.cache.path / "train" / "labels.npy")
    assert labels.tolist() == real["train"]["label_index"].tolist()[:2]
    # The same clip decodes to the same arrays whichever layout it came from.
    ref_video = np.load(result.cache.path / "test" / "video.npy")
    vid = have["train"][0]
    assert np.array_equal(np.load(out.cache.path / "train" / "video.npy")[0], ref_video[synth_test.index(sources[vid])])


def test_audioset_splits_and_multilabel(au_root, tmp_path):
    cfg = config("audioset", au_root, tmp_path / "c", "data.modalities=[video,audio]", "data.val_fraction=0.25")
    plan = plan_dataset(cfg.data)
    splits, classes = read_audioset(au_root)
    train_ids = splits["balanced_train"]["ytid"].tolist()
    by_split = {s: [it.item_id for it in plan.items if it.split == s] for s in ("train", "val", "test")}
    assert len(by_split["val"]) == 4 and sorted(by_split["train"] + by_split["val"]) == sorted(train_ids)
    assert by_split["test"] == splits["eval"]["ytid"].tolist()
    again = plan_dataset(cfg.data)
    assert [it.item_id for it in again.items if it.split == "val"] == by_split["val"]  # seeded
    other = plan_dataset(config("audioset", au_root, tmp_path, "data.modalities=[video,audio]",
                                     "data.val_fraction=0.25", "data.split_seed=7").data)
    assert [it.item_id for it in other.items if it.split == "val"] != by_split["val"]
    result = build.prepare(cfg.data, workers=1, progress=False, log=lambda s: None)
    assert result.counts == {"train": 12, "val": 4, "test": 4}
    labels = np.load(result.cache.path / "val" / "labels.npy")
    assert labels.dtype == np.uint8 and labels.shape == (4, len(classes))
    segs = splits["balanced_train"].set_index("ytid")
    for i, ytid in enumerate(by_split["val"]):
        assert np.flatnonzero(labels[i]).tolist() == segs.loc[ytid, "labels"]
    assert not (result.cache.path / "train" / "text.npy").exists()


def test_audioset_with_text_is_an_error(au_root, tmp_path):
    with pytest.raises(ValueError, match="AudioSet has no text"):
        build.prepare(config("audioset", au_root, tmp_path).data, workers=1, progress=False)


# --------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("dataset, hint", [("medvidcl", "python -m locomt.synth --layout medvidcl"),
                                           ("audioset", "class_labels_indices.csv"),
                                           ("manifest", "columns split,path,label")])
def test_missing_root_names_the_path_and_how_to_get_data(tmp_path, capsys, dataset, hint):
    root = tmp_path / "nowhere"
    yaml = tmp_path / "exp.yaml"
    mods = "[video, audio]" if dataset == "audioset" else "[video, audio, text]"
    yaml.write_text(f"data: {{dataset: {dataset}, root: '{root}', cache_dir: '{tmp_path}/c', modalities: {mods}}}\n")
    assert run_cli(prepare_main, ["--config", str(yaml)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(root) in err[0] and hint in err[0]


def test_unknown_dataset(tmp_path, capsys):
    yaml = tmp_path / "exp.yaml"
    yaml.write_text("data: {dataset: kinetics}\n")
    assert run_cli(prepare_main, ["--config", str(yaml)]) == 2
    err = capsys.readouterr().err.strip()
    assert "'kinetics'" in err and "audioset, medvidcl, manifest" in err and len(err.splitlines()) == 1


def test_synthetic_root_is_generated_on_first_use(tmp_path):
    root = tmp_path / "gen"
    cfg = config("medvidcl", root, tmp_path / "c", "data.synthetic={n: 6, seed: 2, size: 32}")
    ensure_root(cfg.data, progress=False)
    assert len(read_medvidcl(root)["train"]) == 4 and len(list((root / "media").glob("*.mp4"))) == 6
    ensure_root(cfg.data, progress=False)  # the same parameters: nothing to do
    other = config("medvidcl", root, tmp_path / "c", "data.synthetic={n: 9, seed: 2, size: 32}")
    with pytest.raises(ValueError, match=r"made with n=6, but data.synthetic asks for n=9; delete"):
        ensure_root(other.data, progress=False)
    # a data.synthetic that locomt.synth would refuse is refused when the experiment is loaded
    with pytest.raises(ValueError, match="does not match data.dataset 'medvidcl'"):
        config("medvidcl", tmp_path / "x", tmp_path / "c", "data.synthetic={layout: audioset}")
    with pytest.raises(ValueError, match="unknown key 'colours'"):
        config("medvidcl", tmp_path / "y", tmp_path, "data.synthetic={colours: 3}")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
