"""The reference store contract (SQLite, the embedded default)."""

import hashlib
import threading

import numpy as np
import pytest

from stampauth.errors import AlreadyExists, FailedPrecondition, InvalidInput, NotFound
from stampauth.store import open_store
from stampauth.store.base import NewSpecimen
from stampauth.store.sqlite import SQLiteStore


def specimen(seed: int, kind="signature", version="m1") -> NewSpecimen:
    content = f"image-{seed}".encode()
    embedding = np.random.default_rng(seed).normal(size=8).astype(np.float32)
    return NewSpecimen(kind, content, hashlib.sha256(content).hexdigest(), 10, 20, embedding / np.linalg.norm(embedding), version)


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "refs.db")
    yield s
    s.close()


def test_create_get_and_counts(store):
    identity, records = store.create_identity("alice", "Alice A.", {"dept": "loans"}, [specimen(1), specimen(2, "stamp")])
    assert identity.specimen_counts == {"signature": 1, "stamp": 1}
    assert [r.kind for r in records] == ["signature", "stamp"]
    fetched = store.get_identity("alice")
    assert fetched.display_name == "Alice A." and fetched.metadata == {"dept": "loans"}
    assert store.get_specimen(records[0].specimen_id).content_sha256 == records[0].content_sha256
    assert store.specimen_content(records[0].specimen_id) == b"image-1"


def test_duplicate_identity_and_specimen(store):
    store.create_identity("bob", "", {}, [specimen(1)])
    with pytest.raises(AlreadyExists) as caught:
        store.create_identity("bob", "", {}, [])
    assert caught.value.field == "identity.identity_id"
    with pytest.raises(AlreadyExists) as caught:
        store.add_specimens("bob", [specimen(3), specimen(1)])
    assert caught.value.field == "specimens[1]"
    assert store.get_identity("bob").specimen_counts["signature"] == 1  # specimen 3 rolled back too
    store.add_specimens("bob", [specimen(1, "stamp")])  # same image as another kind is fine


def test_failure_in_the_middle_of_an_enrollment_leaves_nothing(store, monkeypatch):
    original = SQLiteStore._insert_specimen
    calls = {"n": 0}

    def failing(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return original(self, *args)

    monkeypatch.setattr(SQLiteStore, "_insert_specimen", failing)
    with pytest.raises(OSError):
        store.create_identity("carol", "", {}, [specimen(1), specimen(2), specimen(3)])
    monkeypatch.setattr(SQLiteStore, "_insert_specimen", original)
    with pytest.raises(NotFound):
        store.get_identity("carol")
    assert store.list_identities(10, "").items == []
    store.create_identity("carol", "", {}, [specimen(1)])  # and the store still works
    assert store.get_identity("carol").specimen_counts["signature"] == 1


def test_pagination_visits_everything_once(store):
    for i in range(7):
        store.create_identity(f"id{i:02d}", "", {}, [])
    seen, token, pages = [], "", 0
    while True:
        page = store.list_identities(3, token)
        seen += [i.identity_id for i in page.items]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"id{i:02d}" for i in range(7)] and pages == 3
    with pytest.raises(InvalidInput) as caught:
        store.list_identities(3, "not-a-token")
    assert caught.value.field == "page_token"
    with pytest.raises(InvalidInput):
        store.list_identities(-1, "")


def test_specimen_pagination_and_kind_filter(store):
    store.create_identity("dan", "", {}, [specimen(i) for i in range(5)] + [specimen(9, "stamp")])
    first = store.list_specimens("dan", "signature", 2, "")
    second = store.list_specimens("dan", "signature", 2, first.next_page_token)
    third = store.list_specimens("dan", "signature", 2, second.next_page_token)
    assert [len(p.items) for p in (first, second, third)] == [2, 2, 1] and third.next_page_token == ""
    assert len(store.list_specimens("dan", None, 50, "").items) == 6
    with pytest.raises(NotFound):
        store.list_specimens("nobody", None, 10, "")


def test_delete_identity_cascades(store):
    _, records = store.create_identity("erin", "", {}, [specimen(1), specimen(2)])
    assert store.delete_identity("erin") == 2
    with pytest.raises(NotFound):
        store.get_specimen(records[0].specimen_id)
    with pytest.raises(NotFound):
        store.delete_identity("erin")


def test_delete_specimen(store):
    _, records = store.create_identity("fay", "", {}, [specimen(1), specimen(2)])
    identity = store.delete_specimen(records[0].specimen_id)
    assert identity.specimen_counts["signature"] == 1
    with pytest.raises(NotFound):
        store.delete_specimen(records[0].specimen_id)


def test_embeddings_and_model_version_refresh(store):
    store.create_identity("gus", "", {}, [specimen(1, version="old"), specimen(2, version="new")])
    stored = store.reference_embeddings("gus", "signature")
    assert [s.model_version for s in stored] == ["old", "new"] and stored[0].embedding.shape == (8,)
    stale = store.stale_specimens("signature", "new")
    assert len(stale) == 1
    store.update_embedding(stale[0], np.ones(8, np.float32), "new")
    assert store.stale_specimens("signature", "new") == []
    assert store.reference_embeddings("gus", "signature")[0].embedding.tolist() == [1.0] * 8


