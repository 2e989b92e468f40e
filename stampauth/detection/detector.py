"""The detector predictor: preprocessing + Keras model + decoding, configured by its card.

``models/mark_detector.keras`` + ``models/mark_detector.json``: the card fixes the input long side,
the kernel shrink used in training, the map threshold that makes blobs, and the default confidence
threshold per kind, so the weights are always used as they were trained.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from stampauth.detection.types import KINDS, N_KINDS, SIZE_MULTIPLE, STRIDE, Box, Detection
from stampauth.errors import FailedPrecondition
from stampauth.modeling.card import known_fields, models_dir

DETECTOR_FILE = "mark_detector"


@dataclass(frozen=True)
class DetectorCard:
    name: str
    version: str
    input_long_side: int = 512  # the page is resized so its longer side is this many pixels
    shrink: float = 0.5  # kernel size / box size in training targets (decoding uses the predicted edges)
    map_threshold: float = 0.4  # kernel probability that makes a blob
    score_thresholds: dict = field(default_factory=lambda: {kind: 0.5 for kind in KINDS})
    # weight of the one-ink cue on stamp confidences (:mod:`stampauth.detection.postprocess`); 0 = off
    stamp_one_ink_weight: float = 0.0
    # per kind, the logistic recalibration by the box's height on the page (:mod:`stampauth.detection.postprocess`);
    # a kind without one keeps the network's confidence
    layout_prior: dict = field(default_factory=dict)
    input_normalization: str = "BGR / 255, page resized (aspect kept) to input_long_side, zero padded to a multiple of 32"
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tflite: dict = field(default_factory=dict)  # the LiteRT export, if any (:mod:`stampauth.modeling.litert`)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DetectorCard":
        return cls(**known_fields(cls, json.loads(text)))


def page_input(image_bgr: np.ndarray, long_side: int) -> tuple[np.ndarray, float, float]:
    """``(H, W, 3) uint8`` page -> ``(h, w, 3) float32`` model input and the (x, y) scale back to page pixels.

    ``h`` and ``w`` are multiples of 32; the page occupies the top-left ``round(H*s) x round(W*s)`` part.
    """
    height, width = image_bgr.shape[:2]
    scale = long_side / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad_h = -new_h % SIZE_MULTIPLE
    pad_w = -new_w % SIZE_MULTIPLE
    # Pad with white paper, not black: a black band looks like a scanner border.
    padded = cv2.copyMakeBorder(resized, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    return padded.astype(np.float32) / 255.0, width / new_w, height / new_h


def decode_kernels(outputs: np.ndarray, map_threshold: float, min_cells: int = 2
                   ) -> list[tuple[int, float, tuple[float, float, float, float]]]:
    """``(h, w, N_OUTPUTS)`` model output -> ``[(class index, score, (x0, y0, x1, y1) input pixels)]``.

    A blob is a connected component of one kind's kernel map above ``map_threshold``; its box is the
    probability-weighted mean of the boxes its cells predict, its score the mean probability over it
    (so a faint or tiny blob ranks low).
    """
    found = []
    for cls in range(N_KINDS):
        prob = outputs[..., cls]
        mask = (prob > map_threshold).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for index in range(1, count):
            if stats[index, cv2.CC_STAT_AREA] < min_cells:
                continue
            ys, xs = np.nonzero(labels == index)
            weights = prob[ys, xs]
            edges = np.exp(outputs[ys, xs, N_KINDS + 4 * cls: N_KINDS + 4 * cls + 4]) * STRIDE
            cx, cy = (xs + 0.5) * STRIDE, (ys + 0.5) * STRIDE
            corners = np.stack([cx - edges[:, 0], cy - edges[:, 1], cx + edges[:, 2], cy + edges[:, 3]], axis=1)
            box = tuple(float(v) for v in (corners * weights[:, None]).sum(axis=0) / weights.sum())
            found.append((cls, float(weights.mean()), box))
    return _merge_fragments(found)


def _merge_fragments(found):
    """Drop a blob whose box mostly overlaps a higher-scoring blob's box of the same kind: one mark
    whose kernel broke apart predicts the same box from every piece."""
    found = sorted(found, key=lambda item: -item[1])
    kept: list[tuple] = []
    for cls, score, box in found:
        if not any(other_cls == cls and Box(*box).overlap_of_smaller(Box(*other)) > 0.6 for other_cls, _, other in kept):
            kept.append((cls, score, box))
    return kept


class MarkDetector:
    """A loaded detector: ``detect(page) -> [Detection]`` in page pixels.

    ``runtime`` says what runs the network: ``"keras"`` (a compiled graph) or ``"litert"``, the card's float32
    LiteRT export (``lite_model``, a :class:`stampauth.modeling.litert.LiteRTModel`, resized per page shape).
    """

    def __init__(self, card: DetectorCard, keras_model=None, lite_model=None, load_keras=None):
        """``keras_model`` None: ``load_keras()`` loads it on first use (LiteRT serves without it, see MarkEncoder)."""
        from stampauth.modeling.graph import LazyKerasGraph

        self.card = card
        self._graph = LazyKerasGraph((1, None, None, 3), keras_model, load_keras)
        self._lite = lite_model
        self.runtime = "keras" if lite_model is None else "litert"
        self.kernel_map(np.full((64, 64, 3), 255, np.uint8))  # trace or allocate once at load

    @property
    def model(self):
        """The Keras model (loaded on first use when LiteRT serves)."""
        return self._graph.model

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """``(1, h, w, 3) float32 -> (1, h/4, w/4, N_OUTPUTS)`` with the chosen runtime; safe from any thread."""
        if self._lite is not None:
            return self._lite(batch)
        return self._graph(batch)

    @property
    def version(self) -> str:
        return self.card.version

    def kernel_map(self, image_bgr: np.ndarray) -> tuple[np.ndarray, float, float]:
        """``(H, W, 3) uint8`` page -> ``(h/4, w/4, N_OUTPUTS)`` model output and the scale to page pixels."""
        _, outputs, sx, sy = self._forward(image_bgr)
        return outputs, sx, sy

    def _forward(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        """The model input ``(h, w, 3) float32``, its output ``(h/4, w/4, N_OUTPUTS)`` and the scale to page pixels."""
        from stampauth.stages import stage

        with stage("downscale"):
            batch, sx, sy = page_input(image_bgr, self.card.input_long_side)
        return batch, self._run(batch[None])[0], sx, sy

    def detect(self, image_bgr: np.ndarray, kinds: tuple[str, ...] = KINDS, min_score: float | None = None,
               page_number: int = 1) -> list[Detection]:
        """Every mark on one page, top to bottom. ``min_score`` None uses the card's threshold per kind.

        A stamp's score is the network's confidence times the card's one-ink factor (1 when
        ``stamp_one_ink_weight`` is 0); then, for a kind the card's ``layout_prior`` covers, the score is
        recalibrated by where the box lies down the page (:mod:`stampauth.detection.postprocess`)."""
        if image_bgr.ndim == 2:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        from stampauth.detection.postprocess import apply_layout_prior, input_crop, one_ink_factor, one_ink_share

        model_input, probabilities, sx, sy = self._forward(image_bgr)
        height, width = image_bgr.shape[:2]
        input_height = height / sy  # the page's height in input pixels (the input is padded below it)
        detections = []
        for cls, score, (x0, y0, x1, y1) in decode_kernels(probabilities, self.card.map_threshold):
            kind = KINDS[cls]
            if kind == "stamp" and self.card.stamp_one_ink_weight > 0:
                # judged on the model's own input, so validation pages and served pages see the same pixels
                share = one_ink_share(input_crop(model_input, (x0, y0, x1, y1)))
                score *= one_ink_factor(share, self.card.stamp_one_ink_weight)
            score = apply_layout_prior(score, (y0 + y1) / 2 / input_height, self.card.layout_prior.get(kind))
            threshold = self.card.score_thresholds.get(kind, 0.5) if min_score is None else min_score
            if kind not in kinds or score < threshold:
                continue
            box = Box(float(x0 * sx), float(y0 * sy), float(x1 * sx), float(y1 * sy)).clipped(width, height)
            if box.width >= 2 and box.height >= 2:
                detections.append(Detection(kind, box, round(score, 4), page_number))
        return sorted(detections, key=lambda d: (d.box.y0, d.box.x0))


def load_detector(directory: str | Path | None = None, runtime: str | None = None) -> MarkDetector:
    """The factory: ``models/mark_detector.keras`` + ``.json`` -> :class:`MarkDetector`.

    ``runtime``: ``"litert"``, ``"keras"`` or ``None`` for ``$STAMPAUTH_RUNTIME``, else LiteRT when the card's
    export (``models/mark_detector.tflite``) is present and intact, else Keras
    (:func:`stampauth.modeling.litert.choose_runtime`).
    """
    from stampauth.modeling.card import load_keras_model
    from stampauth.modeling.litert import load_for

    base = Path(directory) if directory else models_dir()
    weights, card_path = base / f"{DETECTOR_FILE}.keras", base / f"{DETECTOR_FILE}.json"
    if not weights.exists() or not card_path.exists():
        raise FailedPrecondition(
            f"detector files {weights.name} and {card_path.name} are missing from {base}; "
            "reinstall stampauth or point STAMPAUTH_MODELS_DIR at the models folder"
        )
    card = DetectorCard.from_json(card_path.read_text())
    lite = load_for(card.tflite, base, DETECTOR_FILE, runtime)
    return MarkDetector(card, None if lite is not None else load_keras_model(weights), lite,
                        load_keras=lambda: load_keras_model(weights))
