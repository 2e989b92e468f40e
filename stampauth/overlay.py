"""The overlay check for stamps: the query laid on its references, as a document examiner does.

The stamp encoder's similarity tells one stamp from another well, but hardly tells a re-made rubber from the
original (see ``models/MODEL_CARD.md``). A re-made rubber puts ink where the original has none: a glyph of another
font, wider letter spacing, another emblem. So the query is registered onto the references
(:func:`stampauth.alignment.align_to`) and the share of its ink lying away from every reference's ink is measured
(:func:`stampauth.alignment.ink_outside`). The served score fuses the two:

    score = weight_similarity * similarity - weight_outside * sqrt(ink outside)
            - weight_anisotropy * min(anisotropy, anisotropy_cap) + weight_pair * pair logit + bias

a *similarity* (higher = more alike; a logit of "same rubber" on the data it was fitted on), compared with a
threshold per number of references (:class:`stampauth.scoring.ScoringConfig`). The square root spreads the small
shares where genuine and re-made impressions differ. The anisotropy of the registration
(:func:`stampauth.alignment.anisotropy`) catches what the outside share cannot: a re-made rubber a few per cent wider
or taller than the original, which ECC's affine map stretches back onto the references. The pair logit is a trained pairwise model's verdict on
the registered impressions (:mod:`stampauth.modeling.pair`; the highest over the K references, each registered onto
the first, with the query registered onto that frame): it sees *where* the ink differs, not only how much. A record with
``weight_pair`` names the pair model's version (``pair_model``) and the server loads it beside the encoder.
Weights, thresholds, review band and calibration are fitted
on synthetic designs that neither training nor evaluation uses (``stampauth train stamp-overlay``) and stored in
the stamp encoder's card under ``overlay``.

Canvases here are ``(S, S) float32`` in ``[0, 1]`` (ink = 1), made by :func:`overlay_canvas`; they are larger and
keep smaller specks than the encoder's, because the check looks at glyph-level detail.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from stampauth.alignment import align_to, anisotropy, coarse_rotations, ink_outside
from stampauth.preprocess import PreprocessConfig, preprocess_stamp
from stampauth.scoring import Decision, ScoringConfig, decide, probability_genuine, threshold_for


@dataclass(frozen=True)
class OverlayConfig:
    """The card record of the overlay check (``ModelCard.overlay``)."""

    canvas: int = 192  # pixels of the square canvases that are registered
    tolerance_px: float = 1.5  # query ink within this distance of some reference ink is "on" the references
    ink_level: float = 0.35  # canvas value above which a pixel counts as ink
    min_component_frac: float = 0.0003  # specks smaller than this share of the crop are dropped
    weight_similarity: float = 1.0
    weight_outside: float = 1.0
    weight_anisotropy: float = 0.0  # per unit of |log| aspect change of the registration (0: not used)
    # a registration that needed more stretch than this failed (a partial impression, clutter); the outside share
    # already says so, and an unbounded term would let those few queries flatten the calibration
    anisotropy_cap: float = 0.1
    weight_pair: float = 0.0  # per unit of the pair model's best logit (0: not used)
    pair_model: str = ""  # the version of models/stamp_pair.* the record was fitted with ("" when weight_pair is 0)
    # how the query is laid beside each reference for the pair model: "first", registered once onto the first
    # reference's frame (the references registered onto it too); "each", registered onto every reference itself
    # (K registrations: one failed reference-to-reference registration then spoils nothing)
    pair_registration: str = "first"
    bias: float = 0.0
    scoring: ScoringConfig = field(default_factory=ScoringConfig)  # over the fused score
    fitted: dict = field(default_factory=dict)  # what it was fitted on, and the command

    def __post_init__(self):
        if self.pair_registration not in ("first", "each"):
            raise ValueError(f"pair_registration must be 'first' or 'each', not {self.pair_registration!r}")

    @functools.cached_property
    def version(self) -> str:
        """``overlay-`` + the first 8 hex of the SHA-256 of the settings: decisions name the scoring they used."""
        settings = {k: v for k, v in asdict(self).items() if k != "fitted"}
        if settings["weight_anisotropy"] == 0.0:  # cards fitted before it was measured keep their version
            del settings["weight_anisotropy"], settings["anisotropy_cap"]
        if settings["weight_pair"] == 0.0 and not settings["pair_model"]:  # and so do cards without the pair model
            del settings["weight_pair"], settings["pair_model"]
        if settings["pair_registration"] == "first":  # and records fitted before "each" existed
            del settings["pair_registration"]
        return "overlay-" + hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]

    @classmethod
    def from_dict(cls, data: dict) -> "OverlayConfig":
        from stampauth.modeling.card import known_fields

        known = known_fields(cls, data)
        if "scoring" in known:
            known["scoring"] = ScoringConfig(**known["scoring"])
        return cls(**known)

    def preprocess_config(self) -> PreprocessConfig:
        return PreprocessConfig(canvas_height=self.canvas, canvas_width=self.canvas, pipeline="stamp",
                                min_component_frac=self.min_component_frac)


def overlay_canvas(image: np.ndarray, config: OverlayConfig) -> np.ndarray:
    """A stamp crop (any 8-bit layout) -> ``(S, S) float32`` canvas; :class:`InvalidInput` when it shows no ink."""
    return preprocess_stamp(image, config.preprocess_config())


def register_references(canvases: np.ndarray) -> np.ndarray:
    """``(K, S, S)`` reference canvases -> ``(K, S, S)``, every one registered onto the first (the frame queries are
    laid in). K impressions of one rubber cover its relief between them despite their inking gaps."""
    canvases = np.asarray(canvases, np.float32)
    frame = canvases[0]
    return np.stack([frame] + [align_to(c, frame).aligned for c in canvases[1:]])


@dataclass(frozen=True)
class OverlayMeasures:
    """What laying a query on its references measured. ``outside``: share (0-1) of the query's ink more than
    ``tolerance_px`` from every reference's ink (0 = all on them); ``anisotropy``: ``|log|`` of the aspect change the
    registration needed (:func:`stampauth.alignment.anisotropy`; 0 = none). Both are distance-like: higher = less alike.
    ``pair_logit``: the pair model's logit of "the same rubber" against the reference the query matches best, a similarity (higher = more
    alike); None when no pair model ran."""

    outside: float
    anisotropy: float = 0.0
    pair_logit: float | None = None


_POOL: list = []
_POOL_LOCK = threading.Lock()


def _registration_pool():
    """Threads for a query's registrations onto several references (as many as the cores this process may use)."""
    with _POOL_LOCK:
        if not _POOL:
            from concurrent.futures import ThreadPoolExecutor

            from stampauth.modeling.litert import available_cores

            _POOL.append(ThreadPoolExecutor(max_workers=available_cores(), thread_name_prefix="overlay-register"))
        return _POOL[0]


