"""Registering the servicer so that a request that is not a valid protobuf message is INVALID_ARGUMENT.

The generated ``add_StampAuthServiceServicer_to_server`` lets grpc parse requests before any of our code runs,
and grpc answers a parse failure (random bytes, a string field holding invalid UTF-8) with INTERNAL. Here
requests arrive as bytes and are parsed in the handler, where a failure becomes a clear INVALID_ARGUMENT.
"""

from __future__ import annotations

import grpc
from google.protobuf.message import DecodeError
from grpc_status import rpc_status

from stampauth.errors import InvalidInput
from stampauth.server.errors import to_status
from stampauth.v1 import stampauth_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["StampAuthService"]


def _not_a_message(request_type) -> InvalidInput:
    return InvalidInput(f"the request is not a valid {request_type.DESCRIPTOR.full_name} message (malformed protobuf, "
                        "or a string field that is not UTF-8); build it with the stubs generated from protos/")


def _unary(behaviour, request_type):
    def handle(raw: bytes, context):
        try:
            request = request_type.FromString(raw)
        except DecodeError:
            context.abort_with_status(rpc_status.to_status(to_status(_not_a_message(request_type))))
        return behaviour(request, context)

    return handle


def _client_stream(behaviour, request_type):
    def parsed(raw_messages):
        for raw in raw_messages:
            try:
                yield request_type.FromString(raw)
            except DecodeError:
                raise _not_a_message(request_type) from None  # inside the method: handle_errors maps it

    def handle(raw_messages, context):
        return behaviour(parsed(raw_messages), context)

    return handle


def add_servicer(servicer, server: grpc.Server) -> None:
    """Register every StampAuthService method of ``servicer`` on ``server``, parsing requests ourselves."""
    handlers = {}
    for method in SERVICE.methods:
        request_type = getattr(pb, method.input_type.name)
        response_type = getattr(pb, method.output_type.name)
        behaviour = getattr(servicer, method.name)
        if method.server_streaming:
            raise NotImplementedError(f"{method.name}: server streaming is not used by this service")
        if method.client_streaming:
            handlers[method.name] = grpc.stream_unary_rpc_method_handler(
                _client_stream(behaviour, request_type), response_serializer=response_type.SerializeToString)
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                _unary(behaviour, request_type), response_serializer=response_type.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
