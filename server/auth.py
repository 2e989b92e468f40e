"""Who is calling: bearer tokens bound to a tenant and roles.

A call sends ``authorization: Bearer <token>`` metadata. The token's SHA-256 is looked up among the configured
ones (:class:`stampauth.settings.TokenEntry`); the method decides the role it needs (:data:`ROLE_NEEDED`). Health
and reflection are separate services and stay open to probes. With authentication disabled every call acts as
the default tenant with every role.
"""

from __future__ import annotations

from dataclasses import dataclass

from stampauth.errors import PermissionDenied, Unauthenticated
from stampauth.settings import ROLES, TokenEntry, hash_token
from stampauth.store.base import DEFAULT_TENANT

# What each method needs: "verify" for verification and detection, "admin" for enrollment and deletion; reading
# the tenant's own identities and the server's description is open to either role.
ROLE_NEEDED: dict[str, tuple[str, ...]] = {
    "CompareImages": ("verify",),
    "VerifyImage": ("verify",),
    "DetectMarks": ("verify",),
    "VerifyDocument": ("verify",),
    "DetectMarksUpload": ("verify",),
    "VerifyDocumentUpload": ("verify",),
    "IdentifyMark": ("verify",),
    "CreateIdentity": ("admin",),
    "EnrollSpecimens": ("admin",),
    "DeleteIdentity": ("admin",),
    "DeleteSpecimen": ("admin",),
    "GetIdentity": ROLES,
    "ListIdentities": ROLES,
    "GetSpecimen": ROLES,
    "ListSpecimens": ROLES,
    "GetServerInfo": ROLES,
}


@dataclass(frozen=True)
class Principal:
    """The caller: the token's ``name`` (for logs), its tenant and roles."""

    name: str
    tenant: str
    roles: frozenset[str]


ANONYMOUS = Principal("anonymous (authentication disabled)", DEFAULT_TENANT, frozenset(ROLES))


class Authenticator:
    """``tokens`` None: authentication disabled."""

    def __init__(self, tokens: list[TokenEntry] | None):
        self.enabled = tokens is not None
        self._by_hash = {t.sha256: Principal(t.name, t.tenant, frozenset(t.roles)) for t in tokens or ()}

    def authenticate(self, metadata, method: str) -> Principal:
        """The principal of a call with ``metadata`` (pairs of key, value) to ``method``, or why it may not call."""
        if not self.enabled:
            return ANONYMOUS
        header = next((value for key, value in metadata or () if key == "authorization"), None)
        if not header or not isinstance(header, str) or not header.startswith("Bearer "):
            raise Unauthenticated("this server needs a bearer token: send call metadata "
                                  "'authorization: Bearer <token>' (ask the operator for a token)")
        principal = self._by_hash.get(hash_token(header[len("Bearer "):].strip()))
        if principal is None:
            raise Unauthenticated("the bearer token is not valid: check it, or ask the operator for a new one")
        needed = ROLE_NEEDED.get(method, ("admin",))
        if not principal.roles.intersection(needed):
            raise PermissionDenied(f"token {principal.name!r} has the role(s) {', '.join(sorted(principal.roles))}; "
                                   f"{method} needs {' or '.join(needed)}")
        return principal
