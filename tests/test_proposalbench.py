"""``python -m locomt.proposalbench``: the ehvi sampler's proposal cost and candidate reach on a
preset's space (a small preset here; the ViT-B numbers are in results/proposalbench/)."""

import pandas as pd

from locomt.io import run_cli
from locomt.proposalbench import main


def test_proposalbench_times_proposals_of_both_generators(tmp_path):
    out = tmp_path / "p.csv"
    assert run_cli(main, ["--preset", "medvidcl-tiny", "--observations", "12", "--proposals", "2",
                          "--csv", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.generator) == ["random", "random", "mutate", "mutate"] and list(df["index"]) == [0, 1, 0, 1]
    assert (df.wall_s > 0).all() and (df.cpu_s >= 0).all() and list(df.observations) == [12, 13, 12, 13]
    assert (df.cheapest_candidate_gflops >= df.cheapest_pattern_gflops - 1e-12).all()
    assert df.share_cheapest_1pct.between(0, 1).all() and df.proposal_value.between(0.34, 0.99).all()


def test_proposalbench_refuses_bad_input(tmp_path, capsys):
    assert run_cli(main, ["--observations", "1"]) == 2
    assert run_cli(main, ["--preset", "no-such", "--csv", str(tmp_path / "x.csv")]) == 2
    assert "no-such" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()
