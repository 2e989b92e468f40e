"""Few-shot scoring: one query embedding against the 1..k reference embeddings of an identity.

The score is a *similarity* (higher = more alike, cosine based).  With two or more references
it is normalised by how alike the references are to each other: a writer whose own signatures
vary a lot should not be judged by the same yardstick as a very consistent one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import Enum

import numpy as np


class Verdict(str, Enum):
    GENUINE = "GENUINE"
    FORGED = "FORGED"
    INCONCLUSIVE = "INCONCLUSIVE"
    NO_REFERENCE = "NO_REFERENCE"


SCORE_KIND = "similarity"  # every score in stampauth: higher means more alike


@dataclass(frozen=True)
class ScoringConfig:
    """How raw cosine similarities become a decision.  Stored in each model's card.

    * ``normalization``: ``"none"`` (mean similarity), ``"shift"`` (mean similarity minus the
      references' mean pairwise similarity, plus ``prior_mean``) or ``"zscore"`` (the same
      difference divided by the references' spread, floored by ``sigma_floor``, times ``prior_std``).
      Only applies with at least ``normalize_from`` references (the references' spread is too
      noisy to use below that); fewer references are scored by their mean raw similarity.
    * ``reference_pooling``: ``"mean"`` (the mean of the query's similarities to each reference) or
      ``"centroid"`` (the query's similarity to the unit direction of the references' mean embedding; with
      ``"shift"``/``"zscore"`` the references' own term is then their mean similarity to that direction, i.e. the
      mean embedding's length). Several references pooled into one direction average out a writer's variation
      before the query is compared; a single reference is the same either way.
    * ``threshold``: scores at or above it are GENUINE, below FORGED.  ``thresholds_by_references``
      overrides it per number of references (keys ``"1"``, ``"2"``, ... ; the largest key also
      serves every larger count): scores from one reference and from five are not on the same
      footing, and one threshold for both would make one of them reject or accept far too much.
    * ``review_band``: scores within ``threshold +- review_band`` are INCONCLUSIVE.
    * ``calibration_slope``/``calibration_intercept``: probability of genuine =
      ``sigmoid(slope * (score - threshold) + intercept)``, fitted on validation writers.
    """

    normalization: str = "shift"
    normalize_from: int = 2
    reference_pooling: str = "mean"
    prior_mean: float = 0.8
    prior_std: float = 0.1
    sigma_floor: float = 0.05
    threshold: float = 0.5
    thresholds_by_references: dict = field(default_factory=dict)
    review_band: float = 0.03
    calibration_slope: float = 20.0
    calibration_intercept: float = 0.0

    @property
    def normalization_label(self) -> str:
        """How scores with several references are formed, as GetServerInfo and evaluations report it."""
        return self.normalization + ("+centroid" if self.reference_pooling == "centroid" else "")

    def __post_init__(self):
        if self.normalization not in ("none", "shift", "zscore"):
            raise ValueError(f"scoring normalization {self.normalization!r}: expected none, shift or zscore")
        if self.reference_pooling not in ("mean", "centroid"):
            raise ValueError(f"scoring reference_pooling {self.reference_pooling!r}: expected mean or centroid")


@dataclass(frozen=True)
class Decision:
    """The outcome of comparing one mark with one identity's references."""

    verdict: Verdict
    score: float  # a similarity (SCORE_KIND); NaN when there is no reference
    threshold: float
    review_band: float
    probability_genuine: float
    model_version: str
    references_used: int
    reference_similarities: list[float] = field(default_factory=list)
    reference_ids: list[str] = field(default_factory=list)  # specimen ids, same order as the similarities
    score_kind: str = SCORE_KIND
    # stamps scored with the overlay check (stampauth.overlay): share of the registered query's ink outside the
    # references' ink; None when the check did not run
    outside_share: float | None = None
    # and the |log| aspect change its registration needed (stampauth.alignment.anisotropy); None when it did not run
    registration_anisotropy: float | None = None
    # and the stamp pair model's logit of "the same rubber" against the best-matching reference (a similarity); None when the
    # served overlay record has no pair model
    pair_logit: float | None = None

    def with_specimen_ids(self, specimen_ids: list[str]) -> "Decision":
        return replace(self, reference_ids=list(specimen_ids))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


def fewshot_score(query: np.ndarray, references: np.ndarray, config: ScoringConfig) -> tuple[float, np.ndarray]:
    """``query (d,)`` or ``(views, d)`` and ``references (k, d)`` unit vectors -> ``(score, per-reference similarities (k,))``.

    With several views of the query (a stamp at several rotations) each reference is compared with
    the view most like it: the references need not share one orientation.
    """
    references = np.atleast_2d(references)
    similarities = references @ query.T if query.ndim == 2 else references @ query
    if similarities.ndim == 2:
        similarities = similarities.max(axis=1)
    k = references.shape[0]
    if config.reference_pooling == "centroid" and k >= 2:
        centroid = references.mean(axis=0)
        length = float(np.linalg.norm(centroid))
        direction = centroid / max(length, 1e-12)
        pooled = float(np.max(query @ direction))  # with several query views, the one most like the references
        reference_term = length  # = the references' mean similarity to that direction
    else:
        pooled = float(similarities.mean())
        reference_term = None
    if k < max(2, config.normalize_from) or config.normalization == "none":
        return pooled, similarities
    # the references' pairwise similarities: their own term under mean pooling, and their spread for zscore
    upper = None
    if reference_term is None or config.normalization == "zscore":
        upper = (references @ references.T)[np.triu_indices(k, 1)]
    if reference_term is None:
        reference_term = float(upper.mean())
    if config.normalization == "shift":
        return pooled - reference_term + config.prior_mean, similarities
    spread = max(float(upper.std()), config.sigma_floor)  # zscore: ScoringConfig admits no other normalisation
    return (pooled - reference_term) / spread * config.prior_std + config.prior_mean, similarities


def threshold_for(references: int, config: ScoringConfig) -> float:
    """The operating threshold for a decision made against ``references`` specimens."""
    table = {int(k): float(v) for k, v in config.thresholds_by_references.items()}
    if not table:
        return config.threshold
    eligible = [k for k in table if k <= references]
    return table[max(eligible)] if eligible else table[min(table)]


def probability_genuine(score: float, config: ScoringConfig, references: int = 1) -> float:
    logit = config.calibration_slope * (score - threshold_for(references, config)) + config.calibration_intercept
    return float(1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50))))


