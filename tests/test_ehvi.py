"""The cost-aware sampler (``sampler: ehvi``): the expected hypervolume improvement against a Monte
Carlo estimate, the candidate patterns with their exact GFLOPs, and what it proposes."""

import numpy as np
import optuna
import pytest

from locomt.config import load_config, model_config, with_model
from locomt.cost import analytic_cost
from locomt.pattern import canonical
from locomt.search.ehvi import CLAIM, EHVISampler, PatternSpace, expected_improvement
from locomt.search.front import dominated_area, staircase
from locomt.search.space import SweepSpace, suggest_pattern

from tests.test_strategies import CONFIG

FRONT = [(0.7, 0.03), (0.8, 0.04), (0.75, 0.035), (0.9, 0.06), (0.6, 0.05)]  # (metric, GFLOPs); the last dominated


def test_staircase_by_hand():
    starts, ends, levels = staircase([(0.7, 1.0), (0.9, 3.0), (0.6, 2.0), (0.95, 5.0)], 0.5, 4.0)
    assert list(starts) == [-np.inf, 1.0, 2.0, 3.0] and list(ends) == [1.0, 2.0, 3.0, 4.0]
    assert list(levels) == [0.5, 0.7, 0.7, 0.9]  # (0.6, 2) adds nothing; (0.95, 5) is beyond the box


@pytest.mark.parametrize("mean,sd,gflops", [(0.78, 0.05, 0.032), (0.6, 0.1, 0.02), (0.95, 0.02, 0.05),
                                            (0.85, 0.08, 0.045), (0.8, 0.05, 0.08), (0.4, 0.01, 0.03)])
def test_expected_improvement_against_monte_carlo(mean, sd, gflops):
    rng = np.random.default_rng(0)
    draws = rng.normal(mean, sd, 40_000)
    base = dominated_area(FRONT, 0.5, 0.07)
    gains = np.array([dominated_area([*FRONT, (a, gflops)], 0.5, 0.07) - base for a in draws])
    got = expected_improvement(np.array([mean]), np.array([sd]), np.array([gflops]), FRONT, 0.5, 0.07)[0]
    assert got == pytest.approx(gains.mean(), abs=4 * gains.std() / np.sqrt(len(draws)) + 1e-12)
    # with no uncertainty, it is the improvement itself
    exact = expected_improvement(np.array([mean]), np.array([0.0]), np.array([gflops]), FRONT, 0.5, 0.07)[0]
    assert exact == pytest.approx(dominated_area([*FRONT, (mean, gflops)], 0.5, 0.07) - base, abs=1e-12)


def test_expected_improvement_in_blocks_is_the_formula_over_every_candidate():
    # more candidates than one block (BLOCK_ROWS), against the formula written once over all of them
    # with scipy.stats.norm: the blocks' edges and the hand-written density must change nothing
    from scipy.stats import norm

    from locomt.search import ehvi

    rng = np.random.default_rng(3)
    n = 2 * ehvi.BLOCK_ROWS + 77
    mean, sd, gflops = rng.uniform(0.4, 1.0, n), rng.uniform(0.0, 0.1, n), rng.uniform(0.0, 0.08, n)
    starts, ends, levels = staircase(FRONT, 0.5, 0.07)
    m, s, g = mean[:, None], np.maximum(sd, 1e-12)[:, None], gflops[:, None]
    width = np.clip(ends - np.maximum(starts, g), 0.0, None)
    z = (m - levels) / s
    want = (width * ((m - levels) * norm.cdf(z) + s * norm.pdf(z))).sum(axis=1)
    got = expected_improvement(mean, sd, gflops, FRONT, 0.5, 0.07)
    assert got.shape == (n,) and (want > 0).sum() > n // 2
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.fixture(scope="module")
def bench_space():
    # the benchmark's frozen task (the same 35^3 counts space as the default's): the sampler's
    # behaviour is checked against fixed costs, not against whatever shapes the default has now
    cfg = load_config(CONFIG.parent / "synthetic-medvidcl-bench.yaml")
    return cfg, PatternSpace(cfg, "counts", n_classes=5, vocab_size=None)


