"""LoCoMT attention against a plain dense-masked reference: same outputs and gradients.

The reference computes the full (sum L)^2 score matrix of every head and masks what the head's
view forbids; the module under test never builds that matrix. Rows with no allowed key (tokens
of a modality outside a cross view) get a zero output, as the method defines.
"""

import math

import pytest
import torch

from locomt.models.attention import DenseAttention, ViewAttention
from locomt.pattern import resolve_pattern


def dense_masked_reference(att: ViewAttention, x, lengths, masks, head_views, codes, present=None):
    """``present`` (B, m) bool or None: a key of a stream absent for an example is allowed only to
    queries of its own stream; rows left with no key are zero."""
    b, n, d = x.shape
    h, dh = att.n_heads, att.d_head
    q, k, v = att.qkv(x).view(b, n, 3, h, dh).permute(2, 0, 3, 1, 4).unbind(0)
    modality = torch.cat([torch.full((L,), i) for i, L in enumerate(lengths)])
    allowed = torch.zeros(h, n, n, dtype=torch.bool)
    for head, view in enumerate(head_views):
        if view == "s":
            allowed[head] = modality[:, None] == modality[None, :]
        else:
            i, j = codes.index(view[0]), codes.index(view[1])
            qi, kj = modality[:, None] == i, modality[None, :] == j
            qj, ki = modality[:, None] == j, modality[None, :] == i
            allowed[head] = (qi & kj) | (qj & ki)
    keep = allowed[None].expand(b, h, n, n).clone()
    if any(m is not None for m in masks):
        pad = torch.cat([m if m is not None else torch.zeros(b, L, dtype=torch.bool) for m, L in zip(masks, lengths)], 1)
        keep &= ~pad[:, None, None, :]
    if present is not None:
        same = modality[:, None] == modality[None, :]
        keep &= same[None, None] | present[:, modality][:, None, None, :]
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
    scores = scores.masked_fill(~keep, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    weights = torch.where(keep.any(-1, keepdim=True), weights, torch.zeros_like(weights))
    out = (weights @ v).transpose(1, 2).reshape(b, n, d)
    return att.proj(out)


CASES = [
    ("va", [5, 9], "2s+2va"),
    ("va", [7, 7], "4va"),
    ("va", [6, 3], "4s"),
    ("vat", [6, 4, 5], "1s+1va+1vt+1at"),
    ("vat", [6, 4, 5], "4vt"),
    ("vat", [3, 8, 2], "2s+2at"),
    ("vatf", [4, 3, 5, 6], "random:3"),
]


@pytest.mark.parametrize("codes, lengths, spec", CASES)
@pytest.mark.parametrize("train", [True, False])
def test_matches_dense_masked_reference(codes, lengths, spec, train):
    torch.manual_seed(0)
    d, h, b = 32, 4, 3
    pattern = resolve_pattern(spec, tuple(codes), h, 1)
    att = ViewAttention(d, h, pattern.layer_views(0), tuple(codes)).train(train)
    x = torch.randn(b, sum(lengths), d, requires_grad=True)
    # a key padding mask on the third stream (text-like), CLS position never padded
    masks = [None] * len(lengths)
    if len(lengths) >= 3:
        pad = torch.zeros(b, lengths[2], dtype=torch.bool)
        pad[0, -1:] = True
        pad[2, 1:] = True
        masks[2] = pad
    out = att(x, lengths, masks)
    grad_out = torch.randn_like(out)
    gx, *gp = torch.autograd.grad(out, [x, *att.parameters()], grad_out)

    x_ref = x.detach().clone().requires_grad_(True)
    ref = dense_masked_reference(att, x_ref, lengths, masks, pattern.head_views(0), tuple(codes))
    gx_ref, *gp_ref = torch.autograd.grad(ref, [x_ref, *att.parameters()], grad_out)

    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-4, atol=1e-5)
    for a, r in zip(gp, gp_ref):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-5)


def test_reference_is_sensitive_to_the_view():
    """The comparison above can fail: a different view gives a different output."""
    torch.manual_seed(0)
    lengths, codes = [5, 6], ("v", "a")
    att = ViewAttention(16, 2, [("s", 1), ("va", 1)], codes)
    x = torch.randn(2, 11, 16)
    ref_swapped = dense_masked_reference(att, x, lengths, [None, None], ["va", "s"], codes)
    assert not torch.allclose(att(x, lengths, None), ref_swapped, atol=1e-4)


