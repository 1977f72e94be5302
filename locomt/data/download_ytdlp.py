"""The yt-dlp side of ``locomt.fetch``: one download into a temporary folder, yt-dlp's error
messages sorted into reasons, rate strings.

yt-dlp is an optional extra (``pip install -e .[fetch]``): it is imported only by
:func:`require_yt_dlp`, so the rest of locomt installs and runs without it. It is used without
an ffmpeg binary: the format is one file holding video and audio (``best``, on YouTube a 360p
H.264 + AAC mp4, enough for 224 px models), because merging separate video and audio formats and
downloading time ranges (``download_ranges``) both need ffmpeg; segments are cut afterwards with
PyAV (:mod:`locomt.data.download_media`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locomt.io import require_extra

DEFAULT_URL_TEMPLATE = "https://www.youtube.com/watch?v={id}"
#: One file with both video and audio, mp4 preferred (no ffmpeg needed to merge formats).
DEFAULT_FORMAT = "best[ext=mp4]/best"
#: Why an ID could not be had. Only the retryable ones are tried again with backoff (and by a rerun).
REASONS = ("unavailable", "private", "removed", "geo-blocked", "age-restricted", "rate-limited",
           "network-error", "no-format", "corrupt", "out-of-range", "error")
RETRYABLE = frozenset({"rate-limited", "network-error"})

# (reason, lower-case substrings of yt-dlp's message), first match wins: "Private video. Sign in
# if you've been granted access" is private, not a sign-in problem.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("private", ("private video", "members-only", "join this channel")),
    ("geo-blocked", ("geo restriction", "geo-restricted", "available in your country",
                     "not available from your location")),
    ("removed", ("removed by the uploader", "has been removed", "has been terminated", "copyright",
                 "violating youtube", "terms of service", "no longer available")),
    ("age-restricted", ("confirm your age", "age-restricted", "inappropriate for some")),
    ("rate-limited", ("http error 429", "too many requests", "not a bot", "rate-limited", "try again later",
                      "captcha")),
    ("unavailable", ("video unavailable", "this video is not available", "http error 404", "http error 410",
                     "no such file or directory", "incomplete youtube id", "is not a valid url",
                     "unsupported url", "this live event", "premieres in", "does not exist")),
    ("no-format", ("requested format is not available", "no video formats found", "drm protected")),
    ("network-error", ("unable to download", "timed out", "timeout", "connection", "network is unreachable",
                       "temporary failure in name resolution", "name or service not known", "http error 5",
                       "http error 403", "incompleteread", "content too short", "did not get any data",
                       "remote end closed", "ssl", "errno 104", "errno 110", "errno 111")),
)


class DownloadFailure(Exception):
    """One download that did not work: ``reason`` (one of :data:`REASONS`) and a one-line ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = " ".join(str(detail).split())[:300]
        super().__init__(f"{reason}: {self.detail}")

    @property
    def retryable(self) -> bool:
        return self.reason in RETRYABLE


@dataclass(frozen=True)
class Downloaded:
    """What one download left in its temporary folder: the media file and an English caption file."""

    path: Path
    subtitle: Path | None
    subtitle_error: DownloadFailure | None = None


def require_yt_dlp() -> Any:
    """The ``yt_dlp`` module, or MissingDependencyError naming the extra that installs it."""
    return require_extra("yt_dlp", "yt-dlp", "fetch", "locomt.fetch")


def classify(message: str) -> str:
    """The reason (one of :data:`REASONS`) for one of yt-dlp's error messages; ``error`` when none fits."""
    text = message.lower()
    for reason, needles in _RULES:
        if any(n in text for n in needles):
            return reason
    return "error"


_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]?)i?B?\s*$", re.IGNORECASE)


def parse_rate(text: str) -> int:
    """Bytes per second of ``500K``, ``1M``, ``1.5M`` or ``200000`` (K = 1024, as yt-dlp reads them)."""
    m = _RATE_RE.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"--rate-limit {text!r}; expected bytes per second such as 500K, 1M or 2.5M")
    return int(float(m.group(1)) * 1024 ** " KMG".index(m.group(2).upper() or " "))


