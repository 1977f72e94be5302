"""Reading a local ViT checkpoint: its file (``.safetensors``, ``.pth``/``.pt``/``.bin``, or a folder
holding one) and its naming (timm or Hugging Face), mapped to canonical timm-like names
(``cls_token``, ``pos_embed``, ``patch_embed.{weight,bias}``, ``norm.*``, ``blocks.N.<part>.*``;
Hugging Face's query/key/value concatenated into ``blocks.N.qkv``). Nothing is downloaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from locomt.io import unreadable_reason

SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
FOLDER_FILES = ("model.safetensors", "pytorch_model.bin")

# canonical (timm-like) names: cls_token, pos_embed, patch_embed.{weight,bias}, norm.*, blocks.N.<part>.*
BLOCK_PARTS = ("norm1", "qkv", "proj", "norm2", "fc1", "fc2")
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
        raise ValueError(f"checkpoint {str(p)!r} {unreadable_reason(p, err)}") from None
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


def compact_names(names: tuple[str, ...] | list[str]) -> str:
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
class Source:
    value: Tensor
    keys: tuple[str, ...]

    @property
    def label(self) -> str:
        return compact_names(self.keys)


def _detect(keys: list[str]) -> tuple[str, str]:
    """(naming, prefix) of a checkpoint, from the key of its patch embedding."""
    for naming, (marker, *_rest) in _NAMINGS.items():
        hits = sorted((k for k in keys if k == marker or k.endswith("." + marker)), key=len)
        if hits:
            return naming, hits[0][: len(hits[0]) - len(marker)]
    raise ValueError("checkpoint has neither timm ViT keys (patch_embed.proj.weight, blocks.N.attn.qkv...) nor "
                     "Hugging Face ViTModel keys (embeddings.patch_embeddings.projection.weight, encoder.layer.N...); "
                     f"its first keys: {', '.join(keys[:5])}")


def canonical_tensors(tensors: Mapping[str, Tensor]) -> tuple[str, dict[str, Source], list[str]]:
    """Checkpoint tensors -> (naming, canonical name -> source, unused keys). Hugging Face's
    query/key/value are concatenated into ``blocks.N.qkv`` (rows q, k, v)."""
    keys = list(tensors)
    naming, prefix = _detect(keys)
    _, block_re, global_map, block_map = _NAMINGS[naming]
    block_pattern = re.compile(block_re)
    out: dict[str, Source] = {}
    qkv_parts: dict[tuple[int, str], dict[str, str]] = {}
    unused = []
    for key in keys:
        name = key[len(prefix):] if key.startswith(prefix) else None
        m = block_pattern.fullmatch(name) if name is not None else None
        if name is not None and name in global_map:
            out[global_map[name]] = Source(tensors[key], (key,))
        elif m and m.group(2) in block_map:
            n, part, kind = int(m.group(1)), block_map[m.group(2)], m.group(3)
            if part in ("q", "k", "v"):
                qkv_parts.setdefault((n, kind), {})[part] = key
            else:
                out[f"blocks.{n}.{part}.{kind}"] = Source(tensors[key], (key,))
        else:
            unused.append(key)
    for (n, kind), parts in sorted(qkv_parts.items()):
        if set(parts) == {"q", "k", "v"}:
            ks = tuple(parts[p] for p in ("q", "k", "v"))
            shapes = {tuple(tensors[k].shape) for k in ks}
            if len(shapes) > 1:
                raise ValueError(f"checkpoint keys {compact_names(ks)} have different shapes "
                                 f"{[tuple(tensors[k].shape) for k in ks]}; expected three equal ones")
            out[f"blocks.{n}.qkv.{kind}"] = Source(torch.cat([tensors[k] for k in ks]), ks)
        else:
            unused += list(parts.values())
    return naming, out, unused
