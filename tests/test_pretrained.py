"""Pretrained ViT initialisation: Hugging Face and timm checkpoints into every backbone, exactly.

A tiny random ``transformers.ViTModel`` is built and saved locally (nothing is downloaded); one
image through locomt's video path must give its features, and the same weights under timm names
(.pth, .safetensors, wrapped) must load to identical parameters.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from locomt.config import ConfigError, load_config
from locomt.inspect_checkpoint import main as inspect_main
from locomt.io import run_cli
from locomt.modalities import ModalitySpec
from locomt.models import ModelConfig, build_model, list_backbones
from locomt.models.backbones import Block
from locomt.models.pretrained import inflate_patch_embed, load_pretrained, resample_grid

transformers = pytest.importorskip("transformers")

D, LAYERS, HEADS, IMAGE, PATCH = 32, 2, 4, 32, 8
IMG = ModalitySpec("video", "v", "video", frames=1, tubelet=1, image_size=IMAGE, patch_size=PATCH)
AUD = ModalitySpec("audio", "a", "audio", n_mels=16, n_frames=48, patch_size=PATCH)  # 2 x 6 patches
TXT = ModalitySpec("text", "t", "text", vocab_size=50, max_len=7)


def vit_config(hidden: int = D):
    return transformers.ViTConfig(hidden_size=hidden, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                  intermediate_size=4 * hidden, image_size=IMAGE, patch_size=PATCH,
                                  layer_norm_eps=1e-6, qkv_bias=True, hidden_act="gelu")


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    """(ViTModel in eval mode, folder with its model.safetensors + config.json, on-disk tensors)."""
    torch.manual_seed(0)
    model = transformers.ViTModel(vit_config()).eval()
    folder = tmp_path_factory.mktemp("hf-vit")
    model.save_pretrained(folder)
    return model, folder, load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def timm_file(hf, tmp_path_factory):
    """The same weights under timm's names, as .safetensors (in a folder without config.json)."""
    path = tmp_path_factory.mktemp("timm-vit") / "vit.safetensors"
    save_file(to_timm(hf[2]), str(path))
    return path


def to_timm(sd: dict) -> dict:
    """Hugging Face ViT tensors under timm's names (q, k, v concatenated into qkv), plus a head."""
    out = {"cls_token": sd["embeddings.cls_token"], "pos_embed": sd["embeddings.position_embeddings"],
           "patch_embed.proj.weight": sd["embeddings.patch_embeddings.projection.weight"],
           "patch_embed.proj.bias": sd["embeddings.patch_embeddings.projection.bias"],
           "norm.weight": sd["layernorm.weight"], "norm.bias": sd["layernorm.bias"],
           "head.weight": torch.randn(10, D), "head.bias": torch.zeros(10)}
    for n in range(LAYERS):
        h, t = f"encoder.layer.{n}.", f"blocks.{n}."
        for kind in ("weight", "bias"):
            out[t + "attn.qkv." + kind] = torch.cat([sd[h + f"attention.attention.{x}.{kind}"]
                                                     for x in ("query", "key", "value")])
            for hf_name, timm_name in [("layernorm_before", "norm1"), ("attention.output.dense", "attn.proj"),
                                       ("layernorm_after", "norm2"), ("intermediate.dense", "mlp.fc1"),
                                       ("output.dense", "mlp.fc2")]:
                out[f"{t}{timm_name}.{kind}"] = sd[f"{h}{hf_name}.{kind}"]
    return {k: v.clone().contiguous() for k, v in out.items()}


