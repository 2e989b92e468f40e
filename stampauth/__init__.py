"""stampauth: authenticate stamps and handwritten signatures against enrolled references.

The library works in-process without gRPC; ``stampauth.server`` exposes it over gRPC.
"""

__version__ = "0.1.0"
