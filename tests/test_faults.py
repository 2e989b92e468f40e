"""Faults: a server killed with SIGKILL in the middle of enrollments leaves every enrollment whole or absent; a full
or unavailable store answers RESOURCE_EXHAUSTED or UNAVAILABLE and recovers by itself when it comes back."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import grpc
import pytest
from helpers import encode, synthetic_signature

from stampauth.errors import ResourceExhausted, Unavailable
from stampauth.store.sqlite import SQLiteStore
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

SIG = pb.MARK_KIND_SIGNATURE
SPECIMENS_PER_IDENTITY = 4


def _start_server(store_url: str, env: dict) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "stampauth.cli", "serve", "--port", "0", "--host", "127.0.0.1", "--insecure",
         "--no-auth", "--store", store_url], stderr=subprocess.PIPE, text=True, env=env)
    deadline, seen = time.time() + 90, []
    while time.time() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        match = re.search(r"SERVING on port (\d+)", line)
        if match:
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep the pipe drained
            return process, int(match.group(1))
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError("server did not start:\n" + "".join(seen))


def test_sigkill_in_the_middle_of_enrollments_leaves_each_whole_or_absent(tmp_path):
    store_url = f"sqlite:///{tmp_path / 'refs.db'}"
    process, port = _start_server(store_url, {**os.environ, "STAMPAUTH_DATA_DIR": str(tmp_path)})
    images = [encode(synthetic_signature(w, v)) for w in range(3) for v in range(SPECIMENS_PER_IDENTITY)]
    stop = threading.Event()
    acknowledged: list[str] = []

    def enroll(worker: int):
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.StampAuthServiceStub(channel)
            n = 0
            while not stop.is_set():
                identity = f"w{worker}-{n}"
                n += 1
                specimens = [pb.SpecimenInput(kind=SIG, image=pb.ImageData(content=images[(worker + i) % len(images)]))
                             for i in range(SPECIMENS_PER_IDENTITY)]
                try:
                    stub.CreateIdentity(pb.CreateIdentityRequest(identity=pb.Identity(identity_id=identity),
                                                                 specimens=specimens), timeout=20)
                    acknowledged.append(identity)
                except grpc.RpcError:
                    return  # the server is gone

    workers = [threading.Thread(target=enroll, args=(w,)) for w in range(3)]
    for worker in workers:
        worker.start()
    deadline = time.time() + 60
    while len(acknowledged) < 6 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.13)  # land the kill at an arbitrary point of the next enrollments
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    stop.set()
    for worker in workers:
        worker.join(30)
    assert len(acknowledged) >= 6

    with sqlite3.connect(tmp_path / "refs.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = SQLiteStore(tmp_path / "refs.db")  # what a restarted server opens
    try:
        counts = {}
        page = store.list_identities(1000, "")
        for identity in page.items:
            counts[identity.identity_id] = identity.specimen_counts["signature"]
        assert set(acknowledged) <= set(counts), "an acknowledged enrollment was lost"
        assert all(count == SPECIMENS_PER_IDENTITY for count in counts.values()), counts  # whole, never partial
    finally:
        store.close()


def _specimen(seed):
    import hashlib

    import numpy as np

    from stampauth.store.base import NewSpecimen

    content = os.urandom(4096) + bytes([seed % 256])
    return NewSpecimen("signature", content, hashlib.sha256(content).hexdigest(), 10, 10, np.ones(8, np.float32), "m")


def test_a_full_store_refuses_with_resource_exhausted_and_recovers_when_space_returns(tmp_path):
    store = SQLiteStore(tmp_path / "refs.db")
    try:
        store.create_identity("before", "", {}, [_specimen(1)])
        with sqlite3.connect(tmp_path / "refs.db") as db:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages + 1}")  # the disk is (nearly) full
        with pytest.raises(ResourceExhausted, match="full"):
            store.create_identity("big", "", {}, [_specimen(i) for i in range(2, 12)])
        with pytest.raises(Exception):
            store.get_identity("big")  # nothing of it was stored
        assert store.get_identity("before").specimen_counts["signature"] == 1  # reads still work
        store._db.execute("PRAGMA max_page_count = 1073741823")  # space is back
        store.create_identity("big", "", {}, [_specimen(i) for i in range(2, 12)])
        assert store.get_identity("big").specimen_counts["signature"] == 10
    finally:
        store.close()


def test_a_locked_store_answers_unavailable_and_recovers_when_released(tmp_path):
    store = SQLiteStore(tmp_path / "refs.db", busy_timeout_ms=200)
    other = sqlite3.connect(tmp_path / "refs.db", isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process holds the database
        with pytest.raises(Unavailable, match="Retry"):
            store.create_identity("x", "", {}, [_specimen(1)])
        other.execute("ROLLBACK")
        store.create_identity("x", "", {}, [_specimen(1)])
        assert store.get_identity("x").specimen_counts["signature"] == 1
    finally:
        other.close()
        store.close()
