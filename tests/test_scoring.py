"""Few-shot scoring, verdicts and the metrics the evaluation reports."""

import math

import numpy as np
import pytest

from stampauth.scoring import (
    ScoringConfig,
    Verdict,
    decide,
    equal_error_rate,
    error_rates_at,
    fewshot_score,
    fit_calibration,
    make_decision,
    roc_auc,
)


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_single_reference_is_raw_cosine():
    score, sims = fewshot_score(unit([1, 0]), unit([[1, 1]]), ScoringConfig(normalization="shift"))
    assert score == pytest.approx(math.sqrt(0.5), abs=1e-6) and sims.shape == (1,)


def test_shift_normalization_rewards_consistency_with_references():
    config = ScoringConfig(normalization="shift", prior_mean=0.8)
    refs = np.stack([unit([1, 0.1, 0]), unit([1, -0.1, 0])])
    inside, _ = fewshot_score(unit([1, 0, 0]), refs, config)
    outside, _ = fewshot_score(unit([1, 0, 0.8]), refs, config)
    assert inside > config.prior_mean > outside


def test_zscore_uses_spread_floor():
    config = ScoringConfig(normalization="zscore", prior_mean=0.8, prior_std=0.1, sigma_floor=0.05)
    refs = np.stack([unit([1, 0]), unit([1, 0])])  # zero spread -> floor used, no division by zero
    score, _ = fewshot_score(unit([1, 0]), refs, config)
    assert score == pytest.approx(0.8)



def test_centroid_pooling_compares_the_query_with_the_references_mean_direction():
    refs = np.stack([unit([1, 0.3, 0]), unit([1, -0.3, 0]), unit([1, 0, 0.3])])
    query = unit([1, 0, 0.1])
    centroid = refs.mean(axis=0)
    expected = float(query @ centroid / np.linalg.norm(centroid))
    score, sims = fewshot_score(query, refs, ScoringConfig(normalization="none", reference_pooling="centroid"))
    assert score == pytest.approx(expected, abs=1e-6)
    assert score > float((refs @ query).mean()), "the mean direction is closer to a typical query than each reference"
    assert sims.shape == (3,), "per-reference similarities are still reported"
    # shift: the references' own term is their mean similarity to that direction (the centroid's length)
    shifted, _ = fewshot_score(query, refs, ScoringConfig(normalization="shift", normalize_from=3, prior_mean=0.8,
                                                          reference_pooling="centroid"))
    assert shifted == pytest.approx(expected - np.linalg.norm(centroid) + 0.8, abs=1e-6)
    # one reference: the same as mean pooling
    one, _ = fewshot_score(query, refs[:1], ScoringConfig(reference_pooling="centroid"))
    assert one == pytest.approx(float(refs[0] @ query), abs=1e-6)


def test_centroid_pooling_takes_the_query_view_most_like_the_references():
    refs = np.stack([unit([1, 0.2]), unit([1, -0.2])])
    views = np.stack([unit([0, 1]), unit([1, 0])])  # a stamp query at two rotations
    score, _ = fewshot_score(views, refs, ScoringConfig(normalization="none", reference_pooling="centroid"))
    assert score == pytest.approx(1.0, abs=1e-6)


def test_unknown_scoring_modes_are_refused_when_a_card_is_read():
    with pytest.raises(ValueError, match="reference_pooling"):
        ScoringConfig(reference_pooling="median")
    with pytest.raises(ValueError, match="normalization"):
        ScoringConfig(normalization="whiten")

def test_verdicts_around_threshold():
    config = ScoringConfig(threshold=0.5, review_band=0.05)
    assert decide(0.7, config) is Verdict.GENUINE
    assert decide(0.52, config) is Verdict.INCONCLUSIVE
    assert decide(0.48, config) is Verdict.INCONCLUSIVE
    assert decide(0.3, config) is Verdict.FORGED


def test_decision_carries_score_threshold_and_version():
    config = ScoringConfig(threshold=0.5, review_band=0.01)
    decision = make_decision(unit([1, 0]), np.stack([unit([1, 0.05])]), config, "sig-v1")
    assert decision.verdict is Verdict.GENUINE
    assert decision.threshold == 0.5 and decision.model_version == "sig-v1" and decision.references_used == 1
    assert decision.score_kind == "similarity" and 0.5 < decision.probability_genuine <= 1


def test_no_reference():
    decision = make_decision(unit([1, 0]), np.zeros((0, 2), np.float32), ScoringConfig(), "v")
    assert decision.verdict is Verdict.NO_REFERENCE and decision.references_used == 0


def test_eer_auc_and_rates():
    genuine, impostor = [0.9, 0.8, 0.7, 0.4], [0.1, 0.2, 0.3, 0.75]
    eer, threshold = equal_error_rate(genuine, impostor)
    assert eer == pytest.approx(0.25)
    assert roc_auc(genuine, impostor) == pytest.approx(14 / 16)
    assert roc_auc([1, 2], [0, 0.5]) == 1.0
    assert roc_auc([0.5], [0.5]) == 0.5
    far, frr = error_rates_at(0.5, genuine, impostor)
    assert (far, frr) == (0.25, 0.25)


def test_calibration_is_monotonic_and_centred():
    rng = np.random.default_rng(0)
    genuine = rng.normal(0.8, 0.05, 500)
    forged = rng.normal(0.6, 0.05, 500)
    slope, intercept = fit_calibration(np.concatenate([genuine, forged]), [1] * 500 + [0] * 500, threshold=0.7)
    assert slope > 0 and abs(intercept) < 0.5
    config = ScoringConfig(threshold=0.7, calibration_slope=slope, calibration_intercept=intercept)
    probs = [make_decision(unit([1, 0]), np.stack([unit([1, t])]), config, "v").probability_genuine for t in (0.1, 1.0, 3.0)]
    assert probs[0] > probs[1] > probs[2]


def test_threshold_depends_on_reference_count():
    from stampauth.scoring import threshold_for

    config = ScoringConfig(threshold=0.7, thresholds_by_references={"1": 0.6, "2": 0.65, "5": 0.7})
    assert [threshold_for(k, config) for k in (1, 2, 3, 4, 5, 9)] == [0.6, 0.65, 0.65, 0.65, 0.7, 0.7]
    assert threshold_for(3, ScoringConfig(threshold=0.5)) == 0.5
    one = make_decision(unit([1, 0]), np.stack([unit([1, 0.6])]), config, "v")
    assert one.threshold == 0.6 and one.verdict is Verdict.GENUINE  # cos 0.857 vs 0.6
