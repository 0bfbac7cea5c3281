"""Re-ranking experiments: sweep each method's knob on validation, choose it by code, score
the chosen lists on test over N seeds (the experiment path of :mod:`lmrec.experiment`).

1. The base model is tuned as in :func:`lmrec.experiment.run_experiment` and fitted for
   validation with seed 0.
2. **Sweep**: for each method and knob, its re-ranked lists are scored on the validation
   targets (:func:`sweep`); re-ranking needs no refit, so a sweep costs evaluations only.
3. **Choose** (:func:`choose_knob`): among knobs whose validation NDCG@10 stays within
   ``max_loss`` (default 5%) of the un-reranked lists, the one that improves the method's
   own aim most: intra-list diversity for MMR and DPP, calibration KL for calibrated.
   With several ``relevances`` (scores, probabilities: :mod:`lmrec.rerank`) each is swept
   and the choice runs over every (knob, relevance) pair.
4. **Seeds**: per seed the base is fitted for test (seed 0 extends its validation fit when
   the model can) and scored as is and re-ranked at each chosen knob, so every re-ranked
   record pairs with the base record user by user and seed by seed.

Records are named ``{base}`` and ``{base}-{method}-{knob}`` (``-prob`` appended when the
lists weigh probabilities); each re-ranked record keeps its
validation sweep (``tuning``) and the rule that chose the knob (``tuned_on``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from lmrec.errors import ConfigError
from lmrec.evaluate.diversity import ItemSpace, item_space
from lmrec.evaluate.ranking import EvalResult, evaluate
from lmrec.evaluate.report import split_label, startup_code_version
from lmrec.experiment import (
    TUNE_METRIC,
    ExperimentConfig,
    ExperimentResult,
    ModelOutcome,
    ModelSpec,
    Progress,
    SeedRun,
    _Fitter,
    _history_info,
    _ranking_user_ids,
    _records,
    _tune,
    load_experiment_split,
)
from lmrec.models.base import Recommender, mask_seen
from lmrec.rerank import Reranked, check_relevance, rerank_label
from lmrec.rerank.interests import MultiInterestLists
from lmrec.rerank.methods import check_knob

#: What each method tries to improve, and in which direction (+1 up, -1 down).
AIMS: dict[str, tuple[str, int]] = {
    "mmr": ("ild@10", 1),
    "dpp": ("ild@10", 1),
    "calibrated": ("calibration_kl@10", -1),
    "multi-interest": ("category_coverage@10", 1),
}
#: Every list method: the re-rankers and multi-interest retrieval.
LIST_METHODS: tuple[str, ...] = tuple(AIMS)
#: Accuracy budget per method where it differs from ``max_loss`` (multi-interest lists
#: should cost at most 2% NDCG@10 against the single-vector model).
METHOD_MAX_LOSS: dict[str, float] = {"multi-interest": 0.02}


def check_method(method: str) -> str:
    if method not in LIST_METHODS:
        raise ConfigError(f"list method must be one of {', '.join(LIST_METHODS)}, got {method!r}")
    return method


def list_model(
    model: Recommender,
    fit_data: Any,
    space: ItemSpace,
    method: str,
    knob: float,
    list_size: int,
    relevance: str = "scores",
    candidates: int = 100,
) -> Reranked | MultiInterestLists:
    """The model whose lists ``method`` makes at ``knob`` from each user's top
    ``candidates`` (multi-interest lists fill from each interest's scores: they take no
    ``relevance`` or ``candidates``)."""
    if check_method(method) == "multi-interest":
        return MultiInterestLists(model, fit_data, space, knob, list_size=list_size)
    return Reranked(
        *(model, fit_data, space, method, knob),
        list_size=list_size,
        relevance=relevance,
        candidates=candidates,
    )


def variant_name(label: str, method: str, knob: float, relevance: str = "scores") -> str:
    """``transformer-dpp-0.3`` (``-prob`` appended on probabilities); multi-interest lists
    are ``multi-interest-transformer``."""
    if method == "multi-interest":
        return f"multi-interest-{label}"
    return f"{label}-{rerank_label(method, knob, relevance)}"


#: Knobs swept by default (0 is the model's own order). Dense near 0: DPP's relevance
#: weight ``(1 - d) / 2d`` falls fast, so most of its trade-off happens below 0.1.
DEFAULT_KNOBS: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def sweep(
    model: Recommender,
    split: Any,
    on: str,
    method: str,
    knobs: Sequence[float],
    space: ItemSpace,
    *,
    ks: tuple[int, ...] = (10,),
    mode: str | None = None,
    progress: Progress | None = None,
    relevance: str = "scores",
    candidates: int = 100,
) -> list[tuple[float, EvalResult]]:
    """Each knob's re-ranked lists scored on ``on`` (the model fitted for ``on``)."""
    check_method(method)
    knobs = [check_knob(k) for k in knobs]
    if not knobs:
        raise ConfigError("give at least one knob value to sweep")
    fit_data = split.fit_data(on)
    out = []
    for knob in knobs:
        reranked = list_model(model, fit_data, space, method, knob, max(ks), relevance, candidates)
        result = evaluate(reranked, split, on, ks=ks, progress=False, mode=mode, items=space)
        out.append((knob, result))
        if progress:
            m = result.metrics
            aim = AIMS[method][0]
            how = "" if relevance == "scores" else f" ({relevance})"
            progress(
                f"{method} {knob:g}{how}: {TUNE_METRIC} {m[TUNE_METRIC]:.4f}, {aim} {m[aim]:.4f}"
            )
    return out


