"""``python -m locomt.flops``: parameters, GMACs and GFLOPs of every backbone at a preset.

Examples::

    python -m locomt.flops --preset audioset-vitb --pattern half --pattern all-cross
    python -m locomt.flops --preset medvidcl-vitb --csv results/flops/medvidcl.csv
    python -m locomt.flops --tokens v=1568,a=400 --pattern 8s+4va     # explicit token counts
    python -m locomt.flops --config experiments/synthetic-medvidcl.yaml   # the model a config trains

With ``--config`` the shapes come from the experiment config (data section and model section, with
``--set`` overrides); the class count from the dataset's metadata when it is there (else the
dataset's declared count), the text vocabulary at its cap ``data.text.vocab_size`` (this changes the
parameter count, not the MACs). The default patterns are then the presets and each cross view alone.
Under each table: the attention share of one joint fusion layer and the span of the LoCoMT rows.

Counts come from the analytic cost model (``locomt.cost``), for one example, forward pass.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from locomt.io import atomic_write_csv, run_cli
from locomt.modalities import ModalitySpec
from locomt.models import list_backbones
from locomt.models.config import ModelConfig
from locomt.pattern import PRESETS, view_names
from locomt.presets import get_preset, list_presets

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = [
    "preset", "backbone", "pattern_name", "pattern", "tokens", "params", "gmacs", "gflops", "attn_gmacs",
    "attn_share", "gflops_vs_joint", "tokenizer_gmacs", "projections_gmacs", "mlp_gmacs", "classifier_gmacs",
]


def parse_tokens(text: str, feature_dim: int) -> tuple[ModalitySpec, ...]:
    """``v=1568,a=400`` -> feature-sequence modalities with those content token counts."""
    mods = []
    for part in text.split(","):
        code, sep, count = part.partition("=")
        code = code.strip()
        if not sep or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"--tokens part {part!r}: expected CODE=COUNT with a positive count, e.g. v=1568,a=400")
        mods.append(ModalitySpec(code, code, "features", length=int(count), feature_dim=feature_dim))
    return tuple(mods)


def config_model(path: str, overrides: list[str]) -> tuple[ModelConfig, list[str]]:
    """The model an experiment config trains (shapes from its data and model sections), and notes on
    what was assumed (``locomt.ablation.model_without_data``; imported here, not at start-up: it
    brings in training)."""
    from locomt.experiment import load_experiment

    exp = load_experiment(path, overrides)
    from locomt.ablation import model_without_data

    mcfg, notes = model_without_data(exp)
    return mcfg.replace(backbone="locomt", pattern=exp.model.pattern), notes


def default_patterns(cfg: ModelConfig) -> list[str]:
    """The presets (without random) and every cross view on all heads (the cheapest patterns)."""
    return [p for p in PRESETS if ":" not in p] + [f"{cfg.n_heads}{v}" for v in view_names(
        tuple(m.code for m in cfg.modalities))[1:]]


def span_line(part: pd.DataFrame, share: float) -> str:
    loc = part[part.backbone == "locomt"]
    text = f"attention is {100 * share:.1f} % of a joint fusion layer's MACs"
    if len(loc):
        lo, hi = loc.gflops_vs_joint.min(), loc.gflops_vs_joint.max()
        text += f"; the LoCoMT rows span {lo:.3f}-{hi:.3f} of joint ({100 * (hi - lo):.1f} % of joint)"
    return text


def render(df: pd.DataFrame, console: Console, shares: dict[str, float] | None = None) -> None:
    """One rich table per preset (its token counts in the title, named patterns spelled out below)."""
    for preset, part in df.groupby("preset", sort=False):
        named = {r.pattern_name: r.pattern for r in part.itertuples() if r.pattern_name not in ("", r.pattern)}
        table = Table(title=f"{preset}: tokens {part.tokens.iloc[0]} (+1 CLS each), forward, 1 example",
                      title_justify="left", caption="\n".join(f"{k} = {v}" for k, v in named.items()) or None,
                      caption_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("backbone", no_wrap=True)
        table.add_column("pattern", min_width=12, overflow="fold")
        for col in ("params M", "GFLOPs", "attn GFLOPs", "attn %", "x joint"):
            table.add_column(col, justify="right", no_wrap=True)
        for r in part.itertuples():
            table.add_row(r.backbone, r.pattern_name or r.pattern, f"{r.params / 1e6:.1f}", f"{r.gflops:.2f}",
                          f"{2 * r.attn_gmacs:.2f}", f"{100 * r.attn_share:.1f}",
                          f"{r.gflops_vs_joint:.3f}")
        console.print(table)
        if shares and preset in shares:
            console.print(span_line(part, shares[preset]))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.flops", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", action="append", help=f"model preset (repeatable): {', '.join(list_presets())}; "
                   "default audioset-vitb")
    p.add_argument("--config", action="append", default=[],
                   help="experiment YAML (repeatable): the model it trains, instead of a preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override of the --config files (repeatable), e.g. --set model.fusion_layer=1")
    p.add_argument("--pattern", action="append",
                   help=f"locomt view pattern (repeatable): a spec such as 8s+4va or a preset ({', '.join(PRESETS)}); "
                   "default half")
    p.add_argument("--backbone", action="append", help=f"backbones to list (repeatable); default all: "
                   f"{', '.join(list_backbones())}")
    p.add_argument("--tokens", help="explicit content token counts per modality code, e.g. v=1568,a=400: "
                   "modalities become precomputed feature sequences (linear projection) on the preset's shape")
    p.add_argument("--feature-dim", type=int, help="input width of --tokens features (default: the model width)")
    for flag, field in [("--layers", "n_layers"), ("--heads", "n_heads"), ("--width", "d_model"),
                        ("--fusion-layer", "fusion_layer"), ("--bottlenecks", "n_bottlenecks"),
                        ("--classes", "n_classes")]:
        p.add_argument(flag, type=int, dest=field, help=f"override the preset's {field}")
    p.add_argument("--csv", help="also write the table as CSV to this path (atomically)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.overrides and not args.config:
        raise ValueError("--set changes a --config file; expected --config PATH with it")
    models = [(name, get_preset(name)) for name in args.preset or ([] if args.config else ["audioset-vitb"])]
    notes = []
    for path in args.config:
        mcfg, assumed = config_model(path, args.overrides)
        models.append((path, mcfg))
        notes += assumed
    backbones = args.backbone or list_backbones()
    for b in backbones:
        if b not in list_backbones():
            raise ValueError(f"unknown backbone {b!r}; expected one of {', '.join(list_backbones())}")
    overrides = {k: getattr(args, k) for k in ("n_layers", "n_heads", "d_model", "fusion_layer", "n_bottlenecks",
                                                "n_classes") if getattr(args, k) is not None}
    import pandas as pd  # torch and pandas: once the arguments are checked

    from locomt.cost import cost_rows, fusion_attention_share

    rows, shares = [], {}
    for preset, cfg in models:
        if args.tokens:
            mods = parse_tokens(args.tokens, args.feature_dim or overrides.get("d_model", cfg.d_model))
            cfg, preset = cfg.replace(modalities=mods), f"{preset}+tokens"
        cfg = cfg.replace(**overrides) if overrides else cfg
        patterns = args.pattern or (default_patterns(cfg) if args.config else ["half"])
        for name in patterns:  # fail on a bad pattern before printing anything
            cfg.replace(pattern=name).resolved_pattern()
        rows += [{"preset": preset, **row} for row in cost_rows(cfg, backbones, patterns)]
        shares[preset] = fusion_attention_share(cfg)
    df = pd.DataFrame(rows, columns=COLUMNS)
    console = Console()
    render(df, console, shares)
    for note in notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if args.csv:
        atomic_write_csv(df, args.csv)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
