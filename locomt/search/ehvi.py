"""A proposal model that knows the cost (``sampler: ehvi``): a Gaussian process models the
validation metric over view patterns, the GFLOPs of every candidate pattern come exact from the
cost model, and the sampler proposes the candidate of highest expected hypervolume improvement
(EHVI, Emmerich et al. 2006) over the front of what the study has seen.

Why: the hypervolume of the (metric, GFLOPs) front is made mostly by cheap patterns, and a
pattern's GFLOPs are known before it is trained. TPE and NSGA-II treat GFLOPs as a second unknown
objective and learn it from the few points they have; here only the metric is uncertain. With one
objective exact, EHVI has a closed form: the front's staircase cut at the candidate's GFLOPs is a
sum of strips, and each strip adds ``E[max(0, metric - level)] * width`` (:func:`expected_improvement`).

The model learns from the same observations as ``RungTPESampler``
(:func:`locomt.search.fidelity.rung_observations`: under successive halving, every configuration's
value at the highest rung that enough of them reached). Features: each fusion layer's share of heads
on each view. Candidates: every pattern of the space when there are at most ``MAX_CANDIDATES``
(35^3 = 42,875 on the synthetic default), else that many drawn at random for each proposal (ViT-B
with 4 views: 455^4), plus every pattern one head move from the observed front and the cheapest
pattern of each view mix (``mutate``, the default: a uniform draw of 50,000 of 4.3e10 patterns
holds almost none of the cheap extremes where the front lives; ``python -m locomt.proposalbench``
measures both); the patterns the study holds a trial of, and those over the GFLOPs budget,
are left out, and so are those another worker has just chosen (:meth:`EHVISampler.claim`). The
first ``n_startup_trials`` proposals are uniform over the candidates, or (``startup="anchors"``) uniform
over the anchors the study holds no trial of: the cost model's cheapest pattern of each view mix.
With ``pending="believer"`` (Kriging believer) the patterns other workers are still training count,
for the proposal, as seen at the model's predicted metric (:meth:`EHVISampler.pending`); by default
(``"ignore"``) they are only left out.
"""

from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass

import numpy as np
import optuna
from scipy.special import ndtr
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from locomt.config import ExperimentConfig, model_config, with_model
from locomt.models.config import ModelConfig
from locomt.cost import analytic_cost, layer_cost
from locomt.pattern import layer_specs, resolve_pattern
from locomt.search.fidelity import front_ranks, rung_observations
from locomt.search.front import staircase
from locomt.search.space import pattern_params

MAX_CANDIDATES = 50_000
#: beyond this many observations the Gaussian process is fitted once, without random restarts, from
#: the last fit's hyperparameters when there is one (three fits cost ~11 s of CPU at 200 observations
#: on a 2-core EPYC; a study of the synthetic default holds fewer than 40, so its proposals are unchanged)
WARM_START = 60
#: candidates scored at a time (GP posterior and EHVI): over 50,000 candidates and 200 observations the
#: Matern kernel alone is 10^7 entries, and every step of it made a fresh 80 MB array, which numpy asks
#: the kernel to back with huge pages: on this VM (transparent huge pages on madvise, with direct
#: compaction) that page-faulting took 2-3x the arithmetic's time in system CPU (issue 22, item 5).
#: Blocks of this many rows keep each array under numpy's 4 MB huge-page threshold and in reused memory.
BLOCK_ROWS = 2048
CLAIM = "ehvi:pattern"  # the trial system attribute that holds the sampler's choice (see EHVISampler.claim)


