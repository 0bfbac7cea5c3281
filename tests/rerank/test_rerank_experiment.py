"""Re-ranking experiments: the knob is chosen on validation by code, test records pair."""

import pytest

from lmrec.errors import ConfigError
from lmrec.experiment import ExperimentConfig, ModelSpec, save_result
from lmrec.rerank.experiment import choose_knob, run_reranking


def test_choose_knob_takes_the_most_diverse_knob_within_the_accuracy_budget():
    base = {"ndcg@10": 0.10, "ild@10": 0.50, "calibration_kl@10": 1.0}
    swept = [
        (0.1, {"ndcg@10": 0.099, "ild@10": 0.55, "calibration_kl@10": 0.9}),
        (0.5, {"ndcg@10": 0.096, "ild@10": 0.70, "calibration_kl@10": 0.6}),
        (0.9, {"ndcg@10": 0.080, "ild@10": 0.90, "calibration_kl@10": 0.2}),  # costs 20%
    ]
    assert choose_knob("dpp", base, swept) == 0.5
    assert choose_knob("calibrated", base, swept) == 0.5
    assert choose_knob("mmr", base, swept, max_loss=0.25) == 0.9
    assert choose_knob("mmr", base, swept, max_loss=0.0) == 0.0  # nothing is free


def test_run_reranking_records_base_and_chosen_variants(tmp_path):
    config = ExperimentConfig("synthetic", seeds=2, command="pytest")
    result = run_reranking(
        config,
        ModelSpec("itemknn", params={"k": 50}),
        ["mmr", "calibrated"],
        knobs=(0.0, 0.3, 0.6),
    )
    names = list(result.outcomes)
    assert names[0] == "itemknn" and len(names) == 3
    assert all(n.startswith(("itemknn-mmr-", "itemknn-calibrated-")) for n in names[1:])
    base = result.outcomes["itemknn"].records[0]
    assert base["deterministic"] and "ild@10" in base["metrics"]
    for name in names[1:]:
        record = result.outcomes[name].records[0]
        assert len(record["tuning"]) == 3 and "within 5%" in record["tuned_on"]
        assert record["params"]["rerank"] in ("mmr", "calibrated")
        chosen = record["params"]["diversity"]
        valid = {t["params"]["diversity"]: t["valid_ndcg@10"] for t in record["tuning"]}
        assert valid[chosen] >= 0.95 * valid[0.0] - 1e-9
    written = save_result(result, tmp_path / "r.json", tmp_path / "per_user")
    assert all("per_user_file" in r for r in written)


def test_run_reranking_chooses_the_relevance_with_the_knob():
    config = ExperimentConfig("synthetic", seeds=1, command="pytest")
    result = run_reranking(
        config,
        ModelSpec("itemknn", params={"k": 50}),
        ["mmr", "multi-interest"],
        knobs=(0.0, 0.5),
        relevances=("scores", "probabilities"),
    )
    mmr = next(o for n, o in result.outcomes.items() if "-mmr-" in n).records[0]
    tried = {(t["params"]["diversity"], t["params"]["relevance"]) for t in mmr["tuning"]}
    assert tried == {(k, r) for k in (0.0, 0.5) for r in ("scores", "probabilities")}
    assert "(knob, relevance)" in mmr["tuned_on"]
    relevance = mmr["params"]["relevance"]
    assert mmr["chosen"] == {"diversity": mmr["params"]["diversity"], "relevance": relevance}
    assert mmr["model"].endswith("-prob") == (relevance == "probabilities")
    multi = result.outcomes["multi-interest-itemknn"].records[0]
    assert len(multi["tuning"]) == 2 and "relevance" not in multi["params"]
    with pytest.raises(ConfigError, match="relevance must be one of"):
        run_reranking(config, ModelSpec("popular"), ["mmr"], relevances=("logits",))


def test_run_reranking_refuses_unknown_methods():
    with pytest.raises(ConfigError, match="method must be one of"):
        run_reranking(ExperimentConfig("synthetic"), ModelSpec("popular"), ["random"])
