"""PostgreSQL reference store: for several server replicas sharing one database.

psycopg 3 with a connection pool; every write is one transaction (an enrollment is stored whole or not at all),
with the same semantics, messages and error classes as :mod:`stampauth.store.sqlite`.  The schema is created or
migrated when the store opens, inside a transaction holding an advisory lock, so replicas starting together do not
race; a database with a newer schema than this code knows is refused (FAILED_PRECONDITION).

Each write also appends one row to ``store_changes`` in the same transaction and signals
``NOTIFY stampauth_changes, '<seq>'`` on commit, so replicas can keep in-memory state in sync
(:meth:`PostgresStore.changes_since`, :meth:`PostgresStore.latest_change`).  Change rows are numbered in commit
order: a reader that has seen change ``n`` has seen every change committed before it.

URL: ``postgresql://user:password@host:port/dbname?...`` (``postgres://`` too) with any libpq parameter
(``connect_timeout``, ``sslmode``, ``options=-csearch_path%3Dmyschema``...) plus these, which the store takes out:
``schema`` (search_path of every pooled connection; the schema is created if missing), ``pool_min_size``,
``pool_max_size`` and ``pool_timeout`` (seconds a call waits for a free connection before UNAVAILABLE).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np
import psycopg
import psycopg.errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from stampauth.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidInput,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
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

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # numbered as the SQLite store's: 2 = identities belong to a tenant (+ the change log)
MIGRATION_LOCK_KEY = int.from_bytes(b"STAMPMIG", "big")  # pg_advisory_xact_lock key while migrating
CHANGES_LOCK_KEY = int.from_bytes(b"STAMPCHG", "big")  # held from writing a change row to commit: commit order
CHANGES_CHANNEL = "stampauth_changes"  # NOTIFY channel; the payload is the change's seq
CHANGE_OPS = ("enroll", "delete_identity", "delete_specimen", "reembed")

# Identifiers compare and sort byte-wise (COLLATE "C"), as SQLite's TEXT does: pages come in the same order.
_SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS identities (
    tenant        text COLLATE "C" NOT NULL,
    identity_id   text COLLATE "C" NOT NULL,
    display_name  text NOT NULL DEFAULT '',
    metadata      text NOT NULL DEFAULT '{}',
    create_time   double precision NOT NULL,
    update_time   double precision NOT NULL,
    PRIMARY KEY (tenant, identity_id)
);
CREATE TABLE IF NOT EXISTS specimens (
    seq            bigserial PRIMARY KEY,
    specimen_id    text COLLATE "C" NOT NULL UNIQUE,
    tenant         text COLLATE "C" NOT NULL,
    identity_id    text COLLATE "C" NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('signature', 'stamp')),
    content        bytea NOT NULL,
    content_sha256 text NOT NULL,
    width          integer NOT NULL,
    height         integer NOT NULL,
    embedding      bytea NOT NULL,
    model_version  text NOT NULL,
    create_time    double precision NOT NULL,
    note           text NOT NULL DEFAULT '',
    UNIQUE (tenant, identity_id, kind, content_sha256),
    FOREIGN KEY (tenant, identity_id) REFERENCES identities (tenant, identity_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS specimens_by_identity ON specimens (tenant, identity_id, kind, seq);
CREATE INDEX IF NOT EXISTS specimens_by_version ON specimens (kind, model_version);
CREATE TABLE IF NOT EXISTS store_changes (
    seq          bigserial PRIMARY KEY,
    tenant       text COLLATE "C" NOT NULL,
    identity_id  text COLLATE "C" NOT NULL,
    kind         text,
    op           text NOT NULL CHECK (op IN ('enroll', 'delete_identity', 'delete_specimen', 'reembed')),
    at           double precision NOT NULL
);
"""
# target version -> DDL that brings the previous version there (PostgreSQL stores start at version 2)
MIGRATIONS: dict[int, str] = {2: _SCHEMA_2}

