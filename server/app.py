"""Building and running the gRPC server: StampAuthService, health, reflection, graceful stop."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from stampauth.io import InputLimits
from stampauth.service import ServiceLimits, StampAuth
from stampauth.settings import Settings, TlsSettings
from stampauth.server.admission import AdmissionGate
from stampauth.server.auth import Authenticator
from stampauth.server.observability import (
    ObservabilityInterceptor, ServerMetrics, configure_logging, start_metrics_server, stop_metrics_server,
)
from stampauth.server.registration import add_servicer
from stampauth.server.servicer import StampAuthServicer
from stampauth.store.base import DEFAULT_TENANT
from stampauth.v1 import stampauth_pb2 as pb

log = logging.getLogger("stampauth.server")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["StampAuthService"].full_name
MAX_MESSAGE_BYTES = 80 * 1024 * 1024  # room for the 64 MiB document limit plus protobuf framing


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    servicer: StampAuthServicer

    def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def attach(self, core: StampAuth) -> None:
        """Give the servicer its core and report SERVING."""
        self.servicer.attach(core)
        self.set_serving(True)

    def stop(self, grace: float = 10.0) -> None:
        """Health NOT_SERVING, refuse new calls, let calls in flight finish within ``grace`` seconds."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self.servicer._core is not None:
            self.servicer._core.close()


def build_server(core: StampAuth | None = None, port: int = 0, host: str = "[::]", max_workers: int = 8, *,
                 authenticator: Authenticator | None = None, max_active: int | None = None, max_queued: int = 16,
                 credentials: grpc.ServerCredentials | None = None, max_message_bytes: int = MAX_MESSAGE_BYTES,
                 interceptors=()) -> RunningServer:
    """Start a server on ``host:port`` (0 = any free port); SERVING once a core is attached.

    ``authenticator`` None: no authentication (the default tenant). ``max_active``: calls at work at once, with
    ``max_queued`` more waiting, beyond which calls get RESOURCE_EXHAUSTED at once (None: ``max_workers`` threads,
    no queue bound). ``credentials``: TLS (see :func:`tls_credentials`); None serves plaintext.
    """
    gate = AdmissionGate(max_active, max_queued) if max_active else None
    workers = max_active + max_queued + 4 if gate else max_workers  # +4: GetServerInfo, probes, reflection
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpc"),
        interceptors=list(interceptors),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
        maximum_concurrent_rpcs=workers if gate else None,  # grpc itself refuses calls beyond its threads
    )
    servicer = StampAuthServicer(authenticator=authenticator, gate=gate)
    add_servicer(servicer, server)  # requests parsed in the handlers: a malformed one is INVALID_ARGUMENT
    health_servicer = health.HealthServicer(
        experimental_non_blocking=True,
        experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"),
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{host}:{port}"
    try:
        bound = server.add_secure_port(address, credentials) if credentials is not None else server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise OSError(f"cannot listen on {address}: is another server using that port?")
    server.start()
    running = RunningServer(server, bound, health_servicer, servicer)
    running.set_serving(False)
    if core is not None:
        running.attach(core)
    return running


def tls_credentials(tls: TlsSettings) -> grpc.ServerCredentials:
    """Server TLS from PEM files; with ``client_ca_file``, clients must present a certificate it signed (mTLS)."""
    key, chain = tls.key_file.read_bytes(), tls.cert_file.read_bytes()
    root = tls.client_ca_file.read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=root, require_client_auth=root is not None)


def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT with ``settings``; health is NOT_SERVING while the models load."""
    configure_logging(settings.log_format, settings.log_level)
    if not settings.auth.enabled:
        log.warning("AUTHENTICATION IS DISABLED: every caller acts on tenant %r with every role. "
                    "Use this only on a machine nobody else can reach.", DEFAULT_TENANT)
    if settings.server.insecure:
        log.warning("TLS IS OFF: calls travel in plaintext (server.insecure = true)")
    limits = settings.limits
    metrics = ServerMetrics()
    running = build_server(
        port=settings.server.port, host=settings.server.host,
        authenticator=Authenticator(settings.auth.tokens if settings.auth.enabled else None),
        max_active=limits.max_concurrent_calls, max_queued=limits.max_queued_calls,
        credentials=tls_credentials(settings.tls) if settings.tls.enabled else None,
        max_message_bytes=limits.max_message_mb * 1024 * 1024,
        interceptors=[ObservabilityInterceptor(metrics, track_in_progress=False)],
    )
    gate = running.servicer.gate
    metrics.watch_queue_depth(lambda: (gate.active, gate.queued))
    http = None
    if settings.metrics_port is not None:
        http, metrics_port = start_metrics_server(settings.metrics_port, metrics.registry,
                                                  addr="0.0.0.0" if settings.server.host in ("[::]", "0.0.0.0") else settings.server.host)
        log.info("Prometheus metrics on http port %d (/metrics)", metrics_port)
    log.info("listening on %s:%d with %s (health NOT_SERVING while models load)", settings.server.host, running.port,
             "mutual TLS" if settings.tls.client_ca_file else "TLS" if settings.tls.enabled else "no TLS")
    stopping = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s: shutting down gracefully (grace %.0f s)", signal.Signals(signum).name,
                 settings.server.grace_seconds)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service_limits = ServiceLimits(input=InputLimits(max_bytes=limits.max_document_mb * 1024 * 1024),
                                   max_message_bytes=limits.max_message_mb * 1024 * 1024)
    core = StampAuth.open(settings.store, settings.models_dir, service_limits, tesseract_command=settings.tesseract)
    if limits.batch_inference:
        for encoder in core.encoders.values():
            encoder.enable_batching()
    running.attach(core)
    info = core.server_info()
    metrics.set_server_info(info)
    models = ", ".join(f"{c.kind}={c.version}" for c in info.models)
    ocr = f"Tesseract ({', '.join(info.ocr_languages)})" if info.ocr_available else "unavailable (no Tesseract)"
    log.info("SERVING on port %d; store %s; models %s; OCR %s; at most %d calls at work, %d queued", running.port,
             core.store.backend, models, ocr, limits.max_concurrent_calls, limits.max_queued_calls)
    stopping.wait()
    running.stop(settings.server.grace_seconds)
    if http is not None:
        stop_metrics_server(http)
    metrics.close()
    log.info("stopped")
