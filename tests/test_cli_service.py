"""The service commands of the CLI, in-process and against a real server (``--server``): enroll, identities,
compare, verify (documents and crops), detect, identify, info, and batch with its resume after interruption."""

import csv
import json
import shutil
import uuid

import pytest
from conftest import SAMPLES

from stampauth import cli
from stampauth.client import LocalClient

SIGNATURES = [str(p) for p in sorted((SAMPLES / "specimens").glob("jansen-signature-*.png"))]
SEALS = [str(p) for p in sorted((SAMPLES / "specimens").glob("acme-seal-*.png"))]


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(params=["in-process", "server"])
def where(request, tmp_path, monkeypatch):
    """The arguments that choose the service: a fresh SQLite store in this process, or the demo server with its
    token in $STAMPAUTH_TOKEN (identity ids are made unique so runs against the shared server never collide)."""
    if request.param == "in-process":
        return ["--store", f"sqlite:///{tmp_path / 'refs.db'}"]
    address, token = request.getfixturevalue("demo_server")
    monkeypatch.setenv("STAMPAUTH_TOKEN", token)
    return ["--server", address]


def test_enroll_list_show_verify_identify_and_delete(where, capsys):
    signer = f"jansen-{uuid.uuid4().hex[:6]}"
    code, out, _ = run(capsys, "enroll", signer, "--signature", *SIGNATURES[:2], "--name", "J. Jansen",
                       "--meta", "branch=Utrecht", "--json", *where)
    created = json.loads(out)
    assert code == 0 and created["created"] and created["identity"]["specimens"] == {"signature": 2, "stamp": 0}
    code, out, _ = run(capsys, "enroll", signer, "--signature", SIGNATURES[2], *where)
    assert code == 0 and "updated identity" in out and "3 signature" in out
    code, _, err = run(capsys, "enroll", signer, "--signature", SIGNATURES[2], "--name", "Other", *where)
    assert code == 2 and "--name and --meta only apply" in err

    code, out, _ = run(capsys, "identities", "list", "--all", "--json", *where)
    assert code == 0 and signer in [i["identity_id"] for i in json.loads(out)["identities"]]
    code, out, _ = run(capsys, "identities", "show", signer, "--json", *where)
    shown = json.loads(out)
    assert shown["metadata"] == {"branch": "Utrecht"} and len(shown["specimen_list"]) == 3

    code, out, _ = run(capsys, "verify", SAMPLES / "letter-signed.jpg", "--identity", signer, "--kind", "signature",
                       "--json", *where)
    result = json.loads(out)
    assert code == 0 and result["all_claims_satisfied"] and result["claims"][0]["verdict"] == "GENUINE"
    code, out, _ = run(capsys, "verify", SAMPLES / "letter-other-signer.jpg", "--identity", signer,
                       "--kind", "signature", *where)
    assert code == 3 and "NOT SATISFIED" in out and "FORGED" in out
    code, out, _ = run(capsys, "verify", "--crop", SIGNATURES[0], "--identity", signer, *where)
    assert code == 0 and "GENUINE" in out and "similarity" in out

    code, out, _ = run(capsys, "identify", SIGNATURES[1], "--top-k", "3", "--json", *where)
    candidates = json.loads(out)["candidates"]  # the shared server may hold other identities with these images
    assert code == 0 and signer in [c["identity_id"] for c in candidates if c["score"] >= candidates[0]["score"] - 1e-4]

    specimen = shown["specimen_list"][0]["specimen_id"]
    code, out, _ = run(capsys, "identities", "delete-specimen", specimen, *where)
    assert code == 0 and "2 signature" in out
    code, out, _ = run(capsys, "identities", "delete", signer, *where)
    assert code == 0 and "2 specimen(s)" in out
    code, _, err = run(capsys, "identities", "show", signer, *where)
    assert code == 2 and "does not exist" in err


