"""Model cards and the one factory that loads a model together with its card.

A card (``models/<name>.json`` beside ``models/<name>.keras``) holds everything needed to use
the weights correctly: the input spec, the preprocessing settings, the scoring settings
(threshold, review band, calibration) and the version string that every decision carries.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from stampauth.errors import FailedPrecondition
from stampauth.preprocess import PreprocessConfig, pipeline_revision, preprocess_any, rotation_views
from stampauth.scoring import ScoringConfig

MODEL_FILES = {"signature": "signature_encoder", "stamp": "stamp_encoder"}
_CANDIDATE_DIRS = (
    Path(__file__).resolve().parents[2] / "models",  # a source checkout / editable install
    Path(sys.prefix) / "share" / "stampauth" / "models",  # a regular install (setup.cfg data_files)
)


def models_dir() -> Path:
    """Where the shipped weights live: ``$STAMPAUTH_MODELS_DIR``, else the checkout's or the install's ``models``."""
    if os.environ.get("STAMPAUTH_MODELS_DIR"):
        return Path(os.environ["STAMPAUTH_MODELS_DIR"])
    for candidate in _CANDIDATE_DIRS:
        if candidate.is_dir():
            return candidate
    return _CANDIDATE_DIRS[0]


@dataclass(frozen=True)
class ModelCard:
    name: str
    kind: str  # "signature" or "stamp"
    version: str
    embedding_dim: int
    preprocess: PreprocessConfig
    scoring: ScoringConfig
    input_normalization: str = "ink darkness in [0, 1], paper = 0, aspect-preserving fit, centred"
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tflite: dict = field(default_factory=dict)  # the LiteRT export, if any (:mod:`stampauth.modeling.litert`)
    # stamps: the overlay check fused into the served score (:class:`stampauth.overlay.OverlayConfig` as a dict;
    # empty = the encoder's similarity alone)
    overlay: dict = field(default_factory=dict)

    @functools.cached_property
    def overlay_config(self):
        """:attr:`overlay` as a :class:`stampauth.overlay.OverlayConfig` (parsed once per card), or None."""
        if not self.overlay:
            return None
        from stampauth.overlay import OverlayConfig

        return OverlayConfig.from_dict(self.overlay)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of one model input."""
        return (self.preprocess.canvas_height, self.preprocess.canvas_width, 1)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelCard":
        data = known_fields(cls, json.loads(text))
        data["preprocess"] = PreprocessConfig(**data["preprocess"])
        data["scoring"] = ScoringConfig(**data["scoring"])
        return cls(**data)


def known_fields(cls, data: dict) -> dict:
    """``data`` without the keys ``cls`` (a dataclass) has no field for: cards written by newer versions still load."""
    known = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in known}


def weights_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


class MarkEncoder:
    """A loaded encoder: ``preprocess`` + compiled ``embed`` + its card.

    ``embed`` takes ``(n, H, W) float32`` canvases and returns ``(n, embedding_dim)`` unit vectors.
    ``runtime`` says what runs it: ``"keras"``, one compiled graph with a fixed input signature (so calls never
    retrace), or ``"litert"``, the card's float32 LiteRT export (``lite_model``, a
    :class:`stampauth.modeling.litert.LiteRTModel`), which gives the same embeddings faster.
    """

    def __init__(self, card: ModelCard, keras_model=None, lite_model=None, load_keras=None, pair_model=None):
        """``keras_model`` None: ``load_keras()`` loads it when something asks for :attr:`model`. LiteRT serves
        without it, so a server never loads TensorFlow (seconds and hundreds of MB). ``pair_model``: the
        :class:`stampauth.modeling.pair.PairModel` the card's overlay record weights (stamps), else None."""
        from stampauth.modeling.graph import LazyKerasGraph

        self.card = card
        self.pair_model = pair_model
        self._graph = LazyKerasGraph((None, *card.input_shape), keras_model, load_keras)
        self._lite = lite_model
        self.runtime = "keras" if lite_model is None else "litert"
        self._batcher = None
        height, width, _ = card.input_shape
        self.embed(np.zeros((1, height, width), np.float32))  # trace or allocate at load, not on the first call

    @property
    def model(self):
        """The Keras model (loaded on first use when LiteRT serves)."""
        return self._graph.model

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """``(n, H, W, C) float32 -> (n, embedding_dim)`` with the chosen runtime; safe from any thread."""
        if self._lite is not None:
            return self._lite(batch)
        return self._graph(batch)

    def enable_batching(self, max_rows: int = 32) -> None:
        """Serve concurrent callers' small batches in shared model calls (:mod:`stampauth.modeling.batching`)."""
        from stampauth.modeling.batching import CrossCallBatcher

        if self._batcher is None:
            self._batcher = CrossCallBatcher(self._run, max_rows, name=f"embed-{self.card.kind}")

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()
            self._batcher = None

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def embedding_version(self) -> str:
        """What a stored embedding was made with: the model's version, plus the preprocessing's revision where it
        changed since the model shipped (:func:`stampauth.preprocess.pipeline_revision`). Stored embeddings of
        another embedding version are recomputed from the stored images, so none is compared across either."""
        revision = pipeline_revision(self.card.preprocess)
        return f"{self.card.version}+{revision}" if revision else self.card.version

    @property
    def overlay(self):
        """The card's :class:`stampauth.overlay.OverlayConfig`, or None when the score is the similarity alone."""
        return self.card.overlay_config

    def preprocess(self, image: np.ndarray, debug: dict | None = None) -> np.ndarray:
        """Any 8-bit crop -> ``(H, W) float32`` canvas."""
        return preprocess_any(image, self.card.preprocess, debug)

    @property
    def views(self) -> int:
        """How many views of a query are compared with each reference (rotations, for stamps)."""
        return max(1, self.card.preprocess.rotation_views)

    def embed_queries(self, canvases: np.ndarray) -> np.ndarray:
        """``(n, H, W)`` query canvases -> ``(n, views, embedding_dim)``.

        A stamp can be pressed at any angle: each query is embedded at ``views`` rotations and every
        reference is compared with the view that matches it best (see :func:`stampauth.scoring.fewshot_score`).
        References are embedded once, as they are (:meth:`embed`).
        """
        canvases = np.asarray(canvases, dtype=np.float32)
        if canvases.ndim == 2:
            canvases = canvases[None]
        if self.views == 1:
            return self.embed(canvases)[:, None, :]
        return embed_rotation_views(self.embed, canvases, self.views)

    def queries(self, canvases: np.ndarray) -> list:
        """``(n, H, W)`` query canvases -> one query per canvas for :func:`stampauth.modeling.views.query_views`:
        ``(1, d)`` for an encoder without rotation views; for stamps a
        :class:`~stampauth.modeling.views.RotationSearch` over the ``views`` grid, coarse views embedded now (all
        canvases in one batch), the rest when the references are known. :meth:`embed_queries` embeds every view."""
        from stampauth.modeling.views import rotation_searches

        canvases = np.asarray(canvases, dtype=np.float32)
        if canvases.ndim == 2:
            canvases = canvases[None]
        if self.views == 1:
            return list(self.embed(canvases)[:, None, :])
        return rotation_searches(canvases, self.views, self.embed)

    def embed(self, canvases: np.ndarray, batch_size: int = 64) -> np.ndarray:
        canvases = np.asarray(canvases, dtype=np.float32)
        if canvases.ndim == 2:
            canvases = canvases[None]
        outputs = []
        for start in range(0, len(canvases), batch_size):
            chunk = canvases[start : start + batch_size, :, :, None]
            outputs.append(self._batcher(chunk) if self._batcher is not None else self._run(chunk))
        if not outputs:
            return np.zeros((0, self.card.embedding_dim), np.float32)
        return np.concatenate(outputs).astype(np.float32)

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        """Raw crops -> ``(n, embedding_dim)``."""
        return self.embed(np.stack([self.preprocess(image) for image in images]))


