"""Every registered backbone, built by name from one config: shapes, gradients, modes, masks."""

import pytest
import torch

from locomt.models import build_model, example_inputs, get_backbone, list_backbones, register_backbone
from locomt.models.backbones import Backbone, Block, DropPath, LayerPlan
from locomt.modalities import ModalitySpec

from conftest import AUDIO, TEXT, VIDEO, small_config

BACKBONES = list_backbones()


def test_registry_has_the_five_backbones():
    assert {"early", "joint", "late", "bottleneck", "locomt"} <= set(BACKBONES)


def test_duplicate_registration_fails_loudly():
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("joint")(type("Again", (Backbone,), {}))


def test_backbones_declare_views_baseline_and_reference(modalities):
    """What sweeps, ablations and cost tables ask the registry instead of comparing names."""
    from locomt.models import BASELINES, reference_backbone, takes_pattern

    assert [b for b in BACKBONES if takes_pattern(b)] == ["locomt"]
    assert BASELINES == ("early", "joint", "late", "bottleneck") and reference_backbone() == "joint"
    # a backbone without views reports no pattern, whatever the config's pattern field says
    assert small_config(modalities, backbone="joint", pattern="all-cross").pattern_spec == ""
    assert small_config(modalities, backbone="locomt", pattern="all-self").pattern_spec.endswith("s")
    with pytest.raises(ValueError, match="'joint' is already the reference"):
        register_backbone("joint2", reference=True)(type("Ref", (Backbone,), {}))
    assert "joint2" not in list_backbones()


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ValueError, match="unknown backbone 'mbt'.*joint"):
        get_backbone("mbt")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_forward_backward_train_and_eval(backbone, modalities):
    torch.manual_seed(0)
    cfg = small_config(modalities, backbone=backbone)
    model = build_model(cfg)
    x = example_inputs(cfg, batch=3)
    model.train()
    logits = model(x)
    assert logits.shape == (3, cfg.n_classes)
    logits.logsumexp(-1).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    unused = [n for n, g in grads.items() if g is None]
    # every parameter takes part in the forward pass (none is built and then left unused)
    assert not unused, unused
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b)
    assert torch.isfinite(a).all()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_batch_items_are_independent(backbone):
    """Each example's logits depend on that example only (no leak through batch-shaped state)."""
    torch.manual_seed(0)
    cfg = small_config(backbone=backbone)
    model = build_model(cfg).eval()
    x = example_inputs(cfg, batch=4)
    with torch.no_grad():
        full = model(x)
        one = model({k: v[1:2] for k, v in x.items()})
    torch.testing.assert_close(full[1:2], one, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_text_padding_is_ignored(backbone):
    """Changing token ids behind the padding mask does not change any logit."""
    torch.manual_seed(0)
    cfg = small_config(backbone=backbone)
    model = build_model(cfg).eval()
    x = example_inputs(cfg, batch=2)
    ids = x["text"].clone()
    ids[:, 3:] = 0  # last 4 of 7 positions are padding
    with torch.no_grad():
        before = model({**x, "text": ids})
        model.tokenizers["text"].embed.weight[0].normal_()  # what padding positions embed to
        model.tokenizers["text"].pos[:, 4:].normal_()  # their positions (CLS is 0)
        after = model({**x, "text": ids})
    torch.testing.assert_close(before, after, rtol=1e-5, atol=1e-5)


def test_cross_modal_information_flow():
    """late never mixes modalities; every fusion backbone does."""
    torch.manual_seed(0)
    for backbone in BACKBONES:
        cfg = small_config((VIDEO, AUDIO), backbone=backbone, pattern="all-cross")
        model = build_model(cfg).eval()
        x = example_inputs(cfg, batch=2)
        with torch.no_grad():
            tokens, masks = zip(*(model.tokenizers[m.name](x[m.name]) for m in cfg.modalities))
            base = model.backbone(list(tokens), list(masks))[0]
            moved = model.backbone([tokens[0], tokens[1] + 1.0], list(masks))[0]
        changed = not torch.allclose(base, moved)
        assert changed == (backbone != "late"), backbone


def test_early_ignores_fusion_layer_and_joint_respects_it():
    cfg = small_config(fusion_layer=2)
    assert [p.kind for p in get_backbone("early").plan(cfg)] == ["joint"] * 3
    assert [p.kind for p in get_backbone("joint").plan(cfg)] == ["unimodal", "unimodal", "joint"]
    assert [p.kind for p in get_backbone("bottleneck").plan(cfg)] == ["unimodal", "unimodal", "bottleneck"]
    plan = get_backbone("locomt").plan(small_config(fusion_layer=1, pattern="4s/2s+2at"))
    assert plan[1] == LayerPlan("views", (("s", 4),)) and plan[2] == LayerPlan("views", (("s", 2), ("at", 2)))


def test_bad_inputs_name_what_was_expected():
    cfg = small_config()
    model = build_model(cfg)
    x = example_inputs(cfg, batch=2)
    with pytest.raises(ValueError, match=r"modality 'video': input shape .* expected \(2, 3, 4, 16, 16\)"):
        model({**x, "video": x["video"][:, :, :2]})
    with pytest.raises(KeyError, match="inputs lack modalities \\['text'\\]"):
        model({k: v for k, v in x.items() if k != "text"})
    with pytest.raises(ValueError, match="fusion_layer=5: expected an integer in 0..n_layers=3"):
        small_config(fusion_layer=5)
    with pytest.raises(ValueError, match="code 'S' must be one lower-case letter"):
        ModalitySpec("x", "S", "features", length=2, feature_dim=3)
    with pytest.raises(ValueError, match="modality codes must be unique"):
        small_config((VIDEO, ModalitySpec("video2", "v", "features", length=2, feature_dim=3)))


def test_tokenizers_token_counts():
    cfg = small_config()
    model = build_model(cfg)
    x = example_inputs(cfg, batch=2)
    for spec in cfg.modalities:
        tokens, mask = model.tokenizers[spec.name](x[spec.name])
        assert tokens.shape == (2, spec.seq_len, cfg.d_model)
        assert (mask is None) == (spec.kind != "text")
    assert VIDEO.n_tokens == 2 * 2 * 2 and AUDIO.n_tokens == 2 * 6 and TEXT.n_tokens == 7


# ------------------------------------------------------------------ token mixing, stochastic depth


def test_token_mix_mixes_text_after_the_embedding():
    torch.manual_seed(0)
    cfg = small_config(n_layers=2, fusion_layer=1)
    model = build_model(cfg).eval()
    x = example_inputs(cfg, batch=3)
    x["text"] = torch.randint(1, TEXT.vocab_size, x["text"].shape)  # no padding
    perm = torch.tensor([2, 0, 1])
    with torch.no_grad():
        plain = model(x)
        assert torch.equal(model(x, token_mix=(1.0, perm)), plain)
        swapped = model({**x, "text": x["text"][perm]})
        torch.testing.assert_close(model(x, token_mix=(0.0, perm)), swapped)
        half = model(x, token_mix=(0.5, perm))
    assert not torch.allclose(half, plain) and not torch.allclose(half, swapped)


def test_drop_path_rates_rise_linearly_to_the_last_layer():
    cfg = small_config(n_layers=4, fusion_layer=2, drop_path=0.3)
    model = build_model(cfg)
    rates = [[blk.drop_path.p if isinstance(blk.drop_path, DropPath) else 0.0 for blk in _blocks(layer)]
             for layer in model.backbone.layers]
    assert rates == [[0.0] * 3, [pytest.approx(0.1)] * 3, [pytest.approx(0.2)], [pytest.approx(0.3)]]
    with pytest.raises(ValueError, match=r"drop_path=1.5: expected a number in \[0.0, 1.0\]"):
        small_config(drop_path=1.5)


def _blocks(layer):
    return list(layer.blocks) if hasattr(layer, "blocks") else [layer.block]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_drop_path_is_the_identity_in_eval(backbone):
    torch.manual_seed(0)
    with_dp = build_model(small_config(backbone=backbone, drop_path=0.5))
    without = build_model(small_config(backbone=backbone))
    without.load_state_dict(with_dp.state_dict())
    x = example_inputs(with_dp.cfg, batch=3)
    with torch.no_grad():
        assert torch.equal(with_dp.eval()(x), without.eval()(x))
        torch.manual_seed(1)
        assert not torch.equal(with_dp.train()(x), without.train()(x))


def test_drop_path_skips_branches_per_example_and_rescales():
    cfg = small_config((VIDEO, AUDIO), n_layers=1, fusion_layer=0, backbone="joint")
    attn = build_model(cfg).backbone.layers[0].block.attn
    block = Block(cfg, attn, drop_path=1.0).train()
    x = torch.randn(4, 10, cfg.d_model)
    assert torch.equal(block(x, [10]), x)  # both residual branches skipped: the block passes x through
    assert not torch.equal(block.eval()(x, [10]), x)

    drop = DropPath(0.25).train()
    torch.manual_seed(0)
    y = drop(torch.ones(4000, 3, 5))
    per_example = y[:, 0, 0]
    assert torch.equal(y, per_example[:, None, None].expand_as(y))  # one decision per example
    assert per_example.unique().tolist() == [0.0, pytest.approx(1 / 0.75)]  # dropped, or kept and scaled by 1/(1-p)
    assert float(per_example.eq(0).float().mean()) == pytest.approx(0.25, abs=0.03)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.05)  # the expectation is unchanged
    assert torch.equal(drop.eval()(y), y)
