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

from stampauth.service import StampAuth
from stampauth.server.servicer import StampAuthServicer
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

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


def build_server(core: StampAuth | None = None, port: int = 0, host: str = "[::]", max_workers: int = 8) -> RunningServer:
    """Start a server on ``host:port`` (0 = any free port); SERVING once a core is attached."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    servicer = StampAuthServicer()
    pb_grpc.add_StampAuthServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer(
        experimental_non_blocking=True,
        experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"),
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}: is another server using that port?")
    server.start()
    running = RunningServer(server, bound, health_servicer, servicer)
    running.set_serving(False)
    if core is not None:
        running.attach(core)
    return running


def serve(port: int = 50051, store_url: str | None = None, host: str = "[::]", models_dir=None, grace: float = 10.0,
          tesseract: str | None = None) -> None:
    """Run until SIGTERM/SIGINT; health is NOT_SERVING while the models load."""
    running = build_server(port=port, host=host)
    log.info("listening on %s:%d (health NOT_SERVING while models load)", host, running.port)
    stopping = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s: shutting down gracefully (grace %.0f s)", signal.Signals(signum).name, grace)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    core = StampAuth.open(store_url, models_dir, tesseract_command=tesseract)
    running.attach(core)
    models = ", ".join(f"{c.kind}={c.version}" for c in core.server_info().models)
    info = core.server_info()
    ocr = f"Tesseract ({', '.join(info.ocr_languages)})" if info.ocr_available else "unavailable (no Tesseract)"
    log.info("SERVING on port %d; store %s; models %s; OCR %s", running.port, core.store.backend, models, ocr)
    stopping.wait()
    running.stop(grace)
    log.info("stopped")
