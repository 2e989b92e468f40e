"""The shipped signature model: loads with its card, embeds with fixed shapes, never retraces."""

import json
import zipfile

import numpy as np
import pytest
from helpers import synthetic_signature

from stampauth.modeling.card import ModelCard, load_encoder, models_dir


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("signature")


def test_card_describes_the_model(encoder):
    card = encoder.card
    assert card.kind == "signature" and card.version.startswith("signature-")
    assert card.input_shape == (card.preprocess.canvas_height, card.preprocess.canvas_width, 1)
    assert -1.0 < card.scoring.threshold < 1.5 and card.scoring.review_band > 0
    assert card.scoring.calibration_slope > 0
    assert encoder.model.input_shape[1:] == card.input_shape
    assert encoder.model.output_shape[-1] == card.embedding_dim
    assert ModelCard.from_json(card.to_json()) == card


def test_weights_are_small_and_free_of_lambda_layers():
    path = models_dir() / "signature_encoder.keras"
    assert path.stat().st_size <= 10 * 1024 * 1024
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    assert "Lambda" not in json.dumps(config)


def test_embeddings_are_unit_vectors_and_deterministic(encoder):
    images = [synthetic_signature(w, v) for w in range(3) for v in range(2)]
    embeddings = encoder.embed_images(images)
    assert embeddings.shape == (6, encoder.card.embedding_dim) and embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)
    again = encoder.embed_images(images[:1])
    assert np.allclose(again[0], embeddings[0], atol=1e-5)  # batch size does not change the result


def test_compiled_graph_is_not_retraced():
    encoder = load_encoder("signature", runtime="keras")  # the Keras graph (the default runtime is LiteRT)
    canvases = np.zeros((7,) + encoder.card.input_shape[:2], np.float32)
    before = encoder._graph.compiled.experimental_get_tracing_count()
    for n in (1, 2, 7):
        encoder.embed(canvases[:n])
    assert encoder._graph.compiled.experimental_get_tracing_count() == before


def test_missing_model_files_fail_with_a_fix(tmp_path):
    from stampauth.errors import FailedPrecondition

    with pytest.raises(FailedPrecondition, match="STAMPAUTH_MODELS_DIR"):
        load_encoder("signature", tmp_path)
    with pytest.raises(FailedPrecondition, match="STAMPAUTH_MODELS_DIR"):
        load_encoder("stamp", tmp_path)
    with pytest.raises(FailedPrecondition, match="no model"):
        load_encoder("seal")


def test_inference_embeddings_do_not_collapse(encoder):
    """Regression: with batch-norm momentum 0.99 early checkpoints embedded every crop alike at inference."""
    embeddings = encoder.embed_images([synthetic_signature(w) for w in range(6)])
    similarities = embeddings @ embeddings.T
    assert similarities[np.triu_indices(6, 1)].max() < 0.99


def test_siamese_head_is_the_cosine_of_shared_weight_embeddings(encoder):
    from stampauth.modeling.architectures import siamese_model

    first = np.stack([encoder.preprocess(synthetic_signature(w)) for w in (1, 2)])[..., None]
    second = np.stack([encoder.preprocess(synthetic_signature(w, 1)) for w in (1, 3)])[..., None]
    pair_scores = siamese_model(encoder.model).predict([first, second], verbose=0)[:, 0]
    e1, e2 = encoder.embed(first[..., 0]), encoder.embed(second[..., 0])
    assert np.allclose(pair_scores, (e1 * e2).sum(axis=1), atol=1e-4)


def test_binarisation_share_of_the_augmentation_is_a_knob_and_its_default_keeps_the_shipped_recipe():
    import cv2

    from stampauth.training.augment import augment_mark, scan_effects

    gray = cv2.cvtColor(synthetic_signature(3, 1), cv2.COLOR_BGR2GRAY)
    for seed in range(5):  # the default draws exactly as before the knob existed
        a = augment_mark(gray, np.random.default_rng(seed))
        b = augment_mark(gray, np.random.default_rng(seed), binarize=0.1)
        assert np.array_equal(a, b)
    always = [scan_effects(gray, np.random.default_rng(seed), binarize=1.0) for seed in range(5)]
    assert all(set(np.unique(out)) <= {0, 255} for out in always), "binarize=1 always ends black and white"
    never = [scan_effects(gray, np.random.default_rng(seed), binarize=0.0) for seed in range(20)]
    assert all(len(np.unique(out)) > 2 for out in never)
