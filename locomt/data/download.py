"""Downloading a dataset's clips from its official metadata (``python -m locomt.fetch``): which
files to get, a bounded pool of yt-dlp downloads with retries, and ``missing.csv``.

Layout written under the media root (``data.media_root``, default ``data.root/media``), the one
``locomt.data.media`` matches for ``prepare``:

* AudioSet: ``YTID_START_END.mp4`` (times with three decimals, ``--PJHxphWEs_30.000_40.000.mp4``),
  the row's ``[start, end)`` cut from the whole video with PyAV (:mod:`locomt.data.download_media`);
* MedVidCL: ``VIDEO_ID.mp4`` (the extension yt-dlp got when it is not mp4), and ``VIDEO_ID.en.vtt``
  with the English captions where the video has them; their text is merged into each split JSON's
  ``video_sub_title`` (:func:`merge_subtitles`);
* ``missing.csv``: every item that could not be had (split, id, file, reason, detail; reasons in
  ``locomt.data.download_ytdlp.REASONS``; :mod:`locomt.data.missing`), rewritten atomically as the
  run goes; ``prepare`` reports these items as unavailable at fetch.

Resumable: an item whose media ``prepare`` would already find is not fetched again; a download
lives in ``.fetch-tmp/`` (yt-dlp's .part files too) and is renamed into place only when whole. An
item listed in missing.csv for a lasting reason (private, removed, ...) is not retried unless
asked (``retry_missing``); network errors and rate limits always are. One fetch per media root at
a time (a lock file).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from locomt.config import DataConfig
from locomt.data.datasets import get_dataset
from locomt.data.download_captions import SUBTITLE_SUFFIX, merge_subtitles
from locomt.data.download_media import OutOfRangeError, check_media, cut_segment
from locomt.data.download_ytdlp import (DEFAULT_FORMAT, DEFAULT_URL_TEMPLATE, RETRYABLE, DownloadFailure,
                                        check_url_template, download, require_yt_dlp)
from locomt.data.media import MediaError, MediaIndex
from locomt.data.missing import MISSING_CSV, MissingRow, read_missing, write_missing

TMP_DIR = ".fetch-tmp"
LOCK_FILE = ".fetch.lock"
WRITE_EVERY_SECONDS = 1.0  # missing.csv is rewritten at most this often while a run goes


def dataset_splits(dataset: str) -> tuple[str, ...]:
    """The splits ``fetch`` knows for ``dataset`` (``audioset`` or ``medvidcl``)."""
    from locomt.data.audioset import SPLIT_FILES
    from locomt.data.medvidcl import SPLITS

    known = {"audioset": tuple(SPLIT_FILES), "medvidcl": SPLITS}
    if dataset not in known:
        raise ValueError(f"data.dataset {dataset!r} cannot be fetched; expected one of {', '.join(known)} "
                         "(a manifest points at local files; synthetic data comes from locomt.synth)")
    return known[dataset]


@dataclass(frozen=True)
class FetchItem:
    """One clip to get: its split and id, the file name it gets, its URL, its segment (AudioSet)."""

    split: str
    id: str
    file: str
    url: str
    start: float | None = None
    end: float | None = None
    subtitles: bool = False


def plan_items(data: DataConfig, splits: tuple[str, ...] | None = None, limit: int | None = None,
               url_template: str = DEFAULT_URL_TEMPLATE) -> list[FetchItem]:
    """Every item of the named splits (default: all the dataset's splits whose metadata is in
    ``data.root``), the first ``limit`` rows of each when given, in file order."""
    known = dataset_splits(data.dataset)
    check_url_template(url_template)
    if limit is not None and limit < 1:
        raise ValueError(f"--limit {limit}; expected at least 1 (items per split)")
    for s in splits or ():
        if s not in known:
            raise ValueError(f"--split {s!r}; expected one of {data.dataset}'s splits: {', '.join(known)}")
    root = Path(data.root)
    if not root.is_dir():
        raise FileNotFoundError(f"data.root {root} does not exist; expected the folder with the official "
                                f"{data.dataset} metadata")
    items: list[FetchItem] = []
    if data.dataset == "medvidcl":
        from locomt.data.medvidcl import read_medvidcl

        for split, df in read_medvidcl(root, tuple(splits or known)).items():
            for vid in df["video_id"][:limit]:
                items.append(FetchItem(split, vid, f"{vid}.mp4", url_template.format(id=vid), subtitles=True))
        return items
    from locomt.data.audioset import SPLIT_FILES, read_audioset

    wanted = tuple(splits or known)
    absent = [root / SPLIT_FILES[s] for s in wanted if not (root / SPLIT_FILES[s]).is_file()]
    if splits and absent:
        raise FileNotFoundError(f"{absent[0]} not found; expected the official segment CSV of --split in {root}")
    if len(absent) == len(wanted) or not (root / "class_labels_indices.csv").is_file():
        need = ["class_labels_indices.csv"] + [SPLIT_FILES[s] for s in wanted]
        raise FileNotFoundError(f"{root}: expected the official AudioSet metadata there ({', '.join(need)})")
    tables, _ = read_audioset(root, wanted)
    for split, df in tables.items():
        for ytid, start, end in zip(df["ytid"][:limit], df["start_seconds"][:limit], df["end_seconds"][:limit]):
            name = f"{ytid}_{start:.3f}_{end:.3f}.mp4"  # the first spelling locomt.data.media matches
            items.append(FetchItem(split, ytid, name, url_template.format(id=ytid), float(start), float(end)))
    return items


# ------------------------------------------------------------------------------ fetching


@dataclass(frozen=True)
class FetchOptions:
    """How to fetch: ``workers`` parallel downloads, ``retries`` more tries of a network error or
    rate limit with exponential backoff from ``backoff_seconds``, ``rate_limit`` bytes/s per
    download (yt-dlp's ratelimit), the URL template and yt-dlp format, a cookies file."""

    splits: tuple[str, ...] | None = None
    limit: int | None = None
    workers: int = 4
    retries: int = 3
    backoff_seconds: float = 2.0
    rate_limit: int | None = None
    url_template: str = DEFAULT_URL_TEMPLATE
    format: str = DEFAULT_FORMAT
    cookies: str | None = None
    retry_missing: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers {self.workers}; expected at least 1")
        if self.retries < 0:
            raise ValueError(f"--retries {self.retries}; expected at least 0 (more tries of a network error)")
        if self.backoff_seconds < 0:
            raise ValueError(f"backoff_seconds={self.backoff_seconds}; expected at least 0")
        if self.cookies and not Path(self.cookies).is_file():
            raise FileNotFoundError(f"--cookies {self.cookies}: no such file; expected a Netscape cookies file")

    def ydl(self) -> dict:
        return {"fmt": self.format, "rate_limit": self.rate_limit, "cookies": self.cookies}


@dataclass
class FetchResult:
    """What a run did: counts, the reasons of this run's failures, and where missing.csv is."""

    media_root: Path
    fetched: int = 0
    already: int = 0
    failed: int = 0  # tried in this run and not had
    skipped: int = 0  # listed in missing.csv by an earlier run, not retried
    reasons: Counter = field(default_factory=Counter)  # of the failed and the skipped
    subtitles: int = 0  # MedVidCL items whose video_sub_title comes from fetched captions
    seconds: float = 0.0

    @property
    def missing(self) -> int:
        return self.failed + self.skipped

    def summary(self) -> str:
        why = ", ".join(f"{r} {n}" for r, n in self.reasons.most_common())
        if self.skipped:
            why += f"; {self.skipped} of them listed by an earlier run, not retried without --retry-missing"
        line = (f"fetched {self.fetched}, already there {self.already}, missing {self.missing}"
                + (f" ({why})" if why else "") + f" in {self.seconds:.1f} s -> {self.media_root}")
        if self.missing or (self.media_root / MISSING_CSV).is_file():
            line += f"; see {self.media_root / MISSING_CSV}"
        return line


@dataclass(frozen=True)
class _Outcome:
    item: FetchItem
    failure: DownloadFailure | None
    subtitle_failure: DownloadFailure | None = None


Downloader = Callable[..., object]


@contextmanager
def _locked_media_root(root: Path) -> Iterator[Path]:
    """Create ``root``, hold its lock file for the run, and yield a fresh temp folder inside it
    (whatever a killed run left there is removed first)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / LOCK_FILE, "a+")
    except OSError as err:
        raise OSError(f"media root {root} cannot be written ({err.strerror or err}); expected a writable "
                      "folder (data.media_root, default data.root/media)") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OSError(f"another locomt.fetch is writing to {root}; wait for it or use another "
                          "data.media_root") from None
        tmp = root / TMP_DIR
        shutil.rmtree(tmp, ignore_errors=True)
        for stale in root.glob(f".{MISSING_CSV}.*.tmp"):  # atomic_write_csv's, if a run was killed mid-write
            stale.unlink()
        tmp.mkdir()
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def fetch_one(item: FetchItem, media_root: Path, tmp_root: Path, options: FetchOptions,
              downloader: Downloader = download) -> _Outcome:
    """Download one item into a temp folder, cut or check it, and rename it into place; a
    retryable failure is tried again after 1x, 2x, 4x ... ``backoff_seconds`` (with jitter)."""
    for attempt in range(options.retries + 1):
        tmp = Path(tempfile.mkdtemp(dir=tmp_root, prefix="item-"))
        try:
            got = downloader(item.url, tmp, subtitles=item.subtitles, **options.ydl())
            check_media(got.path)  # a download cut short is corrupt, even where the segment survived
            if item.start is not None:
                src, name = tmp / "cut.mp4", item.file
                cut_segment(got.path, src, item.start, item.end)
            else:
                src, name = got.path, item.id + got.path.suffix.lower()
            if got.subtitle is not None:  # before the clip: a clip in place means its captions are too
                os.replace(got.subtitle, media_root / (item.id + SUBTITLE_SUFFIX))
            os.replace(src, media_root / name)
            return _Outcome(item, None, got.subtitle_error)
        except DownloadFailure as err:
            failure = err
        except OutOfRangeError as err:
            failure = DownloadFailure("out-of-range", err.reason)
        except MediaError as err:
            failure = DownloadFailure("corrupt", err.reason)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if not failure.retryable or attempt == options.retries:
            break
        time.sleep(options.backoff_seconds * 2 ** attempt * random.uniform(0.5, 1.0))
    return _Outcome(item, failure)


def fetch(data: DataConfig, options: FetchOptions = FetchOptions(), log: Callable[[str], None] = print,
          downloader: Downloader | None = None) -> FetchResult:
    """Fetch every planned item of ``data`` that is not there yet; see the module docstring."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    start = time.perf_counter()
    items = plan_items(data, options.splits, options.limit, options.url_template)
    if downloader is None:
        require_yt_dlp()
        downloader = download
    root = get_dataset(data.dataset).media_root(data)  # where prepare looks
    result = FetchResult(root)
    with _locked_media_root(root) as tmp_root:
        index = MediaIndex(root)
        earlier = read_missing(root)
        rows = dict(earlier)
        todo: list[FetchItem] = []
        for it in items:
            key, files = (it.split, it.id), index.find(it.id, it.start, it.end)
            if files.video is not None or files.audio is not None:
                result.already += 1
                if key in rows and rows[key].is_media:
                    del rows[key]
            elif (key in earlier and earlier[key].is_media and earlier[key].reason not in RETRYABLE
                  and not options.retry_missing):
                result.skipped += 1
                result.reasons[earlier[key].reason] += 1
            else:
                todo.append(it)
        workers = min(options.workers, max(1, len(todo)))
        log(f"fetching {len(todo)} of {len(items)} {data.dataset} items into {root} with {workers} worker(s): "
            f"{result.already} already there, {result.skipped} listed missing by an earlier run")
        last_write, dirty = 0.0, rows != earlier

        def record(out: _Outcome) -> None:
            nonlocal last_write, dirty
            key = (out.item.split, out.item.id)
            dirty |= rows.pop(key, None) is not None or out.failure is not None or out.subtitle_failure is not None
            if out.failure is not None:
                result.failed += 1
                result.reasons[out.failure.reason] += 1
                rows[key] = MissingRow(*key, out.item.file, out.failure.reason, out.failure.detail)
            else:
                result.fetched += 1
                if out.subtitle_failure is not None:
                    f = out.subtitle_failure
                    rows[key] = MissingRow(*key, out.item.id + SUBTITLE_SUFFIX, f.reason, f"captions: {f.detail}")
            if dirty and time.monotonic() - last_write >= WRITE_EVERY_SECONDS:
                write_missing(root, rows)
                last_write, dirty = time.monotonic(), False

        columns = (TextColumn("[bold]fetch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
                   TimeElapsedColumn(), TimeRemainingColumn())
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch")
        try:
            with Progress(*columns, disable=not options.progress) as bar:
                task = bar.add_task("fetch", total=len(todo), counts="")
                queue, pending = iter(todo), set()
                while True:  # at most 2 x workers submitted at a time: AudioSet's unbalanced set has 2M rows
                    for it in itertools.islice(queue, 2 * workers - len(pending)):
                        pending.add(pool.submit(fetch_one, it, root, tmp_root, options, downloader))
                    if not pending:
                        break
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        record(fut.result())
                        bar.update(task, advance=1, counts=f"ok {result.fetched}  missing {result.failed}")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: the downloads under way finish first
            if dirty:
                write_missing(root, rows)
        if data.dataset == "medvidcl":
            result.subtitles = sum(merge_subtitles(data.root, root, {it.split for it in items}).values())
    result.seconds = time.perf_counter() - start
    return result
