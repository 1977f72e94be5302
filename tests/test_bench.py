"""`python -m locomt.bench` at a tiny preset: rows, counted FLOPs against the cost model, ratios."""

import pandas as pd
import pytest

from locomt.bench import main
from locomt.timing import MODES, TORCH_LAYER, counted_flops, layer_case, model_case
from locomt.cost import analytic_cost, layer_cost
from locomt.io import run_cli
from locomt.models import list_backbones
from locomt.presets import get_preset


@pytest.mark.parametrize("backbone", list_backbones())
def test_counted_forward_flops_match_the_cost_model(backbone):
    cfg = get_preset("medvidcl-tiny", backbone=backbone, pattern="half")
    assert counted_flops(layer_case(cfg, 3), "forward") == 3 * layer_cost(cfg, cfg.fusion_layer).flops
    assert counted_flops(model_case(cfg, 2), "forward") == 2 * analytic_cost(cfg).flops
    # backward does at least the forward's work again (two matmuls per forward matmul)
    assert counted_flops(model_case(cfg, 2), "forward+backward") > 2 * 2 * analytic_cost(cfg).flops


@pytest.mark.slow
def test_cli_rows_and_ratios(tmp_path, capsys):
    out = tmp_path / "b.csv"
    assert main(["--preset", "audioset-tiny", "--batch", "2", "--repeats", "2", "--warmup", "0",
                 "--pattern", "half", "--pattern", "4va", "--csv", str(out)]) == 0
    df = pd.read_csv(out, keep_default_na=False)
    n_cases = len(list_backbones()) + 1  # locomt twice
    assert len(df) == 2 * len(MODES) * n_cases + len(MODES)  # layer and model scope, + torch layer
    assert set(df.scope) == {"layer", "model"} and set(df["mode"]) == set(MODES)
    for (scope, mode), part in df.groupby(["scope", "mode"]):
        joint = part[part.backbone == "joint"].iloc[0]
        assert joint.time_vs_joint == 1.0 and joint.flops_vs_joint == 1.0
        assert list(part.time_vs_joint) == pytest.approx(list(part.seconds / joint.seconds))
        assert list(part.flops_vs_joint) == pytest.approx(list(part.gflops / joint.gflops))
        assert (part.seconds > 0).all() and (part.seconds_min <= part.seconds).all()
    layer = df[(df.scope == "layer") & (df["mode"] == "forward")]
    assert TORCH_LAYER in set(layer.backbone)
    # the torch layer has joint's shape: the same FLOPs
    ref = layer[layer.backbone == TORCH_LAYER].iloc[0]
    assert ref.gflops == pytest.approx(layer[layer.backbone == "joint"].iloc[0].gflops)
    assert list(df[df.backbone == "locomt"].pattern.unique()) == ["2s+2va", "4va"]
    assert "realised" in capsys.readouterr().out


def test_bad_pattern_fails_before_timing(capsys):
    assert run_cli(main, ["--preset", "audioset-tiny", "--pattern", "3s"]) == 2
    assert "sum to 3, expected the head count 4" in capsys.readouterr().err
