"""The transport-free core: model-version changes, and regressions found along the way."""

import hashlib

import numpy as np
import pytest
from helpers import encode, synthetic_signature

from stampauth.modeling.card import load_encoder
from stampauth.scoring import Verdict
from stampauth.service import SpecimenInput, StampAuth
from stampauth.store import open_store
from stampauth.store.base import NewSpecimen


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("signature")


def stale_specimen(image_bytes: bytes) -> NewSpecimen:
    return NewSpecimen("signature", image_bytes, hashlib.sha256(image_bytes).hexdigest(), 320, 120,
                       np.ones(128, np.float32) / np.sqrt(128), "signature-older-model")


def test_embeddings_of_another_model_version_are_recomputed_not_compared(encoder, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'refs.db'}")
    image = encode(synthetic_signature(11))
    store.create_identity("olga", "", {}, [stale_specimen(image)])
    core = StampAuth(store, {"signature": encoder})
    decision, _ = core.verify_image("olga", "signature", image)
    assert decision.model_version == encoder.version
    assert decision.reference_similarities[0] == pytest.approx(1.0, abs=1e-3)  # recomputed from the stored image
    assert store.stale_specimens("signature", encoder.version) == []
    assert store.reference_embeddings("olga", "signature")[0].model_version == encoder.version


def test_refresh_at_open_counts_what_it_did(encoder, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'refs.db'}")
    store.create_identity("piet", "", {}, [stale_specimen(encode(synthetic_signature(12, v))) for v in range(3)])
    core = StampAuth(store, {"signature": encoder})
    assert core.refresh_stale_embeddings("signature") == 3
    assert core.refresh_stale_embeddings("signature") == 0


def test_in_process_enroll_and_verify(encoder):
    with StampAuth(open_store("sqlite://:memory:"), {"signature": encoder}) as core:
        core.create_identity("quinn", "Quinn", {}, [SpecimenInput("signature", encode(synthetic_signature(13, v))) for v in range(3)])
        decision, identity = core.verify_image("quinn", "signature", encode(synthetic_signature(13, 0)))
        assert identity.specimen_counts["signature"] == 3
        assert decision.verdict in (Verdict.GENUINE, Verdict.INCONCLUSIVE) and decision.references_used == 3
        assert len(decision.reference_ids) == 3


def test_duplicate_images_in_one_request_are_named(encoder):
    from stampauth.errors import InvalidInput

    image = encode(synthetic_signature(14))
    with StampAuth(open_store("sqlite://:memory:"), {"signature": encoder}) as core:
        with pytest.raises(InvalidInput) as caught:
            core.create_identity("rui", "", {}, [SpecimenInput("signature", image), SpecimenInput("signature", image)])
        assert caught.value.field == "specimens[1].image"


def test_annotation_shows_a_decision_with_references_not_the_no_reference_one():
    """Regression: a stamp claimed 'any kind' by a signer without stamp specimens and by the seal's identity was
    annotated with the signer's NO_REFERENCE (score NaN, printed 'nan'): NaN lost every comparison, so the first
    verification stuck."""
    from stampauth.detection.types import Box, Detection
    from stampauth.documents import MarkVerification
    from stampauth.scoring import Decision, Verdict
    from stampauth.service import shown_verifications

    mark = Detection("stamp", Box(0, 0, 10, 10), 0.9)
    none = Decision(Verdict.NO_REFERENCE, float("nan"), 0.8, 0.2, float("nan"), "v", 0)
    seal = Decision(Verdict.INCONCLUSIVE, 0.9, 0.8, 0.2, 0.6, "v", 3)
    lower = Decision(Verdict.FORGED, 0.3, 0.8, 0.2, 0.1, "v", 3)
    shown = shown_verifications([MarkVerification(0, mark, "jansen", none), MarkVerification(0, mark, "acme", seal),
                                 MarkVerification(0, mark, "other", lower), MarkVerification(1, mark, "jansen", none)])
    assert shown[0].identity_id == "acme" and shown[1].decision.verdict is Verdict.NO_REFERENCE


def test_stamp_embeddings_made_before_the_ink_separation_changed_are_recomputed(tmp_path):
    """The stamp model's version did not change when its preprocessing did (revision "ink2"): embeddings stored
    under the bare model version were made from other ink and must be recomputed, not compared."""
    import cv2

    from stampauth.synth.stamp_sets import impression, verification_design

    stamp_encoder = load_encoder("stamp")
    assert stamp_encoder.embedding_version == f"{stamp_encoder.version}+ink2"
    assert load_encoder("signature").embedding_version == load_encoder("signature").version
    rng = np.random.default_rng(5)
    image = cv2.imencode(".png", impression(verification_design(rng), rng, 150, 0.0, clutter=False))[1].tobytes()
    store = open_store(f"sqlite:///{tmp_path / 'refs.db'}")
    made_before = NewSpecimen("stamp", image, hashlib.sha256(image).hexdigest(), 10, 10,
                              np.ones(128, np.float32) / np.sqrt(128), stamp_encoder.version)
    store.create_identity("registry", "", {}, [made_before])
    core = StampAuth(store, {"stamp": stamp_encoder})
    assert core.refresh_stale_embeddings("stamp") == 1
    stored = store.reference_embeddings("registry", "stamp")[0]
    assert stored.model_version == stamp_encoder.embedding_version
    assert not np.allclose(stored.embedding, made_before.embedding)
