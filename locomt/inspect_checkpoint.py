"""``python -m locomt.inspect_checkpoint``: what a pretrained ViT checkpoint would set in a model.

Examples::

    python -m locomt.inspect_checkpoint checkpoints/vit-b16-in21k/model.safetensors --config experiments/audioset.yaml
    python -m locomt.inspect_checkpoint vit.pth --config experiments/medvidcl.yaml --backbone bottleneck
    python -m locomt.inspect_checkpoint --config experiments/audioset.yaml --set model.init_from=vit.pth

Builds the config's model (class count from the dataset's metadata, as
``locomt.data.datasets.classes_without_data`` reads it; vocabulary size ``data.text.vocab_size``),
loads the checkpoint into it with ``model.init_video`` and prints the full load report (loaded,
adapted and how, missing, unexpected). Nothing is trained or saved.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from locomt.config import DataConfig, model_config
from locomt.data.datasets import classes_without_data
from locomt.experiment import load_experiment
from locomt.io import run_cli
from locomt.models import list_backbones


def head_classes(data: DataConfig) -> int:
    """The class count the model is built with. The head is never loaded, so it changes nothing in the
    report: where the metadata cannot tell (an unknown dataset, a manifest not written yet), 2 does."""
    try:
        return classes_without_data(data)[0]
    except (ValueError, FileNotFoundError):
        return 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.inspect_checkpoint", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", nargs="?", help="a ViT .safetensors/.pth/.pt/.bin file, or a folder holding "
                   "model.safetensors or pytorch_model.bin (default: the config's model.init_from)")
    p.add_argument("--config", help="experiment YAML (default: the built-in defaults)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted config override (repeatable), e.g. model.init_video=average")
    p.add_argument("--backbone", help=f"the backbone to load into: {', '.join(list_backbones())}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = list(args.set) + ([f"model.backbone={args.backbone}"] if args.backbone else [])
    cfg = load_experiment(args.config, overrides)
    path = args.path or cfg.model.init_from
    if not path:
        raise ValueError("no checkpoint: give PATH or set model.init_from in the config")
    from locomt.models import build_model  # torch: once the arguments and config are checked
    from locomt.models.pretrained import load_pretrained, read_checkpoint

    ckpt = read_checkpoint(path)  # a bad path fails before the model is built
    mcfg = model_config(cfg, n_classes=head_classes(cfg.data), vocab_size=cfg.data.text.vocab_size)
    report = load_pretrained(build_model(mcfg), ckpt, video_init=cfg.model.init_video)
    console = Console()
    if not console.is_terminal:  # piped or captured: do not fold the long names into 80 columns
        console = Console(width=160)
    console.print(report.table())
    console.print(f"model: {mcfg.backbone}, {' '.join(f'{m.code}={m.n_tokens}' for m in mcfg.modalities)} tokens, "
                  f"d_model {mcfg.d_model}, {mcfg.n_layers} layers; video init {cfg.model.init_video}",
                  highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
