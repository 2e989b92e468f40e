"""The stamp pair model served inside the overlay check (stampauth.modeling.pair): shipping, loading with the stamp
encoder's card, LiteRT against Keras, the fused score, and decisions that carry its logit through gRPC.

A small untrained pair model stands in for the shipped one here (tests never depend on which weights are shipped)."""

import dataclasses
import json
import shutil

import numpy as np
import pytest

from stampauth.errors import FailedPrecondition
from stampauth.modeling.pair import PAIR_STEM, PairCard, load_pair_model, pair_inputs
from stampauth.overlay import OverlayConfig, OverlayMeasures, fused_score
from stampauth.scoring import ScoringConfig

PAIR_WEIGHT = 1.5


@pytest.fixture(scope="module")
def models_with_pair(tmp_path_factory):
    """A models folder: the shipped stamp encoder, a small pair model shipped by ``train stamp-pairs``' own
    :func:`ship`, and an overlay record that weights it."""
    import keras

    from stampauth.modeling.architectures import stamp_pair_model
    from stampauth.modeling.card import models_dir
    from stampauth.training.stamp_pairs import ship

    folder = tmp_path_factory.mktemp("models")
    for path in models_dir().glob("stamp_encoder.*"):
        shutil.copy(path, folder / path.name)
    keras.utils.set_random_seed(3)
    model = stamp_pair_model(192, trunk_filters=(4, 4, 4), head_filters=(4, 4))
    report = {"command": "stampauth train stamp-pairs --steps 0", "pairs": 0, "parameters": model.count_params(),
              "train_seconds": 0.0, "validation": []}
    version = ship(model, folder, 192, report)
    card_path = folder / "stamp_encoder.json"
    card = json.loads(card_path.read_text())
    overlay = dataclasses.replace(OverlayConfig.from_dict(card["overlay"]), weight_pair=PAIR_WEIGHT, pair_model=version)
    card["overlay"] = dataclasses.asdict(overlay)
    card_path.write_text(json.dumps(card))
    return folder, version, model


def test_shipped_pair_model_has_a_card_a_litert_export_that_matches_keras_and_one_input(models_with_pair):
    folder, version, two_input = models_with_pair
    card = PairCard.from_json((folder / f"{PAIR_STEM}.json").read_text())
    assert card.version == version and version.startswith("stamp-pair-") and card.canvas == 192
    assert card.training["command"].endswith(f"--models-dir {folder}")
    assert card.tflite["sha256"] and card.tflite["max_abs_diff"] < 1e-4
    lite, keras_runtime = load_pair_model(folder), load_pair_model(folder, runtime="keras")
    assert lite.runtime == "litert" and keras_runtime.runtime == "keras"
    pairs = np.random.default_rng(0).random((3, 192, 192, 2)).astype(np.float32)
    np.testing.assert_allclose(lite.logits(pairs), keras_runtime.logits(pairs), atol=1e-4)
    # the served one-input form computes what the trained two-input model does
    expected = np.asarray(two_input([pairs[..., :1], pairs[..., 1:]], training=False))[:, 0]
    np.testing.assert_allclose(lite.logits(pairs), expected, atol=1e-4)
    with pytest.raises(ValueError, match="do not fit"):
        lite.logits(pairs[..., :1])
    # against K references the query counts with the one it matches best
    references, query = pairs[..., 0], pairs[0, ..., 1]
    assert lite.best_logit(references, query) == pytest.approx(float(lite.logits(pair_inputs(references, query)).max()))


def test_pair_inputs_put_every_reference_beside_the_query_at_the_training_caches_levels():
    references = np.random.default_rng(1).random((3, 8, 8)).astype(np.float32)
    query = np.full((8, 8), 0.5011, np.float32)
    pairs = pair_inputs(references, query)
    assert pairs.shape == (3, 8, 8, 2)
    np.testing.assert_array_equal(pairs[..., 1], np.full((3, 8, 8), 128 / 255, np.float32))
    np.testing.assert_allclose(pairs[..., 0], np.round(references * 255) / 255)


