"""The command line: evaluation on generated data, and the real server as a process."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import synthetic_signature

from stampauth import cli


@pytest.fixture
def labelled_set(tmp_path):
    """3 writers x 4 genuine + 2 'forgeries' (another writer's shape claimed as theirs)."""
    rows = ["path,writer,label,forger"]
    for writer in range(3):
        for variant in range(4):
            path = f"{writer:03d}/genuine/{variant}.png"
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / path), synthetic_signature(writer, variant))
            rows.append(f"{path},{writer:03d},genuine,{writer:03d}")
        for variant in range(2):
            path = f"{writer:03d}/forged/{variant}.png"
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / path), synthetic_signature(writer + 50, variant))
            rows.append(f"{path},{writer:03d},forged,0{writer + 50}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_eval_signatures_json(labelled_set, capsys):
    assert cli.main(["eval", "signatures", "--data", str(labelled_set), "--references", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("eer", "eer_random", "auc", "far", "frr", "threshold", "n_genuine", "n_forged", "references", "baselines"):
        assert key in result
    assert result["references"] == 2 and result["n_genuine"] == 3 * 2 and result["n_forged"] == 3 * 2
    assert set(result["baselines"]) == {"orb", "correlation", "ssim"}
    assert 0 <= result["eer"] <= 1 and 0 <= result["baselines"]["orb"]["eer"] <= 1


def test_eval_draws_report_the_spread_over_reference_draws_and_keep_the_seeds_figures(labelled_set, capsys):
    assert cli.main(["eval", "signatures", "--data", str(labelled_set), "--references", "2", "--json",
                     "--no-baselines"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert "draws" not in one
    assert cli.main(["eval", "signatures", "--data", str(labelled_set), "--references", "2", "--json",
                     "--no-baselines", "--draws", "4"]) == 0
    many = json.loads(capsys.readouterr().out)
    assert {key: many[key] for key in ("eer", "far", "frr")} == {key: one[key] for key in ("eer", "far", "frr")}
    spread = many["draws"]
    assert spread["n"] == 4 and spread["seeds"] == [0, 3]
    for key in ("eer", "eer_random", "far", "frr"):
        row = spread[key]
        assert row["min"] <= row["mean"] <= row["max"] and row["std"] >= 0
    assert spread["eer"]["min"] <= one["eer"] <= spread["eer"]["max"]
    assert cli.main(["eval", "signatures", "--data", str(labelled_set), "--references", "2", "--draws", "3"]) == 0
    assert "over 3 reference draws (seeds 0-2)" in capsys.readouterr().out
    assert cli.main(["eval", "signatures", "--data", str(labelled_set), "--draws", "0"]) == 2
    assert "--draws" in capsys.readouterr().err



def test_eval_per_writer_breaks_the_errors_down_by_writer(labelled_set, capsys):
    assert cli.main(["eval", "signatures", "--data", str(labelled_set), "--references", "2", "--json",
                     "--no-baselines", "--per-writer"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = result["per_writer"]
    assert sorted(row["writer"] for row in rows) == ["000", "001", "002"]
    assert sum(row["n_genuine"] for row in rows) == result["n_genuine"]
    assert sum(row["n_skilled"] for row in rows) == result["n_forged"]
    aucs = [row["auc"] for row in rows]
    assert aucs == sorted(aucs) and all(0 <= auc <= 1 for auc in aucs), "worst ranking first"
    # the writers' FRR / FAR at the served threshold add up to the set's
    assert sum(row["frr"] * row["n_genuine"] for row in rows) / result["n_genuine"] == pytest.approx(result["frr"])
    assert sum(row["far"] * row["n_skilled"] for row in rows) / result["n_forged"] == pytest.approx(result["far"])
    assert cli.main(["eval", "signatures", "--data", str(labelled_set), "--references", "2", "--no-baselines",
                     "--per-writer"]) == 0
    assert "per writer, worst ranking first" in capsys.readouterr().out


def test_per_writer_reads_the_scores_trial_by_trial():
    from stampauth.evaluation import ProtocolScores, Trial, per_writer

    trials = [Trial("a", (0,), (1, 2), (3,), (9,)), Trial("b", (4, 5), (6,), (7, 8), (0,))]
    scores = ProtocolScores(genuine=[0.9, 0.4, 0.8], skilled=[0.5, 0.2, 0.85], random=[0.1, 0.1])
    rows = {row["writer"]: row for row in per_writer(trials, scores, lambda k: 0.6 if k == 1 else 0.7)}
    assert rows["a"]["auc"] == pytest.approx(0.5) and rows["a"]["frr"] == 0.5 and rows["a"]["far"] == 0.0
    assert rows["b"]["auc"] == pytest.approx(0.5) and rows["b"]["frr"] == 0.0 and rows["b"]["far"] == 0.5
    assert rows["b"]["references"] == 2 and rows["b"]["mean_skilled"] == pytest.approx(0.525)

def test_eval_caps_references_so_one_genuine_is_scored(labelled_set, capsys):
    assert cli.main(["eval", "signatures", "--data", str(labelled_set), "--references", "9", "--json", "--no-baselines"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["references"] == 3 and result["n_genuine"] == 3


def test_eval_bad_data_dir_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["eval", "signatures", "--data", str(tmp_path), "--json"]) == 2
    assert "labels.csv" in capsys.readouterr().err


def test_serve_starts_reports_serving_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "STAMPAUTH_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [sys.executable, "-m", "stampauth.cli", "serve", "--port", "0", "--host", "127.0.0.1", "--grace", "2",
         "--insecure", "--no-auth", "--metrics-port", "0", "--log-format", "json"],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        port, deadline, seen = None, time.time() + 60, []
        while time.time() < deadline and port is None:
            line = process.stderr.readline()
            seen.append(line)
            match = re.search(r"SERVING on port (\d+)", line)
            port = int(match.group(1)) if match else None
        assert port, "".join(seen)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        logged = [json.loads(line) for line in seen if line.startswith("{")]  # structured logs, one object a line
        assert logged and all({"time", "level", "logger", "message"} <= set(entry) for entry in logged)
        metrics_port = next(int(m.group(1)) for m in (re.search(r"metrics on http port (\d+)", e["message"])
                                                       for e in logged) if m)
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            exposed = response.read().decode()
        assert "stampauth_requests_total" in exposed and 'stampauth_model_info{kind="signature"' in exposed
        assert (tmp_path / "data" / "references.db").exists()  # the default store, under the data dir
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        rest = process.stderr.read()
        assert "stopped" in rest
        assert "AUTHENTICATION IS DISABLED" in "".join(seen) + rest and "TLS IS OFF" in "".join(seen) + rest
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_refuses_to_start_without_tls_or_auth_unless_asked(tmp_path, capsys):
    assert cli.main(["serve", "--port", "0", "--no-auth"]) == 2
    assert "TLS is required" in capsys.readouterr().err
    assert cli.main(["serve", "--port", "0", "--insecure"]) == 2
    assert "no token is configured" in capsys.readouterr().err


def test_config_prints_the_effective_settings_with_token_hashes_masked(tmp_path, capsys, monkeypatch):
    assert cli.main(["token", "new", "--tenant", "bank", "--roles", "verify", "admin", "--name", "pipeline"]) == 0
    out = capsys.readouterr().out
    token = re.search(r"token \(.*\): (\S+)", out).group(1)
    config = tmp_path / "stampauth.toml"
    config.write_text("[server]\ninsecure = true\nport = 6001\n" + out[out.index("[[auth.tokens]]"):])
    monkeypatch.setenv("STAMPAUTH_SERVER__PORT", "6002")  # the environment beats the file
    assert cli.main(["config", "--config", str(config), "--log-format", "json"]) == 0
    printed = capsys.readouterr().out
    settings = json.loads(printed)
    assert settings["server"]["port"] == 6002 and settings["log_format"] == "json"
    (entry,) = settings["auth"]["tokens"]
    assert entry["tenant"] == "bank" and entry["roles"] == ["verify", "admin"] and entry["sha256"].endswith("...")
    assert token not in printed and hashlib.sha256(token.encode()).hexdigest() not in printed
    assert cli.main(["config", "--config", str(tmp_path / "missing.toml")]) == 2


def test_preprocess_dumps_every_stage(tmp_path, capsys):
    image = tmp_path / "crop.png"
    cv2.imwrite(str(image), synthetic_signature(8))
    assert cli.main(["preprocess", str(image), "--out", str(tmp_path / "stages")]) == 0
    written = capsys.readouterr().out.split()
    assert len(written) == 5 and all(os.path.exists(p) for p in written)


def test_heldout_needs_the_cards_validation_writers(labelled_set, capsys):
    assert cli.main(["eval", "signatures", "--data", str(labelled_set), "--heldout", "--json"]) == 2
    assert "validation writers" in capsys.readouterr().err


def test_train_signature_runs_end_to_end_and_writes_a_loadable_card(tmp_path, labelled_set, capsys):
    from stampauth.modeling.card import load_encoder

    out = tmp_path / "models"
    assert cli.main(["train", "signature", "--data", str(labelled_set), "--out", str(out), "--run-dir",
                     str(tmp_path / "run"), "--cache", "", "--steps", "2", "--val-writers", "1",
                     "--writers-per-batch", "2", "--synthetic-writers-per-batch", "1", "--checkpoint-every", "2",
                     "--log-every", "1"]) == 0
    encoder = load_encoder("signature", out)
    assert encoder.card.training["steps"] == 2 and len(encoder.card.training["validation_writers"]) == 1
    assert set(encoder.card.scoring.thresholds_by_references) == {"1", "2", "3", "5"}
    assert (tmp_path / "run" / "ckpt").is_dir()  # checkpoints to resume from
    # another training seed with the first run's writer split keeps its validation writers (ensembles, spread)
    other = tmp_path / "other"
    assert cli.main(["train", "signature", "--data", str(labelled_set), "--out", str(other), "--run-dir",
                     str(tmp_path / "run-other"), "--cache", "", "--steps", "1", "--val-writers", "1",
                     "--writers-per-batch", "2", "--seed", "5", "--split-seed", "1234", "--log-every", "1"]) == 0
    second = load_encoder("signature", other).card.training
    assert second["seed"] == 5 and second["split_seed"] == 1234
    assert second["validation_writers"] == encoder.card.training["validation_writers"]

    # the two runs as one ensemble: one model, embeddings side by side, cosine = the mean of the members' cosines
    joined = tmp_path / "ensemble"
    assert cli.main(["train", "signature-ensemble", "--data", str(labelled_set), "--members", str(out), str(other),
                     "--out", str(joined), "--cache", ""]) == 0
    ensemble = load_encoder("signature", joined, runtime="keras")
    assert ensemble.card.embedding_dim == 256 and len(ensemble.card.training["ensemble_of"]) == 2
    members = [load_encoder("signature", folder, runtime="keras") for folder in (out, other)]
    canvases = np.random.default_rng(0).random((3, *encoder.card.input_shape[:2])).astype(np.float32)
    together = ensemble.embed(canvases)
    apart = [member.embed(canvases) for member in members]
    assert together.shape == (3, 256) and np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    expected = np.mean([a @ a.T for a in apart], axis=0)
    assert np.allclose(together @ together.T, expected, atol=1e-5)
    # an ensemble grows by giving its folder as a member: its members join one by one (here: the first run again)
    grown = tmp_path / "grown"
    assert cli.main(["train", "signature-ensemble", "--data", str(labelled_set), "--members", str(joined), str(out),
                     "--out", str(grown), "--cache", ""]) == 0
    three = load_encoder("signature", grown, runtime="keras")
    assert three.card.embedding_dim == 384 and [m["seed"] for m in three.card.training["ensemble_of"]] == [1234, 5, 1234]
    wide = three.embed(canvases)
    expected = np.mean([a @ a.T for a in apart + apart[:1]], axis=0)
    assert np.allclose(wide @ wide.T, expected, atol=1e-5)
    # members of other writer splits do not mix: a clear error, exit code 2
    from stampauth.datasets import split_writers

    writers = ["000", "001", "002"]
    seed = next(s for s in range(1, 100) if split_writers(writers, 1, s) != split_writers(writers, 1, 1234))
    assert cli.main(["train", "signature", "--data", str(labelled_set), "--out", str(tmp_path / "third"), "--run-dir",
                     str(tmp_path / "run-third"), "--cache", "", "--steps", "1", "--val-writers", "1",
                     "--writers-per-batch", "2", "--seed", str(seed), "--log-every", "1"]) == 0
    capsys.readouterr()
    assert cli.main(["train", "signature-ensemble", "--data", str(labelled_set), "--members", str(out),
                     str(tmp_path / "third"), "--out", str(tmp_path / "bad"), "--cache", ""]) == 2
    assert "--split-seed" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "signature_encoder.keras").exists()


def test_train_signature_fine_architecture_with_forger_classes(tmp_path, labelled_set, capsys):
    from stampauth.modeling.card import load_encoder

    out = tmp_path / "fine"
    assert cli.main(["train", "signature", "--data", str(labelled_set), "--out", str(out), "--run-dir",
                     str(tmp_path / "run"), "--cache", "", "--steps", "1", "--val-writers", "1", "--writers-per-batch",
                     "2", "--architecture", "fine", "--forger-classes", "--log-every", "1"]) == 0
    encoder = load_encoder("signature", out, runtime="keras")
    training = encoder.card.training
    assert training["architecture"] == "fine" and "--architecture fine --" in training["command"]
    assert training["command"].endswith("--forger-classes") and "one forger" in training["loss"]
    # the fine variant's stem keeps the canvas' full resolution
    assert encoder.model.get_layer("stem_conv").strides == (1, 1)
    assert encoder.model.get_layer("block1_conv1").__class__.__name__ == "Conv2D"
    capsys.readouterr()
    assert cli.main(["train", "signature", "--data", str(labelled_set), "--out", str(tmp_path / "bad"), "--run-dir",
                     str(tmp_path / "run-bad"), "--cache", "", "--steps", "1", "--architecture", "huge"]) == 2
    assert "choose one of base, fine" in capsys.readouterr().err


def test_forger_classes_give_one_forgers_imitations_a_shared_label_never_the_writers():
    from stampauth.datasets import LabelledMark
    from stampauth.training.signature import PREPROCESS, BatchSampler

    marks = [LabelledMark(f"{w}/g{i}.png", w, True, w) for w in ("a", "b") for i in range(4)]
    marks += [LabelledMark(f"{w}/f{f}{i}.png", w, False, f) for w in ("a", "b") for f in ("x", "y") for i in range(4)]

    class Sampler(BatchSampler):
        def canvas(self, index, rng, imitation=False, style=None):
            return np.full((80, 160), index, np.float32)  # the canvas tells which mark it is

    for forger_classes in (True, False):
        sampler = Sampler(marks, [None] * len(marks), ["a", "b"], PREPROCESS, 3, writers_per_batch=2, genuine=2,
                          forged=3, forger_classes=forger_classes)
        for step in range(5):
            images, labels = sampler.batch(step)
            chosen = images[:, 0, 0, 0].astype(int)
            forged = [(marks[i], label) for i, label in zip(chosen, labels) if not marks[i].genuine]
            assert all(label < 0 for _, label in forged)  # never a writer's label
            for writer in ("a", "b"):
                own = [(m.forger, label) for m, label in forged if m.writer == writer]
                assert len(own) == 3
                if forger_classes:
                    assert len({f for f, _ in own}) == 1 and len({label for _, label in own}) == 1
                else:
                    assert len({label for _, label in own}) == 3


def test_signature_ensemble_joins_members_of_different_canvases(tmp_path, labelled_set, capsys):
    import keras

    from stampauth.modeling.card import load_encoder

    common = ["--data", str(labelled_set), "--cache", "", "--steps", "1", "--val-writers", "1", "--writers-per-batch", "2",
              "--split-seed", "1234", "--log-every", "1"]
    small, large = tmp_path / "small", tmp_path / "large"
    assert cli.main(["train", "signature", *common, "--canvas", "40x80", "--out", str(small), "--run-dir", str(tmp_path / "r1")]) == 0
    assert cli.main(["train", "signature", *common, "--seed", "5", "--out", str(large), "--run-dir", str(tmp_path / "r2")]) == 0
    assert load_encoder("signature", small, runtime="keras").card.input_shape == (40, 80, 1)
    joined = tmp_path / "joined"
    assert cli.main(["train", "signature-ensemble", "--data", str(labelled_set), "--members", str(small), str(large),
                     "--out", str(joined), "--cache", ""]) == 0
    ensemble = load_encoder("signature", joined, runtime="keras")
    assert ensemble.card.input_shape == (80, 160, 1)  # the larger canvas; the small member resizes it to its own
    canvases = np.random.default_rng(0).random((3, 80, 160)).astype(np.float32)
    shrunk = np.asarray(keras.layers.Resizing(40, 80, interpolation="bilinear")(canvases[..., None]))[..., 0]
    apart = [load_encoder("signature", small, runtime="keras").embed(shrunk),
             load_encoder("signature", large, runtime="keras").embed(canvases)]
    together = ensemble.embed(canvases)
    assert np.allclose(together @ together.T, np.mean([a @ a.T for a in apart], axis=0), atol=1e-5)
    # the served LiteRT export exists (regression: dropout's random ops in the traced members broke the export)
    assert (joined / "signature_encoder.tflite").is_file()
    assert np.allclose(load_encoder("signature", joined, runtime="litert").embed(canvases), together, atol=1e-4)
    # grown again from the joined folder, the small member keeps its own canvas
    grown = tmp_path / "grown"
    assert cli.main(["train", "signature-ensemble", "--data", str(labelled_set), "--members", str(joined), str(small),
                     "--out", str(grown), "--cache", ""]) == 0
    assert load_encoder("signature", grown, runtime="keras").card.input_shape == (80, 160, 1)
    capsys.readouterr()
    assert cli.main(["train", "signature", *common, "--canvas", "80 by 160", "--out", str(tmp_path / "bad")]) == 2
    assert "HEIGHTxWIDTH" in capsys.readouterr().err


@pytest.fixture(scope="module")
def page_set(tmp_path_factory):
    """Generated pages in the YOLO layout that 'stampauth eval detection' reads."""
    out = tmp_path_factory.mktemp("pages")
    assert cli.main(["synth", "documents", "--out", str(out), "--count", "4", "--seed", "5", "--long-side", "900"]) == 0
    return out


def test_synth_documents_writes_a_readable_yolo_set(page_set):
    from stampauth.detection.metrics import read_yolo_dataset

    pages = read_yolo_dataset(page_set)
    assert len(pages) == 4 and max(max(p.width, p.height) for p in pages) == 900
    assert (page_set / "classes.txt").read_text().split() == ["signature", "stamp"]
    assert sum(len(p.boxes) for p in pages) >= 2
    for page in pages:
        for kind, box in page.boxes:
            assert kind in ("signature", "stamp") and 0 <= box.x0 < box.x1 <= page.width and 0 <= box.y0 < box.y1 <= page.height


def test_eval_detection_json_has_model_and_baseline_per_kind(page_set, capsys):
    assert cli.main(["eval", "detection", "--data", str(page_set), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_images"] == 4 and result["detector_version"]
    kinds = [k for k in ("signature", "stamp") if k in result]
    assert kinds, result
    for kind in kinds:
        for row in (result[kind], result["baseline"][kind]):
            assert set(row) >= {"ap50", "precision", "recall", "n_images", "n_boxes"}
            assert 0 <= row["ap50"] <= 1 and row["n_images"] == 4
    assert result["ms_per_page"] > 0 and result["baseline"]["ms_per_page"] > 0


def test_eval_detection_writes_error_sheets_on_request(page_set, tmp_path, capsys):
    assert cli.main(["eval", "detection", "--data", str(page_set), "--no-baselines", "--errors",
                     str(tmp_path / "errors")]) == 0
    out = capsys.readouterr().out
    assert "error sheets and errors.json in" in out
    listing = json.loads((tmp_path / "errors" / "errors.json").read_text())
    assert listing and set(listing) <= {"signature", "stamp"}
    for kind, errors in listing.items():
        assert set(errors) == {"false", "missed"}
        for what in ("false", "missed"):
            assert (tmp_path / "errors" / f"{kind}-{what}.png").exists() == bool(errors[what])


def test_detect_prints_marks_and_writes_annotated_pages(page_set, tmp_path, capsys):
    images = sorted((page_set / "images").iterdir())[:2]
    assert cli.main(["detect", *map(str, images), "--json", "--annotate-dir", str(tmp_path / "ann")]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in results] == list(map(str, images))
    assert all(len(r["annotated"]) == 1 and os.path.exists(r["annotated"][0]) for r in results)
    assert cli.main(["detect", str(images[0])]) == 0
    assert "page(s)" in capsys.readouterr().out
    assert cli.main(["detect", str(tmp_path / "missing.png")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_verify_command_reports_claims_and_exit_status(page_set, tmp_path, capsys):
    from helpers import encode

    from stampauth.service import SpecimenInput, StampAuth

    store = f"sqlite:///{tmp_path / 'refs.db'}"
    with StampAuth.open(store) as core:
        core.create_identity("writer-1", "W", {}, [SpecimenInput("signature", encode(synthetic_signature(1, v))) for v in range(3)])
    image = str(sorted((page_set / "images").iterdir())[0])
    status = cli.main(["verify", image, "--identity", "writer-1", "--kind", "signature", "--store", store, "--json"])
    result = json.loads(capsys.readouterr().out)
    assert status == (0 if result["all_claims_satisfied"] else 3)
    assert result["claims"][0]["identity_id"] == "writer-1" and result["claims"][0]["outcome"] in (
        "SATISFIED", "MISSING_MARK", "FORGED", "INCONCLUSIVE")
    assert cli.main(["verify", image, "--identity", "nobody", "--store", store]) == 1
    assert "nobody" in capsys.readouterr().err


def test_train_detector_runs_end_to_end(tmp_path):
    from stampauth.detection.detector import load_detector

    out = tmp_path / "models"
    assert cli.main(["train", "detector", "--pages", "4", "--val-pages", "2", "--steps", "2", "--batch", "2",
                     "--crop", "128", "--long-side", "320", "--workers", "1", "--out", str(out),
                     "--cache", str(tmp_path / "cache"), "--run-dir", str(tmp_path / "run"),
                     "--checkpoint-every", "2", "--log-every", "1", "--generator-version", "2"]) == 0
    detector = load_detector(out)
    assert detector.card.input_long_side == 320 and detector.card.training["steps"] == 2
    assert detector.card.training["generator_version"] == 2 and "--generator-version 2" in detector.card.training["command"]
    assert sorted(p.name.split("-")[4] for p in (tmp_path / "cache").iterdir()) == ["g2", "g2"]  # cached per version
    # fine-tuning starts from a trained detector's weights and says so in its card
    tuned = tmp_path / "tuned"
    assert cli.main(["train", "detector", "--pages", "4", "--val-pages", "2", "--steps", "1", "--batch", "2", "--lr", "0",
                     "--crop", "128", "--long-side", "320", "--workers", "1", "--out", str(tuned), "--init-from", str(out),
                     "--cache", str(tmp_path / "cache"), "--run-dir", str(tmp_path / "run-tuned"), "--generator-version", "2",
                     "--log-every", "1", "--seed", "3", "--page-seed", "7"]) == 0
    fine = load_detector(tuned, runtime="keras")
    assert fine.card.training["init_from"] == detector.card.version
    # another seed on the first run's pages (--page-seed): nothing new rendered
    assert fine.card.training["seed"] == 3 and fine.card.training["page_seed"] == 7
    assert len(list((tmp_path / "cache").iterdir())) == 2
    start = load_detector(out, runtime="keras")
    trained = [(a.numpy(), b.numpy()) for a, b in zip(fine.model.trainable_weights, start.model.trainable_weights)]
    assert all(np.allclose(a, b) for a, b in trained), "learning rate 0: the starting weights, unchanged"
    assert set(detector.card.score_thresholds) == {"signature", "stamp"}
    assert (tmp_path / "run" / "ckpt").is_dir()
    # another width (channels per stride), recorded in the card; a bad one is refused before any page is rendered
    narrow = tmp_path / "narrow"
    assert cli.main(["train", "detector", "--pages", "4", "--val-pages", "2", "--steps", "1", "--batch", "2",
                     "--crop", "128", "--long-side", "320", "--workers", "1", "--out", str(narrow), "--widths",
                     "16,24,32,48,64", "--cache", str(tmp_path / "cache"), "--run-dir", str(tmp_path / "run-narrow"),
                     "--generator-version", "2", "--log-every", "1", "--page-seed", "7"]) == 0
    small = load_detector(narrow, runtime="keras")
    assert small.card.training["widths"] == [16, 24, 32, 48, 64] and "--widths 16,24,32,48,64" in small.card.training["command"]
    assert small.card.training["parameters"] < detector.card.training["parameters"]
    assert cli.main(["train", "detector", "--widths", "32,64", "--cache", str(tmp_path / "bad-cache"),
                     "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad-cache").exists()

    # two detectors joined: one model whose output maps are the mean of theirs, thresholds chosen on synthetic pages
    from dataclasses import replace

    from stampauth.detection.detector import DetectorCard
    from stampauth.detection.model import detector_model
    from stampauth.training import save_with_card

    other = tmp_path / "other"  # another run: here fresh weights, so the two members really differ
    save_with_card(detector_model(), other, "mark_detector", "detector",
                   lambda version: replace(detector.card, version=version, training={"seed": 99}))
    joined = tmp_path / "joined"
    ensemble_args = ["--val-pages", "2", "--generator-version", "2", "--workers", "1", "--cache", str(tmp_path / "cache")]
    assert cli.main(["train", "detector-ensemble", "--members", str(out), str(other), "--out", str(joined),
                     *ensemble_args]) == 0
    both = load_detector(joined, runtime="keras")
    assert both.card.input_long_side == 320 and set(both.card.score_thresholds) == {"signature", "stamp"}
    assert [m["version"] for m in both.card.training["ensemble_of"]] == [detector.card.version, load_detector(other).version]
    page = np.full((300, 220, 3), 255, np.uint8)
    cv2.putText(page, "Invoice 42", (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    cv2.circle(page, (120, 180), 50, (200, 60, 30), 3)
    members = [load_detector(folder, runtime="keras").kernel_map(page)[0] for folder in (out, other)]
    assert np.allclose(both.kernel_map(page)[0], np.mean(members, axis=0), atol=1e-5)
    assert (joined / "mark_detector.tflite").is_file()  # the served export
    assert np.allclose(load_detector(joined, runtime="litert").kernel_map(page)[0], both.kernel_map(page)[0], atol=1e-4)
    # grows member by member; members of another input size do not mix (exit 2, nothing written)
    grown = tmp_path / "grown"
    assert cli.main(["train", "detector-ensemble", "--members", str(joined), str(out), "--out", str(grown),
                     *ensemble_args]) == 0
    assert len(load_detector(grown, runtime="keras").card.training["ensemble_of"]) == 3
    wide = tmp_path / "wide"
    save_with_card(detector_model(), wide, "mark_detector", "detector",
                   lambda version: replace(detector.card, version=version, input_long_side=640))
    assert cli.main(["train", "detector-ensemble", "--members", str(out), str(wide), "--out", str(tmp_path / "bad"),
                     *ensemble_args]) == 2
    assert not (tmp_path / "bad").exists()
    # fine-tuning starts from one member of an ensemble (the shipped models/ is one); a member it lacks is refused
    member_args = ["--pages", "4", "--val-pages", "2", "--steps", "1", "--batch", "2", "--lr", "0", "--crop", "128",
                   "--long-side", "320", "--workers", "1", "--cache", str(tmp_path / "cache"), "--generator-version", "2",
                   "--log-every", "1", "--page-seed", "7", "--init-from", str(joined)]
    assert cli.main(["train", "detector", *member_args, "--init-member", "1", "--out", str(tmp_path / "from-member"),
                     "--run-dir", str(tmp_path / "run-member")]) == 0
    from_member = load_detector(tmp_path / "from-member", runtime="keras")
    assert from_member.card.training["init_from"] == load_detector(other).version
    started = zip(from_member.model.trainable_weights, load_detector(other, runtime="keras").model.trainable_weights)
    assert all(np.allclose(a.numpy(), b.numpy()) for a, b in started), "learning rate 0: member 1's weights"
    assert cli.main(["train", "detector", *member_args, "--init-member", "2", "--out", str(tmp_path / "bad"),
                     "--run-dir", str(tmp_path / "run-bad")]) == 2
    assert not (tmp_path / "bad").exists()


@pytest.fixture(scope="module")
def stamp_set(tmp_path_factory):
    """Generated genuine and re-made stamps in the labels.csv layout that 'stampauth eval stamps' reads."""
    out = tmp_path_factory.mktemp("stamps")
    assert cli.main(["synth", "stamps", "--out", str(out), "--count", "4", "--seed", "9"]) == 0
    return out


def test_eval_stamps_json_has_model_baselines_and_changes(stamp_set, capsys):
    capsys.readouterr()
    assert cli.main(["eval", "stamps", "--data", str(stamp_set), "--references", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "stamp" and result["model_version"].startswith("stamp-")
    assert result["references"] == 3 and result["writers"] == 4 and result["n_forged"] == 16
    assert result["query_views"] > 1 and set(result["baselines"]) == {"orb", "correlation"}
    assert 0.0 <= result["eer"] <= 1.0 and result["eer_by_change"]
    assert all(0 <= row["eer"] <= 1 and row["n"] > 0 for row in result["eer_by_change"].values())
    # the served score (with the overlay check) over two reference draws: the first is the seed's own
    assert cli.main(["eval", "stamps", "--data", str(stamp_set), "--references", "3", "--json", "--no-baselines",
                     "--draws", "2"]) == 0
    drawn = json.loads(capsys.readouterr().out)
    assert drawn["eer"] == result["eer"] and drawn["draws"]["n"] == 2
    assert drawn["draws"]["eer"]["min"] <= result["eer"] <= drawn["draws"]["eer"]["max"]


def test_real_stamp_set_is_built_from_pages_and_a_grouping(tmp_path, capsys):
    """The builder crops each grouped YOLO box (with the service's margin) and labels it with its stamp."""
    import cv2
    import numpy as np

    pages = tmp_path / "pages"
    (pages / "images").mkdir(parents=True)
    (pages / "labels").mkdir()
    for name, centre in (("p1", (100, 120)), ("p2", (220, 200))):
        page = np.full((300, 400, 3), 255, np.uint8)
        cv2.circle(page, centre, 40, (160, 60, 30), 3)
        cv2.imwrite(str(pages / "images" / f"{name}.jpg"), page)
        (pages / "labels" / f"{name}.txt").write_text(f"0 {centre[0] / 400} {centre[1] / 300} {90 / 400} {90 / 300}\n")
    groups = tmp_path / "groups.csv"
    groups.write_text("page,box,stamp,description\np1,0,ring,a blue ring\np2,0,ring,the same ring\n")
    out = tmp_path / "real"
    assert cli.main(["data", "real-stamps", "--pages", str(pages), "--out", str(out), "--groups", str(groups)]) == 0
    rows = (out / "labels.csv").read_text().splitlines()
    assert rows[0] == "path,writer,label,forger" and len(rows) == 3
    assert all(row.split(",")[1:] == ["ring", "genuine", "ring"] for row in rows[1:])
    crop = cv2.imread(str(out / rows[1].split(",")[0]))
    assert abs(crop.shape[0] - 100) <= 2 and abs(crop.shape[1] - 100) <= 2  # 90 px box + 6 % a side
    groups.write_text("page,box,stamp\np1,3,ring\n")
    assert cli.main(["data", "real-stamps", "--pages", str(pages), "--out", str(out), "--groups", str(groups)]) == 2
    assert "names box 3" in capsys.readouterr().err


def test_the_shipped_stamp_grouping_names_every_box_once():
    from stampauth.real_stamps import read_groups

    rows = read_groups()
    keys = [(row["page"], row["box"]) for row in rows]
    assert len(keys) == len(set(keys)) == 15
    assert {row["stamp"] for row in rows} >= {"gut-gemacht", "ok-round", "gute-idee"}


def test_train_stamp_runs_end_to_end_and_writes_a_loadable_card(tmp_path):
    from stampauth.modeling.card import load_encoder

    out = tmp_path / "models"
    assert cli.main(["train", "stamp", "--out", str(out), "--run-dir", str(tmp_path / "run"), "--steps", "2",
                     "--val-designs", "2", "--designs-per-batch", "2", "--views", "4", "--checkpoint-every", "2",
                     "--log-every", "1", "--workers", "1"]) == 0
    encoder = load_encoder("stamp", out)
    assert encoder.card.kind == "stamp" and encoder.views == 4 and encoder.card.preprocess.pipeline == "stamp"
    assert encoder.card.training["steps"] == 2 and set(encoder.card.scoring.thresholds_by_references) == {"1", "2", "3", "5"}
    assert encoder.embed_queries(np.zeros((2, 128, 128), np.float32)).shape == (2, 4, encoder.card.embedding_dim)
    assert (tmp_path / "run" / "ckpt").is_dir()


def test_synth_stamps_with_other_stamps_across_them_and_a_share_out_of_range(tmp_path, capsys):
    out = tmp_path / "other"
    assert cli.main(["synth", "stamps", "--out", str(out), "--count", "2", "--seed", "9", "--other-stamp-share", "0.5"]) == 0
    assert (out / "labels.csv").read_text().count("\n") == 1 + 2 * 10
    capsys.readouterr()
    assert cli.main(["synth", "stamps", "--out", str(tmp_path / "bad"), "--count", "1", "--other-stamp-share", "1.5"]) == 2
    assert "from 0 to 1" in capsys.readouterr().err and not (tmp_path / "bad").exists()
