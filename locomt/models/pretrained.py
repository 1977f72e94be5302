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

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from locomt.models.backbones import Block
from locomt.models.model import MultimodalClassifier

VIDEO_INITS = ("central", "average")
SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
FOLDER_FILES = ("model.safetensors", "pytorch_model.bin")

# canonical (timm-like) names: cls_token, pos_embed, patch_embed.{weight,bias}, norm.*, blocks.N.<part>.*
_BLOCK_PARTS = ("norm1", "qkv", "proj", "norm2", "fc1", "fc2")
_TIMM_GLOBAL = {"cls_token": "cls_token", "pos_embed": "pos_embed", "patch_embed.proj.weight": "patch_embed.weight",
                "patch_embed.proj.bias": "patch_embed.bias", "norm.weight": "norm.weight", "norm.bias": "norm.bias"}
_TIMM_BLOCK = {"norm1": "norm1", "attn.qkv": "qkv", "attn.proj": "proj", "norm2": "norm2", "mlp.fc1": "fc1",
               "mlp.fc2": "fc2"}
_HF_GLOBAL = {"embeddings.cls_token": "cls_token", "embeddings.position_embeddings": "pos_embed",
              "embeddings.patch_embeddings.projection.weight": "patch_embed.weight",
              "embeddings.patch_embeddings.projection.bias": "patch_embed.bias",
              "layernorm.weight": "norm.weight", "layernorm.bias": "norm.bias"}
# on-disk names (encoder.layer.N.*) and transformers 5's in-memory names (layers.N.*)
_HF_BLOCK = {"attention.attention.query": "q", "attention.attention.key": "k", "attention.attention.value": "v",
             "attention.q_proj": "q", "attention.k_proj": "k", "attention.v_proj": "v",
             "attention.output.dense": "proj", "attention.o_proj": "proj", "layernorm_before": "norm1",
             "layernorm_after": "norm2", "intermediate.dense": "fc1", "output.dense": "fc2", "mlp.fc1": "fc1",
             "mlp.fc2": "fc2"}
_NAMINGS = {"timm": ("patch_embed.proj.weight", r"blocks\.(\d+)\.(.+)\.(weight|bias)$", _TIMM_GLOBAL, _TIMM_BLOCK),
            "huggingface": ("embeddings.patch_embeddings.projection.weight",
                            r"(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)$", _HF_GLOBAL, _HF_BLOCK)}