def rerank_ms_per_user(
    reranked: Reranked | MultiInterestLists, users: np.ndarray, max_users: int = 1000
) -> float:
    """Milliseconds per user to re-rank the candidates into the list (base scores are
    computed first and not counted): what re-ranking adds to serving one request."""
    users = np.asarray(users, dtype=np.int64)[:max_users]
    scores = reranked.model.score_indices(users).astype(np.float32, copy=True)
    mask_seen(scores, reranked.fit_data.matrix("binary"), users)
    start = time.perf_counter()
    reranked.lists(users, scores)
    return 1000.0 * (time.perf_counter() - start) / max(1, len(users))


def _with_speed(
    result: EvalResult, reranked: Reranked | MultiInterestLists, split: Any, on: str
) -> EvalResult:
    fit_data = split.fit_data(on)
    users = np.unique(fit_data.idmap.user_index(split.targets(on)["user_id"]))
    speed = rerank_ms_per_user(reranked, users)
    return replace(result, metrics={**result.metrics, "rerank_ms_per_user": speed})


def choose_knob(
    method: str,
    base: Mapping[str, float],
    swept: Sequence[tuple[Any, Mapping[str, float]]],
    max_loss: float = 0.05,
    default: Any = 0.0,
) -> Any:
    """The knob (or any setting swept, e.g. a (knob, relevance) pair) that improves
    ``method``'s aim most while NDCG@10 stays within ``max_loss`` (a fraction) of
    ``base``'s; ``default`` (no re-ranking) when no setting does better than the base."""
    aim, sign = AIMS[check_method(method)]
    floor = (1.0 - max_loss) * base[TUNE_METRIC]
    best, best_value = default, sign * base[aim]
    for knob, metrics in swept:
        if metrics[TUNE_METRIC] >= floor and sign * metrics[aim] > best_value:
            best, best_value = knob, sign * metrics[aim]
    return best


def _chosen_setting(method: str, setting: tuple[float, str], several: bool) -> dict[str, Any]:
    knob, relevance = setting
    if several and method != "multi-interest":
        return {"diversity": knob, "relevance": relevance}
    return {"diversity": knob}