def test_load_encoder_loads_the_pair_model_the_overlay_record_names_and_refuses_other_weights(models_with_pair, tmp_path):
    from stampauth.modeling.card import load_encoder

    folder, version, _ = models_with_pair
    encoder = load_encoder("stamp", folder)
    assert encoder.pair_model is not None and encoder.pair_model.version == version
    assert encoder.overlay.weight_pair == PAIR_WEIGHT

    other = tmp_path / "other"
    shutil.copytree(folder, other)
    card = json.loads((other / "stamp_encoder.json").read_text())
    card["overlay"]["pair_model"] = "stamp-pair-20000101-000000000000"
    (other / "stamp_encoder.json").write_text(json.dumps(card))
    with pytest.raises(FailedPrecondition, match="refit it with 'stampauth train stamp-overlay'"):
        load_encoder("stamp", other)
    for path in other.glob(f"{PAIR_STEM}.*"):
        path.unlink()
    with pytest.raises(FailedPrecondition, match="stamp_pair.keras and stamp_pair.json, which are missing"):
        load_encoder("stamp", other)


def test_the_overlay_fit_runs_after_a_new_pair_model_replaced_the_one_the_record_names(models_with_pair, tmp_path):
    """Regression (2026-12-07): the model card's order is 'train stamp-pairs --models-dir models', then 'train
    stamp-overlay'; between the two the record names the old pair model, and the fit's encoder load refused."""
    from stampauth.modeling.card import load_encoder
    from stampauth.modeling.pair import load_pair_model
    from stampauth.synth.stamp_sets import write_stamp_set
    from stampauth.training.stamp_overlay import trial_features

    folder, _, _ = models_with_pair
    renewed = tmp_path / "renewed"
    shutil.copytree(folder, renewed)
    card = json.loads((renewed / "stamp_encoder.json").read_text())
    card["overlay"]["pair_model"] = "stamp-pair-20000101-000000000000"  # the pair model it was fitted with
    (renewed / "stamp_encoder.json").write_text(json.dumps(card))
    with pytest.raises(FailedPrecondition):
        load_encoder("stamp", renewed)  # the service must refuse it: the record does not fit these weights
    assert load_encoder("stamp", renewed, with_pair_model=False).pair_model is None
    write_stamp_set(tmp_path / "designs", 2, seed=5, genuine_per_design=3, forged_per_design=1)
    pair_model = load_pair_model(renewed)
    config = dataclasses.replace(OverlayConfig(), pair_model=pair_model.version)
    features = trial_features(tmp_path / "designs", (1,), 1, renewed, config, pair_model)
    rows = features[1]
    assert rows.shape[1] == 5 and len(rows) >= 4 and np.isfinite(rows[:, 4]).all()


def test_fused_score_adds_the_weighted_pair_logit_and_arrays_score_like_scalars():
    config = OverlayConfig(weight_similarity=2.0, weight_outside=3.0, weight_pair=0.5, pair_model="stamp-pair-x",
                           bias=-1.0, scoring=ScoringConfig(normalization="none", threshold=0.0))
    assert fused_score(0.8, OverlayMeasures(0.04, 0.0, 2.0), config) == pytest.approx(1.6 - 0.6 + 1.0 - 1.0)
    with pytest.raises(ValueError, match="none was measured"):
        fused_score(0.8, OverlayMeasures(0.04), config)
    similarity, outside, stretch, pair = (np.array(v) for v in ([0.8, 0.5], [0.04, 0.2], [0.0, 0.3], [2.0, -1.0]))
    scores = fused_score(similarity, OverlayMeasures(outside, stretch, pair), config)
    assert scores.shape == (2,)
    for i in range(2):
        assert scores[i] == pytest.approx(fused_score(float(similarity[i]), OverlayMeasures(
            float(outside[i]), float(stretch[i]), float(pair[i])), config))
    # the pair model's version is part of the record's version: a decision names the weights it used
    assert dataclasses.replace(config, pair_model="stamp-pair-y").version != config.version
    assert dataclasses.replace(config, weight_pair=0.0, pair_model="").version == OverlayConfig(
        weight_similarity=2.0, weight_outside=3.0, bias=-1.0, scoring=config.scoring).version