_SPECIMEN_COLUMNS = "specimen_id, identity_id, kind, content_sha256, width, height, model_version, create_time, note"
_STORE_PARAMETERS = ("schema", "pool_min_size", "pool_max_size", "pool_timeout")


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """``(libpq URL, store parameters)``: the store's own query parameters taken out of ``url``; the others are left
    exactly as written (libpq decodes them itself: ``%XX`` only, ``+`` is not a space)."""
    parts = urlsplit(url)
    own, rest = {}, []
    for item in parts.query.split("&") if parts.query else []:
        key = unquote(item.partition("=")[0])
        if key in _STORE_PARAMETERS:
            own[key] = unquote(item.partition("=")[2])
        else:
            rest.append(item)
    return urlunsplit(parts._replace(query="&".join(rest))), own


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc[-1]}"))


def _has_nul(*values: str) -> bool:
    """PostgreSQL text cannot hold U+0000: such an id cannot exist, such a name cannot be stored."""
    return any("\x00" in value for value in values)


@contextmanager
def _storage_errors(where: str):
    """PostgreSQL failures as errors a caller can act on: a full disk or out of memory is RESOURCE_EXHAUSTED; an
    unreachable, restarting, overloaded or locked database UNAVAILABLE (retry). Nothing was written: every write is
    one transaction, rolled back on any error."""
    try:
        yield
    except PoolClosed:
        raise FailedPrecondition("the reference store is closed") from None
    except (pg_errors.DiskFull, pg_errors.OutOfMemory, pg_errors.ConfigurationLimitExceeded) as error:
        log.warning("reference store %s out of resources: %s", where, error)
        raise ResourceExhausted("the reference store is full (no disk space or memory left for it); nothing was "
                                "stored. Free space on the server, then retry") from None
    except pg_errors.UniqueViolation as error:  # a race the statements below do not resolve themselves
        log.warning("reference store %s: unexpected unique violation: %s", where, error)
        raise AlreadyExists("this record already exists; nothing was stored") from None
    except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError, pg_errors.ReadOnlySqlTransaction) as error:
        # connection refused or lost, admin/crash shutdown, too many connections, lock or statement timeout,
        # deadlock or serialization failure (class 40), no free pooled connection in time, a read-only server
        # (a standby during failover)
        log.warning("reference store %s unavailable: %s", where, error)
        raise Unavailable("the reference store is unavailable right now (busy, locked or unreachable); nothing "
                          "was stored. Retry in a few seconds") from None


def _specimen(row) -> SpecimenRecord:
    return SpecimenRecord(*row)


def _embedding_bytes(embedding: np.ndarray) -> bytes:
    return np.asarray(embedding, "<f4").tobytes()  # float32 little-endian, as the SQLite store keeps them