@dataclass
class PatternSpace:
    """The view patterns a sweep can propose, with what the sampler needs of each: its trial
    parameters, exact GFLOPs and features.

    A pattern is one canonical layer spec per fusion layer. Its GFLOPs come from the cost model one
    layer at a time (``layer_cost`` of each layer spec at each fusion layer, plus the rest of the
    forward pass), since a fusion layer's work depends on its own spec alone: 35 x 3 costings
    instead of 42,875 on the synthetic default, and the sum is ``analytic_cost`` exactly (tested)."""

    base: ExperimentConfig
    space: str  # counts | heads | shared
    n_classes: int
    vocab_size: int | None

    def __post_init__(self) -> None:
        self._build(model_config(with_model(self.base, "locomt", "all-self"), n_classes=self.n_classes,
                                 vocab_size=self.vocab_size))

    @classmethod
    def of_model(cls, model: ModelConfig, space: str = "counts") -> PatternSpace:
        """The patterns of a model shape that no experiment config trains (a preset such as
        ``medvidcl-vitb``: ``locomt.proposalbench``); it has no trial parameters (:meth:`params`)."""
        ps = cls.__new__(cls)
        ps.base, ps.space, ps.n_classes, ps.vocab_size = None, space, model.n_classes, None
        ps._build(model.replace(backbone="locomt", pattern="all-self"))
        return ps

    def _build(self, m: ModelConfig) -> None:
        self._mcfg = m
        self._specs = layer_specs(m.codes, m.n_heads)
        fusion = range(m.fusion_layer, m.n_layers)
        # MACs of one example: everything but the fusion layers, plus each fusion layer's spec
        self._rest = analytic_cost(m).macs - sum(layer_cost(m, j).macs for j in fusion)
        self._layer_macs = np.array([[layer_cost(m.replace(pattern=spec), j).macs for spec in self._specs]
                                     for j in fusion], dtype=np.int64)
        self._shares = np.array([resolve_pattern(spec, m.codes, m.n_heads, 1).layers[0] for spec in self._specs],
                                dtype=float) / m.n_heads
        self._index = {spec: i for i, spec in enumerate(self._specs)}
        self._all: np.ndarray | None = None  # every pattern's spec indices, once enumerated
        counts = np.rint(self._shares * m.n_heads).astype(np.int64)
        # the specs one head move away from each spec (one head of the layer on another view)
        self._near = [np.flatnonzero(np.abs(counts - c).sum(axis=1) == 2) for c in counts]
        # per non-empty set of views, per fusion layer: the cheapest spec that uses exactly those views
        macs = self._layer_macs
        self._anchors = []
        for mask in range(1, 2 ** counts.shape[1]):
            views = np.array([(mask >> v) & 1 for v in range(counts.shape[1])], bool)
            fits = np.flatnonzero(((counts > 0) == views).all(axis=1))
            if len(fits):
                self._anchors.append(fits[np.argmin(macs[:, fits], axis=1)])
        self._anchors = np.array(self._anchors, dtype=np.int64)

    @property
    def size(self) -> int:
        return len(self._specs) ** (1 if self.space == "shared" else self._mcfg.n_fusion_layers)

    def candidates(self, rng: np.random.Generator, limit: int = MAX_CANDIDATES,
                   around: np.ndarray | None = None) -> np.ndarray:
        """Patterns as rows of layer-spec indices (one per fusion layer): every pattern of the space
        when there are at most ``limit``, else ``limit`` drawn uniformly (repeats dropped), plus, given
        the rows of patterns ``around`` (the front), their :meth:`neighbours` and the :meth:`anchors`:
        a uniform draw almost never holds the cheap extremes of a large space, where the front lives."""
        n_layers, n_specs = self._mcfg.n_fusion_layers, len(self._specs)
        if self.size > limit:
            drawn = rng.integers(n_specs, size=(limit, n_layers))
            if around is not None:
                drawn = np.concatenate([drawn, self.anchors(), self.neighbours(np.asarray(around, np.int64))])
            return _unique_rows(drawn, n_specs)
        if self._all is None:
            self._all = (np.repeat(np.arange(n_specs)[:, None], n_layers, axis=1) if self.space == "shared" else
                         np.array(list(itertools.product(range(n_specs), repeat=n_layers)), dtype=np.int64))
        return self._all

    def neighbours(self, rows: np.ndarray) -> np.ndarray:
        """Every pattern one head move away from one of ``rows``: one fusion layer's spec with one of
        its heads on another view (in the shared space, every layer at once)."""
        out = []
        for row in rows.reshape(-1, self._mcfg.n_fusion_layers):
            for layer in range(1 if self.space == "shared" else len(row)):
                near = self._near[row[layer]]
                block = np.repeat(row[None, :], len(near), axis=0)
                if self.space == "shared":
                    block[:] = near[:, None]
                else:
                    block[:, layer] = near
                out.append(block)
        return np.concatenate(out) if out else np.zeros((0, self._mcfg.n_fusion_layers), np.int64)

    def anchors(self) -> np.ndarray:
        """Per view mix (every non-empty set of views), the cheapest pattern whose every layer uses
        exactly those views: the cost model's corners of the space (15 with 4 views)."""
        return self._anchors.copy()

    def names(self, rows: np.ndarray) -> list[str]:
        """The canonical spelling of each pattern (one spec when every layer has the same)."""
        return ["/".join(specs) if len(set(specs)) > 1 else specs[0]
                for specs in ([self._specs[i] for i in row] for row in rows)]

    def rows(self, patterns: list[str]) -> np.ndarray:
        """Layer-spec indices of canonical pattern spellings (inverse of :meth:`names`)."""
        m = self._mcfg
        return np.array([[self._index[str(resolve_pattern(spec, m.codes, m.n_heads, 1))] for spec in
                          (p.split("/") if "/" in p else [p] * m.n_fusion_layers)] for p in patterns],
                        dtype=np.int64).reshape(len(patterns), m.n_fusion_layers)

    def gflops(self, rows: np.ndarray) -> np.ndarray:
        """GFLOPs per example of each pattern (2 FLOPs per multiply-accumulate, as ``Cost.gflops``)."""
        macs = self._rest + self._layer_macs[np.arange(rows.shape[1]), rows].sum(axis=1)
        return 2 * macs / 1e9

    def features(self, rows: np.ndarray) -> np.ndarray:
        """Per pattern: each fusion layer's share of heads on each view, flattened."""
        return self._shares[rows].reshape(len(rows), -1)

    def params(self, pattern: str) -> dict:
        return pattern_params(pattern, self.space, self.base)


