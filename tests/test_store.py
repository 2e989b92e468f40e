"""The reference store contract, run against every backend: SQLite (the embedded default) always, PostgreSQL
wherever a server is reachable (see ``postgres_url`` in conftest.py; CI requires one). Then what only one backend has:
SQLite's migration from before tenants; PostgreSQL's concurrent migrations, change log and fault mapping."""

import hashlib
import threading
import time

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import numpy as np
import pytest

from stampauth.errors import AlreadyExists, FailedPrecondition, InvalidInput, NotFound, ResourceExhausted, Unavailable
from stampauth.store import open_store
from stampauth.store.base import NewSpecimen
from stampauth.store.sqlite import SQLiteStore


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode(dict(parse_qsl(parts.query)) | params, quote_via=quote)))


def specimen(seed: int, kind="signature", version="m1") -> NewSpecimen:
    content = f"image-{seed}".encode()
    embedding = np.random.default_rng(seed).normal(size=8).astype(np.float32)
    return NewSpecimen(kind, content, hashlib.sha256(content).hexdigest(), 10, 20, embedding / np.linalg.norm(embedding), version)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The URL of an empty store of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'refs.db'}"
    return request.getfixturevalue("postgres_store_url")


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
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
    original = type(store)._insert_specimen
    calls = {"n": 0}

    def failing(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return original(self, *args)

    monkeypatch.setattr(type(store), "_insert_specimen", failing)
    with pytest.raises(OSError):
        store.create_identity("carol", "", {}, [specimen(1), specimen(2), specimen(3)])
    monkeypatch.setattr(type(store), "_insert_specimen", original)
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


def test_survives_reopen(store_url):
    with_store = open_store(store_url)
    with_store.create_identity("hal", "Hal", {}, [specimen(1)])
    with_store.close()
    reopened = open_store(store_url)
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
    with pytest.raises(InvalidInput, match="sqlite:///.*postgresql://"):
        open_store("mysql://x")


def test_an_unreachable_postgres_server_answers_unavailable():
    started = time.monotonic()
    with pytest.raises(Unavailable, match="Retry") as caught:
        open_store("postgresql://postgres:secret@127.0.0.1:1/test?connect_timeout=1&pool_timeout=1")
    assert "secret" not in caught.value.message
    assert time.monotonic() - started < 10
    with pytest.raises(InvalidInput, match="pool"):
        open_store("postgresql://postgres@127.0.0.1:1/test?pool_max_size=0")


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
        assert db.execute("SELECT version FROM schema_version").fetchone() == (3,)
        assert not db.execute("SELECT name FROM sqlite_master WHERE name LIKE '%_v1'").fetchall()


# -- PostgreSQL only -----------------------------------------------------------------------------------------------


def _admin(postgres_url):
    import psycopg

    return psycopg.connect(postgres_url, autocommit=True)


def test_postgres_urls_and_a_schema_chosen_by_libpq_options(postgres_url, postgres_schema):
    from psycopg import sql

    with _admin(postgres_url) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(postgres_schema)))
        for scheme in ("postgresql://", "postgres://"):
            url = with_query(postgres_url, options=f"-csearch_path={postgres_schema}").replace("postgresql://", scheme, 1)
            store = open_store(url)
            try:
                assert store.backend == "postgresql"
                store.create_identity(f"via-{scheme[:-3]}", "", {}, [specimen(1)])
            finally:
                store.close()
        tables = {row[0] for row in admin.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (postgres_schema,))}
        assert {"schema_version", "identities", "specimens", "store_changes"} <= tables
        assert admin.execute(sql.SQL("SELECT count(*) FROM {}.identities").format(
            sql.Identifier(postgres_schema))).fetchone()[0] == 2
    with pytest.raises(FailedPrecondition, match="schema"):  # a search_path naming no existing schema
        open_store(with_query(postgres_url, options="-csearch_path=stampauth_no_such_schema"))


