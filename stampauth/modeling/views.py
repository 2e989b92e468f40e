"""Rotation search for stamp queries, coarse to fine.

A stamp can be pressed at any angle, so a query is compared with each reference at the rotation that matches it
best, searched on a grid of ``views`` angles (48: every 7.5 degrees). Embedding all 48 views costs 48 encoder
rows per stamp, most of the time of a verified page. :class:`RotationSearch` embeds every ``stride``-th view of
that grid first (16 views, every 22.5 degrees) and then, for the references at hand, climbs from the coarse view
each reference matches best to the grid neighbour (+-7.5 degrees) that matches it better, until none does: every
view it compares is a view of the full grid, each reference ends on a local maximum of the grid, and that is the
full search's best view whenever the similarity has one peak around it. Measured on generated stamps (see
``tests/test_views.py`` and ``benchmarks/pipeline.py``) it costs about half the rows.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from stampauth.preprocess import rotate_canvas

COARSE_STRIDE = 3  # every third view of the grid: 16 of 48


class RotationSearch:
    """One query canvas ``(S, S)``, embedded lazily on the grid of ``views`` rotations.

    ``embed((m, S, S)) -> (m, d)`` is the encoder. :meth:`coarse` gives the coarse views ``(n_coarse, d)`` (for a
    nearest-neighbour search); :meth:`views_for` the views to score against ``references (k, d)``.
    """

    def __init__(self, canvas: np.ndarray, views: int, embed: Callable[[np.ndarray], np.ndarray],
                 stride: int = COARSE_STRIDE, coarse_embeddings: np.ndarray | None = None, peaks: int = 1):
        self.canvas = canvas
        self.peaks = peaks
        self.views = views
        self.stride = max(1, stride)
        self._embed = embed
        self.coarse_indices = list(range(0, views, self.stride))
        if coarse_embeddings is None:
            coarse_embeddings = np.asarray(embed(np.stack([self.turned(i) for i in self.coarse_indices])), np.float32)
        self._embedded: dict[int, np.ndarray] = dict(zip(self.coarse_indices, coarse_embeddings))

    def turned(self, index: int) -> np.ndarray:
        return self.canvas if index == 0 else rotate_canvas(self.canvas, 360.0 * index / self.views)

    def coarse(self) -> np.ndarray:
        return np.stack([self._embedded[i] for i in self.coarse_indices])

    @property
    def rows_embedded(self) -> int:
        return len(self._embedded)

    def views_for(self, references: np.ndarray) -> np.ndarray:
        """``(m, d)``: the coarse views plus every grid view between each reference's ``peaks`` best coarse views
        and their coarse neighbours (embedded on first use, together for all references, kept for later calls)."""
        references = np.atleast_2d(references)
        if references.size == 0 or self.stride == 1:
            return self._stacked()
        order = np.argsort(-(references @ self.coarse().T), axis=1)[:, : self.peaks]
        best_coarse = np.asarray(self.coarse_indices)[order].ravel()
        self._embed_missing({(int(c) + step) % self.views for c in best_coarse
                             for step in range(-(self.stride - 1), self.stride)})
        return self._stacked()

    def _embed_missing(self, indices) -> None:
        missing = sorted(i for i in indices if i not in self._embedded)
        if missing:
            self._embedded.update(zip(missing, np.asarray(self._embed(np.stack([self.turned(i) for i in missing])),
                                                          np.float32)))

    def _stacked(self) -> np.ndarray:
        return np.stack([self._embedded[i] for i in sorted(self._embedded)])


def rotation_searches(canvases: np.ndarray, views: int, embed: Callable[[np.ndarray], np.ndarray],
                      stride: int = COARSE_STRIDE) -> list[RotationSearch]:
    """One :class:`RotationSearch` per canvas of ``(n, S, S)``, their coarse views embedded in one batch."""
    stride = max(1, stride)
    coarse = list(range(0, views, stride))
    if not len(canvases):
        return []
    turned = np.stack([c if i == 0 else rotate_canvas(c, 360.0 * i / views) for c in canvases for i in coarse])
    embedded = np.asarray(embed(turned), np.float32).reshape(len(canvases), len(coarse), -1)
    return [RotationSearch(c, views, embed, stride, e) for c, e in zip(canvases, embedded)]


def query_views(query, references: np.ndarray) -> np.ndarray:
    """What scoring compares with ``references``: a plain ``(views, d)`` / ``(d,)`` query as it is, a
    :class:`RotationSearch` refined for them."""
    return query.views_for(references) if isinstance(query, RotationSearch) else query


def search_views(query) -> np.ndarray:
    """What a nearest-neighbour search compares with the gallery: the coarse views of a rotation search."""
    return query.coarse() if isinstance(query, RotationSearch) else query
