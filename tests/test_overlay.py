"""The overlay check for stamps (stampauth.overlay): registration, outside share, the fused score and its fit."""

import dataclasses

import numpy as np
import pytest

from stampauth.alignment import align_to, anisotropy
from stampauth.overlay import (OverlayConfig, OverlayMeasures, OverlayTrials, fused_score, measure_overlay,
                               outside_share, overlay_canvas, overlay_decision, register_references)
from stampauth.scoring import Decision, ScoringConfig, Verdict, make_decision
from stampauth.synth.stamp_sets import forge_design, impression, verification_design

CONFIG = OverlayConfig(weight_similarity=5.0, weight_outside=8.0, bias=-3.0,
                       scoring=ScoringConfig(normalization="none", threshold=0.5,
                                             thresholds_by_references={"1": 0.2, "3": 0.5}, review_band=0.1))


def canvases_of(design, seeds, config=CONFIG):
    return [overlay_canvas(impression(design, np.random.default_rng(seed), 260, float(np.random.default_rng(seed).uniform(0, 360)),
                                      clutter=False), config) for seed in seeds]


def test_a_remade_rubber_leaves_more_ink_outside_the_references_than_another_impression_of_the_original():
    genuine_shares, remade_shares = [], []
    for index in range(6):
        rng = np.random.default_rng([77, index])
        design = verification_design(rng)
        references = register_references(np.stack(canvases_of(design, (1, 2, 3))))
        genuine_shares += [outside_share(c, references, CONFIG) for c in canvases_of(design, (4, 5))]
        remade_shares += [outside_share(c, references, CONFIG) for c in canvases_of(forge_design(design, rng)[0], (6, 7))]
    # most genuine impressions lie on their references entirely; most re-made ones do not
    assert np.median(genuine_shares) < 0.002, genuine_shares
    assert np.mean(np.array(remade_shares) > 0.002) >= 2 / 3, remade_shares
    assert 0.0 <= min(genuine_shares) and max(remade_shares) <= 1.0


def test_a_query_registered_onto_itself_turned_has_no_ink_outside():
    design = verification_design(np.random.default_rng(5))
    canvas = canvases_of(design, (1,))[0]
    turned = np.ascontiguousarray(np.rot90(canvas))
    assert outside_share(turned, register_references(canvas[None]), CONFIG) < 0.01
    assert measure_overlay(turned, register_references(canvas[None]), CONFIG).anisotropy < 0.01


def test_a_rubber_a_little_wider_than_the_original_registers_with_that_stretch_as_its_anisotropy():
    """A re-made rubber 6 % wider: ECC's affine map stretches it back, so its ink lies on the original's and only
    the map shows the difference."""
    import cv2

    design = verification_design(np.random.default_rng(5))
    canvas = canvases_of(design, (1,))[0]
    side = canvas.shape[0]
    centre = (side - 1) / 2
    wider = cv2.warpAffine(canvas, np.float32([[1.06, 0, centre * (1 - 1.06)], [0, 1, 0]]), (side, side))
    turned_wider = np.ascontiguousarray(np.rot90(wider))
    assert anisotropy(align_to(turned_wider, canvas).matrix) == pytest.approx(np.log(1.06), abs=0.015)
    assert anisotropy(np.float32([[0.0, -2.0, 5.0], [2.0, 0.0, 1.0]])) == pytest.approx(0.0)  # turned and scaled evenly


def test_fused_score_and_decision_name_the_threshold_for_the_reference_count_and_both_versions():
    assert fused_score(0.9, OverlayMeasures(0.0), CONFIG) == pytest.approx(5.0 * 0.9 - 3.0)
    assert fused_score(0.9, OverlayMeasures(0.04, 0.05), CONFIG) == pytest.approx(5.0 * 0.9 - 8.0 * 0.2 - 3.0)
    stretched = dataclasses.replace(CONFIG, weight_anisotropy=10.0)
    assert fused_score(0.9, OverlayMeasures(0.04, 0.05), stretched) == pytest.approx(5.0 * 0.9 - 1.6 - 0.5 - 3.0)
    # beyond the cap the registration failed: the outside share speaks for it, the stretch adds no more
    assert fused_score(0.9, OverlayMeasures(0.04, 0.6), stretched) == pytest.approx(
        fused_score(0.9, OverlayMeasures(0.04, stretched.anisotropy_cap), stretched))
    encoder = make_decision(np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]]),
                            ScoringConfig(normalization="none", threshold=0.7), "stamp-x")
    clean = overlay_decision(encoder, OverlayMeasures(0.0, 0.01), CONFIG)
    assert clean.threshold == 0.5 and clean.references_used == 3 and clean.outside_share == 0.0
    assert clean.registration_anisotropy == 0.01
    assert clean.score == pytest.approx(fused_score(encoder.score, OverlayMeasures(0.0), CONFIG))
    assert clean.verdict == Verdict.GENUINE and clean.model_version == f"stamp-x+{CONFIG.version}"
    assert clean.reference_similarities == encoder.reference_similarities
    assert overlay_decision(encoder, OverlayMeasures(0.09), CONFIG).verdict == Verdict.FORGED
    assert overlay_decision(encoder, OverlayMeasures(0.0, 0.1), dataclasses.replace(CONFIG, weight_anisotropy=10.0)
                            ).verdict == Verdict.FORGED
    one = overlay_decision(dataclasses.replace(encoder, references_used=1), OverlayMeasures(0.0), CONFIG)
    assert one.threshold == 0.2
    none = Decision(Verdict.NO_REFERENCE, float("nan"), 0.7, 0.1, float("nan"), "stamp-x", 0)
    no_reference = overlay_decision(none, None, CONFIG)
    assert no_reference.verdict == Verdict.NO_REFERENCE and no_reference.outside_share is None
    assert no_reference.registration_anisotropy is None
    assert no_reference.threshold == CONFIG.scoring.threshold and no_reference.model_version == f"stamp-x+{CONFIG.version}"