def test_postgres_migrations_run_once_when_replicas_start_together(postgres_store_url, postgres_schema, postgres_url):
    from psycopg import sql

    from stampauth.store.postgres import PostgresStore

    barrier, stores, errors = threading.Barrier(6), [], []

    def start():
        barrier.wait()
        try:
            stores.append(PostgresStore(postgres_store_url, min_size=0, max_size=2))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors and len(stores) == 6
        stores[0].create_identity("ivy", "", {}, [specimen(1)])
        assert all(s.get_identity("ivy").specimen_counts["signature"] == 1 for s in stores)
    finally:
        for s in stores:
            s.close()
    with _admin(postgres_url) as admin:
        versions = admin.execute(sql.SQL("SELECT version FROM {}.schema_version").format(
            sql.Identifier(postgres_schema))).fetchall()
    assert versions == [(2,)]


def test_postgres_refuses_a_newer_schema_and_checks_without_migrating(postgres_store_url, postgres_schema, postgres_url):
    from psycopg import sql

    from stampauth.store.postgres import PostgresStore

    with pytest.raises(FailedPrecondition, match="no schema to use"):  # check only: nothing is created
        PostgresStore(postgres_store_url, migrate=False)
    with _admin(postgres_url) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(postgres_schema)))
    with pytest.raises(FailedPrecondition, match="migrations"):  # an empty schema is refused
        PostgresStore(postgres_store_url, migrate=False)
    open_store(postgres_store_url).close()
    PostgresStore(postgres_store_url, migrate=False).close()  # up to date: accepted
    with _admin(postgres_url) as admin:
        admin.execute(sql.SQL("INSERT INTO {}.schema_version VALUES (3, 0)").format(sql.Identifier(postgres_schema)))
    with pytest.raises(FailedPrecondition, match="newer than this stampauth understands"):
        open_store(postgres_store_url)


def test_postgres_change_log_has_one_row_per_mutation_and_none_for_a_failed_one(postgres_store_url, postgres_url):
    import psycopg

    store = open_store(postgres_store_url)
    listener = psycopg.connect(postgres_url, autocommit=True)
    try:
        listener.execute("LISTEN stampauth_changes")
        assert store.latest_change() == 0 and store.changes_since(0, 10) == []
        store.create_identity("jo", "", {}, [specimen(1), specimen(2, "stamp")])
        _, (added,) = store.add_specimens("jo", [specimen(3)])
        store.scoped("bank").create_identity("jo", "", {}, [specimen(1, "stamp")])
        store.update_embedding(added.specimen_id, np.ones(8, np.float32), "m2")
        store.delete_specimen(added.specimen_id)
        store.delete_identity("jo")
        latest = store.latest_change()
        for failing in (lambda: store.create_identity("bank-jo", "", {}, [specimen(4), specimen(4)]),  # duplicate
                        lambda: store.scoped("bank").create_identity("jo", "", {}, []),
                        lambda: store.add_specimens("jo", [specimen(5)]), lambda: store.delete_identity("jo"),
                        lambda: store.delete_specimen(added.specimen_id)):
            with pytest.raises((AlreadyExists, NotFound)):
                failing()
        store.update_embedding("no-such-specimen", np.ones(8, np.float32), "m2")  # nothing changed: nothing logged
        assert store.latest_change() == latest
        changes = store.changes_since(0, 100)
        assert [(c["tenant"], c["identity_id"], c["kind"], c["op"]) for c in changes] == [
            ("default", "jo", None, "enroll"),  # two kinds: the whole identity
            ("default", "jo", "signature", "enroll"),
            ("bank", "jo", "stamp", "enroll"),
            ("default", "jo", "signature", "reembed"),
            ("default", "jo", "signature", "delete_specimen"),
            ("default", "jo", None, "delete_identity"),
        ]
        assert [c["seq"] for c in changes] == sorted(c["seq"] for c in changes) and changes[-1]["seq"] == latest
        assert all(isinstance(c["at"], float) for c in changes)
        assert store.changes_since(changes[1]["seq"], 2) == changes[2:4]
        notified = [int(n.payload) for n in listener.notifies(timeout=5, stop_after=len(changes))]
        assert notified == [c["seq"] for c in changes]
        with pytest.raises(InvalidInput):
            store.changes_since(0, 0)
    finally:
        listener.close()
        store.close()