def run_reranking(
    config: ExperimentConfig,
    spec: ModelSpec,
    methods: Sequence[str],
    *,
    knobs: Sequence[float] = DEFAULT_KNOBS,
    space: str = "categories",
    max_loss: float = 0.05,
    progress: Progress | None = None,
    relevances: Sequence[str] = ("scores",),
) -> ExperimentResult:
    """Base model and its re-ranked variants, knobs (and, with several ``relevances``, the
    relevance) chosen on validation (module docstring)."""
    say = progress or (lambda _msg: None)
    startup_code_version()
    for method in methods:
        check_method(method)
    if not relevances:
        raise ConfigError("give at least one relevance (scores, probabilities)")
    relevances = [check_relevance(r) for r in relevances]
    if not 0.0 <= max_loss < 1.0:
        raise ConfigError(f"max_loss must be a fraction in [0, 1), got {max_loss}")
    dataset, split = load_experiment_split(config)
    fitter = _Fitter(config, dataset, split)
    chosen, choice, tuning = _tune(spec, fitter, say)
    label = spec.model_label
    seed0 = 0 if spec.seeded else None
    tuned = fitter.tuned.pop(label, None)
    if tuned is None:
        model, _, _ = fitter.build(spec, chosen, seed0)
        model.fit_split(split, "valid")
    else:
        model = tuned[0]
    valid_space = item_space(split.fit_data("valid"), space)
    base_valid = evaluate(model, split, "valid", ks=(10,), progress=False, items=valid_space)
    say(f"{label}: validation {TUNE_METRIC} {base_valid.metrics[TUNE_METRIC]:.4f}")
    picked: dict[str, tuple[float, str]] = {}  # method -> (knob, relevance)
    sweeps: dict[str, list[dict[str, Any]]] = {}
    for method in methods:
        swept = [
            ((knob, relevance), result)
            for relevance in (relevances if method != "multi-interest" else ["scores"])
            for knob, result in sweep(
                *(model, split, "valid", method, knobs, valid_space),
                mode=config.mode,
                progress=say,
                relevance=relevance,
            )
        ]
        picked[method] = choose_knob(
            method,
            base_valid.metrics,
            [(setting, r.metrics) for setting, r in swept],
            METHOD_MAX_LOSS.get(method, max_loss),
            default=(0.0, "scores"),
        )
        aim = AIMS[method][0]
        sweeps[method] = [
            {
                "params": {"diversity": k, **({"relevance": rel} if len(relevances) > 1 else {})},
                f"valid_{TUNE_METRIC}": round(r.metrics[TUNE_METRIC], 6),
                f"valid_{aim}": round(r.metrics[aim], 6),
            }
            for (k, rel), r in swept
        ]
        say(f"{method}: validation picks diversity {picked[method][0]:g} on {picked[method][1]}")

    test_space = item_space(split.fit_data(config.on), space)
    seeds = list(range(config.seeds)) if spec.seeded else [0]
    runs: dict[str, list[SeedRun]] = {label: []}
    names = {m: variant_name(label, m, *picked[m]) for m in methods}
    runs.update({names[m]: [] for m in methods})
    for seed in seeds:
        start = time.perf_counter()
        if seed == 0 and model.extend_fit(split, config.on):
            fitted, full = model, {**chosen, **({"seed": 0} if spec.seeded else {})}
        else:
            fitted, full, _ = fitter.build(spec, chosen, seed if spec.seeded else None)
            fitted.fit_split(split, config.on)
        fit_seconds = time.perf_counter() - start
        info = _history_info(fitted)
        base = evaluate(
            fitted,
            split,
            config.on,
            ks=config.ks,
            progress=False,
            mode=config.mode,
            items=test_space,
        )
        runs[label].append(SeedRun(seed, full, (base,), fit_seconds, info))
        say(f"{label}: seed {seed} test {TUNE_METRIC} {base.metrics[TUNE_METRIC]:.4f}")
        for method in methods:
            knob, relevance = picked[method]
            reranked = list_model(
                fitted,
                split.fit_data(config.on),
                test_space,
                method,
                knob,
                max(config.ks),
                relevance,
            )
            result = evaluate(
                reranked,
                split,
                config.on,
                ks=config.ks,
                progress=False,
                mode=config.mode,
                items=test_space,
            )
            result = _with_speed(result, reranked, split, config.on)
            params = {**full, "rerank": method, "diversity": knob, "item_space": space}
            if method != "multi-interest":
                params["relevance"] = relevance
            runs[names[method]].append(SeedRun(seed, params, (result,), fit_seconds, {}))
    split_name = split_label(split.protocol, config.on)
    outcomes: dict[str, ModelOutcome] = {}
    for name, seed_runs in runs.items():
        method = next((m for m in methods if names[m] == name), None)
        over = "knob" if len(relevances) == 1 else "(knob, relevance)"
        rule = (
            f"validation: the {over} with the best {AIMS[method][0]} among those within "
            f"{METHOD_MAX_LOSS.get(method, max_loss):.0%} of the base's validation "
            f"{TUNE_METRIC} (seed 0)"
            if method
            else None
        )
        the_spec = replace(spec, label=name)
        records = _records(
            the_spec,
            _chosen_setting(method, picked[method], len(relevances) > 1) if method else choice,
            sweeps[method] if method else tuning,
            seed_runs,
            config,
            dataset,
            split_name,
            spec.seeded,
        )
        for record in records:
            if rule:
                record["tuned_on"] = rule
            else:  # the base: its validation lists, for comparisons at equal accuracy
                record["valid_metrics"] = {
                    k: round(v, 6) for k, v in base_valid.metrics.items() if k.endswith("@10")
                }
        ids = _ranking_user_ids(split, config.on, seed_runs[0].results[0])
        outcomes[name] = ModelOutcome(
            the_spec,
            dict(chosen),
            sweeps.get(method, tuning),
            not spec.seeded,
            seed_runs,
            ids,
            records,
        )
    return ExperimentResult(config, dataset, split.protocol, outcomes)


__all__ = [
    "AIMS",
    "DEFAULT_KNOBS",
    "LIST_METHODS",
    "check_method",
    "choose_knob",
    "list_model",
    "run_reranking",
    "sweep",
    "variant_name",
]
