"""Synthetic AudioSet/MedVidCL-layout datasets: real H.264+AAC mp4 clips whose labels need fusion.

``python -m locomt.synth --layout {audioset,medvidcl} --out DIR --n N --seed S`` writes a synthetic
dataset with :func:`locomt.data.synthetic.layout.generate` (the files and their layout are described
there; the generative rule, what each clip shows and which labels it gets, in
:mod:`locomt.data.synthetic.rule`). Bad arguments exit with status 2 and one ``error:`` line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from locomt.data.synthetic.config import LAYOUTS, SynthConfig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m locomt.synth", description=__doc__.split("\n")[0])
    p.add_argument("--layout", choices=LAYOUTS, required=True, help="metadata format to write")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--n", type=int, default=None,
                   help="number of clips over all splits (default 300, or the sum of --splits)")
    p.add_argument("--splits", default=None, metavar="N,N[,N]",
                   help="clips per split (medvidcl: train,val,test; audioset: balanced_train,eval); default: "
                        "70/15/15 %% (medvidcl) or 80/20 %% (audioset) of --n")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same dataset (default 0)")
    p.add_argument("--size", type=int, default=64, help="frame width and height in pixels (default 64)")
    p.add_argument("--fps", type=int, default=8, help="frames per second (default 8)")
    p.add_argument("--seconds", type=float, default=2.0, help="nominal clip length (default 2.0)")
    p.add_argument("--sample-rate", type=int, default=16000, help="audio sample rate in Hz (default 16000)")
    p.add_argument(
        "--overwrite", action="store_true", help="rewrite every clip even if the folder holds another config"
    )
    p.add_argument("--no-audio", type=float, default=0.0, help="share of clips written without audio (default 0)")
    p.add_argument("--no-video", type=float, default=0.0, help="share of clips written without video (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    try:
        splits = None
        if a.splits is not None:
            try:
                splits = tuple(int(c) for c in a.splits.split(","))
            except ValueError:
                raise ValueError(f"--splits={a.splits}: expected clip counts separated by commas, e.g. 840,600,600")
        n = a.n if a.n is not None else sum(splits) if splits else 300
        cfg = SynthConfig(a.layout, n, a.seed, a.size, a.fps, a.seconds, a.sample_rate, no_audio=a.no_audio,
                          no_video=a.no_video, splits=splits)
        from locomt.data.synthetic.layout import generate  # the renderers: once the parameters are checked

        items = generate(a.out, cfg, progress=not a.no_progress, overwrite=a.overwrite)
    except ValueError as e:
        p.error(str(e))
    print(f"wrote {len(items)} {a.layout}-layout clips and metadata to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
