"""`python -m locomt.flops`: the table, the CSV, explicit token counts and one-line errors."""

import subprocess
import sys

import pandas as pd
import pytest

from locomt.cost import analytic_cost
from locomt.flops import COLUMNS, main
from locomt.io import run_cli
from locomt.presets import get_preset


def test_csv_rows_columns_and_ratios(tmp_path, capsys):
    out = tmp_path / "f.csv"
    assert main(["--preset", "medvidcl-vitb", "--pattern", "half", "--pattern", "12s/12s/12va/4s+8vt",
                 "--csv", str(out)]) == 0
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == COLUMNS
    assert list(df.backbone) == ["early", "joint", "late", "bottleneck", "locomt", "locomt"]
    assert list(df.pattern[-2:]) == ["6s+2va+2vt+2at", "12s/12s/12va/4s+8vt"]
    assert set(df.tokens) == {"v=1568 a=400 t=128"}
    joint = df[df.backbone == "joint"].iloc[0]
    assert joint.gflops_vs_joint == 1.0
    assert joint.gflops == pytest.approx(analytic_cost(get_preset("medvidcl-vitb", backbone="joint")).gflops)
    assert list(df.gflops) == pytest.approx(list(2 * df.gmacs))
    parts = df.tokenizer_gmacs + df.projections_gmacs + df.attn_gmacs + df.mlp_gmacs + df.classifier_gmacs
    assert list(parts) == pytest.approx(list(df.gmacs))
    assert "medvidcl-vitb" in capsys.readouterr().out


def test_explicit_tokens(tmp_path):
    out = tmp_path / "t.csv"
    assert main(["--tokens", "v=100,a=20", "--layers", "2", "--fusion-layer", "1", "--backbone", "joint",
                 "--csv", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    assert row.tokens == "v=100 a=20" and row.preset == "audioset-vitb+tokens"
    # hand count: tokenizer 120*768*768; layer 0 per modality (101, 21 tokens), layer 1 joint 122 tokens
    d, mlp, n = 768, 3072, 122
    blocks = (101 + 21 + n) * (4 * d * d + 2 * d * mlp) + 2 * d * (101**2 + 21**2 + n**2)
    assert row.gmacs * 1e9 == pytest.approx(120 * d * d + blocks + 2 * d * 527, rel=1e-12)


@pytest.mark.parametrize("argv, needle", [
    (["--pattern", "8s+4av"], "pairs are written in declared order"),
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--backbone", "mbt"], "unknown backbone 'mbt'"),
    (["--tokens", "v=abc"], "--tokens part 'v=abc'"),
    (["--preset", "audioset-vitb", "--pattern", "12s/12s"], "expected 1 (for all layers) or 4"),
])
def test_bad_input_one_line_error(argv, needle, tmp_path, capsys):
    csv = tmp_path / "never.csv"
    assert run_cli(main, argv + ["--csv", str(csv)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.startswith("error:") and "\n" not in err
    assert not csv.exists()


@pytest.mark.slow
def test_module_entry_point_exit_code():
    proc = subprocess.run([sys.executable, "-m", "locomt.flops", "--pattern", "13s"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: pattern '13s': counts in '13s' sum to 13")


def test_config_reports_the_model_an_experiment_trains(tmp_path, capsys):
    """--config: the shapes of experiments/synthetic-medvidcl.yaml, the attention share of a joint
    fusion layer and the span of the LoCoMT rows; issue 12's regime (attention >= 1/2 of a fusion
    layer, all-cross <= 0.65 of joint, patterns spanning >= 35 % of joint)."""
    from pathlib import Path

    from locomt.config import load_config, model_config
    from locomt.cost import layer_cost

    config = Path(__file__).resolve().parents[1] / "experiments" / "synthetic-medvidcl.yaml"
    out = tmp_path / "c.csv"
    assert main(["--config", str(config), "--csv", str(out)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    df = pd.read_csv(out, keep_default_na=False)
    assert set(df.tokens) == {"v=128 a=24 t=8"}
    cfg = model_config(load_config(config), n_classes=3)
    joint = cfg.replace(backbone="joint")
    assert df[df.backbone == "joint"].gflops.iloc[0] == pytest.approx(analytic_cost(joint).gflops)
    share = layer_cost(joint, cfg.n_layers - 1).attention / layer_cost(joint, cfg.n_layers - 1).macs
    assert share >= 0.5 and f"attention is {100 * share:.1f} % of a joint fusion layer's MACs" in text
    loc = df[df.backbone == "locomt"].set_index("pattern_name")
    assert set(loc.index) == {"all-self", "all-cross", "half", "alternate", "bottom-self", "4va", "4vt", "4at"}
    assert loc.gflops_vs_joint["all-cross"] <= 0.65
    lo, hi = loc.gflops_vs_joint.min(), loc.gflops_vs_joint.max()
    assert hi - lo >= 0.35 and f"span {lo:.3f}-{hi:.3f} of joint" in text
    with pytest.raises(ValueError, match="--set changes a --config file"):
        main(["--set", "model.d_model=64"])
    assert main(["--config", str(config), "--set", "model.fusion_layer=1", "--backbone", "joint",
                 "--csv", str(out)]) == 0
    assert pd.read_csv(out).gflops.iloc[0] < df[df.backbone == "joint"].gflops.iloc[0]  # layer 0 unimodal


def test_paper_regime_preset_saves_about_half():
    """medvidcl-vitb-long: all-cross saves 48.2 % of joint's GFLOPs (the paper reports 51.3 % on MedVidCL)."""
    joint = analytic_cost(get_preset("medvidcl-vitb-long", backbone="joint")).gflops
    cross = analytic_cost(get_preset("medvidcl-vitb-long", backbone="locomt", pattern="all-cross")).gflops
    assert 1 - cross / joint == pytest.approx(0.482, abs=0.001)
