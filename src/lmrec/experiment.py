"""One experiment path: data → split → tune on validation → N seeds → score test → records.

Everything that compares models goes through here: ``lmrec compare`` (:func:`compare`) and
every script under ``benchmarks/`` (:func:`run_experiment`, :func:`run_cold_start`,
:func:`cross_validate_ratings`), so a number in BENCHMARKS.md and one from the CLI are made
the same way.

For each model (:class:`ModelSpec`):

1. **tune**: with a grid, every grid point is fitted for validation
   (``model.fit_split(split, "valid")``) with seed 0 and scored by full-ranking NDCG@10 on
   the validation targets; the best point (the first on ties) is chosen *by this code*, and
   the record lists what was tried (``tuning``) and what was chosen (``chosen``). Without a
   grid there is nothing to choose and no validation fit. In ``cold-item-full`` the choice
   is for new items, which warm validation targets cannot judge: it is made on the same
   protocol nested inside the training part (:func:`_tune_cold`).
2. **seeds**: the chosen parameters are fitted for ``config.on`` (normally test) once per
   seed 0..N-1, the seed going to the model's ``seed`` parameter. Models without one
   (popular, itemknn, ease) are deterministic: they run once and their records say
   ``deterministic: true`` with interval 0, since N runs would give N identical numbers. The
   split does not change with the seed (leave-one-out has no randomness; random splits use
   ``split_seed``), so every model is scored on the same users and per-user results pair.
3. **score**: full ranking over all items (or ``negatives`` sampled ones, marked
   ``sampled-N``), plus RMSE/MAE for rating models when the targets carry ratings.
4. **records**: ``metrics`` = mean over seeds, ``metrics_ci95`` = Student-t half-widths
   (:func:`lmrec.evaluate.stats.mean_ci`), ``per_seed`` = each seed's metrics; per-user
   NDCG@10 / Recall@10 per seed stay in the :class:`ExperimentResult` (and in a JSON file
   beside the records, :func:`save_result`) for paired tests.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lmrec.data.schema import Dataset
from lmrec.data.split import Split
from lmrec.errors import ConfigError, DataError
from lmrec.evaluate.metrics import DEFAULT_KS, rmse
from lmrec.evaluate.ranking import EvalResult, evaluate, evaluate_ratings
from lmrec.evaluate.report import (
    make_record,
    peak_memory_mb,
    per_user_filename,
    split_label,
    startup_code_version,
    write_per_user,
    write_records,
)
from lmrec.evaluate.stats import PairedTest, mean_ci, paired_test
from lmrec.models.base import Recommender
from lmrec.models.registry import MODEL_TYPES, make_model

if TYPE_CHECKING:
    from lmrec.evaluate.cold_start import ColdItemSplit

#: The validation score tuning maximises.
TUNE_METRIC = "ndcg@10"
#: Per-user metrics kept for paired tests.
PER_USER_METRICS: tuple[str, ...] = (
    "ndcg@10",
    "recall@10",
    "ild@10",
    "calibration_kl@10",
    "logloss",  # behaviour prediction: per held-out example
    "pair_auc",
    "recall@20",  # cold-item-full: new items' headline metric
    "warm_ndcg@10",  # cold-item-full: what the warm targets keep (NaN on cold rows)
)

Progress = Callable[[str], None]


def check_seeds(seeds: object) -> int:
    """The number of seeds, or :class:`ConfigError` unless it is a whole number ≥ 1."""
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise ConfigError(f"--seeds must be a whole number of seeds >= 1, got {seeds!r}")
    return int(seeds)


@dataclass(frozen=True)
class ModelSpec:
    """One model of an experiment: registry ``name``, fixed ``params``, a validation ``grid``.

    ``label`` names the model in records (default ``name``), so two specs of one class
    (``transformer``, ``transformer-fusion-gate``) stay apart. ``pretrain`` (parameters that
    override ``params``) first fits a pretraining run per seed with
    ``fit_split(split, "valid")``, saves it under the experiment's ``run_dir`` and starts the
    model from it (``init_from``). ``measure(model, split, on)`` adds metrics to each seed's
    test metrics (calibration, source weights), averaged over seeds like the others.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] = field(default_factory=dict)
    label: str | None = None
    pretrain: Mapping[str, Any] | None = None
    measure: Callable[[Recommender, Split, str], dict[str, float]] | None = field(
        default=None, compare=False
    )
    #: False: no full-ranking test, for a model whose job is another task (LightGBM's
    #: behaviour predictions would cost a pass of every tree per catalogue item per user).
    rank: bool = True

    @property
    def model_label(self) -> str:
        return self.label or self.name

    def grid_choices(self) -> list[dict[str, Any]]:
        """The varied parameters of each grid point (``[{}]`` without a grid).

        A mapping ``{key: [values]}`` is crossed (every combination); a list of dicts is
        taken as the points themselves, for choices that move several parameters together
        (fixed source weights vs learned ones).
        """
        grid = self.grid
        if isinstance(grid, Mapping):
            empty = [k for k, v in grid.items() if len(v) == 0]
            if empty:
                raise ConfigError(f"{self.model_label}: grid values for {empty} are empty")
            keys = list(grid)
            combos = itertools.product(*(grid[k] for k in keys))
            return [dict(zip(keys, c, strict=True)) for c in combos]
        points = [dict(p) for p in grid]
        if not points or not all(isinstance(p, Mapping) for p in grid):
            raise ConfigError(f"{self.model_label}: grid must be a mapping or a list of dicts")
        return points

    def grid_points(self) -> list[dict[str, Any]]:
        """Every parameter combination to try: ``params`` updated by each grid point."""
        if self.name not in MODEL_TYPES:
            raise ConfigError(
                f"unknown model {self.name!r}; known models: {', '.join(MODEL_TYPES)}"
            )
        choices = self.grid_choices()
        for source in (self.params, self.pretrain or {}, *choices):
            if "seed" in source:
                raise ConfigError(
                    f"{self.model_label}: 'seed' is set by the experiment's seeds, "
                    "not by params or grid; drop it"
                )
        return [{**self.params, **choice} for choice in choices]

    @property
    def seeded(self) -> bool:
        """Whether the model takes a ``seed`` (otherwise it is deterministic)."""
        return "seed" in MODEL_TYPES[self.name].param_defaults()