def test_the_version_follows_the_settings_not_the_fitting_record():
    again = OverlayConfig.from_dict(dataclasses.asdict(CONFIG))
    assert again == CONFIG and again.version == CONFIG.version
    assert dataclasses.replace(CONFIG, fitted={"date": "today"}).version == CONFIG.version
    assert dataclasses.replace(CONFIG, bias=-2.9).version != CONFIG.version
    assert dataclasses.replace(CONFIG, weight_anisotropy=0.5).version != CONFIG.version


def test_a_card_fitted_before_the_anisotropy_was_measured_keeps_its_version():
    """Regression: adding ``weight_anisotropy`` (0 = unused) must not rename the decisions of a card that lacks it."""
    record = {"canvas": 192, "tolerance_px": 1.5, "ink_level": 0.35, "min_component_frac": 0.0003,
              "weight_similarity": 1.0, "weight_outside": 3.0, "bias": 0.0, "scoring": {"threshold": 0.5}}
    import hashlib
    import json

    settings = {**record, "scoring": dataclasses.asdict(ScoringConfig(threshold=0.5))}
    expected = "overlay-" + hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    assert OverlayConfig.from_dict(record).version == expected


def test_fit_overlay_weights_all_three_signals_and_puts_each_threshold_between_genuine_and_remade():
    from stampauth.training.stamp_overlay import fit_overlay

    rng = np.random.default_rng(0)

    def rows(label, n, similarity, outside, stretch):
        return np.c_[np.full(n, label), rng.normal(similarity, 0.03, n), np.clip(rng.normal(outside, 0.01, n), 0, 1),
                     np.abs(rng.normal(stretch, 0.005, n))]

    # half the re-made rubbers put ink outside, the other half are stretched (a new width) with their ink on the refs
    features = {k: np.concatenate([rows(0, 200, 0.85, 0.01, 0.0), rows(1, 100, 0.84, 0.05, 0.0),
                                   rows(1, 100, 0.84, 0.01, 0.05), rows(2, 200, 0.6, 0.2, 0.0)])
                for k in (1, 3)}
    config, report = fit_overlay(features, OverlayConfig())
    assert config.weight_similarity > 0 and config.weight_outside > 0 and config.weight_anisotropy > 0
    for k in ("1", "3"):
        scores = [fused_score(row[1], OverlayMeasures(row[2], row[3]), config) for row in features[int(k)]]
        genuine = [s for s, row in zip(scores, features[int(k)]) if row[0] == 0]
        remade = [s for s, row in zip(scores, features[int(k)]) if row[0] == 1]
        assert np.median(remade) < config.scoring.thresholds_by_references[k] < np.median(genuine)
        assert report[f"k{k}"]["fused"]["eer_remade"] < report[f"k{k}"]["encoder_alone"]["eer_remade"]
    assert config.scoring.review_band > 0 and config.scoring.calibration_slope > 0
    # '--terms' alone: the share's weight alone, as the 2026-12-03 record was fitted
    share_only, _ = fit_overlay(features, OverlayConfig(), anisotropy_weights=(0.0,))
    assert share_only.weight_anisotropy == 0.0 and share_only.weight_outside > 0
    assert share_only.version != config.version


def test_overlay_trials_register_each_reference_set_once_and_score_an_inkless_crop_as_all_outside():
    design = verification_design(np.random.default_rng(9))
    images = [impression(design, np.random.default_rng(seed), 240, 30.0 * seed, clutter=False) for seed in range(4)]
    images.append(np.full((120, 120, 3), 250, np.uint8))  # blank paper
    trials = OverlayTrials(images, CONFIG)
    assert trials.measures((0, 1), 2).outside < 0.2 and trials.measures((0, 1), 3).outside < 0.2
    assert len(trials._registered) == 1
    assert trials.measures((0, 1), 4).outside == 1.0


