"""The shipped LiteRT exports: the same outputs as Keras, chosen as specified, safe from several threads."""

import json
import shutil
import threading

import cv2
import numpy as np
import pytest
from helpers import synthetic_signature

from stampauth.detection.detector import load_detector
from stampauth.errors import FailedPrecondition
from stampauth.modeling.card import ModelCard, load_encoder, models_dir
from stampauth.modeling.litert import (
    RUNTIME_ENV,
    LiteRTModel,
    choose_runtime,
    default_threads,
    encoder_samples,
    file_sha256,
    main,
    page_samples,
)
from stampauth.synth.documents import generate_page

EMBEDDING_TOLERANCE = 1e-4
MAP_TOLERANCE = 1e-4  # detector outputs: probabilities and log edge distances
STEMS = ("signature_encoder", "stamp_encoder", "mark_detector", "stamp_pair")


@pytest.fixture(autouse=True)
def no_runtime_override(monkeypatch):
    monkeypatch.delenv(RUNTIME_ENV, raising=False)


@pytest.fixture(scope="module")
def encoders():
    """``{kind: (litert encoder, keras encoder)}`` for both shipped encoders."""
    return {kind: (load_encoder(kind, runtime="litert"), load_encoder(kind, runtime="keras"))
            for kind in ("signature", "stamp")}


@pytest.fixture(scope="module")
def detectors():
    return load_detector(runtime="litert"), load_detector(runtime="keras")


def realistic_canvases(encoder, n: int) -> np.ndarray:
    return np.stack([encoder.preprocess(synthetic_signature(w, w % 3)) for w in range(n)])


# ------------------------------------------------------------------------------------------------ equal results


@pytest.mark.parametrize("kind", ["signature", "stamp"])
def test_litert_embeddings_equal_keras(encoders, kind):
    lite, keras_encoder = encoders[kind]
    assert (lite.runtime, keras_encoder.runtime) == ("litert", "keras")
    height, width, _ = lite.card.input_shape
    batches = [batch[..., 0] for batch in encoder_samples(height, width, (1, 2, 5, 8), seed=7)]
    batches.append(realistic_canvases(lite, 6))
    if kind == "stamp":
        batches.append(encoder_samples(height, width, (48,), seed=8)[0][..., 0])
    for canvases in batches:
        expected, got = keras_encoder.embed(canvases), lite.embed(canvases)
        assert got.shape == expected.shape == (len(canvases), lite.card.embedding_dim) and got.dtype == np.float32
        assert np.abs(got - expected).max() <= EMBEDDING_TOLERANCE, len(canvases)


def test_litert_rotation_views_equal_keras(encoders):
    lite, keras_encoder = encoders["stamp"]
    canvases = realistic_canvases(lite, 2)
    expected, got = keras_encoder.embed_queries(canvases), lite.embed_queries(canvases)
    assert got.shape == expected.shape == (2, lite.views, lite.card.embedding_dim)
    assert np.abs(got - expected).max() <= EMBEDDING_TOLERANCE


def test_litert_result_does_not_depend_on_the_batch(encoders):
    lite, _ = encoders["signature"]
    canvases = realistic_canvases(lite, 5)
    together = lite.embed(canvases)
    alone = np.concatenate([lite.embed(canvases[i:i + 1]) for i in range(5)])
    assert np.abs(together - alone).max() <= 1e-5


def test_litert_detector_maps_and_detections_equal_keras(detectors):
    lite, keras_detector = detectors
    assert (lite.runtime, keras_detector.runtime) == ("litert", "keras")
    for batch in page_samples(seed=3):  # several input shapes, one interpreter resized between them
        expected, got = keras_detector._run(batch), lite._run(batch)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= MAP_TOLERANCE, batch.shape
    for seed in (0, 1):  # real-looking pages: square and A4 portrait
        page = generate_page(np.random.default_rng(seed)).image
        (expected, *scale_k), (got, *scale_l) = keras_detector.kernel_map(page), lite.kernel_map(page)
        assert scale_k == scale_l and np.abs(got - expected).max() <= MAP_TOLERANCE
        found_k, found_l = keras_detector.detect(page), lite.detect(page)
        assert [d.kind for d in found_l] == [d.kind for d in found_k]
        for a, b in zip(found_l, found_k):
            assert abs(a.score - b.score) <= 1e-3
            assert np.allclose([a.box.x0, a.box.y0, a.box.x1, a.box.y1], [b.box.x0, b.box.y0, b.box.x1, b.box.y1],
                               atol=0.05)


