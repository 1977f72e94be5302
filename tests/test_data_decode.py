"""Decoding: frames and tones read back from mp4s written here, both backends, corrupt media, tokenizer."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from locomt.config import AudioConfig, VideoConfig
from locomt.data.audio import is_silent, log_mel, read_audio, read_log_mel
from locomt.data.media import MediaError
from locomt.data.synthetic.clips import write_clip
from locomt.data.text import WordTokenizer
from locomt.data.video import frame_indices, get_video_reader, read_video

FPS, SR, T, H, W = 8, 16000, 16, 48, 64
TONE = 660.0
MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def frame_rgb(i: int) -> tuple[int, int, int]:
    return (20 + 12 * i, 230 - 12 * i, 128)


def dominant_hz(wave: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return float(np.fft.rfftfreq(wave.size, 1 / sr)[spec.argmax()])


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    frames = np.stack([np.full((H, W, 3), frame_rgb(i), np.uint8) for i in range(T)])
    t = np.arange(2 * SR) / SR
    tone = (0.4 * np.sin(2 * np.pi * TONE * t)).astype(np.float32)
    paths = {
        "clip": write_clip(root / "clip.mp4", frames, tone, FPS, SR),
        "noaudio": write_clip(root / "noaudio.mp4", frames, None, FPS, SR),
        "novideo": write_clip(root / "novideo.mp4", None, tone, FPS, SR),
        "silent": write_clip(root / "silent.mp4", frames, np.zeros(2 * SR, np.float32), FPS, SR),
        "mkv": write_clip(root / "clip.mkv", frames, tone, FPS, SR),
    }
    data = paths["clip"].read_bytes()
    (root / "zero.mp4").write_bytes(b"")
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    (root / "random.wav").write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    sf.write(
        root / "tone22k.wav", (0.3 * np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050)).astype(np.float32), 22050
    )
    sf.write(root / "tone.flac", tone, SR)
    for name in ("zero.mp4", "truncated.mp4", "random.mp4", "random.wav", "tone22k.wav", "tone.flac"):
        paths[name.replace(".", "_")] = root / name
    paths["missing"] = root / "missing.mp4"
    return paths


# ----------------------------------------------------------------------------------- video


def test_frame_indices():
    assert frame_indices(16, 4).tolist() == [2, 6, 10, 14]
    assert frame_indices(3, 5).tolist() == [0, 0, 1, 2, 2]
    assert frame_indices(1, 2).tolist() == [0, 0]


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_info(media, backend):
    n, fps = get_video_reader(backend).info(media["clip"])
    assert (n, fps) == (T, FPS)
    n, fps = get_video_reader(backend).info(media["mkv"])  # no frame count in the header
    assert (n, round(fps)) == (T, FPS)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_frames_match_what_was_written(media, backend):
    cfg = VideoConfig(num_frames=4, size=24, mean=MEAN, std=STD, backend=backend)
    x = read_video(media["clip"], cfg)
    assert x.shape == (3, 4, 24, 24) and x.dtype == np.float32
    for k, i in enumerate([2, 6, 10, 14]):
        expected = (np.array(frame_rgb(i)) / 255 - MEAN) / STD
        got = x[:, k].reshape(3, -1)
        # colour is uniform within a frame and within 3/255 of the written value (H.264 + YUV)
        np.testing.assert_allclose(got.mean(axis=1), expected, atol=3 / 255 / min(STD))
        assert got.std(axis=1).max() < 0.05


def test_backends_agree(media):
    for path in (media["clip"], media["mkv"]):
        a = read_video(path, VideoConfig(num_frames=6, size=32, backend="decord"))
        b = read_video(path, VideoConfig(num_frames=6, size=32, backend="pyav"))
        assert np.abs(a - b).max() < 0.05


@pytest.mark.parametrize("side", [16, 48])
def test_decord_width_bug_falls_back_to_pyav(tmp_path, side):
    frames = np.stack([np.full((side, side, 3), frame_rgb(i), np.uint8) for i in range(8)])
    path = write_clip(tmp_path / "small.mp4", frames, None, FPS, SR)
    import decord

    with pytest.raises(decord.DECORDError, match="from_size == to_size"):  # the bug this works around
        decord.VideoReader(str(path)).get_batch([0])
    cfg = VideoConfig(num_frames=8, size=side, mean=(0, 0, 0), std=(1, 1, 1))
    x = read_video(path, cfg)
    np.testing.assert_allclose(x.mean(axis=(2, 3)).T, frames.mean(axis=(1, 2)) / 255, atol=3 / 255)
    np.testing.assert_array_equal(x, read_video(path, VideoConfig(8, side, (0, 0, 0), (1, 1, 1), "pyav")))


def test_resize_and_crop_short_side():
    from locomt.data.video import resize_crop_normalize

    frames = np.zeros((1, 40, 80, 3), np.uint8)
    frames[:, :, :20] = 255  # left quarter white: cut off by the centre crop
    frames[:, :, 20:60] = 100
    x = resize_crop_normalize(frames, 20, (0, 0, 0), (1, 1, 1))
    assert x.shape == (3, 1, 20, 20)
    np.testing.assert_allclose(x[..., 1:-1], 100 / 255, atol=1e-5)  # edge columns blend (bilinear)
    assert x[..., 0].mean() > 100 / 255 > x[..., -1].mean()  # white on the left, black on the right


def test_bad_video_config():
    with pytest.raises(ValueError, match=r"backend='opencv': expected one of decord, pyav"):
        VideoConfig(backend="opencv")
    with pytest.raises(ValueError, match="expected one of decord, pyav"):
        get_video_reader("torchvision")


CORRUPT = {
    "missing": "missing file",
    "zero_mp4": "zero-length file",
    "truncated_mp4": "cannot open video",
    "random_mp4": "cannot open video",
    "novideo": "no video stream",
}


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_corrupt_video_raises_media_error(media, backend, kind):
    with pytest.raises(MediaError) as info:
        read_video(media[kind], VideoConfig(num_frames=4, size=16, backend=backend))
    err = info.value
    assert err.path == media[kind] and CORRUPT[kind] in err.reason
    assert "\n" not in str(err) and str(err).startswith(str(media[kind]))


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_truncated_faststart_mp4(tmp_path, backend):
    # moov atom up front, media data cut: opens, then fails while decoding
    import av

    src = tmp_path / "fs.mp4"
    with av.open(str(src), "w", format="mp4", options={"movflags": "faststart"}) as out:
        s = out.add_stream("libx264", rate=8)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(48):  # noisy frames, so the media data dwarfs the header
            out.mux(
                s.encode(av.VideoFrame.from_ndarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), format="rgb24"))
            )
        out.mux(s.encode())
    data = src.read_bytes()
    bad = tmp_path / "fs_cut.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="cannot open video|truncated or corrupt video stream"):
        read_video(bad, VideoConfig(num_frames=8, size=16, backend=backend))


# ----------------------------------------------------------------------------------- audio


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_tone_from_container(media, backend):
    wave = read_audio(media["clip"], SR, backend)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 2.0 <= wave.size / SR < 2.2  # AAC priming/padding adds a little
    assert abs(dominant_hz(wave, SR) - TONE) < 2
    assert 0.3 < np.abs(wave).max() < 0.5
    assert not is_silent(wave)


def test_audio_backends_agree(media):
    a, b = read_audio(media["clip"], SR, "decord"), read_audio(media["clip"], SR, "pyav")
    n = min(a.size, b.size)
    assert abs(a.size - b.size) < SR // 100 and np.abs(a[:n] - b[:n]).max() < 1e-3


def test_audio_files_and_resampling(media):
    wave = read_audio(media["tone22k_wav"], SR)
    assert wave.size == SR and abs(dominant_hz(wave, SR) - 1000) < 2
    flac = read_audio(media["tone_flac"], 8000)
    assert flac.size == 16000 and abs(dominant_hz(flac, 8000) - TONE) < 2


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_silent_audio_is_flagged_not_an_error(media, backend):
    spec, silent = read_log_mel(media["silent"], AudioConfig(clip_seconds=1.0, n_mels=32, backend=backend))
    assert silent and spec.shape == (32, 100) and np.isfinite(spec).all()


CORRUPT_AUDIO = {
    "missing": "missing file",
    "zero_mp4": "zero-length file",
    "truncated_mp4": "cannot",
    "random_mp4": "cannot",
    "random_wav": "cannot decode audio",
    "noaudio": "no audio stream",
}


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("kind", sorted(CORRUPT_AUDIO))
def test_corrupt_audio_raises_media_error(media, backend, kind):
    with pytest.raises(MediaError) as info:
        read_audio(media[kind], SR, backend)
    assert info.value.path == media[kind] and CORRUPT_AUDIO[kind] in info.value.reason
    assert "\n" not in str(info.value)


def test_log_mel_pads_trims_and_places_the_tone():
    cfg = AudioConfig(sample_rate=SR, n_mels=64, hop_length=160, win_length=400, n_fft=512, clip_seconds=2.0)
    assert cfg.n_frames == 200
    t = np.arange(SR) / SR  # 1 s: padded to 2 s
    wave = (0.5 * np.sin(2 * np.pi * TONE * t)).astype(np.float32)
    spec = log_mel(wave, cfg)
    assert spec.shape == (64, 200) and spec.dtype == np.float32
    mel_hz = librosa.mel_frequencies(n_mels=64 + 2, fmin=0, fmax=SR / 2)[1:-1]
    peak = int(spec[:, 10:90].mean(axis=1).argmax())
    assert abs(mel_hz[peak] - TONE) < 60
    assert spec[:, 110:].max() == pytest.approx(-100.0)  # padding is silence (amin=1e-10 -> -100 dB)
    # same values as librosa's own melspectrogram (the filter bank is cached, not re-derived)
    padded = np.pad(wave, (0, SR))
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(y=padded, sr=SR, n_fft=512, hop_length=160, win_length=400, n_mels=64),
        ref=1.0,
        amin=1e-10,
        top_db=None,
    )[:, :200]
    np.testing.assert_allclose(spec, ref, atol=1e-3)
    long = np.tile(wave, 5)  # 5 s: trimmed to 2 s
    assert log_mel(long, cfg).shape == (64, 200)


def test_bad_audio_config():
    with pytest.raises(ValueError, match="win_length=600: expected at most n_fft=512"):
        AudioConfig(win_length=600)
    with pytest.raises(ValueError, match="backend='sox': expected one of decord, pyav"):
        AudioConfig(backend="sox")


STDLIB_WAV = Path(sysconfig.get_paths()["stdlib"]) / "test" / "audiodata" / "pluck-pcm16.wav"


@pytest.mark.skipif(
    not STDLIB_WAV.is_file(), reason=f"{STDLIB_WAV} (a wav shipped with CPython's test suite) not installed"
)
def test_wav_nobody_here_made():
    wave = read_audio(STDLIB_WAV, SR)
    info = sf.info(str(STDLIB_WAV))
    assert abs(wave.size - round(info.frames * SR / info.samplerate)) <= 1
    assert not is_silent(wave)
    spec = log_mel(wave, AudioConfig(clip_seconds=1.0, n_mels=64))
    assert spec.shape == (64, 100) and np.isfinite(spec).all()


# ------------------------------------------------------------------------------------ text


def test_tokenizer_built_from_train_only(tmp_path):
    train = ["How to splint a finger", "how TO bandage a knee", "Guitar lesson: how to tune"]
    tok = WordTokenizer.build(train, vocab_size=6)
    # 'how', 'to' (3 each), 'a' (2), then 'bandage' (1, first alphabetically)
    assert tok.words == ["how", "to", "a", "bandage"] and len(tok) == 6
    ids = tok.encode("How to treat a burn", max_len=8)
    assert ids.tolist() == [2, 3, 1, 4, 1, 0, 0, 0] and ids.dtype == np.int64
    assert tok.encode("a a a a a a", max_len=3).tolist() == [4, 4, 4]
    assert tok.encode_batch(["knee", ""], max_len=2).tolist() == [[1, 0], [0, 0]]
    path = tmp_path / "tok.json"
    tok.save(path)
    again = WordTokenizer.load(path)
    assert again.words == tok.words and again.encode("how to", 4).tolist() == [2, 3, 0, 0]
    assert WordTokenizer.build(train, vocab_size=100).words[:2] == ["how", "to"]
    assert "café" in WordTokenizer.build(["Café au lait"], 10).words  # unicode words kept whole


def test_tokenizer_errors(tmp_path):
    with pytest.raises(ValueError, match="vocab_size=1"):
        WordTokenizer.build(["a"], 1)
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "bpe"}')
    with pytest.raises(ValueError, match="type 'bpe'"):
        WordTokenizer.load(bad)