def test_detect_compare_and_info(where, capsys, tmp_path):
    code, out, _ = run(capsys, "detect", SAMPLES / "letter-signed.pdf", "--json", "--annotate-dir", tmp_path, *where)
    result = json.loads(out)
    assert code == 0 and {m["kind"] for m in result["marks"]} == {"signature", "stamp"}
    assert result["annotated"] and (tmp_path / "letter-signed.page1.png").exists()
    code, out, _ = run(capsys, "compare", SIGNATURES[0], SIGNATURES[1], "--json", *where)
    compared = json.loads(out)
    assert code == 0 and compared["score_kind"] == "similarity" and compared["verdict"] in ("GENUINE", "INCONCLUSIVE")
    code, out, _ = run(capsys, "info", "--json", *where)
    info = json.loads(out)
    assert code == 0 and {"signature", "stamp"} <= set(info["models"]) and info["detector"]
    assert set(info["detector"]["score_thresholds"]) == {"signature", "stamp"} and "stamp_one_ink_weight" in info["detector"]
    code, out, _ = run(capsys, "info", *where)
    assert code == 0 and "one-ink weight" in out and "thresholds signature" in out


def test_errors_have_exit_codes_and_say_what_to_do(capsys, tmp_path, demo_server, monkeypatch):
    code, _, err = run(capsys, "verify", tmp_path / "missing.pdf", "--identity", "x", "--store",
                       f"sqlite:///{tmp_path / 'refs.db'}")
    assert code == 1 and "missing.pdf" in err
    code, _, err = run(capsys, "enroll", "not valid!", "--signature", SIGNATURES[0], "--store",
                       f"sqlite:///{tmp_path / 'refs.db'}")
    assert code == 2 and "letters, digits" in err
    monkeypatch.delenv("STAMPAUTH_TOKEN", raising=False)
    code, _, err = run(capsys, "identities", "list", "--server", demo_server[0])
    assert code == 5 and "bearer token" in err
    token_file = tmp_path / "token"
    token_file.write_text(demo_server[1] + "\n")
    code, _, _ = run(capsys, "identities", "list", "--server", demo_server[0], "--token-file", token_file)
    assert code == 0
    code, _, err = run(capsys, "identities", "list", "--server", "127.0.0.1:1", "--timeout", "1")
    assert code == 4 and "unavailable" in err.lower() or "connect" in err.lower()


# -- batch ---------------------------------------------------------------------------------------------