def test_postgres_concurrent_writes_to_one_identity(postgres_store_url):
    store = open_store(postgres_store_url)
    try:
        store.create_identity("kim", "", {}, [])
        outcomes, lock = [], threading.Lock()

        def add(seed):
            try:
                store.add_specimens("kim", [specimen(seed)])
                result = "ok"
            except AlreadyExists:
                result = "duplicate"
            with lock:
                outcomes.append((seed, result))

        # 12 distinct images, and image 0 sent by four threads at once: exactly one of those is stored
        threads = [threading.Thread(target=add, args=(seed,)) for seed in [*range(12), 0, 0, 0]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r for _, r in outcomes).count("duplicate") == 3
        assert store.get_identity("kim").specimen_counts["signature"] == 12
        assert len(store.list_specimens("kim", None, 100, "").items) == 12
        enrolls = [c for c in store.changes_since(0, 100) if c["op"] == "enroll"]
        assert len(enrolls) == 1 + 12
    finally:
        store.close()


def test_postgres_a_locked_table_answers_unavailable_and_recovers(postgres_store_url, postgres_url, postgres_schema):
    from psycopg import sql

    store = open_store(with_query(postgres_store_url, options="-c lock_timeout=300"))
    try:
        with _admin(postgres_url) as other:
            with other.transaction():
                other.execute(sql.SQL("LOCK TABLE {}.identities IN ACCESS EXCLUSIVE MODE").format(
                    sql.Identifier(postgres_schema)))
                with pytest.raises(Unavailable, match="Retry"):
                    store.create_identity("x", "", {}, [specimen(1)])
        store.create_identity("x", "", {}, [specimen(1)])
        assert store.get_identity("x").specimen_counts["signature"] == 1
    finally:
        store.close()


def test_postgres_a_connection_killed_mid_enrollment_stores_nothing_and_recovers(postgres_store_url, postgres_url,
                                                                                 postgres_schema, monkeypatch):
    from stampauth.store.postgres import PostgresStore

    store = open_store(with_query(postgres_store_url, application_name=postgres_schema))  # to find its connections
    original, calls = PostgresStore._insert_specimen, {"n": 0}

    def killed_after_first(self, cur, *args):
        calls["n"] += 1
        if calls["n"] == 2:  # the server ends this connection (admin shutdown) in the middle of the transaction
            with _admin(postgres_url) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (cur.connection.info.backend_pid,))
        return original(self, cur, *args)

    try:
        monkeypatch.setattr(PostgresStore, "_insert_specimen", killed_after_first)
        with pytest.raises(Unavailable, match="Retry"):
            store.create_identity("lee", "", {}, [specimen(1), specimen(2), specimen(3)])
        monkeypatch.setattr(PostgresStore, "_insert_specimen", original)
        with pytest.raises(NotFound):
            store.get_identity("lee")
        # every pooled connection is ended too: the pool notices and reconnects
        with _admin(postgres_url) as admin:
            ended = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE application_name = %s", (postgres_schema,)).fetchone()[0]
        assert ended >= 1
        store.create_identity("lee", "", {}, [specimen(1), specimen(2), specimen(3)])
        assert store.get_identity("lee").specimen_counts["signature"] == 3
        assert [c["op"] for c in store.changes_since(0, 10)] == ["enroll"]
    finally:
        store.close()


def test_postgres_no_free_connection_in_time_answers_unavailable(postgres_store_url):
    store = open_store(with_query(postgres_store_url, pool_max_size="1", pool_timeout="0.5"))
    try:
        with store._pool.connection():  # another request holds the only connection
            with pytest.raises(Unavailable, match="Retry"):
                store.get_identity("anyone")
        with pytest.raises(NotFound):  # and once it is back, calls go through
            store.get_identity("anyone")
    finally:
        store.close()


@pytest.mark.parametrize("sqlstate, error", [("53100", ResourceExhausted), ("53200", ResourceExhausted),
                                              ("57P01", Unavailable), ("40P01", Unavailable)])
