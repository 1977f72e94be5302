"""Missing modalities in data: which items have which modality, and modality dropout for training.

A cache built with ``data.require_modalities: false`` (the default) keeps an item whose media lacks
a modality's stream (an AudioSet clip without an audio track, a video file that holds only audio):
the item is decoded without that modality, its array row is zero, and ``<split>/present.npy``
(bool (N, m), columns in ``data.modalities`` order) marks it absent; ``report.csv`` lists it with
kind ``missing-modality`` (kept, not skipped). Text is missing only when an item has no text at
all: MedVidCL's text is the title plus the subtitles where there are some, so a video without
subtitles still has its title as text. With ``data.require_modalities: true`` such items are skipped
as before. Batches carry presence as ``inputs[present_key(name)]`` (bool (B,)) for the modalities
that some item of the split lacks (see :mod:`locomt.models.model`).

``data.modality_dropout`` (``{modality: p}``, each p in [0, 1), off when empty) drops each listed
modality of each training example with probability p, drawn from a generator seeded with the
run's seed, the rank and the global step (so a resumed run draws what an uninterrupted one does);
an example that would lose every modality it has keeps one of them, chosen uniformly. It is a
training-time augmentation, like ``spec_augment``: not part of the decoded-item cache key
(:func:`locomt.data.cache.cache_key`), but part of a run's key (:func:`locomt.runs.keys.config_key`,
which covers every field that changes what training computes). Validation and test batches are
never dropped.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from locomt.data.cache import MISSING_MODALITY, PRESENT  # noqa: F401 (re-exported: this module's concept)
from locomt.models.model import present_key

_SEED_TAG = 0x6D64  # keeps modality dropout's stream apart from SpecAugment's (same seed, rank, step)


def batch_presence(inputs: dict[str, Tensor], names: tuple[str, ...] | list[str]) -> Tensor:
    """(B, m) bool from the batch's presence keys (True where a modality has no key); B and the
    device are those of the first modality's input."""
    first = inputs[names[0]]
    cols = [inputs[present_key(n)].bool() if present_key(n) in inputs
            else torch.ones(first.shape[0], dtype=torch.bool, device=first.device) for n in names]
    return torch.stack(cols, 1)


def drop_modalities(present: Tensor, probs: list[float], generator: torch.Generator) -> Tensor:
    """``present`` (B, m) with each column j dropped per example with probability ``probs[j]``; an
    example left with nothing keeps one of the modalities it had, chosen uniformly."""
    b, m = present.shape
    p = torch.tensor(probs, dtype=torch.float64)
    u = torch.rand(b, m, generator=generator, dtype=torch.float64)
    pick = torch.rand(b, m, generator=generator, dtype=torch.float64)
    dropped = present.cpu() & ~(u < p)
    empty = ~dropped.any(1)
    if empty.any():
        # the kept one: the present modality with the largest uniform key
        scores = torch.where(present.cpu(), pick, torch.full_like(pick, -1.0))
        keep = scores.argmax(1)
        dropped[empty, keep[empty]] = True
    return dropped.to(present.device)


def apply_modality_dropout(inputs: dict[str, Tensor], names: tuple[str, ...], dropout: dict[str, float],
                           seed_parts: list[int]) -> dict[str, Tensor]:
    """The batch with modality dropout applied: presence keys for the modalities ``dropout`` lists
    (and the ones the batch already had), from a generator seeded with ``seed_parts``."""
    probs = [float(dropout.get(n, 0.0)) for n in names]
    if not any(probs):
        return inputs
    present = batch_presence(inputs, names)
    seed = np.random.SeedSequence([*(int(s) % 2**32 for s in seed_parts), _SEED_TAG]).generate_state(1)[0]
    out = drop_modalities(present, probs, torch.Generator().manual_seed(int(seed)))
    keys = {n for n, p in zip(names, probs) if p} | {n for n in names if present_key(n) in inputs}
    return {**inputs, **{present_key(n): out[:, j] for j, n in enumerate(names) if n in keys}}


def mark_absent(inputs: dict[str, Tensor], target: Tensor, names: tuple[str, ...] | list[str],
                absent: tuple[str, ...] | frozenset[str]) -> tuple[dict[str, Tensor], Tensor, int]:
    """The batch with the modalities ``absent`` missing in every example (robustness evaluation),
    less the examples that then have nothing left (an item stored without the one modality that
    remains): returns the inputs, the targets and how many examples were left out."""
    if not absent:
        return inputs, target, 0
    present = batch_presence(inputs, names)
    for j, n in enumerate(names):
        if n in absent:
            present[:, j] = False
    keep = present.any(1)
    out = {**inputs, **{present_key(n): present[:, j] for j, n in enumerate(names)}}
    left_out = int((~keep).sum())
    if left_out:
        out = {k: v[keep] for k, v in out.items()}
        target = target[keep]
    return out, target, left_out