def test_pattern_space_enumerates_every_pattern_with_the_cost_models_gflops(bench_space):
    cfg, ps = bench_space
    rows = ps.candidates(np.random.default_rng(0))
    names, gflops = ps.names(rows), ps.gflops(rows)
    assert ps.size == 35 ** 3 == len(rows) == len(set(names))
    m = model_config(with_model(cfg, "locomt", "half"), n_classes=5)
    for i in np.random.default_rng(1).choice(len(rows), 200, replace=False):
        assert canonical(names[i], m.codes, m.n_heads, m.n_fusion_layers) == names[i]
        assert gflops[i] == pytest.approx(analytic_cost(m.replace(pattern=names[i])).gflops, rel=0, abs=1e-15)
    assert (ps.rows(names[::97]) == rows[::97]).all()
    assert ps.features(rows).shape == (len(rows), 3 * 4) and np.allclose(ps.features(rows).reshape(-1, 3, 4).sum(2), 1)
    cheapest = names[int(np.argmin(gflops))]
    assert analytic_cost(m.replace(pattern=cheapest)).gflops == pytest.approx(gflops.min())


def test_pattern_space_draws_candidates_when_the_space_is_too_large(bench_space):
    cfg, _ = bench_space
    ps = PatternSpace(cfg, "counts", n_classes=5, vocab_size=None)
    rows = ps.candidates(np.random.default_rng(0), limit=1000)
    assert 900 < len(rows) <= 1000 and len(np.unique(rows, axis=0)) == len(rows)
    shared = PatternSpace(cfg, "shared", n_classes=5, vocab_size=None)
    names = shared.names(shared.candidates(np.random.default_rng(0)))
    assert len(names) == 35 and all("/" not in n for n in names)
    assert shared.params(names[3]) and not any("layer" in k for k in shared.params(names[3]))


def _study_with(sampler, cfg, values, n_trials):
    """An in-memory study whose objective is ``values(pattern)``, recording what the sweep records."""
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.set_user_attr("chance", 0.2)
    m = model_config(with_model(cfg, "locomt", "half"), n_classes=5)
    study.set_user_attr("reference_gflops", analytic_cost(m.replace(backbone="joint")).gflops)

    def objective(trial):
        pattern = suggest_pattern(trial, "counts", cfg)
        gflops = analytic_cost(m.replace(pattern=pattern)).gflops
        trial.set_user_attr("pattern", pattern)
        trial.set_user_attr("gflops", gflops)
        trial.set_user_attr("fidelity", 10)
        return values(pattern), gflops

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=n_trials)
    return study


def test_the_posterior_in_blocks_is_the_posterior_over_every_candidate(bench_space, monkeypatch):
    from locomt.search import ehvi

    _, ps = bench_space
    rows = ps.candidates(np.random.default_rng(0))[: 2 * ehvi.BLOCK_ROWS + 5]
    seen = rows[::211][:30]
    values = np.random.default_rng(1).uniform(0.4, 0.9, len(seen))
    blocked = EHVISampler(ps, "val/acc", seed=4).predict(seen, values, rows)
    monkeypatch.setattr(ehvi, "BLOCK_ROWS", 10**9)  # one block: sklearn's predict over all rows at once
    whole = EHVISampler(ps, "val/acc", seed=4).predict(seen, values, rows)
    assert blocked[1].min() >= 0 and np.ptp(blocked[0]) > 0.01
    for got, want in zip(blocked, whole):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_with_a_flat_metric_it_proposes_the_cheapest_untried_patterns(bench_space):
    """When every pattern scores alike, the cost decides the improvement: after its random start the
    sampler proposes the cheapest pattern of all, then only very cheap ones."""
    cfg, ps = bench_space
    sampler = EHVISampler(ps, "val/acc", seed=0, n_startup_trials=5)
    study = _study_with(sampler, cfg, lambda p: 0.8, 9)
    patterns = [t.user_attrs["pattern"] for t in study.trials]
    assert len(set(patterns)) == 9
    rows = ps.candidates(np.random.default_rng(0))
    gflops = [t.user_attrs["gflops"] for t in study.trials]
    assert gflops[5] == pytest.approx(ps.gflops(rows).min())  # the cheapest of all first
    # then only where the front can still move: among the cheapest 2 % of the space
    assert all(g <= np.quantile(ps.gflops(rows), 0.02) for g in gflops[5:]), (gflops, patterns)


