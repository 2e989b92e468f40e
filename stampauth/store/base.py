"""The reference store interface and its records.

A store keeps identities and their specimens: the image bytes as uploaded (so embeddings can
be recomputed when the model changes), a content hash, and the embedding with the version of
the model that made it.  Every write is one transaction: an enrollment is stored whole or not
at all.  Backends: :mod:`stampauth.store.sqlite` (embedded default); others follow the same
interface and the same shared tests.
"""

from __future__ import annotations

import abc
import base64
import binascii
from dataclasses import dataclass, field

import numpy as np

from stampauth.errors import InvalidInput

KINDS = ("signature", "stamp")


@dataclass(frozen=True)
class IdentityRecord:
    identity_id: str
    display_name: str
    metadata: dict[str, str]
    create_time: float  # seconds since the epoch, UTC
    update_time: float
    specimen_counts: dict[str, int] = field(default_factory=dict)  # kind -> count


@dataclass(frozen=True)
class SpecimenRecord:
    specimen_id: str
    identity_id: str
    kind: str
    content_sha256: str
    width: int
    height: int
    model_version: str
    create_time: float
    note: str = ""


@dataclass(frozen=True)
class NewSpecimen:
    """A specimen ready to store: decoded, checked and embedded by the service."""

    kind: str
    content: bytes
    content_sha256: str
    width: int
    height: int
    embedding: np.ndarray  # (d,) float32, unit length
    model_version: str
    note: str = ""


@dataclass(frozen=True)
class StoredEmbedding:
    specimen_id: str
    model_version: str
    embedding: np.ndarray  # (d,) float32


@dataclass(frozen=True)
class ResultPage:
    items: list
    next_page_token: str


def encode_page_token(last_key: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_key}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str | None:
    """Empty token -> None (first page); a token not made by :func:`encode_page_token` -> InvalidInput."""
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith("v1:"):
        raise InvalidInput("page_token is not valid: pass the next_page_token of a previous call, or leave it empty", field="page_token")
    return text[3:]


def decode_seq_token(token: str) -> int:
    """A specimen page token -> the row number it continues after (0: from the start). Only ASCII digits that fit
    a 64-bit integer count: anything else starts over rather than failing in the database."""
    after = decode_page_token(token)
    return int(after) if after and after.isascii() and after.isdigit() and len(after) <= 18 else 0


def clamp_page_size(page_size: int, default: int = 50, maximum: int = 1000) -> int:
    if page_size < 0:
        raise InvalidInput("page_size must not be negative", field="page_size")
    return default if page_size == 0 else min(page_size, maximum)


DEFAULT_TENANT = "default"  # the tenant of a server without authentication, and of stores made before tenants


