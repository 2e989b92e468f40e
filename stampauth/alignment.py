"""Registering one stamp canvas onto another, and comparing the two ink overlays.

A re-made rubber differs from the genuine one in geometry (a glyph of another font, a ring a little wider, one
character changed), while two impressions of one rubber differ in inking, print over them and scanning. Geometry
shows only when the two impressions lie on top of each other to a pixel, which 7.5-degree rotation views of a
128-pixel canvas cannot do. Here the query is turned and shifted onto the reference:

1. :func:`rotation_candidates`: correlation of blurred 96-pixel copies at every ``step_deg`` degrees, the best few
   distinct angles;
2. :func:`align_to`: each candidate refined by ECC (``cv2.findTransformECC``, an affine map: rotation, the last
   per cent of scale, shift and a little shear from a scan), the one with the highest final correlation kept. Every
   candidate first gets a few probe iterations; when the leader is then clearly right, only those close to it go on
   (ECC resumes where it stopped), because a wrong angle rarely converges and used to spend all its iterations.

A query laid on several references turns the same way against each: :func:`coarse_rotations` makes its turned copies
once and :func:`align_to` takes them (``query_rotations``).

All canvases are ``(S, S) float32`` in ``[0, 1]`` (ink = 1, paper = 0), as :func:`stampauth.preprocess.preprocess_stamp`
makes them: centred on the ink's minimum enclosing circle, so only rotation and small residuals are left to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

COARSE_SIDE = 96  # pixels of the blurred copies the rotation search correlates


@dataclass(frozen=True)
class Alignment:
    """``query`` turned onto the reference: ``aligned (S, S) float32``; ``matrix (2, 3)`` maps reference pixel
    coordinates to query ones (``cv2.WARP_INVERSE_MAP``); ``correlation`` is ECC's final correlation coefficient of
    the blurred canvases (1 = identical), or the coarse search's when ECC did not converge."""

    aligned: np.ndarray
    matrix: np.ndarray
    correlation: float