def test_fit_overlay_weights_an_informative_pair_logit():
    from stampauth.training.stamp_overlay import PAIR_WEIGHTS, fit_overlay

    rng = np.random.default_rng(0)

    def rows(label, n, similarity, outside, pair):
        return np.c_[np.full(n, label), rng.normal(similarity, 0.03, n), np.clip(rng.normal(outside, 0.01, n), 0, 1),
                     np.zeros(n), rng.normal(pair, 0.5, n)]

    # re-made rubbers that the share misses (ink on the references) but the pair model sees
    features = {k: np.concatenate([rows(0, 200, 0.85, 0.01, 2.0), rows(1, 100, 0.84, 0.05, 1.8),
                                   rows(1, 100, 0.84, 0.01, -2.0), rows(2, 200, 0.6, 0.2, -3.0)]) for k in (1, 3)}
    config, report = fit_overlay(features, OverlayConfig(pair_model="stamp-pair-x"), (0.0,), PAIR_WEIGHTS)
    assert config.weight_pair > 0 and config.pair_model == "stamp-pair-x"
    assert report["k3"]["fused"]["eer_remade"] < report["k3"]["overlay_alone"]["eer_remade"]
    assert "pair_alone" in report["k3"]
    without, _ = fit_overlay(features, OverlayConfig(pair_model="stamp-pair-x"), (0.0,), (0.0,))
    assert without.weight_pair == 0.0 and without.pair_model == ""
    with pytest.raises(ValueError, match="pair_model"):
        fit_overlay(features, OverlayConfig(), (0.0,), PAIR_WEIGHTS)


def test_decisions_carry_the_pair_logit_through_grpc_and_the_json_cli(models_with_pair, tmp_path):
    import grpc

    from stampauth.cli_service import decision_json
    from stampauth.client import decision_from_proto
    from stampauth.modeling.card import load_encoder
    from stampauth.server.app import build_server
    from stampauth.service import SpecimenInput, StampAuth
    from stampauth.store import open_store
    from stampauth.synth.stamp_sets import impression, verification_design
    from stampauth.v1 import stampauth_pb2 as pb
    from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

    from helpers import encode

    folder, version, _ = models_with_pair
    core = StampAuth(open_store(f"sqlite:///{tmp_path / 'refs.db'}"), {"stamp": load_encoder("stamp", folder)})
    design = verification_design(np.random.default_rng(12))
    crops = [encode(impression(design, np.random.default_rng(seed), 260, 70.0 * seed)) for seed in range(1, 5)]
    core.create_identity("acme", "Acme", specimens=[SpecimenInput("stamp", c) for c in crops[:2]])
    running = build_server(core, port=0, host="127.0.0.1")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.StampAuthServiceStub(channel)
            reply = stub.VerifyImage(pb.VerifyImageRequest(identity_id="acme", kind=pb.MARK_KIND_STAMP,
                                                           image=pb.ImageData(content=crops[3])))
            assert reply.decision.HasField("pair_logit") and np.isfinite(reply.decision.pair_logit)
            decision = decision_from_proto(reply.decision)
            assert decision.pair_logit == pytest.approx(reply.decision.pair_logit)
            assert decision_json(decision)["pair_logit"] == pytest.approx(decision.pair_logit, abs=1e-4)
            assert reply.decision.model_version.endswith("+" + core.encoders["stamp"].overlay.version)
            [info] = stub.GetServerInfo(pb.GetServerInfoRequest()).models
            assert info.pair_model_version == version
            compared = stub.CompareImages(pb.CompareImagesRequest(
                kind=pb.MARK_KIND_STAMP, reference=pb.ImageData(content=crops[0]), query=pb.ImageData(content=crops[2])))
            assert compared.decision.HasField("pair_logit")
            core.create_identity("empty", "No specimens")
            none = stub.VerifyImage(pb.VerifyImageRequest(identity_id="empty", kind=pb.MARK_KIND_STAMP,
                                                          image=pb.ImageData(content=crops[3])))
            assert none.decision.verdict == pb.VERDICT_NO_REFERENCE and not none.decision.HasField("pair_logit")
    finally:
        running.stop(grace=1)
        core.close()