def measure_overlay(query: np.ndarray, registered_references: np.ndarray, config: OverlayConfig,
                    pair_model=None, references: np.ndarray | None = None) -> OverlayMeasures:
    """``query (S, S)`` and the output of :func:`register_references` -> :class:`OverlayMeasures` of the query
    registered onto the first reference; with ``pair_model`` (a :class:`stampauth.modeling.pair.PairModel`) also
    its highest logit over the K (reference, registered query) pairs. ``references``: the ``(K, S, S)`` canvases
    before registration, needed when ``config.pair_registration`` is ``"each"``."""
    query = np.asarray(query, np.float32)
    each = pair_model is not None and config.pair_registration == "each"
    if each and references is None:
        raise ValueError("pair_registration 'each' needs the references' own canvases")
    rotations = coarse_rotations(query)  # the query's turned copies serve its search against every reference
    # the registrations onto the other references run beside the first one (OpenCV releases the GIL)
    others = [_registration_pool().submit(align_to, query, r, query_rotations=rotations)
              for r in references[1:]] if each else []
    alignment = align_to(query, registered_references[0], query_rotations=rotations)
    pair_logit = None
    if each:
        aligned = np.stack([alignment.aligned] + [future.result().aligned for future in others])
        pair_logit = pair_model.best_logit(references, aligned)
    elif pair_model is not None:
        pair_logit = pair_model.best_logit(registered_references, alignment.aligned)
    return OverlayMeasures(ink_outside(alignment.aligned, registered_references, config.tolerance_px, config.ink_level),
                           anisotropy(alignment.matrix), pair_logit)