def test_it_finds_the_true_front_of_a_metric_it_has_to_learn(bench_space):
    """A metric that rises with the share of 'va' heads in the last fusion layer (0.3 to 0.9): the
    true front is the cheapest pattern at each of the 5 shares. After 5 random proposals the sampler
    finds all 5 within 7 more, staying under the GFLOPs budget and repeating nothing."""
    cfg, ps = bench_space
    rows = ps.candidates(np.random.default_rng(0))
    names, gflops, feats = ps.names(rows), ps.gflops(rows), ps.features(rows)
    budget = float(np.quantile(gflops, 0.5))
    share = dict(zip(names, feats[:, -3]))  # the last layer's share of heads on va (views s va vt at)
    front = {names[min(np.flatnonzero(feats[:, -3] == k / 4), key=lambda i: gflops[i])] for k in range(5)}
    study = _study_with(EHVISampler(ps, "val/acc", seed=1, n_startup_trials=5, budget_gflops=budget), cfg,
                        lambda p: 0.3 + 0.6 * share[p], 12)
    patterns = [t.user_attrs["pattern"] for t in study.trials]
    assert len(set(patterns)) == 12 and all(t.user_attrs["gflops"] <= budget for t in study.trials)
    assert front <= set(patterns[5:]), (front, patterns)


def test_anchors_start_up_proposes_the_cost_models_corners_then_models_the_rest(bench_space):
    """startup='anchors': the first proposals are distinct anchors in random order (those over the
    GFLOPs budget left out), and the proposal after the start-up comes from the model as usual."""
    cfg, ps = bench_space
    anchors = ps.anchors()
    corners = dict(zip(ps.names(anchors), ps.gflops(anchors)))
    budget = float(np.quantile(list(corners.values()), 0.7))
    allowed = {n for n, g in corners.items() if g <= budget}
    rows = ps.candidates(np.random.default_rng(0))
    names = ps.names(rows)
    by_cost = [names[i] for i in np.argsort(ps.gflops(rows), kind="stable")]
    orders = []
    for seed in (0, 1):
        study = _study_with(EHVISampler(ps, "val/acc", seed=seed, n_startup_trials=5, budget_gflops=budget,
                                        startup="anchors"), cfg, lambda p: 0.8, 6)
        patterns = [t.user_attrs["pattern"] for t in study.trials]
        assert len(set(patterns)) == 6 and set(patterns[:5]) <= allowed, patterns
        # with a flat metric the model's first proposal is the cheapest pattern not yet tried
        assert patterns[5] == next(p for p in by_cost if p not in patterns[:5]), patterns
        orders.append(patterns[:5])
    assert orders[0] != orders[1]  # drawn, not a fixed list
    # with every allowed anchor held, the start-up falls back to uniform draws over the candidates
    study = _study_with(EHVISampler(ps, "val/acc", seed=2, n_startup_trials=len(allowed) + 3, budget_gflops=budget,
                                    startup="anchors"), cfg, lambda p: 0.8, len(allowed) + 2)
    patterns = [t.user_attrs["pattern"] for t in study.trials]
    assert set(patterns[:len(allowed)]) == allowed and not set(patterns[len(allowed):]) & set(corners)


