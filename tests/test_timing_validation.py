"""The honest validation protocol of `pipelines.train.timing --cv` and the freshness cues that carry the policy
to tools it never saw: near-topic generated domains leave a fold, the report has the levels and the worst
domains, results are read for their own timestamps, and the generator writes tools in several styles."""

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from agentime.timing.encoder import EncoderVariant, SentenceEncoder
from agentime.timing.features import (
    RESULT_AGE_FEATURES,
    TIME_WORDS,
    result_data_age,
    result_value_features,
    time_word_features,
)
from agentime.timing.format import LabeledSample, TicTocSample
from agentime.timing.policy import MODULATED_MASK
from pipelines.synthetic import make_tictoc
from pipelines.train import timing as train_timing

CRYPTO_TOOL = {"type": "function", "function": {
    "name": "retrieve_crypto_rate", "description": "Fetch the current exchange rate of a cryptocurrency.",
    "parameters": {"type": "object", "properties": {"coin": {"type": "string"}}}}}
DEED_TOOL = {"type": "function", "function": {
    "name": "search_property_deed", "description": "Retrieve the property deed information for a given address.",
    "parameters": {"type": "object", "properties": {"address": {"type": "string"}}}}}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    variant = EncoderVariant()
    return train_timing.EmbeddingCache(tmp_path_factory.mktemp("cache") / "e.npz", SentenceEncoder(variant=variant))


def test_near_topic_generated_domains_are_found_by_the_encoder(cache):
    real = {
        "cryptocurrency_exchange": train_timing.topic_text("cryptocurrency_exchange", [("retrieve_crypto_rate", "Fetch the current exchange rate of a cryptocurrency.")]),
        "recorded_property_deed_lookup": train_timing.topic_text("recorded_property_deed_lookup", [("search_property_deed", "Retrieve the property deed information for a given address.")]),
    }
    domains = {d.key: d for d in make_tictoc.load_domains()}
    generated = train_timing.synthetic_domain_topics([domains[k] for k in ("crypto_spot_price", "property_deed_records", "zip_code_lookup", "sports_live_score")])
    near = train_timing.near_topic_domains(cache, real, generated, train_timing.NEAR_TOPIC_THRESHOLD)
    assert "crypto_spot_price" in near["cryptocurrency_exchange"] and "property_deed_records" in near["recorded_property_deed_lookup"]
    assert "sports_live_score" not in near["cryptocurrency_exchange"] and "zip_code_lookup" not in near["cryptocurrency_exchange"]