def _unique_rows(rows: np.ndarray, base: int) -> np.ndarray:
    """The distinct rows of spec indices in [0, base), in lexicographic order: ``np.unique(axis=0)``
    through one integer per row (5x faster on 50,000 rows); for base ** columns below 2 ** 63."""
    code = np.zeros(len(rows), dtype=np.int64)
    for column in rows.T:
        code = code * base + column
    _, first = np.unique(code, return_index=True)
    return rows[first]


def expected_improvement(mean: np.ndarray, sd: np.ndarray, gflops: np.ndarray, front: list[tuple[float, float]],
                         ref_metric: float, ref_gflops: float) -> np.ndarray:
    """Expected increase of the area the ``front`` points dominate (as
    :func:`locomt.search.front.dominated_area`) when a point of exact ``gflops`` and metric drawn
    from N(mean, sd^2) joins it, per candidate: the sum over the strips right of its GFLOPs of
    width * E[max(0, metric - strip level)]."""
    starts, ends, levels = staircase(front, ref_metric, ref_gflops)
    mean, sd, gflops = (np.asarray(x, float) for x in (mean, sd, gflops))
    out = np.empty(len(mean))
    for at in range(0, len(mean), BLOCK_ROWS):  # in blocks of rows, as EHVISampler.predict
        m, s, g = (x[at:at + BLOCK_ROWS, None] for x in (mean, sd, gflops))
        width = np.clip(ends[None, :] - np.maximum(starts[None, :], g), 0.0, None)
        s = np.maximum(s, 1e-12)
        z = (m - levels[None, :]) / s
        # ndtr and the density written out: scipy.stats.norm checks and masks its arguments (slow here)
        gain = (m - levels[None, :]) * ndtr(z) + s * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
        out[at:at + BLOCK_ROWS] = (width * gain).sum(axis=1)
    return out


