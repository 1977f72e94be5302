"""Missing modalities: a per-example presence mask in every backbone.

The reference is the model without the absent modalities: for an example whose present set is S,
the full model with the mask must give the logits of a model built over S alone with the same
weights (joint and early attend over what is there, late and the classifier average over present
CLS tokens, bottleneck averages its copies over present modalities, a LoCoMT self head is per
modality). LoCoMT cross heads whose partner is absent (zero slice, no reduced model can express
it) are checked against the dense masked reference in test_view_attention.py.
"""

import pytest
import torch

from locomt.models import build_model, example_inputs, list_backbones, present_key
from locomt.models.config import ModelConfig

from conftest import AUDIO, TEXT, VIDEO, small_config

MODS = (VIDEO, AUDIO, TEXT)
NAMES = [m.name for m in MODS]


def random_presence(b: int, m: int, g: torch.Generator) -> torch.Tensor:
    """(B, m) bool with at least one True per row; includes rows with a single modality left."""
    p = torch.rand(b, m, generator=g) < 0.5
    p[torch.arange(b), torch.randint(0, m, (b,), generator=g)] = True
    p[0] = torch.tensor([True] + [False] * (m - 1))  # every modality but one missing
    p[1] = True  # complete
    return p


def with_presence(inputs, present, names=NAMES):
    return {**inputs, **{present_key(n): present[:, i] for i, n in enumerate(names)}}


def reduced(cfg: ModelConfig, full_sd: dict, keep: list[int], pattern: str | None = None):
    """The model over the modalities ``keep`` only, with the full model's weights."""
    mods = tuple(cfg.modalities[i] for i in keep)
    gone = {m.name for i, m in enumerate(cfg.modalities) if i not in keep}
    sub = cfg.replace(modalities=mods, pattern=pattern or cfg.pattern)
    model = build_model(sub)
    sd = {}
    for k, v in full_sd.items():
        parts = k.split(".")
        if parts[0] in ("tokenizers", "norms") and parts[1] in gone:
            continue
        if parts[0] == "backbone" and parts[1] == "layers" and parts[3] == "blocks":
            i = int(parts[4])
            if i not in keep:
                continue
            parts[4] = str(keep.index(i))
        sd[".".join(parts)] = v
    model.load_state_dict(sd, strict=True)
    return model.eval()


CASES = [("early", "half"), ("joint", "half"), ("late", "half"), ("bottleneck", "half"), ("locomt", "all-self")]


@pytest.mark.parametrize("backbone, pattern", CASES)
def test_masked_model_equals_model_without_the_absent_modalities(backbone, pattern):
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(0)
    cfg = small_config(MODS, backbone=backbone, pattern=pattern)
    model = build_model(cfg).eval()
    b = 8
    x = example_inputs(cfg, batch=b, generator=g)
    present = random_presence(b, 3, g)
    with torch.no_grad():
        out = model(with_presence(x, present))
        complete = model(x)
    assert torch.isfinite(out).all()
    sd = model.state_dict()
    checked = 0
    for i in range(b):
        keep = [k for k in range(3) if present[i, k]]
        ref_model = reduced(cfg, sd, keep)
        with torch.no_grad():
            ref = ref_model({NAMES[k]: x[NAMES[k]][i:i + 1] for k in keep})
        torch.testing.assert_close(out[i:i + 1], ref, rtol=1e-5, atol=1e-5)
        if len(keep) < 3:
            checked += 1
            # the comparison can fail: the complete input gives other logits
            assert not torch.allclose(complete[i:i + 1], ref, atol=1e-4)
    assert checked >= 2


def test_locomt_cross_views_between_present_modalities_equal_the_reduced_model():
    """Pattern 2s+2vt: with audio absent the vt heads see exactly what a video+text model's do."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    cfg = small_config(MODS, backbone="locomt", pattern="2s+2vt")
    model = build_model(cfg).eval()
    x = example_inputs(cfg, batch=4, generator=g)
    present = torch.tensor([[True, False, True]] * 4)
    with torch.no_grad():
        out = model(with_presence(x, present))
        ref = reduced(cfg, model.state_dict(), [0, 2], pattern="2s+2vt")({"video": x["video"], "text": x["text"]})
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


EVERY = [(b, "half") for b in list_backbones() if b != "locomt"] + [
    ("locomt", p) for p in ("half", "all-cross", "random:7")]


@pytest.mark.parametrize("backbone, pattern", EVERY)
def test_no_nan_and_absent_content_is_ignored(backbone, pattern, modalities):
    """Random masks, every modality but one missing included: finite logits and gradients; the
    absent inputs' content (NaN here) changes nothing; each example as if alone in its batch."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(5)
    cfg = small_config(modalities, backbone=backbone, pattern=pattern)
    names = [m.name for m in cfg.modalities]
    model = build_model(cfg).train()
    b = 6
    x = example_inputs(cfg, batch=b, generator=g)
    present = random_presence(b, len(names), g)
    out = model(with_presence(x, present, names))
    assert torch.isfinite(out).all()
    out.logsumexp(-1).sum().backward()
    for n, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), n
    model.eval()
    poisoned = {}
    for i, n in enumerate(names):
        v = x[n].clone()
        if v.is_floating_point():
            v[~present[:, i]] = float("nan")
        else:
            v[~present[:, i]] = torch.randint(1, 10, v[~present[:, i]].shape, generator=g)
        poisoned[n] = v
    with torch.no_grad():
        a = model(with_presence(x, present, names))
        c = model(with_presence(poisoned, present, names))
        alone = torch.cat([model(with_presence({n: x[n][i:i + 1] for n in names}, present[i:i + 1], names))
                           for i in range(b)])
    torch.testing.assert_close(a, c, rtol=0, atol=0)
    torch.testing.assert_close(a, alone, rtol=1e-5, atol=1e-5)


def test_all_present_mask_equals_no_mask():
    torch.manual_seed(0)
    for backbone in list_backbones():
        cfg = small_config(MODS, backbone=backbone, pattern="all-cross")
        model = build_model(cfg).eval()
        x = example_inputs(cfg, batch=3)
        with torch.no_grad():
            torch.testing.assert_close(model(with_presence(x, torch.ones(3, 3, dtype=torch.bool))), model(x),
                                       rtol=1e-6, atol=1e-6)


def test_every_modality_missing_is_an_error():
    cfg = small_config(MODS, backbone="joint")
    model = build_model(cfg).eval()
    x = example_inputs(cfg, batch=2)
    present = torch.tensor([[True, False, False], [False, False, False]])
    with pytest.raises(ValueError, match="every modality missing"):
        model(with_presence(x, present))


def test_mixup_with_presence_zeroes_absent_inputs_and_keeps_either():
    """A dropped modality's data stays in the batch: mixup must not mix it back in; the mixed example
    has a modality where either of its two sources had it."""
    from locomt.task import mixup

    x = {"video": torch.ones(3, 2), "audio": torch.full((3, 2), 2.0), "text": torch.tensor([[1, 2]] * 3),
         present_key("audio"): torch.tensor([True, False, False])}
    perm = torch.tensor([1, 0, 2])
    mixed, _ = mixup(x, torch.tensor([0, 1, 2]), 0.25, perm, "multiclass", 3)
    torch.testing.assert_close(mixed["audio"], torch.tensor([[0.5, 0.5], [1.5, 1.5], [0.0, 0.0]]))
    assert mixed[present_key("audio")].tolist() == [True, True, False]
    torch.testing.assert_close(mixed["video"], x["video"])
    assert torch.equal(mixed["text"], x["text"])
