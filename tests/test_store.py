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