def shared_like(domain: str, tool: dict, count: int, prefer_tool_at: dict[int, bool]) -> list[LabeledSample]:
    """Real-looking samples of one domain: a lookup, its result, an answer, and a follow-up at three times."""
    start = datetime(2025, 5, 1, 9, tzinfo=timezone.utc)
    name = tool["function"]["name"]
    samples = []
    for index in range(count):
        at = lambda s: (start + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        history = [
            {"role": "user", "content": f"Question {index} about {domain.replace('_', ' ')}?", "time": at(0)},
            {"role": "assistant", "content": None, "time": at(1), "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": name, "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "name": name, "content": '{"value": 42}', "time": at(2)},
            {"role": "assistant", "content": "It is 42.", "time": at(3)},
            {"role": "user", "content": "So what was it?", "time": [at(9), at(300), at(200000)]},
        ]
        sample = TicTocSample(f"{domain}_{index + 1}", history, [tool])
        samples += [LabeledSample(sample, label, level) for level, label in prefer_tool_at.items()]
    return samples


def test_cross_validation_drops_near_topics_and_reports_levels_and_worst_domains(cache):
    config = train_timing.TrainConfig(steps=20, per_domain=3)
    domains = {d.key: d for d in make_tictoc.load_domains()}
    chosen = [domains[k] for k in ("crypto_spot_price", "property_deed_records", "weather_forecast", "train_delay")]
    prototypes = train_timing.prototype_vectors(cache)
    generated = make_tictoc.generate(chosen, config.per_domain, seed=5)
    requests = frozenset(train_timing.request_words(generated, 0.5))
    synthetic = train_timing.build_features(generated, cache, prototypes, make_tictoc.timescales(), False, requests)
    real_samples = shared_like("cryptocurrency_exchange", CRYPTO_TOOL, 2, {1: True, 2: True}) + shared_like(
        "recorded_property_deed_lookup", DEED_TOOL, 2, {0: False, 1: False, 2: True})
    shared = train_timing.build_features(real_samples, cache, prototypes, {}, True, requests)
    data = train_timing.TrainingData(synthetic, shared, prototypes, requests, cache, {})
    near = train_timing.near_topic_domains(
        cache, train_timing.real_domain_topics(real_samples), train_timing.synthetic_domain_topics(chosen), config.near_topic_threshold)
    report = train_timing.cross_validate(data, near, config, log=lambda *a: None)
    assert report["protocol"]["folds"] == 2 and report["protocol"]["near_topic_threshold"] == config.near_topic_threshold
    assert "crypto_spot_price" in report["protocol"]["generated_domains_dropped"]["cryptocurrency_exchange"]
    assert "property_deed_records" not in report["protocol"]["generated_domains_dropped"]["cryptocurrency_exchange"]
    assert report["policy"]["samples"] == len(real_samples) and set(report["policy"]["per_level"]) == {"0", "1", "2"}
    worst = report["worst_domains"]
    assert [w["domain"] for w in worst] and len(worst) <= 5
    assert [w["normalized_alignment"] for w in worst] == sorted(w["normalized_alignment"] for w in worst)
    assert "threshold_baseline" in report
    predictions = report["predictions"]  # one per held-out sample, for looking into the errors of a fold
    assert len(predictions) == len(real_samples) and {p["domain"] for p in predictions} == {
        "cryptocurrency_exchange", "recorded_property_deed_lookup"}
    assert all(0.0 <= p["probability"] <= 1.0 and "log10_timescale" in p for p in predictions)
    # without anchors the timescale comes from the texts and freshness cues alone (the anchors' timescales are 0)
    both = train_timing.concat([synthetic, shared])
    weights = data.train(both, config)
    assert weights.anchor_log_timescale.any()
    # a repeated question may lean towards calling only through the staleness of the last result
    assert (weights.scalar_weight[MODULATED_MASK] <= 0).all() and not weights.staleness_weight[~MODULATED_MASK].any()
    assert weights.staleness_weight[MODULATED_MASK].any()
    share = weights.anchor_share  # one learned share of the anchors' estimate (no slope by closeness)
    assert 0.0 < 1.0 / (1.0 + np.exp(-share[0])) < 1.0 and share[1] == 0.0
    text_only = train_timing.TrainConfig(steps=20, per_domain=3, use_anchors=False, timescale_decay=0.01)
    assert not data.train(both, text_only).anchor_log_timescale.any()


def test_time_words_are_read_inside_identifiers_and_by_source():
    names = list(TIME_WORDS)
    words = time_word_features('{"current_highest_bid": 5800, "queueLength": 12}')
    assert words[names.index("current")] and words[names.index("price")] and words[names.index("queue")]
    assert not time_word_features("average heart rate of the patient")[names.index("price")]  # a rate, not a price


def test_a_result_states_how_old_its_data_is():
    fetched = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert result_data_age('{"price": 3, "as_of": "2025-03-01T11:59:55Z"}', fetched) == pytest.approx(5.0)
    assert result_data_age('{"apy": 0.05, "effective_date": "2024-09-01"}', fetched) > 150 * 86400
    assert result_data_age('{"takeoff_time": "2025-06-15T09:00:00"}', fetched) is None  # a plan, not an age
    assert result_data_age('{"price": 3}', fetched) is None and len(RESULT_AGE_FEATURES) == 2


def test_a_result_reports_readings_and_amounts_of_money():
    assert result_value_features('{"wind_speed": {"value": 7, "unit": "mph"}}') == (1.0, 0.0)
    assert result_value_features("ServerA is 80% utilized, supply raised to 1700 MW") == (1.0, 0.0)
    assert result_value_features('{"price": "$61,000"}') == (0.0, 1.0)
    assert result_value_features('{"lowest_price": 950, "currency": "gold"}') == (0.0, 1.0)
    # identifiers, dates and durations are neither
    assert result_value_features('{"gate": "C12", "date": "2023-03-21", "eta": "8 hours", "bed": "B2"}') == (0.0, 0.0)


def test_generator_writes_each_tool_in_several_styles_and_results_that_state_their_age():
    rng = random.Random(7)
    domain = next(d for d in make_tictoc.load_domains() if d.key == "crypto_spot_price")
    faces = [make_tictoc.tool_face(rng, domain) for _ in range(60)]
    assert len({f.name for f in faces}) >= 3 and len({f.description for f in faces}) >= 4
    assert any(f.description == "" and f.argument_description for f in faces)
    labeled = make_tictoc.generate([domain], per_domain=40, seed=3)
    results = [m["content"] for item in labeled for m in item.sample.history if m["role"] == "tool"]
    stated = [r for r in results if any(k in r for k in make_tictoc.FRESHNESS_KEYS)]
    assert 0 < len(stated) < len(results)
    for item in labeled:  # calls and results name the tool as this conversation's schema does
        schema_names = {t["function"]["name"] for t in item.sample.function}
        called = [c["function"]["name"] for m in item.sample.history for c in m.get("tool_calls") or []]
        assert set(called) <= schema_names


def test_nested_selection_never_looks_at_the_held_out_domain(cache, tmp_path):
    """The variant a fold trains is chosen on that fold's training domains alone: flipping every label of the
    held-out domain leaves the fold's choice and inner scores unchanged, and the report records them."""
    config = train_timing.TrainConfig(steps=20, per_domain=3)
    domains = {d.key: d for d in make_tictoc.load_domains()}
    chosen = [domains[k] for k in ("crypto_spot_price", "property_deed_records", "train_delay")]
    prototypes = train_timing.prototype_vectors(cache)
    generated = make_tictoc.generate(chosen, config.per_domain, seed=5)
    synthetic = train_timing.build_features(generated, cache, prototypes, make_tictoc.timescales(), False, frozenset())
    real = shared_like("cryptocurrency_exchange", CRYPTO_TOOL, 2, {0: False, 1: True, 2: True}) + shared_like(
        "recorded_property_deed_lookup", DEED_TOOL, 2, {0: False, 1: False, 2: True})
    shared = train_timing.build_features(real, cache, prototypes, {}, True, frozenset())
    near = train_timing.near_topic_domains(
        cache, train_timing.real_domain_topics(real), train_timing.synthetic_domain_topics(chosen), 0.45)

    def choice_for_crypto_fold(labels):
        flipped = train_timing.FeatureSet(**{**vars(shared), "labels": labels})
        data = train_timing.TrainingData(synthetic, flipped, prototypes, frozenset(), cache, {})
        report = train_timing.cross_validate(data, near, config, log=lambda *a: None)
        return report["protocol"]["selection"]["chosen_per_fold"]["cryptocurrency_exchange"]

    crypto = np.array([d == "cryptocurrency_exchange" for d in shared.domains])
    first = choice_for_crypto_fold(shared.labels)
    assert first["variant"] in train_timing.VARIANTS and set(first["inner_scores"]) == set(train_timing.VARIANTS)
    assert choice_for_crypto_fold(np.where(crypto, 1.0 - shared.labels, shared.labels).astype(np.float32)) == first


    # finished folds are kept in a file: a second run with the same settings trains nothing and reports the same
    folds = tmp_path / "cv_folds.jsonl"
    data = train_timing.TrainingData(synthetic, shared, prototypes, frozenset(), cache, {})
    report = train_timing.cross_validate(data, near, config, log=lambda *a: None, folds_path=folds)
    assert len(folds.read_text().splitlines()) == 2

    def no_training(*args):
        raise AssertionError("a finished fold was trained again")

    data.train = no_training
    assert train_timing.cross_validate(data, near, config, log=lambda *a: None, folds_path=folds, reverse=True) == report
    assert train_timing.cross_validate(data, near, config, log=lambda *a: None, folds_path=folds, start=1) == report