# ------------------------------------------------------------------------------------------------ the shipped files


@pytest.mark.parametrize("stem", STEMS)
def test_shipped_exports_are_small_and_recorded_in_their_cards(stem):
    record = json.loads((models_dir() / f"{stem}.json").read_text())["tflite"]
    path = models_dir() / record["file"]
    assert path.stat().st_size <= 10 * 1000 * 1000  # the limit for shipped weights (10 MB); ensembles are larger
    assert file_sha256(path) == record["sha256"]
    assert file_sha256(models_dir() / f"{stem}.keras") == record["source_sha256"]
    assert 0 <= record["max_abs_diff"] <= 1e-4


def test_card_keeps_its_tflite_record():
    card = ModelCard.from_json((models_dir() / "signature_encoder.json").read_text())
    assert card.tflite["file"] == "signature_encoder.tflite"
    assert ModelCard.from_json(card.to_json()) == card


# ------------------------------------------------------------------------------------------------ runtime choice


def copy_models(tmp_path, stems=("signature_encoder",)):
    for stem in stems:
        for suffix in (".keras", ".json", ".tflite"):
            shutil.copy(models_dir() / f"{stem}{suffix}", tmp_path / f"{stem}{suffix}")
    return tmp_path


def test_litert_is_the_default_for_every_shipped_model():
    for stem in STEMS:
        record = json.loads((models_dir() / f"{stem}.json").read_text())["tflite"]
        assert choose_runtime(record, models_dir() / record["file"], models_dir() / f"{stem}.keras") == "litert"


def test_default_load_serves_litert_and_the_environment_forces_keras(tmp_path, monkeypatch):
    directory = copy_models(tmp_path)
    assert load_encoder("signature", directory).runtime == "litert"
    monkeypatch.setenv(RUNTIME_ENV, "keras")
    assert load_encoder("signature", directory).runtime == "keras"
    assert load_encoder("signature", directory, runtime="litert").runtime == "litert"  # the argument wins
    monkeypatch.setenv(RUNTIME_ENV, "onnx")
    with pytest.raises(FailedPrecondition, match=RUNTIME_ENV):
        load_encoder("signature", directory)


def test_detector_runtime_follows_the_environment(tmp_path, monkeypatch):
    directory = copy_models(tmp_path, ("mark_detector",))
    assert load_detector(directory).runtime == "litert"
    monkeypatch.setenv(RUNTIME_ENV, "keras")
    assert load_detector(directory).runtime == "keras"
    (directory / "mark_detector.tflite").unlink()
    monkeypatch.delenv(RUNTIME_ENV)
    assert load_detector(directory).runtime == "keras"


def test_missing_or_altered_export_falls_back_to_keras(tmp_path):
    directory = copy_models(tmp_path)
    export = directory / "signature_encoder.tflite"
    export.write_bytes(export.read_bytes() + b"\0")  # not the file the card describes
    assert load_encoder("signature", directory).runtime == "keras"
    with pytest.raises(FailedPrecondition, match="SHA-256"):
        load_encoder("signature", directory, runtime="litert")
    export.unlink()
    assert load_encoder("signature", directory).runtime == "keras"
    with pytest.raises(FailedPrecondition, match="missing"):
        load_encoder("signature", directory, runtime="litert")


def test_card_without_an_export_or_for_other_weights_uses_keras(tmp_path):
    directory = copy_models(tmp_path)
    card_path = directory / "signature_encoder.json"
    data = json.loads(card_path.read_text())
    record = data["tflite"]
    data["tflite"] = {**record, "source_sha256": "0" * 64}  # exported from other weights
    card_path.write_text(json.dumps(data))
    assert choose_runtime(data["tflite"], directory / record["file"], directory / "signature_encoder.keras") == "keras"
    del data["tflite"]
    card_path.write_text(json.dumps(data))
    assert load_encoder("signature", directory).runtime == "keras"