@dataclass
class Checkpoint:
    """A checkpoint's tensors by their own key names, and the ``config.json`` beside it (if any)."""

    path: str
    tensors: dict[str, Tensor]
    config: dict | None = None


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a local checkpoint file (or a folder holding ``model.safetensors``/``pytorch_model.bin``).
    Weights wrapped under ``model`` or ``state_dict`` are unwrapped. Errors name the path."""
    p = Path(path)
    if p.is_dir():
        found = [p / f for f in FOLDER_FILES if (p / f).is_file()]
        if not found:
            raise FileNotFoundError(f"checkpoint folder {str(p)!r} holds none of {', '.join(FOLDER_FILES)}")
        p = found[0]
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint {str(p)!r} does not exist")
    if p.suffix not in SUFFIXES:
        raise ValueError(f"checkpoint {str(p)!r}: unknown file type {p.suffix!r}; expected one of {', '.join(SUFFIXES)}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(p), device="cpu")
        else:
            data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # safetensors' SafetensorError, pickle errors, truncated zip files, ...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(f"cannot read checkpoint {str(p)!r}: {type(err).__name__}: {first}") from None
    while isinstance(data, Mapping):
        inner = [k for k in ("model", "state_dict") if isinstance(data.get(k), Mapping)]
        if not inner:
            break
        data = data[inner[0]]
    if not isinstance(data, Mapping) or not data or not all(isinstance(v, Tensor) for v in data.values()):
        raise ValueError(f"checkpoint {str(p)!r} is not a mapping of names to tensors "
                         "(nor one wrapped under 'model' or 'state_dict')")
    config = None
    cfg_path = p.parent / "config.json"
    if cfg_path.is_file():
        try:
            config = json.loads(cfg_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            config = None
    return Checkpoint(str(p), dict(data), config if isinstance(config, dict) else None)


@dataclass(frozen=True)
class Entry:
    """One report row: the model parameters concerned, the checkpoint key(s), and how or why."""

    model: tuple[str, ...]
    checkpoint: str
    how: str = ""


@dataclass
class LoadReport:
    """What ``load_pretrained`` did. Counts are parameter tensors of the model (loaded, adapted,
    missing) and keys of the checkpoint (unexpected)."""

    path: str
    naming: str
    checkpoint_layers: int
    model_layers: int
    loaded: list[Entry] = field(default_factory=list)
    adapted: list[Entry] = field(default_factory=list)
    missing: list[Entry] = field(default_factory=list)
    unexpected: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    CATEGORIES = ("loaded", "adapted", "missing", "unexpected")

    def counts(self) -> dict[str, int]:
        out = {c: sum(len(e.model) for e in getattr(self, c)) for c in ("loaded", "adapted", "missing")}
        out["unexpected"] = len(self.unexpected)
        return out

    def header(self) -> str:
        return (f"init_from {self.path} ({self.naming} naming, {self.checkpoint_layers} layers "
                f"into {self.model_layers})")

    def summary(self) -> str:
        """A few lines: the source and one line per category (counts and the first names)."""
        c = self.counts()
        lines = [self.header()]
        lines.append(f"  loaded      {c['loaded']:4d} tensors copied")
        hows = sorted({e.how for e in self.adapted})
        lines.append(f"  adapted     {c['adapted']:4d} ({'; '.join(hows)})" if hows else "  adapted        0")
        for cat in ("missing", "unexpected"):
            names = [_compact(e.model) if cat == "missing" else e.checkpoint for e in getattr(self, cat)]
            shown = ", ".join(names[:4]) + (f", ... (+{len(names) - 4})" if len(names) > 4 else "")
            lines.append(f"  {cat:<11} {c[cat]:4d}" + (f" ({shown})" if names else ""))
        lines += [f"  note: {n}" for n in self.notes]
        lines.append("  (full report: python -m locomt.inspect_checkpoint)")
        return "\n".join(lines)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(category, model parameters, checkpoint key, how/why): one row per entry, except that the
        tensors of one transformer layer (same blocks, same checkpoint layer, same reason) share a row."""
        out: list[tuple[str, str, str, str]] = []
        for cat in self.CATEGORIES:
            groups: list[tuple[tuple[str, str, str], list[Entry]]] = []
            for e in getattr(self, cat):
                key = (_layer_prefix(_compact(e.model), _MODEL_LAYER), _layer_prefix(e.checkpoint, _CKPT_LAYER), e.how)
                if key[0] or key[1]:
                    if groups and groups[-1][0] == key:
                        groups[-1][1].append(e)
                        continue
                groups.append((key, [e]))
            for (model, ckpt, how), entries in groups:
                if len(entries) == 1:
                    e = entries[0]
                    out.append((cat, _compact(e.model), e.checkpoint, e.how))
                else:
                    copies = len(entries[0].model)
                    what = f"{len(entries)} tensors" + (f", each into {copies} blocks" if copies > 1 else "")
                    out.append((cat, model + ".*" if model else "", ckpt + ".*" if ckpt else "",
                                f"{how} ({what})" if how else what))
        return out

    def table(self):
        """The full report as a rich Table."""
        from rich import box
        from rich.table import Table

        c = self.counts()
        table = Table(title=self.header(), title_justify="left", box=box.SIMPLE_HEAD,
                      caption=" · ".join(f"{k} {v}" for k, v in c.items())
                      + "".join(f"\nnote: {n}" for n in self.notes), caption_justify="left")
        table.add_column("", no_wrap=True)
        for col in ("model parameter", "checkpoint key", "how / why"):
            table.add_column(col, overflow="fold", ratio=1)
        for row in self.rows():
            table.add_row(*row)
        return table

    def __str__(self) -> str:
        lines = [self.header()]
        for cat in self.CATEGORIES:
            lines.append(f"{cat} ({self.counts()[cat]}):")
            for e in getattr(self, cat):
                model = _compact(e.model)
                arrow = f"{model} <- {e.checkpoint}" if model and e.checkpoint else model or e.checkpoint
                lines.append(f"  {arrow}" + (f"  [{e.how}]" if e.how else ""))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


