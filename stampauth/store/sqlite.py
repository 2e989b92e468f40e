"""SQLite reference store: the embedded default.

WAL journal (readers never wait for the writer), foreign keys on, and every write inside one
``BEGIN IMMEDIATE`` transaction, so an enrollment is stored whole or not at all.  One
connection guarded by a lock: SQLite serialises writers anyway, and reads here are short.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from stampauth.errors import AlreadyExists, FailedPrecondition, NotFound, ResourceExhausted, Unavailable
from stampauth.store.base import (
    DEFAULT_TENANT,
    KINDS,
    IdentityRecord,
    NewSpecimen,
    ReferenceStore,
    ResultPage,
    SpecimenRecord,
    StoredEmbedding,
    clamp_page_size,
    decode_page_token,
    decode_seq_token,
    encode_page_token,
)

SCHEMA_VERSION = 3  # 2: identities belong to a tenant; 3: a change log (store_changes)
SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
    tenant        TEXT NOT NULL,
    identity_id   TEXT NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    metadata      TEXT NOT NULL DEFAULT '{}',
    create_time   REAL NOT NULL,
    update_time   REAL NOT NULL,
    PRIMARY KEY (tenant, identity_id)
);
CREATE TABLE IF NOT EXISTS specimens (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    specimen_id    TEXT NOT NULL UNIQUE,
    tenant         TEXT NOT NULL,
    identity_id    TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('signature', 'stamp')),
    content        BLOB NOT NULL,
    content_sha256 TEXT NOT NULL,
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    embedding      BLOB NOT NULL,
    model_version  TEXT NOT NULL,
    create_time    REAL NOT NULL,
    note           TEXT NOT NULL DEFAULT '',
    UNIQUE (tenant, identity_id, kind, content_sha256),
    FOREIGN KEY (tenant, identity_id) REFERENCES identities (tenant, identity_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS specimens_by_identity ON specimens (tenant, identity_id, kind, seq);
CREATE INDEX IF NOT EXISTS specimens_by_version ON specimens (kind, model_version);
CREATE TABLE IF NOT EXISTS store_changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    identity_id  TEXT NOT NULL,
    kind         TEXT,
    op           TEXT NOT NULL CHECK (op IN ('enroll', 'delete_identity', 'delete_specimen', 'reembed')),
    at           REAL NOT NULL
);
"""
# Version 1 had no tenants: its rows move to the default tenant, in one transaction.
MIGRATE_1_TO_2 = """
ALTER TABLE identities RENAME TO identities_v1;
ALTER TABLE specimens RENAME TO specimens_v1;
DROP INDEX IF EXISTS specimens_by_identity;
DROP INDEX IF EXISTS specimens_by_version;
""" + SCHEMA + """
INSERT INTO identities (tenant, identity_id, display_name, metadata, create_time, update_time)
    SELECT '{tenant}', identity_id, display_name, metadata, create_time, update_time FROM identities_v1;
INSERT INTO specimens (seq, specimen_id, tenant, identity_id, kind, content, content_sha256, width, height, embedding,
                       model_version, create_time, note)
    SELECT seq, specimen_id, '{tenant}', identity_id, kind, content, content_sha256, width, height, embedding,
           model_version, create_time, note FROM specimens_v1;
DROP TABLE specimens_v1;
DROP TABLE identities_v1;
UPDATE schema_version SET version = 3;
"""
log = logging.getLogger(__name__)
_SPECIMEN_COLUMNS = "specimen_id, identity_id, kind, content_sha256, width, height, model_version, create_time, note"


@contextmanager
def _storage_errors(path: str):
    """SQLite's operational failures as errors a caller can act on: a full disk is RESOURCE_EXHAUSTED, a locked or
    unreachable database UNAVAILABLE (retry). Nothing was written: every write is one transaction."""
    try:
        yield
    except sqlite3.OperationalError as error:
        text = str(error).lower()
        if "full" in text:
            raise ResourceExhausted("the reference store is full (no disk space left for it); nothing was stored. "
                                    "Free space on the server, then retry") from None
        if any(word in text for word in ("locked", "busy", "unable to open", "disk i/o", "readonly")):
            log.warning("reference store %s unavailable: %s", path, error)
            raise Unavailable("the reference store is unavailable right now (busy, locked or unreachable); nothing "
                              "was stored. Retry in a few seconds") from None
        raise