def decide(score: float, config: ScoringConfig, references: int = 1) -> Verdict:
    threshold = threshold_for(references, config)
    if abs(score - threshold) < config.review_band:
        return Verdict.INCONCLUSIVE
    return Verdict.GENUINE if score >= threshold else Verdict.FORGED


def make_decision(
    query: np.ndarray, references: np.ndarray, config: ScoringConfig, model_version: str
) -> Decision:
    """Score ``query (d,)`` or ``(views, d)`` against ``references (k, d)``; ``k = 0`` gives NO_REFERENCE."""
    if references.size == 0:
        return Decision(
            verdict=Verdict.NO_REFERENCE,
            score=float("nan"),
            threshold=config.threshold,
            review_band=config.review_band,
            probability_genuine=float("nan"),
            model_version=model_version,
            references_used=0,
        )
    score, similarities = fewshot_score(query, references, config)
    k = int(np.atleast_2d(references).shape[0])
    return Decision(
        verdict=decide(score, config, k),
        score=score,
        threshold=threshold_for(k, config),
        review_band=config.review_band,
        probability_genuine=probability_genuine(score, config, k),
        model_version=model_version,
        references_used=k,
        reference_similarities=[float(s) for s in similarities],
    )


def equal_error_rate(genuine_scores, impostor_scores) -> tuple[float, float]:
    """``(eer, threshold)`` for similarity scores (genuine should score higher)."""
    genuine = np.asarray(genuine_scores, dtype=np.float64)
    impostor = np.asarray(impostor_scores, dtype=np.float64)
    if genuine.size == 0 or impostor.size == 0:
        return float("nan"), float("nan")
    candidates = np.unique(np.concatenate([genuine, impostor]))
    frr = np.searchsorted(np.sort(genuine), candidates, side="left") / genuine.size
    far = 1.0 - np.searchsorted(np.sort(impostor), candidates, side="left") / impostor.size
    index = int(np.argmin(np.abs(far - frr)))
    return float((far[index] + frr[index]) / 2.0), float(candidates[index])


def roc_auc(genuine_scores, impostor_scores) -> float:
    """Probability that a random genuine outscores a random impostor (ties count half)."""
    genuine = np.asarray(genuine_scores, dtype=np.float64)
    impostor = np.asarray(impostor_scores, dtype=np.float64)
    if genuine.size == 0 or impostor.size == 0:
        return float("nan")
    scores = np.concatenate([genuine, impostor])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty_like(order, dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks for ties
    unique, first_index, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first_index + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, counts)
    genuine_rank_sum = ranks[: genuine.size].sum()
    return float((genuine_rank_sum - genuine.size * (genuine.size + 1) / 2.0) / (genuine.size * impostor.size))


def error_rates_at(threshold: float, genuine_scores, impostor_scores) -> tuple[float, float]:
    """``(far, frr)`` when scores ``>= threshold`` are accepted."""
    genuine = np.asarray(genuine_scores, dtype=np.float64)
    impostor = np.asarray(impostor_scores, dtype=np.float64)
    far = float((impostor >= threshold).mean()) if impostor.size else float("nan")
    frr = float((genuine < threshold).mean()) if genuine.size else float("nan")
    return far, frr


def fit_calibration(scores, labels, threshold, iterations: int = 500) -> tuple[float, float]:
    """Logistic fit of ``P(genuine) = sigmoid(a * (score - threshold) + b)``; returns ``(a, b)``.

    ``threshold`` is one number or one per score (when thresholds depend on the reference count).

    Classes are weighted equally so the forgery/genuine mix of the validation set does not leak in.
    """
    x = np.asarray(scores, dtype=np.float64) - np.asarray(threshold, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    weights = np.where(y > 0.5, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1))
    def loss(a: float, b: float) -> float:  # weighted log-loss, written so it never overflows
        z = a * x + b
        return float(np.sum(weights * (np.logaddexp(0.0, z) - y * z)))

    # start where a * x spans a few units: a start far out saturates the sigmoid and Newton's first step explodes
    a, b = 1.0 / max(float(np.std(x)), 1e-6), 0.0
    for _ in range(iterations):  # Newton's method with step halving on the weighted log-loss (convex)
        p = 1.0 / (1.0 + np.exp(-np.clip(a * x + b, -50, 50)))
        gradient = np.array([np.sum(weights * (p - y) * x), np.sum(weights * (p - y))])
        w = weights * p * (1 - p)
        hessian = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        current, scale = loss(a, b), 1.0
        while scale > 1e-6 and loss(a - scale * step[0], b - scale * step[1]) > current + 1e-15:
            scale /= 2
        a, b = a - scale * step[0], b - scale * step[1]
        if np.abs(scale * step).max() < 1e-9:
            break
    return float(a), float(b)