class PostgresStore(ReferenceStore):
    backend = "postgresql"

    def __init__(self, url: str, *, min_size: int | None = None, max_size: int | None = None,
                 timeout: float | None = None, migrate: bool = True):
        """Open a pool on ``url`` and apply (``migrate``) or only check the schema version.

        ``min_size``/``max_size``/``timeout`` default to the URL's ``pool_*`` parameters, else 1, 8 and 10 seconds.
        With ``migrate=False`` a database whose schema is missing or older is refused (FAILED_PRECONDITION).
        """
        conninfo, own = parse_url(url)
        self.url = redact(url)
        try:
            self.schema = own.get("schema") or None
            min_size = int(own.get("pool_min_size", 1)) if min_size is None else min_size
            max_size = int(own.get("pool_max_size", 8)) if max_size is None else max_size
            timeout = float(own.get("pool_timeout", 10)) if timeout is None else timeout
            params = conninfo_to_dict(conninfo)
        except (ValueError, psycopg.ProgrammingError) as error:
            raise InvalidInput(f"the store URL {self.url!r} is not valid: {error}") from None
        if not 0 <= min_size <= max_size or max_size < 1 or timeout <= 0:
            raise InvalidInput(f"the store URL {self.url!r} asks for an impossible pool "
                               f"(min {min_size}, max {max_size}, timeout {timeout}s)")
        kwargs = {"autocommit": True}  # transactions are explicit: conn.transaction()
        if "connect_timeout" not in params:
            kwargs["connect_timeout"] = max(1, int(timeout))
        if "application_name" not in params:
            kwargs["application_name"] = "stampauth"
        self._closed = False
        self._close_lock = threading.Lock()
        self._pool = ConnectionPool(
            conninfo, kwargs=kwargs, min_size=min_size, max_size=max_size, timeout=timeout, open=True,
            configure=self._configure, check=ConnectionPool.check_connection, name="stampauth-store",
        )
        try:
            self._migrate(apply=migrate)
        except BaseException:
            self._pool.close()
            raise

    # -- plumbing -----------------------------------------------------------------------
    def _configure(self, conn: psycopg.Connection) -> None:
        conn.autocommit = True
        if self.schema:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))

    def _migrate(self, apply: bool) -> None:
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            if self.schema and apply:
                cur.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (self.schema,))
                if cur.fetchone()[0]:  # (CREATE SCHEMA IF NOT EXISTS needs the CREATE right even when it exists)
                    cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            cur.execute("SELECT current_schema()")
            if cur.fetchone()[0] is None:
                raise FailedPrecondition(f"the store {self.url} has no schema to use: its search_path names none "
                                         "that exists; create the schema or fix the URL")
            cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            version = 0
            if cur.fetchone()[0]:
                cur.execute("SELECT max(version) FROM schema_version")
                version = cur.fetchone()[0] or 0
            if version > SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"the store {self.url} has schema version {version}, newer than this stampauth "
                    f"understands ({SCHEMA_VERSION}); upgrade stampauth"
                )
            if version == SCHEMA_VERSION:
                return
            if not apply:
                raise FailedPrecondition(
                    f"the store {self.url} has schema version {version or 'none'}, this stampauth needs "
                    f"{SCHEMA_VERSION}; start it once with migrations enabled"
                )
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version "
                        "(version integer PRIMARY KEY, applied_at double precision NOT NULL)")
            for target in sorted(v for v in MIGRATIONS if version < v <= SCHEMA_VERSION):
                cur.execute(MIGRATIONS[target])
                cur.execute("INSERT INTO schema_version (version, applied_at) VALUES (%s, %s)", (target, time.time()))
                log.info("migrated the store %s to schema version %d", self.url, target)

    @contextmanager
    def _connection(self):
        if self._closed:
            raise FailedPrecondition("the reference store is closed")
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _transaction(self, isolation: psycopg.IsolationLevel | None = None, read_only: bool | None = None):
        """One transaction (by default READ COMMITTED, read-write; writes lock the rows their decisions depend on)."""
        with _storage_errors(self.url), self._connection() as conn:
            conn.isolation_level, conn.read_only = isolation, read_only  # used by the BEGIN of conn.transaction()
            with conn.transaction(), conn.cursor() as cur:
                yield cur

    def _reading(self):
        """A read-only snapshot: the statements of one read see one state of the store."""
        return self._transaction(psycopg.IsolationLevel.REPEATABLE_READ, True)

    def _log_change(self, cur, tenant: str, identity_id: str, kind: str | None, op: str, now: float) -> int:
        """The change row of this transaction's mutation, and its NOTIFY (sent on commit). Taking the lock just before
        numbering it, and holding it to commit, makes the numbers follow commit order."""
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (CHANGES_LOCK_KEY,))
        cur.execute(
            "WITH change AS (INSERT INTO store_changes (tenant, identity_id, kind, op, at) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING seq) SELECT seq, pg_notify(%s, seq::text) FROM change",
            (tenant, identity_id, kind, op, now, CHANGES_CHANNEL),
        )
        return cur.fetchone()[0]

    def _identities(self, cur, tenant: str, identity_ids: list[str]) -> list[IdentityRecord]:
        """Records with specimen counts for ``identity_ids`` of ``tenant`` (in that order; missing ids are skipped)."""
        if not identity_ids:
            return []
        cur.execute(
            "SELECT identity_id, display_name, metadata, create_time, update_time FROM identities "
            "WHERE tenant = %s AND identity_id = ANY(%s)", (tenant, identity_ids),
        )
        rows = {row[0]: row for row in cur.fetchall()}
        counts = {identity_id: dict.fromkeys(KINDS, 0) for identity_id in rows}
        cur.execute(
            "SELECT identity_id, kind, COUNT(*) FROM specimens WHERE tenant = %s AND identity_id = ANY(%s) "
            "GROUP BY identity_id, kind", (tenant, identity_ids),
        )
        for identity_id, kind, count in cur.fetchall():
            counts[identity_id][kind] = int(count)
        return [IdentityRecord(row[0], row[1], json.loads(row[2]), row[3], row[4], counts[row[0]])
                for row in (rows[i] for i in identity_ids if i in rows)]

    @staticmethod
    def _missing_identity(identity_id: str) -> NotFound:
        return NotFound(f"identity {identity_id!r} does not exist; create it first (CreateIdentity)", field="identity_id")

    def _identity(self, cur, tenant: str, identity_id: str) -> IdentityRecord:
        found = self._identities(cur, tenant, [identity_id]) if not _has_nul(tenant, identity_id) else []
        if not found:
            raise self._missing_identity(identity_id)
        return found[0]

    def _lock_identity(self, cur, tenant: str, identity_id: str) -> None:
        """NotFound, or the identity's row locked to commit: concurrent writes to one identity take turns."""
        if not _has_nul(tenant, identity_id):
            cur.execute("SELECT 1 FROM identities WHERE tenant = %s AND identity_id = %s FOR UPDATE",
                        (tenant, identity_id))
            if cur.fetchone() is not None:
                return
        raise self._missing_identity(identity_id)

    def _insert_specimen(self, cur, tenant: str, identity_id: str, specimen: NewSpecimen, now: float) -> SpecimenRecord:
        specimen_id = uuid.uuid4().hex
        cur.execute(
            "INSERT INTO specimens (specimen_id, tenant, identity_id, kind, content, content_sha256, width, height,"
            " embedding, model_version, create_time, note) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant, identity_id, kind, content_sha256) DO NOTHING",
            (specimen_id, tenant, identity_id, specimen.kind, bytes(specimen.content), specimen.content_sha256,
             specimen.width, specimen.height, _embedding_bytes(specimen.embedding), specimen.model_version, now,
             specimen.note),
        )
        if cur.rowcount == 0:
            raise AlreadyExists(
                f"identity {identity_id!r} already has this {specimen.kind} image "
                f"(sha256 {specimen.content_sha256[:12]}...); it is not enrolled twice"
            )
        return SpecimenRecord(specimen_id, identity_id, specimen.kind, specimen.content_sha256, specimen.width,
                              specimen.height, specimen.model_version, now, specimen.note)

    def _insert_all(self, cur, tenant: str, identity_id: str, specimens: list[NewSpecimen], now: float) -> list[SpecimenRecord]:
        for index, specimen in enumerate(specimens):
            if _has_nul(specimen.note, specimen.kind, specimen.content_sha256, specimen.model_version):
                raise InvalidInput("text must not contain NUL characters (U+0000)", field=f"specimens[{index}].note")
        records = []
        for index, specimen in enumerate(specimens):
            try:
                records.append(self._insert_specimen(cur, tenant, identity_id, specimen, now))
            except AlreadyExists as error:
                raise error.with_field(f"specimens[{index}]")
        return records

    def _log_enrollment(self, cur, tenant: str, identity_id: str, specimens: list[NewSpecimen], now: float) -> None:
        kinds = {s.kind for s in specimens}
        self._log_change(cur, tenant, identity_id, kinds.pop() if len(kinds) == 1 else None, "enroll", now)

    def _specimen_row(self, cur, tenant: str, specimen_id: str, columns: str):
        row = None
        if not _has_nul(tenant, specimen_id):
            cur.execute(f"SELECT {columns} FROM specimens WHERE specimen_id = %s AND tenant = %s", (specimen_id, tenant))
            row = cur.fetchone()
        if row is None:
            raise NotFound(f"specimen {specimen_id!r} does not exist", field="specimen_id")
        return row

    # -- identities ---------------------------------------------------------------------
    def create_identity(self, identity_id, display_name, metadata, specimens, *, tenant=DEFAULT_TENANT):
        for value, field in ((identity_id, "identity.identity_id"), (display_name, "identity.display_name"),
                             (tenant, "tenant")):
            if _has_nul(value):
                raise InvalidInput("text must not contain NUL characters (U+0000)", field=field)
        now = time.time()
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO identities (tenant, identity_id, display_name, metadata, create_time, update_time)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, identity_id) DO NOTHING",
                (tenant, identity_id, display_name, json.dumps(metadata, sort_keys=True), now, now),
            )
            if cur.rowcount == 0:
                raise AlreadyExists(
                    f"identity {identity_id!r} already exists; add specimens with EnrollSpecimens or pick another id",
                    field="identity.identity_id",
                )
            records = self._insert_all(cur, tenant, identity_id, specimens, now)
            identity = self._identity(cur, tenant, identity_id)
            self._log_enrollment(cur, tenant, identity_id, specimens, now)
            return identity, records

    def get_identity(self, identity_id, *, tenant=DEFAULT_TENANT):
        with self._reading() as cur:
            return self._identity(cur, tenant, identity_id)

    def list_identities(self, page_size, page_token, *, tenant=DEFAULT_TENANT):
        size = clamp_page_size(page_size)
        after = decode_page_token(page_token)
        if _has_nul(tenant, after or ""):
            return ResultPage([], "")
        with self._reading() as cur:
            cur.execute(
                "SELECT identity_id FROM identities WHERE tenant = %s AND identity_id > %s ORDER BY identity_id LIMIT %s",
                (tenant, after or "", size + 1),
            )
            ids = [row[0] for row in cur.fetchall()]
            items = self._identities(cur, tenant, ids[:size])
        token = encode_page_token(ids[size - 1]) if len(ids) > size else ""
        return ResultPage(items, token)

    def delete_identity(self, identity_id, *, tenant=DEFAULT_TENANT):
        with self._transaction() as cur:
            self._lock_identity(cur, tenant, identity_id)
            cur.execute("SELECT COUNT(*) FROM specimens WHERE tenant = %s AND identity_id = %s", (tenant, identity_id))
            count = cur.fetchone()[0]
            cur.execute("DELETE FROM identities WHERE tenant = %s AND identity_id = %s", (tenant, identity_id))
            self._log_change(cur, tenant, identity_id, None, "delete_identity", time.time())
            return int(count)

    # -- specimens ----------------------------------------------------------------------
    def add_specimens(self, identity_id, specimens, *, tenant=DEFAULT_TENANT):
        now = time.time()
        with self._transaction() as cur:
            self._lock_identity(cur, tenant, identity_id)
            records = self._insert_all(cur, tenant, identity_id, specimens, now)
            cur.execute("UPDATE identities SET update_time = %s WHERE tenant = %s AND identity_id = %s",
                        (now, tenant, identity_id))
            identity = self._identity(cur, tenant, identity_id)
            self._log_enrollment(cur, tenant, identity_id, specimens, now)
            return identity, records

    def get_specimen(self, specimen_id, *, tenant=DEFAULT_TENANT):
        with self._reading() as cur:
            return _specimen(self._specimen_row(cur, tenant, specimen_id, _SPECIMEN_COLUMNS))

    def list_specimens(self, identity_id, kind, page_size, page_token, *, tenant=DEFAULT_TENANT):
        size = clamp_page_size(page_size)
        after = decode_seq_token(page_token)  # checked before the identity, as the identities' token
        with self._reading() as cur:
            self._identity(cur, tenant, identity_id)
            query = f"SELECT seq, {_SPECIMEN_COLUMNS} FROM specimens WHERE tenant = %s AND identity_id = %s AND seq > %s"
            params: list = [tenant, identity_id, after]
            if kind:
                if _has_nul(kind):
                    return ResultPage([], "")
                query += " AND kind = %s"
                params.append(kind)
            cur.execute(query + " ORDER BY seq LIMIT %s", (*params, size + 1))
            rows = cur.fetchall()
        items = [_specimen(row[1:]) for row in rows[:size]]
        token = encode_page_token(str(rows[size - 1][0])) if len(rows) > size else ""
        return ResultPage(items, token)

    def delete_specimen(self, specimen_id, *, tenant=DEFAULT_TENANT):
        with self._transaction() as cur:
            (identity_id,) = self._specimen_row(cur, tenant, specimen_id, "identity_id")
            self._lock_identity(cur, tenant, identity_id)
            cur.execute("DELETE FROM specimens WHERE specimen_id = %s AND tenant = %s RETURNING kind",
                        (specimen_id, tenant))
            row = cur.fetchone()
            if row is None:  # deleted by another call between the look-up and the lock
                raise NotFound(f"specimen {specimen_id!r} does not exist", field="specimen_id")
            now = time.time()
            cur.execute("UPDATE identities SET update_time = %s WHERE tenant = %s AND identity_id = %s",
                        (now, tenant, identity_id))
            identity = self._identity(cur, tenant, identity_id)
            self._log_change(cur, tenant, identity_id, row[0], "delete_specimen", now)
            return identity

    def reference_embeddings(self, identity_id, kind, *, tenant=DEFAULT_TENANT):
        with self._reading() as cur:
            self._identity(cur, tenant, identity_id)
            if _has_nul(kind):
                return []
            cur.execute(
                "SELECT specimen_id, model_version, embedding FROM specimens WHERE tenant = %s AND identity_id = %s "
                "AND kind = %s ORDER BY seq", (tenant, identity_id, kind),
            )
            rows = cur.fetchall()
        return [StoredEmbedding(sid, version, np.frombuffer(blob, "<f4").astype(np.float32))
                for sid, version, blob in rows]

    def gallery(self, kind, *, tenant=DEFAULT_TENANT, identity_ids=None):
        with self._reading() as cur:
            query = ("SELECT identity_id, specimen_id, model_version, embedding FROM specimens "
                     "WHERE tenant = %s AND kind = %s")
            params: list = [tenant, kind]
            if identity_ids is not None:
                query += " AND identity_id = ANY(%s)"
                params.append(list(identity_ids))
            cur.execute(query + " ORDER BY seq", params)
            rows = cur.fetchall()
        return [(identity, StoredEmbedding(sid, version, np.frombuffer(blob, "<f4").astype(np.float32)))
                for identity, sid, version, blob in rows]

    # -- maintenance: by specimen id, across tenants (ids are unique; callers never get them from a request) --
    def specimen_content(self, specimen_id):
        row = None
        if not _has_nul(specimen_id):
            with self._reading() as cur:
                cur.execute("SELECT content FROM specimens WHERE specimen_id = %s", (specimen_id,))
                row = cur.fetchone()
        if row is None:
            raise NotFound(f"specimen {specimen_id!r} does not exist", field="specimen_id")
        return bytes(row[0])

    def stale_specimens(self, kind, model_version):
        if _has_nul(kind, model_version):
            raise InvalidInput("text must not contain NUL characters (U+0000)")
        with self._reading() as cur:
            cur.execute("SELECT specimen_id FROM specimens WHERE kind = %s AND model_version != %s ORDER BY seq",
                        (kind, model_version))
            return [row[0] for row in cur.fetchall()]

    def update_embedding(self, specimen_id, embedding, model_version):
        if _has_nul(model_version):
            raise InvalidInput("text must not contain NUL characters (U+0000)", field="model_version")
        if _has_nul(specimen_id):
            return  # no such specimen: nothing to update (as the SQLite store)
        now = time.time()
        with self._transaction() as cur:
            cur.execute(
                "UPDATE specimens SET embedding = %s, model_version = %s WHERE specimen_id = %s "
                "RETURNING tenant, identity_id, kind",
                (_embedding_bytes(embedding), model_version, specimen_id),
            )
            row = cur.fetchone()
            if row is not None:
                self._log_change(cur, row[0], row[1], row[2], "reembed", now)

    # -- change log (PostgreSQL only): for replicas keeping in-memory state in sync --------
    def changes_since(self, seq: int, limit: int = 1000) -> list[dict]:
        """Changes numbered above ``seq``, oldest first, at most ``limit``: dicts with ``seq``, ``tenant``,
        ``identity_id``, ``kind`` (None: every kind of the identity), ``op`` (one of :data:`CHANGE_OPS`) and ``at``
        (seconds since the epoch). Numbers follow commit order, so ``changes_since(last seen)`` misses nothing."""
        if limit <= 0:
            raise InvalidInput("limit must be positive", field="limit")
        with self._reading() as cur:
            cur.execute("SELECT seq, tenant, identity_id, kind, op, at FROM store_changes WHERE seq > %s "
                        "ORDER BY seq LIMIT %s", (int(seq), int(limit)))
            names = [column.name for column in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def latest_change(self) -> int:
        """The number of the newest change (0 when there is none): where a fresh replica starts following."""
        with self._reading() as cur:
            cur.execute("SELECT COALESCE(MAX(seq), 0) FROM store_changes")
            return int(cur.fetchone()[0])

    def close(self):
        with self._close_lock:
            if not self._closed:
                self._closed = True
                self._pool.close()
