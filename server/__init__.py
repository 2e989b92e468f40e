"""The gRPC service layer of stampauth, installed as ``stampauth.server``.

Thin servicers translate protos to the transport-free core (:class:`stampauth.service.StampAuth`)
and back; domain errors become status codes in one place (:mod:`stampauth.server.errors`).
"""