def test_the_shipped_pair_model_tells_another_impression_of_a_rubber_from_another_stamp():
    """Behaviour of the weights in models/ (whatever they are): on clean generated impressions, a second impression
    of the same design registered onto the first scores above an impression of another design."""
    from stampauth.alignment import align_to
    from stampauth.modeling.card import models_dir
    from stampauth.synth.stamp_sets import impression, verification_design

    if not (models_dir() / f"{PAIR_STEM}.json").exists():
        pytest.skip("no pair model shipped in models/")
    model = load_pair_model()
    config = OverlayConfig(canvas=model.card.canvas)
    from stampauth.overlay import overlay_canvas

    same, other = [], []
    for index in range(6):
        rng = np.random.default_rng([41, index])
        design, stranger = verification_design(rng), verification_design(rng)
        reference, genuine, different = (
            overlay_canvas(impression(d, rng, 260, float(rng.uniform(0, 360)), clutter=False), config)
            for d in (design, design, stranger))
        same.append(model.best_logit(reference[None], align_to(genuine, reference).aligned))
        other.append(model.best_logit(reference[None], align_to(different, reference).aligned))
    assert np.median(same) > np.median(other) and np.mean(np.array(same) > np.array(other)) >= 5 / 6, (same, other)


class RecordingPairModel:
    """Stands in for a PairModel: records what it is shown, scores a pair by how much of its ink overlaps."""

    def __init__(self):
        self.shown = []

    def best_logit(self, references, aligned):
        self.shown.append((np.shape(references), np.shape(aligned)))
        return float(np.max(np.sum(np.minimum(references, aligned), axis=(-2, -1))))


def test_pair_registration_each_lays_the_query_onto_every_reference_itself_and_first_through_the_first_frame():
    from stampauth.overlay import measure_overlay, overlay_canvas, register_references
    from stampauth.synth.stamp_sets import impression, verification_design

    design = verification_design(np.random.default_rng(5))
    canvases = np.stack([overlay_canvas(impression(design, np.random.default_rng(s), 260, 40.0 * s, clutter=False),
                                        OverlayConfig()) for s in range(4)])
    references, query = canvases[:3], canvases[3]
    registered = register_references(references)
    first, each = RecordingPairModel(), RecordingPairModel()
    measure_overlay(query, registered, OverlayConfig(), first, references)
    measured = measure_overlay(query, registered, OverlayConfig(pair_registration="each"), each, references)
    assert first.shown == [((3, 192, 192), (192, 192))] and each.shown == [((3, 192, 192), (3, 192, 192))]
    assert measured.pair_logit > 0
    with pytest.raises(ValueError, match="own canvases"):
        measure_overlay(query, registered, OverlayConfig(pair_registration="each"), each)
    with pytest.raises(ValueError, match="'first' or 'each'"):
        OverlayConfig(pair_registration="all")
    # "each" is another record (records without the field keep their version: tests/test_overlay.py)
    assert OverlayConfig(pair_registration="each").version != OverlayConfig().version


def test_the_service_serves_a_record_that_registers_the_query_onto_each_reference(models_with_pair, tmp_path):
    from stampauth.modeling.card import load_encoder
    from stampauth.service import SpecimenInput, StampAuth
    from stampauth.store import open_store
    from stampauth.synth.stamp_sets import impression, verification_design

    from helpers import encode

    folder, _, _ = models_with_pair
    each = tmp_path / "each"
    shutil.copytree(folder, each)
    card = json.loads((each / "stamp_encoder.json").read_text())
    card["overlay"]["pair_registration"] = "each"
    (each / "stamp_encoder.json").write_text(json.dumps(card))
    encoder = load_encoder("stamp", each)
    assert encoder.overlay.pair_registration == "each"
    core = StampAuth(open_store(f"sqlite:///{tmp_path / 'refs.db'}"), {"stamp": encoder})
    try:
        design = verification_design(np.random.default_rng(21))
        crops = [encode(impression(design, np.random.default_rng(seed), 260, 50.0 * seed)) for seed in range(1, 5)]
        core.create_identity("acme", "Acme", specimens=[SpecimenInput("stamp", c) for c in crops[:3]])
        decision, _ = core.verify_image("acme", "stamp", crops[3])
        assert decision.pair_logit is not None and decision.model_version.endswith("+" + encoder.overlay.version)
        assert core.compare_images("stamp", crops[0], crops[3]).pair_logit is not None
    finally:
        core.close()