def test_export_command_writes_a_usable_export(tmp_path):
    directory = copy_models(tmp_path)
    (directory / "signature_encoder.tflite").unlink()
    before = json.loads((directory / "signature_encoder.json").read_text())
    del before["tflite"]
    (directory / "signature_encoder.json").write_text(json.dumps(before))
    assert main(["export", "--models-dir", str(directory), "--only", "signature_encoder"]) == 0
    after = json.loads((directory / "signature_encoder.json").read_text())
    assert {k: v for k, v in after.items() if k != "tflite"} == before  # the other fields are untouched
    assert after["tflite"]["max_abs_diff"] <= 1e-4
    assert load_encoder("signature", directory).runtime == "litert"


# ------------------------------------------------------------------------------------------------ threads


def run_threads(jobs, workers: int = 4) -> list:
    """Run every ``job()`` from ``workers`` threads at once (each thread takes every ``workers``-th job)."""
    results = [None] * len(jobs)
    errors = []
    start = threading.Barrier(workers)

    def work(offset):
        start.wait()
        try:
            for index in range(offset, len(jobs), workers):
                results[index] = jobs[index]()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_concurrent_calls_equal_serial_ones():
    model = LiteRTModel(models_dir() / "signature_encoder.tflite", max_interpreters=2)
    rng = np.random.default_rng(5)
    batches = [rng.random((n, 80, 160, 1), dtype=np.float32) for n in (1, 3, 1, 8, 2, 1, 5, 3, 1, 2, 8, 1)]
    serial = [model(batch) for batch in batches]
    concurrent = run_threads([lambda b=batch: model(b) for batch in batches * 3], workers=4)
    for index, got in enumerate(concurrent):
        assert np.array_equal(got, serial[index % len(batches)]), index
    assert model.interpreters <= 2


def test_an_interpreter_is_resized_only_when_the_shape_changes():
    model = LiteRTModel(models_dir() / "signature_encoder.tflite", max_interpreters=1)
    one, two = np.zeros((1, 80, 160, 1), np.float32), np.zeros((2, 80, 160, 1), np.float32)
    model(one), model(one), model(one)
    assert model.resizes == 1
    model(two), model(two)
    assert model.resizes == 2
    with pytest.raises(ValueError):
        model(np.zeros((1, 64, 64, 1), np.float32))  # only the batch may vary
    assert np.array_equal(model(one), model(one))  # a failed call leaves the model usable
    assert 1 <= default_threads() <= 2


def test_a_pool_keeps_one_interpreter_per_shape_up_to_its_size():
    model = LiteRTModel(models_dir() / "mark_detector.tflite", max_interpreters=2)
    portrait, landscape = np.zeros((1, 128, 96, 3), np.float32), np.zeros((1, 96, 128, 3), np.float32)
    for _ in range(3):
        model(portrait), model(landscape)
    assert model.interpreters == 2 and model.resizes == 2  # each shape allocated once
    model(np.zeros((1, 64, 64, 3), np.float32))
    assert model.interpreters == 2 and model.resizes == 3


def test_concurrent_embeddings_with_cross_call_batching_equal_serial_ones():
    encoder = load_encoder("signature", runtime="litert")
    canvases = realistic_canvases(encoder, 12)
    serial = [encoder.embed(canvases[i:i + 1 + i % 3]) for i in range(12)]
    encoder.enable_batching(max_rows=8)
    try:
        concurrent = run_threads([lambda i=i: encoder.embed(canvases[i:i + 1 + i % 3]) for i in range(12)])
    finally:
        encoder.close()
    for got, expected in zip(concurrent, serial):
        assert np.abs(got - expected).max() <= 1e-5


def test_concurrent_pages_of_different_shapes_equal_serial_ones(detectors):
    lite, _ = detectors
    pages = [cv2.resize(generate_page(np.random.default_rng(seed)).image, size)
             for seed, size in ((0, (700, 990)), (1, (990, 700)), (2, (800, 800)))]
    serial = [lite.kernel_map(page)[0] for page in pages]
    concurrent = run_threads([lambda p=page: lite.kernel_map(p)[0] for page in pages * 3], workers=3)
    for index, got in enumerate(concurrent):
        assert np.array_equal(got, serial[index % len(pages)]), index