def test_a_believer_counts_another_workers_running_trial_as_seen(bench_space):
    """pending='believer' (Kriging believer): a pattern another worker is training counts as seen at
    the model's predicted metric. With a flat metric the first proposal is the cheapest pattern; while
    it trains, ignoring it proposes the next cheapest, one head away, which that pattern will dominate
    once it ends; the believer sees that and proposes far from it. Without running trials the two
    propose the same, from the same random stream (every one-worker study is unchanged)."""
    cfg, ps = bench_space
    rows = ps.candidates(np.random.default_rng(0))
    features = dict(zip(ps.names(rows), ps.features(rows)))
    gflops = dict(zip(ps.names(rows), ps.gflops(rows)))
    study = _study_with(EHVISampler(ps, "val/acc", seed=1, n_startup_trials=5), cfg, lambda p: 0.8, 7)
    tried = {t.user_attrs["pattern"] for t in study.trials}
    first = EHVISampler(ps, "val/acc", seed=3).propose(study)
    assert EHVISampler(ps, "val/acc", seed=3, pending="believer").propose(study) == first
    assert first == min((g, p) for p, g in gflops.items() if p not in tried)[1]
    running = study.ask()
    study._storage.set_trial_system_attr(running._trial_id, CLAIM, first)
    assert EHVISampler.pending(study.get_trials(), tried) == [first]
    ignoring = EHVISampler(ps, "val/acc", seed=3).propose(study)
    believing = EHVISampler(ps, "val/acc", seed=3, pending="believer").propose(study)
    assert ignoring == min((g, p) for p, g in gflops.items() if p not in tried | {first})[1]
    assert gflops[ignoring] >= gflops[first]  # no cheaper: at a flat metric it adds nothing once that one ends
    far = {p: np.abs(features[p] - features[first]).sum() for p in (ignoring, believing)}
    assert believing not in tried | {first} and far[believing] > far[ignoring] + 1, far
    # a running trial's recorded pattern counts as pending too, an observed one does not, each once
    study._storage.set_trial_user_attr(running._trial_id, "pattern", first)
    study.add_trial(optuna.trial.create_trial(  # a pattern trial (searched parameters) that has started
        state=optuna.trial.TrialState.RUNNING, params={"layer0.s": 4},
        distributions={"layer0.s": optuna.distributions.IntDistribution(0, 4)}, user_attrs={"pattern": "4s"}))
    assert EHVISampler.pending(study.get_trials(), tried) == [first, "4s"]
    assert EHVISampler.pending(study.get_trials(), tried | {"4s"}) == [first]


def test_startup_trials_is_a_whole_number_and_ehvis_alone(bench_space):
    from types import SimpleNamespace

    from locomt.search.workers import make_sampler

    for bad in (-1, 2.5, True, "two"):
        with pytest.raises(ValueError, match=f"startup_trials={bad!r}; expected a whole number of random proposals >= 0"):
            SweepSpace(sampler="ehvi", startup_trials=bad)
    # TPE keeps its own 5, so --sampler tpe on a space that sets startup_trials is the TPE the benchmarks measured
    ctx = SimpleNamespace(space=SweepSpace(sampler="tpe", startup_trials=2), metric="val/acc")
    assert make_sampler(ctx, 0)._n_startup_trials == 5
    ctx.space = SweepSpace(sampler="tpe", strategy="asha", startup_trials=3)
    assert make_sampler(ctx, 0)._tpe._n_startup_trials == 5
    ctx = SimpleNamespace(space=SweepSpace(sampler="ehvi", startup_trials=2), metric="val/acc", base=bench_space[0],
                          n_classes=5, vocab_size=None)
    assert make_sampler(ctx, 0)._n_startup == 2


def test_with_two_startup_trials_the_model_proposes_the_third(bench_space):
    cfg, ps = bench_space
    cheap = np.quantile(ps.gflops(ps.candidates(np.random.default_rng(0))), 0.02)
    thirds = []
    for n in (2, 5):
        study = _study_with(EHVISampler(ps, "val/acc", seed=0, n_startup_trials=n), cfg, lambda p: 0.8, 3)
        thirds.append(study.trials[2].user_attrs["gflops"])
    # with a flat metric the model proposes among the cheapest 2 % of the space; a random draw does not
    assert thirds[0] <= cheap < thirds[1], (thirds, cheap)


@pytest.mark.parametrize("field,value,unknown,expected", [("startup", "anchors", "corners", "uniform, anchors"),
                                                          ("pending", "believer", "liar", "ignore, believer")])
def test_ehvi_only_settings_need_ehvi(field, value, unknown, expected):
    with pytest.raises(ValueError, match=f"{field} '{value}' with sampler 'tpe'"):
        SweepSpace(sampler="tpe", **{field: value})
    with pytest.raises(ValueError, match=f"{field} '{unknown}' with sampler 'ehvi'; expected one of {expected}"):
        SweepSpace(sampler="ehvi", **{field: unknown})
    assert getattr(SweepSpace(sampler="ehvi", **{field: value}), field) == value