def test_survives_reopen(tmp_path):
    path = tmp_path / "refs.db"
    with_store = SQLiteStore(path)
    with_store.create_identity("hal", "Hal", {}, [specimen(1)])
    with_store.close()
    reopened = open_store(f"sqlite:///{path}")
    assert reopened.get_identity("hal").display_name == "Hal"
    reopened.close()
    with pytest.raises(FailedPrecondition, match="closed"):
        reopened.get_identity("hal")


def test_concurrent_enrollments(store):
    errors = []

    def enroll(i):
        try:
            store.create_identity(f"t{i}", "", {}, [specimen(100 + i)])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=enroll, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(store.list_identities(100, "").items) == 16


def test_store_urls(tmp_path):
    assert open_store("sqlite://:memory:").backend == "sqlite"
    with pytest.raises(InvalidInput, match="sqlite:///"):
        open_store("mysql://x")
    with pytest.raises(FailedPrecondition, match="PostgreSQL"):
        open_store("postgresql://localhost/test")


def test_each_tenant_sees_only_its_own_identities_and_specimens(store):
    bank, notary = store.scoped("bank"), store.scoped("notary")
    _, (bank_specimen,) = bank.create_identity("alice", "Alice at the bank", {}, [specimen(1)])
    notary.create_identity("alice", "Alice at the notary", {}, [specimen(1), specimen(2)])  # same id, same image: allowed
    notary.create_identity("zoe", "", {}, [])
    assert bank.get_identity("alice").display_name == "Alice at the bank"
    assert notary.get_identity("alice").specimen_counts["signature"] == 2
    assert [i.identity_id for i in bank.list_identities(10, "").items] == ["alice"]
    assert [i.identity_id for i in notary.list_identities(10, "").items] == ["alice", "zoe"]
    # another tenant's identity or specimen is indistinguishable from one that does not exist
    for call in (lambda: bank.get_identity("zoe"), lambda: bank.delete_identity("zoe"),
                 lambda: bank.add_specimens("zoe", [specimen(3)]), lambda: bank.reference_embeddings("zoe", "signature"),
                 lambda: bank.list_specimens("zoe", None, 10, ""), lambda: notary.get_specimen(bank_specimen.specimen_id),
                 lambda: notary.delete_specimen(bank_specimen.specimen_id)):
        with pytest.raises(NotFound) as caught:
            call()
        assert "notary" not in caught.value.message and "bank" not in caught.value.message
    assert bank.get_specimen(bank_specimen.specimen_id).identity_id == "alice"  # not deleted by the notary
    assert notary.delete_identity("alice") == 2
    assert bank.get_identity("alice").specimen_counts["signature"] == 1
    assert store.list_identities(10, "").items == []  # the default tenant has none of them
    bank.close()  # a view closes nothing
    assert bank.get_identity("alice")


# The schema before tenants (version 1), as stores made by earlier versions have it.
SCHEMA_V1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE identities (identity_id TEXT PRIMARY KEY, display_name TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}', create_time REAL NOT NULL, update_time REAL NOT NULL);
CREATE TABLE specimens (seq INTEGER PRIMARY KEY AUTOINCREMENT, specimen_id TEXT NOT NULL UNIQUE,
    identity_id TEXT NOT NULL REFERENCES identities(identity_id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('signature', 'stamp')), content BLOB NOT NULL, content_sha256 TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, embedding BLOB NOT NULL, model_version TEXT NOT NULL,
    create_time REAL NOT NULL, note TEXT NOT NULL DEFAULT '', UNIQUE (identity_id, kind, content_sha256));
CREATE INDEX specimens_by_identity ON specimens (identity_id, kind, seq);
CREATE INDEX specimens_by_version ON specimens (kind, model_version);
INSERT INTO identities VALUES ('alice', 'Alice', '{"dept": "loans"}', 1.0, 2.0);
INSERT INTO specimens (specimen_id, identity_id, kind, content, content_sha256, width, height, embedding,
    model_version, create_time, note) VALUES ('0123456789abcdef0123456789abcdef', 'alice', 'stamp', x'00ff', 'abc',
    10, 20, x'0000803f', 'm1', 1.5, 'first');
"""


def test_a_store_from_before_tenants_is_migrated_into_the_default_tenant(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_V1)
    store = SQLiteStore(path)
    try:
        alice = store.get_identity("alice")
        assert alice.metadata == {"dept": "loans"} and alice.specimen_counts == {"signature": 0, "stamp": 1}
        assert store.get_specimen("0123456789abcdef0123456789abcdef").note == "first"
        assert store.specimen_content("0123456789abcdef0123456789abcdef") == b"\x00\xff"
        assert store.scoped("other").list_identities(10, "").items == []
        store.add_specimens("alice", [specimen(5)])  # the new schema works on the migrated rows
        assert store.delete_identity("alice") == 2
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchone() == (2,)
        assert not db.execute("SELECT name FROM sqlite_master WHERE name LIKE '%_v1'").fetchall()
