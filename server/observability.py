"""Observability for the gRPC server: Prometheus metrics, a request id per call, structured (JSON) logs.

* :class:`ServerMetrics` owns a dedicated ``CollectorRegistry`` (never the global one, so a process can hold
  several servers, as the tests do) with request counts and latencies per method and status code, per-stage
  timings fed by :mod:`stampauth.stages`, calls in progress and queued, and the loaded models' versions.
* :class:`ObservabilityInterceptor` wraps every StampAuthService call (health and reflection pass untouched):
  it takes the request id from the ``x-request-id`` metadata (or makes one), exposes it to the handler's thread
  through a ``contextvars.ContextVar`` (so every log line of the call carries it), returns it as initial
  metadata ``x-request-id``, and times and counts the call by the status code it ends with.
* :func:`configure_logging` installs one handler on the root logger, ``text`` or ``json`` (one object per line),
  with a filter that adds the request id and redacts what must never reach a log: bytes (images), bearer/basic
  credentials, ``authorization``/token values, JWTs and long base64 runs.
* :func:`start_metrics_server` serves ``/metrics`` over HTTP on its own port.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server
from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

from stampauth import stages
from stampauth.v1 import stampauth_pb2 as pb

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["StampAuthService"].full_name
METHODS = tuple(m.name for m in pb.DESCRIPTOR.services_by_name["StampAuthService"].methods)
REQUEST_ID_KEY = "x-request-id"
MAX_REQUEST_ID_CHARS = 128
_REQUEST_ID_PATTERN = re.compile(r"^[\x20-\x7e]{1,%d}$" % MAX_REQUEST_ID_CHARS)  # printable ASCII, no control chars

# Whole calls: 5 ms (GetServerInfo, store reads) .. 60 s (OCR of long documents).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
# One stage: a decode or a score takes a millisecond or less; a page's OCR up to its budget (60 s at most).
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SERVER_ERROR_CODES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS})

access_log = logging.getLogger("stampauth.access")
log = logging.getLogger("stampauth.server")


# -- the current request ----------------------------------------------------------------------------------------
@dataclass
class RequestContext:
    """What the thread serving a call knows about it; :func:`current_request` returns it."""

    request_id: str
    method: str
    metrics: "ServerMetrics | None" = None
    stage_seconds: dict[str, float] = field(default_factory=dict)  # this call's total per stage


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("stampauth_request", default=None)


def current_request() -> RequestContext | None:
    """The call this thread is serving, or None outside a call. Work handed to another thread must carry it along:
    ``executor.submit(contextvars.copy_context().run, fn, *args)``."""
    return _current.get()


def current_request_id() -> str | None:
    request = _current.get()
    return request.request_id if request is not None else None


def valid_request_id(value) -> str | None:
    """A client's request id if it is usable (1-128 printable ASCII characters after trimming), else None."""
    if isinstance(value, bytes):
        return None  # only a "-bin" key carries bytes; never ours
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if _REQUEST_ID_PATTERN.match(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


# -- metrics ----------------------------------------------------------------------------------------------------
class ServerMetrics:
    """The server's Prometheus metrics on their own registry; ``close()`` detaches the stage observer.

    Stage timings taken while serving a call go to the metrics of the server serving it (and to that call's
    access log line); those taken outside any call (model loading, re-embedding at start, direct use of the
    core) go to every open ``ServerMetrics``.
    """

    def __init__(self, registry: CollectorRegistry | None = None, process_metrics: bool = True):
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("stampauth_requests", "StampAuthService calls finished, by method and status code",
                                ("method", "code"), registry=r)
        self.request_seconds = Histogram("stampauth_request_seconds", "StampAuthService call latency (server side)",
                                         ("method",), buckets=REQUEST_BUCKETS, registry=r)
        self.stage_seconds = Histogram("stampauth_stage_seconds",
                                       "Time of one run of a processing stage (a call runs some stages several times)",
                                       ("stage",), buckets=STAGE_BUCKETS, registry=r)
        self.calls_in_progress = Gauge("stampauth_calls_in_progress", "StampAuthService calls being served", registry=r)
        self.calls_queued = Gauge("stampauth_calls_queued", "StampAuthService calls waiting for admission", registry=r)
        self.model_info = Gauge("stampauth_model_info", "Loaded models (value 1): kind and version; kind 'detector' "
                                "is the document detector", ("kind", "version"), registry=r)
        self.server_info = Gauge("stampauth_server_info", "This server (value 1): versions, store, OCR",
                                 ("server_version", "api_version", "store_backend", "ocr_available"), registry=r)
        if process_metrics:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        for method in METHODS:  # every method shows up (at zero) before its first call
            self.request_seconds.labels(method)
        for name in stages.STAGES:
            self.stage_seconds.labels(name)
        self._closed = False
        stages.add_stage_observer(self.observe_stage)

    # Stage observer (runs in the stage's thread).
    def observe_stage(self, name: str, seconds: float) -> None:
        request = _current.get()
        if request is not None:
            if request.metrics is not self:
                return  # another server's call
            request.stage_seconds[name] = request.stage_seconds.get(name, 0.0) + seconds
        self.stage_seconds.labels(name).observe(seconds)

    def observe_call(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.requests.labels(method, code.name).inc()
        self.request_seconds.labels(method).observe(seconds)

    def set_queue_depth(self, active: int, queued: int) -> None:
        """For an admission gate: calls admitted and being served, calls waiting. (Build the interceptor with
        ``track_in_progress=False`` then, or the two will both move ``stampauth_calls_in_progress``.)"""
        self.calls_in_progress.set(active)
        self.calls_queued.set(queued)

    def watch_queue_depth(self, depth: Callable[[], tuple[int, int]]) -> None:
        """Read ``(active, queued)`` from ``depth()`` at every scrape instead (e.g. an admission gate's counters)."""
        self.calls_in_progress.set_function(lambda: depth()[0])
        self.calls_queued.set_function(lambda: depth()[1])

    def set_server_info(self, info) -> None:
        """Record the loaded models and server facts from a :class:`stampauth.service.ServerInfo`."""
        self.model_info.clear()
        for card in info.models:
            self.model_info.labels(card.kind, card.version).set(1)
        if info.detector is not None:
            self.model_info.labels("detector", info.detector.version).set(1)
        self.server_info.clear()
        self.server_info.labels(info.server_version, info.api_version, info.store_backend,
                                str(bool(info.ocr_available)).lower()).set(1)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            stages.remove_stage_observer(self.observe_stage)


def start_metrics_server(port: int, registry: CollectorRegistry, addr: str = "0.0.0.0"):
    """Serve ``registry`` at ``http://addr:port/metrics`` (any path, in fact) from a daemon thread.

    ``port`` 0 picks a free port. Returns ``(server, port)``; stop with ``server.shutdown(); server.server_close()``
    (or :func:`stop_metrics_server`).
    """
    httpd, _thread = start_http_server(port, addr=addr.strip("[]") or "0.0.0.0", registry=registry)
    return httpd, int(httpd.server_address[1])


def stop_metrics_server(httpd) -> None:
    httpd.shutdown()
    httpd.server_close()


# -- the interceptor -------------------------------------------------------------------------------------------
def _metadata_request_id(metadata) -> str | None:
    for item in metadata or ():
        key, value = (item.key, item.value) if hasattr(item, "key") else item
        if key.lower() == REQUEST_ID_KEY:
            return valid_request_id(value)  # the first one counts, valid or not
    return None


class _ObservedContext:
    """The servicer context a handler sees: sends ``x-request-id`` with the initial metadata exactly once (merged
    into the handler's own, if it sends any; else just before the response, an abort or an error), and notes
    whether the handler aborted. Everything else goes to grpc's context."""

    def __init__(self, context: grpc.ServicerContext, request_id: str):
        self._context = context
        self._request_id = request_id
        self._sent = False
        self._lock = threading.Lock()
        self.aborted = False
        self.code_set: grpc.StatusCode | None = None

    def __getattr__(self, name):
        return getattr(self._context, name)

    def send_initial_metadata(self, initial_metadata) -> None:
        metadata = tuple(initial_metadata or ())
        with self._lock:
            if not any(key.lower() == REQUEST_ID_KEY for key, _ in metadata):
                metadata += ((REQUEST_ID_KEY, self._request_id),)
            self._sent = True  # grpc raises if it was already sent: as it would without us
        self._context.send_initial_metadata(metadata)

    def ensure_sent(self) -> None:
        with self._lock:
            if self._sent:
                return
            self._sent = True
        try:
            self._context.send_initial_metadata(((REQUEST_ID_KEY, self._request_id),))
        except (ValueError, grpc.RpcError):  # already sent by other means, or the client has gone
            pass

    def abort(self, code, details):
        self.aborted = True
        self.ensure_sent()
        return self._context.abort(code, details)

    def abort_with_status(self, status):
        self.aborted = True
        self.ensure_sent()
        return self._context.abort_with_status(status)

    def set_code(self, code) -> None:
        self.code_set = code
        self._context.set_code(code)


def _as_status_code(code) -> grpc.StatusCode | None:
    if code is None or isinstance(code, grpc.StatusCode):
        return code
    for candidate in grpc.StatusCode:  # an int (google.rpc.Code) from a hand-made status
        if candidate.value[0] == code:
            return candidate
    return grpc.StatusCode.UNKNOWN


class _Call:
    """One call being observed: its context var, its timer, its outcome."""

    __slots__ = ("interceptor", "method", "context", "request", "token", "started")

    def __init__(self, interceptor: "ObservabilityInterceptor", method: str, context: grpc.ServicerContext):
        self.interceptor = interceptor
        self.method = method
        request_id = _metadata_request_id(context.invocation_metadata()) or new_request_id()
        self.context = _ObservedContext(context, request_id)
        self.request = RequestContext(request_id, method, interceptor.metrics)
        self.token = None
        self.started = 0.0

    def __enter__(self) -> "_Call":
        self.token = _current.set(self.request)
        if self.interceptor.track_in_progress:
            self.interceptor.metrics.calls_in_progress.inc()
        self.started = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        seconds = time.perf_counter() - self.started
        try:
            self.context.ensure_sent()
            code = self._outcome(exc_type)
            self.interceptor.metrics.observe_call(self.method, code, seconds)
            self.interceptor.log_call(self.request, code, seconds)
        finally:
            if self.interceptor.track_in_progress:
                self.interceptor.metrics.calls_in_progress.dec()
            try:
                _current.reset(self.token)
            except ValueError:  # reset from another context (a generator finished elsewhere): just clear it
                _current.set(None)
        return False

    def _outcome(self, exc_type) -> grpc.StatusCode:
        real = self.context._context
        code = _as_status_code(real.code() if hasattr(real, "code") else None) or _as_status_code(self.context.code_set)
        if exc_type is GeneratorExit:  # a response stream closed early: the client went away
            return grpc.StatusCode.CANCELLED
        if exc_type is not None:
            # grpc sends the aborted code; any other exception becomes UNKNOWN, whatever set_code said.
            return code if self.context.aborted and code is not None else grpc.StatusCode.UNKNOWN
        if code is None or code is grpc.StatusCode.OK:
            if not real.is_active():  # the client cancelled, or the deadline passed, while we worked
                remaining = real.time_remaining()
                return grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 \
                    else grpc.StatusCode.CANCELLED
            return grpc.StatusCode.OK
        return code


class ObservabilityInterceptor(grpc.ServerInterceptor):
    """Request id, metrics and an access log line for every call of ``service`` (others pass through untouched).

    Wraps all four handler shapes (unary-unary today; stream-unary for uploads). With ``track_in_progress``
    the interceptor keeps ``stampauth_calls_in_progress`` itself; turn it off when an admission gate reports
    it through :meth:`ServerMetrics.set_queue_depth`.
    """

    def __init__(self, metrics: ServerMetrics, service: str = SERVICE_NAME, track_in_progress: bool = True,
                 log_calls: bool = True):
        self.metrics = metrics
        self.service = service
        self.track_in_progress = track_in_progress
        self.log_calls = log_calls

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        service, _, method = (handler_call_details.method or "").lstrip("/").partition("/")
        if service != self.service:
            return handler  # grpc.health.v1.Health, reflection: not ours to count
        return self._wrap(handler, method)

    def _wrap(self, handler, method: str):
        if handler.unary_unary is not None:
            factory, behavior = grpc.unary_unary_rpc_method_handler, self._unary_response(handler.unary_unary, method)
        elif handler.stream_unary is not None:
            factory, behavior = grpc.stream_unary_rpc_method_handler, self._unary_response(handler.stream_unary, method)
        elif handler.unary_stream is not None:
            factory, behavior = grpc.unary_stream_rpc_method_handler, self._stream_response(handler.unary_stream, method)
        elif handler.stream_stream is not None:
            factory, behavior = grpc.stream_stream_rpc_method_handler, self._stream_response(handler.stream_stream, method)
        else:
            return handler
        return factory(behavior, request_deserializer=handler.request_deserializer,
                       response_serializer=handler.response_serializer)

    def _unary_response(self, behavior, method: str):
        def observed(request_or_iterator, context):
            with _Call(self, method, context) as call:
                return behavior(request_or_iterator, call.context)

        return observed

    def _stream_response(self, behavior, method: str):
        def observed(request_or_iterator, context):
            with _Call(self, method, context) as call:
                responses = behavior(request_or_iterator, call.context)
                call.context.ensure_sent()
                yield from responses

        return observed

    def log_call(self, request: RequestContext, code: grpc.StatusCode, seconds: float) -> None:
        if not self.log_calls:
            return
        level = logging.WARNING if code in SERVER_ERROR_CODES else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        milliseconds = round(seconds * 1000.0, 2)
        stages_ms = {name: round(s * 1000.0, 2) for name, s in request.stage_seconds.items()}
        access_log.log(level, "%s %s %.1f ms", request.method, code.name, milliseconds,
                       extra={"code": code.name, "duration_ms": milliseconds, "stages_ms": stages_ms})


# -- logging ----------------------------------------------------------------------------------------------------
REDACTED = "[REDACTED]"
SENSITIVE_KEYS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api_key",
                            "api-key", "apikey", "token", "access_token", "refresh_token", "id_token", "password",
                            "secret", "client_secret"})
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]{8,}=*")
_KEY_VALUE = re.compile(
    r"(?i)\b(authorization|proxy-authorization|x-api-key|api[_-]?key|(?:access_|refresh_|id_)?token|password|"
    r"client_secret|secret|cookie)(['\"]?\s*[:=]\s*['\"]?)(?!(?:(?:bearer|basic|digest|negotiate)\s+)?\[REDACTED)"
    r"((?:(?:bearer|basic|digest|negotiate)\s+)?)([^\s'\",;&)}\]]+)")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# A long bytes literal, as str(b"...") puts it into a message.