class EHVISampler(optuna.samplers.BaseSampler):
    """Proposes whole view patterns: the candidate of :class:`PatternSpace` with the highest
    :func:`expected_improvement` of the study's front under a Gaussian process fitted to
    :func:`rung_observations`; the reference point is the study's (chance level, joint's GFLOPs).
    Parameters are answered from the chosen pattern, one trial at a time."""

    def __init__(self, patterns: PatternSpace, metric: str, seed: int | None = None, n_startup_trials: int = 5,
                 budget_gflops: float | None = None, n_min: int | None = None, mutate: bool = True,
                 startup: str = "uniform", pending: str = "ignore") -> None:
        self.patterns, self._metric, self._mutate, self._startup = patterns, metric, mutate, startup
        self._pending = pending
        self._n_startup, self._budget, self._n_min = n_startup_trials, budget_gflops, n_min
        self._rng = np.random.default_rng(seed)
        self._chosen: tuple[int, dict] | None = None
        self._kernel = None  # the last fitted kernel (with its noise)

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        if self._chosen is None or self._chosen[0] != trial.number:
            self._chosen = trial.number, self.patterns.params(self.claim(study, trial))
        params = self._chosen[1]
        if param_name not in params:
            raise ValueError(f"the ehvi sampler proposes view patterns only, and was asked for {param_name!r}")
        return params[param_name]

    def claim(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, tries: int = 5,
              settle_s: float = 0.5) -> str:
        """:meth:`propose` for ``trial``, recorded in the study at once (system attribute
        ``CLAIM``) so that another worker's proposal leaves it out. Two workers proposing at the same
        moment see the same study and would choose the same pattern: each writes its choice, then
        reads the study again. A trial that sees a lower-numbered running trial claiming the same
        pattern gives way at once (clears its claim, proposes again without that pattern). One that
        sees only higher-numbered rivals cannot tell whether they saw it (and will give way) or read
        before it wrote (and keep it: CI at 36f7d94 trained 1s+3at twice that way), so it waits
        ``settle_s`` and reads again: it keeps the pattern only if every rival has cleared its claim.
        Whichever of two wrote second always sees the first's claim, so two trials never both keep
        one pattern; the wait only decides which one usually does. A rival that has already finished
        (a configuration read back from the run cache ends within a second, sooner than this proposal
        took: 4 of the 36 two-worker benchmark studies in results/ kept one pattern twice that way)
        always wins."""
        taken: set[str] = set()
        for _ in range(tries):
            pattern = self.propose(study, exclude=taken)
            study._storage.set_trial_system_attr(trial._trial_id, CLAIM, pattern)
            rivals = self._rivals(study, trial, pattern)
            if rivals and all(t.number > trial.number and t.state == optuna.trial.TrialState.RUNNING for t in rivals):
                time.sleep(settle_s)  # a higher rival that saw this claim clears its own meanwhile
                rivals = self._rivals(study, trial, pattern)
            if not rivals:
                return pattern
            study._storage.set_trial_system_attr(trial._trial_id, CLAIM, "")
            taken.add(pattern)
        return pattern  # still taken after as many tries: the objective answers a repeat from the study

    @staticmethod
    def _rivals(study: optuna.Study, trial: optuna.trial.FrozenTrial, pattern: str) -> list:
        """The study's other trials that claim ``pattern``, running or finished (not failed)."""
        live = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        return [t for t in study.get_trials(deepcopy=False, states=live)
                if t.number != trial.number and t.system_attrs.get(CLAIM) == pattern]

    def propose(self, study: optuna.Study, exclude: set[str] = frozenset()) -> str:
        """The next pattern to train (canonical spelling): not one the study holds a trial of (or a
        claim on), nor one in ``exclude``."""
        ps = self.patterns
        _, obs, _ = rung_observations(study, self._metric, self._n_min)
        obs = [(t.user_attrs["pattern"], value, t.user_attrs["gflops"]) for t, value in obs if t.user_attrs.get("pattern")]
        around = None
        if self._mutate and obs:  # the observed front, whose neighbours join a drawn candidate set
            on_front = front_ranks([(v, g) for _, v, g in obs]) == 0
            around = ps.rows([p for (p, _, _), keep in zip(obs, on_front) if keep])
        rows = ps.candidates(self._rng, around=around)
        gflops = ps.gflops(rows)
        names = ps.names(rows)
        trials = study.get_trials(deepcopy=False)
        held = {t.user_attrs.get("pattern") for t in trials} | {t.system_attrs.get(CLAIM) for t in trials} | exclude
        budget = np.inf if self._budget is None else self._budget

        def free(names: list[str], gflops: np.ndarray) -> np.ndarray:  # not held, claimed, excluded or over budget
            return np.array([p not in held for p in names], bool) & (gflops <= budget)

        allowed = free(names, gflops)
        if not allowed.any():  # every candidate tried: a repeat, which the objective answers from the study
            return names[int(self._rng.integers(len(names)))]
        idx = np.flatnonzero(allowed)
        if len(obs) < max(self._n_startup, 2):
            if self._startup == "anchors":  # the cost model's corners first, while there are free ones
                anchors = ps.anchors()
                corners = ps.names(anchors)
                corner = [n for n, ok in zip(corners, free(corners, ps.gflops(anchors))) if ok]
                if corner:
                    return corner[int(self._rng.integers(len(corner)))]
            return names[int(self._rng.choice(idx))]
        ref_metric = study.user_attrs.get("chance", min(v for _, v, _ in obs))
        ref_gflops = study.user_attrs.get("reference_gflops", 1.1 * max(g for _, _, g in obs))
        seen, values = ps.rows([p for p, _, _ in obs]), np.array([v for _, v, _ in obs])
        gp = self.fit(seen, values)
        front = [(v, g) for _, v, g in obs]
        pending = self.pending(trials, {p for p, _, _ in obs}) if self._pending == "believer" else []
        if pending:  # Kriging believer: each pattern still training counts as seen at the predicted metric
            rows_p = ps.rows(pending)
            believed = self.posterior(gp, rows_p)[0]
            front += list(zip(believed, ps.gflops(rows_p)))
            seen, values = np.concatenate([seen, rows_p]), np.concatenate([values, believed])
            gp = self.fit(seen, values, kernel=self._kernel)  # the same hyperparameters, the fantasies added
        mean, sd = self.posterior(gp, rows[idx])
        gain = expected_improvement(mean, sd, gflops[idx], front, ref_metric, ref_gflops)
        return names[int(idx[int(np.argmax(gain))])]

    @staticmethod
    def pending(trials: list[optuna.trial.FrozenTrial], observed: set[str]) -> list[str]:
        """The patterns of the running ``trials`` (a study's) that have no observation yet (another
        worker's trial, or its claim while it is being proposed), each once: what ``pending: believer``
        fantasises."""
        out: dict[str, None] = {}
        for t in trials:
            if t.state != optuna.trial.TrialState.RUNNING:
                continue
            pattern = t.user_attrs.get("pattern") if t.params else None
            pattern = pattern or t.system_attrs.get(CLAIM)
            if pattern and pattern not in observed:
                out[pattern] = None
        return list(out)

    def predict(self, seen: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the metric at the patterns ``rows`` of a GP fitted
        to ``values`` of the ``seen`` ones (:meth:`fit`, :meth:`posterior`)."""
        return self.posterior(self.fit(seen, values), rows)

    def fit(self, seen: np.ndarray, values: np.ndarray, kernel=None) -> GaussianProcessRegressor:
        """A GP (Matern 5/2 with a length scale per feature, plus noise) fitted to ``values`` of the
        ``seen`` patterns; given a fitted ``kernel``, conditioned on the data with its hyperparameters
        kept (no optimisation, no draw from the sampler's random stream)."""
        x = self.patterns.features(seen)
        if kernel is not None:
            gp = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=None)
            gp.fit(x, values)
            return gp
        kernel = (ConstantKernel(1.0, (1e-2, 1e2)) * Matern(np.ones(x.shape[1]), (1e-2, 1e2), nu=2.5)
                  + WhiteKernel(0.1, (1e-6, 1e1)))
        many = len(values) > WARM_START
        warm = many and self._kernel is not None and self._kernel.n_dims == kernel.n_dims
        gp = GaussianProcessRegressor(self._kernel if warm else kernel, normalize_y=True,
                                      n_restarts_optimizer=0 if many else 2,
                                      random_state=int(self._rng.integers(2**31)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a length scale at its bound is no error here
            gp.fit(x, values)
        self._kernel = gp.kernel_  # the next fit starts from here once there are many observations
        return gp

    def posterior(self, gp: GaussianProcessRegressor, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the metric at ``rows`` under ``gp``: the standard deviation is
        the metric's, without the fitted noise of a single training run."""
        kernel, gp.kernel_ = gp.kernel_, gp.kernel_.k1
        try:
            mean, sd = np.empty(len(rows)), np.empty(len(rows))
            for start in range(0, len(rows), BLOCK_ROWS):
                block = slice(start, start + BLOCK_ROWS)
                mean[block], sd[block] = gp.predict(self.patterns.features(rows[block]), return_std=True)
        finally:
            gp.kernel_ = kernel
        return mean, sd
