"""The paper-scale estimate of a search's cost (locomt.search.estimate), checked by hand arithmetic."""

import math

import pandas as pd
import pytest

from locomt.cost import analytic_cost
from locomt.presets import get_preset
from locomt.search.estimate import epochs_per_configuration, estimate_markdown, paper_scale_rows


def test_full_trainings_and_gpu_hours():
    comparison = pd.DataFrame({"strategy": ["tpe", "tpe", "asha", "asha", "random", "random"],
                               "seed": [0, 1, 0, 1, 0, 1],
                               "epochs_to_reference": [120, 100, 30, 50, 90, math.inf]})
    table = paper_scale_rows(comparison, budget=120, bench_full_epochs=10, presets=("medvidcl-vitb",),
                             epochs=50, tflops=400.0)
    # joint at medvidcl-vitb: MACs from the cost model, 2 FLOPs per MAC, backward twice the forward
    macs = analytic_cost(get_preset("medvidcl-vitb", backbone="joint")).macs
    hours = 3 * 2 * macs * 4217 * 50 / 400e12 / 3600
    row = table.set_index("strategy")
    assert row.loc["tpe", "full_training_gpu_hours"] == pytest.approx(hours)
    assert row.loc["tpe", "full_trainings"] == pytest.approx(11.0)  # mean of 120 and 100 epochs over 10
    assert row.loc["asha", "full_trainings"] == pytest.approx(4.0)
    assert row.loc["asha", "search_gpu_hours"] == pytest.approx(4.0 * hours)
    assert math.isinf(row.loc["random", "search_gpu_hours"])  # one seed never reached TPE's hypervolume
    # per configuration: tpe trains every one fully; asha charged 2, 2 and 6 epochs to three, and
    # asha-promotion 2, 2 and 2 to three, then 4 to a promotion (no new configuration)
    curves = pd.DataFrame({"strategy": ["tpe"] * 3 + ["asha"] * 4 + ["asha-promotion"] * 4, "seed": 0,
                           "epochs": [10, 10, 0, 2, 2, 6, 10, 2, 2, 2, 4],
                           "cum_epochs": [10, 20, 20, 2, 4, 10, 130, 2, 4, 6, 10],
                           "n_configurations": [1, 2, 2, 1, 2, 3, 4, 1, 2, 3, 3]})
    per = paper_scale_rows(comparison, budget=120, bench_full_epochs=10, presets=("medvidcl-vitb",),
                           curves=curves).set_index("strategy")
    assert per.loc["tpe", "epochs_per_configuration"] == 10 and per.loc["asha", "epochs_per_configuration"] == 10 / 3
    assert epochs_per_configuration(curves, 120)["asha-promotion"] == 10 / 3
    assert per.loc["asha", "gpu_hours_per_100_configurations"] == pytest.approx(100 / 3 * hours)
    text = "\n".join(estimate_markdown(per.reset_index()))
    assert "| random | medvidcl-vitb |" in text and "not reached" in text and "400 TFLOP/s" in text
