"""Observability: Prometheus metrics scraped over HTTP from a real server, request ids in metadata and logs,
stage timing hooks, and log redaction."""

import io
import json
import logging
import threading
import urllib.request
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import encode, synthetic_signature
from prometheus_client.parser import text_string_to_metric_families

from stampauth import stages
from stampauth.modeling.card import load_encoder
from stampauth.server import app
from stampauth.server.observability import (
    REQUEST_ID_KEY, JsonFormatter, ObservabilityInterceptor, RedactingFilter, ServerMetrics, configure_logging,
    current_request_id, remove_log_handler, start_metrics_server, stop_metrics_server, valid_request_id,
)
from stampauth.service import StampAuth
from stampauth.stages import add_stage_observer, remove_stage_observer, stage
from stampauth.store import open_store
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

SIG = pb.MARK_KIND_SIGNATURE
NOT_AN_IMAGE = pb.ImageData(content=b"definitely not an image")  # INVALID_ARGUMENT from the core's decode


class _Server:
    def __init__(self, grpc_server, port, stop):
        self.server, self.port, self._stop = grpc_server, port, stop

    def stop(self):
        self._stop()


def start_server(core, metrics):
    running = app.build_server(core, port=0, host="127.0.0.1", interceptors=[ObservabilityInterceptor(metrics)])
    return _Server(running.server, running.port, lambda: running.stop(grace=1))


@pytest.fixture(scope="module")
def metrics():
    metrics = ServerMetrics()
    yield metrics
    metrics.close()


@pytest.fixture(scope="module")
def server(metrics, tmp_path_factory):
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('store') / 'refs.db'}")
    core = StampAuth(store, {"signature": load_encoder("signature")})
    running = start_server(core, metrics)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def metrics_url(metrics):
    httpd, port = start_metrics_server(0, metrics.registry, addr="127.0.0.1")
    assert port > 0
    yield f"http://127.0.0.1:{port}/metrics"
    stop_metrics_server(httpd)


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.StampAuthServiceStub(channel)


@pytest.fixture
def json_log():
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("json", "INFO", stream=stream)
    yield stream
    remove_log_handler(handler)
    root.setLevel(level)


