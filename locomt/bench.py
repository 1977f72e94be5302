"""``python -m locomt.bench``: wall-clock time of one fusion layer and of the whole model.

For every backbone (locomt at each ``--pattern``) at paper-scale presets, batch 1 and 4, forward
(eval, no grad) and forward+backward (train): median of ``--repeats`` timed runs after
``--warmup`` untimed ones, interleaved round-robin over the backbones so that drift in machine
load hits them alike. Each row carries the FLOPs torch counts for exactly
what was timed (forward or forward+backward, counted on the meta device), ``time_vs_joint``
and ``flops_vs_joint`` against joint in the same run, ``saving_realised`` =
(1 - time_vs_joint) / (1 - flops_vs_joint), and, at layer scope, ``time_vs_torch_layer``
against ``torch.nn.TransformerEncoderLayer`` of joint's shape (the faster of its fast path and
its regular path for forward).

Examples::

    python -m locomt.bench --scope layer --csv results/bench/layer.csv
    python -m locomt.bench --preset audioset-tiny --scope model --batch 2 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from locomt.io import atomic_write_csv, run_cli
from locomt.models import list_backbones, reference_backbone, takes_pattern
from locomt.presets import get_preset, list_presets

if TYPE_CHECKING:
    import pandas as pd

def render(df: pd.DataFrame, console: Console) -> None:
    import pandas as pd

    from locomt.timing import TORCH_LAYER

    for (preset, device, scope, batch), part in df.groupby(["preset", "device", "scope", "batch"], sort=False):
        table = Table(title=f"{preset}, {scope}, batch {batch}, {device} ({part.threads.iloc[0]} threads)",
                      title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("backbone", "pattern", "mode"):
            table.add_column(col, no_wrap=True)
        for col in ("seconds", "GFLOPs", "t/joint", "f/joint", "realised", "t/torch"):
            table.add_column(col, justify="right", no_wrap=True)
        for r in part.itertuples():
            table.add_row(r.backbone.replace(TORCH_LAYER, "torch layer"), r.pattern_name,
                          {"forward": "fwd", "forward+backward": "fwd+bwd"}[r.mode], f"{r.seconds:.4g}",
                          f"{r.gflops:.4g}", f"{r.time_vs_joint:.3f}", f"{r.flops_vs_joint:.3f}",
                          "" if pd.isna(r.saving_realised) else f"{r.saving_realised:.0%}",
                          "" if pd.isna(r.time_vs_torch_layer) else f"{r.time_vs_torch_layer:.3f}")
        console.print(table)
    console.print("realised = (1 - t/joint) / (1 - f/joint): the share of the FLOP saving that shows in time")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.bench", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", action="append", help=f"repeatable; default audioset-vitb and medvidcl-vitb; "
                   f"choices: {', '.join(list_presets())}")
    p.add_argument("--scope", action="append", choices=["layer", "model"], help="repeatable; default both")
    p.add_argument("--batch", action="append", type=int, help="repeatable; default 1 and 4")
    p.add_argument("--mode", action="append", help="forward or forward+backward (repeatable); default both")
    p.add_argument("--backbone", action="append", help="repeatable; default every registered backbone")
    p.add_argument("--pattern", action="append", help="locomt patterns, repeatable; default half and all-cross")
    p.add_argument("--device", action="append", help="repeatable; default cpu, and cuda when available")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before timing (default 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs; the median is reported (default 5)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--csv", help="write the rows as CSV here (rewritten atomically after every group)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    presets = args.preset or ["audioset-vitb", "medvidcl-vitb"]
    scopes, batches, modes = args.scope or ["layer", "model"], args.batch or [1, 4], args.mode
    backbones = args.backbone or list_backbones()
    if reference_backbone() not in backbones:
        backbones = [reference_backbone()] + backbones  # the backbone every ratio is taken against
    patterns = args.pattern or ["half", "all-cross"]
    if args.repeats < 1 or args.warmup < 0:
        raise ValueError(f"--repeats must be >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}")
    configs = {}
    for preset in presets:
        base = get_preset(preset)
        configs[preset] = [base.replace(backbone=b, pattern=p) for b in backbones
                           for p in (patterns if takes_pattern(b) else [base.pattern])]
        for cfg in configs[preset]:
            cfg.resolved_pattern()  # fail on a bad pattern before any timing
    import pandas as pd  # torch: once the arguments are checked
    import torch

    from locomt.timing import MODES, bench_rows, layer_case, model_case, time_cases, torch_layer_case

    modes = modes or list(MODES)
    for m in modes:
        if m not in MODES:
            raise ValueError(f"--mode {m!r}: expected one of {', '.join(MODES)}")
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console()
    rows: list[dict] = []
    with Progress(console=console, transient=True) as progress:
        for device_name in devices:
            device = torch.device(device_name)
            for preset in presets:
                for scope in scopes:
                    for batch in batches:
                        make = layer_case if scope == "layer" else model_case
                        cases = [make(cfg, batch) for cfg in configs[preset]]
                        if scope == "layer":
                            cases.append(torch_layer_case(configs[preset][0], batch))
                        time_cases(cases, modes, device, args.warmup, args.repeats, progress=progress,
                                   label=f"{device_name} {preset} {scope} batch {batch}")
                        group = bench_rows(preset, scope, batch, cases, modes, device, args.repeats)
                        rows += group
                        render(pd.DataFrame(group), console)
                        if args.csv:
                            atomic_write_csv(pd.DataFrame(rows), args.csv)
    if args.csv:
        console.print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