def embed_rotation_views(embed, canvases: np.ndarray, views: int) -> np.ndarray:
    """``embed((m, H, W)) -> (m, d)`` applied to every canvas of ``(n, H, W)`` at ``views`` rotations:
    ``(n, views, d)``, view 0 unturned.  A few canvases at a time: all views of thousands would not fit in memory."""
    parts = []
    chunk = max(1, 256 // views)
    for start in range(0, len(canvases), chunk):
        part = canvases[start : start + chunk]
        turned = np.concatenate([rotation_views(canvas, views) for canvas in part])
        parts.append(np.asarray(embed(turned), np.float32).reshape(len(part), views, -1))
    return np.concatenate(parts)


def load_encoder(kind: str, directory: str | Path | None = None, runtime: str | None = None,
                 with_pair_model: bool = True) -> MarkEncoder:
    """The factory: ``models/<name>.keras`` + ``models/<name>.json`` -> :class:`MarkEncoder` (with the stamp pair
    model, :mod:`stampauth.modeling.pair`, when the card's overlay record weights it).

    ``runtime``: ``"litert"``, ``"keras"`` or ``None`` for ``$STAMPAUTH_RUNTIME``, else LiteRT when the card's
    export (``models/<name>.tflite``) is present and intact, else Keras
    (:func:`stampauth.modeling.litert.choose_runtime`). ``with_pair_model=False``: the encoder alone, for training
    commands that need only its embeddings (a newly trained pair model no longer matches the record that the overlay
    fit is about to replace); it cannot serve the fused score.
    """
    from stampauth.modeling.litert import load_for

    if kind not in MODEL_FILES:
        raise FailedPrecondition(f"no model is shipped for kind {kind!r} in this version")
    base = Path(directory) if directory else models_dir()
    weights = base / f"{MODEL_FILES[kind]}.keras"
    card_path = base / f"{MODEL_FILES[kind]}.json"
    if not weights.exists() or not card_path.exists():
        raise FailedPrecondition(
            f"model files {weights.name} and {card_path.name} are missing from {base}; "
            "reinstall stampauth or point STAMPAUTH_MODELS_DIR at the models folder"
        )
    card = ModelCard.from_json(card_path.read_text())
    pair_model = None
    overlay = card.overlay_config
    if overlay is not None and overlay.weight_pair and with_pair_model:  # the served score needs it
        from stampauth.modeling.pair import load_pair_model

        pair_model = load_pair_model(base, runtime, expected_version=overlay.pair_model)
        if pair_model.card.canvas != overlay.canvas:
            raise FailedPrecondition(f"the pair model takes {pair_model.card.canvas}-pixel canvases but the overlay "
                                     f"record makes {overlay.canvas}-pixel ones; refit with 'stampauth train "
                                     "stamp-overlay'")
    lite = load_for(card.tflite, base, MODEL_FILES[kind], runtime)
    return MarkEncoder(card, None if lite is not None else load_keras_model(weights), lite,
                       load_keras=lambda: load_keras_model(weights), pair_model=pair_model)


def load_keras_model(path: Path):
    """A shipped ``.keras`` file (custom layers registered first)."""
    import keras

    import stampauth.modeling.layers  # noqa: F401  (registers custom layers for deserialization)

    return keras.saving.load_model(path, compile=False)