def small(modalities=(IMG,), backbone="joint", seed=1, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    base = dict(n_classes=3, backbone=backbone, n_layers=LAYERS, n_heads=HEADS, d_model=D, fusion_layer=1,
                n_bottlenecks=2)
    base.update(kw)
    return build_model(ModelConfig(tuple(modalities), **base)).eval()


def video_features(model, image: torch.Tensor) -> torch.Tensor:
    """One image through the video tokenizer, the backbone and the video norm (other streams get
    zeros; late keeps them apart), all tokens."""
    streams, masks = [], []
    for name, tok in model.tokenizers.items():
        spec = tok.spec
        x = image[:, :, None] if spec.kind == "video" else torch.zeros(spec.input_shape(1), dtype=(
            torch.long if spec.kind == "text" else torch.float))
        tokens, mask = tok(x)
        streams.append(tokens)
        masks.append(mask)
    return model.norms["video"](model.backbone(streams, masks)[0])


@pytest.mark.parametrize("backbone, modalities", [("joint", (IMG,)), ("late", (IMG, AUD)), ("locomt", (IMG, AUD))],
                         ids=["joint-video", "late-video+audio", "locomt-unimodal"])
def test_video_path_reproduces_hf_features(hf, backbone, modalities):
    vit, folder, _ = hf
    kw = {"fusion_layer": LAYERS} if backbone == "locomt" else {}  # locomt with no fusion layer: per-stream
    model = small(modalities, backbone, **kw)
    image = torch.randn(1, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = vit(image).last_hidden_state  # after the final layernorm: CLS + 16 patch tokens
        assert not torch.allclose(video_features(model, image), ref, atol=1e-3)
        report = load_pretrained(model, folder / "model.safetensors")
        mine = video_features(model, image)
    assert report.naming == "huggingface" and mine.shape == ref.shape == (1, 17, D)
    torch.testing.assert_close(mine, ref, rtol=1e-5, atol=1e-5)


def params(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("fmt", ["pth", "safetensors", "pth-wrapped", "hf-folder", "hf5-memory-names"])
def test_timm_and_hf_namings_load_identical_parameters(hf, tmp_path, fmt):
    vit, folder, sd = hf
    reference = small((IMG, AUD, TXT), "bottleneck")
    load_pretrained(reference, folder / "model.safetensors")
    timm_sd = to_timm(sd)
    if fmt == "pth":
        path = tmp_path / "vit.pth"
        torch.save(timm_sd, path)
    elif fmt == "safetensors":
        path = tmp_path / "vit.safetensors"
        save_file(timm_sd, str(path))
    elif fmt == "pth-wrapped":
        path = tmp_path / "vit.pt"
        torch.save({"model": {"module." + k: v for k, v in timm_sd.items()}, "epoch": 300}, path)
    elif fmt == "hf-folder":
        path = folder
    else:  # transformers 5 keeps layers.N.attention.q_proj... in memory (and renames on save); 4 does not
        path = tmp_path / "vit-state-dict.bin"
        torch.save(vit.state_dict(), path)
    model = small((IMG, AUD, TXT), "bottleneck")
    report = load_pretrained(model, path)
    assert report.naming == ("timm" if fmt in ("pth", "safetensors", "pth-wrapped") else "huggingface")
    got, want = params(model), params(reference)
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
    unexpected = {e.checkpoint for e in report.unexpected}
    assert unexpected == ({"head.weight", "head.bias"} if fmt in ("pth", "safetensors")
                          else {"module.head.weight", "module.head.bias"} if fmt == "pth-wrapped"
                          else {"pooler.dense.weight", "pooler.dense.bias"})


def test_inflation_central_vs_average(hf, timm_file):
    *_, sd = hf
    w2d, b = sd["embeddings.patch_embeddings.projection.weight"], sd["embeddings.patch_embeddings.projection.bias"]
    spec = ModalitySpec("video", "v", "video", frames=2, tubelet=2, image_size=IMAGE, patch_size=PATCH)
    embeds = {}
    for mode in ("central", "average"):
        model = small((spec,), "joint")
        report = load_pretrained(model, timm_file, video_init=mode)
        assert any(e.how == f"inflated {mode} (t=2)" for e in report.adapted)
        embeds[mode] = model.tokenizers["video"].embed
    w = embeds["central"].weight
    assert torch.equal(w[:, :, 1], w2d) and torch.equal(w[:, :, 0], torch.zeros_like(w2d))  # central = t // 2
    assert torch.allclose(embeds["average"].weight, w2d[:, :, None].expand_as(w) / 2)
    g = torch.Generator().manual_seed(0)
    frame, other = torch.randn(1, 3, IMAGE, IMAGE, generator=g), torch.randn(1, 3, IMAGE, IMAGE, generator=g)
    with torch.no_grad():
        conv2d = F.conv2d(frame, w2d, b, stride=PATCH)
        still = torch.stack([frame, frame], dim=2)  # constant over time: both give the 2-D response
        for mode in ("central", "average"):
            torch.testing.assert_close(embeds[mode](still)[:, :, 0], conv2d, rtol=1e-5, atol=1e-5)
        moving = torch.stack([other, frame], dim=2)  # central sees frame 1 only; average the mean response
        torch.testing.assert_close(embeds["central"](moving)[:, :, 0], conv2d, rtol=1e-5, atol=1e-5)
        mean = (F.conv2d(other, w2d, b, stride=PATCH) + conv2d) / 2
        torch.testing.assert_close(embeds["average"](moving)[:, :, 0], mean, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(embeds["central"](moving), embeds["average"](moving), atol=1e-3)
    with pytest.raises(ValueError, match="video init 'middle'"):
        inflate_patch_embed(w2d, 2, "middle")


def test_audio_patch_embedding_is_the_channel_mean(hf):
    vit, folder, sd = hf
    w2d, b = sd["embeddings.patch_embeddings.projection.weight"], sd["embeddings.patch_embeddings.projection.bias"]
    model = small((AUD,), "late")
    report = load_pretrained(model, folder)
    embed = model.tokenizers["audio"].embed
    assert torch.allclose(embed.weight, w2d.mean(1, keepdim=True))
    assert [e.how for e in report.adapted if e.model == ("tokenizers.audio.embed.weight",)] == ["channel mean (3->1)"]
    spec = torch.randn(1, 1, AUD.n_mels, AUD.n_frames, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # a spectrogram in all three channels: the RGB response over 3 (mean, not sum)
        rgb = F.conv2d(spec.expand(1, 3, -1, -1), w2d, b, stride=PATCH)
        torch.testing.assert_close(embed(spec), (rgb - b[:, None, None]) / 3 + b[:, None, None],
                                   rtol=1e-5, atol=1e-5)


def test_positional_embeddings_interpolated_and_tiled(hf, timm_file):
    *_, sd = hf
    pos = sd["embeddings.position_embeddings"][0]  # (1 + 4*4, d)
    grid = pos[1:].reshape(4, 4, D)
    assert resample_grid(grid, (4, 4)) is grid  # same grid: unchanged
    bicubic = F.interpolate(grid.permute(2, 0, 1)[None], size=(2, 6), mode="bicubic", align_corners=False,
                            antialias=True)[0].permute(1, 2, 0)  # timm's resample_abs_pos_embed
    assert torch.equal(resample_grid(grid, (2, 6)), bicubic)
    const = torch.ones(4, 4, D) * 0.7
    torch.testing.assert_close(resample_grid(const, (8, 3)), torch.full((8, 3, D), 0.7))
    video = ModalitySpec("video", "v", "video", frames=6, tubelet=2, image_size=IMAGE, patch_size=PATCH)
    model = small((video, AUD), "late")
    report = load_pretrained(model, timm_file)
    vpos, apos = model.tokenizers["video"].pos[0].detach(), model.tokenizers["audio"].pos[0].detach()
    assert torch.equal(vpos[0], pos[0]) and torch.equal(apos[0], pos[0])  # CLS position from the checkpoint
    assert torch.equal(vpos[1:], pos[1:].repeat(3, 1))  # 4x4 grid, tiled over 3 time steps (t, h, w order)
    assert torch.allclose(apos[1:], resample_grid(grid, (2, 6)).reshape(12, D))
    hows = {e.model[0]: e.how for e in report.adapted}
    assert hows["tokenizers.video.pos"] == "pos 4x4 (same grid), tiled over 3 time steps"
    assert hows["tokenizers.audio.pos"] == "pos interpolated 4x4->2x6"


@pytest.mark.parametrize("backbone", list_backbones())
def test_every_backbone_accepts_the_checkpoint(hf, backbone, timm_file):
    *_, sd = hf
    model = small((IMG, AUD, TXT), backbone, pattern="half")
    report = load_pretrained(model, timm_file)
    timm_sd = load_file(str(timm_file))
    for n, layer in enumerate(model.backbone.layers):
        blocks = [m for m in layer.modules() if isinstance(m, Block)]
        assert blocks and all(torch.equal(b.attn.qkv.weight, timm_sd[f"blocks.{n}.attn.qkv.weight"]) and
                              torch.equal(b.mlp[-1].bias, timm_sd[f"blocks.{n}.mlp.fc2.bias"]) for b in blocks)
    for norm in model.norms.values():
        assert torch.equal(norm.weight, timm_sd["norm.weight"])
    for tok in model.tokenizers.values():
        assert torch.equal(tok.cls, timm_sd["cls_token"])
    missing = {e.model[0]: e.how for e in report.missing}
    expected = {"tokenizers.text.embed.weight", "tokenizers.text.pos", "head.weight", "head.bias"}
    if backbone == "bottleneck":
        expected.add("backbone.bottleneck_tokens")
    assert set(missing) == expected
    assert "no ViT counterpart" in missing["tokenizers.text.embed.weight"]
    assert "new task" in missing["head.weight"]
    text = str(report)
    assert "tokenizers.text.embed.weight" in text and "head.weight" in text
    counts = report.counts()
    assert counts["loaded"] + counts["adapted"] + counts["missing"] == len(list(model.parameters()))


def test_layer_count_mismatch_is_reported(hf, timm_file):
    deeper = small((IMG,), "late", n_layers=3)
    report = load_pretrained(deeper, timm_file)
    assert {e.how for e in report.missing if e.model[0].startswith("backbone.layers.2.")} == \
        {"layer 2: the checkpoint has 2 layers"}
    shallower = small((IMG,), "late", n_layers=1, fusion_layer=1)
    report = load_pretrained(shallower, timm_file)
    assert {e.how for e in report.unexpected if e.checkpoint.startswith("blocks.1.")} == \
        {"layer 1: the model has 1 layers"}
    assert report.checkpoint_layers == 2 and report.model_layers == 1


def test_wrong_shapes_raise_naming_key_and_shapes(hf, tmp_path, timm_file):
    torch.manual_seed(0)
    wide = transformers.ViTModel(vit_config(hidden=48))
    wide.save_pretrained(tmp_path / "wide")
    model = small((IMG,), "joint")
    before = params(model)
    with pytest.raises(ValueError, match=r"'embeddings\.cls_token' has shape \(1, 1, 48\).*needs \(1, 1, 32\)"):
        load_pretrained(model, tmp_path / "wide" / "model.safetensors")
    bad = load_file(str(timm_file))
    bad["blocks.1.attn.qkv.weight"] = bad["blocks.1.attn.qkv.weight"][: 2 * D]
    save_file(bad, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match=r"'blocks\.1\.attn\.qkv\.weight' has shape \(64, 32\).*"
                                         r"'backbone\.layers\.1\.block\.attn\.qkv\.weight' needs \(96, 32\)"):
        load_pretrained(model, tmp_path / "bad.safetensors")
    after = params(model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing changed on error
    coarse = ModalitySpec("video", "v", "video", frames=1, tubelet=1, image_size=32, patch_size=16)
    with pytest.raises(ValueError, match=r"patch_embed\.proj\.weight' has shape \(32, 3, 8, 8\).*\(32, 3, 16, 16\)"):
        load_pretrained(small((coarse,), "joint"), timm_file)


def test_heads_mismatch_from_config_json_is_an_error(hf):
    _, folder, _ = hf
    with pytest.raises(ValueError, match="num_attention_heads=4.*n_heads=2"):
        load_pretrained(small((IMG,), "joint", n_heads=2), folder)


def test_unreadable_checkpoints_name_the_path(tmp_path):
    model = small((IMG,), "joint")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pretrained(model, tmp_path / "nope.safetensors")
    (tmp_path / "x.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown file type '.npz'"):
        load_pretrained(model, tmp_path / "x.npz")
    for name in ("junk.safetensors", "junk.pth"):
        (tmp_path / name).write_bytes(b"not a checkpoint at all")
        with pytest.raises(ValueError, match=f"checkpoint .*{name}.* cannot be read"):
            load_pretrained(model, tmp_path / name)
    torch.save({"weights": [1, 2]}, tmp_path / "odd.pth")
    with pytest.raises(ValueError, match="not a mapping of names to tensors"):
        load_pretrained(model, tmp_path / "odd.pth")
    save_file({"something.else": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="neither timm ViT keys .* nor Hugging Face"):
        load_pretrained(model, tmp_path / "other.safetensors")


CLI_SET = ["--set", "model.d_model=32", "--set", "model.n_heads=4", "--set", "model.n_layers=2",
           "--set", "model.fusion_layer=1", "--set", "data.video.size=32", "--set", "model.video_patch=8",
           "--set", "model.audio_patch=8", "--set", "model.video_tubelet=2", "--set", "data.text.vocab_size=50"]


def test_cli_prints_the_report(hf, capsys, timm_file):
    assert run_cli(inspect_main, [str(timm_file), "--backbone", "bottleneck"] + CLI_SET) == 0
    out = capsys.readouterr().out
    for needle in ("timm naming", "backbone.layers.1.*", "blocks.1.*", "12 tensors, each into 3 blocks",
                   "inflated central (t=2)", "channel mean (3->1)",
                   "pos interpolated 4x4->16x100", "backbone.bottleneck_tokens", "tokenizers.text.embed.weight",
                   "model: bottleneck"):
        assert needle in out, needle


@pytest.mark.parametrize("arg, needle", [
    ("missing.safetensors", "does not exist"),
    ("junk.pth", "cannot be read"),
    ("wide", "has shape (1, 1, 48) but every tokenizer's CLS token needs (1, 1, 32)"),
])
def test_cli_errors_in_one_line(hf, tmp_path, capsys, arg, needle):
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    if arg == "wide":
        save_file({k: v for k, v in to_timm_wide().items()}, str(tmp_path / "wide.safetensors"))
        arg = "wide.safetensors"
    assert run_cli(inspect_main, [str(tmp_path / arg)] + CLI_SET) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "\n" not in err, err


def to_timm_wide() -> dict:
    torch.manual_seed(0)
    sd = {k: v.detach().clone() for k, v in transformers.ViTModel(vit_config(hidden=48)).state_dict().items()}
    return {"cls_token": sd["embeddings.cls_token"], "pos_embed": sd["embeddings.position_embeddings"],
            "patch_embed.proj.weight": sd["embeddings.patch_embeddings.projection.weight"]}


def test_config_fields_and_train_reads_the_checkpoint_first(tmp_path):
    cfg = load_config(None, ["model.init_from=checkpoints/x.safetensors", "model.init_video=average"])
    assert cfg.model.init_from == "checkpoints/x.safetensors" and cfg.model.init_video == "average"
    with pytest.raises(ConfigError, match="init_video='middle'"):
        load_config(None, ["model.init_video=middle"])
    from locomt.runs import train

    cfg = load_config(None, [f"model.init_from={tmp_path / 'none.safetensors'}",
                             f"data.root={tmp_path / 'no-data'}"])
    with pytest.raises(FileNotFoundError, match="none.safetensors' does not exist"):  # before any data is touched
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "no-data").exists()
