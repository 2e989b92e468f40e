"""Reference stores, chosen by URL: ``sqlite:///path/to/file.db`` (default), ``sqlite://:memory:``, or
``postgresql://user@host:port/dbname`` (also ``postgres://``; see :mod:`stampauth.store.postgres` for its
parameters)."""

from __future__ import annotations

import os
from pathlib import Path

from stampauth.errors import InvalidInput
from stampauth.store.base import ReferenceStore


def default_store_url() -> str:
    """SQLite under the data directory: ``$STAMPAUTH_DATA_DIR`` or ``./data``."""
    data_dir = Path(os.environ.get("STAMPAUTH_DATA_DIR", "data")).resolve()
    return f"sqlite:///{data_dir / 'references.db'}"


def open_store(url: str | None = None) -> ReferenceStore:
    url = url or default_store_url()
    if url.startswith("sqlite://"):
        from stampauth.store.sqlite import SQLiteStore

        path = url[len("sqlite://"):]
        if path in ("", "/:memory:", ":memory:"):
            return SQLiteStore(":memory:")
        # sqlite:///abs/file.db (and SQLAlchemy's sqlite:////abs/file.db) -> /abs/file.db;
        # sqlite://relative/file.db -> relative to the working directory
        return SQLiteStore("/" + path.lstrip("/") if path.startswith("/") else path)
    if url.startswith(("postgresql://", "postgres://")):
        from stampauth.store.postgres import PostgresStore  # psycopg is imported only when it is used

        return PostgresStore(url)
    raise InvalidInput(f"unknown store URL {url!r}: use sqlite:///path/to/file.db or postgresql://user@host/dbname")