@dataclass(frozen=True)
class ExperimentConfig:
    """What to run models on and how often.

    ``dataset`` is a data set name or a table file; ``split`` a protocol (``loo``,
    ``temporal``, ``random``, ``given``); ``seeds`` the number of seeds (≥ 1) per seeded
    model; ``split_seed`` the random split's seed, fixed across model seeds. ``command`` is
    stored in every record: the command line that re-creates it. ``run_dir`` (relative to
    the working directory) receives pretraining runs.
    """

    dataset: str
    split: str = "loo"
    seeds: int = 3
    on: Literal["valid", "test"] = "test"
    negatives: int | None = None
    ks: tuple[int, ...] = DEFAULT_KS
    data_dir: str | None = None
    columns: Mapping[str, str] | None = None
    sep: str | None = None
    split_seed: int = 0
    command: str | None = None
    run_dir: str = "runs/experiment"
    #: Repeat-aware ranking mode (``new-items`` or ``repeats``, see
    #: :mod:`lmrec.evaluate.ranking`); None follows the data and notes repeat targets.
    mode: str | None = None

    def __post_init__(self) -> None:
        from lmrec.evaluate.ranking import resolve_mode

        check_seeds(self.seeds)
        object.__setattr__(self, "mode", resolve_mode(self.mode))
        if self.on not in ("valid", "test"):
            raise ConfigError(f"on must be 'valid' or 'test', got {self.on!r}")
        if self.negatives is not None and self.negatives < 1:
            raise ConfigError(f"negatives must be a positive number, got {self.negatives}")


@dataclass(frozen=True)
class SeedRun:
    """One fit of one model with one seed, and its test results."""

    seed: int
    params: dict[str, Any]
    results: tuple[EvalResult, ...]  # ranking first, then rating if any
    fit_seconds: float
    info: dict[str, Any]  # early stopping, pretraining: what a reader may want per seed


@dataclass(frozen=True)
class ModelOutcome:
    """Everything one :class:`ModelSpec` produced."""

    spec: ModelSpec
    chosen: dict[str, Any]
    tuning: list[dict[str, Any]]
    deterministic: bool
    runs: list[SeedRun]
    user_ids: np.ndarray | None  # test users in per-user order; None if unavailable
    records: list[dict[str, Any]]
    #: The last seed's fitted model (what the demo saves and shows), not part of records.
    model: Recommender | None = field(default=None, repr=False, compare=False)

    def per_user(self, metric: str = TUNE_METRIC) -> np.ndarray:
        """Seeds × users array of a ranking metric, users in :attr:`user_ids` order."""
        return np.vstack([run.results[0].per_user[metric] for run in self.runs])


@dataclass(frozen=True)
class ExperimentResult:
    """Records and per-user arrays of every model, by label."""

    config: ExperimentConfig
    dataset: str
    split: str
    outcomes: dict[str, ModelOutcome]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for o in self.outcomes.values() for r in o.records]

    def paired(self, a: str, b: str, metric: str = TUNE_METRIC) -> PairedTest:
        """Paired test of model ``a`` minus model ``b`` on per-user ``metric`` (seed means)."""
        oa, ob = self.outcomes[a], self.outcomes[b]
        if (
            oa.user_ids is None
            or ob.user_ids is None
            or not np.array_equal(oa.user_ids, ob.user_ids)
        ):
            raise ConfigError(f"{a} and {b} were not scored on the same users")
        return paired_test(oa.per_user(metric), ob.per_user(metric))


# ----------------------------------------------------------------------------- data
def load_experiment_split(config: ExperimentConfig) -> tuple[str, Split]:
    """The data set's name and its split under ``config.split``."""
    from lmrec.data.registry import load_split

    if config.sep is None:
        split = load_split(
            config.dataset,
            config.split,
            data_dir=config.data_dir,
            columns=dict(config.columns) if config.columns else None,
            seed=config.split_seed,
        )
        return split.train.name, split
    from lmrec.data.loaders.tabular import load_table
    from lmrec.data.split import split_dataset

    path = Path(config.dataset).expanduser()
    if not path.is_file():
        raise ConfigError(f"sep applies to a table file, and {config.dataset!r} is not a file")
    if config.split == "given":
        raise ConfigError("split 'given' applies to named data sets with a shipped split (jd)")
    columns = dict(config.columns) if config.columns else None
    data: Dataset = load_table(path, columns, sep=config.sep)
    return data.name, split_dataset(data, config.split, seed=config.split_seed)