def check_url_template(template: str) -> str:
    """``template`` when it holds ``{id}`` and nothing else in braces."""
    try:
        template.format(id="ID")
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"--url-template {template!r}; expected a URL with one {{id}} field, "
                         f"e.g. {DEFAULT_URL_TEMPLATE}") from None
    if "{id}" not in template:
        raise ValueError(f"--url-template {template!r} has no {{id}}; expected e.g. {DEFAULT_URL_TEMPLATE}")
    return template


class _Quiet:
    """yt-dlp logger that prints nothing (the progress bar owns the terminal); errors reach us as exceptions."""

    def debug(self, msg: str) -> None:
        pass

    info = warning = error = debug


def ydl_options(tmpdir: Path, url: str, *, subtitles: bool, fmt: str = DEFAULT_FORMAT,
                rate_limit: int | None = None, cookies: str | None = None) -> dict[str, Any]:
    """yt-dlp parameters for one download into ``tmpdir`` (its .part files stay there too)."""
    opts: dict[str, Any] = {
        "format": fmt,
        "paths": {"home": str(tmpdir), "temp": str(tmpdir)},
        "outtmpl": {"default": "src.%(ext)s"},
        "logger": _Quiet(), "quiet": True, "no_warnings": True, "noprogress": True,
        "noplaylist": True, "overwrites": True, "updatetime": False,
        "retries": 3, "fragment_retries": 3, "extractor_retries": 2, "socket_timeout": 30,
        # file:// only for local templates (the tests); yt-dlp keeps it off by default for safety
        "enable_file_urls": url.startswith("file:"),
    }
    if subtitles:
        # Without subtitleslangs yt-dlp picks one language: English uploaded captions first, then
        # English automatic ones (machine translations included), then anything; non-English is
        # dropped afterwards. This is the order of MedVidCL's prepare/Text_Extraction.py.
        opts.update(writesubtitles=True, writeautomaticsub=True, subtitlesformat="vtt/srt/best")
    if rate_limit:
        opts["ratelimit"] = rate_limit
    if cookies:
        opts["cookiefile"] = cookies
    return opts


def _is_english(lang: str) -> bool:
    return lang == "en" or lang.lower().startswith(("en-", "en_"))


def download(url: str, tmpdir: str | os.PathLike, *, subtitles: bool = False, **options: Any) -> Downloaded:
    """Download ``url`` into the empty folder ``tmpdir`` with yt-dlp. Raises DownloadFailure.

    With ``subtitles``, English captions are fetched too; when only the captions fail (YouTube's
    caption endpoint rate-limits on its own), the video is downloaded without them and the caption
    failure is returned in ``subtitle_error``.
    """
    yt_dlp = require_yt_dlp()
    tmpdir = Path(tmpdir)
    try:
        with yt_dlp.YoutubeDL(ydl_options(tmpdir, url, subtitles=subtitles, **options)) as ydl:
            info = ydl.extract_info(url, download=True)
    except yt_dlp.utils.DownloadError as err:
        msg = str(err.msg or err).removeprefix("ERROR: ")
        if subtitles and "unable to download video subtitles" in msg.lower():
            got = download(url, tmpdir, subtitles=False, **options)
            return Downloaded(got.path, None, DownloadFailure(classify(msg), msg))
        raise DownloadFailure(classify(msg), msg) from None
    except Exception as err:  # noqa: BLE001 - an extractor bug must cost one item, not the run
        raise DownloadFailure("error", f"yt-dlp {type(err).__name__}: {err}") from None
    if info is None:
        raise DownloadFailure("error", "yt-dlp returned nothing")
    files = [Path(d["filepath"]) for d in info.get("requested_downloads") or [] if d.get("filepath")]
    files = [f for f in files if f.is_file()]
    if not files:
        raise DownloadFailure("no-format", f"yt-dlp wrote no media file for {url}")
    sub = next((Path(s["filepath"]) for lang, s in (info.get("requested_subtitles") or {}).items()
                if _is_english(lang) and s.get("filepath") and Path(s["filepath"]).is_file()), None)
    return Downloaded(files[0], sub)