def test_a_space_with_params_is_refused_for_ehvi():
    with pytest.raises(ValueError, match="sampler 'ehvi' proposes view patterns only, and params has optim.lr"):
        SweepSpace(sampler="ehvi", params={"optim.lr": {"low": 1e-3, "high": 1e-2}})


def test_two_workers_proposing_at_once_do_not_take_one_pattern(bench_space, monkeypatch):
    """Both read the study before either wrote: each records its choice and reads again; a lower
    running trial's claim makes it give way at once, a higher one's only if it still holds after a
    wait (the higher may have read before this one wrote, and then it keeps its choice)."""
    _, ps = bench_space
    study = optuna.create_study(directions=["maximize", "minimize"])
    first, second = study.ask(), study.ask()  # two running trials, as two workers hold them
    study._storage.set_trial_system_attr(first._trial_id, CLAIM, "4va")
    sampler = EHVISampler(ps, "val/acc", seed=0)
    answers = iter(["4va", "4vt"])  # what each propose() returned: the first before the claim was seen
    monkeypatch.setattr(sampler, "propose", lambda study, exclude=frozenset(): next(answers))
    assert sampler.claim(study, study.trials[1], settle_s=0) == "4vt"
    assert study.trials[1].system_attrs[CLAIM] == "4vt"
    # the race a rank by number lost (CI at 36f7d94: two trials of 1s+3at): the higher number wrote
    # and read before the lower wrote, so it keeps its choice; the lower sees it still there after
    # the wait, and gives way
    third = study.ask()
    study._storage.set_trial_system_attr(third._trial_id, CLAIM, "4at")
    answers = iter(["4at", "2va+2at"])
    monkeypatch.setattr(sampler, "propose", lambda study, exclude=frozenset(): next(answers))
    study._storage.set_trial_system_attr(first._trial_id, CLAIM, "")
    assert sampler.claim(study, study.trials[0], settle_s=0) == "2va+2at"
    claims = [t.system_attrs[CLAIM] for t in study.trials]
    assert len(set(claims)) == len(claims), claims
    # and when the higher one saw the lower's claim and cleared its own during the wait, the lower keeps it
    study._storage.set_trial_system_attr(third._trial_id, CLAIM, "4s")
    monkeypatch.setattr(sampler, "propose", lambda study, exclude=frozenset(): "4s")
    monkeypatch.setattr("locomt.search.ehvi.time.sleep",
                        lambda s: study._storage.set_trial_system_attr(third._trial_id, CLAIM, ""))
    assert sampler.claim(study, study.trials[0]) == "4s" and study.trials[2].system_attrs[CLAIM] == ""
    # a rival that claimed the pattern and already finished (a run read back from the cache) while this
    # one computed its proposal wins whatever its number: seen as 3 two-worker benchmark studies training
    # 4at or 6at twice when only running rivals counted
    fourth = study.ask()
    study._storage.set_trial_system_attr(fourth._trial_id, CLAIM, "4va")
    study.tell(fourth, state=optuna.trial.TrialState.PRUNED)
    study._storage.set_trial_system_attr(first._trial_id, CLAIM, "")
    answers = iter(["4va", "3va+1at"])
    monkeypatch.setattr(sampler, "propose", lambda study, exclude=frozenset(): next(answers))
    monkeypatch.setattr("locomt.search.ehvi.time.sleep", lambda s: None)
    assert sampler.claim(study, study.trials[0]) == "3va+1at"
    # and a claimed pattern is left out of the proposals themselves: 30 of the 35 shared patterns claimed
    monkeypatch.undo()
    shared = PatternSpace(bench_space[0], "shared", n_classes=5, vocab_size=None)
    names = shared.names(shared.candidates(np.random.default_rng(0)))
    study = optuna.create_study(directions=["maximize", "minimize"])
    for name in names[:30]:
        study._storage.set_trial_system_attr(study.ask()._trial_id, CLAIM, name)
    sampler = EHVISampler(shared, "val/acc", seed=0)
    assert {sampler.propose(study) for _ in range(40)} == set(names[30:])


