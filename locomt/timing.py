"""Timing models and layers: what to time (a ``Case``), interleaved repeated timing, counted FLOPs.

``forward_latency_ms(cfg)`` is the median forward time of a fresh model (what a sweep records per
trial); ``layer_case``/``model_case``/``torch_layer_case`` and ``time_cases`` are what
``python -m locomt.bench`` times: runs interleaved round-robin over the cases, so that drift in
machine load hits them alike; ``counted_flops`` counts on the meta device exactly what was timed.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from rich.progress import Progress
from torch import Tensor, nn

from locomt.cost import flop_counter
from locomt.models import ModelConfig, build_model, example_inputs, get_backbone, reference_backbone, takes_pattern
from locomt.models.attention import concat_masks
from locomt.models.backbones import build_layer

MODES = ("forward", "forward+backward")
TORCH_LAYER = "torch-encoder-layer"


@dataclass
class Case:
    """One thing to time: a module and a function that runs it once in a given mode."""

    backbone: str
    pattern_name: str
    pattern: str
    make: Callable[[torch.device], tuple[nn.Module, Callable[[nn.Module, str], None]]]
    times: dict[str, list[float]] = field(default_factory=dict)


def _layer_inputs(cfg: ModelConfig, batch: int, device, requires_grad: bool) -> tuple[list[Tensor], list]:
    """Token streams (made once, outside the timed region) and the text padding masks."""
    g = torch.Generator().manual_seed(0)
    xs, masks = [], []
    for m in cfg.modalities:
        xs.append(torch.randn(batch, m.seq_len, cfg.d_model, generator=g).to(device).requires_grad_(requires_grad))
        mask = None
        if m.kind == "text":  # a quarter of the text positions are padding, as in real batches
            mask = torch.zeros(batch, m.seq_len, dtype=torch.bool)
            mask[:, m.seq_len - m.seq_len // 4:] = True
            mask = mask.to(device)
        masks.append(mask)
    return xs, masks


def layer_case(cfg: ModelConfig, batch: int) -> Case:
    """The first fusion layer of ``cfg.backbone`` (for late, whose layers never fuse, the same index)."""
    index = min(cfg.fusion_layer, cfg.n_layers - 1)
    plan = get_backbone(cfg.backbone).plan(cfg)[index]

    def make(device):
        layer = build_layer(plan, cfg).to(device)
        xs, masks = _layer_inputs(cfg, batch, device, requires_grad=True)
        if plan.kind == "bottleneck":
            xs.append(torch.randn(batch, cfg.n_bottlenecks, cfg.d_model).to(device).requires_grad_(True))

        def run(module, mode):
            for x in xs:
                x.grad = None
            out = module(xs, masks)
            if mode != "forward":
                sum(o.sum() for o in out).backward()

        return layer, run

    pattern = cfg.pattern_spec
    return Case(cfg.backbone, cfg.pattern if takes_pattern(cfg.backbone) else "", pattern, make)


def torch_layer_case(cfg: ModelConfig, batch: int) -> Case:
    """torch.nn.TransformerEncoderLayer over the concatenated sequence, joint's fusion layer shape."""

    def make(device):
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, cfg.mlp_dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True, layer_norm_eps=1e-6).to(device)

        xs, masks = _layer_inputs(cfg, batch, device, requires_grad=True)
        pad = concat_masks(masks, [x.shape[1] for x in xs], xs[0])

        def run(module, mode):
            for x in xs:
                x.grad = None
            out = module(torch.cat(xs, dim=1), src_key_padding_mask=pad)  # as joint's layer concatenates
            if mode != "forward":
                out.sum().backward()

        return layer, run

    return Case(TORCH_LAYER, "", "", make)


def model_case(cfg: ModelConfig, batch: int) -> Case:
    def make(device):
        model = build_model(cfg).to(device)
        inputs = example_inputs(cfg, batch=batch, device=device)

        def run(module, mode):
            out = module(inputs)
            if mode != "forward":
                out.sum().backward()

        return model, run

    pattern = cfg.pattern_spec
    return Case(cfg.backbone, cfg.pattern if takes_pattern(cfg.backbone) else "", pattern, make)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _call(module: nn.Module, run, mode: str, device) -> float:
    module.train(mode != "forward")
    module.zero_grad(set_to_none=True)
    _sync(device)
    start = time.perf_counter()
    if mode == "forward":
        with torch.no_grad():
            run(module, mode)
    else:
        run(module, mode)
    _sync(device)
    return time.perf_counter() - start


