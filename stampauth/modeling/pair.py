"""The stamp pair model as served: ``models/stamp_pair.keras`` + its card ``models/stamp_pair.json`` -> :class:`PairModel`.

A pairwise Siamese model (:func:`stampauth.modeling.architectures.stamp_pair_model`, trained by
``stampauth train stamp-pairs``) looks at two registered impressions at once and says whether one rubber made both.
It is shipped as a *one-input* model so that LiteRT serves it like the encoders:

    (B, S, S, 2) float32 in [0, 1] (ink = 1): channel 0 a reference's overlay canvas, channel 1 the query
    registered onto it (:func:`stampauth.alignment.align_to`)  ->  (B, 1) logits of "the same rubber"

The logit is a *similarity* (higher = more alike). The overlay check (:mod:`stampauth.overlay`) takes the highest over
a query's K references and weights it into the served score; the stamp encoder's card names the pair model's version
in its ``overlay`` record, so a decision's version names the pair model too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from stampauth.errors import FailedPrecondition

PAIR_STEM = "stamp_pair"
#: The training cache holds canvases as uint8: the served inputs are rounded the same way.
INPUT_LEVELS = 255


@dataclass(frozen=True)
class PairCard:
    """``models/stamp_pair.json``: what the weights expect and what they are."""

    name: str
    version: str
    canvas: int  # S: the square overlay canvas the model was trained on
    input_spec: str = ("(B, S, S, 2) float32 in [0, 1], ink = 1: channel 0 a reference canvas, channel 1 the query "
                       "registered onto it")
    output: str = "(B, 1) logit that both impressions come from the same rubber (a similarity: higher = more alike)"
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tflite: dict = field(default_factory=dict)  # the LiteRT export (:mod:`stampauth.modeling.litert`)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.canvas, self.canvas, 2)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PairCard":
        from stampauth.modeling.card import known_fields

        return cls(**known_fields(cls, json.loads(text)))


def pair_inputs(registered_references: np.ndarray, aligned_query: np.ndarray) -> np.ndarray:
    """``(K, S, S)`` references in one frame and ``(S, S)`` the query registered onto that frame (or ``(K, S, S)``,
    the query registered onto each reference) -> ``(K, S, S, 2)`` model inputs, rounded to the training cache's 256
    levels."""
    references = np.asarray(registered_references, np.float32)
    query = np.broadcast_to(np.asarray(aligned_query, np.float32), references.shape)
    pairs = np.stack([references, query], axis=-1)
    return np.round(np.clip(pairs, 0.0, 1.0) * INPUT_LEVELS) / INPUT_LEVELS


class PairModel:
    """A loaded pair model: ``logits((n, S, S, 2)) -> (n,)`` with LiteRT (``runtime == "litert"``) or Keras."""

    def __init__(self, card: PairCard, keras_model=None, lite_model=None, load_keras=None):
        from stampauth.modeling.graph import LazyKerasGraph

        self.card = card
        self._graph = LazyKerasGraph((None, *card.input_shape), keras_model, load_keras)
        self._lite = lite_model
        self.runtime = "keras" if lite_model is None else "litert"
        self.logits(np.zeros((1, *card.input_shape), np.float32))  # allocate or trace at load

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def model(self):
        return self._graph.model

    def logits(self, pairs: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """``(n, S, S, 2) float32`` -> ``(n,)`` logits; safe from any thread."""
        pairs = np.asarray(pairs, np.float32)
        if pairs.ndim != 4 or tuple(pairs.shape[1:]) != self.card.input_shape:
            raise ValueError(f"pairs of shape {pairs.shape} do not fit (n, {', '.join(map(str, self.card.input_shape))})")
        out = []
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            out.append(np.asarray(self._lite(chunk) if self._lite is not None else self._graph(chunk)).reshape(-1))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def best_logit(self, registered_references: np.ndarray, aligned_query: np.ndarray) -> float:
        """The query against K references (see :func:`pair_inputs`): the highest of the K logits, the reference it
        matches best. (Chosen on the overlay's fitting designs at K = 3: the mean let one reference whose registration
        or inking went wrong pull a genuine query down; re-made EER 0.307 with the highest against 0.340 with the
        mean, median 0.320; see ``models/MODEL_CARD.md``.)"""
        return float(np.max(self.logits(pair_inputs(registered_references, aligned_query))))


def load_pair_model(directory: str | Path | None = None, runtime: str | None = None,
                    expected_version: str | None = None) -> PairModel:
    """The factory: ``<directory>/stamp_pair.{keras,json}`` (LiteRT when its export is intact, as
    :func:`stampauth.modeling.litert.choose_runtime` decides). ``expected_version``: the version the overlay
    record was fitted with; other weights are refused (their logits would be weighted wrongly)."""
    from stampauth.modeling.card import load_keras_model, models_dir
    from stampauth.modeling.litert import load_for

    base = Path(directory) if directory else models_dir()
    weights, card_path = base / f"{PAIR_STEM}.keras", base / f"{PAIR_STEM}.json"
    if not weights.exists() or not card_path.exists():
        raise FailedPrecondition(f"the stamp model's overlay record needs {weights.name} and {card_path.name}, which "
                                 f"are missing from {base}; reinstall stampauth or point STAMPAUTH_MODELS_DIR at the "
                                 "models folder")
    card = PairCard.from_json(card_path.read_text())
    if expected_version and card.version != expected_version:
        raise FailedPrecondition(f"the stamp model's overlay record was fitted with pair model {expected_version} but "
                                 f"{card_path} is {card.version}; refit it with 'stampauth train stamp-overlay'")
    lite = load_for(card.tflite, base, PAIR_STEM, runtime)
    return PairModel(card, None if lite is not None else load_keras_model(weights), lite,
                     load_keras=lambda: load_keras_model(weights))