# ------------------------------------------------------------------ a space too large to list (issue 22)
def test_anchors_are_the_cheapest_pattern_of_each_view_mix(bench_space):
    cfg, ps = bench_space
    rows = ps.candidates(np.random.default_rng(0))  # every pattern of 35^3
    gflops = ps.gflops(rows)
    views = (ps.features(rows).reshape(len(rows), 3, 4) > 0)  # per pattern and layer, the views it uses
    anchors = ps.anchors()
    assert len(anchors) == 15  # every non-empty set of the 4 views
    for row in anchors:
        used = ps.features(row[None]).reshape(3, 4)[0] > 0
        same = (views == used).all(axis=(1, 2))  # every layer using exactly those views
        assert ps.gflops(row[None])[0] == pytest.approx(gflops[same].min(), rel=0, abs=1e-15)
    assert ps.gflops(anchors).min() == pytest.approx(gflops.min(), rel=0, abs=1e-15)


def test_neighbours_move_one_head_of_one_layer(bench_space):
    _, ps = bench_space
    row = ps.rows(["2s+1va+1vt/4va/1s+1vt+2at"])
    near = ps.neighbours(row)
    counts = lambda r: np.rint(ps.features(r).reshape(len(r), 3, 4) * 4).astype(int)
    diff = np.abs(counts(near) - counts(row)).sum(axis=2)  # per neighbour and layer
    assert ((diff > 0).sum(axis=1) == 1).all() and (diff.sum(axis=1) == 2).all()
    assert len(near) == len(np.unique(near, axis=0)) == 9 + 3 + 9  # moves from 3, 1 and 3 occupied views
    assert (counts(near).sum(axis=2) == 4).all()


def test_drawn_candidates_add_the_fronts_neighbours_and_the_anchors(bench_space):
    cfg, _ = bench_space
    large = load_config(CONFIG.parent / "synthetic-medvidcl-large.yaml")
    ps = PatternSpace(large, "counts", n_classes=5, vocab_size=None)
    assert ps.size == 84 ** 4 > 10 ** 7
    front = ps.rows(["6s/3s+3va/2va+2vt+2at/6at", "6va"])
    plain = ps.candidates(np.random.default_rng(3), limit=2000)
    mixed = ps.candidates(np.random.default_rng(3), limit=2000, around=front)
    as_set = lambda r: set(map(tuple, r))
    assert as_set(plain) < as_set(mixed)  # the same draw, and more
    assert as_set(ps.neighbours(front)) <= as_set(mixed) and as_set(ps.anchors()) <= as_set(mixed)
    assert len(mixed) == len(np.unique(mixed, axis=0))
    assert (mixed == np.unique(mixed, axis=0)).all()  # the same order as np.unique's


def test_a_proposal_in_a_large_space_can_be_a_neighbour_of_the_front():
    large = load_config(CONFIG.parent / "synthetic-medvidcl-large.yaml")
    ps = PatternSpace(large, "counts", n_classes=5, vocab_size=None)
    # the metric rewards one exact pattern's neighbourhood: 50,000 uniform draws of 5e7 almost never hold it
    target = ps.rows(["5at+1va/5at+1va/5at+1vt/5at+1vt"])[0]
    score = lambda rows: 0.95 - 0.05 * np.abs(ps.features(rows) - ps.features(target[None])).sum(axis=1)
    seen = np.concatenate([ps.rows(["6at/6at/5at+1vt/5at+1vt"]), ps.candidates(np.random.default_rng(0), limit=40)])
    found = {}
    for mutate in (False, True):
        study = optuna.create_study(directions=["maximize", "minimize"])
        study.set_user_attr("chance", 0.2)
        study.set_user_attr("reference_gflops", float(ps.gflops(seen).max() * 1.1))
        for name, v, g in zip(ps.names(seen), score(seen), ps.gflops(seen)):
            study.add_trial(optuna.trial.create_trial(
                params={"i": len(study.trials)}, distributions={"i": optuna.distributions.IntDistribution(0, 10**6)},
                values=[float(v), float(g)], user_attrs={"pattern": name, "gflops": float(g), "fidelity": 10}))
        rows = ps.rows([EHVISampler(ps, "val/acc", seed=0, mutate=mutate).propose(study)])
        found[mutate] = float(score(rows)[0])
    assert found[True] > found[False]
