"""Classical baselines scored side by side with the model in every evaluation.

Each baseline turns a crop into features once (``features``) and compares two feature sets
(``similarity``, higher = more alike); a query's score against K references is the mean.
For stamps the crops go through the stamp preprocessing (colour ink separation, round canvas) and
the correlation baseline compares each reference with the best of the query's rotations, as the
model does, so the comparison is about the features and not about rotation handling.
"""

from __future__ import annotations

import cv2
import numpy as np

from stampauth.preprocess import PreprocessConfig, preprocess_any, rotation_views

CANVASES = {
    "signature": PreprocessConfig(canvas_height=120, canvas_width=240),
    "stamp": PreprocessConfig(canvas_height=160, canvas_width=160, pipeline="stamp", rotation_views=48),
}


class OrbBaseline:
    """ORB keypoints on the ink canvas; similarity = ratio-test matches / fewer keypoints (rotation-invariant)."""

    name = "orb"

    def __init__(self, kind: str = "signature"):
        self.config = CANVASES[kind]
        self._orb = cv2.ORB_create(nfeatures=500, edgeThreshold=8, patchSize=15)
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING)

    def features(self, image: np.ndarray):
        canvas = (255 - preprocess_any(image, self.config) * 255).astype(np.uint8)
        _, descriptors = self._orb.detectAndCompute(canvas, None)
        return descriptors

    def similarity(self, first, second) -> float:
        if first is None or second is None or len(first) < 2 or len(second) < 2:
            return 0.0
        good = 0
        for pair in self._matcher.knnMatch(first, second, k=2):
            if len(pair) == 2 and pair[0].distance < 0.8 * pair[1].distance:
                good += 1
        return good / min(len(first), len(second))


class CorrelationBaseline:
    """Pearson correlation of the normalised ink canvases (blurred a little to tolerate jitter);
    stamps: the best over the second image's rotations."""

    name = "correlation"

    def __init__(self, kind: str = "signature"):
        self.config = CANVASES[kind]

    def features(self, image: np.ndarray):
        canvas = cv2.GaussianBlur(preprocess_any(image, self.config), (0, 0), 2.0)
        if self.config.rotation_views > 1:  # half size: the blur has removed that detail, and 48 views add up
            canvas = cv2.resize(canvas, (canvas.shape[1] // 2, canvas.shape[0] // 2), interpolation=cv2.INTER_AREA)
        views = rotation_views(canvas, self.config.rotation_views).reshape(self.config.rotation_views, -1)
        views = views - views.mean(axis=1, keepdims=True)
        return views / (np.linalg.norm(views, axis=1, keepdims=True) + 1e-9)  # (views, pixels); row 0 unturned

    def similarity(self, first, second) -> float:
        return float((second @ first[0]).max())


class SsimBaseline:
    """Structural similarity (SSIM, Gaussian window) of the normalised ink canvases (signatures only)."""

    name = "ssim"

    def __init__(self, kind: str = "signature"):
        self.config = CANVASES[kind]

    def features(self, image: np.ndarray):
        return preprocess_any(image, self.config).astype(np.float64)

    def similarity(self, first, second) -> float:
        c1, c2 = 0.01**2, 0.03**2
        blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
        mu1, mu2 = blur(first), blur(second)
        s11 = blur(first * first) - mu1 * mu1
        s22 = blur(second * second) - mu2 * mu2
        s12 = blur(first * second) - mu1 * mu2
        ssim = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2))
        return float(ssim.mean())


BASELINES = {
    "signature": (OrbBaseline, CorrelationBaseline, SsimBaseline),
    # SSIM over 24 rotations of every pair would take longer than the rest of the evaluation together
    "stamp": (OrbBaseline, CorrelationBaseline),
}
