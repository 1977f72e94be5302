"""Every registered backbone, built by name from one config: shapes, gradients, modes, masks."""

import pytest
import torch

from locomt.models import build_model, example_inputs, get_backbone, list_backbones, register_backbone
from locomt.models.backbones import Backbone, LayerPlan
from locomt.modalities import ModalitySpec

from conftest import AUDIO, TEXT, VIDEO, small_config

BACKBONES = list_backbones()


def test_registry_has_the_five_backbones():
    assert {"early", "joint", "late", "bottleneck", "locomt"} <= set(BACKBONES)


def test_duplicate_registration_fails_loudly():
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("joint")(type("Again", (Backbone,), {}))


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
    with pytest.raises(ValueError, match="fusion_layer=5 must be in 0..n_layers=3"):
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