class ReferenceStore(abc.ABC):
    """Identities and specimens, each identity in one tenant. Implementations are safe to call from many threads.

    Every method a request reaches takes the ``tenant`` (keyword) and sees only that tenant's identities and
    specimens: another tenant's look exactly like ones that do not exist. The maintenance methods at the end
    work by specimen id across tenants (model upgrades). :meth:`scoped` gives a view bound to one tenant.
    """

    backend: str = "abstract"

    @abc.abstractmethod
    def create_identity(
        self, identity_id: str, display_name: str, metadata: dict[str, str], specimens: list[NewSpecimen], *,
        tenant: str = DEFAULT_TENANT,
    ) -> tuple[IdentityRecord, list[SpecimenRecord]]:
        """AlreadyExists if the id is taken (in this tenant)."""

    @abc.abstractmethod
    def get_identity(self, identity_id: str, *, tenant: str = DEFAULT_TENANT) -> IdentityRecord:
        """NotFound if absent."""

    @abc.abstractmethod
    def list_identities(self, page_size: int, page_token: str, *, tenant: str = DEFAULT_TENANT) -> ResultPage:
        """Identities ordered by id."""

    @abc.abstractmethod
    def delete_identity(self, identity_id: str, *, tenant: str = DEFAULT_TENANT) -> int:
        """Deletes the identity and its specimens; returns how many specimens went."""

    @abc.abstractmethod
    def add_specimens(self, identity_id: str, specimens: list[NewSpecimen], *, tenant: str = DEFAULT_TENANT
                      ) -> tuple[IdentityRecord, list[SpecimenRecord]]:
        """NotFound for a missing identity, AlreadyExists for a duplicate image of the same kind."""

    @abc.abstractmethod
    def get_specimen(self, specimen_id: str, *, tenant: str = DEFAULT_TENANT) -> SpecimenRecord:
        """NotFound if absent."""

    @abc.abstractmethod
    def list_specimens(self, identity_id: str, kind: str | None, page_size: int, page_token: str, *,
                       tenant: str = DEFAULT_TENANT) -> ResultPage:
        """An identity's specimens, oldest first."""

    @abc.abstractmethod
    def delete_specimen(self, specimen_id: str, *, tenant: str = DEFAULT_TENANT) -> IdentityRecord:
        """Returns the identity after the deletion."""

    @abc.abstractmethod
    def reference_embeddings(self, identity_id: str, kind: str, *, tenant: str = DEFAULT_TENANT) -> list[StoredEmbedding]:
        """The identity's embeddings of ``kind``, oldest first, with the model version of each."""

    @abc.abstractmethod
    def gallery(self, kind: str, *, tenant: str = DEFAULT_TENANT, identity_ids=None) -> list[tuple[str, StoredEmbedding]]:
        """Every ``kind`` embedding of the tenant (or of ``identity_ids`` only) as ``(identity_id, embedding)``, for
        1:N identification."""

    @abc.abstractmethod
    def changes_since(self, seq: int, limit: int = 1000) -> list[dict]:
        """Writes after change ``seq``, oldest first: dicts with ``seq``, ``tenant``, ``identity_id``, ``kind`` (None:
        every kind of the identity), ``op`` and ``at``. What in-memory indexes sync from (all tenants)."""

    @abc.abstractmethod
    def latest_change(self) -> int:
        """The newest change's ``seq`` (0 when none)."""

    @abc.abstractmethod
    def specimen_content(self, specimen_id: str) -> bytes:
        """The image bytes as uploaded (maintenance: any tenant)."""

    @abc.abstractmethod
    def stale_specimens(self, kind: str, model_version: str) -> list[str]:
        """Ids of specimens of ``kind`` whose embedding was not made by ``model_version`` (all tenants)."""

    @abc.abstractmethod
    def update_embedding(self, specimen_id: str, embedding: np.ndarray, model_version: str) -> None:
        """Replace one specimen's embedding (after a model change)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; further calls fail."""

    def scoped(self, tenant: str) -> "ReferenceStore":
        """This store as one tenant sees it (closing the view leaves the store open)."""
        return TenantView(self, tenant)


class TenantView(ReferenceStore):
    """A :class:`ReferenceStore` with the tenant of every request-facing method fixed."""

    def __init__(self, store: ReferenceStore, tenant: str):
        self.store, self.tenant = store, tenant
        self.backend = store.backend

    def create_identity(self, identity_id, display_name, metadata, specimens, *, tenant=None):
        return self.store.create_identity(identity_id, display_name, metadata, specimens, tenant=self.tenant)

    def get_identity(self, identity_id, *, tenant=None):
        return self.store.get_identity(identity_id, tenant=self.tenant)

    def list_identities(self, page_size, page_token, *, tenant=None):
        return self.store.list_identities(page_size, page_token, tenant=self.tenant)

    def delete_identity(self, identity_id, *, tenant=None):
        return self.store.delete_identity(identity_id, tenant=self.tenant)

    def add_specimens(self, identity_id, specimens, *, tenant=None):
        return self.store.add_specimens(identity_id, specimens, tenant=self.tenant)

    def get_specimen(self, specimen_id, *, tenant=None):
        return self.store.get_specimen(specimen_id, tenant=self.tenant)

    def list_specimens(self, identity_id, kind, page_size, page_token, *, tenant=None):
        return self.store.list_specimens(identity_id, kind, page_size, page_token, tenant=self.tenant)

    def delete_specimen(self, specimen_id, *, tenant=None):
        return self.store.delete_specimen(specimen_id, tenant=self.tenant)

    def reference_embeddings(self, identity_id, kind, *, tenant=None):
        return self.store.reference_embeddings(identity_id, kind, tenant=self.tenant)

    def gallery(self, kind, *, tenant=None, identity_ids=None):
        return self.store.gallery(kind, tenant=self.tenant, identity_ids=identity_ids)

    def changes_since(self, seq, limit=1000):
        return self.store.changes_since(seq, limit)

    def latest_change(self):
        return self.store.latest_change()

    def specimen_content(self, specimen_id):
        return self.store.specimen_content(specimen_id)

    def stale_specimens(self, kind, model_version):
        return self.store.stale_specimens(kind, model_version)

    def update_embedding(self, specimen_id, embedding, model_version):
        self.store.update_embedding(specimen_id, embedding, model_version)

    def close(self) -> None:
        """The view does not own the store: nothing to close."""

    def scoped(self, tenant: str) -> ReferenceStore:
        return self.store.scoped(tenant)
