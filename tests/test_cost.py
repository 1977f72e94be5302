"""The cost model checked both ways: analytic MACs against torch's count of the real forward
pass, hand-worked counts for a tiny model, and the LoCoMT guarantee over random shapes."""

import random

import pytest
import torch

from locomt.cost import analytic_cost, attention_pairs, count_params, layer_cost, measured_flops
from locomt.modalities import ModalitySpec
from locomt.models import ModelConfig, build_model, example_inputs, list_backbones
from locomt.presets import PAPER_SCALE, get_preset

from conftest import small_config

PATTERNS = ["all-self", "all-cross", "half", "alternate", "bottom-self", "random:1", "4s/1s+1va+1vt+1at"]


@pytest.mark.parametrize("backbone", list_backbones())
@pytest.mark.parametrize("pattern", PATTERNS)
def test_analytic_equals_measured_forward(backbone, pattern):
    cfg = small_config(backbone=backbone, pattern=pattern, n_layers=3, fusion_layer=1)
    model = build_model(cfg).eval()
    batch = 3
    measured = measured_flops(model, example_inputs(cfg, batch=batch))
    assert measured == batch * analytic_cost(cfg).flops


@pytest.mark.parametrize("backbone", list_backbones())
def test_analytic_equals_measured_every_modality_set(backbone, modalities):
    cfg = small_config(modalities, backbone=backbone, pattern="random:5", fusion_layer=0)
    measured = measured_flops(build_model(cfg), example_inputs(cfg, batch=2))
    assert measured == 2 * analytic_cost(cfg).flops


@pytest.mark.parametrize("preset", PAPER_SCALE)
@pytest.mark.parametrize("backbone", list_backbones())
def test_paper_scale_counts_on_meta_device(preset, backbone):
    """The real forward pass at ViT-B shapes, counted on the meta device (no compute, no memory)."""
    cfg = get_preset(preset, backbone=backbone, pattern="bottom-self")
    with torch.device("meta"):
        model = build_model(cfg)
        inputs = example_inputs(cfg, batch=1, device="meta")
    assert measured_flops(model, inputs) == analytic_cost(cfg).flops


def test_hand_worked_counts():
    """A model small enough to count on paper (fvcore style: numbers, not the formula again)."""
    f1 = ModalitySpec("x", "x", "features", length=3, feature_dim=5)  # 4 tokens with CLS
    f2 = ModalitySpec("y", "y", "features", length=2, feature_dim=6)  # 3 tokens with CLS
    cfg = ModelConfig((f1, f2), n_classes=3, n_layers=1, n_heads=2, d_model=8, mlp_ratio=2.0, fusion_layer=0,
                      n_bottlenecks=1, backbone="joint")
    # tokenizer 3*5*8 + 2*6*8 = 216; classifier 2 CLS * 8 * 3 = 48
    # joint: 7 tokens; projections 7*4*8*8 = 1792; mlp 7*2*8*16 = 1792;
    # attention 2 heads * 7*7 pairs * 2 * d_head 4 = 784
    assert analytic_cost(cfg).macs == 216 + 48 + 1792 + 1792 + 784
    # late: per-modality blocks, attention 2 heads * (16 + 9) pairs * 8 = 400
    assert analytic_cost(cfg.replace(backbone="late")).macs == 216 + 48 + 1792 + 1792 + 400
    # bottleneck, B=1: tokens 5 + 4 = 9; projections 9*256 = 2304; mlp 9*256 = 2304;
    # attention 2 heads * (25 + 16) pairs * 8 = 656
    assert analytic_cost(cfg.replace(backbone="bottleneck")).macs == 216 + 48 + 2304 + 2304 + 656
    # locomt 1s+1xy: self head 16 + 9 = 25 pairs, cross head 2*4*3 = 24 pairs; 49 * 8 = 392
    assert analytic_cost(cfg.replace(backbone="locomt", pattern="1s+1xy")).macs == 216 + 48 + 1792 + 1792 + 392
    model = build_model(cfg.replace(backbone="locomt", pattern="1s+1xy"))
    assert measured_flops(model, example_inputs(model.cfg, batch=1)) == 2 * (216 + 48 + 1792 + 1792 + 392)


def test_layer_costs_add_up():
    cfg = small_config(backbone="bottleneck")
    total = analytic_cost(cfg)
    layers = sum(layer_cost(cfg, i).macs for i in range(cfg.n_layers))
    assert total.macs - total.tokenizer - total.classifier == layers


def test_param_count_matches_built_model():
    for backbone in list_backbones():
        cfg = small_config(backbone=backbone)
        assert count_params(cfg) == sum(p.numel() for p in build_model(cfg).parameters())