_MODEL_LAYER = re.compile(r"^backbone\.layers\.\d+(?=\.)")
_CKPT_LAYER = re.compile(r"^(?:.*\.)?(?:blocks|encoder\.layer|layers)\.\d+(?=\.)")


def _layer_prefix(name: str, pattern: re.Pattern) -> str:
    m = pattern.match(name)
    return m.group(0) if m else ""


def _compact(names: tuple[str, ...] | list[str]) -> str:
    """``a.0.b``, ``a.1.b`` -> ``a.{0,1}.b`` when the names differ in one dotted part only."""
    names = list(names)
    if len(names) <= 1:
        return names[0] if names else ""
    parts = [n.split(".") for n in names]
    if len({len(p) for p in parts}) == 1:
        diff = [i for i in range(len(parts[0])) if len({p[i] for p in parts}) > 1]
        if len(diff) == 1:
            i = diff[0]
            return ".".join(parts[0][:i] + ["{" + ",".join(p[i] for p in parts) + "}"] + parts[0][i + 1:])
    return ", ".join(names)


@dataclass
class _Source:
    value: Tensor
    keys: tuple[str, ...]

    @property
    def label(self) -> str:
        return _compact(self.keys)


def _detect(keys: list[str]) -> tuple[str, str]:
    """(naming, prefix) of a checkpoint, from the key of its patch embedding."""
    for naming, (marker, *_rest) in _NAMINGS.items():
        hits = sorted((k for k in keys if k == marker or k.endswith("." + marker)), key=len)
        if hits:
            return naming, hits[0][: len(hits[0]) - len(marker)]
    raise ValueError("checkpoint has neither timm ViT keys (patch_embed.proj.weight, blocks.N.attn.qkv...) nor "
                     "Hugging Face ViTModel keys (embeddings.patch_embeddings.projection.weight, encoder.layer.N...); "
                     f"its first keys: {', '.join(keys[:5])}")


def canonical_tensors(tensors: Mapping[str, Tensor]) -> tuple[str, dict[str, _Source], list[str]]:
    """Checkpoint tensors -> (naming, canonical name -> source, unused keys). Hugging Face's
    query/key/value are concatenated into ``blocks.N.qkv`` (rows q, k, v)."""
    keys = list(tensors)
    naming, prefix = _detect(keys)
    _, block_re, global_map, block_map = _NAMINGS[naming]
    block_pattern = re.compile(block_re)
    out: dict[str, _Source] = {}
    qkv_parts: dict[tuple[int, str], dict[str, str]] = {}
    unused = []
    for key in keys:
        name = key[len(prefix):] if key.startswith(prefix) else None
        m = block_pattern.fullmatch(name) if name is not None else None
        if name is not None and name in global_map:
            out[global_map[name]] = _Source(tensors[key], (key,))
        elif m and m.group(2) in block_map:
            n, part, kind = int(m.group(1)), block_map[m.group(2)], m.group(3)
            if part in ("q", "k", "v"):
                qkv_parts.setdefault((n, kind), {})[part] = key
            else:
                out[f"blocks.{n}.{part}.{kind}"] = _Source(tensors[key], (key,))
        else:
            unused.append(key)
    for (n, kind), parts in sorted(qkv_parts.items()):
        if set(parts) == {"q", "k", "v"}:
            ks = tuple(parts[p] for p in ("q", "k", "v"))
            shapes = {tuple(tensors[k].shape) for k in ks}
            if len(shapes) > 1:
                raise ValueError(f"checkpoint keys {_compact(ks)} have different shapes "
                                 f"{[tuple(tensors[k].shape) for k in ks]}; expected three equal ones")
            out[f"blocks.{n}.qkv.{kind}"] = _Source(torch.cat([tensors[k] for k in ks]), ks)
        else:
            unused += list(parts.values())
    return naming, out, unused


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


def _shape_error(source: _Source, target: str, expected: str, why: str = "") -> ValueError:
    return ValueError(f"checkpoint key {source.label!r} has shape {tuple(source.value.shape)} but {target} needs "
                      f"{expected}" + (f" ({why})" if why else ""))


def _grid_of_pos(source: _Source, d: int) -> tuple[Tensor | None, Tensor]:
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
        for part in _BLOCK_PARTS:
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