def scrape(url) -> dict[tuple[str, tuple], float]:
    """name and sorted labels -> value, of every sample."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def png(writer):
    return pb.ImageData(content=encode(synthetic_signature(writer)))


def compare_request(query=None):
    return pb.CompareImagesRequest(kind=SIG, reference=png(1), query=query if query is not None else png(1))


def request_id_of(call) -> str | None:
    values = [value for key, value in call.initial_metadata() if key == REQUEST_ID_KEY]
    assert len(values) <= 1
    return values[0] if values else None


def test_metrics_count_calls_by_method_and_code(stub, metrics_url):
    before = scrape(metrics_url)
    ok = ("stampauth_requests_total", (("code", "OK"), ("method", "CompareImages")))
    bad = ("stampauth_requests_total", (("code", "INVALID_ARGUMENT"), ("method", "CompareImages")))
    info = ("stampauth_requests_total", (("code", "OK"), ("method", "GetServerInfo")))
    latency = ("stampauth_request_seconds_count", (("method", "CompareImages"),))
    stub.CompareImages(compare_request())
    with pytest.raises(grpc.RpcError) as caught:
        stub.CompareImages(compare_request(query=NOT_AN_IMAGE))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    stub.GetServerInfo(pb.GetServerInfoRequest())
    after = scrape(metrics_url)
    assert after[ok] - before.get(ok, 0) == 1
    assert after[bad] - before.get(bad, 0) == 1
    assert after[info] - before.get(info, 0) == 1
    assert after[latency] - before[latency] == 2
    assert after[("stampauth_request_seconds_sum", (("method", "CompareImages"),))] > 0
    # buckets from 5 ms to 60 s; every method is there before its first call
    assert ("stampauth_request_seconds_bucket", (("le", "0.005"), ("method", "CompareImages"))) in after
    assert ("stampauth_request_seconds_bucket", (("le", "60.0"), ("method", "CompareImages"))) in after
    assert ("stampauth_request_seconds_count", (("method", "VerifyDocument"),)) in after
    # the core's stages, timed inside the calls: decode, preprocess and embed of both crops, then the score; the
    # failed call decoded its reference and failed decoding its query (a stage is timed when it raises too)
    count = lambda name: after[("stampauth_stage_seconds_count", (("stage", name),))] - before.get(
        ("stampauth_stage_seconds_count", (("stage", name),)), 0)
    assert count("score") == 1 and count("embed") == 3 and count("decode") == 4
    assert after[("stampauth_calls_in_progress", ())] == 0
    assert ("stampauth_calls_queued", ()) in after


def test_health_calls_are_not_counted(server, metrics_url):
    before = scrape(metrics_url)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    after = scrape(metrics_url)
    counted = {k: v for k, v in after.items() if k[0] == "stampauth_requests_total"}
    assert counted == {k: v for k, v in before.items() if k[0] == "stampauth_requests_total"}
    assert not any("Health" in str(k) for k in counted)


def test_request_id_given_comes_back_and_is_logged(stub, json_log):
    _, call = stub.GetServerInfo.with_call(pb.GetServerInfoRequest(), metadata=((REQUEST_ID_KEY, "client-req-42"),))
    assert request_id_of(call) == "client-req-42"
    with pytest.raises(grpc.RpcError) as caught:
        stub.CompareImages(compare_request(query=NOT_AN_IMAGE), metadata=((REQUEST_ID_KEY, "client-req-43"),))
    assert request_id_of(caught.value) == "client-req-43", "an aborted call returns the id too"
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    mine = [line for line in lines if line.get("request_id") == "client-req-42"]
    assert mine and mine[-1]["logger"] == "stampauth.access" and mine[-1]["method"] == "GetServerInfo"
    assert mine[-1]["code"] == "OK" and mine[-1]["duration_ms"] >= 0 and mine[-1]["time"].endswith("Z")
    failed = [line for line in lines if line.get("request_id") == "client-req-43"]
    # the servicer's own log line (handle_errors) carries the id, as does the access line
    assert {line["logger"] for line in failed} >= {"stampauth.server", "stampauth.access"}
    assert all(line["method"] == "CompareImages" for line in failed)
    access = [line for line in failed if line["logger"] == "stampauth.access"][-1]
    assert access["code"] == "INVALID_ARGUMENT" and "decode" in access["stages_ms"]  # where it failed


def test_request_id_generated_when_missing_or_invalid(stub):
    _, call = stub.GetServerInfo.with_call(pb.GetServerInfoRequest())
    generated = request_id_of(call)
    assert generated and len(generated) == 32 and int(generated, 16) >= 0
    _, again = stub.GetServerInfo.with_call(pb.GetServerInfoRequest())
    assert request_id_of(again) != generated
    _, call = stub.GetServerInfo.with_call(pb.GetServerInfoRequest(), metadata=((REQUEST_ID_KEY, "x" * 129),))
    assert request_id_of(call) != "x" * 129 and len(request_id_of(call)) == 32


def test_request_id_validation():
    assert valid_request_id(" abc-123 ") == "abc-123"
    assert valid_request_id("a" * 128) == "a" * 128
    for bad in ("", "   ", "a" * 129, "line\nbreak", "tab\there", "caf\u00e9", b"bytes", None):
        assert valid_request_id(bad) is None


def test_model_info_from_server_info(metrics, server, metrics_url, tmp_path):
    core = StampAuth(open_store(f"sqlite:///{tmp_path / 'info.db'}"), {"signature": load_encoder("signature")})
    try:
        info = core.server_info()
    finally:
        core.close()
    metrics.set_server_info(info)
    after = scrape(metrics_url)
    (card,) = info.models
    assert after[("stampauth_model_info", (("kind", "signature"), ("version", card.version)))] == 1
    assert not any(k[0] == "stampauth_model_info" and ("kind", "detector") in k[1] for k in after)
    (server_info,) = [k for k in after if k[0] == "stampauth_server_info"]
    assert ("store_backend", "sqlite") in server_info[1]


def test_queue_depth():
    metrics = ServerMetrics(process_metrics=False)
    sample = metrics.registry.get_sample_value
    try:
        metrics.set_queue_depth(3, 5)
        assert sample("stampauth_calls_in_progress") == 3 and sample("stampauth_calls_queued") == 5
        metrics.watch_queue_depth(lambda: (1, 2))  # read at every scrape
        assert sample("stampauth_calls_in_progress") == 1 and sample("stampauth_calls_queued") == 2
    finally:
        metrics.close()


def test_separate_registries():
    first, second = ServerMetrics(process_metrics=False), ServerMetrics(process_metrics=False)
    try:
        with stage("decode"):
            pass
        for metrics in (first, second):  # outside a call, a stage goes to every open ServerMetrics
            assert metrics.registry.get_sample_value("stampauth_stage_seconds_count", {"stage": "decode"}) == 1
        first.requests.labels("GetServerInfo", "OK").inc()
        assert second.registry.get_sample_value("stampauth_requests_total",
                                                {"method": "GetServerInfo", "code": "OK"}) is None
    finally:
        first.close()
        second.close()
    with stage("decode"):
        pass
    assert first.registry.get_sample_value("stampauth_stage_seconds_count", {"stage": "decode"}) == 1, "closed"


def test_stage_observers(monkeypatch):
    monkeypatch.setattr(stages, "_observers", ())  # none of the other tests' servers
    seen = []

    def observer(name, seconds):
        seen.append((name, seconds, threading.current_thread().name))

    assert stage("embed") is stage("ocr"), "without observers, stage() is one shared no-op"
    add_stage_observer(observer)
    add_stage_observer(observer)  # once is enough
    try:
        with stage("embed"):
            pass
        with pytest.raises(KeyError):
            with stage("ocr"):
                raise KeyError("timed all the same")
        worker = threading.Thread(target=lambda: stage("detect").__enter__().__exit__(None, None, None), name="w")
        worker.start()
        worker.join()
    finally:
        remove_stage_observer(observer)
    with stage("decode"):
        pass
    assert [(name, thread) for name, _, thread in seen] == [
        ("embed", threading.current_thread().name), ("ocr", threading.current_thread().name), ("detect", "w")]
    assert all(seconds >= 0 for _, seconds, _ in seen)
    with pytest.raises(ValueError):
        stage("warp")


def test_a_failing_observer_does_not_break_the_stage(caplog):
    def broken(name, seconds):
        raise RuntimeError("observer bug")

    add_stage_observer(broken)
    try:
        with stage("score"):
            result = 42
    finally:
        remove_stage_observer(broken)
    assert result == 42 and "stage observer" in caplog.text


def record(msg, *args, **extra):
    item = logging.LogRecord("stampauth.test", logging.INFO, __file__, 1, msg, args, None)
    item.__dict__.update(extra)
    return item


def test_redaction_filter():
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjbGllbnQtNDIiLCJleHAiOjE3MDB9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    base64_blob = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg"
    cases = [
        (record("got %s from %s", image, "client"), "got <bytes: 1032 bytes> from client"),
        (record("metadata %s", (("authorization", f"Bearer {token}"), ("x-request-id", "r1"))),
         "metadata (('authorization', '[REDACTED]'), ('x-request-id', 'r1'))"),
        (record("header authorization: Bearer abcdefgh12345678"), "header authorization: Bearer [REDACTED]"),
        (record("retrying with token=%s", "s3cr3t-value"), "retrying with token=[REDACTED]"),
        (record("upload %s", base64_blob), f"upload [REDACTED {len(base64_blob)} base64-like chars]"),
        (record("content was %s" % image[:64]), "content was [REDACTED bytes literal]"),
        (record("array %s", _FakeArray()), "array <array shape=(120, 320) dtype=uint8>"),
        # ordinary text, ids, paths and hex digests pass untouched
        (record("identity %s enrolled 3 specimens from /data/store-2024/refs.db; sha256 %s", "acme-42", "ab" * 32),
         f"identity acme-42 enrolled 3 specimens from /data/store-2024/refs.db; sha256 {'ab' * 32}"),
        (record("basic checks passed; the token expired"), "basic checks passed; the token expired"),
    ]
    redact = RedactingFilter()
    for item, expected in cases:
        assert redact.filter(item) is True
        assert item.getMessage() == expected
    extra = record("call", content=image, password="hunter2", note=f"Bearer {token}")
    line = json.loads(JsonFormatter().format(extra))
    assert line["content"] == "<bytes: 1032 bytes>" and line["password"] == "[REDACTED]"
    assert token not in json.dumps(line)


def test_json_formatter_fields_and_exceptions():
    formatter = JsonFormatter()
    try:
        raise ValueError(f"bad content {b'x' * 100!r}")
    except ValueError:
        import sys

        item = logging.LogRecord("stampauth.server", logging.ERROR, __file__, 1, "failed: %d", (3,), sys.exc_info())
    line = json.loads(formatter.format(item))
    assert line["level"] == "ERROR" and line["logger"] == "stampauth.server" and line["message"] == "failed: 3"
    assert "ValueError" in line["exception"] and "x" * 100 not in line["exception"]
    assert "request_id" not in line and current_request_id() is None


def test_text_format_carries_request_id_placeholder():
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("text", logging.INFO, stream=stream)
    try:
        logging.getLogger("stampauth.test").info("hello %s", b"secret bytes")
    finally:
        remove_log_handler(handler)
        root.setLevel(level)
    assert stream.getvalue().rstrip().endswith("INFO stampauth.test [-] hello <bytes: 12 bytes>")
    with pytest.raises(ValueError):
        configure_logging("yaml")


class _FakeArray:
    shape = (120, 320)
    dtype = "uint8"
    ndim = 2


def test_other_handler_shapes_are_wrapped(metrics):
    """Client streaming (uploads), server streaming, a handler's own initial metadata, an unexpected error."""
    seen_ids = []

    def upload(chunks, context):
        total = sum(len(c) for c in chunks)
        seen_ids.append(current_request_id())
        if total == 0:
            raise RuntimeError("a bug, not an abort")
        context.send_initial_metadata((("x-upload", "yes"),))
        return str(total).encode()

    def pieces(request, context):
        seen_ids.append(current_request_id())
        yield request[:1]
        yield request[1:]

    service = "test.Uploads"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2),
                         interceptors=[ObservabilityInterceptor(metrics, service=service)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {
        "Upload": grpc.stream_unary_rpc_method_handler(upload),
        "Pieces": grpc.unary_stream_rpc_method_handler(pieces),
    }),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            send = channel.stream_unary(f"/{service}/Upload")
            response, call = send.with_call(iter([b"ab", b"cde"]), metadata=((REQUEST_ID_KEY, "up-1"),))
            assert response == b"5"
            assert dict(call.initial_metadata()) == {"x-upload": "yes", REQUEST_ID_KEY: "up-1"}
            with pytest.raises(grpc.RpcError) as caught:
                send(iter([b""]), metadata=((REQUEST_ID_KEY, "up-2"),))
            assert caught.value.code() == grpc.StatusCode.UNKNOWN and request_id_of(caught.value) == "up-2"
            stream = channel.unary_stream(f"/{service}/Pieces")(b"xyz", metadata=((REQUEST_ID_KEY, "pc-1"),))
            assert list(stream) == [b"x", b"yz"] and request_id_of(stream) == "pc-1"
    finally:
        server.stop(1).wait()
    assert seen_ids == ["up-1", "up-2", "pc-1"]
    sample = metrics.registry.get_sample_value
    assert sample("stampauth_requests_total", {"method": "Upload", "code": "OK"}) == 1
    assert sample("stampauth_requests_total", {"method": "Upload", "code": "UNKNOWN"}) == 1
    assert sample("stampauth_requests_total", {"method": "Pieces", "code": "OK"}) == 1
