"""Search spaces (``sweeps/*.yaml``): the schema, how a trial becomes a config, and the trials every study holds.

A space file names how view patterns are searched (``space``: ``counts``, how many heads of each
fusion layer take each view, as integers; ``heads``, a view per head; ``shared``, one set of counts
for every fusion layer), the
sampler, the study size, an optional GFLOPs budget, the baselines and presets enqueued in every
study, config overrides for every trial, and extra dotted config keys to search (``params``:
``{choices: [...]}`` or ``{low, high[, log][, step]}``). See ``python -m locomt.sweep --help``.

``strategy`` says how a proposed configuration is evaluated: ``full`` trains every one on the
whole schedule; ``asha`` is multi-objective successive halving over epochs
(``locomt.search.fidelity``: judged after ``min_epochs``, ``min_epochs * eta``, ... epochs, only the
best ``1/eta`` by non-dominated rank go on; the front is made of configurations that finished).
``sampler``: ``tpe``, ``nsga2`` and ``random`` are Optuna's; ``ehvi`` (``locomt.search.ehvi``)
models the metric with a Gaussian process, takes each candidate pattern's GFLOPs from the cost
model and proposes the one of highest expected hypervolume improvement (view patterns only: no
``params``); ``startup: anchors`` makes its first proposals the cost model's cheapest pattern of
each view mix instead of uniform draws, and ``startup_trials`` (default 5) says how many there are
(ehvi's only: other samplers ignore it); ``pending: believer`` (Kriging believer) makes each trial another
worker is still training count, for the next proposal, as seen at the model's predicted metric, so
that parallel workers do not propose the same corner of the space (``ignore``, the default: only
those patterns themselves are left out).
``asha_type`` says when a configuration goes on (the names of syne-tune's and AutoGluon's
Hyperband schedulers): ``stopping`` judges it as it reaches a rung, against those that reached the
rung before it, and it trains on in the same trial or stops there; ``promotion`` (ASHA as Li et al.
2020 run it) pauses every configuration at its rung and resumes one, as a new trial charged only
its new epochs, once it is among the best ``1/eta`` of those at the rung.
``budget_epochs`` ends the study once its trials have trained that many epochs in all.
``objectives``: ``[metric, gflops]`` (the default: maximise the validation metric, minimise GFLOPs)
or ``[metric, gflops, worst_missing]``, which adds a third, maximised: the worst validation metric
with one modality missing, measured from each trial's selected checkpoint at the end of its training
(:mod:`locomt.search.missing`); it needs ``strategy: full`` and the tpe, nsga2 or random sampler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locomt.config import (ConfigError, ExperimentConfig, experiment_path, get_value, load_config, model_config,
                           with_model, with_values)
from locomt.constraints import check_seed
from locomt.models import BASELINES, takes_pattern
from locomt.pattern import NAMED_PRESETS, resolve_pattern, view_names

if TYPE_CHECKING:
    import optuna

SPACES = ("counts", "heads", "shared")
OBJECTIVES = (("metric", "gflops"), ("metric", "gflops", "worst_missing"))  # what a study optimises
SAMPLERS = ("tpe", "nsga2", "random", "ehvi")
STARTUPS = ("uniform", "anchors")  # ehvi's first proposals (locomt.search.ehvi.EHVISampler)
PENDINGS = ("ignore", "believer")  # what ehvi makes of another worker's trial still training
STRATEGIES = ("full", "asha")
ASHA_TYPES = ("stopping", "promotion")


@dataclass(frozen=True)
class SweepSpace:
    """A search space file (``sweeps/*.yaml``); see the module docstring."""

    space: str = "counts"
    n_trials: int = 14
    sampler: str = "tpe"
    seed: int = 0
    budget_gflops: float | None = None
    baselines: tuple[str, ...] = BASELINES
    presets: tuple[str, ...] = NAMED_PRESETS
    overrides: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)
    strategy: str = "full"  # full | asha
    min_epochs: int = 1  # asha: the first rung
    eta: int = 3  # asha: 1/eta of the configurations at a rung go on
    asha_type: str = "stopping"  # asha: stopping | promotion (see the module docstring)
    budget_epochs: int | None = None  # end the study once its trials trained this many epochs
    n_workers: int | None = None  # local worker processes; None: one per CPU core (one torch thread each)
                                  # or, with a GPU accelerator, one per visible device
    confirm_seeds: int = 3  # seeds in all of every validation-front configuration and baseline after the
                            # search (the search's own seed and confirm_seeds - 1 more); 0 or 1: none
    startup: str = "uniform"  # ehvi's first proposals: uniform over the candidates, or the cost model's
                              # anchors (the cheapest pattern of each view mix) in random order
    startup_trials: int = 5  # ehvi's proposals drawn at random (or among the anchors) before it models the study
                             # (at least 2: a Gaussian process needs two observations); TPE keeps its 5, so
                             # --sampler tpe on a space that sets this is the TPE every benchmark measured
    pending: str = "ignore"  # ehvi, trials still training (other workers'): ignore, only their patterns left out, or
                             # believer (Kriging believer): each counts as seen at the model's predicted metric
    objectives: tuple[str, ...] = ("metric", "gflops")  # or add worst_missing: the worst validation metric
                                                        # with one modality missing (locomt.search.missing)

    def __post_init__(self) -> None:
        check_seed("seed", self.seed)  # the sampler's
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r} is unknown; expected one of {', '.join(STRATEGIES)}")
        if self.asha_type not in ASHA_TYPES:
            raise ValueError(f"asha_type {self.asha_type!r} is unknown; expected one of {', '.join(ASHA_TYPES)}")
        if self.min_epochs < 1 or self.eta < 2:
            raise ValueError(f"min_epochs={self.min_epochs}, eta={self.eta}; expected min_epochs >= 1 and eta >= 2")
        if self.budget_epochs is not None and self.budget_epochs < 1:
            raise ValueError(f"budget_epochs={self.budget_epochs}; expected a number of epochs >= 1 (or null)")
        if isinstance(self.confirm_seeds, bool) or not isinstance(self.confirm_seeds, int) or self.confirm_seeds < 0:
            raise ValueError(f"confirm_seeds={self.confirm_seeds!r}; expected a whole number of seeds >= 0 "
                             "(0 turns the confirmation off)")
        if self.n_workers is not None and (isinstance(self.n_workers, bool) or not isinstance(self.n_workers, int)
                                           or self.n_workers < 1):
            raise ValueError(f"n_workers={self.n_workers!r}; expected a whole number of worker processes >= 1 "
                             "(or null: one per core, or per GPU)")
        if self.space not in SPACES:
            raise ValueError(f"space {self.space!r} is unknown; expected one of {', '.join(SPACES)}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler {self.sampler!r} is unknown; expected one of {', '.join(SAMPLERS)}")
        if self.startup not in STARTUPS or (self.startup != "uniform" and self.sampler != "ehvi"):
            raise ValueError(f"startup {self.startup!r} with sampler {self.sampler!r}; expected one of "
                             f"{', '.join(STARTUPS)}, and anything but uniform only with sampler ehvi")
        if isinstance(self.startup_trials, bool) or not isinstance(self.startup_trials, int) or self.startup_trials < 0:
            raise ValueError(f"startup_trials={self.startup_trials!r}; expected a whole number of random proposals >= 0")
        if self.pending not in PENDINGS or (self.pending != "ignore" and self.sampler != "ehvi"):
            raise ValueError(f"pending {self.pending!r} with sampler {self.sampler!r}; expected one of "
                             f"{', '.join(PENDINGS)}, and anything but ignore only with sampler ehvi")
        if self.sampler == "ehvi" and self.params:
            raise ValueError(f"sampler 'ehvi' proposes view patterns only, and params has {', '.join(self.params)}; "
                             "expected no params (or another sampler)")
        if tuple(self.objectives) not in OBJECTIVES:
            raise ValueError(f"objectives {list(self.objectives)}; expected "
                             + " or ".join(f"[{', '.join(o)}]" for o in OBJECTIVES))
        if "worst_missing" in self.objectives and (self.sampler == "ehvi" or self.strategy != "full"):
            raise ValueError(f"objectives with worst_missing need strategy 'full' and sampler tpe, nsga2 or random, "
                             f"and this space has strategy {self.strategy!r}, sampler {self.sampler!r} (ehvi models one "
                             "uncertain objective; asha ranks its rungs on the metric and GFLOPs)")
        if self.n_trials < 1:
            raise ValueError(f"n_trials must be >= 1, got {self.n_trials}")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise ValueError(f"baselines: {bad[0]!r} is not a baseline; expected some of {', '.join(BASELINES)}")
        for key, dist in self.params.items():
            _distribution(key, dist)  # validates


def load_space(path: str | Path) -> SweepSpace:
    return load_config(path, schema=SweepSpace)


def space_path(dataset: str) -> Path:
    """``sweeps/<dataset>.yaml`` next to the experiment config of that name."""
    path = experiment_path(dataset).parent.parent / "sweeps" / f"{dataset}.yaml"
    if not path.is_file():
        raise ConfigError(f"no search space {str(path)!r} for dataset {dataset!r}; give one with --space")
    return path


def _distribution(key: str, dist: Any) -> optuna.distributions.BaseDistribution:
    """``{choices: [...]}`` -> categorical; ``{low, high[, log][, step]}`` -> int or float range."""
    import optuna  # here, not at start-up: --help and a bad option answer without it

    if not isinstance(dist, dict):
        raise ConfigError(f"params.{key}: expected {{choices: [...]}} or {{low: .., high: ..}}, got {dist!r}")
    if set(dist) == {"choices"} and isinstance(dist["choices"], list) and dist["choices"]:
        return optuna.distributions.CategoricalDistribution(dist["choices"])
    if {"low", "high"} <= set(dist) <= {"low", "high", "log", "step"}:
        low, high = dist["low"], dist["high"]
        # integers: int bounds without log, or an int step; anything else is a float range
        step, log = dist.get("step"), bool(dist.get("log"))
        ints = (isinstance(low, int) and isinstance(high, int) and not log) or isinstance(step, int)
        try:
            if ints:
                return optuna.distributions.IntDistribution(int(low), int(high), log=log, step=int(step or 1))
            return optuna.distributions.FloatDistribution(float(low), float(high), log=log, step=step)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"params.{key}: {err}") from None
    raise ConfigError(f"params.{key}: expected {{choices: [...]}} or {{low: .., high: ..[, log: true][, step: ..]}}, "
                      f"got {dist!r}")


def _count_params(counts: tuple[int, ...] | list[int], views: tuple[str, ...], prefix: str) -> dict[str, int]:
    """A layer's head counts as trial parameters: one integer per view but the last, which takes the
    heads that are left (stick-breaking), so every layer spec is one parameter point and back."""
    return {f"{prefix}{v}": int(n) for v, n in zip(views[:-1], counts[:-1])}


def _suggest_counts(trial: optuna.Trial, views: tuple[str, ...], n_heads: int, prefix: str) -> str:
    """A layer spec from integer head counts: ``s`` in 0..H, then each pair in 0..(heads left); the
    last view takes the rest. Neighbouring counts are neighbouring values for the sampler."""
    left, counts = n_heads, []
    for v in views[:-1]:
        n = trial.suggest_int(f"{prefix}{v}", 0, left)
        counts.append(n)
        left -= n
    return "+".join(f"{n}{v}" for v, n in zip(views, [*counts, left]) if n)


def pattern_params(pattern: str, space: str, cfg: ExperimentConfig) -> dict[str, Any] | None:
    """The trial parameters that express ``pattern`` in a search space, or None when the space
    cannot (a per-layer pattern in the ``shared`` space)."""
    mcfg = model_config(cfg, n_classes=1)
    p = resolve_pattern(pattern, mcfg.codes, mcfg.n_heads, mcfg.n_fusion_layers)
    views = view_names(mcfg.codes)
    if space == "shared":
        return _count_params(p.layers[0], views, "") if len(set(p.layers)) == 1 else None
    if space == "counts":
        return {k: v for i, layer in enumerate(p.layers) for k, v in _count_params(layer, views, f"layer{i}.").items()}
    return {f"layer{i}.head{h}": v for i in range(len(p.layers)) for h, v in enumerate(p.head_views(i))}


def suggest_pattern(trial: optuna.Trial, space: str, cfg: ExperimentConfig) -> str:
    """Ask the sampler for a view pattern of the model ``cfg`` describes (canonical form)."""
    mcfg = model_config(cfg, n_classes=1)
    codes, n_heads, n_layers = mcfg.codes, mcfg.n_heads, mcfg.n_fusion_layers
    views = view_names(codes)
    if n_layers == 0:
        return f"{n_heads}s"
    if space == "shared":
        spec = _suggest_counts(trial, views, n_heads, "")
    elif space == "counts":
        spec = "/".join(_suggest_counts(trial, views, n_heads, f"layer{i}.") for i in range(n_layers))
    else:
        layers = []
        for i in range(n_layers):
            heads = [trial.suggest_categorical(f"layer{i}.head{h}", views) for h in range(n_heads)]
            layers.append("+".join(f"{heads.count(v)}{v}" for v in views if heads.count(v)))
        spec = "/".join(layers)
    return str(resolve_pattern(spec, codes, n_heads, n_layers))


def trial_config(trial: optuna.Trial, base: ExperimentConfig, space: SweepSpace) -> ExperimentConfig:
    """The experiment config of a trial: the extra params, then the backbone and view pattern
    (fixed for enqueued baselines and presets through the trial's user attributes)."""
    values = {key: _suggest(trial, key, _distribution(key, dist)) for key, dist in space.params.items()}
    cfg = with_values(base, values)
    backbone = trial.user_attrs.get("backbone", "locomt")
    if not takes_pattern(backbone):
        pattern = cfg.model.pattern
    elif "pattern" in trial.user_attrs:
        pattern = trial.user_attrs["pattern"]
    else:
        pattern = suggest_pattern(trial, space.space, cfg)
    return with_model(cfg, backbone, pattern)


def _suggest(trial: optuna.Trial, key: str, dist: optuna.distributions.BaseDistribution) -> Any:
    import optuna

    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return trial.suggest_categorical(key, dist.choices)
    if isinstance(dist, optuna.distributions.IntDistribution):
        return trial.suggest_int(key, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(key, dist.low, dist.high, step=dist.step, log=dist.log)


def _contains(dist: optuna.distributions.BaseDistribution, value: Any) -> bool:
    import optuna

    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return value in dist.choices
    return isinstance(value, (int, float)) and dist.low <= value <= dist.high


def default_trials(base: ExperimentConfig, space: SweepSpace) -> list[tuple[dict, dict]]:
    """(params, user_attrs) of the baselines and presets every study holds. Extra params are fixed
    at the base config's values where the space contains them."""
    fixed = {}
    for key, dist in space.params.items():
        try:
            value = get_value(base, key)
        except ConfigError as err:
            raise ConfigError(f"params: {err}") from None
        if _contains(_distribution(key, dist), value):
            fixed[key] = value
    trials = [(dict(fixed), {"backbone": b, "label": b, "role": "baseline"}) for b in space.baselines]
    for preset in space.presets:
        params = pattern_params(preset, space.space, base)
        attrs = {"label": preset, "role": "preset"}
        if params is None:
            attrs["pattern"] = preset
        trials.append(({**fixed, **(params or {})}, attrs))
    return trials


def check_params(base: ExperimentConfig, space: SweepSpace) -> None:
    """ConfigError for a param whose choices or bounds the config refuses (``model.fusion_layer:
    {choices: [1, 9]}`` on a 4-layer model), before any trial could fail on it."""
    import optuna

    for key, dist in space.params.items():
        d = _distribution(key, dist)
        values = d.choices if isinstance(d, optuna.distributions.CategoricalDistribution) else (d.low, d.high)
        for value in values:
            try:
                with_values(base, {key: value})
            except ConfigError as err:
                raise ConfigError(f"params.{key}: the value {value!r} is refused: {err}") from None


def enqueue_defaults(study: optuna.Study, base: ExperimentConfig, space: SweepSpace) -> int:
    """Enqueue the baselines and presets that the study holds no trial of; returns how many."""
    labels = {t.user_attrs.get("label") for t in study.get_trials(deepcopy=False)}
    todo = [(params, attrs) for params, attrs in default_trials(base, space) if attrs["label"] not in labels]
    for params, attrs in todo:
        study.enqueue_trial(params, user_attrs=attrs)
    return len(todo)
