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


def clamp_page_size(page_size: int, default: int = 50, maximum: int = 1000) -> int:
    if page_size < 0:
        raise InvalidInput("page_size must not be negative", field="page_size")
    return default if page_size == 0 else min(page_size, maximum)


class ReferenceStore(abc.ABC):
    """Identities and specimens.  Implementations are safe to call from many threads."""

    backend: str = "abstract"

    @abc.abstractmethod
    def create_identity(
        self, identity_id: str, display_name: str, metadata: dict[str, str], specimens: list[NewSpecimen]
    ) -> tuple[IdentityRecord, list[SpecimenRecord]]:
        """AlreadyExists if the id is taken."""

    @abc.abstractmethod
    def get_identity(self, identity_id: str) -> IdentityRecord:
        """NotFound if absent."""

    @abc.abstractmethod
    def list_identities(self, page_size: int, page_token: str) -> ResultPage:
        """Identities ordered by id."""

    @abc.abstractmethod
    def delete_identity(self, identity_id: str) -> int:
        """Deletes the identity and its specimens; returns how many specimens went."""

    @abc.abstractmethod
    def add_specimens(self, identity_id: str, specimens: list[NewSpecimen]) -> tuple[IdentityRecord, list[SpecimenRecord]]:
        """NotFound for a missing identity, AlreadyExists for a duplicate image of the same kind."""

    @abc.abstractmethod
    def get_specimen(self, specimen_id: str) -> SpecimenRecord:
        """NotFound if absent."""

    @abc.abstractmethod
    def list_specimens(self, identity_id: str, kind: str | None, page_size: int, page_token: str) -> ResultPage:
        """An identity's specimens, oldest first."""

    @abc.abstractmethod
    def delete_specimen(self, specimen_id: str) -> IdentityRecord:
        """Returns the identity after the deletion."""

    @abc.abstractmethod
    def reference_embeddings(self, identity_id: str, kind: str) -> list[StoredEmbedding]:
        """The identity's embeddings of ``kind``, oldest first, with the model version of each."""

    @abc.abstractmethod
    def specimen_content(self, specimen_id: str) -> bytes:
        """The image bytes as uploaded."""

    @abc.abstractmethod
    def stale_specimens(self, kind: str, model_version: str) -> list[str]:
        """Ids of specimens of ``kind`` whose embedding was not made by ``model_version``."""

    @abc.abstractmethod
    def update_embedding(self, specimen_id: str, embedding: np.ndarray, model_version: str) -> None:
        """Replace one specimen's embedding (after a model change)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; further calls fail."""