def test_postgres_server_errors_map_to_what_a_caller_can_act_on(postgres_store_url, postgres_url, postgres_schema,
                                                                sqlstate, error):
    """The server itself raises the error (a trigger with that SQLSTATE, e.g. 53100 disk_full) in the middle of an
    enrollment; nothing of it is stored, and the store works once the cause is gone."""
    from psycopg import sql

    store = open_store(postgres_store_url)
    schema = sql.Identifier(postgres_schema)
    try:
        store.create_identity("before", "", {}, [specimen(1)])
        with _admin(postgres_url) as admin:
            admin.execute(sql.SQL(
                "CREATE FUNCTION {schema}.fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF (SELECT count(*) FROM {schema}.specimens WHERE identity_id = NEW.identity_id) >= 2 THEN "
                "RAISE EXCEPTION 'simulated' USING ERRCODE = {code}; END IF; RETURN NEW; END $$; "
                "CREATE TRIGGER fail BEFORE INSERT ON {schema}.specimens FOR EACH ROW EXECUTE FUNCTION {schema}.fail()"
            ).format(schema=schema, code=sql.Literal(sqlstate)))
            with pytest.raises(error) as caught:
                store.create_identity("big", "", {}, [specimen(i) for i in range(2, 6)])
            if error is ResourceExhausted:
                assert "full" in caught.value.message
            with pytest.raises(NotFound):
                store.get_identity("big")  # nothing of it was stored
            assert store.get_identity("before").specimen_counts["signature"] == 1  # reads still work
            admin.execute(sql.SQL("DROP TRIGGER fail ON {}.specimens").format(schema))
        store.create_identity("big", "", {}, [specimen(i) for i in range(2, 6)])
        assert store.get_identity("big").specimen_counts["signature"] == 4
    finally:
        store.close()


def test_postgres_refuses_text_it_cannot_store(postgres_store_url):
    """PostgreSQL text cannot hold U+0000 (SQLite's can): such names are refused, such ids do not exist."""
    store = open_store(postgres_store_url)
    try:
        with pytest.raises(InvalidInput) as caught:
            store.create_identity("nul", "a\x00b", {}, [])
        assert caught.value.field == "identity.display_name"
        with pytest.raises(InvalidInput) as caught:
            store.create_identity("nul", "", {}, [specimen(1), NewSpecimen(**{**specimen(2).__dict__, "note": "\x00"})])
        assert caught.value.field == "specimens[1].note"
        store.create_identity("nul", "", {"k": "v\x00"}, [])  # metadata is JSON: the NUL is escaped
        assert store.get_identity("nul").metadata == {"k": "v\x00"}
        for call in (lambda: store.get_identity("a\x00"), lambda: store.get_specimen("a\x00"),
                     lambda: store.delete_identity("a\x00"), lambda: store.specimen_content("a\x00")):
            with pytest.raises(NotFound):
                call()
    finally:
        store.close()


def test_gallery_and_change_log_on_every_backend(store):
    start = store.latest_change()
    bank = store.scoped("bank")
    bank.create_identity("alice", "", {}, [specimen(1), specimen(2), specimen(3, "stamp")])
    bank.create_identity("bob", "", {}, [specimen(4)])
    store.scoped("notary").create_identity("carol", "", {}, [specimen(5)])
    gallery = bank.gallery("signature")
    assert sorted(identity for identity, _ in gallery) == ["alice", "alice", "bob"]
    assert all(e.embedding.shape == (8,) and e.model_version == "m1" for _, e in gallery)
    assert [identity for identity, _ in bank.gallery("signature", identity_ids=["bob"])] == ["bob"]
    assert bank.gallery("signature", identity_ids=[]) == []
    with pytest.raises(AlreadyExists):  # a failed write logs nothing
        bank.add_specimens("bob", [specimen(4)])
    bank.delete_identity("bob")
    changes = store.changes_since(start)
    assert [(c["tenant"], c["identity_id"], c["op"]) for c in changes] == [
        ("bank", "alice", "enroll"), ("bank", "bob", "enroll"), ("notary", "carol", "enroll"),
        ("bank", "bob", "delete_identity")]
    assert changes[0]["kind"] is None and changes[1]["kind"] == "signature"  # None: several kinds changed
    assert store.latest_change() == changes[-1]["seq"] and store.changes_since(changes[-1]["seq"]) == []
    assert [c["seq"] for c in store.changes_since(start, limit=2)] == [changes[0]["seq"], changes[1]["seq"]]