def outside_share(query: np.ndarray, registered_references: np.ndarray, config: OverlayConfig) -> float:
    """The ``outside`` of :func:`measure_overlay`: 0 = all of the query's ink on the references, 1 = none."""
    return measure_overlay(query, registered_references, config).outside


def fused_score(similarity, measures: OverlayMeasures, config: OverlayConfig):
    """The encoder's similarity and the overlay's measures -> the served score (a similarity). Scalars give a
    float; arrays (one entry per query, in ``similarity`` and every field of ``measures``) give an array, so a fit
    scores thousands of queries through this one formula."""
    score = (config.weight_similarity * np.asarray(similarity, np.float64)
             - config.weight_outside * np.sqrt(np.maximum(0.0, measures.outside))
             - config.weight_anisotropy * np.minimum(measures.anisotropy, config.anisotropy_cap) + config.bias)
    if config.weight_pair:
        if measures.pair_logit is None:
            raise ValueError("this overlay record weights the pair model's logit, but none was measured")
        score = score + config.weight_pair * np.asarray(measures.pair_logit, np.float64)
    return float(score) if np.ndim(score) == 0 else score


def overlay_decision(encoder_decision: Decision, measures: OverlayMeasures | None, config: OverlayConfig) -> Decision:
    """The encoder's decision re-scored with the overlay: same references and per-reference similarities, the fused
    score, the overlay's threshold for that many references, and ``model_version`` naming both."""
    k = encoder_decision.references_used
    scoring = config.scoring
    if k == 0:  # NO_REFERENCE: nothing to lay the query on, but the threshold and version are the served score's
        return replace(encoder_decision, threshold=scoring.threshold, review_band=scoring.review_band,
                       model_version=f"{encoder_decision.model_version}+{config.version}")
    score = fused_score(encoder_decision.score, measures, config)
    return replace(encoder_decision, verdict=decide(score, scoring, k), score=score,
                   threshold=threshold_for(k, scoring), review_band=scoring.review_band,
                   probability_genuine=probability_genuine(score, scoring, k),
                   model_version=f"{encoder_decision.model_version}+{config.version}",
                   outside_share=measures.outside, registration_anisotropy=measures.anisotropy,
                   pair_logit=measures.pair_logit)


class OverlayTrials:
    """The outside share of protocol trials (:mod:`stampauth.evaluation`) over a list of crops: each crop's canvas
    is made once, each reference set registered once for all the queries scored against it.

    ``images``: the crops (8-bit, colour for the best ink separation); a crop without ink at the overlay canvas
    gets an empty canvas (nothing of it lies on the references: outside share 1). ``pair_model``: measure its
    logit too (:func:`measure_overlay`).
    """

    def __init__(self, images: list[np.ndarray], config: OverlayConfig, pair_model=None):
        from stampauth.errors import InvalidInput

        self.config = config
        self.pair_model = pair_model
        self.canvases = []
        for image in images:
            try:
                self.canvases.append(overlay_canvas(image, config))
            except InvalidInput:
                self.canvases.append(np.zeros((config.canvas, config.canvas), np.float32))
        self._registered: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def measures(self, references, query: int) -> OverlayMeasures:
        key = tuple(int(r) for r in references)
        if key not in self._registered:  # the references as they are and registered onto the first, once per set
            own = np.stack([self.canvases[r] for r in key])
            self._registered[key] = (own, register_references(own))
        own, registered = self._registered[key]
        return measure_overlay(self.canvases[query], registered, self.config, self.pair_model, own)


class ArrayCache:
    """A thread-safe least-recently-used cache of arrays bounded by their bytes (canvases of stored specimens and
    registered reference sets: they never change for a specimen id, so nothing ever needs invalidating)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key, make) -> np.ndarray:
        """The array cached under ``key``, made by ``make()`` when missing (outside the lock: registering takes
        milliseconds, and two callers racing only make the same array twice)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            if key not in self._items:
                self._items[key] = value
                self._bytes += value.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                self._bytes -= self._items.popitem(last=False)[1].nbytes
        return value
