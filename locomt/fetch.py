"""``python -m locomt.fetch``: download a dataset's clips from its official metadata with yt-dlp.

    pip install -e .[fetch]
    python -m locomt.fetch --config experiments/audioset.yaml [--split eval] [--workers 4] [--limit 20]

Reads the metadata in ``data.root`` (AudioSet segment CSVs, MedVidCL split JSONs) and writes the
clips to ``data.media_root`` (default ``data.root/media``) in the layout ``prepare`` reads; the
items that cannot be had are listed with their reason in ``missing.csv`` there. Killed and rerun,
it fetches only the rest. The library is :mod:`locomt.data.download`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from locomt.data.download_ytdlp import DEFAULT_FORMAT, DEFAULT_URL_TEMPLATE, parse_rate
from locomt.experiment import load_experiment
from locomt.io import run_cli


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m locomt.fetch", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, type=Path, help="experiment YAML (its data section is used)")
    p.add_argument("overrides", nargs="*", help="dotted KEY=VALUE overrides, e.g. data.media_root=/big/disk/media")
    p.add_argument("--split", action="append", default=None,
                   help="only this split (repeatable; default: every split whose metadata is there)")
    p.add_argument("--limit", type=int, default=None, help="only the first K rows of each split")
    p.add_argument("--workers", type=int, default=4, help="parallel downloads (default 4)")
    p.add_argument("--retries", type=int, default=3,
                   help="more tries of a network error or rate limit, with exponential backoff (default 3)")
    p.add_argument("--rate-limit", default=None,
                   help="bytes per second per download, e.g. 500K or 1M (yt-dlp's --limit-rate)")
    p.add_argument("--url-template", default=DEFAULT_URL_TEMPLATE,
                   help=f"URL of an id (default {DEFAULT_URL_TEMPLATE}; file:// URLs work too)")
    p.add_argument("--format", default=DEFAULT_FORMAT, help=f"yt-dlp format selector (default {DEFAULT_FORMAT!r})")
    p.add_argument("--cookies", default=None, help="a Netscape cookies file for yt-dlp (age-restricted videos)")
    p.add_argument("--retry-missing", action="store_true",
                   help="also retry the items missing.csv lists as private, removed, unavailable ...")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    cfg = load_experiment(a.config, a.overrides)
    from locomt.data.download import FetchOptions, fetch  # pandas: once the config is checked

    options = FetchOptions(
        splits=tuple(a.split) if a.split else None, limit=a.limit, workers=a.workers, retries=a.retries,
        rate_limit=parse_rate(a.rate_limit) if a.rate_limit is not None else None, url_template=a.url_template,
        format=a.format, cookies=a.cookies, retry_missing=a.retry_missing, progress=not a.no_progress)
    result = fetch(cfg.data, options)
    print(result.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
