"""locomt.fetch: the real yt-dlp, offline, over file:// URLs of synthetic clips (good, missing,
cut short), resumability after SIGKILL, missing.csv, captions merged into MedVidCL's JSON, the
layout prepare's media lookup reads, and one-line errors for bad input."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from locomt.config import load_config
from locomt.data.audioset import read_segments
from locomt.data.build import prepare
from locomt.data.datasets import plan_dataset
from locomt.data.download import TMP_DIR, FetchItem, FetchOptions, fetch, fetch_one
from locomt.data.download_captions import caption_text, merge_subtitles
from locomt.data.download_media import check_media, cut_segment
from locomt.data.download_ytdlp import DownloadFailure, Downloaded, classify, parse_rate
from locomt.data.media import MediaIndex, find_media
from locomt.data.medvidcl import read_split
from locomt.data.missing import MISSING_COLUMNS, MissingRow, read_missing, skipped_summary, write_missing
from locomt.data.synthetic.clips import write_clip
from locomt.data.synthetic.config import SynthConfig
from locomt.data.synthetic.layout import generate
from locomt.fetch import main
from locomt.io import run_cli

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
MID = "/m/09x0r"  # Speech, class 0 of the real class table


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing here may reach the internet: a connect fails loudly (the reasons asserted then differ)."""
    def refuse(*args, **kwargs):
        raise RuntimeError("a test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def make_clip(path: Path, seconds: float = 4.0, shade: int = 100) -> Path:
    """A small real H.264 + AAC mp4 of ``seconds`` (8 fps, 32 px, 16 kHz tone)."""
    frames = np.full((int(seconds * 8), 32, 32, 3), shade, np.uint8)
    frames[:, :8, :8] = 255 - shade
    wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * 16000)) / 16000)).astype(np.float32)
    return write_clip(path, frames, wave, fps=8, sample_rate=16000)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def faststart(path: Path) -> Path:
    """``path`` remuxed with its index (moov) in front, as YouTube serves mp4: cut short, it still opens."""
    tmp = path.with_name("fast-" + path.name)
    with av.open(str(path)) as inp, av.open(str(tmp), "w", format="mp4", options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return tmp.replace(path)


def config(tmp_path: Path, dataset: str, root: Path, media_root: str = "") -> Path:
    path = tmp_path / f"{dataset}.yaml"
    modalities = "  modalities: [video, audio]\n" if dataset == "audioset" else ""  # AudioSet has no text
    path.write_text(f"data:\n  dataset: {dataset}\n  root: {root}\n  media_root: '{media_root}'\n{modalities}")
    return path


# ------------------------------------------------------------------------------ AudioSet

AUDIOSET_ROWS = [  # (ytid, start, end, what the site serves)
    ("-0aaaaaaaaa", 0.5, 2.5, "clip"),
    ("b1_bbbbbbbb", 1.25, 3.25, "clip"),  # fractional times
    ("ccccccccccc", 2.0, 12.0, "clip"),  # runs past the end of a 4 s video: cut where it ends
    ("ddddddddddd", 0.0, 2.0, "truncated"),
    ("eeeeeeeeeee", 0.0, 2.0, "none"),  # no such video
    ("fffffffffff", 30.0, 40.0, "clip"),  # starts after the end of the video
    ("ggggggggggg", 0.0, 1.0, "cut short"),  # index in front, second half gone: the segment survives, still corrupt
]


@pytest.fixture()
def audioset(tmp_path):
    """AudioSet metadata (real class table) plus a folder serving the videos as file:// URLs."""
    root, site = tmp_path / "audioset", tmp_path / "site"
    root.mkdir()
    shutil.copy(DATA / "audioset" / "class_labels_indices.csv", root)
    lines = ["# Segments csv", "# num_ytids=6", "# YTID, start_seconds, end_seconds, positive_labels"]
    for k, (ytid, start, end, serve) in enumerate(AUDIOSET_ROWS):
        lines.append(f'{ytid}, {start:.3f}, {end:.3f}, "{MID}"')
        if serve != "none":
            make_clip(site / f"{ytid}.mp4", shade=30 * k)
        if serve == "truncated":
            truncate(site / f"{ytid}.mp4")
        if serve == "cut short":
            truncate(faststart(site / f"{ytid}.mp4"))
    (root / "balanced_train_segments.csv").write_text("\n".join(lines) + "\n")
    return root, f"file://{site}/{{id}}.mp4"


def test_audioset_fetch_cuts_segments_lists_missing_and_resumes(audioset, tmp_path):
    root, template = audioset
    data = load_config(config(tmp_path, "audioset", root)).data
    opts = FetchOptions(url_template=template, workers=2, retries=0, progress=False)
    res = fetch(data, opts, log=lambda s: None)
    media = root / "media"
    assert (res.fetched, res.already, res.missing) == (3, 0, 4)
    assert dict(res.reasons) == {"corrupt": 2, "unavailable": 1, "out-of-range": 1}
    missing = read_missing(media)
    assert {k: r.reason for k, r in missing.items()} == {
        ("balanced_train", "ddddddddddd"): "corrupt", ("balanced_train", "eeeeeeeeeee"): "unavailable",
        ("balanced_train", "fffffffffff"): "out-of-range", ("balanced_train", "ggggggggggg"): "corrupt"}
    assert all(r.is_media and r.detail and "\n" not in r.detail for r in missing.values())
    assert list(pd.read_csv(media / "missing.csv").columns) == list(MISSING_COLUMNS)
    # prepare's lookup finds every fetched clip under the exact name, fractional times included
    rows = read_segments(root / "balanced_train_segments.csv", root / "class_labels_indices.csv")
    files = find_media(rows, media)
    assert [f.video.name if f.video else None for f in files] == [
        "-0aaaaaaaaa_0.500_2.500.mp4", "b1_bbbbbbbb_1.250_3.250.mp4", "ccccccccccc_2.000_12.000.mp4"] + [None] * 4
    for f, want in zip(files[:3], (2.0, 2.0, 2.0)):
        info = check_media(f.video)
        assert info.has_video and info.has_audio and abs(info.seconds - want) < 0.2
    assert not (media / TMP_DIR).exists() and not list(media.glob("*.part"))
    # a rerun fetches nothing: clips are there, lasting failures are not retried ...
    again = fetch(data, opts, log=lambda s: None)
    assert (again.fetched, again.already, again.failed, again.skipped) == (0, 3, 0, 4)
    assert read_missing(media) == missing
    # ... unless asked; and a clip that appeared meanwhile leaves missing.csv
    make_clip(media / "eeeeeeeeeee.mp4")
    retried = fetch(data, FetchOptions(url_template=template, retries=0, progress=False, retry_missing=True),
                    log=lambda s: None)
    assert (retried.fetched, retried.already, retried.failed) == (0, 4, 3)
    assert {k[1] for k in read_missing(media)} == {"ddddddddddd", "fffffffffff", "ggggggggggg"}


def test_cut_segment_is_exact_and_reencoded(tmp_path):
    src = make_clip(tmp_path / "src.mp4", seconds=4.0)
    info = cut_segment(src, tmp_path / "cut.mp4", 1.5, 3.0)
    with av.open(str(tmp_path / "cut.mp4")) as c:
        frames = [f.time for f in c.decode(video=0)]
    assert len(frames) == 12 and frames[0] == 0.0  # 1.5 s at 8 fps, starting on time (not at a keyframe)
    assert info.has_audio and abs(info.seconds - 1.5) < 0.05


def test_check_media_sees_truncation_with_the_index_in_front(tmp_path):
    fast = faststart(make_clip(tmp_path / "src.mp4"))
    assert check_media(fast).seconds > 3.9
    truncate(fast)
    with pytest.raises(Exception, match="truncated"):
        check_media(fast)


# ------------------------------------------------------------------------------ MedVidCL


def page(site: Path, vid: str, video: bool = True, track: str | None = None) -> None:
    """An HTML page like a watch page: an HTML5 video, optionally with an English caption track."""
    tags = f'<source src="file://{site}/{vid}.mp4" type="video/mp4">'
    if track is not None:
        tags += f'<track kind="captions" srclang="en" src="file://{site}/{track}">'
    (site / f"{vid}.html").write_text(f"<html><head><title>{vid}</title></head><body><video>{tags}</video></body>")
    if video:
        make_clip(site / f"{vid}.mp4", seconds=2.0)


VTT = """WEBVTT
Kind: captions
Language: en

1
00:00:00.000 --> 00:00:01.000
Wash your <c>hands</c>

00:00:01.000 --> 00:00:02.000 align:start position:0%
Wash your hands
for twenty &amp; more seconds
"""


@pytest.fixture()
def medvidcl(tmp_path):
    root, site = tmp_path / "medvidcl", tmp_path / "site"
    root.mkdir(), site.mkdir()
    for split in ("train", "val", "test"):
        shutil.copy(DATA / "medvidcl" / f"{split}.json", root)
    ids = [item["video_id"] for item in json.loads((root / "train.json").read_text())][:5]
    (site / "captions.vtt").write_text(VTT)
    page(site, ids[0], track="captions.vtt")  # captions
    page(site, ids[1])  # no captions
    page(site, ids[2], track="gone.vtt")  # the caption file fails: keep the video
    page(site, ids[4])
    truncate(site / f"{ids[4]}.mp4")  # ids[3] has no page at all
    return root, f"file://{site}/{{id}}.html", ids


def test_medvidcl_fetch_merges_captions_into_the_split_json(medvidcl, tmp_path):
    root, template, ids = medvidcl
    original = (root / "train.json").read_bytes()
    data = load_config(config(tmp_path, "medvidcl", root, str(tmp_path / "clips"))).data
    opts = FetchOptions(splits=("train",), limit=5, url_template=template, retries=0, progress=False)
    res = fetch(data, opts, log=lambda s: None)
    media = tmp_path / "clips"
    assert (res.fetched, res.missing, res.subtitles) == (3, 2, 1)
    assert sorted(p.name for p in media.glob("*.mp4")) == sorted(f"{v}.mp4" for v in ids[:3])
    assert (media / f"{ids[0]}.en.vtt").is_file()
    missing = read_missing(media)
    assert {k[1]: (r.reason, r.is_media) for k, r in missing.items()} == {
        ids[2]: ("unavailable", False), ids[3]: ("unavailable", True), ids[4]: ("corrupt", True)}
    assert missing[("train", ids[2])].file == f"{ids[2]}.en.vtt"
    # the JSON: original fields and values exactly, captions before label, a backup of the original
    before, after = json.loads(original), json.loads((root / "train.json").read_text())
    assert (root / "train.json.orig").read_bytes() == original
    assert [{k: v for k, v in a.items() if k != "video_sub_title"} for a in after] == before
    assert list(after[0]) == ["video_id", "video_link", "video_title", "video_sub_title", "label"]
    assert after[0]["video_sub_title"] == "Wash your hands for twenty & more seconds"
    assert all("video_sub_title" not in a for a in after[1:])
    assert (root / "val.json").read_bytes() == (DATA / "medvidcl" / "val.json").read_bytes()
    df = read_split(root / "train.json")
    assert df["text"][0].endswith("Wash your hands for twenty & more seconds")
    files = find_media(df, media)
    assert [f.video is not None for f in files[:5]] == [True, True, True, False, False]
    # rerun: nothing fetched, the JSON unchanged
    merged = (root / "train.json").read_bytes()
    again = fetch(data, opts, log=lambda s: None)
    assert (again.fetched, again.already, again.skipped) == (0, 3, 2)  # lasting failures are not retried
    assert (root / "train.json").read_bytes() == merged


def test_merge_subtitles_keeps_existing_text_and_style(tmp_path):
    shutil.copy(DATA / "medvidcl" / "val.json", tmp_path)
    items = json.loads((tmp_path / "val.json").read_text())
    items[1]["video_sub_title"] = "typed by the user"
    (tmp_path / "val.json").write_text(json.dumps(items, indent=4))
    for item in items[:2]:
        (tmp_path / f"{item['video_id']}.en.vtt").write_text(VTT)
    assert merge_subtitles(tmp_path, tmp_path, ["val"]) == {"val": 2}
    after = json.loads((tmp_path / "val.json").read_text())
    assert after[0]["video_sub_title"].startswith("Wash") and after[1]["video_sub_title"] == "typed by the user"
    assert (tmp_path / "val.json").read_text() == json.dumps(after, indent=4)  # official style, no newline


# ------------------------------------------------------------------------------ kill and rerun

KILL_IDS = [f"k{i:02d}aaaaaaaa" for i in range(8)]


def test_sigkill_then_rerun_fetches_only_the_rest(tmp_path):
    root, site = tmp_path / "as", tmp_path / "site"
    root.mkdir()
    shutil.copy(DATA / "audioset" / "class_labels_indices.csv", root)
    lines = ["# a", "# b", "# YTID, start_seconds, end_seconds, positive_labels"]
    for ytid in KILL_IDS + ["zzzzzzzzzzz"]:  # the last one does not exist
        lines.append(f'{ytid}, 0.500, 2.500, "{MID}"')
    (root / "balanced_train_segments.csv").write_text("\n".join(lines) + "\n")
    for ytid in KILL_IDS:
        make_clip(site / f"{ytid}.mp4", seconds=3.0)
    cmd = [sys.executable, "-m", "locomt.fetch", "--config", str(config(tmp_path, "audioset", root)),
           "--url-template", f"file://{site}/{{id}}.mp4", "--workers", "1", "--retries", "0", "--no-progress",
           "--rate-limit", "60K"]  # slow enough to be killed part-way
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    media, deadline = root / "media", time.monotonic() + 120
    while not list(media.glob("k*.mp4")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = sorted(media.glob("k*.mp4"))
    assert 1 <= len(first) < len(KILL_IDS), "the kill should land part-way"
    for path in first:  # whatever has a final name is whole
        check_media(path)
    out = subprocess.run(cmd[:-2], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = out.stdout.strip().splitlines()[-1]
    assert f"already there {len(first)}," in summary and f"fetched {len(KILL_IDS) - len(first)}," in summary
    assert "missing 1 (unavailable 1)" in summary
    assert sorted(p.name for p in media.glob("*.mp4")) == [f"{y}_0.500_2.500.mp4" for y in KILL_IDS]
    assert all(check_media(p).seconds > 1.9 for p in media.glob("*.mp4"))
    assert not (media / TMP_DIR).exists() and not list(media.rglob("*.part")) and not list(media.glob(".*.tmp"))
    assert list(read_missing(media)) == [("balanced_train", "zzzzzzzzzzz")]


# ------------------------------------------------------------------------------ pieces


@pytest.mark.parametrize("message, reason", [
    ("[youtube] abc: Private video. Sign in if you've been granted access to this video", "private"),
    ("[youtube] abc: Video unavailable", "unavailable"),
    ("[youtube] abc: Video unavailable. This video has been removed by the uploader", "removed"),
    ("[youtube] abc: Video unavailable. This video is no longer available because the YouTube account "
     "associated with this video has been terminated.", "removed"),
    ("[youtube] abc: Video unavailable. This video is no longer available due to a copyright claim by X", "removed"),
    ("[youtube] abc: Video unavailable. The uploader has not made this video available in your country", "geo-blocked"),
    ("[youtube] abc: This video is not available from your location due to geo restriction", "geo-blocked"),
    ("[youtube] abc: Sign in to confirm your age. This video may be inappropriate for some users.", "age-restricted"),
    ("[youtube] abc: Sign in to confirm you're not a bot. Use --cookies-from-browser", "rate-limited"),
    ("[youtube] abc: Unable to download API page: HTTP Error 429: Too Many Requests", "rate-limited"),
    ("[youtube] abc: Unable to download webpage: <urlopen error [Errno -3] Temporary failure in name resolution>",
     "network-error"),
    ("unable to download video data: HTTP Error 503: Service Unavailable", "network-error"),
    ("[download] Got error: The read operation timed out", "network-error"),
    ("[youtube] abc: Requested format is not available. Use --list-formats", "no-format"),
    ("something nobody expected", "error"),
])
def test_classify(message, reason):
    assert classify(message) == reason


def test_parse_rate():
    assert [parse_rate(s) for s in ("1M", "500K", "2.5M", "200000", "64k")] == [1 << 20, 500 << 10, 5 << 19,
                                                                              200000, 64 << 10]
    for bad in ("fast", "0", "-1M", "1T"):
        with pytest.raises(ValueError, match="--rate-limit"):
            parse_rate(bad)


def test_caption_text_reads_srt_and_rolling_vtt():
    assert caption_text(VTT) == "Wash your hands for twenty & more seconds"
    srt = ("1\r\n00:00:01,000 --> 00:00:02,000\r\nCafe\u0301 <i>one</i>\r\n\r\n"
           "2\r\n00:00:02,000 --> 00:00:03,000\r\ntwo\r\n")
    assert caption_text(srt) == "Cafe\u0301 one two"
    assert caption_text("WEBVTT\n\nNOTE nothing here\n") == ""


def test_retries_back_off_on_network_errors_only(tmp_path):
    calls = []

    def flaky(url, tmp, subtitles=False, **kw):
        calls.append(url)
        if len(calls) < 3:
            raise DownloadFailure("network-error", "timed out")
        return Downloaded(make_clip(Path(tmp) / "src.mp4", seconds=2.0), None)

    item = FetchItem("train", "abcdefghijk", "abcdefghijk.mp4", "u")
    (tmp_path / "tmp").mkdir()
    out = fetch_one(item, tmp_path, tmp_path / "tmp", FetchOptions(retries=3, backoff_seconds=0.0), flaky)
    assert out.failure is None and len(calls) == 3 and (tmp_path / "abcdefghijk.mp4").is_file()

    def private(url, tmp, subtitles=False, **kw):
        calls.append(url)
        raise DownloadFailure("private", "Private video")

    calls.clear()
    out = fetch_one(item, tmp_path, tmp_path / "tmp", FetchOptions(retries=3, backoff_seconds=0.0), private)
    assert out.failure.reason == "private" and len(calls) == 1
    assert list((tmp_path / "tmp").iterdir()) == []


def test_missing_csv_round_trip(tmp_path):
    rows = {("eval", "-x"): MissingRow("eval", "-x", "-x_1.500_11.500.mp4", "removed", 'said "gone", twice'),
            ("eval", "a"): MissingRow("eval", "a", "a.en.vtt", "network-error", "")}
    write_missing(tmp_path, rows)
    assert read_missing(tmp_path) == rows
    assert read_missing(tmp_path / "nowhere") == {}
    (tmp_path / "missing.csv").write_text("split,id\n")
    with pytest.raises(ValueError, match="column 'file'"):
        read_missing(tmp_path)


# ------------------------------------------------------------------------------ prepare reads missing.csv


@pytest.mark.parametrize("layout, fetch_split", [("medvidcl", "train"), ("audioset", "balanced_train")])
def test_prepare_reports_items_fetch_could_not_get_as_unavailable(layout, fetch_split, tmp_path):
    root = tmp_path / layout
    generate(root, SynthConfig(layout, n=16, seed=0, size=32), progress=False)
    small = ["data.video.num_frames=2", "data.video.size=32", "data.audio.n_mels=16", "data.audio.clip_seconds=0.48",
             "data.modalities=[video,audio]"]
    data = load_config(None, [f"data.dataset={layout}", f"data.root={root}", f"data.cache_dir={tmp_path / 'c'}",
                              *small]).data
    train = [it for it in plan_dataset(data).items if it.split == "train"]
    private, caption_only, unlisted, stale = train[:4]
    for it in (private, caption_only, unlisted):
        it.files.video.unlink()
    media = root / "media"
    write_missing(media, {  # fetch's splits and names: balanced_train for AudioSet's train and val
        (fetch_split, private.item_id): MissingRow(fetch_split, private.item_id, private.files.video.name, "private",
                                                   "Private video. Sign in if you've been granted access"),
        (fetch_split, caption_only.item_id): MissingRow(fetch_split, caption_only.item_id,
                                                        f"{caption_only.item_id}.en.vtt", "network-error", "captions"),
        (fetch_split, stale.item_id): MissingRow(fetch_split, stale.item_id, stale.files.video.name, "removed", ""),
    })
    lines: list[str] = []
    result = prepare(data, workers=1, progress=False, log=lines.append)
    report = pd.read_csv(result.cache.path / "report.csv", dtype=str, keep_default_na=False).set_index("id")
    assert sorted(report.index) == sorted([private.item_id, caption_only.item_id, unlisted.item_id])
    assert report.loc[private.item_id, "kind"] == "unavailable"
    assert report.loc[private.item_id, "reason"] == (
        "unavailable at fetch: private (Private video. Sign in if you've been granted access)")
    assert report.loc[private.item_id, "path"] == str(private.files.video)
    assert report.loc[caption_only.item_id, "kind"] == report.loc[unlisted.item_id, "kind"] == "missing"
    assert (f"3 skipped: 1 unavailable at fetch (see {media / 'missing.csv'}), 2 missing/corrupt "
            f"(see {result.cache.path / 'report.csv'})") in lines
    assert result.skipped == 3  # the stale row's clip is there again: decoded and kept
    kept = pd.read_csv(result.cache.path / "train" / "items.csv", dtype={"id": str})["id"]
    assert stale.item_id in set(kept)


def test_prepare_without_missing_csv_words_its_skips_as_before(tmp_path):
    report = tmp_path / "report.csv"
    assert skipped_summary(["missing", "corrupt"], report, tmp_path / "missing.csv") == (
        f"skipped 2 item(s) with unusable media; see {report}")


# ------------------------------------------------------------------------------ bad input


def one_line_error(capsys, argv) -> str:
    assert run_cli(main, argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def test_bad_input_is_one_line_and_writes_nothing(audioset, tmp_path, capsys, monkeypatch):
    root, template = audioset
    cfg = str(config(tmp_path, "audioset", root))
    base = ["--config", cfg, "--url-template", template, "--no-progress"]
    assert "does not exist" in one_line_error(capsys, ["--config", str(tmp_path / "nope.yaml")])
    assert "cannot be fetched" in one_line_error(capsys, ["--config", cfg, "data.dataset=manifest"])
    assert "'bogus'" in one_line_error(capsys, ["--config", cfg, "data.dataset=bogus"])
    assert "balanced_train, unbalanced_train, eval" in one_line_error(capsys, base + ["--split", "test"])
    assert "eval_segments.csv not found" in one_line_error(capsys, base + ["--split", "eval"])
    assert "--limit 0" in one_line_error(capsys, base + ["--limit", "0"])
    assert "--workers 0" in one_line_error(capsys, base + ["--workers", "0"])
    assert "--rate-limit" in one_line_error(capsys, base + ["--rate-limit", "fast"])
    assert "{id}" in one_line_error(capsys, ["--config", cfg, "--url-template", "file:///x/{ytid}.mp4"])
    assert "no such file" in one_line_error(capsys, base + ["--cookies", str(tmp_path / "none.txt")])
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # import yt_dlp now raises ImportError
    assert "pip install -e .[fetch]" in one_line_error(capsys, base)
    assert not (root / "media").exists()
    monkeypatch.delitem(sys.modules, "yt_dlp")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert "cannot be written" in one_line_error(capsys, base + [f"data.media_root={blocker / 'media'}"])


def test_one_fetch_per_media_root(audioset, tmp_path):
    root, template = audioset
    media = root / "media"
    media.mkdir()
    with open(media / ".fetch.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load_config(config(tmp_path, "audioset", root)).data
        with pytest.raises(OSError, match="another locomt.fetch"):
            fetch(data, FetchOptions(url_template=template, progress=False), log=lambda s: None)
    assert os.listdir(media) == [".fetch.lock"]
