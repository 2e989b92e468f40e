import os
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))  # helpers.py

POSTGRES_URL = os.environ.get("STAMPAUTH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def with_query(url: str, **params: str) -> str:
    """``url`` with query parameters added (or replaced)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) | params
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def missing(reason: str, required_by: str) -> None:
    """Skip the test for want of a tool or service, unless ``$required_by`` is 1 (CI sets it): then fail."""
    if os.environ.get(required_by) == "1":
        pytest.fail(f"{reason}; {required_by}=1 requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL server (``$STAMPAUTH_TEST_POSTGRES``, default the local one). Tests that need it are
    skipped where there is none, unless ``STAMPAUTH_REQUIRE_POSTGRES=1`` (CI): then they fail."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as error:
        missing(f"no PostgreSQL server at {POSTGRES_URL} ({type(error).__name__}: {error})", "STAMPAUTH_REQUIRE_POSTGRES")
    return POSTGRES_URL


@pytest.fixture
def postgres_schema(postgres_url):
    """A fresh schema name, dropped (with everything in it) after the test; the test or store creates it."""
    import psycopg
    from psycopg import sql

    schema = f"stampauth_test_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def postgres_store_url(postgres_url, postgres_schema) -> str:
    """A PostgreSQL store URL isolated in a schema of its own (created by the store, dropped afterwards)."""
    return with_query(postgres_url, schema=postgres_schema)


SAMPLES = Path(__file__).resolve().parent.parent / "clients" / "samples"
DEMO_TOKEN = "sa_client-example-token-for-tests-only"


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory):
    """A real server on a free loopback port with the shipped models (signature, stamp, detector), an empty
    SQLite store and bearer-token authentication (``DEMO_TOKEN``, tenant ``demo``, roles verify + admin): what
    the client examples in ``clients/`` call. Yields ``(address, token)``."""
    from stampauth.server.app import build_server
    from stampauth.server.auth import Authenticator
    from stampauth.service import StampAuth
    from stampauth.settings import TokenEntry, hash_token

    store = tmp_path_factory.mktemp("demo-store") / "refs.db"
    core = StampAuth.open(f"sqlite:///{store}")
    tokens = [TokenEntry(name="client-examples", sha256=hash_token(DEMO_TOKEN), tenant="demo",
                         roles=["verify", "admin"])]
    running = build_server(core, port=0, host="127.0.0.1", authenticator=Authenticator(tokens))
    yield f"127.0.0.1:{running.port}", DEMO_TOKEN
    running.stop(grace=1)
    core.close()


@pytest.fixture(scope="session")
def demo_stub(demo_server):
    """Generated stubs on a channel to :func:`demo_server` (send ``demo_auth`` as metadata)."""
    import grpc

    from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

    with grpc.insecure_channel(demo_server[0]) as channel:
        yield pb_grpc.StampAuthServiceStub(channel)


@pytest.fixture(scope="session")
def demo_auth(demo_server):
    """The metadata that authenticates a call to :func:`demo_server`."""
    return [("authorization", f"Bearer {demo_server[1]}")]