def _coarse(canvas: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """``(S, S)`` -> ``(len(angles), COARSE_SIDE**2)`` zero-mean unit rows: the blurred canvas at each angle."""
    side = canvas.shape[0]
    small = cv2.resize(cv2.GaussianBlur(canvas, (0, 0), 2.0 * side / 256), (COARSE_SIDE, COARSE_SIDE),
                       interpolation=cv2.INTER_AREA)
    centre = (COARSE_SIDE - 1) / 2
    rows = np.stack([cv2.warpAffine(small, cv2.getRotationMatrix2D((centre, centre), float(a), 1.0),
                                    (COARSE_SIDE, COARSE_SIDE)) for a in angles]).reshape(len(angles), -1)
    rows = rows - rows.mean(axis=1, keepdims=True)
    return rows / (np.linalg.norm(rows, axis=1, keepdims=True) + 1e-9)


def coarse_rotations(query: np.ndarray, step_deg: float = 3.0) -> np.ndarray:
    """``query (S, S)`` -> ``(360 / step_deg, COARSE_SIDE**2)``: its blurred copies at every ``step_deg`` degrees, as
    :func:`rotation_candidates` correlates them; made once for a query registered onto several references."""
    return _coarse(query, np.arange(0.0, 360.0, step_deg))


def rotation_candidates(query: np.ndarray, reference: np.ndarray, step_deg: float = 3.0, top: int = 3,
                        min_separation_deg: float = 15.0, query_rotations: np.ndarray | None = None
                        ) -> list[tuple[float, float]]:
    """The ``top`` best angles (degrees, counter-clockwise) that turn ``query`` onto ``reference``, at least
    ``min_separation_deg`` apart, each with its coarse correlation, best first. Several candidates matter for
    stamps that look alike turned by 180 degrees (a word in a frame). ``query_rotations``: the query's
    :func:`coarse_rotations` at this ``step_deg``, when already made."""
    angles = np.arange(0.0, 360.0, step_deg)
    rows = coarse_rotations(query, step_deg) if query_rotations is None else query_rotations
    if rows.shape != (len(angles), COARSE_SIDE * COARSE_SIDE):
        raise ValueError(f"query_rotations must be coarse_rotations(query, {step_deg}), got shape {rows.shape}")
    correlation = rows @ _coarse(reference, np.zeros(1))[0]
    chosen: list[int] = []
    for index in np.argsort(-correlation):
        if all(min(abs(index - j), len(angles) - abs(index - j)) * step_deg >= min_separation_deg for j in chosen):
            chosen.append(int(index))
        if len(chosen) == top:
            break
    return [(float(angles[i]), float(correlation[i])) for i in chosen]


def align_to(query: np.ndarray, reference: np.ndarray, top: int = 3, blur: float = 1.2, iterations: int = 50,
             query_rotations: np.ndarray | None = None, probe_iterations: int = 5, probe_margin: float = 0.1,
             probe_confident: float = 0.8) -> Alignment:
    """``query`` and ``reference`` ``(S, S) float32`` -> :class:`Alignment` of the query onto the reference.

    Each of the ``top`` rotation candidates runs ``probe_iterations`` of ECC. When the leader's correlation is then
    at least ``probe_confident``, only the candidates within ``probe_margin`` of it go on to ``iterations`` in all
    and the others keep their probe's correlation (they lose to the leader); when it is lower (a poor impression,
    another stamp), every candidate goes on, because a right angle may still be converging behind it.
    ``query_rotations``: :func:`coarse_rotations` of ``query``, when already made."""
    if query.shape != reference.shape or query.ndim != 2:
        raise ValueError(f"align_to needs two canvases of one (S, S) shape, got {query.shape} and {reference.shape}")
    side = query.shape[0]
    centre = ((side - 1) / 2, (side - 1) / 2)
    query_blurred = cv2.GaussianBlur(query, (0, 0), blur)
    reference_blurred = cv2.GaussianBlur(reference, (0, 0), blur)

    def refine(matrix: np.ndarray, steps: int) -> tuple[float, np.ndarray]:
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, steps, 1e-5)
        return cv2.findTransformECC(reference_blurred, query_blurred, matrix, cv2.MOTION_AFFINE, criteria, None, 5)

    # (correlation, matrix, the start to fall back on, coarse correlation, whether ECC ran without failing)
    probes = []
    for angle, coarse in rotation_candidates(query, reference, top=top, query_rotations=query_rotations):
        # ECC estimates the map from reference coordinates into the query: the inverse of turning the query by angle
        start = cv2.invertAffineTransform(cv2.getRotationMatrix2D(centre, angle, 1.0)).astype(np.float32)
        try:
            correlation, matrix = refine(start.copy(), min(probe_iterations, iterations))
            probes.append((float(correlation), matrix, start, coarse, True))
        except cv2.error:  # no convergence (an almost empty canvas): keep the coarse angle, trusted less
            probes.append((0.5 * coarse, start, start, coarse, False))
    lead = max((p[0] for p in probes if p[4]), default=None)
    best: tuple[float, np.ndarray] | None = None
    for correlation, matrix, start, coarse, converging in probes:
        if converging and (correlation >= lead - probe_margin or lead < probe_confident) \
                and iterations > probe_iterations:
            try:
                correlation, matrix = refine(matrix, iterations - probe_iterations)
                correlation = float(correlation)
            except cv2.error:
                correlation, matrix = 0.5 * coarse, start
        if best is None or correlation > best[0]:
            best = (correlation, matrix)
    assert best is not None
    aligned = cv2.warpAffine(query, best[1], (side, side), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderValue=0.0)
    return Alignment(aligned.astype(np.float32), best[1], best[0])


def anisotropy(matrix: np.ndarray) -> float:
    """``|log(s1 / s2)|`` of the singular values of a ``(2, 3)`` affine map's linear part: 0 when the map only turns,
    shifts and scales evenly. Canvases are scaled by the ink's enclosing circle, so impressions of one rubber register
    with an even scale; a re-made rubber a little wider or taller than the original (or with its text set narrower)
    needs ECC's affine map to stretch it one way more than the other, which the outside share then no longer sees."""
    singular = np.linalg.svd(np.asarray(matrix, np.float64)[:, :2], compute_uv=False)
    return float(abs(np.log(max(singular[0], 1e-9) / max(singular[1], 1e-9))))


def ink_outside(aligned_query: np.ndarray, references: np.ndarray, tolerance_px: float = 1.5,
                ink_level: float = 0.35) -> float:
    """Share of the aligned query's ink lying more than ``tolerance_px`` from the ink of every reference.

    ``aligned_query (S, S)``; ``references (K, S, S)``, all in one frame. A genuine impression prints only where its
    rubber has relief, and K impressions of it cover that relief between them despite their inking gaps, so its
    share is low; a re-made rubber puts ink where the original has none (another glyph, a wider ring). It is a
    *distance*-like figure: 0 = nothing outside, higher = less alike.
    """
    query_ink = aligned_query > ink_level
    if not query_ink.any():
        return 1.0
    union = (np.asarray(references) > ink_level).any(axis=0).astype(np.uint8)
    distance = cv2.distanceTransform(1 - union, cv2.DIST_L2, 3)
    return float((distance[query_ink] > tolerance_px).mean())