@pytest.fixture(scope="module")
def overlaid_core(tmp_path_factory):
    """A service whose stamp card carries CONFIG as its overlay record, whatever the shipped card holds."""
    from stampauth.modeling.card import load_encoder
    from stampauth.service import SpecimenInput, StampAuth
    from stampauth.store import open_store

    from helpers import encode

    encoder = load_encoder("stamp")
    encoder.card = dataclasses.replace(encoder.card, overlay=dataclasses.asdict(CONFIG))
    core = StampAuth(open_store(f"sqlite:///{tmp_path_factory.mktemp('overlay') / 'refs.db'}"), {"stamp": encoder})
    design = verification_design(np.random.default_rng(12))
    crops = [encode(impression(design, np.random.default_rng(seed), 260, 70.0 * seed)) for seed in range(1, 6)]
    core.create_identity("acme", "Acme", specimens=[SpecimenInput("stamp", c) for c in crops[:3]])
    yield core, crops
    core.close()


def test_the_service_scores_stamps_with_the_overlay_when_the_card_has_one(overlaid_core):
    core, crops = overlaid_core
    decision, _ = core.verify_image("acme", "stamp", crops[3])
    assert decision.outside_share is not None and 0.0 <= decision.outside_share <= 1.0
    assert decision.model_version.endswith("+" + CONFIG.version) and decision.threshold == 0.5
    assert len(decision.reference_ids) == 3
    cached = len(core._overlay_cache)
    assert cached == 4  # three specimen canvases and their registered set
    again, _ = core.verify_image("acme", "stamp", crops[4])
    assert len(core._overlay_cache) == cached and again.outside_share is not None
    compared = core.compare_images("stamp", crops[0], crops[3])
    assert compared.threshold == 0.2 and compared.outside_share is not None
    [(identity, identified)] = core.identify_mark("stamp", crops[3], top_k=1)
    assert identity.identity_id == "acme" and identified.score == pytest.approx(decision.score)


def test_grpc_decisions_carry_the_ink_outside_share_and_anisotropy_only_when_the_overlay_ran(overlaid_core):
    import grpc

    from stampauth.server.app import build_server
    from stampauth.v1 import stampauth_pb2 as pb
    from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

    core, crops = overlaid_core
    running = build_server(core, port=0, host="127.0.0.1")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.StampAuthServiceStub(channel)
            reply = stub.VerifyImage(pb.VerifyImageRequest(identity_id="acme", kind=pb.MARK_KIND_STAMP,
                                                           image=pb.ImageData(content=crops[4])))
            assert reply.decision.HasField("ink_outside_share") and "+overlay-" in reply.decision.model_version
            from stampauth.client import decision_from_proto

            assert decision_from_proto(reply.decision).outside_share == pytest.approx(reply.decision.ink_outside_share)
            assert reply.decision.HasField("registration_anisotropy") and reply.decision.registration_anisotropy >= 0
            assert decision_from_proto(reply.decision).registration_anisotropy == pytest.approx(
                reply.decision.registration_anisotropy)
            core.create_identity("empty", "No specimens")
            none = stub.VerifyImage(pb.VerifyImageRequest(identity_id="empty", kind=pb.MARK_KIND_STAMP,
                                                          image=pb.ImageData(content=crops[4])))
            assert none.decision.verdict == pb.VERDICT_NO_REFERENCE and not none.decision.HasField("ink_outside_share")
            assert not none.decision.HasField("registration_anisotropy")
            assert none.decision.model_version == reply.decision.model_version, "NO_REFERENCE names the served score too"
            assert none.decision.threshold == pytest.approx(CONFIG.scoring.threshold)
    finally:
        running.stop(grace=1)


def test_server_info_gives_the_thresholds_and_version_of_the_score_decisions_use(overlaid_core):
    from stampauth.server.convert import model_to_proto

    core, _ = overlaid_core
    [card] = core.server_info().models
    info = model_to_proto(card)
    assert info.decision_model_version == f"{card.version}+{CONFIG.version}" and info.score_normalization == "overlay"
    assert {t.references: round(t.threshold, 6) for t in info.thresholds_by_references} == {1: 0.2, 3: 0.5}
    plain = model_to_proto(dataclasses.replace(card, overlay={}))
    assert plain.decision_model_version == card.version and plain.threshold == pytest.approx(card.scoring.threshold)
    assert info.pair_model_version == "" and plain.pair_model_version == ""  # CONFIG weights no pair model
    assert plain.score_normalization == card.scoring.normalization
    pooled = model_to_proto(dataclasses.replace(card, overlay={}, scoring=dataclasses.replace(
        card.scoring, normalization="shift", reference_pooling="centroid")))
    assert pooled.score_normalization == "shift+centroid"


def test_array_cache_drops_the_least_recently_used_beyond_its_bytes_and_makes_each_value_once():
    from stampauth.overlay import ArrayCache

    cache = ArrayCache(max_bytes=3 * 800)
    made = []

    def make(i):
        made.append(i)
        return np.full(100, i, np.float64)  # 800 bytes

    for i in (1, 2, 3):
        cache.get(i, lambda i=i: make(i))
    cache.get(1, lambda: make(1))  # 1 is now the most recently used
    cache.get(4, lambda: make(4))  # over budget: 2 goes
    assert made == [1, 2, 3, 4] and len(cache) == 3
    cache.get(2, lambda: make(2))
    assert made[-1] == 2 and cache.get(1, lambda: make(-1))[0] == 1