def _specimen(row) -> SpecimenRecord:
    return SpecimenRecord(*row)


class SQLiteStore(ReferenceStore):
    backend = "sqlite"

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._migrate()

    # -- plumbing -----------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = self._db.execute("SELECT version FROM schema_version").fetchone() if "schema_version" in tables else None
            if version is not None and version[0] > SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"the store {self.path} has schema version {version[0]}, newer than this stampauth "
                    f"understands ({SCHEMA_VERSION}); upgrade stampauth"
                )
            if version is not None and version[0] == 1:
                self._db.execute("PRAGMA foreign_keys=OFF")  # the tables are rebuilt; keys are checked after
                try:
                    self._db.executescript("BEGIN IMMEDIATE;" + MIGRATE_1_TO_2.replace("{tenant}", DEFAULT_TENANT) + "COMMIT;")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                finally:
                    self._db.execute("PRAGMA foreign_keys=ON")
                log.info("migrated the store %s to schema version 2 (tenants); existing identities are in tenant %r",
                         self.path, DEFAULT_TENANT)
            self._db.executescript(SCHEMA)  # idempotent; executescript commits on its own
        with self._transaction() as db:
            if db.execute("SELECT version FROM schema_version").fetchone() is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            else:  # 2 -> 3 only adds the change log, which SCHEMA above created
                db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    @contextmanager
    def _transaction(self):
        with self._lock, _storage_errors(self.path):
            if self._db is None:
                raise FailedPrecondition("the reference store is closed")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # also when COMMIT itself failed (a full disk)
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _reading(self):
        with self._lock, _storage_errors(self.path):
            if self._db is None:
                raise FailedPrecondition("the reference store is closed")
            yield self._db

    def _identities(self, db, tenant: str, identity_ids: list[str]) -> list[IdentityRecord]:
        """Records with specimen counts for ``identity_ids`` of ``tenant`` (in that order; missing ids are skipped)."""
        if not identity_ids:
            return []
        marks = ",".join("?" * len(identity_ids))
        rows = {row[0]: row for row in db.execute(
            "SELECT identity_id, display_name, metadata, create_time, update_time FROM identities "
            f"WHERE tenant = ? AND identity_id IN ({marks})", (tenant, *identity_ids),
        )}
        counts = {identity_id: dict.fromkeys(KINDS, 0) for identity_id in rows}
        for identity_id, kind, count in db.execute(
            f"SELECT identity_id, kind, COUNT(*) FROM specimens WHERE tenant = ? AND identity_id IN ({marks}) "
            "GROUP BY identity_id, kind", (tenant, *identity_ids),
        ):
            counts[identity_id][kind] = count
        return [IdentityRecord(row[0], row[1], json.loads(row[2]), row[3], row[4], counts[row[0]])
                for row in (rows[i] for i in identity_ids if i in rows)]

    def _identity(self, db, tenant: str, identity_id: str) -> IdentityRecord:
        found = self._identities(db, tenant, [identity_id])
        if not found:
            raise NotFound(f"identity {identity_id!r} does not exist; create it first (CreateIdentity)", field="identity_id")
        return found[0]

    def _insert_specimen(self, db, tenant: str, identity_id: str, specimen: NewSpecimen, now: float) -> SpecimenRecord:
        specimen_id = uuid.uuid4().hex
        try:
            db.execute(
                "INSERT INTO specimens (specimen_id, tenant, identity_id, kind, content, content_sha256, width, height,"
                " embedding, model_version, create_time, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (specimen_id, tenant, identity_id, specimen.kind, specimen.content, specimen.content_sha256,
                 specimen.width, specimen.height, np.asarray(specimen.embedding, np.float32).tobytes(),
                 specimen.model_version, now, specimen.note),
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(
                f"identity {identity_id!r} already has this {specimen.kind} image "
                f"(sha256 {specimen.content_sha256[:12]}...); it is not enrolled twice"
            ) from None
        return SpecimenRecord(specimen_id, identity_id, specimen.kind, specimen.content_sha256, specimen.width,
                              specimen.height, specimen.model_version, now, specimen.note)

    def _insert_all(self, db, tenant: str, identity_id: str, specimens: list[NewSpecimen], now: float) -> list[SpecimenRecord]:
        records = []
        for index, specimen in enumerate(specimens):
            try:
                records.append(self._insert_specimen(db, tenant, identity_id, specimen, now))
            except AlreadyExists as error:
                raise error.with_field(f"specimens[{index}]")
        return records

    def _specimen_row(self, db, tenant: str, specimen_id: str, columns: str):
        row = db.execute(f"SELECT {columns} FROM specimens WHERE specimen_id = ? AND tenant = ?",
                         (specimen_id, tenant)).fetchone()
        if row is None:
            raise NotFound(f"specimen {specimen_id!r} does not exist", field="specimen_id")
        return row

    # -- identities ---------------------------------------------------------------------
    def create_identity(self, identity_id, display_name, metadata, specimens, *, tenant=DEFAULT_TENANT):
        now = time.time()
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO identities (tenant, identity_id, display_name, metadata, create_time, update_time)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (tenant, identity_id, display_name, json.dumps(metadata, sort_keys=True), now, now),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(
                    f"identity {identity_id!r} already exists; add specimens with EnrollSpecimens or pick another id",
                    field="identity.identity_id",
                ) from None
            records = self._insert_all(db, tenant, identity_id, specimens, now)
            self._log_change(db, tenant, identity_id, specimens, "enroll", now)
            return self._identity(db, tenant, identity_id), records

    def get_identity(self, identity_id, *, tenant=DEFAULT_TENANT):
        with self._reading() as db:
            return self._identity(db, tenant, identity_id)

    def list_identities(self, page_size, page_token, *, tenant=DEFAULT_TENANT):
        size = clamp_page_size(page_size)
        after = decode_page_token(page_token)
        with self._reading() as db:
            ids = [row[0] for row in db.execute(
                "SELECT identity_id FROM identities WHERE tenant = ? AND identity_id > ? ORDER BY identity_id LIMIT ?",
                (tenant, after or "", size + 1),
            )]
            items = self._identities(db, tenant, ids[:size])
        token = encode_page_token(ids[size - 1]) if len(ids) > size else ""
        return ResultPage(items, token)

    def delete_identity(self, identity_id, *, tenant=DEFAULT_TENANT):
        with self._transaction() as db:
            self._identity(db, tenant, identity_id)
            count = db.execute("SELECT COUNT(*) FROM specimens WHERE tenant = ? AND identity_id = ?",
                               (tenant, identity_id)).fetchone()[0]
            db.execute("DELETE FROM identities WHERE tenant = ? AND identity_id = ?", (tenant, identity_id))
            self._log_change(db, tenant, identity_id, None, "delete_identity", time.time())
            return int(count)

    # -- specimens ----------------------------------------------------------------------
    def add_specimens(self, identity_id, specimens, *, tenant=DEFAULT_TENANT):
        now = time.time()
        with self._transaction() as db:
            self._identity(db, tenant, identity_id)
            records = self._insert_all(db, tenant, identity_id, specimens, now)
            db.execute("UPDATE identities SET update_time = ? WHERE tenant = ? AND identity_id = ?",
                       (now, tenant, identity_id))
            self._log_change(db, tenant, identity_id, specimens, "enroll", now)
            return self._identity(db, tenant, identity_id), records

    def get_specimen(self, specimen_id, *, tenant=DEFAULT_TENANT):
        with self._reading() as db:
            return _specimen(self._specimen_row(db, tenant, specimen_id, _SPECIMEN_COLUMNS))

    def list_specimens(self, identity_id, kind, page_size, page_token, *, tenant=DEFAULT_TENANT):
        size = clamp_page_size(page_size)
        after = decode_seq_token(page_token)  # checked before the identity, as the identities' token
        with self._reading() as db:
            self._identity(db, tenant, identity_id)
            query = f"SELECT seq, {_SPECIMEN_COLUMNS} FROM specimens WHERE tenant = ? AND identity_id = ? AND seq > ?"
            params: list = [tenant, identity_id, after]
            if kind:
                query += " AND kind = ?"
                params.append(kind)
            rows = db.execute(query + " ORDER BY seq LIMIT ?", (*params, size + 1)).fetchall()
        items = [_specimen(row[1:]) for row in rows[:size]]
        token = encode_page_token(str(rows[size - 1][0])) if len(rows) > size else ""
        return ResultPage(items, token)

    def delete_specimen(self, specimen_id, *, tenant=DEFAULT_TENANT):
        with self._transaction() as db:
            identity_id, kind = self._specimen_row(db, tenant, specimen_id, "identity_id, kind")
            db.execute("DELETE FROM specimens WHERE specimen_id = ?", (specimen_id,))
            now = time.time()
            db.execute("UPDATE identities SET update_time = ? WHERE tenant = ? AND identity_id = ?",
                       (now, tenant, identity_id))
            self._log_change(db, tenant, identity_id, [kind], "delete_specimen", now)
            return self._identity(db, tenant, identity_id)

    def reference_embeddings(self, identity_id, kind, *, tenant=DEFAULT_TENANT):
        with self._reading() as db:
            self._identity(db, tenant, identity_id)
            rows = db.execute(
                "SELECT specimen_id, model_version, embedding FROM specimens WHERE tenant = ? AND identity_id = ? "
                "AND kind = ? ORDER BY seq", (tenant, identity_id, kind),
            ).fetchall()
        return [StoredEmbedding(sid, version, np.frombuffer(blob, np.float32).copy()) for sid, version, blob in rows]

    def gallery(self, kind, *, tenant=DEFAULT_TENANT, identity_ids=None):
        with self._reading() as db:
            query = "SELECT identity_id, specimen_id, model_version, embedding FROM specimens WHERE tenant = ? AND kind = ?"
            params: list = [tenant, kind]
            if identity_ids is not None:
                ids = list(identity_ids)
                query += f" AND identity_id IN ({','.join('?' * len(ids))})" if ids else " AND 0"
                params += ids
            rows = db.execute(query + " ORDER BY seq", params).fetchall()
        return [(identity, StoredEmbedding(sid, version, np.frombuffer(blob, np.float32).copy()))
                for identity, sid, version, blob in rows]

    # -- maintenance: by specimen id, across tenants (ids are unique; callers never get them from a request) --
    def specimen_content(self, specimen_id):
        with self._reading() as db:
            row = db.execute("SELECT content FROM specimens WHERE specimen_id = ?", (specimen_id,)).fetchone()
        if row is None:
            raise NotFound(f"specimen {specimen_id!r} does not exist", field="specimen_id")
        return bytes(row[0])

    def stale_specimens(self, kind, model_version):
        with self._reading() as db:
            rows = db.execute(
                "SELECT specimen_id FROM specimens WHERE kind = ? AND model_version != ? ORDER BY seq", (kind, model_version)
            ).fetchall()
        return [row[0] for row in rows]

    def update_embedding(self, specimen_id, embedding, model_version):
        with self._transaction() as db:
            db.execute(
                "UPDATE specimens SET embedding = ?, model_version = ? WHERE specimen_id = ?",
                (np.asarray(embedding, np.float32).tobytes(), model_version, specimen_id),
            )
            row = db.execute("SELECT tenant, identity_id, kind FROM specimens WHERE specimen_id = ?",
                             (specimen_id,)).fetchone()
            if row is not None:
                self._log_change(db, row[0], row[1], [row[2]], "reembed", time.time())

    # -- the change log: what replicas and in-memory indexes sync from --------------------
    @staticmethod
    def _log_change(db, tenant: str, identity_id: str, kinds, op: str, now: float) -> None:
        """One row per write, in its transaction. ``kinds``: the specimens (or kinds) it touched; the row's kind is
        None when several kinds or all of them changed."""
        names = {getattr(k, "kind", k) for k in kinds} if kinds is not None else set()
        db.execute("INSERT INTO store_changes (tenant, identity_id, kind, op, at) VALUES (?, ?, ?, ?, ?)",
                   (tenant, identity_id, names.pop() if len(names) == 1 else None, op, now))

    def changes_since(self, seq: int, limit: int = 1000) -> list[dict]:
        with self._reading() as db:
            rows = db.execute("SELECT seq, tenant, identity_id, kind, op, at FROM store_changes WHERE seq > ? "
                              "ORDER BY seq LIMIT ?", (int(seq), int(limit))).fetchall()
        return [dict(zip(("seq", "tenant", "identity_id", "kind", "op", "at"), row)) for row in rows]

    def latest_change(self) -> int:
        with self._reading() as db:
            return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM store_changes").fetchone()[0])

    def close(self):
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