def _random_case(rng: random.Random):
    m = rng.choice([2, 2, 3, 4])
    codes = "vatf"[:m]
    lengths = [rng.randint(16, 400) for _ in range(m)]
    if m == 2 and rng.random() < 0.3:
        lengths[1] = lengths[0]
    mods = tuple(ModalitySpec(f"m{c}", c, "features", length=n - 1, feature_dim=4) for c, n in zip(codes, lengths))
    n_heads = rng.choice([1, 2, 4, 8, 12])
    n_layers = rng.randint(1, 6)
    fusion = rng.randint(0, n_layers - 1)
    return mods, lengths, n_heads, n_layers, fusion


def test_cost_guarantee_over_random_patterns():
    """C_locomt <= C_self < C_bottleneck < C_joint (attention), equality only where method.md allows."""
    rng = random.Random(0)
    n_equal = n_strict = 0
    for trial in range(300):
        mods, lengths, n_heads, n_layers, fusion = _random_case(rng)
        cfg = ModelConfig(mods, n_classes=2, n_layers=n_layers, n_heads=n_heads, d_model=8 * n_heads,
                          fusion_layer=fusion, n_bottlenecks=4)
        pattern = f"random:{trial}"
        loco = cfg.replace(backbone="locomt", pattern=pattern)
        c_loco = analytic_cost(loco).attention
        c_self = analytic_cost(cfg.replace(backbone="locomt", pattern="all-self")).attention
        c_bottle = analytic_cost(cfg.replace(backbone="bottleneck")).attention
        c_joint = analytic_cost(cfg.replace(backbone="joint")).attention
        assert c_self == analytic_cost(cfg.replace(backbone="late")).attention
        assert c_loco <= c_self < c_bottle < c_joint, (lengths, pattern)
        equality_allowed = loco.resolved_pattern().n_cross_heads() == 0 or (len(lengths) == 2 and lengths[0] == lengths[1])
        assert (c_loco == c_self) == equality_allowed, (lengths, pattern)
        n_equal += c_loco == c_self
        n_strict += c_loco < c_self
        # the whole model keeps the order locomt <= self (other terms are the same)
        assert analytic_cost(loco).macs <= analytic_cost(cfg.replace(backbone="late")).macs
    assert n_equal > 10 and n_strict > 100  # both branches were exercised


def test_bottleneck_below_joint_needs_few_bottlenecks():
    """C_bottle < C_joint is not a law: with B large next to the token counts it fails (method.md)."""
    mods = tuple(ModalitySpec(f"m{c}", c, "features", length=7, feature_dim=4) for c in "va")
    cfg = ModelConfig(mods, n_classes=2, n_layers=1, n_heads=2, d_model=16, fusion_layer=0, n_bottlenecks=16)
    assert attention_pairs(cfg.replace(backbone="bottleneck")) > attention_pairs(cfg.replace(backbone="joint"))


@pytest.mark.parametrize("backbone", list_backbones())
@pytest.mark.parametrize("absent", [("audio",), ("video", "text"), ("text",)])
def test_reduced_input_cost_equals_measured_model_without_those_modalities(backbone, absent):
    """``analytic_cost(cfg, absent=...)`` against torch's count of the model over the other
    modalities (an input without them); the pattern keeps only views between present modalities."""
    from conftest import AUDIO, TEXT, VIDEO

    mods = (VIDEO, AUDIO, TEXT)
    pattern = "2s+2vt" if "audio" in absent else "all-self"
    cfg = small_config(mods, backbone=backbone, pattern=pattern)
    reduced = cfg.replace(modalities=tuple(m for m in mods if m.name not in absent))
    measured = measured_flops(build_model(reduced).eval(), example_inputs(reduced, batch=2))
    assert measured == 2 * analytic_cost(cfg, absent=absent).flops
    assert analytic_cost(cfg, absent=absent).flops < analytic_cost(cfg).flops


def test_reduced_cost_of_a_cross_head_without_its_partner_is_zero():
    from conftest import AUDIO, TEXT, VIDEO

    cfg = small_config((VIDEO, AUDIO, TEXT), backbone="locomt", pattern="4va", fusion_layer=0, n_layers=2)
    assert analytic_cost(cfg, absent=["audio"]).attention == 0
    assert analytic_cost(cfg, absent=["text"]).attention == analytic_cost(cfg).attention
    with pytest.raises(ValueError, match="'sound' is not one of the config's modalities"):
        analytic_cost(cfg, absent=["sound"])
    with pytest.raises(ValueError, match="names every modality"):
        analytic_cost(cfg, absent=["audio", "text", "video"])