_BYTES_REPR = re.compile(r"""(?<![A-Za-z0-9_])b(['"])(?:\\.|(?!\1).){32,}?\1""")
_LONG_RUN = re.compile(r"[A-Za-z0-9+/_-]{80,}={0,2}")
_MAX_DEPTH = 4


def _long_run(match: re.Match) -> str:
    run = match.group(0)
    # base64 (an image, a key) mixes cases and digits; paths, words and hex digests do not
    if any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run):
        return f"[REDACTED {len(run)} base64-like chars]"
    return run


def redact_text(text: str) -> str:
    """``text`` with credentials, JWTs, bytes literals and long base64 runs replaced."""
    if not text:
        return text
    text = _BYTES_REPR.sub(lambda m: "[REDACTED bytes literal]", text)
    text = _JWT.sub("[REDACTED jwt]", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)
    return _LONG_RUN.sub(_long_run, text)


def redact_value(value, depth: int = 0):
    """A log argument made safe: bytes and arrays become a size note, strings are redacted, containers recursed
    into (the value of a sensitive key is dropped). Numbers, None and other objects pass (formatted later by
    ``%``; their ``str`` is redacted with the message only when it is a string)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{type(value).__name__}: {len(value) if not isinstance(value, memoryview) else value.nbytes} bytes>"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "ndim", 0) >= 1:
        return f"<array shape={tuple(value.shape)} dtype={value.dtype}>"  # an image, probably
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and k.lower() in SENSITIVE_KEYS else redact_value(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and isinstance(value[0], str) and value[0].lower() in SENSITIVE_KEYS:
            return type(value)((value[0], REDACTED))  # an ("authorization", "...") metadata pair
        items = [redact_value(v, depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if hasattr(value, "key") and hasattr(value, "value") and isinstance(getattr(value, "key"), str):
        # grpc metadata items (_Metadatum)
        if value.key.lower() in SENSITIVE_KEYS:
            return (value.key, REDACTED)
        return (value.key, redact_value(value.value, depth + 1))
    return value


class RedactingFilter(logging.Filter):
    """Make a record safe to emit: redact its message template, its arguments, its ``extra`` fields and its
    exception text. Install on handlers (a logger's filters do not see records from child loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_stampauth_redacted", False):
            return True
        msg = record.msg
        if isinstance(msg, (bytes, bytearray, memoryview)):
            msg = redact_value(msg)
        elif not isinstance(msg, str):
            msg = str(msg)
        if record.args:
            args = redact_value(record.args) if isinstance(record.args, dict) else \
                tuple(redact_value(a) for a in record.args)
            try:  # format now, then redact the whole message: objects' str may hold anything
                record.msg, record.args = redact_text(msg % args), ()
            except (TypeError, ValueError, KeyError):  # a bad format: let logging report it, with safe parts
                record.msg, record.args = redact_text(msg), args
        else:
            record.msg = redact_text(msg)
        for key in _extra_keys(record):
            value = record.__dict__[key]
            record.__dict__[key] = REDACTED if key.lower() in SENSITIVE_KEYS else redact_value(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        record._stampauth_redacted = True
        return True


class RequestContextFilter(logging.Filter):
    """Add ``request_id`` and ``rpc_method`` to every record ("-" outside a call), for any format string."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _current.get()
        if not hasattr(record, "request_id"):
            record.request_id = request.request_id if request is not None else "-"
        if not hasattr(record, "rpc_method"):
            record.rpc_method = request.method if request is not None else "-"
        return True


_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "request_id", "rpc_method", "_stampauth_redacted", "taskName"}


def _extra_keys(record: logging.LogRecord) -> list[str]:
    return [k for k in record.__dict__ if k not in _STANDARD_ATTRS and not k.startswith("_")]


def _jsonable(value, depth: int = 0):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict) and depth < _MAX_DEPTH:
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and depth < _MAX_DEPTH:
        return [_jsonable(v, depth + 1) for v in value]
    return redact_text(str(redact_value(value)))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601 UTC), level, logger, message, request_id and method (inside a
    call), exception (when there is one), then the record's ``extra`` fields. Redacts on its own too, so it is
    safe even on a handler without :class:`RedactingFilter`."""

    def format(self, record: logging.LogRecord) -> str:
        RedactingFilter().filter(record)
        request = _current.get()
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id in (None, "-"):
            request_id = request.request_id if request is not None else None
        method = getattr(record, "rpc_method", None)
        if method in (None, "-"):
            method = request.method if request is not None else None
        if request_id is not None:
            entry["request_id"] = request_id
        if method is not None:
            entry["method"] = method
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        for key in _extra_keys(record):
            if key not in entry:
                entry[key] = _jsonable(record.__dict__[key])
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def make_log_handler(fmt: str = "text", stream=None) -> logging.Handler:
    """A stream handler with the request-id and redaction filters and the ``text`` or ``json`` formatter."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {fmt!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler._stampauth_handler = True
    return handler


def configure_logging(fmt: str = "text", level: int | str = logging.INFO, stream=None) -> logging.Handler:
    """Log to ``stream`` (stderr) in ``fmt`` ("text" or "json") at ``level`` from the root logger.

    Replaces the root's existing stream handlers (``logging.basicConfig``'s, or a previous call's); handlers of
    other kinds (files, pytest's capture) are kept. Returns the new handler.
    """
    if isinstance(level, str):
        name = level.upper()
        if not isinstance(logging.getLevelName(name), int):
            raise ValueError(f"unknown log level {level!r}")
        level = logging.getLevelName(name)
    handler = make_log_handler(fmt, stream)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_stampauth_handler", False) or type(existing) is logging.StreamHandler:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def remove_log_handler(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()


__all__ = [
    "SERVICE_NAME", "METHODS", "REQUEST_ID_KEY", "RequestContext", "current_request", "current_request_id",
    "valid_request_id", "new_request_id", "ServerMetrics", "start_metrics_server", "stop_metrics_server",
    "ObservabilityInterceptor", "redact_text", "redact_value", "RedactingFilter", "RequestContextFilter",
    "JsonFormatter", "make_log_handler", "configure_logging", "remove_log_handler",
]