# ----------------------------------------------------------------------------- running
@dataclass
class _Fitter:
    """Builds and fits models, keeping pretraining runs so tuning and seeds share them."""

    config: ExperimentConfig
    dataset: str
    split: Split
    pretrained: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: label -> (the chosen grid point's seed-0 tuning fit, its fit seconds): seed 0 starts
    #: from it when the model can extend a validation fit (``Recommender.extend_fit``).
    tuned: dict[str, tuple[Recommender, float]] = field(default_factory=dict)

    def build(
        self, spec: ModelSpec, params: Mapping[str, Any], seed: int | None
    ) -> tuple[Recommender, dict[str, Any], dict[str, Any]]:
        """The model for ``params`` (+ ``seed``), its full parameters and pretraining info."""
        full = dict(params)
        if seed is not None:
            full["seed"] = seed
        defaults = MODEL_TYPES[spec.name].param_defaults()
        if self.config.mode and "eval_mode" in defaults and "eval_mode" not in full:
            full["eval_mode"] = self.config.mode  # early stopping follows the protocol
        info: dict[str, Any] = {}
        if spec.pretrain is not None:
            run_dir, info = self._pretrain(spec, {**full, **spec.pretrain})
            full["init_from"] = run_dir
        return make_model(spec.name, **full), full, info

    def _pretrain(self, spec: ModelSpec, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key = json.dumps([spec.name, params], sort_keys=True, default=str)
        if key not in self.pretrained:
            digest = hashlib.sha1(key.encode()).hexdigest()[:10]
            run_dir = Path(self.config.run_dir) / f"{self.dataset}-{spec.model_label}-{digest}"
            model = make_model(spec.name, **params)
            start = time.perf_counter()
            model.fit_split(self.split, "valid")
            model.save(run_dir)
            info = {"pretrain": {"seconds": round(time.perf_counter() - start, 1)}}
            info["pretrain"].update(_history_info(model))
            self.pretrained[key] = (run_dir.as_posix(), info)
        return self.pretrained[key]


def _history_info(model: Recommender) -> dict[str, Any]:
    history = getattr(model, "history_", None)
    if history is None or not getattr(history, "losses", None):
        return {}
    return {
        "best_epoch": history.best_epoch + 1,
        "epochs_run": len(history.losses),
        "valid_ndcg@10": round(float(history.best_score), 6),
        "train_loop_seconds": round(float(history.seconds), 1),
        "sequences_per_second": round(float(history.examples_per_second), 1),
    }


def _tune(
    spec: ModelSpec, fitter: _Fitter, progress: Progress
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The grid point with the best validation NDCG@10 (seed 0) and what every point scored."""
    points, choices = spec.grid_points(), spec.grid_choices()
    if len(points) == 1:
        return points[0], choices[0], []
    split = fitter.split
    tuning: list[dict[str, Any]] = []
    best, best_choice, best_score = points[0], choices[0], -math.inf
    for i, (params, tried) in enumerate(zip(points, choices, strict=True), 1):
        model, _, _ = fitter.build(spec, params, 0 if spec.seeded else None)
        start = time.perf_counter()
        model.fit_split(split, "valid")
        seconds = time.perf_counter() - start
        mode = fitter.config.mode
        result = evaluate(model, split, "valid", ks=(10,), progress=False, mode=mode)
        score = float(result.metrics[TUNE_METRIC])
        tuning.append({"params": tried, f"valid_{TUNE_METRIC}": round(score, 6)})
        progress(f"{spec.model_label}: tuning {i}/{len(points)} {tried} valid {score:.4f}")
        if score > best_score:
            best, best_choice, best_score = params, tried, score
            fitter.tuned[spec.model_label] = (model, seconds)
    return best, best_choice, tuning


#: cold-item-full tuning: the warm validation NDCG@10 a grid point may give up, relative
#: to the best of the points tried (and of the reference model), to be chosen for its cold
#: items (the issue's "warm NDCG@10 within 2%").
COLD_WARM_TOLERANCE = 0.02


def _tune_cold(
    spec: ModelSpec,
    fitter: _Fitter,
    nested: ColdItemSplit,
    reference: Mapping[str, Any] | None,
    progress: Progress,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """cold-item-full's choice among grid points, made on the nested protocol
    (:func:`~lmrec.evaluate.cold_start.nested_cold_item_split`): each point (seed 0) is
    fitted on the training part with another share of items held out and scored on those
    pseudo-new items (``valid_recall@20``) and on the warm validation targets
    (``valid_warm_ndcg@10``). Chosen: the best cold Recall@20 among the points whose warm
    NDCG@10 is within :data:`COLD_WARM_TOLERANCE` of the best warm NDCG@10 seen, ties
    to the better warm score. ``reference`` (parameters that turn the model into the one
    without the change, fitted too) only sets that warm bar."""
    from lmrec.evaluate.cold_start import evaluate_cold_items_full

    points, choices = spec.grid_points(), spec.grid_choices()
    if len(points) == 1:
        return points[0], choices[0], []
    runs = [(params, tried, False) for params, tried in zip(points, choices, strict=True)]
    if reference is not None:
        runs.append(({**spec.params, **reference}, dict(reference), True))
    tuning: list[dict[str, Any]] = []
    for i, (params, tried, is_reference) in enumerate(runs, 1):
        model, _, _ = fitter.build(spec, params, 0 if spec.seeded else None)
        model.fit_split(nested.split, "test")
        cold, warm = evaluate_cold_items_full(model, nested)
        row = {
            "params": tried,
            "valid_recall@20": round(float(cold.metrics["recall@20"]), 6),
            "valid_warm_ndcg@10": round(float(warm.metrics[TUNE_METRIC]), 6),
        }
        if is_reference:
            row["reference"] = True
        tuning.append(row)
        progress(
            f"{spec.model_label}: nested cold tuning {i}/{len(runs)} {tried} cold recall@20 "
            f"{row['valid_recall@20']:.4f} warm ndcg@10 {row['valid_warm_ndcg@10']:.4f}"
        )
    best = choose_for_cold_items(tuning)
    return points[best], choices[best], tuning


def within_warm_bar(tuning: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of the non-reference rows of a nested cold tuning (:func:`_tune_cold`)
    whose ``valid_warm_ndcg@10`` is within :data:`COLD_WARM_TOLERANCE` of the best warm
    score of all rows: the points a choice for new items may take."""
    bar = (1 - COLD_WARM_TOLERANCE) * max(r["valid_warm_ndcg@10"] for r in tuning)
    return [
        i for i, r in enumerate(tuning) if not r.get("reference") and r["valid_warm_ndcg@10"] >= bar
    ]


def choose_for_cold_items(tuning: Sequence[Mapping[str, Any]]) -> int:
    """Index of the chosen row of a nested cold tuning (:func:`_tune_cold`): the best
    ``valid_recall@20`` among the rows :func:`within_warm_bar` (the best warm non-reference
    row if there is none), ties to the better warm score, then to the earlier row."""
    eligible = within_warm_bar(tuning)
    if not eligible:
        rows = [i for i, r in enumerate(tuning) if not r.get("reference")]
        return max(rows, key=lambda i: (tuning[i]["valid_warm_ndcg@10"], -i))
    return max(
        eligible,
        key=lambda i: (tuning[i]["valid_recall@20"], tuning[i]["valid_warm_ndcg@10"], -i),
    )


def _ranking_user_ids(split: Split, on: str, result: EvalResult) -> np.ndarray | None:
    """Test users in the order of ``result.per_user`` (sorted user index), if they match."""
    fit_data = split.fit_data(on)  # type: ignore[arg-type]
    index = np.unique(fit_data.idmap.user_index(split.targets(on)["user_id"]))  # type: ignore[arg-type]
    per_user = result.per_user.get(TUNE_METRIC)
    if per_user is None or len(per_user) != len(index):
        return None  # a protocol that scores a subset of the targets: no pairing
    return fit_data.idmap.user_ids(index)


def _score(
    model: Recommender, split: Split, config: ExperimentConfig, rank: bool = True
) -> list[EvalResult]:
    return score_fitted(
        model,
        split,
        config.on,
        ks=config.ks,
        negatives=config.negatives,
        mode=config.mode,
        rank=rank,
    )


def score_fitted(
    model: Recommender,
    split: Split,
    on: Literal["valid", "test"],
    *,
    ks: tuple[int, ...] = DEFAULT_KS,
    negatives: int | None = None,
    mode: str | None = None,
    progress: bool = False,
    rank: bool = True,
) -> list[EvalResult]:
    """Ranking metrics of a model already fitted for ``on``, plus RMSE/MAE for rating models
    when the targets carry ratings, plus AUC/GAUC/LogLoss/ECE for behaviour models (what
    every seed of an experiment, and ``lmrec evaluate`` on a saved run, computes)."""
    results = []
    if rank:
        results.append(
            evaluate(
                model,
                split,
                on,
                ks=ks,
                negatives=negatives,
                seed=0,
                progress=progress,
                mode=mode,
            )
        )
    targets = split.targets(on)
    if model.predicts_ratings and targets["rating"].notna().any():
        results.append(evaluate_ratings(model, targets, split_name=split.protocol, part=on))
    if model.supports("predict_behaviour"):
        from lmrec.evaluate.behaviour import evaluate_behaviour

        try:
            results.append(evaluate_behaviour(model, split, on))
        except DataError:
            if not results:
                raise
            # no held-out event of the model's task (say no buy among the test targets):
            # there is nothing to predict, and the ranking metrics stand on their own
    return results


def fitted_records(
    label: str,
    dataset: str,
    split: Split,
    on: str,
    results: Sequence[EvalResult],
    fit_seconds: float,
    params: Mapping[str, Any],
    command: str | None = None,
) -> list[dict[str, Any]]:
    """Records of one fitted model (one seed, no tuning) in the experiment's format: what
    ``lmrec evaluate`` writes for a saved run."""
    seed = int(params.get("seed", 0))
    run = SeedRun(seed, dict(params), tuple(results), fit_seconds, {})
    config = ExperimentConfig(str(dataset), seeds=1, on=on, command=command)  # type: ignore[arg-type]
    seeded = "seed" in params
    return _records(
        ModelSpec(label), {}, [], [run], config, dataset, split_label(split.protocol, on), seeded
    )


def run_experiment(
    config: ExperimentConfig,
    specs: Sequence[ModelSpec],
    progress: Progress | None = None,
    split: tuple[str, Split] | None = None,
) -> ExperimentResult:
    """Tune, fit per seed and score every model of ``specs`` on one split (module docstring).

    ``split`` = (data set name, split) skips loading, e.g. for a split built in memory.
    ``progress`` receives one line per step (the CLI prints them to stderr).
    """
    say = progress or (lambda _msg: None)
    startup_code_version()  # the code that runs is the code at start, even if edited later
    labels = [s.model_label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"model labels must be distinct, got {labels}")
    dataset, the_split = split if split is not None else load_experiment_split(config)
    fitter = _Fitter(config, dataset, the_split)
    outcomes: dict[str, ModelOutcome] = {}
    for spec in specs:
        chosen, choice, tuning = _tune(spec, fitter, say)

        def fit_and_score(
            model: Recommender, tuned: bool = False, spec: ModelSpec = spec
        ) -> tuple[list, dict]:
            if not (tuned and model.extend_fit(the_split, config.on)):
                model.fit_split(the_split, config.on)
            results = _score(model, the_split, config, spec.rank)
            extra = spec.measure(model, the_split, config.on) if spec.measure else {}
            return results, extra

        outcomes[spec.model_label] = _run_seeds(
            spec,
            chosen,
            choice,
            tuning,
            fitter,
            config,
            fit_and_score,
            split_name=split_label(the_split.protocol, config.on),
            user_ids=lambda r: _ranking_user_ids(the_split, config.on, r),
            say=say,
        )
    return ExperimentResult(config, dataset, the_split.protocol, outcomes)


def _run_seeds(
    spec: ModelSpec,
    chosen: dict[str, Any],
    choice: dict[str, Any],
    tuning: list[dict[str, Any]],
    fitter: _Fitter,
    config: ExperimentConfig,
    fit_and_score: Callable[[Recommender, bool], tuple[list[EvalResult], dict[str, float]]],
    *,
    split_name: str,
    user_ids: Callable[[EvalResult], np.ndarray | None],
    say: Progress,
) -> ModelOutcome:
    seeds = list(range(config.seeds)) if spec.seeded else [0]
    runs: list[SeedRun] = []
    for seed in seeds:
        model, full, info = fitter.build(spec, chosen, seed if spec.seeded else None)
        # Seed 0 of a tuned model is the chosen point's tuning fit, extended where it can be
        # (its fit time then counts the tuning fit).
        tuned = fitter.tuned.pop(spec.model_label, None) if seed == 0 else None
        earlier = 0.0
        if tuned is not None:
            model, earlier = tuned
        start = time.perf_counter()
        results, extra = fit_and_score(model, tuned is not None)
        fit_seconds = earlier + time.perf_counter() - start - sum(r.seconds for r in results)
        if extra:
            ranking = results[0]
            results[0] = EvalResult(
                metrics={**ranking.metrics, **{k.lower(): float(v) for k, v in extra.items()}},
                protocol=ranking.protocol,
                split=ranking.split,
                part=ranking.part,
                n_users=ranking.n_users,
                seconds=ranking.seconds,
                per_user=ranking.per_user,
            )
        info = {**info, **_history_info(model)}
        runs.append(SeedRun(seed, full, tuple(results), fit_seconds, info))
        ndcg = results[0].metrics.get(TUNE_METRIC, math.nan)
        say(f"{spec.model_label}: seed {seed} fit {fit_seconds:.1f} s, {TUNE_METRIC} {ndcg:.4f}")
    ids = user_ids(runs[0].results[0]) if runs[0].results[0].per_user else None
    records = _records(spec, choice, tuning, runs, config, fitter.dataset, split_name, spec.seeded)
    return ModelOutcome(spec, chosen, tuning, not spec.seeded, runs, ids, records, model)


def _records(
    spec: ModelSpec,
    chosen: dict[str, Any],
    tuning: list[dict[str, Any]],
    runs: list[SeedRun],
    config: ExperimentConfig,
    dataset: str,
    split_name: str,
    seeded: bool,
) -> list[dict[str, Any]]:
    """One record per protocol (ranking, rating): means over seeds, intervals, each seed."""
    records = []
    peak = peak_memory_mb()
    for j, first in enumerate(runs[0].results):
        per_seed = [
            {k: round(float(v), 6) for k, v in run.results[j].metrics.items()} for run in runs
        ]
        metrics, ci95 = {}, {}
        for name in per_seed[0]:
            summary = mean_ci([m[name] for m in per_seed])
            metrics[name] = round(summary.mean, 6)
            if not seeded:
                ci95[name] = 0.0  # deterministic: every seed gives this number
            else:
                ci95[name] = None if summary.single else round(summary.half_width, 6)
        extra: dict[str, Any] = {
            "seeds": [run.seed for run in runs],
            "deterministic": not seeded,
            "metrics_ci95": ci95,
            "per_seed": per_seed,
            "params": {k: v for k, v in runs[0].params.items() if k != "seed"},
            "chosen": chosen,
            "tuning": tuning,
            "tuned_on": (
                f"validation {TUNE_METRIC}, seed 0, best of {len(tuning)} grid points"
                if tuning
                else "fixed parameters (no grid)"
            ),
            "n_users": first.n_users,
        }
        if first.mode:  # ranking results: which repeat mode, and what it left out
            extra.update(
                mode=first.mode, n_targets=first.n_targets, repeat_targets=first.repeat_targets
            )
        if first.note:
            extra["note"] = first.note
        infos = [run.info for run in runs]
        if any(infos):
            extra["per_seed_info"] = infos
        if config.command is not None:
            extra["command"] = config.command
        records.append(
            make_record(
                dataset=dataset,
                split=split_name if first.protocol != "rating" else first.split,
                protocol=first.protocol,
                model=spec.model_label,
                metrics=metrics,
                train_seconds=float(np.mean([run.fit_seconds for run in runs])),
                eval_seconds=float(np.mean([run.results[j].seconds for run in runs])),
                peak_mb=peak,
                extra=extra,
            )
        )
    return records


# ----------------------------------------------------------------------------- cold start
def run_cold_start(
    config: ExperimentConfig,
    specs: Sequence[ModelSpec],
    protocol: Literal["cold-item", "cold-item-full", "cold-user"],
    *,
    fraction: float = 0.2,
    progress: Progress | None = None,
    cold_reference: Mapping[str, Any] | None = None,
) -> ExperimentResult:
    """The cold-start protocols of :mod:`lmrec.evaluate.cold_start`, tuned and seeded as
    :func:`run_experiment` (tuning on the warm part's validation targets; in
    ``cold-item-full``, on the nested protocol, see :func:`_tune_cold`, with
    ``cold_reference`` the parameters of the model without the change).

    ``cold-item``: fit with ``fit_split(cold.split, "test")``, rank each cold target among
    the held-out items; metrics also carry ``full_catalogue_recall@20`` / ``_ndcg@10`` (the
    same targets among all items). ``cold-item-full``: the same split and fit, each cold
    target ranked among all items (``recall@20``, ``ndcg@10``, ...) and the warm targets too
    (``warm_ndcg@10``, ``warm_recall@10``). ``cold-user``: fit on the warm users, score the
    new users' first k events (no per-user pairing). The cold split's own seed stays 0.
    """
    from lmrec.data.registry import load_dataset
    from lmrec.evaluate.cold_start import (
        cold_item_split,
        cold_user_split,
        evaluate_cold_items,
        evaluate_cold_items_full,
        evaluate_cold_users,
        nested_cold_item_split,
    )

    say = progress or (lambda _msg: None)
    startup_code_version()
    data = load_dataset(config.dataset, data_dir=config.data_dir)
    if protocol == "cold-item":
        cold_items = cold_item_split(data, fraction=fraction, seed=0)
        split = cold_items.split

        def score(model: Recommender) -> list[EvalResult]:
            result = evaluate_cold_items(model, cold_items, progress=False)
            full = evaluate_cold_items(model, cold_items, full_catalogue=True, progress=False)
            metrics = {
                **result.metrics,
                "full_catalogue_recall@20": full.metrics["recall@20"],
                "full_catalogue_ndcg@10": full.metrics["ndcg@10"],
            }
            return [_with_metrics(result, metrics)]

        split_name = split.protocol
    elif protocol == "cold-item-full":
        cold_items = cold_item_split(data, fraction=fraction, seed=0)
        split = cold_items.split

        def score(model: Recommender) -> list[EvalResult]:
            return [_cold_and_warm(*evaluate_cold_items_full(model, cold_items), cold_items)]

        split_name = split.protocol
    elif protocol == "cold-user":
        cold_users = cold_user_split(data, fraction=fraction, n_given=(1, 2, 3), seed=0)
        split = cold_users.split

        def score(model: Recommender) -> list[EvalResult]:
            return [evaluate_cold_users(model, cold_users, mode=config.mode)]

        split_name = cold_users.protocol
    else:
        raise ConfigError(
            f"protocol must be 'cold-item', 'cold-item-full' or 'cold-user', got {protocol!r}"
        )
    fitter = _Fitter(config, data.name, split)
    outcomes: dict[str, ModelOutcome] = {}
    nested = nested_cold_item_split(cold_items) if protocol == "cold-item-full" else None
    for spec in specs:
        if nested is not None:
            chosen, choice, tuning = _tune_cold(spec, fitter, nested, cold_reference, say)
        else:
            chosen, choice, tuning = _tune(spec, fitter, say)

        def fit_and_score(
            model: Recommender, tuned: bool = False, spec: ModelSpec = spec
        ) -> tuple[list, dict]:
            if not (tuned and model.extend_fit(split, "test")):
                model.fit_split(split, "test")
            extra = spec.measure(model, split, "test") if spec.measure else {}
            return score(model), extra

        def user_ids(result: EvalResult) -> np.ndarray | None:
            if protocol != "cold-item":  # cold-user: no pairing; cold-item-full: result.ids
                return None
            return _ranking_user_ids(split, "test", result)

        outcomes[spec.model_label] = _run_seeds(
            spec,
            chosen,
            choice,
            tuning,
            fitter,
            config,
            fit_and_score,
            split_name=split_name,
            user_ids=user_ids,
            say=say,
        )
    return ExperimentResult(config, data.name, split_name, outcomes)


def run_temporal_update(
    config: ExperimentConfig,
    spec: ModelSpec,
    *,
    cuts: tuple[float, float] = (0.90, 0.95),
    epochs: int = 3,
    replay: float = 1.0,
    progress: Progress | None = None,
) -> ExperimentResult:
    """The temporal-update protocol (:mod:`lmrec.evaluate.update`) for one updatable model,
    seeded as :func:`run_experiment` (fixed parameters: the update has no validation).

    Two outcomes, ``<label>-update`` (fitted on the old period, then updated with the new
    one; metrics add ``update_seconds``, ``retrain_seconds``, ``speedup``,
    ``old_ndcg@10_before`` / ``_after`` and ``forgetting``) and ``<label>-retrain`` (fitted
    from scratch on old + new), both scored on the same test-period targets.
    """
    from lmrec.data.registry import load_dataset
    from lmrec.evaluate.update import (
        fit_on_all,
        old_probe,
        score_new_period,
        score_old_period,
        temporal_update_split,
    )

    say = progress or (lambda _msg: None)
    if len(spec.grid_choices()) != 1 or spec.grid_choices()[0] or spec.pretrain is not None:
        raise ConfigError("run_temporal_update takes fixed parameters (no grid, no pretrain)")
    if not MODEL_TYPES[spec.name].supports("update"):
        raise ConfigError(f"{spec.name} cannot be updated (capability 'update')")
    startup_code_version()
    data = load_dataset(config.dataset, data_dir=config.data_dir)
    split = temporal_update_split(data, cuts)
    say(split.protocol)
    # _Fitter builds the seeded models; its split would serve pretraining, which this
    # protocol does not do (the spec has no ``pretrain``).
    fitter = _Fitter(config, data.name, Split(split.combined, split.test, split.test, "none"))
    chosen = spec.grid_points()[0]
    label = spec.model_label

    def updated_with_forgetting(model: Recommender, tuned: bool = False) -> tuple[list, dict]:
        fit_on_all(model, split.old)
        before_model = copy.deepcopy(model)  # the update changes the model in place
        start = time.perf_counter()
        model.update(split.new_events, split.new_items, epochs=epochs, replay=replay)
        seconds = time.perf_counter() - start
        if list(model.idmap_.users) != list(split.combined.idmap.users):
            raise RuntimeError("the updated model's users are not in the retrained one's order")
        probe = old_probe(split, set(map(str, model.update_users_)))
        before = score_old_period(before_model, probe)["ndcg@10"]
        after = score_old_period(model, probe)["ndcg@10"]
        return [score_new_period(model, split)], {
            "update_seconds": seconds,
            "old_ndcg@10_before": before,
            "old_ndcg@10_after": after,
            "forgetting": before - after,
            "n_probe_users": len(probe.users),
            "new_users": model.idmap_.n_users - split.old.n_users,
            "new_items": model.idmap_.n_items - split.old.n_items,
        }

    def retrained(model: Recommender, tuned: bool = False) -> tuple[list, dict]:
        start = time.perf_counter()
        fit_on_all(model, split.combined)
        seconds = time.perf_counter() - start
        return [score_new_period(model, split)], {"retrain_seconds": seconds}

    def test_users(result: EvalResult) -> np.ndarray | None:
        """Per-user order: sorted user index, the same in both models (checked above)."""
        idmap = split.combined.idmap
        users = idmap.user_ids(np.unique(idmap.user_index(split.test["user_id"])))
        per_user = result.per_user.get(TUNE_METRIC)
        return users if per_user is not None and len(per_user) == len(users) else None

    outcomes: dict[str, ModelOutcome] = {}
    for suffix, fit_and_score in (("update", updated_with_forgetting), ("retrain", retrained)):
        this = ModelSpec(spec.name, params=chosen, label=f"{label}-{suffix}")
        outcomes[this.model_label] = _run_seeds(
            this,
            chosen,
            {},
            [],
            fitter,
            config,
            fit_and_score,
            split_name=split.protocol,
            user_ids=test_users,
            say=say,
        )
    _add_retrain_times(outcomes[f"{label}-update"], outcomes[f"{label}-retrain"])
    return ExperimentResult(config, data.name, split.protocol, outcomes)


def _add_retrain_times(update: ModelOutcome, retrain: ModelOutcome) -> None:
    """Put the retraining time (and the speed-up) next to the update time in the update's
    record, per seed and averaged, so one record answers "how much faster"."""
    record = update.records[0]
    for per_seed, mine, theirs in zip(record["per_seed"], update.runs, retrain.runs, strict=True):
        retrain_s = float(theirs.results[0].metrics["retrain_seconds"])
        per_seed["retrain_seconds"] = round(retrain_s, 3)
        per_seed["speedup"] = round(retrain_s / float(mine.results[0].metrics["update_seconds"]), 2)
    for key in ("retrain_seconds", "speedup"):
        summary = mean_ci([p[key] for p in record["per_seed"]])
        record["metrics"][key] = round(summary.mean, 6)
        record["metrics_ci95"][key] = None if summary.single else round(summary.half_width, 6)


def _cold_and_warm(cold: EvalResult, warm: EvalResult, cold_items: Any) -> EvalResult:
    """One ``cold-item-full`` result: the cold targets' metrics plus the warm targets' as
    ``warm_*``. Its per-row scores cover the cold users, then the warm ones (ids
    ``cold:<user>``, ``warm:<user>``), each metric NaN on the rows it does not describe, so
    that both the new items' recall and the warm NDCG pair with another model's per user."""
    metrics = {**cold.metrics, **{f"warm_{k}": v for k, v in warm.metrics.items() if "@" in k}}
    idmap = cold_items.split.fit_data("test").idmap
    cold_users, warm_users = (
        idmap.user_ids(np.unique(idmap.user_index(targets["user_id"])))
        for targets in (cold_items.split.test, cold_items.warm_test)
    )
    for users, result in ((cold_users, cold), (warm_users, warm)):
        if len(users) != len(result.per_user.get(TUNE_METRIC, ())):
            return _with_metrics(cold, metrics)  # a subset was scored: no per-row pairing
    nan_cold, nan_warm = np.full(len(cold_users), np.nan), np.full(len(warm_users), np.nan)
    per_user = {k: np.concatenate([v, nan_warm]) for k, v in cold.per_user.items()}
    per_user |= {f"warm_{k}": np.concatenate([nan_cold, v]) for k, v in warm.per_user.items()}
    ids = np.array([f"cold:{u}" for u in cold_users] + [f"warm:{u}" for u in warm_users])
    return dataclasses.replace(cold, metrics=metrics, per_user=per_user, ids=ids)


def _with_metrics(result: EvalResult, metrics: dict[str, float]) -> EvalResult:
    return EvalResult(
        metrics=metrics,
        protocol=result.protocol,
        split=result.split,
        part=result.part,
        n_users=result.n_users,
        seconds=result.seconds,
        per_user=result.per_user,
    )


# ----------------------------------------------------------------------------- ratings CV
def cross_validate_ratings(
    dataset: str,
    spec: ModelSpec,
    *,
    n_splits: int = 5,
    data_dir: str | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """RMSE/MAE by k-fold cross-validation (Surprise's protocol): one record, fold means.

    The folds play the role of seeds (``per_fold`` holds each fold's metrics, the interval
    is over folds); the model keeps its default seed 0 so folds differ only in data. A
    ``spec.grid`` is chosen once, on the first fold's training ratings
    (:func:`_tune_on_fold`: never a fold's test part), and the record lists ``tuning`` and
    ``chosen``.
    """
    from lmrec.data.registry import load_dataset
    from lmrec.data.split import kfold

    startup_code_version()
    data = load_dataset(dataset, data_dir=data_dir)
    folds = kfold(data, n_splits=n_splits, seed=0)
    params, chosen, tuning = _tune_on_fold(spec, folds[0])
    per_fold, fit_times, eval_times = [], [], []
    for fold in folds:
        model = make_model(spec.name, **params)
        start = time.perf_counter()
        model.fit(fold.fit_data("test"))
        fit_times.append(time.perf_counter() - start)
        result = evaluate_ratings(model, fold.test, split_name=fold.protocol)
        per_fold.append(result.metrics)
        eval_times.append(result.seconds)
    metrics = {k: mean_ci([m[k] for m in per_fold]) for k in per_fold[0]}
    extra: dict[str, Any] = {
        "params": params,
        "per_fold": per_fold,
        "metrics_ci95": {k: v.half_width for k, v in metrics.items()},
        "seconds": "mean per fold",
    }
    if tuning:
        extra["tuning"], extra["chosen"] = tuning, chosen
    if command is not None:
        extra["command"] = command
    return make_record(
        dataset=data.name,
        split=f"{n_splits}-fold cross-validation (seed=0)",
        protocol="rating",
        model=spec.model_label,
        metrics={k: v.mean for k, v in metrics.items()},
        train_seconds=float(np.mean(fit_times)),
        eval_seconds=float(np.mean(eval_times)),
        peak_mb=peak_memory_mb(),
        extra=extra,
    )


#: The share of the first fold's training ratings a rating grid is chosen on.
RATING_TUNE_SHARE = 0.1


def _tune_on_fold(
    spec: ModelSpec, fold: Split
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(parameters, chosen grid values, tuning rows) for cross-validation: each grid point
    is fitted on the fold's training ratings less :data:`RATING_TUNE_SHARE` of them
    (seeded, every user keeps one; :func:`~lmrec.data.split.hold_out_ratings`) and scored by
    RMSE on those; the lowest wins, ties to the earlier point. Held-out ratings of items
    left without a training event are not scored (no model knows those items)."""
    from lmrec.data.split import hold_out_ratings

    points, choices = spec.grid_points(), spec.grid_choices()
    if len(points) == 1:
        return points[0], choices[0], []
    fit_data = fold.fit_data("test")
    train, held = hold_out_ratings(fit_data, RATING_TUNE_SHARE, seed=0)
    known = set(train.interactions["item_id"].astype(str))
    held = held[held["item_id"].astype(str).isin(known)]
    if held.empty:
        raise DataError(f"{fit_data.name}: no held-out rating to choose the grid on")
    tuning = []
    for params, tried in zip(points, choices, strict=True):
        model = make_model(spec.name, **params).fit(train)
        predicted = model.predict(held["user_id"].tolist(), held["item_id"].tolist())
        error = rmse(predicted, held["rating"].to_numpy(dtype=np.float64))
        tuning.append({"params": tried, "valid_rmse": round(float(error), 6)})
    best = min(range(len(points)), key=lambda i: (tuning[i]["valid_rmse"], i))
    return points[best], choices[best], tuning


# ----------------------------------------------------------------------------- saving
def save_result(
    result: ExperimentResult,
    records_file: str | Path,
    per_user_dir: str | Path,
    protocols: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Write the per-user scores of every model, then its records (merged into the file).

    Each ranking record gets ``per_user_file``: the per-user JSON path relative to the
    records file's folder, so render.py can recompute paired tests. ``protocols`` keeps only
    records of those protocols (a rating benchmark need not keep its ranking side-product).
    """
    records_file, per_user_dir = Path(records_file), Path(per_user_dir)
    written: list[dict[str, Any]] = []
    for outcome in result.outcomes.values():
        for j, record in enumerate(outcome.records):
            if protocols is not None and record["protocol"] not in protocols:
                continue
            record = dict(record)
            first = outcome.runs[0].results[j]
            ids = first.ids if first.ids is not None else outcome.user_ids
            if ids is not None and first.per_user:
                name = per_user_filename(record["dataset"], record["model"], record["protocol"])
                path = write_per_user(
                    per_user_dir / name,
                    dataset=record["dataset"],
                    split=record["split"],
                    protocol=record["protocol"],
                    model=record["model"],
                    user_ids=ids,
                    seeds=record["seeds"],
                    scores={
                        m: np.vstack([run.results[j].per_user[m] for run in outcome.runs])
                        for m in PER_USER_METRICS
                        if m in first.per_user
                    },
                )
                record["per_user_file"] = Path(_relpath(path, records_file.parent)).as_posix()
            written.append(record)
    write_records(records_file, written)
    return written


def _relpath(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), start.resolve())


# ----------------------------------------------------------------------------- CLI entry
def compare(
    data: str,
    models: Sequence[str],
    params_by_model: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    grids_by_model: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    split: str = "loo",
    seeds: int = 1,
    on: Literal["valid", "test"] = "test",
    negatives: int | None = None,
    data_dir: str | Path | None = None,
    columns: Mapping[str, str] | None = None,
    sep: str | None = None,
    split_seed: int = 0,
    command: str | None = None,
    progress: Progress | None = None,
    mode: str | None = None,
) -> ExperimentResult:
    """What ``lmrec compare`` runs: each named model with its params (and optional grid),
    ``seeds`` seeds, scored on ``on`` of the ``split`` of ``data`` (a name or table file).

    ``seeds`` < 1 raises :class:`ConfigError` (``--seeds must be a whole number …``).
    """
    params_by_model = params_by_model or {}
    grids_by_model = grids_by_model or {}
    unknown = sorted((set(params_by_model) | set(grids_by_model)) - set(models))
    if unknown:
        raise ConfigError(f"parameters given for models not compared: {unknown}")
    config = ExperimentConfig(
        dataset=str(data),
        split=split,
        seeds=check_seeds(seeds),
        on=on,
        negatives=negatives,
        data_dir=None if data_dir is None else str(data_dir),
        columns=columns,
        sep=sep,
        split_seed=split_seed,
        command=command,
        mode=mode,
    )
    specs = [
        ModelSpec(
            name,
            params=dict(params_by_model.get(name, {})),
            grid=dict(grids_by_model.get(name, {})),
        )
        for name in models
    ]
    return run_experiment(config, specs, progress=progress)


__all__ = [
    "ExperimentConfig",
    "ExperimentResult",
    "ModelOutcome",
    "ModelSpec",
    "SeedRun",
    "check_seeds",
    "compare",
    "cross_validate_ratings",
    "fitted_records",
    "load_experiment_split",
    "run_cold_start",
    "run_experiment",
    "save_result",
    "score_fitted",
]
