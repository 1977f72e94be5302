"""Attention modules: dense multi-head attention and LoCoMT attention with fixed per-head views.

Both take the tokens of all streams concatenated, (B, sum L_i, d), with the stream lengths.
``DenseAttention`` attends over the whole sequence. ``ViewAttention`` groups its heads by view
and attends only over the token slices each view needs (never a dense (sum L)^2 matrix with a
mask): a ``self`` head runs one attention per modality over that modality alone; a ``cross(i, j)``
head runs queries of i over keys/values of j and queries of j over keys/values of i, and gives
every other modality a zero output slice.

Missing modalities (``present``: per stream a bool (B,), True where the example has that modality,
or None when every example has it). Keys of a stream absent for an example are masked for every
query of another stream; a stream's queries over its own keys are never masked for absence (a
missing modality's tokens may attend among themselves in a block that only they use: their outputs
are never used, and this keeps every softmax row non-empty, so nothing is NaN).

- ``DenseAttention`` over several streams (joint, early, a bottleneck block): keys of absent
  streams are masked; the model guarantees at least one present stream per example, whose CLS
  token is never padding, so every query row keeps a key.
- ``ViewAttention``: a ``self`` head is unchanged (each modality only ever sees itself). A
  ``cross(i, j)`` head whose partner j is absent for an example gives i's tokens a **zero** slice
  for that example (and likewise for j when i is absent): the same output the method defines for
  tokens outside a cross view. It is not rerouted to attend within i, because that would make the
  head a self head for some examples and cost L_i^2 more, for the whole batch, in a layer that
  must compute only the blocks its views need (the cost guarantee). The blocks are computed as
  without absence (masks save nothing on CPU) and the absent examples' rows are zeroed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from locomt.pattern import SELF


def sdpa_mask(key_padding_mask: Tensor | None) -> Tensor | None:
    """Key padding mask (B, Lk), True at padding -> SDPA boolean mask (B, 1, 1, Lk), True = attend."""
    if key_padding_mask is None:
        return None
    return (~key_padding_mask)[:, None, None, :]


def concat_masks(masks: list[Tensor | None] | None, lengths: list[int], x: Tensor,
                 present: list[Tensor | None] | None = None) -> Tensor | None:
    """Per-stream padding masks (and, with ``present``, per-stream presence (B,)) -> one (B, sum L_i)
    key mask, True where a key is padding or belongs to a stream absent for that example; None when
    nothing is masked."""
    masks = masks if masks is not None else [None] * len(lengths)
    present = present if present is not None else [None] * len(lengths)
    if all(m is None for m in masks) and all(p is None for p in present):
        return None
    b = x.shape[0]
    parts = []
    for m, p, n in zip(masks, present, lengths):
        part = m if m is not None else x.new_zeros(b, n, dtype=torch.bool)
        if p is not None:
            part = part | ~p[:, None]
        parts.append(part)
    return torch.cat(parts, 1)


class DenseAttention(nn.Module):
    """Standard multi-head self-attention over one sequence (fused SDPA kernel)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        self.n_heads, self.d_head, self.dropout = n_heads, d_model // n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor, lengths: list[int], masks: list[Tensor | None] | None = None,
                present: list[Tensor | None] | None = None) -> Tensor:
        """x: (B, sum L_i, d) streams concatenated; masks: per stream (B, L_i) True at padding, or None;
        present: per stream (B,) True where the example has it, or None (see the module docstring)."""
        b, n, d = x.shape
        key_padding_mask = concat_masks(masks, lengths, x, present)
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=sdpa_mask(key_padding_mask), dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class ViewAttention(nn.Module):
    """LoCoMT attention: each head has one fixed view, heads grouped by view.

    ``views`` lists (view, head count) in head order, e.g. ``[("s", 8), ("va", 4)]``; view names
    use the modality ``codes`` in stream order (stream k has code ``codes[k]``).
    """

    def __init__(self, d_model: int, n_heads: int, views: list[tuple[str, int]], codes: tuple[str, ...],
                 dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        if sum(c for _, c in views) != n_heads:
            raise ValueError(f"views {views} cover {sum(c for _, c in views)} heads, expected {n_heads}")
        self.n_heads, self.d_head, self.dropout = n_heads, d_model // n_heads, dropout
        self.views = [(v, c) for v, c in views if c]
        self.codes = tuple(codes)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def extra_repr(self) -> str:
        return "views=" + "+".join(f"{c}{v}" for v, c in self.views)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=sdpa_mask(key_padding_mask), dropout_p=self.dropout if self.training else 0.0
        )

    def forward(self, x: Tensor, lengths: list[int], masks: list[Tensor | None] | None = None,
                present: list[Tensor | None] | None = None) -> Tensor:
        """x: (B, sum L_i, d) streams concatenated in ``codes`` order; masks: per stream (B, L_i) or None;
        present: per stream (B,) bool or None (a cross head's slice is zero where its partner is absent)."""
        b, n, d = x.shape
        m = len(lengths)
        masks = masks if masks is not None else [None] * m
        present = present if present is not None else [None] * m

        def unless_absent(out: Tensor, partner: int) -> Tensor:
            p = present[partner]
            return out if p is None else out * p.to(out.dtype)[:, None, None, None]

        group_sizes = [c for _, c in self.views]
        qkv = self.qkv(x).view(b, n, 3, self.n_heads, self.d_head)
        # per stream, per head group: (3, B, h_g, L_i, d_head); split's backward is a cheap cat.
        parts = [t.permute(2, 0, 3, 1, 4).split(group_sizes, dim=2) for t in qkv.split(lengths, dim=1)]
        outs: list[list[Tensor | None]] = [[None] * len(self.views) for _ in range(m)]
        for g, (view, h) in enumerate(self.views):
            if view == SELF:
                for i in range(m):
                    q, k, v = parts[i][g].unbind(0)
                    outs[i][g] = self._attend(q, k, v, masks[i])
            else:
                i, j = self.codes.index(view[0]), self.codes.index(view[1])
                qi, ki, vi = parts[i][g].unbind(0)
                qj, kj, vj = parts[j][g].unbind(0)
                outs[i][g] = unless_absent(self._attend(qi, kj, vj, masks[j]), j)
                outs[j][g] = unless_absent(self._attend(qj, ki, vi, masks[i]), i)
                for other in range(m):
                    if other not in (i, j):
                        outs[other][g] = x.new_zeros(b, h, lengths[other], self.d_head)
        # (B, h_g, L_i, d_head) pieces -> (B, L_i, H, d_head) per stream -> (B, sum L_i, d): two copies.
        streams = [torch.cat([o.transpose(1, 2) for o in row], dim=2).view(b, lengths[i], d)
                   for i, row in enumerate(outs)]
        return self.proj(torch.cat(streams, dim=1))
