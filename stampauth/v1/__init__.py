"""Generated gRPC stubs of the stampauth.v1 API (see protos/generate.py)."""