def _time_forward_torch_layer(module: nn.Module, run, device) -> float:
    """The faster of TransformerEncoderLayer's eval fast path and its regular path, both without grad."""
    fast = _call(module, run, "forward", device)
    module.train(True)
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        run(module, "forward")
    _sync(device)
    return min(fast, time.perf_counter() - start)


def time_cases(cases: list[Case], modes: list[str], device: torch.device, warmup: int, repeats: int,
               progress: Progress | None = None, label: str = "") -> None:
    """Fill ``case.times[mode]`` with ``repeats`` timings each, after ``warmup`` untimed runs.

    Runs are interleaved round-robin over the cases, so that drift in machine load hits every
    case alike (all cases are built up front: at ViT-B scale, batch 4, about 13 GB on CPU)."""
    task = progress.add_task(label, total=len(cases) * len(modes) * (warmup + repeats)) if progress else None

    def one(case, module, run, mode):
        t = (_time_forward_torch_layer(module, run, device) if case.backbone == TORCH_LAYER and mode == "forward"
             else _call(module, run, mode, device))
        if progress:
            progress.advance(task)
        return t

    built = [c.make(device) for c in cases]
    for mode in modes:
        for case, (module, run) in zip(cases, built):
            for _ in range(warmup):
                one(case, module, run, mode)
        for _ in range(repeats):
            for case, (module, run) in zip(cases, built):
                case.times.setdefault(mode, []).append(one(case, module, run, mode))


def forward_latency_ms(cfg: ModelConfig, batch: int = 1, repeats: int = 10, warmup: int = 2,
                       device: torch.device | None = None) -> float:
    """Median wall time of one forward pass (eval mode, no grad) of a fresh model, in milliseconds."""
    case = model_case(cfg, batch)
    time_cases([case], ["forward"], device or torch.device("cpu"), warmup, repeats)
    return 1000.0 * statistics.median(case.times["forward"])


def counted_flops(case: Case, mode: str) -> int:
    """FLOPs torch executes for one run of ``case`` in ``mode``, counted on the meta device."""
    with torch.device("meta"):
        module, run = case.make(torch.device("meta"))
    module.train(mode != "forward")
    # forward is counted with grad enabled (same FLOPs): under no_grad on meta, a view of a parameter
    # claims requires_grad without a grad accumulator, which FlopCounterMode's module tracker rejects
    with flop_counter() as counter:
        run(module, mode)
    return counter.get_total_flops()


def bench_rows(preset: str, scope: str, batch: int, cases: list[Case], modes: list[str], device: torch.device,
               repeats: int) -> list[dict]:
    """One row per case and mode: median seconds, counted GFLOPs, and ratios against joint (and the
    torch layer) measured in the same run."""
    rows = []
    for mode in modes:
        flops = {id(c): counted_flops(c, mode) for c in cases}
        seconds = {id(c): statistics.median(c.times[mode]) for c in cases}
        joint = next(c for c in cases if c.backbone == reference_backbone())
        ref = next((c for c in cases if c.backbone == TORCH_LAYER), None)
        for c in cases:
            tvj, fvj = seconds[id(c)] / seconds[id(joint)], flops[id(c)] / flops[id(joint)]
            rows.append({
                "preset": preset, "device": str(device), "threads": torch.get_num_threads(), "scope": scope,
                "backbone": c.backbone, "pattern_name": c.pattern_name, "pattern": c.pattern, "batch": batch,
                "mode": mode, "seconds": seconds[id(c)], "seconds_min": min(c.times[mode]),
                "seconds_max": max(c.times[mode]), "repeats": repeats, "gflops": flops[id(c)] / 1e9,
                "time_vs_joint": tvj, "flops_vs_joint": fvj,
                # only where there is a saving to realise (bottleneck's 0.4% would give noise ratios)
                "saving_realised": (1 - tvj) / (1 - fvj) if fvj < 0.99 else float("nan"),
                "time_vs_torch_layer": seconds[id(c)] / seconds[id(ref)] if ref else float("nan"),
            })
    return rows


def machine_description() -> str:
    """What a timing or a committed result was measured on: CPU model, cores, OS, torch (and GPU)."""
    import os
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (f"{model} ({os.cpu_count()} cores{gpu}), {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}")
