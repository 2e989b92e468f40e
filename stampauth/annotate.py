"""Annotated page images: every mark's box, kind and score, and its verdict in colour."""

from __future__ import annotations

import cv2
import numpy as np

from stampauth.detection.types import Detection
from stampauth.scoring import Verdict

MAX_SIDE = 1600  # annotated pages are for people: keep them light
VERDICT_COLOURS = {  # BGR
    Verdict.GENUINE: (40, 160, 40),
    Verdict.FORGED: (30, 30, 220),
    Verdict.INCONCLUSIVE: (0, 150, 240),
    Verdict.NO_REFERENCE: (140, 140, 140),
}
KIND_COLOURS = {"signature": (200, 90, 20), "stamp": (160, 40, 160)}


def annotate_page(image_bgr: np.ndarray, marks: list[tuple[int, Detection, Verdict | None, str]],
                  box_scale: float = 1.0) -> bytes:
    """``(H, W, 3) uint8`` page and ``[(mark index, detection, verdict or None, extra label)]`` -> PNG bytes.

    Boxes are coloured by verdict when there is one, else by kind; the label names the mark index,
    kind, detection confidence and the extra text (e.g. the similarity and verdict). ``box_scale``: image pixels
    per box unit (a page decoded smaller than its page coordinates, see :attr:`stampauth.io.Page.scale`).
    """
    height, width = image_bgr.shape[:2]
    scale = min(1.0, MAX_SIDE / max(height, width))
    box_factor = scale * box_scale
    canvas = image_bgr if scale == 1.0 else cv2.resize(image_bgr, (max(1, round(width * scale)), max(1, round(height * scale))),
                                                       interpolation=cv2.INTER_AREA)
    canvas = np.ascontiguousarray(canvas).copy()
    thickness = max(2, round(max(canvas.shape[:2]) / 500))
    font_scale = max(0.4, max(canvas.shape[:2]) / 2200)
    for index, mark, verdict, extra in marks:
        colour = VERDICT_COLOURS[verdict] if verdict is not None else KIND_COLOURS.get(mark.kind, (0, 0, 0))
        x0, y0 = int(mark.box.x0 * box_factor), int(mark.box.y0 * box_factor)
        x1, y1 = int(mark.box.x1 * box_factor), int(mark.box.y1 * box_factor)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness)
        label = f"#{index} {mark.kind} {mark.score:.2f}" + (f" {extra}" if extra else "")
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y0 - 4 if y0 - th - base - 4 > 0 else y1 + th + 4
        tx = max(0, min(x0, canvas.shape[1] - tw - 4))  # keep the label on the page near the right edge
        cv2.rectangle(canvas, (tx, ty - th - 2), (tx + tw + 4, ty + base), colour, -1)
        cv2.putText(canvas, label, (tx + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1, cv2.LINE_AA)
    ok, data = cv2.imencode(".png", canvas)
    if not ok:  # pragma: no cover - OpenCV can always encode a uint8 BGR image
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()