@pytest.fixture
def batch_folder(tmp_path):
    """Four documents (one in a subfolder, one broken) and claims for them plus one for a file that is missing."""
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(SAMPLES / "letter-signed.jpg", folder / "a-signed.jpg")
    shutil.copy(SAMPLES / "letter-signed.pdf", folder / "sub" / "b-signed.pdf")
    shutil.copy(SAMPLES / "letter-other-signer.jpg", folder / "c-other.jpg")
    (folder / "d-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    claims = tmp_path / "claims.csv"
    claims.write_text("file,identity_id,kind\n"
                      "a-signed.jpg,jansen,signature\n"
                      "sub/b-signed.pdf,jansen,signature\n"
                      "c-other.jpg,jansen,signature\n"
                      "d-broken.png,jansen,\n"
                      "e-missing.jpg,jansen,signature\n")
    store = f"sqlite:///{tmp_path / 'refs.db'}"
    with LocalClient.open(store) as client:
        client.create_identity("jansen", signatures=SIGNATURES)
    return folder, claims, store


def records(path) -> dict[str, dict]:
    return {r["file"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_batch_writes_one_record_per_document(batch_folder, tmp_path, capsys):
    folder, claims, store = batch_folder
    out = tmp_path / "results.jsonl"
    code, _, err = run(capsys, "batch", folder, "--claims", claims, "--out", out, "--store", store,
                       "--annotate-dir", tmp_path / "annotated")
    assert code == 1, err  # the broken and the missing document failed
    got = records(out)
    assert set(got) == {"a-signed.jpg", "sub/b-signed.pdf", "c-other.jpg", "d-broken.png", "e-missing.jpg"}
    assert got["a-signed.jpg"]["all_claims_satisfied"] and got["sub/b-signed.pdf"]["all_claims_satisfied"]
    assert got["c-other.jpg"]["claims"][0]["outcome"] == "FORGED"
    assert got["d-broken.png"]["error"]["code"] == "INVALID_ARGUMENT"
    assert got["e-missing.jpg"]["error"]["code"] == "NOT_FOUND"
    assert (tmp_path / "annotated" / "sub" / "b-signed.pdf.page1.png").exists()
    assert "2 satisfied, 1 not satisfied, 2 failed" in err


def test_batch_resumes_after_an_interruption_without_redoing_finished_documents(batch_folder, tmp_path, capsys,
                                                                                monkeypatch):
    folder, claims, store = batch_folder
    out = tmp_path / "results.jsonl"
    calls = []
    real = LocalClient.verify_document

    def interrupted_on_the_third(self, document, *args, **kwargs):
        calls.append(str(document))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, document, *args, **kwargs)

    monkeypatch.setattr(LocalClient, "verify_document", interrupted_on_the_third)
    code, _, err = run(capsys, "batch", folder, "--claims", claims, "--out", out, "--store", store, "--workers", "1")
    assert code == 130 and "run the same command again" in err
    first = records(out)
    assert len(first) == 2
    with open(out, "a") as handle:  # a record torn by a crash: cut off and its document redone
        handle.write('{"file": "d-broken.png", "status": "o')

    calls.clear()
    monkeypatch.setattr(LocalClient, "verify_document", lambda self, document, *a, **k: (
        calls.append(str(document)), real(self, document, *a, **k))[1])
    code, _, err = run(capsys, "batch", folder, "--claims", claims, "--out", out, "--store", store)
    assert code == 1 and "2 of 5 document(s) already have a record" in err
    redone = {c.removeprefix(str(folder) + "/") for c in calls}
    assert redone.isdisjoint(first) and "d-broken.png" in redone
    assert set(records(out)) == {"a-signed.jpg", "sub/b-signed.pdf", "c-other.jpg", "d-broken.png", "e-missing.jpg"}

    calls.clear()
    code, _, err = run(capsys, "batch", folder, "--claims", claims, "--out", out, "--store", store, "--retry-errors")
    assert {c.removeprefix(str(folder) + "/") for c in calls} == {"d-broken.png"}  # the missing one is not sent
    assert len(records(out)) == 5


def test_batch_csv_against_a_server(batch_folder, tmp_path, capsys, demo_server, monkeypatch):
    folder, claims, _ = batch_folder
    address, token = demo_server
    monkeypatch.setenv("STAMPAUTH_TOKEN", token)
    signer = f"jansen-{uuid.uuid4().hex[:6]}"
    claims.write_text(claims.read_text().replace("jansen", signer))
    run(capsys, "enroll", signer, "--signature", *SIGNATURES, "--server", address)
    out = tmp_path / "results.csv"
    code, _, err = run(capsys, "batch", folder, "--claims", claims, "--out", out, "--server", address, "--only-claimed")
    assert code == 1, err
    rows = list(csv.DictReader(out.open()))
    by_file = {r["file"]: r for r in rows}
    assert by_file["a-signed.jpg"]["outcome"] == "SATISFIED" and by_file["a-signed.jpg"]["verdict"] == "GENUINE"
    assert float(by_file["a-signed.jpg"]["similarity"]) >= float(by_file["a-signed.jpg"]["threshold"])
    assert by_file["c-other.jpg"]["outcome"] == "FORGED" and by_file["d-broken.png"]["status"] == "error"
    code, _, err = run(capsys, "batch", folder, "--claims", claims, "--out", out, "--server", address, "--only-claimed")
    assert code == 0 and "5 of 5 document(s) already have a record" in err
    assert len(list(csv.DictReader(out.open()))) == len(rows)
    assert run(capsys, "identities", "delete", signer, "--server", address)[0] == 0


def test_batch_refuses_a_bad_claims_file(batch_folder, tmp_path, capsys):
    folder, claims, store = batch_folder
    claims.write_text("document,who\nx.jpg,jansen\n")
    code, _, err = run(capsys, "batch", folder, "--claims", claims, "--out", tmp_path / "r.jsonl", "--store", store)
    assert code == 2 and "file,identity_id" in err
    claims.write_text("file,identity_id,page\nx.jpg,jansen,first\n")
    code, _, err = run(capsys, "batch", folder, "--claims", claims, "--out", tmp_path / "r.jsonl", "--store", store)
    assert code == 2 and "line 2" in err
