"""Coarse-to-fine rotation search of stamp queries (``stampauth.modeling.views``) against embedding all 48 views."""

import numpy as np
import pytest

from stampauth.modeling.card import load_encoder
from stampauth.modeling.views import RotationSearch, query_views, rotation_searches, search_views
from stampauth.scoring import fewshot_score
from stampauth.synth.stamps import composite_ink, random_design, render_stamp


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("stamp")


def impression(design, seed, rotation: float) -> np.ndarray:
    coverage = render_stamp(design, np.random.default_rng(seed), 240, rotation_deg=rotation)
    crop = np.full((*coverage.shape, 3), 255, np.uint8)
    composite_ink(crop, coverage, design.color_bgr, 0, 0)
    return crop


def test_every_view_compared_is_a_view_of_the_full_grid(encoder):
    design = random_design(np.random.default_rng(3))
    canvas = encoder.preprocess(impression(design, 1, 100.0))
    references = encoder.embed(np.stack([encoder.preprocess(impression(design, s, 0.0)) for s in (2, 3)]))
    full = encoder.embed_queries(canvas[None])[0]  # (48, d)
    search = RotationSearch(canvas, 48, encoder.embed)
    views = search.views_for(references)
    assert search.rows_embedded == len(views) < 48
    matches = views @ full.T
    assert np.all(matches.max(axis=1) > 1 - 1e-4), "each view equals one of the 48 grid views"
    assert search_views(search).shape == (16, full.shape[1])


def test_genuine_scores_match_the_full_search_at_any_rotation(encoder):
    rng = np.random.default_rng(11)
    differences, rows = [], []
    for index in range(8):
        design = random_design(np.random.default_rng([21, index]))
        references = encoder.embed(np.stack([encoder.preprocess(impression(design, [index, r], rng.uniform(-10, 10)))
                                             for r in range(3)]))
        canvas = encoder.preprocess(impression(design, [index, 9], rng.uniform(0, 360)))
        full, _ = fewshot_score(encoder.embed_queries(canvas[None])[0], references, encoder.card.scoring)
        search = encoder.queries(canvas[None])[0]
        coarse_to_fine, _ = fewshot_score(query_views(search, references), references, encoder.card.scoring)
        differences.append(full - coarse_to_fine)
        rows.append(search.rows_embedded)
    differences = np.array(differences)
    assert np.all(differences >= -1e-5), "a subset of the grid never scores higher than the whole grid"
    assert differences.max() <= 0.01, differences
    assert np.mean(rows) <= 30


def test_one_batch_for_the_coarse_views_of_several_queries(encoder):
    calls = []

    def embed(batch):
        calls.append(len(batch))
        return encoder.embed(batch)

    design = random_design(np.random.default_rng(5))
    canvases = np.stack([encoder.preprocess(impression(design, s, 30.0 * s)) for s in range(3)])
    searches = rotation_searches(canvases, 48, embed)
    assert calls == [48] and len(searches) == 3  # 3 queries x 16 coarse views
    assert query_views(np.zeros((1, 4)), np.zeros((2, 4))).shape == (1, 4)  # plain queries pass through
