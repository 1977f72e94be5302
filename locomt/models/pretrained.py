"""Start a multimodal classifier from a local pretrained ViT checkpoint (timm or Hugging Face naming).

``load_pretrained(model, "checkpoints/vit-b16-in21k/model.safetensors")`` loads one ViT into
*every* modality's encoder, as MBT does:

- transformer layer N of the checkpoint -> layer N of the backbone: copied into each
  per-modality block (unimodal, late and bottleneck layers) or once into the fused block (joint,
  early, locomt; views change no weights). Hugging Face's separate query/key/value become
  locomt's fused ``qkv`` (rows q, k, v, as timm's ``attn.qkv``).
- video: the 2-D patch embedding is inflated to the tubelet Conv3d, ``central`` (the kernel in
  the central frame t // 2, zeros elsewhere; ViViT/MBT's default) or ``average`` (repeated over
  the t frames and divided by t). Input channels must match.
- audio: the RGB kernel averaged over its input channels (mean, so a spectrogram in all three
  channels gives the RGB response / 3; AST's code sums instead, a factor 3 the next norm absorbs).
- positions: the checkpoint's patch grid (e.g. 14x14) is resampled bicubically (antialiased, as
  timm's ``resample_abs_pos_embed``) to each modality's grid: video's spatial grid, tiled over its
  temporal token axis (ViViT/MBT); audio's frequency x time patch grid. The CLS token and CLS
  position come from the checkpoint for every modality.
- text and feature modalities get the blocks, CLS token and final norm; their embedding table or
  projection and their 1-D positions have no counterpart and stay as initialised.
- the final norm goes to every modality's norm; the classifier head is not loaded (a new task);
  bottleneck tokens stay as initialised.

Nothing is downloaded: the checkpoint is a local ``.safetensors`` or ``.pth``/``.pt``/``.bin``
file (or a folder holding ``model.safetensors``/``pytorch_model.bin``). A tensor whose shape cannot
be adapted is a ``ValueError`` naming the key and both shapes. The ``LoadReport`` says what was
loaded, adapted (and how), missing and unexpected.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from locomt.models.backbones import Block
from locomt.models.checkpoints import BLOCK_PARTS, Checkpoint, Source, canonical_tensors, read_checkpoint
from locomt.models.load_report import Entry, LoadReport
from locomt.models.model import MultimodalClassifier

VIDEO_INITS = ("central", "average")


def resample_grid(grid: Tensor, size: tuple[int, int]) -> Tensor:
    """Positional embeddings on a (gh, gw, d) grid -> (h, w, d): bicubic, antialiased (as timm's
    ``resample_abs_pos_embed``); the same grid comes back unchanged."""
    if tuple(grid.shape[:2]) == tuple(size):
        return grid
    x = grid.permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=tuple(size), mode="bicubic", align_corners=False, antialias=True)
    return x[0].permute(1, 2, 0).to(grid.dtype)


def inflate_patch_embed(weight: Tensor, frames: int, mode: str = "central") -> Tensor:
    """2-D kernel (d, C, p, p) -> tubelet kernel (d, C, frames, p, p): ``central`` puts it in frame
    ``frames // 2`` (zeros elsewhere), ``average`` repeats it over the frames divided by ``frames``.
    Either way a video constant over time gives the 2-D response."""
    if mode not in VIDEO_INITS:
        raise ValueError(f"video init {mode!r}; expected one of {', '.join(VIDEO_INITS)}")
    if mode == "average":
        return weight.unsqueeze(2).repeat(1, 1, frames, 1, 1) / frames
    out = weight.new_zeros(weight.shape[0], weight.shape[1], frames, *weight.shape[2:])
    out[:, :, frames // 2] = weight
    return out


def _shape_error(source: Source, target: str, expected: str, why: str = "") -> ValueError:
    return ValueError(f"checkpoint key {source.label!r} has shape {tuple(source.value.shape)} but {target} needs "
                      f"{expected}" + (f" ({why})" if why else ""))


def _grid_of_pos(source: Source, d: int) -> tuple[Tensor | None, Tensor]:
    """pos_embed (1, [1 +] g*g, d) -> (CLS position or None, (g, g, d) grid)."""
    pos = source.value
    if pos.dim() == 2:
        pos = pos[None]
    n = pos.shape[1]
    if pos.dim() != 3 or pos.shape[0] != 1 or pos.shape[2] != d:
        raise _shape_error(source, "every tokenizer's positions", f"(1, 1 + N, {d})",
                           "width must equal model.d_model")
    for has_cls in (True, False):
        g = round((n - has_cls) ** 0.5)
        if g * g == n - has_cls and g > 0:
            cls = pos[0, :1] if has_cls else None
            return cls, pos[0, int(has_cls):].reshape(g, g, d)
    raise ValueError(f"checkpoint key {source.label!r} has shape {tuple(source.value.shape)}: "
                     f"{n} positions are not a square patch grid (with or without a CLS position)")


def load_pretrained(model: MultimodalClassifier, path: str | Path | Checkpoint,
                    video_init: str = "central") -> LoadReport:
    """Load a local ViT checkpoint into every modality's encoder of ``model`` (see the module doc).
    Nothing is changed unless every tensor fits; returns the ``LoadReport``."""
    if video_init not in VIDEO_INITS:
        raise ValueError(f"video init {video_init!r}; expected one of {', '.join(VIDEO_INITS)}")
    ckpt = path if isinstance(path, Checkpoint) else read_checkpoint(path)
    naming, src, unused = canonical_tensors(ckpt.tensors)
    cfg = model.cfg
    d = cfg.d_model
    names = {id(p): n for n, p in model.named_parameters()}
    ckpt_layers = 1 + max((int(k.split(".")[1]) for k in src if k.startswith("blocks.")), default=-1)
    report = LoadReport(ckpt.path, naming, ckpt_layers, len(model.backbone.layers))
    plan: list[tuple[nn.Parameter, Tensor]] = []
    used: set[str] = set()

    def take(key: str, params: list[nn.Parameter], value: Tensor | None = None, how: str = "") -> None:
        s = src[key]
        value = s.value if value is None else value
        for p in params:
            if tuple(value.shape) != tuple(p.shape):
                got = f"shape {tuple(s.value.shape)}" + (f" (adapted: {tuple(value.shape)})" if how else "")
                raise ValueError(f"checkpoint key {s.label!r} has {got} but model parameter {names[id(p)]!r} "
                                 f"needs {tuple(p.shape)}")
            plan.append((p, value))
        used.add(key)
        (report.adapted if how else report.loaded).append(Entry(tuple(names[id(p)] for p in params), s.label, how))

    def check_heads() -> None:
        heads = (ckpt.config or {}).get("num_attention_heads")
        if isinstance(heads, int) and heads != cfg.n_heads:
            raise ValueError(f"checkpoint {ckpt.path!r}: its config.json has num_attention_heads={heads}, the model "
                             f"n_heads={cfg.n_heads}; the weights fit but the heads would be split differently")
        act, eps = (ckpt.config or {}).get("hidden_act"), (ckpt.config or {}).get("layer_norm_eps")
        if isinstance(act, str) and act != "gelu":
            report.notes.append(f"checkpoint activation {act!r}; locomt's MLP uses exact GELU")
        if isinstance(eps, float) and eps != 1e-6:
            report.notes.append(f"checkpoint LayerNorm eps {eps:g}; locomt's is 1e-6")

    check_heads()
    # tokenizers: CLS token (every modality), patch embeddings and positions (video, audio)
    if "cls_token" in src:
        cls = src["cls_token"].value
        if tuple(cls.shape) != (1, 1, d):
            raise _shape_error(src["cls_token"], "every tokenizer's CLS token", str((1, 1, d)),
                               "width must equal model.d_model")
        take("cls_token", [t.cls for t in model.tokenizers.values()])
    pos_cls, grid = _grid_of_pos(src["pos_embed"], d) if "pos_embed" in src else (None, None)
    patch = src.get("patch_embed.weight")
    for name, tok in model.tokenizers.items():
        spec = tok.spec
        if spec.kind not in ("video", "audio"):
            continue
        p = spec.patch_size
        if patch is not None:
            w = patch.value
            in_ch = spec.channels if spec.kind == "video" else w.shape[1] if w.dim() == 4 else 3
            if w.dim() != 4 or tuple(w.shape) != (d, in_ch, p, p):
                raise _shape_error(patch, f"tokenizer {name!r}", str((d, in_ch, p, p)),
                                   "d_model, input channels, patch, patch")
            if spec.kind == "video":
                t = spec.tubelet
                how = f"inflated {video_init} (t={t})" if t > 1 else "inflated (t=1)"
                take("patch_embed.weight", [tok.embed.weight], inflate_patch_embed(w, t, video_init), how)
            else:
                take("patch_embed.weight", [tok.embed.weight], w.mean(1, keepdim=True), f"channel mean ({in_ch}->1)")
        if "patch_embed.bias" in src:
            take("patch_embed.bias", [tok.embed.bias])
        if grid is not None:
            if spec.kind == "video":
                g = spec.image_size // p
                size, steps = (g, g), spec.frames // spec.tubelet
            else:
                size, steps = (spec.n_mels // p, spec.n_frames // p), 1
            new = resample_grid(grid, size).reshape(size[0] * size[1], d).repeat(steps, 1)
            how = (f"pos interpolated {grid.shape[0]}x{grid.shape[1]}->{size[0]}x{size[1]}"
                   if tuple(grid.shape[:2]) != size else f"pos {size[0]}x{size[1]} (same grid)")
            if steps > 1:
                how += f", tiled over {steps} time steps"
            cls_pos = pos_cls if pos_cls is not None else grid.new_zeros(1, d)
            if pos_cls is None:
                how += ", CLS position zeros (checkpoint has none)"
            take("pos_embed", [tok.pos], torch.cat([cls_pos, new])[None], how)
    # backbone: checkpoint layer N -> every block of layer N
    for n, layer in enumerate(model.backbone.layers):
        if n >= ckpt_layers:
            continue
        blocks = [m for m in layer.modules() if isinstance(m, Block)]
        targets = {"norm1": [b.norm1 for b in blocks], "qkv": [b.attn.qkv for b in blocks],
                   "proj": [b.attn.proj for b in blocks], "norm2": [b.norm2 for b in blocks],
                   "fc1": [b.mlp[0] for b in blocks], "fc2": [b.mlp[-1] for b in blocks]}
        for part in BLOCK_PARTS:
            for kind in ("weight", "bias"):
                key = f"blocks.{n}.{part}.{kind}"
                if key in src:
                    take(key, [getattr(m, kind) for m in targets[part]])
    for kind in ("weight", "bias"):
        if f"norm.{kind}" in src:
            take(f"norm.{kind}", [getattr(m, kind) for m in model.norms.values()])
    # apply only now: a shape error above leaves the model untouched
    with torch.no_grad():
        for p, value in plan:
            p.copy_(value.to(dtype=p.dtype, device=p.device))
    _explain(report, model, {id(p) for p, _ in plan}, names, ckpt_layers)
    for key, s in src.items():
        if key not in used:
            unused += list(s.keys)
    if any(re.search(r"\.(ls[12]|q_norm|k_norm|norm3)\.", k) for k in unused):
        report.notes.append("the checkpoint's blocks have LayerScale or extra norms that locomt's blocks lack: "
                            "the loaded blocks compute a different function")
    for key in unused:
        report.unexpected.append(Entry((), key, _why_unexpected(key, naming, len(model.backbone.layers))))
    return report


def _explain(report: LoadReport, model: MultimodalClassifier, done: set[int], names: dict[int, str],
             ckpt_layers: int) -> None:
    """Missing entries with a reason for every parameter that was not set."""
    kinds = {n: t.spec.kind for n, t in model.tokenizers.items()}
    for pname, p in model.named_parameters():
        if id(p) in done:
            continue
        parts = pname.split(".")
        if parts[0] == "head":
            why = "classifier head: a new task, trained from scratch"
        elif pname == "backbone.bottleneck_tokens":
            why = "bottleneck tokens: no ViT counterpart"
        elif parts[0] == "tokenizers" and parts[2] == "embed":
            why = {"text": "text embedding table: no ViT counterpart",
                   "features": "feature projection: no ViT counterpart"}.get(kinds[parts[1]], "no counterpart")
        elif parts[0] == "tokenizers" and parts[2] == "pos":
            why = "1-D positions: no counterpart to the 2-D patch grid"
        elif parts[:2] == ["backbone", "layers"] and int(parts[2]) >= ckpt_layers:
            why = f"layer {parts[2]}: the checkpoint has {ckpt_layers} layers"
        else:
            why = "not in the checkpoint"
        report.missing.append(Entry((pname,), "", why))


def _why_unexpected(key: str, naming: str, model_layers: int) -> str:
    m = re.search(r"(?:blocks|encoder\.layer|layers)\.(\d+)\.", key)
    if m and int(m.group(1)) >= model_layers:
        return f"layer {m.group(1)}: the model has {model_layers} layers"
    if re.search(r"(^|\.)(head|classifier|pooler|fc_norm)\.", key):
        return "classifier/pooler of the pretraining task"
    return "no counterpart in the model"