def test_all_self_views_equal_per_modality_dense_attention():
    torch.manual_seed(0)
    lengths = [5, 8]
    view = ViewAttention(16, 4, [("s", 4)], ("v", "a"))
    dense = DenseAttention(16, 4)
    dense.load_state_dict(view.state_dict())
    x = torch.randn(2, 13, 16)
    per_modality = torch.cat([dense(x[:, :5], [5]), dense(x[:, 5:], [8])], 1)
    torch.testing.assert_close(view(x, lengths, None), per_modality, rtol=1e-5, atol=1e-5)


def test_cross_head_gives_other_modalities_nothing():
    """Tokens of a modality outside every cross view only see the output projection bias."""
    torch.manual_seed(0)
    att = ViewAttention(16, 2, [("va", 2)], ("v", "a", "t"))
    x = torch.randn(2, 4 + 3 + 5, 16)
    out = att(x, [4, 3, 5], None)
    torch.testing.assert_close(out[:, 7:], att.proj.bias.expand(2, 5, 16))


@pytest.mark.parametrize("codes, lengths, spec", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_absent_modalities_match_dense_masked_reference(codes, lengths, spec, seed):
    """Random per-example presence (every modality but one missing among them) with padding: the
    view layer equals the dense reference where absent streams' keys are masked for other streams,
    a cross head whose partner is absent gives zero; gradients too, and all finite."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    d, h, b, m = 32, 4, 5, len(lengths)
    pattern = resolve_pattern(spec, tuple(codes), h, 1)
    att = ViewAttention(d, h, pattern.layer_views(0), tuple(codes)).train(seed == 0)
    present = torch.rand(b, m, generator=g) < 0.5
    present[torch.arange(b), torch.randint(0, m, (b,), generator=g)] = True
    present[0] = False
    present[0, seed % m] = True
    masks = [None] * m
    if m >= 3:
        pad = torch.zeros(b, lengths[2], dtype=torch.bool)
        pad[1, 2:] = True
        masks[2] = pad
    x = torch.randn(b, sum(lengths), d, requires_grad=True)
    out = att(x, lengths, masks, list(present.unbind(1)))
    grad_out = torch.randn_like(out)
    gx, *gp = torch.autograd.grad(out, [x, *att.parameters()], grad_out)
    x_ref = x.detach().clone().requires_grad_(True)
    ref = dense_masked_reference(att, x_ref, lengths, masks, pattern.head_views(0), tuple(codes), present)
    gx_ref, *gp_ref = torch.autograd.grad(ref, [x_ref, *att.parameters()], grad_out)
    assert torch.isfinite(out).all() and torch.isfinite(gx).all()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-4, atol=1e-5)
    for a, r in zip(gp, gp_ref):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-5)
    if "s" not in [v for v, _ in pattern.layer_views(0)]:
        # the reference is sensitive to presence: without it, cross rows of absent partners differ
        ref_all = dense_masked_reference(att, x.detach(), lengths, masks, pattern.head_views(0), tuple(codes))
        assert not torch.allclose(out, ref_all, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_dense_attention_masks_absent_streams(seed):
    """Joint attention over streams with random presence: the dense reference whose keys of absent
    streams are masked, for the rows of present streams (the rows of absent ones are never used)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    lengths, b, d, h = [4, 6, 3], 5, 16, 2
    att = DenseAttention(d, h)
    present = torch.rand(b, 3, generator=g) < 0.5
    present[torch.arange(b), torch.randint(0, 3, (b,), generator=g)] = True
    x = torch.randn(b, sum(lengths), d)
    out = att(x, lengths, None, list(present.unbind(1)))
    modality = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])
    q, k, v = att.qkv(x).view(b, -1, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)
    keep = present[:, modality][:, None, None, :].expand(b, h, len(modality), len(modality))
    w = ((q @ k.transpose(-1, -2)) / math.sqrt(d // h)).masked_fill(~keep, float("-inf")).softmax(-1)
    ref = att.proj((w @ v).transpose(1, 2).reshape(b, -1, d))
    rows = present[:, modality]
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[rows], ref[rows], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out[rows], att(x, lengths, None)[rows], atol=1e-4)
